"""The run's identity and the rules it applied: the device (from its configuration), the reporting period,
the monitoring rules with the claims, strata and decision families (monitor.domain.families)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, MISSING, RootModel, StrictStr

from monitor.domain.device import Claims, Registration
from monitor.domain.analysis_document.base import Part
from monitor.domain.analysis_document.values import (
    AboveOne, AttributeName, Count, Date, OpenUnit, PeriodLabel, Positive, PositiveCount, PositiveUnit, Probability,
    Text, TimestampUtc,
)

__all__ = ["DecisionFamilies", "Device", "Family", "ModelVersionFamilies", "Period", "Rules"]


class Device(Part):
    """The device's identity, as printed in a report's control block (from the device configuration)."""

    id: Annotated[str, Field(pattern="^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")] = Field(description="Device id (device.id).")
    name: Text = Field(description="Device name (device.name).")
    name_zh: str | None = Field(description="Chinese device name (device.name_zh), or null.")
    manufacturer: Text = Field(description="Manufacturer (device.manufacturer).")
    intended_use: Text = Field(description=(
        "Intended use statement (device.intended_use)."))
    intended_use_zh: str | None = Field(description="Chinese intended use statement (device.intended_use_zh), or null.")
    registrations: list[Registration] = Field(description=(
        "Marketing authorisations (device.registrations), possibly none."))
    operating_threshold: Probability = Field(description=(
        "Score at or above which the device's call is positive (operating_threshold of the configuration)."))


class Period(Part):
    """The reporting period: a calendar period [first_day, last_day] in the device's time zone, i.e. predictions with
    start_utc <= predicted_at < end_utc."""

    label: PeriodLabel = Field(description="Canonical period label.")
    kind: Literal["quarter", "month", "year", "window"] = Field(description="Kind of period.")
    timezone: Text = Field(description=(
        "IANA time zone in which the period is a calendar period (monitoring.timezone of the configuration)."))
    first_day: Date = Field(description="First local calendar day of the period (YYYY-MM-DD).")
    last_day: Date = Field(description="Last local calendar day of the period, included (YYYY-MM-DD).")
    start_utc: TimestampUtc = Field(description=(
        "Start of the period (local midnight of first_day) as a UTC instant, included."))
    end_utc: TimestampUtc = Field(description=(
        "End of the period (local midnight after last_day) as a UTC instant, excluded."))


class Family(Part):
    """One decision family of a model version."""

    size: Count = Field(description="Number of stratum-metrics in the family.")
    method: Literal["holm", "bh"] = Field(description="holm (confirmatory) or bh (exploratory).")
    level: Probability = Field(description="rules.alpha (Holm, FWER) or rules.fdr (BH, FDR).")
    error_rate: Literal["FWER", "FDR"] = Field(description="The error rate the level controls.")


class ModelVersionFamilies(Part):
    """The two decision families of one model version."""

    confirmatory: Family = Field(description="The confirmatory family.")
    exploratory: Family = Field(description="The exploratory family.")


class DecisionFamilies(RootModel[dict[str, ModelVersionFamilies]]):
    """The decision families of each model version (keyed by model version), fixed by the configuration
    (monitor.domain.families)."""

    model_config = ConfigDict(strict=True, frozen=True)


class Rules(Part):
    """The monitoring rules, claims and strata the analysis applied (from the device configuration), the decision rule
    in words and the decision families."""

    period: Literal["quarter", "month", "year"] = Field(description=(
        "Kind of reporting period configured for the device (monitoring.period)."))
    timezone: Text = Field(description=(
        "IANA time zone of the periods (monitoring.timezone)."))
    min_positives: PositiveCount = Field(description=(
        "Minimum trials for testing sensitivity and PPV (monitoring.min_positives); below it the "
        "stratum-metric is insufficient."))
    min_negatives: PositiveCount = Field(description=(
        "Minimum trials for testing specificity and NPV (monitoring.min_negatives); below it the "
        "stratum-metric is insufficient."))
    fdr: Probability = Field(description=(
        "Benjamini-Hochberg false-discovery level over all tests of the run (monitoring.fdr)."))
    alpha: Probability = Field(description=(
        "One-sided level used for power, sample-size and minimal-detectable-drop figures (monitoring.alpha)."))
    power: Probability = Field(description=(
        "Target power for sample-size and minimal-detectable-drop figures (monitoring.power)."))
    confidence: Probability = Field(description="Two-sided confidence level of the intervals (monitoring.confidence).")
    interval_method: Literal["wilson", "clopper-pearson", "jeffreys"] = Field(description=(
        "Confidence-interval method (monitoring.interval_method)."))
    label_grace_days: Count = Field(description=(
        "Days after a period closes before its report is due (monitoring.label_grace_days)."))
    maturity_window_days: Count = Field(description=(
        "Follow-up in days after which a case's label is final (monitoring.maturity_window_days); a period "
        "that ended at least this long before the data cut-off is mature (maturity.mature)."))
    intervention_sla_days: Positive | None = Field(description=(
        "Service level in days for the time from AI result to intervention "
        "(monitoring.intervention_sla_days); time_to_intervention reports the share within it. Null when none"
        " is configured."))
    cusum_false_alarms_per_year: Positive = Field(description=(
        "Expected false alarms per year across all CUSUM charts of a model version "
        "(monitoring.cusum_false_alarms_per_year); sets each chart's in-control run length (sequential.cusum "
        "arl0)."))
    cusum_arl0: AboveOne = Field(description=(
        "Smallest in-control average run length, in confirmed cases, of any CUSUM chart "
        "(monitoring.cusum_arl0)."))
    cusum_cases_per_year: Positive | None | MISSING = Field(MISSING, description=(
        "Pre-specified confirmed cases per year that design the charts of a period with no cases known before"
        " it (monitoring.cusum_cases_per_year); null: rules.cusum_arl0."))
    cusum_drop: OpenUnit | None = Field(description=(
        "Rise of the event rate (drop of sensitivity or specificity) the CUSUM charts are designed to detect "
        "(monitoring.cusum_drop); null means each claim's margin."))
    ewma_lambda: PositiveUnit = Field(description=(
        "EWMA smoothing constant of the per-period rates (monitoring.ewma_lambda)."))
    ewma_limit: Positive = Field(description=(
        "EWMA control-limit width L in standard deviations (monitoring.ewma_limit)."))
    ewma_reference: Probability | None | MISSING = Field(MISSING, description=(
        "Fixed level the EWMA charts are centred on (monitoring.ewma_reference); null: the model version's "
        "established level."))
    ewma_reference_periods: PositiveCount | MISSING = Field(MISSING, description=(
        "Number of a model version's first periods pooled as its established level "
        "(monitoring.ewma_reference_periods)."))
    drift_reference_periods: Annotated[int, Field(le=8, ge=1)] = Field(description=(
        "Number of preceding periods pooled as the reference window (monitoring.drift_reference_periods; see "
        "reference_window)."))
    drift_baseline: str | None | MISSING = Field(MISSING, description=(
        "Fixed data-drift baseline compared besides the preceding periods (monitoring.drift_baseline): a "
        "period label or model_version_start; null: none."))
    volume_tolerance: OpenUnit | MISSING = Field(MISSING, description=(
        "Relative tolerance of the AI segmentation volume against the reviewed volume "
        "(monitoring.volume_tolerance; see volume_agreement)."))
    claims: Claims = Field(description=(
        "The registered claims (claims of the configuration, with every optional claim present as null)."))
    strata: list[AttributeName] = Field(description="Names of the stratification attributes, in configuration order.")
    intersections: list[Annotated[list[AttributeName], Field(min_length=2, max_length=3)]] = Field(description=(
        "The monitored intersections as attribute-name pairs or triples (configuration order), empty when none "
        "are monitored."))
    confirmatory: list[AttributeName] = Field(description=(
        "Attributes whose single strata are pre-specified as confirmatory (with the overall population and "
        "confirmatory_intersections: the confirmatory family, Holm at alpha)."))
    confirmatory_intersections: list[dict[str, StrictStr]] = Field(description=(
        "Intersections pre-specified as confirmatory (strata.confirmatory_intersections), each as attribute "
        "name -> label."))
    decision_rule: Text = Field(description=(
        "The pre-specified decision rule in words (monitor.domain.evaluation.DECISION_RULE)."))
    families: DecisionFamilies = Field(description=(
        "The decision families of each model version (keyed by model version), fixed by the configuration "
        "(monitor.domain.families)."))
