"""Section ``ordinal`` (block 052_ordinal): for an ordinal device, per model version the per-level confusion
matrix and the metrics at every cut of the whole population, weighted kappa, and the false-negative rate of the
lowest level by stratum with its claim's decision (claims.metrics lowest_level_fnr, from the analysis'
metric_claims); None when the analysis has no ordinal section or for a roll-up.

Shown: the whole population and every single stratum, and an intersection whose claim is flagged; every row is in
the JSON (analysis.ordinal)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from monitor.domain.analysis_document.ordinal import OrdinalCut, OrdinalLevel, OrdinalSection
from monitor.service.report_sections import ContentSection, ReportSource

__all__ = ["OrdinalFnrRow", "OrdinalOverall", "OrdinalReport", "SECTION", "build"]

METRIC = "lowest_level_fnr"
ClaimStatus = Literal["flagged", "conforming", "inconclusive", "insufficient", "not_tested"]


class OrdinalOverall(BaseModel):
    """The whole population of one model version."""

    model_version: str = Field(description="Model version.")
    calls: list[int] = Field(description="AI calls by level, lowest first (verified or not).")
    matrix: list[list[int]] = Field(description="Verified cases: rows the AI level, columns the reference grade.")
    verified: int = Field(description="Verified cases.")
    cuts: list[OrdinalCut] = Field(description="Sensitivity and specificity at every cut between levels.")
    weighted_kappa: float | None = Field(description="Weighted kappa against the reference grade.")
    kappa_standard_error: float | None = Field(description="Its large-sample standard error.")
    kappa_ci_low: float | None = Field(description="Lower Wald limit.")
    kappa_ci_high: float | None = Field(description="Upper Wald limit.")


class OrdinalFnrRow(BaseModel):
    """The false-negative rate of the lowest level (and weighted kappa) in one stratum of one model version."""

    model_version: str = Field(description="Model version.")
    stratum: str = Field(description="Stratum key.")
    level: int = Field(description="Stratum level (0 overall, 1 single attribute, 2 intersection).")
    successes: int = Field(description="Verified cases graded positive_from or above that the AI called the lowest level.")
    trials: int = Field(description="Verified cases graded positive_from or above.")
    estimate: float | None = Field(description="The rate (verification-corrected under an audit design).")
    ci_low: float | None = Field(description="Lower limit of its interval.")
    ci_high: float | None = Field(description="Upper limit of its interval.")
    effective_trials: float | None = Field(description="Korn-Graubard effective trials under an audit design.")
    goal: float | None = Field(description="maximum + margin of the lowest_level_fnr claim; null without one.")
    claim_status: ClaimStatus | None = Field(description="The claim's decision in metric_claims; null when not decided.")
    q_value: float | None = Field(description="The decision's adjusted p-value of the excess; null without one.")
    ticket_id: str | None = Field(description="The ticket a flagged claim opened or updated; null otherwise.")
    weighted_kappa: float | None = Field(description="Weighted kappa in the stratum.")


class OrdinalReport(BaseModel):
    """The ordinal section of the report."""

    levels: list[OrdinalLevel] = Field(description="The levels, lowest first, with their Chinese names.")
    positive_from: str = Field(description="Lowest level of a positive binary call.")
    kappa_weights: Literal["linear", "quadratic"] = Field(description="Weights of the weighted kappa.")
    verification: Literal["complete", "audit_sample"] = Field(description="labels.verification.")
    confidence: float = Field(description="Two-sided confidence level of the intervals (rules.confidence).")
    interval_method: str = Field(description="Interval method on whole counts (rules.interval_method).")
    overall: list[OrdinalOverall] = Field(description="The whole population, per model version.")
    rows: list[OrdinalFnrRow] = Field(description=(
        "Overall and single strata, and the intersections whose claim is flagged, in the analysis' order."))
    intersections_not_shown: int = Field(description="Intersection rows left to the JSON (analysis.ordinal).")


def _decisions(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    rows = document.get("metric_claims") or []
    return {(r["model_version"], r["stratum"]): r for r in rows if r.get("metric") == METRIC}


def build(source: ReportSource) -> OrdinalReport | None:
    stored = source.document.get("ordinal")
    if source.rollup or not stored:
        return None
    section = OrdinalSection.model_validate(stored)
    decisions = _decisions(source.document)
    overall, rows, hidden = [], [], 0
    for s in section.strata:
        decision = decisions.get((s.model_version, s.stratum), {})
        if s.level == 0:
            overall.append(OrdinalOverall(
                model_version=s.model_version, calls=list(s.calls), matrix=[list(r) for r in s.matrix],
                verified=s.verified, cuts=list(s.cuts), weighted_kappa=s.weighted_kappa,
                kappa_standard_error=s.kappa_standard_error, kappa_ci_low=s.kappa_ci_low,
                kappa_ci_high=s.kappa_ci_high))
        if s.level >= 2 and decision.get("status") != "flagged":
            hidden += 1
            continue
        fnr = s.lowest_level_fnr
        rows.append(OrdinalFnrRow(
            model_version=s.model_version, stratum=s.stratum, level=s.level, successes=fnr.successes,
            trials=fnr.trials, estimate=fnr.estimate, ci_low=fnr.ci_low, ci_high=fnr.ci_high,
            effective_trials=fnr.effective_trials, goal=decision.get("goal"), claim_status=decision.get("status"),
            q_value=decision.get("q_value"), ticket_id=decision.get("ticket_id"), weighted_kappa=s.weighted_kappa))
    rules = source.config.monitoring
    return OrdinalReport(
        levels=list(section.levels), positive_from=section.positive_from, kappa_weights=section.kappa_weights,
        verification=section.verification, confidence=rules.confidence, interval_method=rules.interval_method,
        overall=overall, rows=rows, intersections_not_shown=hidden)


SECTION = ContentSection("ordinal", OrdinalReport, build)
