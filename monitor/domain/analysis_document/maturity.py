"""Label completeness, the Kaplan-Meier label delay and the period's maturity per stratum
(monitor.domain.labels.maturity_by_stratum)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from monitor.domain.analysis_document.base import Part, STRATUM_MATCHES_LEVEL
from monitor.domain.analysis_document.values import Count, ModelVersion, NonNegative, Probability, StratumKey, Text

__all__ = ["MaturityRow"]


class MaturityRow(Part):
    """Label completeness, label delay and maturity of one monitored stratum (overall, single attribute or
    intersection) of one model version: how far the period's ground truth can be trusted as final
    (monitor.domain.labels.maturity_by_stratum)."""

    __conditions__ = STRATUM_MATCHES_LEVEL

    model_version: ModelVersion = Field(description="Model version.")
    stratum: StratumKey = Field(description="Stratum key.")
    level: Literal[0, 1, 2, 3] = Field(description=(
        "Stratum level of the stratum (0 overall, 1 single attribute, 2 pairwise, 3 three-way intersection)."))
    predictions: Count = Field(description="Predictions of the stratum in the period.")
    labelled: Count = Field(description="Of these, predictions with ground truth received by the data cut-off.")
    pending: Count = Field(description="Of these, predictions still without ground truth (predictions - labelled).")
    completeness: Probability | None = Field(description="labelled / predictions; null when there are no predictions.")
    median_delay_days: NonNegative | None = Field(description=(
        "Kaplan-Meier median (Kaplan & Meier 1958) of the label delay in whole days (rounded up) from the AI "
        "result to confirmed_at of the first ground-truth version, pending cases right-censored at the data "
        "cut-off; null when no label arrived or the curve does not reach 50%."))
    p90_delay_days: NonNegative | None = Field(description=(
        "Kaplan-Meier 90th percentile of the label delay in days (same method as median_delay_days); null "
        "when the curve does not reach 90%."))
    mature: bool = Field(description=(
        "Whether the cohort's labels are taken as final: the period ended at least rules.maturity_window_days"
        " before the data cut-off, or at least 95% of labels are in."))
    reason: Text = Field(description=(
        "Why the cohort is or is not mature, in words (e.g. 'provisional: 365-day window not elapsed, 78% of "
        "labels received')."))
    mostly_pending: bool = Field(description=(
        "Whether fewer than half of the stratum's labels are in (completeness < 0.5): its accuracy figures "
        "must not be read as healthy."))
