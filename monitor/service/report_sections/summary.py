"""Section ``summary`` (page 1, block 005_summary): the conclusion by the documented rule, the shortfalls with
estimate, interval, goal and ticket, and what changed since the previous report (monitor.domain.report_summary)."""

from __future__ import annotations

from monitor.domain.report_summary import Summary, summarise
from monitor.domain.tickets import TERMINAL
from monitor.service.report_sections import ContentSection, ReportSource
from monitor.service.report_sections._shared import ticket_status


def build(source: ReportSource) -> Summary:
    return summarise(source.document, source.core["usage"], source.core["change_log"], ticket_status(source),
                     TERMINAL)


SECTION = ContentSection("summary", Summary, build)
