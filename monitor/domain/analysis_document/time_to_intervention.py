"""Time from AI result to intervention of the confirmed positives per stratum (Kaplan-Meier; monitor.domain.timing)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from monitor.domain.analysis_document.base import Part, STRATUM_MATCHES_LEVEL
from monitor.domain.analysis_document.values import Count, ModelVersion, NonNegative, Positive, Probability, StratumKey

__all__ = ["TimeToInterventionRow"]


class TimeToInterventionRow(Part):
    """Time from the AI result (predicted_at) to intervention (intervention_at: biopsy, treatment) of the confirmed
    positives (latest label 1) of one monitored stratum (overall, single attribute or intersection) of one model version in the period, by
    Kaplan-Meier (Kaplan & Meier 1958) on whole days (rounded up); a case without intervention by the data cut-off is
    right-censored there (monitor.domain.timing). All statistics are null when n < 5."""

    __conditions__ = STRATUM_MATCHES_LEVEL

    model_version: ModelVersion = Field(description="Model version.")
    stratum: StratumKey = Field(description="Stratum key.")
    level: Literal[0, 1, 2, 3] = Field(description=(
        "Stratum level of the stratum (0 overall, 1 single attribute, 2 pairwise, 3 three-way intersection)."))
    n: Count = Field(description="Confirmed positives of the stratum in the period.")
    events: Count = Field(description="Of these, cases with an intervention by the data cut-off.")
    censored: Count = Field(description=(
        "Of these, cases without intervention by the data cut-off (right-censored; n = events + censored)."))
    sla_days: Positive | None = Field(description=(
        "Service level in days (rules.intervention_sla_days); null when none is configured."))
    median: NonNegative | None = Field(description=(
        "Kaplan-Meier median time to intervention in days; null when n < 5 or the curve does not reach 50%."))
    median_ci_low: NonNegative | None = Field(description=(
        "Lower limit of the two-sided Brookmeyer-Crowley 1982 interval (log-log) at rules.confidence, in "
        "days; null when not estimable."))
    median_ci_high: NonNegative | None = Field(description=(
        "Upper limit of the two-sided Brookmeyer-Crowley 1982 interval (log-log) at rules.confidence, in "
        "days; null when not estimable or unbounded."))
    p90: NonNegative | None = Field(description=(
        "Kaplan-Meier 90th percentile of the time to intervention in days (time by which 90% had it); null "
        "when n < 5 or the curve does not reach 90%."))
    p90_ci_low: NonNegative | None = Field(description=(
        "Lower limit of the two-sided Brookmeyer-Crowley 1982 interval (log-log) at rules.confidence, in days"
        " of p90; null when not estimable."))
    p90_ci_high: NonNegative | None = Field(description=(
        "Upper limit of the two-sided Brookmeyer-Crowley 1982 interval (log-log) at rules.confidence, in days"
        " of p90; null when not estimable or unbounded."))
    within_sla: Probability | None = Field(description=(
        "Kaplan-Meier estimate of the share with intervention within sla_days, P(T <= sla_days); null when n "
        "< 5, no SLA is configured or not estimable."))
    within_sla_ci_low: Probability | None = Field(description=(
        "Lower limit of the two-sided pointwise log-log interval of within_sla at rules.confidence (Greenwood"
        " variance); null when not estimable."))
    within_sla_ci_high: Probability | None = Field(description=(
        "Upper limit of the two-sided pointwise log-log interval of within_sla at rules.confidence (Greenwood"
        " variance); null when not estimable."))
