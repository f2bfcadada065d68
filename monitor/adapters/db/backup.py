"""Backups of the database, one adapter per engine.

* SQLite: the online backup API (``sqlite3.Connection.backup``), which copies a consistent snapshot of
  the committed data in one step while other processes keep reading and writing (WAL). The copy is
  written beside the target (a leftover of a crashed backup there is removed first), flushed to disk and
  renamed into place, so a crash, a full disk or an unwritable folder never leaves half a backup under
  the target's name. A restore checks the file (``PRAGMA integrity_check``) and copies it back the same way.
* PostgreSQL: ``pg_dump --format=custom`` (a snapshot of one transaction) and ``pg_restore --clean
  --if-exists --single-transaction``: the archive is first read through once (``--file=/dev/null``, every
  table's data decompressed), so a truncated or altered file is refused before the database is touched;
  then the old objects are dropped and the backup's created in one transaction, so a failed restore
  changes nothing (empty tables the backup does not have, e.g. of a newer migration, are dropped first;
  such tables holding rows are refused). Ownership and grants are not restored (``--no-owner
  --no-privileges``): the restoring role owns what it restores. The client programs are
  looked up on ``PATH``; the password, if any, is passed in ``PGPASSWORD``, never on the command line.

A file's kind is told by its first bytes (``SQLite format 3``, ``PGDMP``), so restoring one engine's
backup into the other is refused with a message naming both.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path
from typing import Callable

from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.exc import SQLAlchemyError

from monitor.adapters.db.unit_of_work import unit_of_work_factory
from monitor.errors import ConfigError, InputError, IntegrityError, MonitorError, StorageError
from monitor.service.ports import UnitOfWorkFactory

__all__ = ["PostgresBackup", "SqliteBackup", "backup_file_engine", "database_backup"]

SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"
#: Tables every samd-monitor database has since its first migration: a backup without them is not ours.
REQUIRED_TABLES = ("alembic_version", "audit_log")


def backup_file_engine(path: Path) -> str:
    """``"sqlite"`` or ``"postgresql"``: which engine made the backup ``path``; InputError if it is neither."""
    try:
        with path.open("rb") as handle:
            head = handle.read(len(SQLITE_MAGIC))
    except FileNotFoundError as exc:
        raise InputError(f"backup file {path} does not exist") from exc
    except IsADirectoryError as exc:
        raise InputError(f"backup file {path} is a folder, not a file") from exc
    except OSError as exc:
        raise InputError(f"cannot read backup file {path}: {exc.strerror}") from exc
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PGDUMP_MAGIC):
        return "postgresql"
    raise InputError(f"{path} is not a samd-monitor backup (neither an SQLite database nor a pg_dump "
                     "custom-format archive)")


def _partial(target: Path) -> Path:
    return target.with_name(f".{target.name}.partial")


def _discard(path: Path) -> None:
    """Remove ``path`` if it is there; a failure (read-only folder, ...) must not hide the error at hand."""
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass


def _fsync(path: Path) -> None:
    """Flush ``path`` (a file, or a folder after a rename in it) to disk, so a crash cannot leave a backup
    name pointing at missing data."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _tables_with_rows(engine: Engine) -> list[str]:
    try:
        with engine.connect() as conn:
            names = [t for t in inspect(conn).get_table_names() if t != "alembic_version"]
            return [t for t in sorted(names)
                    if conn.execute(text(f'SELECT 1 FROM "{t}" LIMIT 1')).first() is not None]
    except SQLAlchemyError as exc:
        raise StorageError(f"cannot read the database {engine.url.render_as_string(hide_password=True)}: "
                           f"{str(getattr(exc, 'orig', exc)).strip().splitlines()[0]}") from exc


class SqliteBackup:
    """Backup and restore of an SQLite database file through the online backup API."""

    engine_name = "sqlite"

    def __init__(self, engine: Engine) -> None:
        database = engine.url.database
        if not database or database == ":memory:":
            raise InputError("an in-memory SQLite database cannot be backed up or restored")
        self._engine = engine
        self._path = Path(database).expanduser()

    def tables_with_rows(self) -> list[str]:
        """Tables of the database that hold at least one row (``alembic_version`` aside)."""
        return _tables_with_rows(self._engine) if self._path.exists() else []

    def backup(self, target: Path) -> None:
        """Copy the committed state of the database into ``target`` (a self-contained SQLite file)."""
        if not self._path.is_file():
            raise StorageError(f"the SQLite database {self._path} does not exist")
        partial = _partial(target)
        _discard(partial)  # a leftover of a crashed backup would be opened as the copy's database
        try:
            source = sqlite3.connect(f"{self._path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot back up {self._path}: {exc}") from exc
        try:
            with closing(source):
                try:
                    copy = sqlite3.connect(partial)
                except sqlite3.Error as exc:
                    raise OSError(f"cannot create {partial.name} there ({exc})") from exc
                with closing(copy):
                    source.backup(copy)
                    copy.execute("PRAGMA journal_mode=DELETE")  # one file, no -wal beside it
                _fsync(partial)
            partial.replace(target)
            _fsync(target.parent)
        except sqlite3.Error as exc:  # the reason tells a full / unwritable destination from a source error
            _discard(partial)
            raise StorageError(f"cannot back up {self._path} into {target}: {exc}") from exc
        except OSError as exc:
            _discard(partial)
            raise StorageError(f"cannot write backup {target}: {exc.strerror or exc}") from exc

    def restore(self, source: Path, check: Callable[[UnitOfWorkFactory], None] | None = None) -> None:
        """Replace the database's content with the backup ``source`` (checked first: its integrity, its
        tables, and ``check`` run on the backup file itself, read-only, before the database is touched)."""
        try:
            backup = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
            with closing(backup):
                integrity = backup.execute("PRAGMA integrity_check").fetchone()[0]
                if integrity != "ok":
                    raise InputError(f"backup file {source} is damaged (integrity check: {integrity})")
                tables = {r[0] for r in backup.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                if not set(REQUIRED_TABLES) <= tables:
                    raise InputError(f"{source} is an SQLite database but not a samd-monitor backup "
                                     f"(no {' / '.join(sorted(set(REQUIRED_TABLES) - tables))} table)")
                if check is not None:
                    self._check_file(source, check)
                self._engine.dispose()
                self._path.parent.mkdir(parents=True, exist_ok=True)
                with closing(sqlite3.connect(self._path, timeout=30)) as database:
                    backup.backup(database)
        except sqlite3.DatabaseError as exc:
            if "not a database" in str(exc) or "malformed" in str(exc):
                raise InputError(f"backup file {source} is damaged: {exc}") from exc
            raise StorageError(f"cannot restore into {self._path}: {exc}") from exc
        finally:
            self._engine.dispose()


    @staticmethod
    def _check_file(source: Path, check: Callable[[UnitOfWorkFactory], None]) -> None:
        """Run ``check`` on a read-only unit of work over the backup file; only an IntegrityError counts (a
        backup of an older schema that the repositories cannot read is checked after the restore instead)."""
        engine = create_engine(f"sqlite:///file:{source.resolve().as_posix()}?mode=ro&uri=true")
        try:
            check(unit_of_work_factory(engine))
        except IntegrityError:
            raise
        except MonitorError:
            pass
        finally:
            engine.dispose()


class PostgresBackup:
    """Backup and restore of a PostgreSQL database with ``pg_dump`` / ``pg_restore``."""

    engine_name = "postgresql"

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        url = engine.url
        params = {"host": url.host, "port": str(url.port) if url.port else None, "user": url.username,
                  "dbname": url.database, **{k: str(v) for k, v in url.query.items()}}
        self._conninfo = " ".join(f"{k}='{_quote(v)}'" for k, v in params.items() if v)
        self._env = {**os.environ, **({"PGPASSWORD": url.password} if url.password else {})}
        self._where = url.render_as_string(hide_password=True)

    def tables_with_rows(self) -> list[str]:
        """Tables of the database that hold at least one row (``alembic_version`` aside)."""
        return _tables_with_rows(self._engine)

    def _run(self, program: str, *args: str) -> str:
        binary = shutil.which(program)
        if binary is None:
            raise ConfigError(f"{program} not found on PATH: install the PostgreSQL client programs of the "
                              "server's major version (Debian: postgresql-client)")
        try:
            done = subprocess.run([binary, *args], capture_output=True, text=True, env=self._env, check=False)
        except OSError as exc:
            raise ConfigError(f"cannot run {binary}: {exc.strerror}") from exc
        if done.returncode != 0:
            ended = (f"killed by signal {signal.Signals(-done.returncode).name}" if done.returncode < 0
                     else f"exit status {done.returncode}")
            lines = [line for line in done.stderr.splitlines() if line.strip()] or [ended]
            first = next((line for line in lines if "error" in line.lower()), lines[0])
            raise StorageError(f"{program} failed on {self._where}: {first.strip()}")
        return done.stdout

    def backup(self, target: Path) -> None:
        """``pg_dump --format=custom`` of the database into ``target``."""
        partial = _partial(target)
        _discard(partial)
        try:
            try:
                self._run("pg_dump", "--format=custom", f"--file={partial}", f"--dbname={self._conninfo}")
            except StorageError as exc:  # e.g. "could not write to output file: No space left on device"
                raise StorageError(f"cannot back up {self._where} into {target}: "
                                   f"{str(exc).split(': ', 1)[-1]}") from exc
            partial.replace(target)  # pg_dump has flushed the file to disk (it syncs unless --no-sync)
            _fsync(target.parent)
        except OSError as exc:
            raise StorageError(f"cannot write backup {target}: {exc.strerror or exc}") from exc
        finally:
            _discard(partial)

    def restore(self, source: Path, check: Callable[[UnitOfWorkFactory], None] | None = None) -> None:
        """Replace the database's objects with those of the archive ``source``, in one transaction
        (``check`` cannot run on an archive: the caller checks the restored database)."""
        try:
            listing = self._run("pg_restore", "--list", str(source))
        except StorageError as exc:
            raise InputError(f"backup file {source} is not a readable pg_dump archive: "
                             f"{str(exc).split(': ', 1)[-1]}") from exc
        archived = {line.split()[-2] for line in listing.splitlines()
                    if " TABLE public " in line and " TABLE DATA " not in line}
        missing = set(REQUIRED_TABLES) - archived
        if missing:
            raise InputError(f"{source} is a pg_dump archive but not a samd-monitor backup "
                             f"(no {' / '.join(sorted(missing))} table)")
        try:  # read the whole archive (every table's data decompressed) before the database is touched
            self._run("pg_restore", f"--file={os.devnull}", str(source))
        except StorageError as exc:
            raise InputError(f"backup file {source} is damaged (truncated or altered): "
                             f"{str(exc).split(': ', 1)[-1]}") from exc
        try:
            with self._engine.connect() as conn:
                present = set(inspect(conn).get_table_names())
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot reach {self._where}: {getattr(exc, 'orig', exc)}") from exc
        extra = sorted(present - archived)  # e.g. a newer migration's tables: dropped when empty, else refused
        holding = sorted(set(extra) & set(self.tables_with_rows()))
        if holding:
            raise InputError(f"the database {self._where} has tables with rows that the backup does not have "
                             f"({', '.join(holding)}): restore into a new, empty database")
        try:
            with self._engine.begin() as conn:
                for table in extra:
                    conn.execute(text(f'DROP TABLE IF EXISTS "{table}" CASCADE'))
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot prepare {self._where}: {getattr(exc, 'orig', exc)}") from exc
        self._engine.dispose()
        self._run("pg_restore", "--clean", "--if-exists", "--single-transaction", "--exit-on-error", "--no-owner",
                  "--no-privileges", f"--dbname={self._conninfo}", str(source))


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def database_backup(engine: Engine) -> SqliteBackup | PostgresBackup:
    """The backup adapter of ``engine``'s database."""
    if engine.dialect.name == "sqlite":
        return SqliteBackup(engine)
    if engine.dialect.name == "postgresql":
        return PostgresBackup(engine)
    raise ConfigError(f"no backup support for {engine.dialect.name}")
