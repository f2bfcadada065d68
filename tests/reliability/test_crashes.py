"""Crashes: a process killed (SIGKILL) in the middle of an ingest or an analysis leaves no trace, and a
full or read-only storage ends in one ``error:`` line with the database intact.

The child process (``driver.py``) pauses at exact points inside the open transaction (after a chunk,
after the analysis run is written, just before commit) and is killed there: the crash point is
deterministic, not a matter of timing.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from reliability_support import (  # type: ignore[import-not-found]
    CHUNK_ROWS,
    EXAMPLE,
    PATIENT_KEY,
    PREDICTION_ROWS,
    counts,
)
from sqlalchemy import create_engine, text

CLI = str(Path(sys.executable).parent / "samd-monitor")


def _sqlite_file(url: str) -> Path | None:
    return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None


def _integrity_ok(url: str) -> None:
    path = _sqlite_file(url)
    if path is not None:
        with closing(sqlite3.connect(path)) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def _services(url: str):  # type: ignore[no-untyped-def]
    from monitor.entrypoints.bootstrap import bootstrap
    from monitor.settings import Settings



    return bootstrap(Settings(database_url=url, data_dir=Path("."), patient_id_key=PATIENT_KEY))


def _ingest(app, path: Path, kind: str = "predictions"):  # type: ignore[no-untyped-def]
    from monitor.service.ingest import ingest_ground_truth, ingest_predictions

    if kind == "predictions":
        return ingest_predictions(app.open_log(path), source=path.name, uow=app.uow, hash_patient=app.patient_hasher(),
                                  clock=app.clock, actor="t", chunk_rows=CHUNK_ROWS)
    return ingest_ground_truth(app.open_log(path), source=path.name, uow=app.uow, clock=app.clock, actor="t")


KILL_POINTS = (("chunk", 1), ("chunk", PREDICTION_ROWS // CHUNK_ROWS), ("commit", 1))


def test_killed_ingest_leaves_no_partial_batch(registered_url: str, scenario_logs: tuple[Path, Path], spawn) -> None:  # type: ignore[no-untyped-def]
    """SIGKILL after the first chunk, after the last chunk, and after every write just before commit: each time
    no row, no batch record, no rejection and no audit entry is visible (and SQLite's integrity check is ok);
    re-running the ingest then gives the counts of a clean run."""
    predictions, _ = scenario_logs
    before = counts(registered_url)
    for point, times in KILL_POINTS:
        child = spawn("ingest", registered_url, predictions, CHUNK_ROWS, point)
        for _ in range(times - 1):
            child.wait_for(f"paused {point}")
            child.resume()
        child.wait_for(f"paused {point}")
        child.kill()
        assert counts(registered_url) == before, f"killed at {point} #{times}"
        _integrity_ok(registered_url)

    app = _services(registered_url)
    try:
        summary = _ingest(app, predictions)
    finally:
        app.engine.dispose()
    assert (summary.rows, summary.accepted, summary.duplicates, summary.rejected) == (PREDICTION_ROWS,) * 2 + (0, 0)
    after = counts(registered_url)
    assert after["ingestion_batches"] == before["ingestion_batches"] + 1
    assert after["predictions"] + after["prediction_failures"] == PREDICTION_ROWS
    assert after["audit_log"] == before["audit_log"] + 1


@pytest.fixture
def ingested_url(registered_url: str, scenario_logs: tuple[Path, Path]) -> str:
    """The registered database with the scenario's predictions and ground truth ingested."""
    app = _services(registered_url)
    try:
        _ingest(app, scenario_logs[0])
        _ingest(app, scenario_logs[1], "ground_truth")
    finally:
        app.engine.dispose()
    return registered_url


def test_killed_analysis_stores_nothing_and_the_rerun_completes_once(ingested_url: str, spawn) -> None:  # type: ignore[no-untyped-def]
    """SIGKILL after every write of the analysis (run, stratum results, findings, tickets, evidence, audit entry),
    just before commit: none of it is visible; the re-run then stores exactly one complete run. (The driver
    can also pause right after ``save_run``; the commit point is the later, stronger one.)"""
    from monitor.domain.periods import Period
    from monitor.service.analyze import analyze_period

    cutoff = datetime.now(UTC) + timedelta(seconds=1)  # after the ingestion of the logs
    before = counts(ingested_url)
    for point in ("commit",):
        child = spawn("analyze", ingested_url, "lung-nodule-ct", "2025Q3", cutoff.isoformat(), point)
        child.wait_for(f"paused {point}")
        child.kill()
        assert counts(ingested_url) == before, f"killed at {point}"
        _integrity_ok(ingested_url)

    app = _services(ingested_url)
    try:
        outcome = analyze_period("lung-nodule-ct", Period.parse("2025Q3"), uow=app.uow, clock=app.clock, actor="t",
                                 cutoff=cutoff)
    finally:
        app.engine.dispose()
    after = counts(ingested_url)
    assert after["analysis_runs"] == before["analysis_runs"] + 1
    engine = create_engine(ingested_url)
    with engine.connect() as conn:
        results = conn.execute(text("SELECT count(*) FROM stratum_results WHERE run_id = :r"),
                               {"r": outcome.run_id}).scalar_one()
        orphans = conn.execute(text("SELECT count(*) FROM stratum_results WHERE run_id NOT IN "
                                    "(SELECT run_id FROM analysis_runs)")).scalar_one()
    engine.dispose()
    assert results == len(outcome.document["results"]) > 0
    assert outcome.document["completeness"]["total"]["predictions"] == PREDICTION_ROWS
    assert orphans == 0


def _report_state(url: str) -> dict[str, object]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                "revisions": [tuple(r) for r in conn.execute(text(
                    "SELECT revision, status, report_id FROM report_revisions ORDER BY revision"))],
                "files": [tuple(r) for r in conn.execute(
                    text("SELECT report_id, path, sha256 FROM reports ORDER BY id"))],
                "audit": int(conn.execute(text("SELECT count(*) FROM audit_log")).scalar_one()),
            }
    finally:
        engine.dispose()


def test_killed_report_leaves_no_half_revision_and_the_rerun_makes_one(ingested_url: str, tmp_path: Path,
                                                                        spawn) -> None:  # type: ignore[no-untyped-def]
    """Revision 1 is written; then the generation of revision 2 is killed after all its files are written and
    recorded, after its revision row, and just before commit: each time the database shows revision 1 alone,
    its files untouched. The re-run then makes exactly one current revision (2, draft; 1 superseded), and every
    file the database records exists with the recorded SHA-256 (the killed runs' files were overwritten)."""
    from monitor.domain.periods import Period
    from monitor.service.analyze import analyze_period
    from monitor.service.report import write_report
    from reliability_support import REPORT_FORMATS  # type: ignore[import-not-found]

    out = tmp_path / "reports"
    app = _services(ingested_url)
    try:
        analyze_period("lung-nodule-ct", Period.parse("2025Q3"), uow=app.uow, clock=app.clock, actor="t",
                       cutoff=datetime.now(UTC))
        first = write_report("lung-nodule-ct", "2025Q3", formats=REPORT_FORMATS, out_dir=out, uow=app.uow,
                             clock=app.clock, actor="t", renderer=app.report_renderer)
    finally:
        app.engine.dispose()
    before = _report_state(ingested_url)
    points = (("file", len(first.files)), ("revision", 1), ("commit", 1))
    children = [spawn("report", ingested_url, "lung-nodule-ct", "2025Q3", out, f"start,{p}") for p, _ in points]
    for child, (point, times) in zip(children, points):  # set up together, then used one after the other
        child.wait_for("paused start")
        child.resume()
        for _ in range(times - 1):
            child.wait_for(f"paused {point}")
            child.resume()
        child.wait_for(f"paused {point}")
        assert (out / "lung-nodule-ct_2025Q3_r2.json").is_file()  # the killed run did write its files
        child.kill()
        assert _report_state(ingested_url) == before, f"killed at {point}"
        _integrity_ok(ingested_url)

    app = _services(ingested_url)
    try:
        second = write_report("lung-nodule-ct", "2025Q3", formats=REPORT_FORMATS, out_dir=out, uow=app.uow,
                              clock=app.clock, actor="t", renderer=app.report_renderer, reason="after the crashes")
    finally:
        app.engine.dispose()
    after = _report_state(ingested_url)
    assert [(r[0], r[1]) for r in after["revisions"]] == [(1, "superseded"), (2, "draft")]  # type: ignore[union-attr]
    assert [r[2] for r in after["revisions"]] == [first.report_id, second.report_id]  # type: ignore[union-attr]
    assert after["audit"] == before["audit"] + 2  # type: ignore[operator]  # report.generate and its report.supersede
    recorded = after["files"]
    assert len(recorded) == len(first.files) + len(second.files)  # type: ignore[arg-type]
    for _report_id, path, sha256 in recorded:  # type: ignore[union-attr]
        assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == sha256, path


def test_two_report_generations_at_once_make_two_revisions(ingested_url: str, tmp_path: Path,
                                                           spawn) -> None:  # type: ignore[no-untyped-def]
    """A second generation for the same period started while the first holds its files and revision row
    uncommitted waits for it, then makes revision 2: no file of revision 1 is written over, and every file
    the database records exists with the recorded SHA-256."""
    from monitor.domain.periods import Period
    from monitor.service.analyze import analyze_period

    out = tmp_path / "reports"
    app = _services(ingested_url)
    try:
        analyze_period("lung-nodule-ct", Period.parse("2025Q3"), uow=app.uow, clock=app.clock, actor="t",
                       cutoff=datetime.now(UTC))
    finally:
        app.engine.dispose()
    first = spawn("report", ingested_url, "lung-nodule-ct", "2025Q3", out, "revision")
    first.wait_for("paused revision")  # every file of revision 1 written and recorded, not committed
    second = spawn("report", ingested_url, "lung-nodule-ct", "2025Q3", out)
    second.wait_for("ready")
    time.sleep(1.5)  # the second one is now inside write_report, waiting for the first's lock
    assert second.process.poll() is None
    first.resume()
    report_ids = [child.finish()[-1] for child in (first, second)]
    state = _report_state(ingested_url)
    assert [(r[0], r[1], r[2]) for r in state["revisions"]] == [  # type: ignore[union-attr]
        (1, "superseded", report_ids[0]), (2, "draft", report_ids[1])]
    recorded = state["files"]
    assert {r[0] for r in recorded} == set(report_ids)  # type: ignore[union-attr]
    for report_id, path, sha256 in recorded:  # type: ignore[union-attr]
        assert f"_r{1 + report_ids.index(report_id)}" in Path(path).name
        assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == sha256, path


# storage failures ------------------------------------------------------------------------------------


def _cli(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")} | {
        "MONITOR_DATABASE_URL": url, "MONITOR_PATIENT_ID_KEY": "reliability-patient-key-0123456789",
        "MONITOR_USER": "t"}  # the named user _registered_sqlite creates
    return subprocess.run([CLI, *args], check=False, capture_output=True, text=True, env=env, timeout=300)


def _assert_one_error_line(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert any(w in lines[0].lower() for w in words), lines[0]


def _can_mount() -> bool:
    return os.geteuid() == 0 and shutil.which("mount") is not None


@pytest.fixture
def tiny_filesystem(tmp_path: Path) -> Iterator[Path]:
    """A 3 MiB tmpfs (mounting needs root; elsewhere a plain folder and the test is skipped)."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    mounted = _can_mount() and subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(folder)],
                                              check=False, capture_output=True).returncode == 0
    yield folder
    if mounted:
        subprocess.run(["umount", "-l", str(folder)], check=True)


def _registered_sqlite(path: Path) -> str:
    """A migrated SQLite database at ``path`` with the example device registered and the named user ``t`` (made
    in this process)."""
    from monitor.adapters.config_file import load_device_config
    from monitor.adapters.db.engine import make_engine, upgrade
    from monitor.service.access import create_user
    from monitor.service.devices import register_device

    url = f"sqlite:///{path.as_posix()}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    app = _services(url)
    try:
        create_user(app.uow, user_id="t", display_name="Tester", role="qa", password=None, clock=app.clock, actor="t")
        register_device(load_device_config(EXAMPLE), uow=app.uow, clock=app.clock, actor="t", source=str(EXAMPLE))
    finally:
        app.engine.dispose()
    return url


def test_full_filesystem_is_one_error_line_and_the_database_stays_intact(tiny_filesystem: Path,
                                                                          scenario_logs: tuple[Path, Path]) -> None:
    """SQLite on a tiny tmpfs filled to the brim: the ingest fails with StorageError (``error: ... full``),
    nothing of the batch is stored and ``PRAGMA integrity_check`` is ok."""
    if not os.path.ismount(tiny_filesystem):
        pytest.skip("needs root to mount a small tmpfs")
    database = tiny_filesystem / "monitor.sqlite"
    url = _registered_sqlite(database)
    free = shutil.disk_usage(tiny_filesystem).free
    (tiny_filesystem / "filler").write_bytes(b"\0" * max(0, free - 64 * 1024))
    before = counts(f"sqlite:///{database.as_posix()}")
    result = _cli("ingest", "predictions", str(scenario_logs[0]), url=url)
    _assert_one_error_line(result, "full")
    (tiny_filesystem / "filler").unlink(missing_ok=True)
    assert counts(f"sqlite:///{database.as_posix()}") == before
    _integrity_ok(f"sqlite:///{database.as_posix()}")


def test_read_only_database_is_one_error_line(tmp_path: Path, scenario_logs: tuple[Path, Path]) -> None:
    """A database file on a read-only filesystem (root: a read-only remount; else a read-only file and folder):
    ``error: ... read-only`` / readonly, no traceback, and the file is unchanged and intact."""
    folder = tmp_path / "ro"
    folder.mkdir()
    mounted = _can_mount() and subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(folder)],
                                              check=False, capture_output=True).returncode == 0
    try:
        database = folder / "monitor.sqlite"
        url = _registered_sqlite(database)
        with closing(sqlite3.connect(database)) as conn:  # a clean, checkpointed file (no -wal / -shm left)
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.execute("PRAGMA journal_mode=DELETE")
        before = counts(url)
        if mounted:
            subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        else:
            database.chmod(0o444)
            folder.chmod(0o555)
        result = _cli("ingest", "predictions", str(scenario_logs[0]), url=url)
        _assert_one_error_line(result, "read-only", "readonly", "unable to open")
        assert counts(url) == before
        _integrity_ok(url)
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], check=True)
        else:
            folder.chmod(0o755)
