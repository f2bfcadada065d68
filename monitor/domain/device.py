"""Device configuration: identity, operating point, strata, claims and monitoring rules.

One YAML file per device, validated by these pydantic models; the JSON Schema in
``schemas/device.schema.json`` is generated from them (a test keeps both equal).
Loading the file is an adapter's job (:mod:`monitor.adapters.config_file`); this
module only defines and checks the content.
"""

from __future__ import annotations

import hashlib
import json
from itertools import combinations
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from monitor.domain.strata import AttributeSpec, StratumDefinition

__all__ = [
    "CONFIG_SCHEMA_VERSION",
    "Claim",
    "Claims",
    "DeviceConfig",
    "DeviceIdentity",
    "LabelPolicy",
    "MonitoringRules",
    "RateLimit",
    "Registration",
    "SamplingFractions",
    "StrataConfig",
    "StratumClaim",
]

CONFIG_SCHEMA_VERSION = 1
Probability = Annotated[float, Field(ge=0.0, le=1.0)]
ClaimedMetric = Literal["sensitivity", "specificity", "ppv", "npv"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Registration(_Strict):
    """A marketing authorisation in one jurisdiction (NMPA, FDA, EU, ...)."""

    jurisdiction: str = Field(min_length=1, description="Regulator, e.g. NMPA, FDA, EU-MDR.")
    number: str = Field(min_length=1, description="Registration / clearance / certificate number.")
    device_class: str | None = Field(default=None, description="Risk class in that jurisdiction.")
    classification_code: str | None = Field(default=None, description="E.g. 21-04-02 (NMPA).")


class DeviceIdentity(_Strict):
    """Who the device is: the data every report's control block prints."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", description="Device id used in the logs.")
    name: str = Field(min_length=1, description="Product name as registered (English).")
    name_zh: str | None = Field(default=None, description="Product name in Chinese (产品名称), for zh-CN reports.")
    manufacturer: str = Field(min_length=1, description="Legal manufacturer (registrant).")
    intended_use: str = Field(min_length=1, description="Intended use as registered (English).")
    intended_use_zh: str | None = Field(default=None, description="Intended use in Chinese (预期用途).")
    target_population: str | None = Field(default=None, description="Target population of the intended use.")
    registrations: list[Registration] = Field(
        default_factory=list, description="Marketing authorisations, one per jurisdiction.")


class StrataConfig(_Strict):
    """Stratification attributes and which intersections are monitored."""

    attributes: list[AttributeSpec] = Field(min_length=1, description="Stratification attributes, in report order.")
    intersections: Literal["all_pairs", "none"] | list[list[str]] = Field(
        default="all_pairs",
        description="'all_pairs' (default), 'none', or an explicit list of attribute-name pairs.",
    )
    confirmatory: list[str] = Field(
        default_factory=list,
        description=("Attributes whose single strata are pre-specified as confirmatory: with the overall population "
                     "and confirmatory_intersections they form the confirmatory family, decided by Holm at "
                     "monitoring.alpha (family-wise error rate)."),
    )
    confirmatory_intersections: list[dict[str, str]] = Field(
        default_factory=list,
        description=("Intersections pre-specified as confirmatory, each as attribute name -> stratum label for two "
                     "attributes of a monitored pair, e.g. {age_band: '>=75', emphysema_grade: severe}. Every other "
                     "monitored stratum is exploratory (Benjamini-Hochberg at monitoring.fdr)."),
    )

    @model_validator(mode="after")
    def _names_are_known(self) -> StrataConfig:
        names = [a.name for a in self.attributes]
        if len(set(names)) != len(names):
            raise ValueError(f"attribute names must be unique, got {names}")
        known = set(names)
        if isinstance(self.intersections, list):
            for pair in self.intersections:
                if len(pair) != 2 or pair[0] == pair[1]:
                    raise ValueError(f"intersections: {pair} is not a pair of two different attributes")
                unknown = [n for n in pair if n not in known]
                if unknown:
                    raise ValueError(f"intersections: unknown attribute(s) {unknown}; known: {sorted(known)}")
        unknown = [n for n in self.confirmatory if n not in known]
        if unknown:
            raise ValueError(f"confirmatory: unknown attribute(s) {unknown}; known: {sorted(known)}")
        monitored = {frozenset(p) for p in self.pairs()}
        for i, where in enumerate(self.confirmatory_intersections):
            names = set(where)
            if names - known:
                raise ValueError(f"confirmatory_intersections[{i}]: unknown attribute(s) {sorted(names - known)}; "
                                 f"known: {sorted(known)}")
            if len(names) != 2 or frozenset(names) not in monitored:
                raise ValueError(f"confirmatory_intersections[{i}]: must name the two attributes of a monitored "
                                 "intersection")
            for name, label in where.items():
                labels = self.attribute(name).labels()
                if labels and label not in labels:
                    raise ValueError(f"confirmatory_intersections[{i}].{name}: {label!r} is not one of {labels}")
        return self

    def pairs(self) -> list[tuple[str, str]]:
        """The monitored intersections as ordered attribute-name pairs."""
        names = [a.name for a in self.attributes]
        if self.intersections == "all_pairs":
            return list(combinations(names, 2))
        if self.intersections == "none":
            return []
        order = {n: i for i, n in enumerate(names)}
        return [tuple(sorted(p, key=order.__getitem__)) for p in self.intersections]  # type: ignore[misc]

    def attribute(self, name: str) -> AttributeSpec:
        """The attribute called ``name``."""
        for spec in self.attributes:
            if spec.name == name:
                return spec
        raise KeyError(name)


class Claim(_Strict):
    """A registered performance value and the clinically relevant margin below it."""

    value: Probability = Field(description="Claimed (registered) value of the metric.")
    margin: Probability = Field(description="Drop below the claim that is clinically relevant.")


class RateLimit(_Strict):
    """A registered maximum of a rate that must stay low, and the clinically relevant excess above it."""

    maximum: Probability = Field(description="Claimed (registered) maximum of the rate.")
    margin: Probability = Field(default=0.0, description="Excess above the maximum that is clinically relevant.")


class StratumClaim(_Strict):
    """A claim that applies to one stratum and to every intersection inside it."""

    where: dict[str, str] = Field(min_length=1, description="Attribute name -> stratum label.")
    sensitivity: Claim | None = Field(default=None, description="Claimed sensitivity in this stratum.")
    specificity: Claim | None = Field(default=None, description="Claimed specificity in this stratum.")
    ppv: Claim | None = Field(default=None, description="Claimed PPV in this stratum.")
    npv: Claim | None = Field(default=None, description="Claimed NPV in this stratum.")


class Claims(_Strict):
    """Overall claims, optionally refined per stratum."""

    sensitivity: Claim | None = Field(default=None, description="Claimed sensitivity and its margin.")
    specificity: Claim | None = Field(default=None, description="Claimed specificity and its margin.")
    ppv: Claim | None = Field(default=None, description="Claimed positive predictive value and its margin.")
    npv: Claim | None = Field(default=None, description="Claimed negative predictive value and its margin.")
    strata: list[StratumClaim] = Field(
        default_factory=list, description="Claims for particular strata (most specific match wins).")
    failure_rate: RateLimit | None = Field(default=None, description=(
        "Maximum share of studies for which the AI returned no result (result_status failed or no_result), "
        "per model version and single stratum; flagged when significantly above maximum + margin."))

    @model_validator(mode="after")
    def _at_least_one(self) -> Claims:
        if not any((self.sensitivity, self.specificity, self.ppv, self.npv)):
            raise ValueError("at least one overall claim (sensitivity, specificity, ppv or npv) is required")
        return self

    def claim_for(self, metric: ClaimedMetric, stratum: StratumDefinition) -> Claim | None:
        """The claim for ``metric`` in ``stratum``: the most specific stratum claim that
        contains the stratum (ties: the lower claimed value), else the overall claim."""
        best: tuple[int, float, Claim] | None = None
        for sc in self.strata:
            claim = getattr(sc, metric)
            if claim is None or not stratum.is_within(sc.where):
                continue
            key = (len(sc.where), -claim.value)
            if best is None or key > best[:2]:
                best = (key[0], key[1], claim)
        return best[2] if best else getattr(self, metric)


class SamplingFractions(_Strict):
    """Known probabilities with which a case's label is verified, by the AI's call (an audit design)."""

    positive_calls: Probability = Field(default=1.0, description="Share of positive (referred) AI calls verified.")
    negative_calls: Probability = Field(description="Share of negative (low-risk) AI calls verified, e.g. 0.10.")

    @model_validator(mode="after")
    def _positive(self) -> SamplingFractions:
        if self.positive_calls <= 0 or self.negative_calls <= 0:
            raise ValueError("sampling fractions must be above 0 (a call never verified cannot be corrected for)")
        return self


class LabelPolicy(_Strict):
    """How ground truth arrives: the verification design and when a label is final."""

    verification: Literal["complete", "audit_sample"] = Field(
        default="complete",
        description=("'complete': every case is meant to be verified (missing labels are pending, not sampled out); "
                     "'audit_sample': only the sampling_fractions of each AI call are verified by design, and every "
                     "estimate, test, chart and ticket uses the verification-corrected (inverse-probability "
                     "weighted) figures."))
    sampling_fractions: SamplingFractions | None = Field(
        default=None, description="The audit design's verification probabilities by AI call (audit_sample only).")
    provisional_sources: list[str] = Field(
        default_factory=list,
        description=("Label sources (ground-truth label_source) whose labels are final only once "
                     "monitoring.maturity_window_days have passed since the prediction, e.g. [follow_up]; labels "
                     "from other sources are final on arrival."))
    audit_relative_half_width: float = Field(
        default=0.5, gt=0, lt=1,
        description=("Audit plan: target half-width of the false-omission-rate interval relative to the rate "
                     "(0.5: within +/- 50% of itself); the plan also sizes the audit for the corrected "
                     "sensitivity to within +/- the claim's margin."))
    charted_when_mature: list[Literal["sensitivity", "specificity"]] = Field(
        default_factory=list,
        description=("Metrics whose CUSUM charts take each case only once its prediction is "
                     "monitoring.maturity_window_days old (per matured cohort) instead of when its label arrives: "
                     "for labels whose delay depends on the outcome (e.g. specificity when false positives are "
                     "confirmed by early biopsy but true negatives by 12-month follow-up), which would otherwise "
                     "reach the chart in a biased order."))
    min_expected_share: Probability = Field(
        default=0.8,
        description=("A stratum-metric's decision is provisional when fewer than this share of the labels expected "
                     "by the cut-off (from the label-arrival distribution per outcome) have arrived."))

    @model_validator(mode="after")
    def _design_complete(self) -> LabelPolicy:
        if self.verification == "audit_sample" and self.sampling_fractions is None:
            raise ValueError("verification audit_sample needs sampling_fractions")
        if self.verification == "complete" and self.sampling_fractions is not None:
            raise ValueError("sampling_fractions apply only to verification audit_sample")
        return self


class MonitoringRules(_Strict):
    """How a period is evaluated."""

    period: Literal["quarter", "month", "year"] = Field(default="quarter", description="Reporting period.")
    timezone: str = Field(default="UTC", description="IANA zone in which periods are calendar periods.")
    min_positives: int = Field(default=50, ge=1, description=(
        "Minimum denominator to test sensitivity (confirmed positives) and PPV (positive calls); "
        "below it the stratum is reported as insufficient evidence."))
    min_negatives: int = Field(default=50, ge=1, description=(
        "Minimum denominator to test specificity (confirmed negatives) and NPV (negative calls)."))
    fdr: Probability = Field(default=0.10, description=(
        "Benjamini-Hochberg false-discovery level of the exploratory family (every monitored stratum-metric "
        "with a claim that is not confirmatory)."))
    alpha: Probability = Field(default=0.05, description=(
        "One-sided family-wise error rate of the confirmatory family (Holm)."))
    power: Probability = Field(default=0.80, description="Target power of the decision rule for sample-size figures.")
    confidence: Probability = Field(default=0.95, description="Two-sided confidence level of intervals.")
    interval_method: Literal["wilson", "clopper-pearson", "jeffreys"] = Field(
        default="wilson", description="Confidence-interval method for proportions.")
    label_grace_days: int = Field(default=90, ge=0, description="Days after a period closes before its report is due.")
    maturity_window_days: int = Field(
        default=365, ge=0,
        description="Follow-up time after which a case's label is final (mature cohort), e.g. 365 for lung-nodule follow-up.")
    intervention_sla_days: float | None = Field(
        default=90, gt=0, description="Service level for time from AI result to intervention (share within it is reported).")
    cusum_false_alarms_per_year: float = Field(
        default=1.0, gt=0,
        description=("Expected false alarms per year across all CUSUM charts of a model version; each chart's "
                     "in-control run length ARL0 is its yearly case volume x number of charts / this budget."))
    cusum_arl0: float = Field(
        default=1_000, gt=1,
        description="Smallest in-control average run length (in confirmed cases) of any CUSUM chart.")
    cusum_cases_per_year: float | None = Field(
        default=None, gt=0,
        description=("Pre-specified confirmed cases per year of the device: designs the CUSUM charts of a period "
                     "with no cases known before it (a model version's first period, a back-fill), each chart "
                     "taken at this volume (conservative for small strata); unset: such charts use cusum_arl0."))
    cusum_drop: float | None = Field(
        default=None, gt=0, lt=1,
        description="Drop of sensitivity/specificity the CUSUM charts are designed to detect (default: the claim's margin).")
    ewma_lambda: float = Field(default=0.2, gt=0, le=1, description="EWMA smoothing constant for per-period rates.")
    ewma_limit: float = Field(default=2.962, gt=0, description="EWMA control-limit width L (2.962 gives ARL0 ~ 500 at lambda 0.2).")
    ewma_reference: Probability | None = Field(default=None, description=(
        "Level the EWMA charts are centred on; default: the model version's established level, pooled over its "
        "first ewma_reference_periods periods."))
    ewma_reference_periods: int = Field(default=2, ge=1, le=8, description=(
        "Number of a model version's first periods pooled as its established level (when ewma_reference is not set)."))
    drift_reference_periods: int = Field(
        default=1, ge=1, le=8, description="Number of preceding periods pooled as the data-drift reference window.")
    drift_baseline: str | None = Field(default=None, description=(
        "A fixed data-drift baseline compared besides the preceding periods, so that a persisting shift keeps being "
        "reported: a period label (e.g. 2025-Q1) or 'model_version_start' (each model version's first period)."))
    volume_tolerance: float = Field(
        default=0.25, gt=0, lt=1,
        description=("Relative tolerance of the AI segmentation volume against the reviewed volume: a case is outside "
                     "it when |AI - reviewed| > tolerance x reviewed (volume agreement section)."))


class DeviceConfig(_Strict):
    """The whole configuration of one monitored device (``schemas/device.schema.json``)."""

    schema_version: Literal[1] = Field(default=1, description="Version of this configuration format.")
    device: DeviceIdentity
    operating_threshold: Probability = Field(description="Score at or above which the call is positive.")
    strata: StrataConfig
    claims: Claims
    monitoring: MonitoringRules = Field(default_factory=MonitoringRules)
    labels: LabelPolicy = Field(default_factory=LabelPolicy, description="How ground truth arrives.")

    @field_validator("monitoring")
    @classmethod
    def _timezone_known(cls, rules: MonitoringRules) -> MonitoringRules:
        from monitor.domain.data_drift import MODEL_VERSION_START, baseline_period
        from monitor.domain.periods import resolve_timezone
        from monitor.errors import ConfigError

        resolve_timezone(rules.timezone)
        if rules.drift_baseline is not None and rules.drift_baseline != MODEL_VERSION_START:
            try:
                baseline_period(rules.drift_baseline)
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return rules

    @model_validator(mode="after")
    def _claims_refer_to_known_strata(self) -> DeviceConfig:
        for i, sc in enumerate(self.claims.strata):
            for name, label in sc.where.items():
                try:
                    spec = self.strata.attribute(name)
                except KeyError:
                    raise ValueError(f"claims.strata[{i}].where: unknown attribute {name!r}") from None
                if spec.labels() and label not in spec.labels():
                    raise ValueError(
                        f"claims.strata[{i}].where.{name}: {label!r} is not one of {spec.labels()}"
                    )
        return self

    def config_hash(self) -> str:
        """SHA-256 of the canonical JSON form: identifies the exact configuration an analysis used."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
