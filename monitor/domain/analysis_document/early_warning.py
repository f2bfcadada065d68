"""Label-free early warning: confidence-based performance estimates (CBPE) for the predictions awaiting ground
truth per stratum (monitor.domain.early_warning)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from monitor.domain.analysis_document.base import Part, STRATUM_MATCHES_LEVEL
from monitor.domain.analysis_document.values import Count, ModelVersion, ProbabilityOrNull, StratumKey

__all__ = ["EarlyWarningRow"]


class EarlyWarningRow(Part):
    """Label-free performance estimate of the predictions of one stratum (overall or single attribute) of one model
    version still awaiting ground truth: confidence-based performance estimation (CBPE, NannyML 2023) with scores
    calibrated by isotonic regression (Zadrozny & Elkan 2002) on the labelled cases of the reference window
    (monitor.domain.early_warning). Valid under covariate shift only; an estimate, never audit evidence."""

    __conditions__ = STRATUM_MATCHES_LEVEL

    model_version: ModelVersion = Field(description="Model version.")
    stratum: StratumKey = Field(description="Stratum key.")
    level: Literal[0, 1] = Field(description="Stratum level of the stratum (0 overall, 1 single attribute).")
    unlabelled: Count = Field(description=(
        "Predictions of the stratum in the period without ground truth by the data cut-off (the cases "
        "estimated)."))
    estimated_sensitivity: ProbabilityOrNull = Field(description=(
        "Estimated sensitivity E[TP] / (E[TP] + E[FN]); null when the expected denominator is 0."))
    estimated_specificity: ProbabilityOrNull = Field(description=(
        "Estimated specificity E[TN] / (E[TN] + E[FP]); null when the expected denominator is 0."))
    estimated_ppv: ProbabilityOrNull = Field(description=(
        "Estimated PPV E[TP] / (E[TP] + E[FP]); null when there are no positive calls."))
    estimated_npv: ProbabilityOrNull = Field(description=(
        "Estimated NPV E[TN] / (E[TN] + E[FN]); null when there are no negative calls."))
    is_estimate: Literal[True] = Field(description="Always true: the figures are estimated, not measured.")
