"""The reference window (the periods just before the period, pooled) and each claimed metric of each
stratum against it (monitor.domain.period_comparisons.compare_periods; Newcombe 1998, Fisher 1922,
Benjamini-Hochberg 1995). A signal beside the claims test."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from monitor.domain.analysis_document.base import Part, STRATUM_MATCHES_LEVEL
from monitor.domain.analysis_document.values import (
    Count, Metric, ModelVersion, PeriodLabel, Probability, SignedUnit, StratumKey, Successes, TimestampUtcOffset,
    Trials,
)

__all__ = ["ReferenceComparisonRow", "ReferenceWindow"]


class ReferenceWindow(Part):
    """The reference window of data_drift's preceding comparison, reference_comparison and early_warning: the
    rules.drift_reference_periods periods just before the period, pooled ([start_utc, end_utc), ground truth as of the
    same data cut-off). An explicit window has no preceding period: then periods is empty and the reference window is
    empty (start_utc = end_utc = the period's start)."""

    periods: list[PeriodLabel] = Field(description="Labels of the pooled preceding periods, oldest first.")
    start_utc: TimestampUtcOffset = Field(description=(
        "Start of the reference window (start of its oldest period), included. Written with a +00:00 offset, "
        "unlike the other timestamps of the document."))
    end_utc: TimestampUtcOffset = Field(description=(
        "End of the reference window (the period's start_utc), excluded. Written with a +00:00 offset, unlike"
        " the other timestamps of the document."))


class ReferenceComparisonRow(Part):
    """One claimed metric of one stratum (overall, single or monitored intersection) of one model version in the period,
    against the same stratum in the reference window (monitor.domain.period_comparisons.compare_periods)."""

    __conditions__ = STRATUM_MATCHES_LEVEL

    model_version: ModelVersion = Field(description="Model version.")
    stratum: StratumKey = Field(description="Stratum key.")
    level: Literal[0, 1, 2, 3] = Field(description=(
        "Stratum level of the stratum (0 overall, 1 single attribute, 2 pairwise, 3 three-way intersection)."))
    metric: Metric = Field(description="The metric; only metrics with an overall claim (rules.claims) are compared.")
    successes: Successes = Field(description="Numerator of the metric in the stratum in the period (as in results).")
    trials: Trials = Field(description="Denominator of the metric in the stratum in the period (as in results).")
    reference_successes: Count = Field(description=(
        "Numerator of the metric in the same stratum in the reference window (same model version, or all "
        "model versions pooled when this model version has no cases in the stratum there)."))
    reference_trials: Count = Field(description=(
        "Denominator of the metric in the same stratum in the reference window (same model version, or all "
        "model versions pooled when this model version has no cases in the stratum there); 0 when it has no "
        "such cases."))
    estimate: Probability | None = Field(description=(
        "successes/trials in the stratum in the period; null when trials or reference_trials is 0."))
    reference_estimate: Probability | None = Field(description=(
        "reference_successes/reference_trials (the same stratum in the reference window (same model version, "
        "or all model versions pooled when this model version has no cases in the stratum there)); null when "
        "trials or reference_trials is 0."))
    difference: SignedUnit | None = Field(description=(
        "estimate - reference_estimate (the stratum in the period minus the same stratum in the reference "
        "window (same model version, or all model versions pooled when this model version has no cases in the"
        " stratum there)); null when trials or reference_trials is 0."))
    ci_low: SignedUnit | None = Field(description=(
        "Lower limit of the two-sided Newcombe hybrid score interval (Newcombe 1998, method 10) for the "
        "difference at rules.confidence; null when trials or reference_trials is 0."))
    ci_high: SignedUnit | None = Field(description=(
        "Upper limit of the two-sided Newcombe hybrid score interval (Newcombe 1998, method 10) for the "
        "difference at rules.confidence; null when trials or reference_trials is 0."))
    p_value: Probability | None = Field(description=(
        "One-sided Fisher exact test p-value (Fisher 1922) of H1: the stratum's proportion in the period is "
        "below that of the same stratum in the reference window (same model version, or all model versions "
        "pooled when this model version has no cases in the stratum there); null when trials or "
        "reference_trials is 0."))
    q_value: Probability | None = Field(description=(
        "Benjamini-Hochberg (1995) adjusted p-value over the rows of reference_comparison only (a signal "
        "beside the claims test; it does not flag or open tickets); null when p_value is null."))
