"""Generated reports: their revisions, files and signatures (what a report reads of its inputs is in the
one read repository, :mod:`monitor.adapters.db.repositories.queries`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, text

from monitor.adapters.db.tables import (
    report_revisions,
    report_signatures,
    reports,
)

__all__ = ["ReportRepository"]

_REPORT_LOCK_CLASS = 0x5A4D_0002  # advisory-lock class of report generation ("SM", 2)


class ReportRepository:
    """Record and list report revisions and their files; read what a report states about its inputs."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    # files ----------------------------------------------------------------------------------
    def add(self, *, report_id: str, run_id: str, device_id: str, period: str, format: str, path: str,
            sha256: str, at: datetime, actor: str, language: str | None = None) -> None:
        """Record one written report file."""
        self._conn.execute(reports.insert().values(
            report_id=report_id, run_id=run_id, device_id=device_id, period=period, format=format,
            path=path, sha256=sha256, created_at=at, actor=actor, language=language))

    def list(self, device_id: str | None = None) -> list[dict[str, Any]]:
        """Report files, newest first."""
        query = select(reports).order_by(reports.c.created_at.desc(), reports.c.id.desc())
        if device_id:
            query = query.where(reports.c.device_id == device_id)
        return [dict(r._mapping) for r in self._conn.execute(query)]

    def files(self, report_id: str) -> list[dict[str, Any]]:
        """The files of one report revision, in the order written."""
        rows = self._conn.execute(select(reports).where(reports.c.report_id == report_id).order_by(reports.c.id))
        return [dict(r._mapping) for r in rows]

    # revisions ------------------------------------------------------------------------------
    def lock_period(self, device_id: str, period: str) -> None:
        """Serialise report generation of one device and period until this transaction ends (PostgreSQL: a
        transaction-scoped advisory lock on the pair; SQLite: the database write lock, taken now by a write
        that changes nothing). A second generation then numbers its revision after the first has committed,
        so it never writes over the first one's ``_rN`` files."""
        if self._conn.dialect.name == "postgresql":
            self._conn.execute(text("SELECT pg_advisory_xact_lock(:kind, hashtext(:key))"),
                               {"kind": _REPORT_LOCK_CLASS, "key": f"{device_id}\x1f{period}"})
        else:
            self._conn.execute(text("UPDATE report_revisions SET revision = revision WHERE 0 = 1"))

    def next_revision(self, device_id: str, period: str) -> int:
        """One more than the highest revision of this device and period (1 for the first)."""
        current = self._conn.execute(select(func.max(report_revisions.c.revision)).where(
            report_revisions.c.device_id == device_id, report_revisions.c.period == period)).scalar_one()
        return int(current or 0) + 1

    def add_revision(self, *, report_id: str, device_id: str, period: str, run_id: str, revision: int,
                     languages: str, content_sha256: str, audit_head: str, at: datetime, actor: str,
                     status: str = "draft", supersedes: str | None = None) -> None:
        """Record a generated report revision."""
        self._conn.execute(report_revisions.insert().values(
            report_id=report_id, device_id=device_id, period=period, run_id=run_id, revision=revision,
            status=status, supersedes=supersedes, languages=languages, content_sha256=content_sha256,
            audit_head=audit_head, created_at=at, created_by=actor))

    def revisions(self, device_id: str, period: str | None = None) -> list[dict[str, Any]]:
        """Revisions of a device (and period), newest first."""
        query = select(report_revisions).where(report_revisions.c.device_id == device_id)
        if period is not None:
            query = query.where(report_revisions.c.period == period)
        query = query.order_by(report_revisions.c.created_at.desc(), report_revisions.c.revision.desc())
        return [dict(r._mapping) for r in self._conn.execute(query)]

    def signatures(self, report_id: str) -> list[dict[str, Any]]:
        """Signatures of a revision, in signing order."""
        rows = self._conn.execute(select(report_signatures).where(report_signatures.c.report_id == report_id)
                                  .order_by(report_signatures.c.signed_at, report_signatures.c.id))
        return [dict(r._mapping) for r in rows]
