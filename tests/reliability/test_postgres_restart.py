"""PostgreSQL restarted under a running ingest: one clear error, and a retry that neither loses nor
doubles a row.

The server restarted is a private throw-away cluster (``initdb`` into a temporary folder, on a free
loopback port, run as the ``postgres`` OS user when the tests run as root, since PostgreSQL refuses
root), never the shared server of ``MONITOR_TEST_POSTGRES_URL``. The ingest is the driver process of
the crash tests, paused inside its open transaction while the server restarts (``pg_ctl restart -m
fast``: the server ends every session, as for a planned restart or a failover).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from reliability_support import CHUNK_ROWS, EXAMPLE, PATIENT_KEY, PREDICTION_ROWS, counts  # type: ignore[import-not-found]
from sqlalchemy import create_engine, text

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    """A private PostgreSQL cluster: its folder, port and the command prefix that runs as its owner."""

    folder: Path
    port: int
    as_owner: list[str]

    def pg_ctl(self, *args: str) -> None:
        """Run ``pg_ctl`` on the cluster, waiting for it; the server's own output goes to its log file (a
        pipe would be inherited by the server and never close)."""
        subprocess.run([*self.as_owner, str(PG_BIN / "pg_ctl"), "-D", str(self.folder / "data"), "-w",
                        "-l", str(self.folder / "server.log"), *args],
                       check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=120)

    def start(self) -> None:
        """Start the server on 127.0.0.1 only (no fsync: a throw-away cluster)."""
        self.pg_ctl("-o", f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off", "start")

    def restart(self) -> None:
        """A fast restart: every session is ended, open transactions roll back."""
        self.pg_ctl("-m", "fast", "restart")

    def database(self, name: str) -> str:
        """Create database ``name``: migrated, with the example device registered; return its URL."""
        from monitor.adapters.config_file import load_device_config
        from monitor.adapters.db.engine import make_engine, upgrade
        from monitor.entrypoints.bootstrap import bootstrap
        from monitor.service.devices import register_device
        from monitor.settings import Settings

        admin = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres",
                              isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        app = bootstrap(Settings(database_url=url, data_dir=Path("."), patient_id_key=PATIENT_KEY))
        register_device(load_device_config(EXAMPLE), uow=app.uow, clock=app.clock, actor="t", source=str(EXAMPLE))
        app.engine.dispose()
        return url


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    """A private cluster started for this test and removed after it."""
    if not (PG_BIN / "initdb").is_file():
        pytest.skip(f"no PostgreSQL server programs in {PG_BIN} (initdb) to make a private cluster")
    as_owner: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="samd-pg-"))
    if os.geteuid() == 0:  # the server refuses to run as root
        owner = pwd.getpwnam("postgres")
        os.chown(folder, owner.pw_uid, owner.pw_gid)
        as_owner = ["runuser", "-u", "postgres", "--"]
    result = subprocess.run([*as_owner, str(PG_BIN / "initdb"), "-D", str(folder / "data"), "-A", "trust",
                             "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    private = Cluster(folder, _free_port(), as_owner)
    private.start()
    try:
        yield private
    finally:
        subprocess.run([*as_owner, str(PG_BIN / "pg_ctl"), "-D", str(folder / "data"), "-m", "immediate", "stop"],
                       capture_output=True, timeout=120)
        shutil.rmtree(folder, ignore_errors=True)


def test_restart_under_a_running_ingest_is_one_error_and_the_retry_is_exact(
        cluster: Cluster, scenario_logs: tuple[Path, Path], spawn) -> None:  # type: ignore[no-untyped-def]
    """The server restarts while the ingest's transaction is open (after its second chunk; after its last
    write, just before commit): the ingest ends with exit status 2 and one ``error:`` line (StorageError),
    nothing of the batch is stored, and running the same file again gives exactly the counts of a clean
    run of it into another database (nothing lost, nothing doubled)."""
    from monitor.entrypoints.bootstrap import bootstrap
    from monitor.service.ingest import ingest_predictions
    from monitor.settings import Settings

    predictions, _ = scenario_logs
    url, clean_url = cluster.database("restarted"), cluster.database("clean")
    before = counts(url)
    for point, times in (("chunk", 2), ("commit", 1)):
        child = spawn("ingest", url, predictions, CHUNK_ROWS, point)
        for _ in range(times - 1):
            child.wait_for(f"paused {point}")
            child.resume()
        child.wait_for(f"paused {point}")
        cluster.restart()
        out, err = child.process.communicate("\n" * 100, timeout=120)
        assert child.process.returncode == 2, (point, out, err)
        assert "failed StorageError" in out.splitlines(), (point, out)
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: database error on postgresql"), (point, err)
        assert "Traceback" not in err
        assert counts(url) == before, f"restarted at {point}"

    for target in (url, clean_url):
        app = bootstrap(Settings(database_url=target, data_dir=Path("."), patient_id_key=PATIENT_KEY))
        try:
            summary = ingest_predictions(app.open_log(predictions), source=predictions.name, uow=app.uow,
                                         hash_patient=app.patient_hasher(), clock=app.clock, actor="t",
                                         chunk_rows=CHUNK_ROWS)
        finally:
            app.engine.dispose()
        assert (summary.rows, summary.accepted, summary.duplicates, summary.rejected) == (PREDICTION_ROWS,) * 2 + (0, 0)
    assert counts(url) == counts(clean_url)
    assert counts(url)["predictions"] + counts(url)["prediction_failures"] == PREDICTION_ROWS
