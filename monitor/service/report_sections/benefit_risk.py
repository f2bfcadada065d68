"""Section ``benefit_risk`` (block 125_benefit_risk): the overall claimed metrics, detected and missed cases,
false alarms, the open residual risks and the determination (monitor.domain.report_summary)."""

from __future__ import annotations

from monitor.domain.report_summary import BenefitRisk, benefit_risk, conclude, shortfalls
from monitor.domain.tickets import TERMINAL
from monitor.service.report_sections import ContentSection, ReportSource
from monitor.service.report_sections._shared import ticket_status


def build(source: ReportSource) -> BenefitRisk:
    doc = source.document
    found = shortfalls(doc["results"], doc["findings"], doc.get("sequential_alarms") or [], ticket_status(source))
    conclusion, _ = conclude(found, TERMINAL)
    return benefit_risk(doc, found, conclusion, TERMINAL)


SECTION = ContentSection("benefit_risk", BenefitRisk, build)
