"""The audit chain's key file, and checkpoint files (docs/audit.md).

The key of the keyed audit chain (:class:`monitor.domain.audit_chain.AuditKey`) lives in a file outside the
database: 64 hex digits (32 random bytes) and a newline, mode 0600. Its place is ``MONITOR_AUDIT_KEY_FILE``;
unset, it is beside an SQLite database file (``<file>.audit-key``), else in the user's data folder, one file
per database (:func:`default_key_path`). The
application creates it on first use (an audit record to write) with ``O_EXCL`` semantics (written to a private
temporary file, then hard-linked into place, so concurrent first uses agree on one key); verification never
creates it. A key file that other users may read is refused, like an SSH key.

A checkpoint file is the JSON of one :class:`~monitor.domain.audit_chain.Checkpoint`; :func:`read_checkpoint`
also takes a submission archive (its manifest's ``audit_checkpoint``).

Reference: RFC 2104 (HMAC keys of at least the hash's output length: 32 bytes for SHA-256).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import tempfile
import threading
import zipfile
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy.engine import URL, make_url

from monitor.domain.audit_chain import AuditKey, Checkpoint
from monitor.errors import ConfigError, InputError
from monitor.settings import default_data_dir, env_name

__all__ = ["AuditKeyFile", "EphemeralAuditKey", "default_key_path", "key_source_for", "read_checkpoint",
           "read_key_file", "write_checkpoint"]

_KEY_BYTES = 32


def default_key_path(database_url: str | URL) -> Path | None:
    """Where the key of ``database_url`` lives by default: beside an SQLite file (``<file>.audit-key``), else one
    file per database in the user's data folder (``audit-keys/<host>_<port>_<database>.key``; not in
    ``MONITOR_DATA_DIR``, whose reports are shared); ``None`` for an in-memory database."""
    url = make_url(database_url) if isinstance(database_url, str) else database_url
    database = url.database or ""
    if url.get_backend_name() == "sqlite":
        if not database or database == ":memory:":
            return None
        if database.startswith("file:"):  # a URI filename, e.g. file:/path/x.sqlite?mode=ro
            database = database[5:].split("?", 1)[0]
        path = Path(database).expanduser()
        return path.with_name(path.name + ".audit-key")
    name = "_".join(re.sub(r"[^A-Za-z0-9.-]+", "-", str(part)) for part in (url.host or "local", url.port or "",
                                                                             database or "default"))
    return default_data_dir() / "audit-keys" / f"{name}.key"


def read_key_file(path: Path) -> AuditKey:
    """The key in ``path``; :class:`ConfigError` when unreadable, readable by others, or malformed."""
    try:
        mode, text = path.stat().st_mode, path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise ConfigError(f"audit key file {path} does not exist (MONITOR_AUDIT_KEY_FILE / --key-file)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the audit key file {path}: {getattr(exc, 'strerror', None) or 'not text'}") \
            from None
    if os.name == "posix" and mode & 0o077:
        raise ConfigError(f"audit key file {path} may be read by other users: `chmod 600 {path}` first")
    try:
        secret = bytes.fromhex(text.strip())
        return AuditKey(secret)
    except ValueError:
        raise ConfigError(f"audit key file {path} does not hold a key (64 or more hex digits)") from None


def _create_key_file(path: Path) -> None:
    """Write a new random key to ``path`` unless a key is already there (first writer wins)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".audit-key-", dir=path.parent)  # mode 0600
        try:
            with os.fdopen(handle, "w", encoding="ascii") as out:
                out.write(secrets.token_bytes(_KEY_BYTES).hex() + "\n")
            try:
                os.link(temporary, path)
            except FileExistsError:
                pass  # another process created it first: use theirs
        finally:
            os.unlink(temporary)
    except OSError as exc:
        raise ConfigError(f"cannot create the audit key file {path}: {exc.strerror} "
                          "(set MONITOR_AUDIT_KEY_FILE to a writable place)") from None


class AuditKeyFile:
    """The key in one file, read once (and created on the first write when ``create``)."""

    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.path = path
        self._create = create
        self._key: AuditKey | None = None
        self._lock = threading.Lock()

    def key_for_writing(self) -> AuditKey:
        """The key, the file created first when missing (and allowed)."""
        with self._lock:
            if self._key is None:
                if self._create and not self.path.exists():
                    _create_key_file(self.path)
                self._key = read_key_file(self.path)
            return self._key

    def key_for_reading(self) -> AuditKey | None:
        """The key when its file exists (verification never creates one)."""
        with self._lock:
            if self._key is None and self.path.exists():
                self._key = read_key_file(self.path)
            return self._key


class EphemeralAuditKey:
    """A random key kept in memory only: for a throw-away in-memory database."""

    def __init__(self) -> None:
        self._key = AuditKey(secrets.token_bytes(_KEY_BYTES))

    def key_for_writing(self) -> AuditKey:
        """The in-memory key."""
        return self._key

    def key_for_reading(self) -> AuditKey | None:
        """The in-memory key."""
        return self._key


def key_source_for(database_url: str | URL, key_file: Path | None = None) -> AuditKeyFile | EphemeralAuditKey:
    """The key source of a database: ``key_file`` when given, else ``MONITOR_AUDIT_KEY_FILE`` when set (a unit
    of work built outside the composition root), else the default place (:func:`default_key_path`); an
    in-memory SQLite database gets an ephemeral key."""
    if key_file is None and os.environ.get(env_name("audit_key_file")):
        key_file = Path(os.environ[env_name("audit_key_file")])
    path = key_file or default_key_path(database_url)
    return EphemeralAuditKey() if path is None else AuditKeyFile(path.expanduser())


def write_checkpoint(checkpoint: Checkpoint, path: Path, *, force: bool = False) -> Path:
    """Write ``checkpoint`` as JSON to ``path`` (never over an existing file unless ``force``)."""
    data = checkpoint.model_dump_json(indent=2) + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w" if force else "x", encoding="utf-8") as out:
            out.write(data)
    except FileExistsError:
        raise InputError(f"{path} exists: choose another --out file, or pass --force") from None
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror}") from None
    return path


def read_checkpoint(path: Path) -> Checkpoint:
    """The checkpoint in a checkpoint file, or in a submission archive's manifest (``audit_checkpoint``)."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                data = json.loads(archive.read("manifest.json")).get("audit_checkpoint")
            if data is None:
                raise InputError(f"{path}: the archive's manifest has no audit_checkpoint (exported before it was "
                                 "recorded): pass its audit_chain_head with --head")
        else:
            data = json.loads(path.read_text(encoding="utf-8"))
        return Checkpoint.model_validate(data)
    except InputError:
        raise
    except OSError as exc:
        raise InputError(f"cannot read checkpoint {path}: {exc.strerror}") from None
    except (KeyError, ValueError, ValidationError, zipfile.BadZipFile):
        raise InputError(f"{path} is not an audit checkpoint (write one with `samd-monitor audit checkpoint`)") \
            from None
