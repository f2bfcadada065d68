"""Section ``summary`` (page 1, block 005_summary): the conclusion by the documented rule, the shortfalls with
estimate, interval, goal and ticket, and what changed since the previous report (monitor.domain.report_summary).
A flagged claim of claims.metrics (analysis.metric_claims) is a shortfall like a flagged performance result: it
is listed, counted and enters the conclusion by its family."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from monitor.domain.report_summary import Shortfall, Summary, conclude, summarise
from monitor.domain.tickets import TERMINAL
from monitor.service.report_sections import ContentSection, ReportSource
from monitor.service.report_sections._shared import ticket_status

_TESTED = ("flagged", "conforming", "inconclusive")


def _claim_shortfalls(document: Mapping[str, Any], status: Mapping[str, str]) -> list[Shortfall]:
    """The flagged rows of analysis.metric_claims as shortfalls (goal: minimum - margin or maximum + margin)."""
    return [Shortfall(kind="claim_test", model_version=r["model_version"], stratum=r["stratum"], metric=r["metric"],
                      family=r.get("family"), provisional=bool(r.get("provisional")),
                      successes=None if r.get("events") is None else round(r["events"]),
                      trials=None if r.get("trials") is None else round(r["trials"]), estimate=r.get("estimate"),
                      ci_low=r.get("ci_low"), ci_high=r.get("ci_high"), claim=r.get("claim"),
                      performance_goal=r.get("goal"), q_value=r.get("q_value"), ticket_id=r.get("ticket_id"),
                      ticket_status=status.get(r["ticket_id"]) if r.get("ticket_id") else None)
            for r in document.get("metric_claims") or [] if r.get("status") == "flagged"]


def build(source: ReportSource) -> Summary:
    status = ticket_status(source)
    summary = summarise(source.document, source.core["usage"], source.core["change_log"], status, TERMINAL)
    claimed = _claim_shortfalls(source.document, status)
    tested = sum(1 for r in source.document.get("metric_claims") or [] if r.get("status") in _TESTED)
    if not (claimed or tested):
        return summary
    found = sorted(summary.shortfalls + claimed, key=lambda s: (
        s.kind != "claim_test", s.provisional, s.family != "confirmatory", s.model_version, s.metric, s.stratum))
    conclusion, basis = conclude(found, TERMINAL)
    return summary.model_copy(update={"shortfalls": found, "conclusion": conclusion, "basis": basis,
                                      "tests": summary.tests + tested, "flagged": summary.flagged + len(claimed)})


SECTION = ContentSection("summary", Summary, build)
