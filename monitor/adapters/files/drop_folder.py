"""The drop folder's file operations on a local file system, never following a symbolic link.

Implements :class:`monitor.service.ports.DropFiles` for :mod:`monitor.service.drop_folder`.
Directories are listed with ``lstat`` semantics (``os.scandir``, ``follow_symlinks=False``), so a link
placed in ``incoming/`` is seen as a link and never read through. A file is read through one
descriptor opened with ``O_NOFOLLOW`` (``open(2)``): after ``fstat`` has shown a regular file, the readers
open ``/proc/self/fd/N``, which reaches that very inode whatever the path now names (no
check-then-use race). Where ``/proc`` is missing the path itself is read after the same checks and
an identity comparison (device and inode) of the descriptor with the path.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path, PurePath
from typing import Any

from monitor.adapters.files.readers import _FORMATS  # the suffix table of open_log (one source of truth)
from monitor.errors import InputError
from monitor.service.ports import DropEntry

__all__ = ["LocalDropFiles"]

_PROC_FD = Path("/proc/self/fd")
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


def _kind(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISDIR(mode):
        return "dir"
    return "other"


class LocalDropFiles:
    """:class:`monitor.service.ports.DropFiles` on the local file system (POSIX)."""

    def is_folder(self, path: Path) -> bool:
        try:
            return stat.S_ISDIR(os.stat(path).st_mode)
        except OSError:
            return False

    def entries(self, folder: Path) -> list[DropEntry]:
        try:
            if not stat.S_ISDIR(os.lstat(folder).st_mode):
                return []  # missing, or a link to a directory: not followed
            with os.scandir(folder) as listing:
                names = sorted(entry.name for entry in listing)
        except (FileNotFoundError, NotADirectoryError):
            return []
        found = []
        for name in names:
            path = folder / name
            try:
                info = os.lstat(path)
            except FileNotFoundError:  # taken by another watcher meanwhile
                continue
            except OSError:
                found.append(DropEntry(path, "unreadable"))
                continue
            kind = _kind(info.st_mode)
            found.append(DropEntry(path, kind, info.st_size, info.st_mtime_ns) if kind == "file"  # type: ignore[arg-type]
                         else DropEntry(path, kind))  # type: ignore[arg-type]
        return found

    def make_folder(self, path: Path) -> None:
        try:
            path.mkdir()
        except FileExistsError:
            mode = os.lstat(path).st_mode
            if not stat.S_ISDIR(mode):  # a link to a folder elsewhere is not followed
                why = "a link to a folder, not followed" if stat.S_ISLNK(mode) else "not a directory"
                raise NotADirectoryError(errno.ENOTDIR, why, str(path)) from None

    def move(self, source: Path, target: Path) -> bool:
        try:
            os.rename(source, target)  # renames the entry itself: a link stays a link, never its target
        except FileNotFoundError:
            if os.path.lexists(source):
                raise  # the target's folder is missing, not the source
            return False
        return True

    def remove(self, path: Path) -> None:
        path.unlink(missing_ok=True)

    def write_json(self, path: Path, document: dict[str, Any]) -> None:
        tmp = path.with_name(f".{path.name}.tmp")
        text = json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
                     | getattr(os, "O_CLOEXEC", 0), 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)

    def set_mtime(self, path: Path, at: datetime) -> None:
        moment = at.timestamp()
        os.utime(path, (moment, moment), follow_symlinks=False)

    @contextmanager
    def open_regular(self, path: Path) -> Iterator[Path]:
        try:
            fd = os.open(path, _OPEN_FLAGS)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise InputError("a symbolic link: not followed (drop the file itself)") from None
            raise
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise InputError(f"not a regular file ({_kind(info.st_mode)}): refused")
            if _PROC_FD.is_dir():
                yield _PROC_FD / str(fd)
            else:  # pragma: no cover - POSIX systems without /proc
                now = os.lstat(path)
                if (now.st_dev, now.st_ino) != (info.st_dev, info.st_ino) or not stat.S_ISREG(now.st_mode):
                    raise InputError("the file was replaced while being opened: refused")
                yield path
        finally:
            os.close(fd)

    def log_format(self, name: str) -> str | None:
        lower = name.lower()
        if lower.endswith(".fhir.json"):
            return "fhir"
        return _FORMATS.get(PurePath(lower).suffix)

    def canonical(self, path: Path) -> Path:
        return path.resolve()
