"""Back up the database into one file, and restore such a file into an empty database.

A backup only reads: it works while the service runs (a consistent snapshot of what was committed),
with a read-only database role, and never waits for a running ingest. It is therefore not an audit
record of the database it copies. A restore replaces data and is recorded: after the file has been
restored, the restored audit chain is verified and a ``database.restore`` record is appended to it,
naming the file's SHA-256 and the chain head it carried (21 CFR 11.10(e)), so the restored database
says which backup it came from. On SQLite the chain is verified on the backup file before anything is
copied, so a backup with a broken chain leaves the database as it was; a pg_dump archive can only be
verified once restored (the error then says so). A restore into a database that holds any row is refused unless
``force`` is given.

Beside each backup ``FILE`` a checksum file ``FILE.sha256`` is written (the ``sha256sum`` format, so
``sha256sum -c FILE.sha256`` checks it too). A restore recomputes the digest when that file is there and
refuses a backup that differs, before anything is touched: damage that leaves a structurally valid file
(a flipped byte in a row) is found as well as truncation. Without it, only each engine's own checks apply.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

try:
    import fcntl
except ImportError:  # pragma: no cover (Windows)
    fcntl = None  # type: ignore[assignment]

from monitor.domain.audit_chain import AuditKey
from monitor.errors import ConflictError, InputError, IntegrityError, StorageError
from monitor.service.audit import verify_audit
from monitor.service.ports import Clock, UnitOfWorkFactory

__all__ = ["BackupFile", "DatabaseBackup", "RestoreOutcome", "backup_database", "checksum_file", "restore_database"]

_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
_WITH_ARTICLE = {"sqlite": "an SQLite", "postgresql": "a PostgreSQL"}


class DatabaseBackup(Protocol):
    """One engine's backup adapter (``monitor.adapters.db.backup``)."""

    engine_name: str

    def tables_with_rows(self) -> list[str]: ...
    def backup(self, target: Path) -> None: ...
    def restore(self, source: Path, check: Callable[[UnitOfWorkFactory], None] | None = None) -> None: ...


@dataclass(frozen=True)
class BackupFile:
    """A backup file: where, of which engine, its size and SHA-256."""

    path: Path
    engine: str
    bytes: int
    sha256: str


@dataclass(frozen=True)
class RestoreOutcome:
    """What a restore did: the file, the audit records it brought back and their head, and the new record."""

    file: BackupFile
    records: int
    restored_head: str
    replaced_tables: list[str]
    audit_hash: str


def _describe(path: Path, engine: str) -> BackupFile:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return BackupFile(path, engine, path.stat().st_size, digest.hexdigest())


def checksum_file(backup: Path) -> Path:
    """``FILE.sha256``: the checksum file written beside the backup ``FILE``."""
    return backup.with_name(backup.name + ".sha256")


def _write_checksum(described: BackupFile) -> None:
    sidecar = checksum_file(described.path)
    partial = sidecar.with_name(f".{sidecar.name}.partial")
    try:
        with partial.open("w", encoding="utf-8") as handle:
            handle.write(f"{described.sha256}  {described.path.name}\n")
            handle.flush()
            os.fsync(handle.fileno())
        partial.replace(sidecar)
    except OSError as exc:  # no checksum, no backup: nothing half-made is left under the names
        for path in (partial, sidecar, described.path):
            try:
                path.unlink(missing_ok=True)
            except OSError:
                pass
        raise StorageError(f"cannot write backup {described.path}: {exc.strerror or exc} (writing its "
                           f"checksum file {sidecar.name})") from exc


def _check_checksum(described: BackupFile) -> None:
    sidecar = checksum_file(described.path)
    try:
        text = sidecar.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return
    except OSError as exc:
        raise InputError(f"cannot read {sidecar}: {exc.strerror}") from exc
    found = re.match(r"\s*([0-9a-fA-F]{64})\b", text)
    if found is None:
        raise InputError(f"{sidecar} is not a checksum file (expected the sha256sum format)")
    if found.group(1).lower() != described.sha256:
        raise InputError(f"backup file {described.path} is damaged: its SHA-256 differs from the one in "
                         f"{sidecar.name}, written with the backup (restore another backup)")


@contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``folder`` (released when the process ends, also by a crash): two
    backups into one folder run one after the other, so neither renames or checksums the other's file.
    Without ``fcntl`` (Windows) nothing is locked."""
    if fcntl is None:
        yield
        return
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError as exc:
        raise StorageError(f"cannot open folder {folder}: {exc.strerror}") from exc
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)  # releases the lock


def backup_database(target: Path, *, store: DatabaseBackup, force: bool = False) -> BackupFile:
    """Write a backup of the database into ``target`` and its checksum into ``target.sha256``; an existing
    file is replaced only with ``force``. Backups into the same folder wait for each other."""
    if target.is_dir():
        raise InputError(f"{target} is a folder: give the backup file's name")
    if not target.parent.is_dir():
        raise InputError(f"folder {target.parent} does not exist")
    with _folder_lock(target.parent):
        if target.exists() and not force:
            raise InputError(f"{target} already exists: choose a new name, or pass --force to replace it")
        try:  # an old checksum must never stand beside a new backup
            checksum_file(target).unlink(missing_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot write backup {target}: {exc.strerror}") from exc
        store.backup(target)
        described = _describe(target, store.engine_name)
        _write_checksum(described)
    return described


def restore_database(source: Path, *, store: DatabaseBackup, file_engine: str, uow: UnitOfWorkFactory,
                     clock: Clock, actor: str | Callable[[], str], force: bool = False,
                     audit_keys: Sequence[AuditKey] = (), context: Mapping[str, Any] | None = None) -> RestoreOutcome:
    """Restore the backup ``source`` (made by ``file_engine``) into the database, then verify and extend
    its audit chain with a ``database.restore`` record.

    ``actor``: who the record names, or a function asked once the restored trail is verified (the users of
    the restored database exist only then); ``context``: more details of the record (e.g. ``os_account``).

    ``audit_keys``: the target database's audit key (read from its key file, which is outside the database;
    none when it has none yet): the staged copy's records keyed with it are recomputed before anything is
    copied, the others checked for their links (docs/audit.md)."""
    if file_engine != store.engine_name:
        raise InputError(f"{source} is {_WITH_ARTICLE[file_engine]} backup but the database is "
                         f"{_NAMES[store.engine_name]}: restore it into {_WITH_ARTICLE[file_engine]} database "
                         "(--db / MONITOR_DATABASE_URL)")
    described = _describe(source, file_engine)
    _check_checksum(described)
    replaced = store.tables_with_rows()
    if replaced and not force:
        shown = ", ".join(replaced[:5]) + (f" and {len(replaced) - 5} more" if len(replaced) > 5 else "")
        raise ConflictError(f"the database is not empty (rows in {shown}): restore into a new, empty database, "
                            "or pass --force to replace everything in it")
    try:
        store.restore(source, check=lambda staged: verify_audit(  # SQLite: before the copy
            uow=staged, keys=list(audit_keys) or None, strict=False))
    except IntegrityError as exc:
        raise IntegrityError(f"{source} has an audit trail that fails verification ({exc}); nothing was "
                             "restored: use another backup") from exc
    try:
        chain = verify_audit(uow=uow)
    except IntegrityError as exc:
        raise IntegrityError(f"{source} was restored, but its audit trail fails verification ({exc}); "
                             "the restore is not recorded: use another backup") from exc
    who = actor if isinstance(actor, str) else actor()
    with uow() as unit:
        recorded = unit.audit.append(
            at=clock(), actor=who, action="database.restore", entity="database", entity_id=described.sha256[:16],
            details={"file": str(source.resolve()), "engine": file_engine, "bytes": described.bytes,
                     "sha256": described.sha256, "records_restored": chain.records, "restored_head": chain.head,
                     "forced": force, "replaced_tables": replaced, **(context or {})})
    return RestoreOutcome(described, chain.records, chain.head, replaced, recorded)
