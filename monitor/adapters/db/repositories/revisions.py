"""Report revisions and their electronic signatures.

A revision is frozen by its first signature (``frozen_at``); after that its content fields cannot
change (:class:`monitor.errors.ConflictError`). Changes make a new revision that ``supersedes`` the
previous one, which then has status ``superseded``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from monitor.adapters.db.tables import report_revisions, report_signatures, reports
from monitor.errors import ConflictError, NotFoundError

__all__ = ["RevisionRepository"]


class RevisionRepository:
    """Create, read, freeze and sign report revisions."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def get(self, report_id: str, *, lock: bool = False) -> dict[str, Any]:
        """One revision with its files (``reports`` rows) and signatures."""
        query = select(report_revisions).where(report_revisions.c.report_id == report_id)
        row = self._conn.execute(query.with_for_update() if lock else query).first()
        if row is None:
            raise NotFoundError(f"report {report_id!r} does not exist")
        item = dict(row._mapping)
        item["files"] = [dict(r._mapping) for r in self._conn.execute(
            select(reports.c.format, reports.c.language, reports.c.path, reports.c.sha256)
            .where(reports.c.report_id == report_id).order_by(reports.c.id))]
        item["signatures"] = [dict(r._mapping) for r in self._conn.execute(
            select(report_signatures.c.user_id, report_signatures.c.printed_name, report_signatures.c.meaning,
                   report_signatures.c.signed_at, report_signatures.c.content_sha256)
            .where(report_signatures.c.report_id == report_id).order_by(report_signatures.c.id))]
        return item

    def latest(self, device_id: str, period: str) -> dict[str, Any]:
        """The newest (highest) revision of ``device_id`` x ``period``."""
        row = self._conn.execute(select(report_revisions.c.report_id).where(
            report_revisions.c.device_id == device_id, report_revisions.c.period == period)
            .order_by(report_revisions.c.revision.desc()).limit(1)).first()
        if row is None:
            raise NotFoundError(f"no report revision of device {device_id!r} for period {period}: "
                                f"run `samd-monitor report --device {device_id} --period {period}` first")
        return self.get(row.report_id)

    def list(self, device_id: str | None = None, period: str | None = None) -> list[dict[str, Any]]:
        """Revisions (without files), newest first."""
        query = select(report_revisions).order_by(report_revisions.c.created_at.desc(), report_revisions.c.revision.desc())
        if device_id:
            query = query.where(report_revisions.c.device_id == device_id)
        if period:
            query = query.where(report_revisions.c.period == period)
        return [dict(r._mapping) for r in self._conn.execute(query)]

    def ensure_mutable(self, report_id: str) -> None:
        """Raise :class:`ConflictError` when the revision is frozen (signed)."""
        revision = self.get(report_id)
        if revision["frozen_at"] is not None:
            raise ConflictError(f"report {report_id} (revision {revision['revision']}) was frozen at "
                                f"{revision['frozen_at'].isoformat()} by its first signature and cannot be altered: "
                                "create a new revision instead")

    def add_file(self, report_id: str, *, format: str, language: str | None, path: str, sha256: str, at: datetime,
                 actor: str) -> None:
        """Record one more file of a draft revision; refused once frozen."""
        self.ensure_mutable(report_id)
        revision = self.get(report_id)
        self._conn.execute(reports.insert().values(
            report_id=report_id, run_id=revision["run_id"], device_id=revision["device_id"],
            period=revision["period"], format=format, language=language, path=path, sha256=sha256, created_at=at,
            actor=actor))

    def freeze(self, report_id: str, *, at: datetime) -> None:
        """Freeze a draft revision on its first signature."""
        self.ensure_mutable(report_id)
        self._conn.execute(report_revisions.update().where(report_revisions.c.report_id == report_id)
                           .values(frozen_at=at))

    def supersede(self, report_id: str, *, by: str) -> None:
        """Mark ``report_id`` superseded by the newer revision ``by`` (which records what it supersedes)."""
        self._conn.execute(report_revisions.update().where(report_revisions.c.report_id == by)
                           .values(supersedes=report_id))
        self.set_status(report_id, "superseded")

    def newest_number(self, device_id: str, period: str) -> int:
        """The highest revision number of ``device_id`` x ``period`` (0 when there is none)."""
        return int(self._conn.execute(select(func.coalesce(func.max(report_revisions.c.revision), 0)).where(
            report_revisions.c.device_id == device_id, report_revisions.c.period == period)).scalar_one())

    def set_status(self, report_id: str, status: str) -> None:
        """Set the revision's status (draft | signed | superseded)."""
        self._conn.execute(report_revisions.update().where(report_revisions.c.report_id == report_id)
                           .values(status=status))

    def add_signature(self, report_id: str, *, user_id: str, printed_name: str, meaning: str, signed_at: datetime,
                      content_sha256: str) -> None:
        """Store one signature."""
        self._conn.execute(report_signatures.insert().values(
            report_id=report_id, user_id=user_id, printed_name=printed_name, meaning=meaning, signed_at=signed_at,
            content_sha256=content_sha256))

    def audit_heads(self) -> list[tuple[str, str]]:
        """``(report_id, audit_head)`` of every revision: chain heads recorded outside the audit log."""
        return [(r.report_id, r.audit_head) for r in self._conn.execute(
            select(report_revisions.c.report_id, report_revisions.c.audit_head).order_by(report_revisions.c.created_at))]
