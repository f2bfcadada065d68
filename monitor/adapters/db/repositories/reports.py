"""Generated report files and their checksums."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from monitor.adapters.db.tables import reports

__all__ = ["ReportRepository"]


class ReportRepository:
    """Record and list generated report files."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, *, report_id: str, run_id: str, device_id: str, period: str, format: str, path: str,
            sha256: str, at: datetime, actor: str) -> None:
        """Record one written report file."""
        self._conn.execute(reports.insert().values(
            report_id=report_id, run_id=run_id, device_id=device_id, period=period, format=format,
            path=path, sha256=sha256, created_at=at, actor=actor))

    def list(self, device_id: str | None = None) -> list[dict[str, Any]]:
        """Report files, newest first."""
        query = select(reports).order_by(reports.c.created_at.desc())
        if device_id:
            query = query.where(reports.c.device_id == device_id)
        return [dict(r._mapping) for r in self._conn.execute(query)]
