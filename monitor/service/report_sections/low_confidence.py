"""Section ``low_confidence`` (block 054_low_confidence): the AI's low-confidence / out-of-distribution flag rate
by stratum with its interval, the decision of its claim (claims.metrics low_confidence_rate, from the analysis'
metric_claims when decided there), and sensitivity / specificity within flagged and unflagged results; None when
the analysis has no low-confidence section (no flag logged, no claim) or for a roll-up.

Shown: the whole population and every single stratum, and an intersection when its claim is flagged; every row is
in the JSON (analysis.low_confidence)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from monitor.domain.analysis_document.low_confidence import FlagPerformance, LowConfidenceRow
from monitor.domain.low_confidence import METRIC
from monitor.service.report_sections import ContentSection, ReportSource

__all__ = ["LowConfidenceReport", "LowConfidenceReportRow", "SECTION", "build"]

ClaimStatus = Literal["flagged", "conforming", "inconclusive", "insufficient", "not_tested"]


class LowConfidenceReportRow(BaseModel):
    """One stratum of one model version: the flag rate, its claim's decision, performance by flag."""

    model_version: str = Field(description="Model version.")
    stratum: str = Field(description="Stratum key.")
    level: int = Field(description="Stratum level (0 overall, 1 single attribute, 2 intersection).")
    results: int = Field(description="Delivered AI results in the stratum.")
    not_logged: int = Field(description="Results without the flag logged (left out of the rate).")
    assessed: int = Field(description="Results with the flag logged: the rate's denominator.")
    flagged: int = Field(description="Results flagged low confidence.")
    rate: float | None = Field(description="flagged / assessed.")
    ci_low: float | None = Field(description="Lower limit of the rate's interval.")
    ci_high: float | None = Field(description="Upper limit of the rate's interval.")
    goal: float | None = Field(description="maximum + margin of the low_confidence_rate claim; null without one.")
    claim_status: ClaimStatus | None = Field(description=(
        "The claim's decision in the analysis' metric_claims; null when not decided there."))
    q_value: float | None = Field(description="The decision's adjusted p-value of the excess; null without one.")
    ticket_id: str | None = Field(description="The ticket a flagged claim opened or updated; null otherwise.")
    sensitivity: FlagPerformance = Field(description="Sensitivity within flagged and unflagged results.")
    specificity: FlagPerformance = Field(description="Specificity within flagged and unflagged results.")


class LowConfidenceReport(BaseModel):
    """The low-confidence section of the report."""

    confidence: float = Field(description="Two-sided confidence level of the intervals (rules.confidence).")
    interval_method: str = Field(description="Interval method of the rates (rules.interval_method).")
    rows: list[LowConfidenceReportRow] = Field(description=(
        "Overall and single strata, and the intersections whose claim is flagged, in the analysis' order."))
    intersections_not_shown: int = Field(description="Intersection rows left to the JSON (analysis.low_confidence).")
    not_logged: int = Field(description="Results of the period without the flag logged (all model versions).")


def _decisions(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    rows = document.get("metric_claims") or []
    return {(r["model_version"], r["stratum"]): r for r in rows if r.get("metric") == METRIC}


def build(source: ReportSource) -> LowConfidenceReport | None:
    found = source.document.get("low_confidence")
    if source.rollup or not found:
        return None
    decided = _decisions(source.document)
    rows, hidden = [], 0
    for raw in found:
        row = LowConfidenceRow.model_validate(raw)
        decision = decided.get((row.model_version, row.stratum), {})
        if row.level > 1 and decision.get("status") != "flagged":
            hidden += 1
            continue
        sensitivity, specificity = row.performance
        rows.append(LowConfidenceReportRow(
            model_version=row.model_version, stratum=row.stratum, level=row.level, results=row.results,
            not_logged=row.not_logged, assessed=row.assessed, flagged=row.flagged, rate=row.rate, ci_low=row.ci_low,
            ci_high=row.ci_high, goal=decision.get("goal", row.goal), claim_status=decision.get("status"),
            q_value=decision.get("q_value"), ticket_id=decision.get("ticket_id"), sensitivity=sensitivity,
            specificity=specificity))
    rules = source.document["rules"]
    return LowConfidenceReport(confidence=rules["confidence"], interval_method=rules["interval_method"], rows=rows,
                               intersections_not_shown=hidden,
                               not_logged=sum(r["not_logged"] for r in found if r["level"] == 0))


SECTION = ContentSection("low_confidence", LowConfidenceReport, build)
