"""Report files on the local file system: read whole, written atomically (a temporary file beside the
target, then renamed over it), for the signed edition of a report (:mod:`monitor.service.signoff`)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from monitor.errors import IntegrityError, ReportError

__all__ = ["LocalReportStore"]


class LocalReportStore:
    """Implements ``monitor.service.report.ReportStore`` on local paths."""

    def read(self, path: Path) -> bytes:
        """The bytes of a recorded report file; :class:`IntegrityError` when it cannot be read."""
        try:
            return Path(path).read_bytes()
        except OSError as exc:
            raise IntegrityError(f"report file {path} cannot be read: {exc.strerror}") from exc

    def write(self, path: Path, data: bytes) -> str:
        """Write ``data`` to ``path`` atomically; return its SHA-256."""
        target = Path(path)
        try:
            tmp = target.with_name(target.name + ".tmp")
            tmp.write_bytes(data)
            tmp.replace(target)
        except OSError as exc:
            raise ReportError(f"cannot write {target}: {exc.strerror}") from exc
        return hashlib.sha256(data).hexdigest()
