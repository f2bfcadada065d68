"""Section ``integrity`` (block 160_annexes): the audit-trail review attestation (the analysis run's audit
record; the chain head at generation is the revision's, printed in the control block), the distribution list
and the retention period (monitor.domain.report_records)."""

from __future__ import annotations

from datetime import date

from monitor.domain.report_records import VERIFY_COMMAND, AuditAnchor, Integrity, Recipient, retained_until
from monitor.service.report_sections import ContentSection, ReportSource


def _anchor(source: ReportSource) -> AuditAnchor | None:
    audit = source.unit.audit
    if not hasattr(audit, "records"):
        return None
    found = audit.records(1, action="analysis.run", entity_id=source.document["run_id"])
    if not found:
        return None
    r = found[0]
    at = r["at"].isoformat() if hasattr(r["at"], "isoformat") else str(r["at"])
    return AuditAnchor(seq=int(r["seq"]), hash=str(r["hash"]), at=at, action=str(r["action"]))


def build(source: ReportSource) -> Integrity:
    records = source.config.records
    years = records.retention_years if records else None
    return Integrity(analysis_record=_anchor(source), verify_command=VERIFY_COMMAND,
                     head_recorded_with="report_revision",
                     distribution=[Recipient(role=r.role, name=r.name) for r in (records.distribution if records else [])],
                     retention_years=years, retention_basis=records.retention_basis if records else None,
                     retained_until=retained_until(date.fromisoformat(source.document["period"]["last_day"]), years))


SECTION = ContentSection("integrity", Integrity, build)
