"""A full disk met in the middle of the bulk insert: one ``error:`` line (exit status 2) in the CLI, 503 with
``Retry-After`` in the API, nothing of the batch stored, and once space is freed the same file stores exactly.

The storage fills *during* the ingest, inside the driver's own bulk call (SQLite ``executemany``,
PostgreSQL ``COPY``) that SQLAlchemy never wraps: the case that once ended in a raw
``sqlite3.OperationalError`` traceback (exit 1) and HTTP 500. Real full file systems are small tmpfs
mounts (root only; skipped elsewhere); on PostgreSQL the data of a private cluster's database lives in a
tablespace on such a mount (``initdb`` cluster as in ``test_postgres_restart.py``; skipped only when
``initdb`` or ``mount`` is unavailable). The in-process API test fills SQLite with ``PRAGMA
max_page_count`` (a real ``SQLITE_FULL``) and PostgreSQL's ``COPY`` with the driver's own ``DiskFull``.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from typing import Callable
from pathlib import Path

import pytest
from reliability_support import EXAMPLE, PATIENT_KEY, counts  # type: ignore[import-not-found]
from sqlalchemy import create_engine, event, text
from test_postgres_restart import Cluster, cluster  # type: ignore[import-not-found]  # noqa: F401  (fixture)

ROWS = 20_000  # about 7 MB stored: more than SQLite's 2 MB page cache, so the bulk insert itself spills to disk


def _can_mount() -> bool:
    return os.geteuid() == 0 and shutil.which("mount") is not None and shutil.which("umount") is not None


@contextmanager
def _tmpfs(folder: Path, size: int = 24 * 2**20) -> Iterator[Path]:
    """A small tmpfs mounted on ``folder`` (made here) for the block; the test is skipped without root or
    ``mount``."""
    folder.mkdir()
    if not _can_mount() or subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                                          check=False, capture_output=True).returncode != 0:
        pytest.skip("needs root and mount to make a small tmpfs")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


@pytest.fixture(scope="module")
def big_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A prediction log of ROWS rows (2025Q3) as CSV."""
    from monitor.synthetic import generate, write_csv
    from monitor.synthetic.lung_nodule import DemoScenario

    data = generate(DemoScenario(scale=ROWS / 300_000, quarters=("2025Q3",), drift_quarter=None))
    return write_csv(data.predictions.head(ROWS), tmp_path_factory.mktemp("full-disk") / "predictions.csv")


def _fill(folder: Path, leave: int) -> Path:
    """Write a filler file leaving about ``leave`` bytes free on ``folder``'s file system."""
    filler = folder / "filler"
    free = shutil.disk_usage(folder).free
    with filler.open("wb") as handle:
        for _ in range(max(0, free - leave) // 2**20):
            handle.write(b"\0" * 2**20)
    return filler


@dataclass
class Ran:
    """What a CLI run gave: exit status and standard error."""

    returncode: int
    stderr: str


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Callable[..., Ran]:
    """Run ``samd-monitor ARGS`` in this process, through the console script's own ``main`` (what a
    subprocess runs, without its 5 s of CPU for the imports): an uncaught exception fails the test."""
    from monitor.entrypoints.cli import main

    def run(*args: str, url: str) -> Ran:
        monkeypatch.setenv("MONITOR_DATABASE_URL", url)
        monkeypatch.setenv("MONITOR_PATIENT_ID_KEY", PATIENT_KEY)
        monkeypatch.setenv("MONITOR_USER", "t")  # the named user _register creates
        monkeypatch.setattr(sys, "argv", ["samd-monitor", *args])
        capsys.readouterr()
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        return Ran(code, capsys.readouterr().err)

    return run


def _assert_one_full_line(result: Ran) -> None:
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: database error on "), result.stderr[-2000:]
    assert "full" in lines[0].lower() and "free space and retry" in lines[0], lines[0]


def _register(url: str) -> None:
    from monitor.adapters.config_file import load_device_config
    from monitor.adapters.db.engine import make_engine, upgrade
    from monitor.entrypoints.bootstrap import bootstrap
    from monitor.service.access import create_user
    from monitor.service.devices import register_device
    from monitor.settings import Settings

    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    app = bootstrap(Settings(database_url=url, data_dir=Path("."), patient_id_key=PATIENT_KEY))
    try:
        create_user(app.uow, user_id="t", display_name="Tester", role="qa", password=None, clock=app.clock, actor="t")
        register_device(load_device_config(EXAMPLE), uow=app.uow, clock=app.clock, actor="t", source=str(EXAMPLE))
    finally:
        app.engine.dispose()


def _stored_exactly(url: str, before: dict[str, int]) -> None:
    after = counts(url)
    assert after["ingestion_batches"] == before["ingestion_batches"] + 1
    assert after["predictions"] + after["prediction_failures"] - before["predictions"] - before["prediction_failures"] == ROWS


def test_sqlite_fills_up_in_the_bulk_insert_one_error_line_then_the_rerun_stores_the_file(
        tmp_path: Path, big_log: Path, cli: Callable[..., Ran]) -> None:
    """SQLite on a tmpfs with 1 MiB left: the ingest fills it inside ``executemany`` and ends with exit 2 and
    one ``error: ... database or disk is full (storage full ...)`` line; nothing is stored and the file is
    intact; with the space freed the same command stores exactly the file."""
    with _tmpfs(tmp_path / "tiny") as folder:
        _sqlite_full(folder, big_log, cli)


def _sqlite_full(folder: Path, big_log: Path, cli: Callable[..., Ran]) -> None:
    database = folder / "monitor.sqlite"
    url = f"sqlite:///{database.as_posix()}"
    _register(url)
    before = counts(url)
    filler = _fill(folder, leave=2**20)
    result = cli("ingest", "predictions", str(big_log), url=url)
    _assert_one_full_line(result)
    filler.unlink()
    assert counts(url) == before
    with closing(sqlite3.connect(database)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    again = cli("ingest", "predictions", str(big_log), url=url)
    assert again.returncode == 0, again.stderr[-2000:]
    _stored_exactly(url, before)


def test_postgres_tablespace_fills_up_in_copy_one_error_line_and_the_server_recovers(
        cluster: Cluster, big_log: Path, cli: Callable[..., Ran]) -> None:  # noqa: F811
    """A private PostgreSQL cluster whose database lives in a tablespace on a tmpfs with 1 MiB left: the
    ``COPY`` of the ingest fails (``could not extend file``, SQLSTATE 53100): exit 2 and one line, nothing
    stored; the server keeps serving, and with the space freed the same file stores exactly."""
    with _tmpfs(cluster.folder / "tiny") as folder:  # inside the cluster's folder: reachable by its owner
        _postgres_full(cluster, folder, big_log, cli)


def _postgres_full(cluster: Cluster, folder: Path, big_log: Path, cli: Callable[..., Ran]) -> None:
    space = folder / "pg"
    space.mkdir()
    if cluster.as_owner:
        shutil.chown(space, "postgres", "postgres")
    admin = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{cluster.port}/postgres",
                          isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f"CREATE TABLESPACE tiny LOCATION '{space}'"))
            conn.execute(text('CREATE DATABASE "full" TABLESPACE tiny'))
    finally:
        admin.dispose()
    url = f"postgresql+psycopg://postgres@127.0.0.1:{cluster.port}/full"
    _register(url)
    before = counts(url)
    filler = _fill(folder, leave=2**20)
    result = cli("ingest", "predictions", str(big_log), url=url)
    _assert_one_full_line(result)
    assert "postgresql" in result.stderr
    assert counts(url) == before  # the server answers, and nothing of the batch is there
    filler.unlink()
    again = cli("ingest", "predictions", str(big_log), url=url)
    assert again.returncode == 0, again.stderr[-2000:]
    _stored_exactly(url, before)


def _records(n: int) -> list[dict[str, object]]:
    return [{"prediction_id": f"full-{i:06d}", "device_id": "lung-nodule-ct", "model_version": "2.1.0",
             "site_id": f"site-{i % 3}", "predicted_at": "2026-01-28T09:00:00Z", "score": 0.5, "predicted_label": 1,
             "patient_id": f"MRN-FULL-{i:06d}", "age": 60, "sex": "F", "emphysema_grade": "none",
             "scanner_vendor": "GE"} for i in range(n)]


def test_api_full_storage_in_the_bulk_insert_is_503_with_retry_after(app, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Both engines: a post whose bulk insert meets a full storage (SQLite: a real ``SQLITE_FULL`` from
    ``PRAGMA max_page_count``; PostgreSQL: the driver's ``COPY`` raising ``DiskFull``, SQLSTATE 53100)
    gets 503 problem+json with ``Retry-After`` and a message naming the full storage; nothing stored."""
    import psycopg
    from fastapi.testclient import TestClient

    from monitor.entrypoints.api.app import create_api
    from monitor.service.access import create_token

    token = create_token(app.uow, name="gw", role="device", device_id="lung-nodule-ct", clock=app.clock, actor="t")[1]
    if app.engine.dialect.name == "sqlite":
        with app.engine.connect() as conn:
            pages = int(conn.execute(text("PRAGMA page_count")).scalar_one())

        @event.listens_for(app.engine, "connect")
        def _cap(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            dbapi_connection.execute(f"PRAGMA max_page_count = {pages + 16}")

        app.engine.dispose()  # new connections carry the cap
    else:
        def disk_full(self, statement, *args, **kwargs):  # type: ignore[no-untyped-def]
            raise psycopg.errors.DiskFull('could not extend file "base/1/2": No space left on device')

        monkeypatch.setattr(psycopg.Cursor, "copy", disk_full)
    before = counts(app.engine.url.render_as_string(hide_password=False))
    client = TestClient(create_api(app), raise_server_exceptions=False)
    response = client.post("/v1/devices/lung-nodule-ct/predictions", json=_records(3_000),
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) > 0
    assert "full" in response.json()["detail"] and "MRN-FULL" not in response.text
    assert counts(app.engine.url.render_as_string(hide_password=False)) == before


def test_out_of_space_outside_the_database_is_one_line_and_503(monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    """A full or read-only file system met outside the unit of work (a spool or output file): the CLI prints
    one ``error: storage full`` line and exits 2, the API answers 503 with ``Retry-After``; any other
    ``OSError`` stays an unexpected error (500) there."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    import monitor.entrypoints.cli as cli
    from monitor.entrypoints.api.problems import install_problem_handlers

    def full(**_options: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", "/var/spool/x")

    monkeypatch.setattr(cli, "app", full)
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert lines == ["error: storage full: No space left on device"]

    api = FastAPI()
    install_problem_handlers(api)

    @api.get("/full")
    def _full() -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    @api.get("/other")
    def _other() -> None:
        raise OSError(errno.ENOENT, "No such file or directory")

    client = TestClient(api, raise_server_exceptions=False)
    response = client.get("/full")
    assert response.status_code == 503 and int(response.headers["retry-after"]) > 0
    assert "read-only" in response.json()["detail"]
    assert client.get("/other").status_code == 500
