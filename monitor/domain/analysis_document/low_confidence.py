"""One row of the low-confidence section of the analysis document (issue 17 item 4): the AI's low-confidence /
out-of-distribution flag rate of one model version in one stratum, and performance within flagged and unflagged
results (monitor.domain.low_confidence).

A flagged result keeps its score and call and counts in sensitivity and specificity like any other result; this
section only adds the flag's own signal."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from monitor.domain.analysis_document.base import LEVEL_MATCHES_STRATUM, Part
from monitor.domain.analysis_document.values import (
    Count, Level, ModelVersion, NonNegative, ProbabilityOrNull, SignedUnit, StratumAttributes, StratumKey,
)

__all__ = ["FlagPerformance", "LowConfidenceRow"]

_INTERVAL = "(rules.interval_method at rules.confidence)"


class FlagPerformance(Part):
    """Sensitivity or specificity within the flagged and within the unflagged results of one stratum (results with
    ground truth by the cut-off), and the difference flagged - unflagged with the Newcombe (1998, method 10) hybrid
    score interval at rules.confidence."""

    metric: Literal["sensitivity", "specificity"] = Field(description=(
        "sensitivity = tp / (tp + fn) over reference positives; specificity = tn / (tn + fp) over reference "
        "negatives."))
    flagged_successes: Count = Field(description="Correct calls among the flagged results (tp or tn).")
    flagged_trials: Count = Field(description="Flagged results with ground truth of the metric's class.")
    flagged_estimate: ProbabilityOrNull = Field(description="flagged_successes / flagged_trials; null without trials.")
    flagged_ci_low: ProbabilityOrNull = Field(description=(
        f"Lower limit of the flagged estimate's interval {_INTERVAL}."))
    flagged_ci_high: ProbabilityOrNull = Field(description=(
        f"Upper limit of the flagged estimate's interval {_INTERVAL}."))
    unflagged_successes: Count = Field(description="Correct calls among the unflagged results (tp or tn).")
    unflagged_trials: Count = Field(description="Unflagged results with ground truth of the metric's class.")
    unflagged_estimate: ProbabilityOrNull = Field(description=(
        "unflagged_successes / unflagged_trials; null without trials."))
    unflagged_ci_low: ProbabilityOrNull = Field(description=(
        f"Lower limit of the unflagged estimate's interval {_INTERVAL}."))
    unflagged_ci_high: ProbabilityOrNull = Field(description=(
        f"Upper limit of the unflagged estimate's interval {_INTERVAL}."))
    difference: SignedUnit | None = Field(description=(
        "flagged_estimate - unflagged_estimate; null when either group has no trials."))
    difference_ci_low: SignedUnit | None = Field(description=(
        "Lower limit of the Newcombe hybrid score interval of the difference (Wilson-based, at rules.confidence)."))
    difference_ci_high: SignedUnit | None = Field(description=(
        "Upper limit of the Newcombe hybrid score interval of the difference (Wilson-based, at rules.confidence)."))


class LowConfidenceRow(Part):
    """The low-confidence flag rate of one model version in one stratum (overall, single attribute or monitored
    intersection) over the period's delivered results, ingested by the cut-off and not retracted by it, and the
    device's performance within flagged and unflagged results (latest ground-truth version by the cut-off). The
    rate's claim (claims.metrics low_confidence_rate) is decided in metric_claims, not here."""

    __conditions__ = LEVEL_MATCHES_STRATUM

    model_version: ModelVersion = Field(description="Model version.")
    stratum: StratumKey = Field(description="Stratum key.")
    level: Level = Field(description="Stratum level (0 overall, 1 single attribute, 2 intersection).")
    attributes: StratumAttributes = Field(description="Stratum assignments.")
    results: Count = Field(description="Delivered AI results in the stratum (with or without the flag logged).")
    not_logged: Count = Field(description=(
        "Results whose low_confidence was not logged (empty): left out of the rate, counted here."))
    assessed: Count = Field(description="Results with low_confidence logged (0 or 1): the rate's denominator.")
    flagged: Count = Field(description="Results flagged low confidence (low_confidence 1): the rate's numerator.")
    rate: ProbabilityOrNull = Field(description="flagged / assessed; null when no result logged the flag.")
    ci_low: ProbabilityOrNull = Field(description=f"Lower limit of the rate's two-sided interval {_INTERVAL}.")
    ci_high: ProbabilityOrNull = Field(description=f"Upper limit of the rate's two-sided interval {_INTERVAL}.")
    maximum: ProbabilityOrNull = Field(description=(
        "Claimed maximum of the rate in this stratum (claims.metrics low_confidence_rate, most specific claim); "
        "null when none applies."))
    goal: NonNegative | None = Field(description="maximum + margin of that claim; null when none applies.")
    performance: list[FlagPerformance] = Field(description=(
        "Sensitivity, then specificity, within flagged and within unflagged results."))
