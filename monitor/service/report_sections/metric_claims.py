"""Section ``metric_claims`` (block 045_metric_claims): the claims of claims.metrics (accuracy, AUC, agreement with
the reader, rates that must stay low, ...) as the analysis decided them (analysis.metric_claims;
monitor.domain.metric_claims.DECISION_RULE): metric, stratum, estimate with its interval, the claim and its goal,
the outcome, the adjusted p-value and the ticket. None when the analysis decided no such claim.

Shown: the whole population and every single stratum with a claim, and an intersection when its claim is flagged;
every row is in the JSON (analysis.metric_claims)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from monitor.domain.analysis_document.metric_claims import ClaimableMetricName, MetricClaimRow
from monitor.service.report_sections import ContentSection, ReportSource

__all__ = ["MetricClaimReportRow", "MetricClaimsReport", "SECTION", "build"]


class MetricClaimReportRow(BaseModel):
    """One claimed metric in one stratum of one model version, as decided."""

    model_version: str = Field(description="Model version.")
    metric: ClaimableMetricName = Field(description="The claimed metric.")
    stratum: str = Field(description="Stratum key.")
    level: int = Field(description="Stratum level (0 overall, 1 single attribute, 2 intersection).")
    kind: Literal["proportion", "estimate"] = Field(description=(
        "proportion (printed in percent with events / trials) or estimate (printed as a decimal)."))
    direction: Literal["minimum", "maximum"] = Field(description="minimum (must stay high) or maximum (stay low).")
    events: float | None = Field(description="Events of a proportion (effective when verification-corrected).")
    trials: float | None = Field(description="Trials of a proportion, or the cases an estimate rests on.")
    estimate: float | None = Field(description="The estimate.")
    ci_low: float | None = Field(description="Lower limit of its two-sided interval.")
    ci_high: float | None = Field(description="Upper limit of its two-sided interval.")
    claim: float = Field(description="The claimed minimum or maximum.")
    goal: float = Field(description="minimum - margin or maximum + margin.")
    status: Literal["flagged", "conforming", "inconclusive", "insufficient", "not_tested"] = Field(description=(
        "The rule's outcome (not_tested: a stratum outside the pre-specified families)."))
    provisional: bool = Field(description="Labels not yet arrived in the expected share: not decided.")
    family: Literal["confirmatory", "exploratory"] | None = Field(description="The decision family.")
    q_value: float | None = Field(description="The adjusted p-value of the departure; null when not decided.")
    ticket_id: str | None = Field(description="The ticket a flagged claim opened or updated; null otherwise.")


class MetricClaimsReport(BaseModel):
    """The claims-on-any-metric section of the report."""

    confidence: float = Field(description="Two-sided confidence level of the intervals (rules.confidence).")
    alpha: float = Field(description="Level of the confirmatory families (Holm; rules.alpha).")
    fdr: float = Field(description="Level of the exploratory families (Benjamini-Hochberg; rules.fdr).")
    rows: list[MetricClaimReportRow] = Field(description=(
        "Overall and single strata with a claim, and the intersections whose claim is flagged, in the analysis' "
        "order."))
    flagged: int = Field(description="Claims flagged (shortfall or excess shown), all rows.")
    not_shown: int = Field(description="Rows left to the JSON (intersections not flagged).")


def build(source: ReportSource) -> MetricClaimsReport | None:
    found = source.document.get("metric_claims")
    if source.rollup or not found:
        return None
    rows, hidden = [], 0
    decided = [MetricClaimRow.model_validate(raw) for raw in found]
    for row in decided:
        if row.claim is None or row.goal is None:
            continue
        if row.level > 1 and row.status != "flagged":
            hidden += 1
            continue
        rows.append(MetricClaimReportRow(
            model_version=row.model_version, metric=row.metric, stratum=row.stratum, level=row.level, kind=row.kind,
            direction=row.direction, events=row.events, trials=row.trials, estimate=row.estimate, ci_low=row.ci_low,
            ci_high=row.ci_high, claim=row.claim, goal=row.goal, status=row.status, provisional=row.provisional,
            family=row.family, q_value=row.q_value, ticket_id=row.ticket_id))
    if not rows:
        return None
    rules = source.config.monitoring
    return MetricClaimsReport(confidence=rules.confidence, alpha=rules.alpha, fdr=rules.fdr, rows=rows,
                              flagged=sum(1 for r in decided if r.status == "flagged"), not_shown=hidden)


SECTION = ContentSection("metric_claims", MetricClaimsReport, build)
