"""Discrimination and calibration per stratum: AUC with the DeLong (1988) interval, Brier score,
calibration-in-the-large and slope (monitor.domain.discrimination)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from monitor.domain.analysis_document.base import Part, STRATUM_MATCHES_LEVEL
from monitor.domain.analysis_document.values import Count, ModelVersion, Number, Probability, StratumKey

__all__ = ["DiscriminationRow"]


class DiscriminationRow(Part):
    """AUC and calibration of the score in one stratum (overall or single attribute) of one model version, from the
    predictions of the period with ground truth, scores binned to 0.001 (monitor.domain.discrimination). All statistics
    are null when the stratum has fewer than 10 positives or 10 negatives."""

    __conditions__ = STRATUM_MATCHES_LEVEL

    model_version: ModelVersion = Field(description="Model version.")
    stratum: StratumKey = Field(description="Stratum key.")
    level: Literal[0, 1] = Field(description="Stratum level of the stratum (0 overall, 1 single attribute).")
    positives: Count = Field(description="Cases with ground truth label 1.")
    negatives: Count = Field(description="Cases with ground truth label 0.")
    auc: Probability | None = Field(description=(
        "Area under the ROC curve of the score (empirical Mann-Whitney estimate, ties within a 0.001 score "
        "bin count one half); null when fewer than 10 positives or negatives."))
    auc_ci_low: Probability | None = Field(description=(
        "Lower limit of the two-sided Wald interval of the AUC with the DeLong 1988 variance at "
        "rules.confidence, clipped to [0, 1]; null when not estimable."))
    auc_ci_high: Probability | None = Field(description=(
        "Upper limit of the two-sided Wald interval of the AUC with the DeLong 1988 variance at "
        "rules.confidence, clipped to [0, 1]; null when not estimable."))
    brier: Probability | None = Field(description=(
        "Brier score (Brier 1950): mean of (score - label)^2 over the cases, the score read as a probability "
        "(bin value); 0 is perfect."))
    calibration_in_the_large: Number | None = Field(description=(
        "Calibration-in-the-large, in logit units: intercept a of logit P(label = 1) = a + offset(logit "
        "score), maximum likelihood with frequency weights over score bins (Van Calster et al. 2016); 0 is "
        "ideal, negative means the scores overestimate the risk. Null when not estimable."))
    citl_ci_low: Number | None = Field(description=(
        "Lower limit of the two-sided Wald interval of calibration_in_the_large at rules.confidence (logit "
        "units); null when not estimable."))
    citl_ci_high: Number | None = Field(description=(
        "Upper limit of the two-sided Wald interval of calibration_in_the_large at rules.confidence (logit "
        "units); null when not estimable."))
    calibration_slope: Number | None = Field(description=(
        "Calibration slope b of logit P(label = 1) = a + b logit(score) (logistic recalibration, Van Calster "
        "et al. 2016); 1 is ideal, below 1 the scores are too extreme. Null when not estimable."))
    slope_ci_low: Number | None = Field(description=(
        "Lower limit of the two-sided Wald interval of calibration_slope at rules.confidence; null when not "
        "estimable."))
    slope_ci_high: Number | None = Field(description=(
        "Upper limit of the two-sided Wald interval of calibration_slope at rules.confidence; null when not "
        "estimable."))
