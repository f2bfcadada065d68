"""Verify and list the hash-chained audit log (21 CFR 11.10(e))."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from monitor.domain.audit_chain import ChainReport, verify_chain
from monitor.errors import IntegrityError
from monitor.service.ports import UnitOfWorkFactory

__all__ = ["list_audit", "verify_audit"]


def verify_audit(*, uow: UnitOfWorkFactory) -> ChainReport:
    """Recompute the whole chain; raise :class:`IntegrityError` naming the first broken link.

    Besides the links themselves, every chain head recorded by a report revision must be a hash in
    the chain (a head that is missing means the newest records at that time were deleted).
    """
    with uow() as unit:
        report = verify_chain(unit.audit.chain())
        if report.broken is not None:
            raise IntegrityError(report.broken.describe())
        anchors = unit.revisions.audit_heads()
        known = {r["hash"] for r in unit.audit.chain()} | {"0" * 64} if anchors else set()
    for report_id, head in anchors:
        if head not in known:
            raise IntegrityError(f"audit chain truncated: report {report_id} recorded the chain head {head[:16]}..., "
                                 "which is no longer in the chain (its newest records were deleted)")
    return report


def list_audit(*, uow: UnitOfWorkFactory, limit: int = 100, actor: str | None = None, action: str | None = None,
               entity: str | None = None, entity_id: str | None = None, since: datetime | None = None,
               until: datetime | None = None) -> list[dict[str, Any]]:
    """Audit records matching the filters, newest first (``action`` ending in ``.`` matches a prefix)."""
    with uow() as unit:
        return unit.audit.records(limit, actor=actor, action=action, entity=entity, entity_id=entity_id,
                                  since=since, until=until)
