"""Engine creation, schema migration (Alembic) and the translation of storage errors, for SQLite and
PostgreSQL.

A full or read-only storage is named as such in a :class:`StorageError`'s message: SQLite
``SQLITE_FULL`` / ``SQLITE_READONLY``, PostgreSQL SQLSTATE class 53 "insufficient resources" (53100
``disk_full``) / 25006 ``read_only_sql_transaction``, and ``ENOSPC`` / ``EDQUOT`` / ``EFBIG`` / ``EROFS``.
References: PEP 249 (DB-API 2.0) exceptions; https://www.sqlite.org/rescode.html;
https://www.postgresql.org/docs/current/errcodes-appendix.html.
"""

from __future__ import annotations

import errno
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
from monitor.resources import resource_path

__all__ = ["alembic_config", "check_schema", "downgrade", "make_engine", "storage_condition", "storage_error",
           "upgrade"]

_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_SQLITE_FULL, _SQLITE_READONLY = 13, 8  # primary result codes (the low byte of an extended code)


def storage_condition(exc: BaseException) -> str | None:
    """``"full"`` or ``"read-only"`` when ``exc`` (or the driver error it wraps) says the storage is full or
    read-only; else ``None``."""
    cause = getattr(exc, "orig", None) or exc
    if isinstance(cause, OSError) and cause.errno is not None:
        return "full" if cause.errno in _FULL_ERRNOS else "read-only" if cause.errno == errno.EROFS else None
    code = getattr(cause, "sqlite_errorcode", None)
    if isinstance(code, int):
        return {_SQLITE_FULL: "full", _SQLITE_READONLY: "read-only"}.get(code & 0xFF)
    state = getattr(cause, "sqlstate", None) or ""
    return "full" if state.startswith("53") else "read-only" if state == "25006" else None


def storage_error(exc: BaseException, where: str) -> StorageError:
    """The :class:`StorageError` for a database driver, SQLAlchemy or file-system error met at ``where``:
    the first line of the cause (never its detail lines, which may quote stored values), naming a full or
    read-only storage as such."""
    cause = getattr(exc, "orig", None) or exc
    first = (str(cause).strip().splitlines() or [type(cause).__name__])[0][:300]
    if isinstance(cause, OSError) and cause.strerror:
        first = cause.strerror
    condition = storage_condition(exc)
    hint = {"full": " (storage full: free space and retry; this transaction was rolled back)",
            "read-only": " (storage read-only; this transaction was rolled back)"}.get(condition or "", "")
    return StorageError(f"database error on {where}: {first}{hint}")


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
    cfg = Config(str(resource_path("alembic.ini")))
    cfg.set_main_option("script_location", str(resource_path("alembic")))
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
