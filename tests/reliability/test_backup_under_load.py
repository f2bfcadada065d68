"""``samd-monitor backup`` / ``restore`` under load and under faults, on SQLite and PostgreSQL: backups
taken while ingests commit hold whole batches; a damaged backup (a flipped byte, a truncated file) is
refused before the target database is touched; a full or unwritable destination and a leftover of a
crashed backup leave no file under the backup's name and give one ``error:`` line naming it.

(tests/reliability/test_backup_restore.py has the paused-transaction case and the plain round trip.)
"""

from __future__ import annotations

import hashlib
import resource
import signal
import threading
from pathlib import Path

import pytest
from reliability_support import PATIENT_KEY, counts  # type: ignore[import-not-found]
from sqlalchemy import create_engine, text

BATCHES = 4


def _one_error_line(result: tuple[int, str, str], *words: str, status_wanted: int = 2) -> str:
    status, _out, err = result
    lines = [line for line in err.splitlines() if line.strip()]
    assert status == status_wanted and len(lines) == 1 and lines[0].startswith("error:"), result
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def _services(url: str, *, require_schema: bool = True):  # type: ignore[no-untyped-def]
    from monitor.entrypoints.bootstrap import bootstrap
    from monitor.settings import Settings

    return bootstrap(Settings(database_url=url, data_dir=Path("."), patient_id_key=PATIENT_KEY),
                     require_schema=require_schema)


def _parts(log: Path, folder: Path) -> list[Path]:
    """The prediction log cut into BATCHES files of distinct rows."""
    header, *rows = log.read_text(encoding="utf-8").splitlines(keepends=True)
    size = -(-len(rows) // BATCHES)
    parts = []
    for n in range(BATCHES):
        part = folder / f"part{n}.csv"
        part.write_text(header + "".join(rows[n * size:(n + 1) * size]), encoding="utf-8")
        parts.append(part)
    return parts


def _batches_whole(url: str) -> list[int]:
    """Each batch's ids after checking that its stored rows match its counts (nothing half-committed)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            batches = conn.execute(text("SELECT batch_id, accepted, rejected FROM ingestion_batches "
                                        "WHERE kind = 'predictions' ORDER BY batch_id")).all()
            for batch_id, accepted, rejected in batches:
                stored = sum(int(conn.execute(text(f"SELECT count(*) FROM {t} WHERE batch_id = :b"),
                                              {"b": batch_id}).scalar_one())
                             for t in ("predictions", "prediction_failures"))
                kept = int(conn.execute(text("SELECT count(*) FROM rejected_rows WHERE batch_id = :b"),
                                        {"b": batch_id}).scalar_one())
                assert (stored, kept) == (accepted, rejected), batch_id
            return [b[0] for b in batches]
    finally:
        engine.dispose()


def _restore(path: Path, url: str) -> int:
    """Restore ``path`` into ``url`` (replacing it) through the service; the audit chain is verified there."""
    from monitor.adapters.db.backup import backup_file_engine
    from monitor.service.backup import restore_database

    app = _services(url, require_schema=False)
    try:
        return restore_database(path, store=app.database_backup(), file_engine=backup_file_engine(path),
                                uow=app.uow, clock=app.clock, actor="t", force=True).records
    finally:
        app.engine.dispose()


@pytest.fixture
def fresh_url(registered_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of the same engine as ``registered_url``."""
    if registered_url.startswith("sqlite"):
        return f"sqlite:///{(tmp_path / 'restored' / 'monitor.sqlite').as_posix()}"
    return str(request.getfixturevalue("postgres_database_url"))


def test_backups_taken_while_ingests_commit_hold_whole_batches(registered_url: str, fresh_url: str,
                                                               scenario_logs: tuple[Path, Path],
                                                               tmp_path: Path) -> None:
    """A thread ingests four files (chunks of 30 rows in one transaction each) while backups are taken
    back to back: every backup restores (audit chain verified) to a database in which each batch is
    whole, and the backup taken afterwards has exactly the source's row counts."""
    from monitor.service.backup import backup_database
    from monitor.service.ingest import ingest_predictions

    parts = _parts(scenario_logs[0], tmp_path)
    failures: list[BaseException] = []

    def ingest() -> None:
        app = _services(registered_url)
        try:
            for part in parts:
                ingest_predictions(app.open_log(part), source=part.name, uow=app.uow,
                                   hash_patient=app.patient_hasher(), clock=app.clock, actor="t", chunk_rows=30)
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)
        finally:
            app.engine.dispose()

    writer = threading.Thread(target=ingest)
    app = _services(registered_url)
    backups: list[Path] = []
    try:
        writer.start()
        while writer.is_alive() and len(backups) < 3:
            backups.append(backup_database(tmp_path / f"during{len(backups)}.backup", store=app.database_backup()).path)
        writer.join(120)
        assert not writer.is_alive() and failures == [] and backups  # at least one taken while it ran
        backups.append(backup_database(tmp_path / "after.backup", store=app.database_backup()).path)
    finally:
        app.engine.dispose()
    source = counts(registered_url)

    seen = []
    for backup in backups[-2:] if len(backups) > 2 else backups:  # the last one during the load, and after
        _restore(backup, fresh_url)
        seen.append(_batches_whole(fresh_url))
    assert len(seen[-1]) == BATCHES
    restored = counts(fresh_url)
    assert restored == source | {"audit_log": source["audit_log"] + 1}  # + the restore's own record


def _flip(data: bytes, at: float) -> bytes:
    spot = int(len(data) * at)
    return data[:spot] + bytes(b ^ 0x5A for b in data[spot:spot + 16]) + data[spot + 16:]


def test_a_damaged_backup_is_refused_before_the_target_is_touched(registered_url: str,
                                                                 scenario_logs: tuple[Path, Path],
                                                                 tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """Sixteen flipped bytes at 10 %, 30 % and 70 % of the file, or the file cut at 90 %: with its checksum
    file beside it the restore refuses each as damaged; without one, the cut file is still refused (SQLite:
    integrity check; PostgreSQL: the archive read through first). Each is one ``error:`` line, also with
    --force into a database with rows, and that database keeps its rows and an intact audit chain."""
    from monitor.service.ingest import ingest_predictions

    app = _services(registered_url)
    try:
        ingest_predictions(app.open_log(scenario_logs[0]), source="p.csv", uow=app.uow,
                           hash_patient=app.patient_hasher(), clock=app.clock, actor="t")
    finally:
        app.engine.dispose()
    backup = tmp_path / "good.backup"
    assert cli("--db", registered_url, "backup", str(backup))[0] == 0
    data = backup.read_bytes()
    sidecar = (tmp_path / "good.backup.sha256").read_text(encoding="utf-8")
    assert sidecar == f"{hashlib.sha256(data).hexdigest()}  good.backup\n"  # `sha256sum -c` reads it
    before = counts(registered_url)

    damaged = {f"flip{at}": _flip(data, at) for at in (0.1, 0.3, 0.7)} | {"cut": data[: int(len(data) * 0.9)]}
    for name, content in damaged.items():
        path = tmp_path / f"{name}.backup"
        path.write_bytes(content)
        (tmp_path / f"{name}.backup.sha256").write_text(sidecar, encoding="utf-8")
        _one_error_line(cli("--db", registered_url, "restore", "--force", str(path)), str(path), "damaged")
    bare = tmp_path / "bare.backup"
    bare.write_bytes(damaged["cut"])
    _one_error_line(cli("--db", registered_url, "restore", "--force", str(bare)), str(bare), "damaged")
    assert counts(registered_url) == before
    status, out, err = cli("--db", registered_url, "audit", "verify")
    assert status == 0 and "audit chain intact" in out, err


def test_a_full_or_unwritable_destination_leaves_no_backup(registered_url: str, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """A destination that takes no more than 4 KiB (RLIMIT_FSIZE: the writes fail as on a full disk) and
    one where no file can be created (/proc): one ``error:`` line naming the backup file, and neither the
    file, its checksum file nor a partial copy is left. A partial copy left by a crashed backup does not
    stop the next backup."""
    target = tmp_path / "monitor.backup"
    leftovers = lambda: sorted(p.name for p in tmp_path.iterdir() if "backup" in p.name)  # noqa: E731
    limits = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG), no signal
    try:
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, limits[1]))
        result = cli("--db", registered_url, "backup", str(target))
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)
        signal.signal(signal.SIGXFSZ, previous)
    _one_error_line(result, "cannot back up", str(target))
    assert leftovers() == []

    _one_error_line(cli("--db", registered_url, "backup", "/proc/monitor.backup"), "/proc/monitor.backup")
    assert not Path("/proc/monitor.backup").exists()

    (tmp_path / ".monitor.backup.partial").write_bytes(b"half a backup from a crashed run")
    status, out, err = cli("--db", registered_url, "backup", str(target))
    assert status == 0, err
    assert leftovers() == ["monitor.backup", "monitor.backup.sha256"]


def test_two_backups_into_one_file_at_once_give_one_whole_backup(registered_url: str, tmp_path: Path) -> None:
    """Two backups started together into the same file (``--force``; e.g. cron and an operator), three
    times: both succeed, one after the other, and the file left matches its checksum file and restores."""
    from monitor.service.backup import backup_database

    target = tmp_path / "monitor.backup"
    for _round in range(3):
        barrier, outcomes = threading.Barrier(2), []

        def backup() -> None:
            app = _services(registered_url)
            try:
                barrier.wait(30)
                backup_database(target, store=app.database_backup(), force=True)
                outcomes.append("ok")
            except Exception as exc:  # reported below
                outcomes.append(f"{type(exc).__name__}: {exc}")
            finally:
                app.engine.dispose()

        threads = [threading.Thread(target=backup) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert outcomes == ["ok", "ok"]
        recorded = (tmp_path / "monitor.backup.sha256").read_text(encoding="utf-8").split()[0]
        assert recorded == hashlib.sha256(target.read_bytes()).hexdigest()
    assert sorted(p.name for p in tmp_path.iterdir() if "backup" in p.name) == ["monitor.backup",
                                                                                "monitor.backup.sha256"]


@pytest.mark.parametrize("empty_database_url", ["sqlite"], indirect=True)
def test_an_sqlite_backup_with_a_broken_audit_trail_leaves_the_target_untouched(registered_url: str,
                                                                                tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """SQLite: a backup whose audit record was altered (a valid file; no checksum file beside it) restored
    with --force over a database with rows: one ``error:`` line, and the database keeps its rows and its
    own intact chain (the chain is verified on the backup file before the copy). PostgreSQL archives are
    verified after pg_restore (see docs)."""
    import sqlite3

    backup = tmp_path / "altered.backup"
    assert cli("--db", registered_url, "backup", str(backup))[0] == 0
    (tmp_path / "altered.backup.sha256").unlink()
    with sqlite3.connect(backup) as conn:
        conn.execute("UPDATE audit_log SET actor = 'someone else' WHERE seq = (SELECT min(seq) FROM audit_log)")
    conn.close()
    before = counts(registered_url)
    target_file = Path(registered_url.removeprefix("sqlite:///"))
    content = target_file.read_bytes()
    _one_error_line(cli("--db", registered_url, "restore", "--force", str(backup)), "audit trail",
                    "nothing was restored", status_wanted=1)  # a failed verification (docs/cli.md)
    assert counts(registered_url) == before and target_file.read_bytes() == content
    status, out, err = cli("--db", registered_url, "audit", "verify")
    assert status == 0 and "audit chain intact" in out, err
