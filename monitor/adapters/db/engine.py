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
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlalchemy import create_engine

from monitor.errors import ConfigError, SchemaOutOfDateError, StorageError
from monitor.resources import resource_path

__all__ = ["alembic_config", "check_schema", "downgrade", "make_engine", "sqlite_file", "storage_condition",
           "storage_error", "upgrade"]

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


#: Page cache of every SQLite connection (KiB). SQLite's default, 2 MiB, makes an analysis of the demo's
#: quarter (1 GB database) re-read pages through the operating system all the time; 64 MiB took its
#: 2025Q3 analysis from 31-34 s to 26-31 s (second runs; first runs 40 -> 35-37 s). The cache fills only
#: as pages are read, so a connection serving small API reads stays small. A bulk insert raises its own
#: connection's cache further for the batch (``repositories.logs._SQLITE_CACHE_KIB``).
SQLITE_CACHE_KIB = 65_536


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    cursor.close()


def sqlite_file(engine_or_url: Engine | URL | str) -> Path | None:
    """The database file of a SQLite engine or URL (``None``: another database, or SQLite in memory)."""
    url = engine_or_url.url if isinstance(engine_or_url, Engine) else make_url(engine_or_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:" \
            or url.database.startswith("file:") or url.query.get("mode") == "memory":
        return None
    return Path(url.database).expanduser()


def make_engine(url: str, *, create: bool = True) -> Engine:
    """Create an engine for ``url``; SQLite files get WAL, a busy timeout and, with ``create``, their folder.

    Creating an engine opens no connection. A SQLite file comes into being at the first connection: commands
    that only use an existing database pass ``create=False`` and call :func:`check_schema` first, which refuses
    a missing file before any connection, so that they never leave a stray empty database behind.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"MONITOR_DATABASE_URL / --db: cannot parse database URL ({exc})") from exc
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_file(parsed)
        if path is not None and create:
            path.parent.mkdir(parents=True, exist_ok=True)
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


def require_existing(engine: Engine) -> Path | None:
    """Refuse a SQLite file that does not exist, before any connection (which would create it), naming the
    file; the SQLite file's path (``None`` for a server database) otherwise."""
    path = sqlite_file(engine)
    if path is not None and not path.is_file():
        raise SchemaOutOfDateError(
            f"no database at {path}: run `samd-monitor db upgrade` to create it, or point --db / "
            "MONITOR_DATABASE_URL at an existing database")
    return path


def check_schema(engine: Engine) -> None:
    """Raise :class:`SchemaOutOfDateError` unless the database is at the latest migration; a SQLite file that
    does not exist is refused before any connection (which would create it), naming the file."""
    where = engine.url.render_as_string(hide_password=True)
    path = require_existing(engine)
    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    except SQLAlchemyError as exc:
        raise StorageError(f"cannot reach the database {where}: {getattr(exc, 'orig', exc)}") from exc
    if current != head:
        raise SchemaOutOfDateError(
            f"the schema of the database {path or where} is at {current or 'nothing (an empty database)'}, "
            f"this software needs {head}: run `samd-monitor db upgrade`"
        )
