"""Each claimed metric of each stratum against the rest of the population: an equity signal beside the
claims test (monitor.domain.period_comparisons.compare_strata_with_rest)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from monitor.domain.analysis_document.base import Part, STRATUM_MATCHES_LEVEL
from monitor.domain.analysis_document.values import (
    Count, Metric, ModelVersion, Probability, SignedUnit, StratumKey, Successes, Trials,
)

__all__ = ["StratumVsRestRow"]


class StratumVsRestRow(Part):
    """One claimed metric of one stratum (single or monitored intersection) of one model version in the period, against
    the rest of that model version's population in the period, i.e. overall minus the stratum: an equity signal
    (monitor.domain.period_comparisons.compare_strata_with_rest)."""

    __conditions__ = STRATUM_MATCHES_LEVEL

    model_version: ModelVersion = Field(description="Model version.")
    stratum: StratumKey = Field(description="Stratum key.")
    level: Literal[1, 2, 3] = Field(description=(
        "Stratum level of the stratum (1 single attribute, 2 pairwise, 3 three-way intersection)."))
    metric: Metric = Field(description="The metric; only metrics with an overall claim (rules.claims) are compared.")
    successes: Successes = Field(description="Numerator of the metric in the stratum in the period (as in results).")
    trials: Trials = Field(description="Denominator of the metric in the stratum in the period (as in results).")
    reference_successes: Count = Field(description=(
        "Numerator of the metric in the rest of the population (the same model version's overall counts minus"
        " the stratum's)."))
    reference_trials: Count = Field(description=(
        "Denominator of the metric in the rest of the population (the same model version's overall counts "
        "minus the stratum's); 0 when it has no such cases."))
    estimate: Probability | None = Field(description=(
        "successes/trials in the stratum in the period; null when trials or reference_trials is 0."))
    reference_estimate: Probability | None = Field(description=(
        "reference_successes/reference_trials (the rest of the population (the same model version's overall "
        "counts minus the stratum's)); null when trials or reference_trials is 0."))
    difference: SignedUnit | None = Field(description=(
        "estimate - reference_estimate (the stratum in the period minus the rest of the population (the same "
        "model version's overall counts minus the stratum's)); null when trials or reference_trials is 0."))
    ci_low: SignedUnit | None = Field(description=(
        "Lower limit of the two-sided Newcombe hybrid score interval (Newcombe 1998, method 10) for the "
        "difference at rules.confidence; null when trials or reference_trials is 0."))
    ci_high: SignedUnit | None = Field(description=(
        "Upper limit of the two-sided Newcombe hybrid score interval (Newcombe 1998, method 10) for the "
        "difference at rules.confidence; null when trials or reference_trials is 0."))
    p_value: Probability | None = Field(description=(
        "One-sided Fisher exact test p-value (Fisher 1922) of H1: the stratum's proportion in the period is "
        "below that of the rest of the population (the same model version's overall counts minus the "
        "stratum's); null when trials or reference_trials is 0."))
    q_value: Probability | None = Field(description=(
        "Benjamini-Hochberg (1995) adjusted p-value over the rows of stratum_vs_rest only (a signal beside "
        "the claims test; it does not flag or open tickets); null when p_value is null."))
