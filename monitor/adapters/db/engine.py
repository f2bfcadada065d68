"""Engine creation and schema migration (Alembic) for SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlalchemy import create_engine

from monitor.errors import ConfigError, SchemaOutOfDateError, StorageError

__all__ = ["alembic_config", "check_schema", "downgrade", "make_engine", "upgrade"]

_ROOT = Path(__file__).resolve().parents[3]


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str) -> Engine:
    """Create an engine for ``url``; SQLite files get WAL, a busy timeout and their folder."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"MONITOR_DATABASE_URL / --db: cannot parse database URL ({exc})") from exc
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        # No server-side prepared statements: a plan cached while a table is nearly empty (early in a
        # large ingest) would keep using sequential scans as the table grows within the transaction.
        return create_engine(parsed, pool_pre_ping=True, connect_args={"prepare_threshold": None})
    raise ConfigError(
        f"MONITOR_DATABASE_URL / --db: unsupported database {parsed.get_backend_name()!r} "
        "(use sqlite:///PATH or postgresql+psycopg://USER@HOST:PORT/DB)"
    )


def alembic_config(engine: Engine) -> Config:
    """An Alembic configuration bound to ``engine``'s connection."""
    cfg = Config(str(_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(_ROOT / "alembic"))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to ``revision``."""
    try:
        command.upgrade(alembic_config(engine), revision)
    except OperationalError as exc:
        raise StorageError(f"cannot migrate the database: {exc.orig}") from exc


def downgrade(engine: Engine, revision: str = "base") -> None:
    """Revert migrations down to ``revision``."""
    try:
        command.downgrade(alembic_config(engine), revision)
    except OperationalError as exc:
        raise StorageError(f"cannot migrate the database: {exc.orig}") from exc


def check_schema(engine: Engine) -> None:
    """Raise :class:`SchemaOutOfDateError` unless the database is at the latest migration."""
    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    except SQLAlchemyError as exc:
        raise StorageError(f"cannot reach the database {engine.url.render_as_string(hide_password=True)}: "
                           f"{getattr(exc, 'orig', exc)}") from exc
    if current != head:
        raise SchemaOutOfDateError(
            f"the database schema is at {current or 'nothing'}, this software needs {head}: "
            "run `samd-monitor db upgrade`"
        )
