"""Section ``review`` (block 056_review): secondary review of AI results: the review rate by stratum and trigger
with its interval, the decision of its claim (claims.metrics review_rate, from the analysis' metric_claims when
decided there), the worklist's cases by review status, and Dice / IoU of the AI and the reviewed masks; None when
the analysis has no review section (no review triggers declared) or for a roll-up.

Shown: the whole population and every single stratum, and an intersection when its claim is flagged; every row is
in the JSON (analysis.review)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from monitor.domain.analysis_document.review import OverlapRow, ReviewSection, WorklistCounts
from monitor.service.report_sections import ContentSection, ReportSource

__all__ = ["ReviewReport", "ReviewReportRow", "SECTION", "build"]

ClaimStatus = Literal["flagged", "conforming", "inconclusive", "insufficient", "not_tested"]
METRIC = "review_rate"


class ReviewReportRow(BaseModel):
    """One stratum of one model version: the review rate, its triggers and its claim's decision."""

    model_version: str = Field(description="Model version.")
    stratum: str = Field(description="Stratum key.")
    level: int = Field(description="Stratum level (0 overall, 1 single attribute, 2 intersection).")
    cases: int = Field(description="Cases counted by the rate.")
    sent_to_review: int = Field(description="Cases with any trigger fired.")
    rate: float | None = Field(description="sent_to_review / cases.")
    ci_low: float | None = Field(description="Lower limit of the rate's interval.")
    ci_high: float | None = Field(description="Upper limit of the rate's interval.")
    by_trigger: dict[str, int] = Field(description="Cases for which each declared trigger fired.")
    goal: float | None = Field(description="maximum + margin of the review_rate claim; null without a decision.")
    claim_status: ClaimStatus | None = Field(description=(
        "The claim's decision in the analysis' metric_claims; null when not decided there."))
    q_value: float | None = Field(description="The decision's adjusted p-value of the excess; null without one.")
    ticket_id: str | None = Field(description="The ticket a flagged claim opened or updated; null otherwise.")


class ReviewReport(BaseModel):
    """The review section of the report."""

    confidence: float = Field(description="Two-sided confidence level of the intervals (rules.confidence).")
    interval_method: str = Field(description="Interval method of the rates (rules.interval_method).")
    triggers: list[str] = Field(description="The declared review triggers.")
    volume_tolerance: float | None = Field(description="Relative tolerance of the volume trigger.")
    rows: list[ReviewReportRow] = Field(description=(
        "Overall and single strata, and the intersections whose claim is flagged, in the analysis' order."))
    intersections_not_shown: int = Field(description="Intersection rows left to the JSON (analysis.review).")
    worklist: WorklistCounts = Field(description="The worklist's cases by review status at the cut-off.")
    overlap: list[OverlapRow] = Field(description="Dice / IoU by stratum (empty when no overlap is logged).")


def _decisions(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    rows = document.get("metric_claims") or []
    return {(r["model_version"], r["stratum"]): r for r in rows if r.get("metric") == METRIC}


def build(source: ReportSource) -> ReviewReport | None:
    found = source.document.get("review")
    if source.rollup or not found:
        return None
    section = ReviewSection.model_validate(found)
    decided = _decisions(source.document)
    rows, hidden = [], 0
    for row in section.rates:
        decision = decided.get((row.model_version, row.stratum), {})
        if row.level > 1 and decision.get("status") != "flagged":
            hidden += 1
            continue
        rows.append(ReviewReportRow(
            model_version=row.model_version, stratum=row.stratum, level=row.level, cases=row.cases,
            sent_to_review=row.sent_to_review, rate=row.rate, ci_low=row.ci_low, ci_high=row.ci_high,
            by_trigger=dict(row.by_trigger), goal=decision.get("goal"), claim_status=decision.get("status"),
            q_value=decision.get("q_value"), ticket_id=decision.get("ticket_id")))
    rules = source.document["rules"]
    return ReviewReport(confidence=rules["confidence"], interval_method=rules["interval_method"],
                        triggers=list(section.triggers), volume_tolerance=section.volume_tolerance, rows=rows,
                        intersections_not_shown=hidden, worklist=section.worklist, overlap=list(section.overlap))


SECTION = ContentSection("review", ReviewReport, build)
