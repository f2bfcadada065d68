"""``samd-monitor backup`` / ``restore`` on both engines: the restored database gives the same analysis and
an intact audit trail that records the restore; a backup taken during an open ingest holds only committed
data; unusable files, the wrong engine's backup, a non-empty target and a missing ``pg_dump`` are one
``error:`` line each.

The commands run in this process through the CLI's ``main`` (the console script's entry point, its error
handling included).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from reliability_support import CHUNK_ROWS, PATIENT_KEY, PREDICTION_ROWS  # type: ignore[import-not-found]
from sqlalchemy import create_engine, func, inspect, select, text

from monitor.service.actors import os_account

VOLATILE = {"run_id", "created_at", "finding_id", "ticket_id", "generated_at"}  # ids and timestamps of a run


def _stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def _one_error_line(result: tuple[int, str, str], *words: str) -> str:
    status, _out, err = result
    lines = [line for line in err.splitlines() if line.strip()]
    assert status == 2 and len(lines) == 1 and lines[0].startswith("error:"), result
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def _services(url: str):  # type: ignore[no-untyped-def]
    from monitor.entrypoints.bootstrap import bootstrap
    from monitor.settings import Settings

    return bootstrap(Settings(database_url=url, data_dir=Path("."), patient_id_key=PATIENT_KEY))


def _table_counts(url: str) -> dict[str, int]:
    from monitor.adapters.db.tables import metadata

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
                    for t in metadata.sorted_tables}
    finally:
        engine.dispose()


def _analyze(url: str, cutoff: datetime) -> dict[str, Any]:
    from monitor.domain.periods import Period
    from monitor.service.analyze import analyze_period

    app = _services(url)
    try:
        return analyze_period("lung-nodule-ct", Period.parse("2025Q3"), uow=app.uow, clock=app.clock, actor="t",
                              cutoff=cutoff).document
    finally:
        app.engine.dispose()


@pytest.fixture
def fresh_url(registered_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of the same engine as ``registered_url`` (no schema: restore creates it)."""
    if registered_url.startswith("sqlite"):
        return f"sqlite:///{(tmp_path / 'restored' / 'monitor.sqlite').as_posix()}"
    return str(request.getfixturevalue("postgres_database_url"))


@pytest.fixture
def analysed(registered_url: str, scenario_logs: tuple[Path, Path], tmp_path: Path) -> tuple[str, datetime, dict]:  # type: ignore[type-arg]
    """The registered database with the logs ingested, 2025Q3 analysed and its report (JSON) written."""
    from monitor.service.ingest import ingest_ground_truth, ingest_predictions
    from monitor.service.report import write_report

    app = _services(registered_url)
    try:
        ingest_predictions(app.open_log(scenario_logs[0]), source="p.csv", uow=app.uow,
                           hash_patient=app.patient_hasher(), clock=app.clock, actor="t")
        ingest_ground_truth(app.open_log(scenario_logs[1]), source="g.csv", uow=app.uow, clock=app.clock, actor="t")
    finally:
        app.engine.dispose()
    cutoff = datetime.now(UTC)
    document = _analyze(registered_url, cutoff)
    app = _services(registered_url)
    try:
        write_report("lung-nodule-ct", "2025Q3", formats=["json"], out_dir=tmp_path / "reports", uow=app.uow,
                     clock=app.clock, actor="t", renderer=app.report_renderer)
    finally:
        app.engine.dispose()
    return registered_url, cutoff, document


def test_restored_database_gives_the_same_analysis_and_an_intact_audit_trail(analysed, fresh_url: str,
                                                                             tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """Backup, restore into an empty database: every table has the same rows (the audit log one more: the
    restore's record, naming the file's SHA-256), the stored analysis is identical, a re-run with the same
    cut-off gives the same document (ids and timestamps aside), and ``audit verify`` passes. Restoring
    again into the now non-empty database is refused unless --force."""
    source_url, cutoff, document = analysed
    backup = tmp_path / "monitor.backup"
    status, out, err = cli("--db", source_url, "backup", str(backup))
    assert status == 0, err
    digest = hashlib.sha256(backup.read_bytes()).hexdigest()
    assert digest in out

    status, out, err = cli("--db", fresh_url, "restore", str(backup))
    assert status == 0, err
    assert "audit trail intact" in out and "upgrade" not in out
    source, restored = _table_counts(source_url), _table_counts(fresh_url)
    assert restored == source | {"audit_log": source["audit_log"] + 1}
    status, out, err = cli("--db", fresh_url, "audit", "list", "--limit", "1", "--json")
    [newest] = json.loads(out)
    assert (newest["action"], newest["details"]["sha256"]) == ("database.restore", digest)
    assert newest["details"]["records_restored"] == source["audit_log"]
    # no user named: the restore's marked actor
    assert (newest["actor"], newest["details"]["named_user"]) == (f"restore:{os_account()}", None)
    status, out, err = cli("--db", fresh_url, "audit", "verify")
    assert status == 0 and "audit chain intact" in out, err

    app = _services(fresh_url)
    try:
        with app.uow() as unit:
            stored = unit.results.latest_run("lung-nodule-ct", "2025Q3")["document"]
    finally:
        app.engine.dispose()
    assert stored == document
    rerun = _analyze(fresh_url, cutoff)
    assert rerun["completeness"]["total"]["predictions"] == PREDICTION_ROWS
    assert _stable(rerun) == _stable(document)

    line = _one_error_line(cli("--db", fresh_url, "restore", str(backup)), "not empty", "--force")
    assert "audit_log" in line
    status, out, err = cli("--db", fresh_url, "restore", "--force", str(backup))
    assert status == 0, err
    assert _table_counts(fresh_url)["audit_log"] == source["audit_log"] + 1  # replaced, then one record again


def test_backup_during_an_open_ingest_holds_only_committed_data(registered_url: str, fresh_url: str,
                                                                scenario_logs: tuple[Path, Path], tmp_path: Path,
                                                                spawn, cli) -> None:  # type: ignore[no-untyped-def]
    """While another process's ingest transaction is open (two chunks written), ``backup`` neither waits
    for it nor copies any of it; after the commit, a new backup holds the whole batch."""
    before = _table_counts(registered_url)
    writer = spawn("ingest", registered_url, scenario_logs[0], CHUNK_ROWS, "chunk")
    writer.wait_for("paused chunk")
    writer.resume()
    writer.wait_for("paused chunk")
    during = tmp_path / "during.backup"
    status, _out, err = cli("--db", registered_url, "backup", str(during))
    assert status == 0, err
    writer.finish()
    after = tmp_path / "after.backup"
    assert cli("--db", registered_url, "backup", str(after))[0] == 0

    assert cli("--db", fresh_url, "restore", str(during))[0] == 0
    assert _table_counts(fresh_url) == before | {"audit_log": before["audit_log"] + 1}
    assert cli("--db", fresh_url, "restore", "--force", str(after))[0] == 0
    restored = _table_counts(fresh_url)
    assert restored["predictions"] + restored["prediction_failures"] == PREDICTION_ROWS
    assert restored["ingestion_batches"] == before["ingestion_batches"] + 1


@pytest.mark.parametrize("empty_database_url", ["sqlite"], indirect=True)
def test_unusable_backup_files_are_one_error_line(registered_url: str, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """A missing file, a folder, a file that is no backup, a truncated backup and an SQLite database that is
    not samd-monitor's: one line each, and the target database is left as it was. An existing backup file
    is not overwritten without --force."""
    import sqlite3

    backup = tmp_path / "good.backup"
    assert cli("--db", registered_url, "backup", str(backup))[0] == 0
    _one_error_line(cli("--db", registered_url, "backup", str(backup)), "already exists", "--force")
    assert cli("--db", registered_url, "backup", "--force", str(backup))[0] == 0
    truncated = tmp_path / "truncated.backup"
    truncated.write_bytes(backup.read_bytes()[: backup.stat().st_size // 3])
    garbage = tmp_path / "notes.txt"
    garbage.write_text("prediction_id,score\n1,0.5\n", encoding="utf-8")
    foreign = tmp_path / "foreign.sqlite"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE t (x)")
    target = f"sqlite:///{(tmp_path / 'target.sqlite').as_posix()}"
    cases = {tmp_path / "missing.backup": "does not exist", tmp_path: "is a folder",
             garbage: "not a samd-monitor backup", truncated: "damaged", foreign: "not a samd-monitor backup"}
    for path, words in cases.items():
        _one_error_line(cli("--db", target, "restore", str(path)), str(path), words)
    assert not (tmp_path / "target.sqlite").exists()


@pytest.mark.postgres
def test_postgres_backup_errors_are_one_error_line(postgres_database_url: str, tmp_path: Path, cli,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL: pg_dump missing from PATH, a truncated pg_dump archive, each engine's backup offered to
    the other engine, and a table with rows that the backup does not have are one ``error:`` line each
    (the same table empty is dropped by the restore)."""
    from monitor.adapters.db.engine import make_engine, upgrade

    engine = make_engine(postgres_database_url)
    upgrade(engine)
    engine.dispose()
    sqlite_url = f"sqlite:///{(tmp_path / 'monitor.sqlite').as_posix()}"
    assert cli("--db", sqlite_url, "db", "upgrade")[0] == 0
    dump, sqlite_backup = tmp_path / "pg.backup", tmp_path / "sqlite.backup"
    assert cli("--db", postgres_database_url, "backup", str(dump))[0] == 0
    assert dump.read_bytes().startswith(b"PGDMP")
    assert cli("--db", sqlite_url, "backup", str(sqlite_backup))[0] == 0
    empty_sqlite = f"sqlite:///{(tmp_path / 'empty.sqlite').as_posix()}"

    _one_error_line(cli("--db", empty_sqlite, "restore", str(dump)), "is a PostgreSQL backup", "database is SQLite")
    _one_error_line(cli("--db", postgres_database_url, "restore", "--force", str(sqlite_backup)),
                    "is an SQLite backup", "database is PostgreSQL")
    truncated = tmp_path / "truncated.backup"
    truncated.write_bytes(dump.read_bytes()[:4000])
    _one_error_line(cli("--db", postgres_database_url, "restore", "--force", str(truncated)),
                    "not a readable pg_dump archive")
    engine = create_engine(postgres_database_url)
    with engine.begin() as conn:  # a table of a newer migration, not in the backup: dropped while empty
        conn.execute(text("CREATE TABLE newer_feature (id integer)"))
    assert cli("--db", postgres_database_url, "restore", "--force", str(dump))[0] == 0
    with engine.begin() as conn:
        assert not inspect(conn).has_table("newer_feature")
        conn.execute(text("CREATE TABLE newer_feature (id integer)"))
        conn.execute(text("INSERT INTO newer_feature VALUES (1)"))
    engine.dispose()
    _one_error_line(cli("--db", postgres_database_url, "restore", "--force", str(dump)),
                    "tables with rows that the backup does not have (newer_feature)")
    no_programs = tmp_path / "empty-bin"
    no_programs.mkdir()
    monkeypatch.setenv("PATH", str(no_programs))
    _one_error_line(cli("--db", postgres_database_url, "backup", str(tmp_path / "other.backup")),
                    "pg_dump not found on PATH")
    _one_error_line(cli("--db", postgres_database_url, "restore", "--force", str(dump)), "pg_restore not found on PATH")
