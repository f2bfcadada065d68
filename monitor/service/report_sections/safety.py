"""Report section ``safety``: safety and feedback (regulatory.md section 2 item 14).

Complaints, adverse events, incidents, user feedback and overrides received in the period (by kind,
seriousness, IMDRF code and stratum), every reportability decision with its clock per jurisdiction (NMPA
Decree No. 1; MDR Art. 87; 21 CFR 803) as of the data cut-off, the overdue reports, and the override /
discordance rate. Always present: without events it says none were received (item 14 is answered either way).
The pure rules: :mod:`monitor.domain.safety_summary`.
"""

from __future__ import annotations

from monitor.domain.safety_summary import SafetySummary, summarise_safety
from monitor.service.report_sections import ContentSection, ReportSource


def build(source: ReportSource) -> SafetySummary:
    repository = getattr(source.unit, "safety_events", None)  # an in-memory unit without the log: no events
    events = repository.known_by(source.run.device_id, source.run.data_cutoff) if repository is not None else []
    registered = [r.jurisdiction for r in source.config.device.registrations]
    return summarise_safety(events, period_start=source.run.period_start, period_end=source.run.period_end,
                            as_of=source.run.data_cutoff, registered=registered,
                            studies=int(source.core.get("usage", {}).get("studies", 0)))


SECTION = ContentSection("safety", SafetySummary, build)
