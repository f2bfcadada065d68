"""Shared fixtures: real databases (SQLite file, and PostgreSQL when configured), clocks, configs.

PostgreSQL tests run when ``MONITOR_TEST_POSTGRES_URL`` is set (``make test`` and CI set it);
each test gets a freshly created database on that server, dropped afterwards. When the URL is
set but the server cannot be reached, the tests fail: they never skip silently.

A migrated database is a copy of one migrated per test process and engine (``CREATE DATABASE ...
TEMPLATE`` on PostgreSQL, a file copy on SQLite): the same Alembic upgrade, run once instead of once per
test. The migrations themselves are tested on empty databases (tests/integration/test_migrations.py).
"""

from __future__ import annotations

import os
import shutil
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_CONFIG = ROOT / "examples" / "lung-nodule-ct.yaml"
POSTGRES_URL = os.environ.get("MONITOR_TEST_POSTGRES_URL")
TEST_PATIENT_KEY = "test-patient-key-0123456789abcdef"

ENGINES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's MONITOR_* settings or writes into the work tree."""
    for name in list(os.environ):
        if name.startswith("MONITOR_") and name != "MONITOR_TEST_POSTGRES_URL":
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MONITOR_DATA_DIR", str(tmp_path / "data"))
    # A command run with its MONITOR_* variables removed (the e2e ``cli`` fixture, subprocesses) falls back
    # to the user data folder (platformdirs): on Linux under XDG_DATA_HOME, here inside tmp_path.
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "user-data"))


def _admin_url() -> str:
    if not POSTGRES_URL:
        pytest.skip("MONITOR_TEST_POSTGRES_URL is not set (make test sets it)")
    base = make_url(POSTGRES_URL)
    if base.drivername == "postgresql":
        base = base.set(drivername="postgresql+psycopg")
    return base.render_as_string(hide_password=False)


def _create_postgres_database(template: str | None = None) -> tuple[str, str]:
    base = make_url(_admin_url())
    name = f"samd_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
    except Exception as exc:  # the URL is configured: an unreachable server is a failure, not a skip
        pytest.fail(f"PostgreSQL at {POSTGRES_URL} is configured but not usable: {exc}")
    finally:
        admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False), name


def _drop_postgres_database(name: str) -> None:
    admin = create_engine(_admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _migrate(url: str) -> None:
    from monitor.adapters.db.engine import make_engine, upgrade

    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()  # no connection left open: PostgreSQL copies a template only while nobody is connected


@pytest.fixture(scope="session")
def _migrated_sqlite_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to the latest schema, once per test process (copied, never used itself)."""
    path = tmp_path_factory.mktemp("migrated") / "template.sqlite"
    _migrate(f"sqlite:///{path.as_posix()}")
    for suffix in ("-wal", "-shm"):  # closed cleanly: the write-ahead log is checkpointed into the file
        assert not Path(f"{path}{suffix}").exists() or Path(f"{path}{suffix}").stat().st_size == 0
    return path


@pytest.fixture(scope="session")
def _migrated_postgres_template() -> Iterator[str]:
    """The name of a PostgreSQL database migrated to the latest schema, once per test process (a template)."""
    url, name = _create_postgres_database()
    try:
        _migrate(url)
        yield name
    finally:
        _drop_postgres_database(name)


_MIGRATED: set[str] = set()  # URLs that empty_database_url created already migrated (for database_url)


@pytest.fixture(params=ENGINES)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of an empty database (no schema), on SQLite and on PostgreSQL.

    When the test also uses ``database_url`` the database is created migrated (a copy of the migrated
    template), which is what ``database_url`` would make of it.
    """
    migrated = "database_url" in request.fixturenames
    if request.param == "sqlite":
        path = tmp_path / "monitor.sqlite"
        if migrated:
            shutil.copyfile(request.getfixturevalue("_migrated_sqlite_file"), path)
        url = f"sqlite:///{path.as_posix()}"
        if migrated:
            _MIGRATED.add(url)
        try:
            yield url
        finally:
            _MIGRATED.discard(url)
        return
    template = request.getfixturevalue("_migrated_postgres_template") if migrated else None
    url, name = _create_postgres_database(template)
    if migrated:
        _MIGRATED.add(url)
    try:
        yield url
    finally:
        _MIGRATED.discard(url)
        _drop_postgres_database(name)


@pytest.fixture
def postgres_database_url() -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL database (for tests that compare the engines themselves).

    Test modules must use fixtures, never ``from conftest import ...``: other test folders have their
    own ``conftest.py`` and the module name is not unique.
    """
    url, name = _create_postgres_database()
    try:
        yield url
    finally:
        _drop_postgres_database(name)


@pytest.fixture
def database_url(empty_database_url: str) -> str:
    """URL of a database migrated to the latest schema."""
    if empty_database_url not in _MIGRATED:
        _migrate(empty_database_url)
    return empty_database_url


class StepClock:
    """A deterministic clock: each call returns a time one second after the previous one."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 2, 1, 8, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def clock() -> StepClock:
    """A deterministic stepping clock."""
    return StepClock()


@pytest.fixture
def named_user(database_url: str, clock: StepClock) -> str:
    """``e2e-tester``, a named user of ``database_url`` (role qa, no password): what commands that change data
    act as (``MONITOR_USER`` / ``--user``; docs/signoff.md, "Who acts"). Its creation is audited as ``pytest``."""
    from monitor.adapters.db.engine import make_engine
    from monitor.adapters.db.unit_of_work import unit_of_work_factory
    from monitor.service.access import create_user

    engine = make_engine(database_url)
    try:
        create_user(unit_of_work_factory(engine), user_id="e2e-tester", display_name="E2E tester", role="qa",
                    password=None, clock=clock, actor="pytest")
    finally:
        engine.dispose()
    return "e2e-tester"


@pytest.fixture
def app(database_url: str, clock: StepClock):  # type: ignore[no-untyped-def]
    """The wired application on a migrated database, with the example device registered."""
    from monitor.adapters.config_file import load_device_config
    from monitor.entrypoints.bootstrap import bootstrap
    from monitor.service.devices import register_device
    from monitor.settings import Settings

    settings = Settings(database_url=database_url, data_dir=Path("."), patient_id_key=TEST_PATIENT_KEY)
    application = bootstrap(settings, clock=clock)
    register_device(load_device_config(EXAMPLE_CONFIG), uow=application.uow, clock=clock, actor="pytest",
                    source=str(EXAMPLE_CONFIG))
    yield application
    application.engine.dispose()


@pytest.fixture
def labels_final_on_arrival(app, tmp_path: Path):  # type: ignore[no-untyped-def]
    """``app`` with the example device re-registered with every label final on arrival
    (``labels.provisional_sources: []``): for tests that ingest a whole scenario at once, where no earlier
    cohort tells how many follow-up labels to expect, so those strata would be provisional (not decided)."""
    import yaml

    from monitor.adapters.config_file import load_device_config
    from monitor.service.devices import register_device

    config = yaml.safe_load(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    config["labels"]["provisional_sources"] = []
    path = tmp_path / "device-final-on-arrival.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    register_device(load_device_config(path), uow=app.uow, clock=app.clock, actor="pytest", source=str(path))
    return app


@pytest.fixture
def ingest_scenario(app, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A function ingesting a generated demo scenario (predictions, then ground truth) into ``app``."""
    from monitor.service.ingest import ingest_ground_truth, ingest_predictions
    from monitor.synthetic import generate, write_csv

    def load(scenario):  # type: ignore[no-untyped-def]
        data = generate(scenario)
        predictions = write_csv(data.predictions, tmp_path / "p.csv")
        ingest_predictions(app.open_log(predictions), source="p.csv", uow=app.uow,
                           hash_patient=app.patient_hasher(), clock=app.clock, actor="t")
        truth = write_csv(data.ground_truth, tmp_path / "g.csv")
        ingest_ground_truth(app.open_log(truth), source="g.csv", uow=app.uow, clock=app.clock, actor="t")
        return data

    return load
