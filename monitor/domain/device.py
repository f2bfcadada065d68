"""Device configuration: identity, operating point, strata, claims and monitoring rules.

One YAML file per device, validated by these pydantic models; the JSON Schema in
``schemas/device.schema.json`` is generated from them (a test keeps both equal).
Loading the file is an adapter's job (:mod:`monitor.adapters.config_file`); this
module only defines and checks the content.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from datetime import date
from itertools import combinations
from typing import Annotated, Any, Literal, NoReturn

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, ValidatorFunctionWrapHandler, field_validator, model_validator
from pydantic_core import PydanticCustomError

from monitor.domain.device_kinds import Comparator, LesionMatching, MetricClaim, Outputs, ReviewTriggers
from monitor.domain.strata import AttributeSpec, StratumDefinition

__all__ = [
    "CONFIG_SCHEMA_VERSION",
    "Claim",
    "Claims",
    "DeviceConfig",
    "DeviceIdentity",
    "LabelPolicy",
    "ModelRelease",
    "MonitoringRules",
    "RateLimit",
    "Recipient",
    "ReferenceStandard",
    "Registration",
    "ReportRecords",
    "SamplingFractions",
    "StrataConfig",
    "ScannerModel",
    "SiteDeployment",
    "StratumClaim",
]

CONFIG_SCHEMA_VERSION = 1
Probability = Annotated[float, Field(ge=0.0, le=1.0)]
ClaimedMetric = Literal["sensitivity", "specificity", "ppv", "npv"]


#: A problem found by a cross-field check: where (a pydantic location below the model) and what.
Problem = tuple[tuple[str | int, ...], str]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _raise_all(title: str, problems: Sequence[Problem], earlier: ValidationError | None = None) -> NoReturn:
    """One :class:`ValidationError` carrying ``earlier``'s errors and ``problems`` (each at its own location), so
    that a configuration's every problem is reported in one pass."""
    details: list[Any] = []
    if earlier is not None:
        details += [{"type": PydanticCustomError(e["type"], e["msg"]), "loc": e["loc"], "input": e.get("input")}
                    for e in earlier.errors()]
    details += [{"type": PydanticCustomError("value_error", "Value error, " + message), "loc": loc, "input": None}
                for loc, message in problems]
    raise ValidationError.from_exception_data(title, details)


def _failed_fields(exc: ValidationError) -> set[object]:
    """The first location item of every error (the field of the model that failed)."""
    return {e["loc"][0] if e["loc"] else None for e in exc.errors()}


def _validate_reporting_all(
    cls: type[BaseModel], data: Any, handler: ValidatorFunctionWrapHandler,
    problems: Callable[[Any], list[Problem]], masked: Callable[[Any, ValidationError], list[Problem]],
) -> Any:
    """Validate with ``handler``; then run the model's cross-field checks (``problems`` of the valid model), or, when a
    field failed and pydantic would skip them, ``masked`` (the checks that can still run on the fields that passed)."""
    try:
        model = handler(data)
    except ValidationError as exc:
        extra = masked(data, exc)
        if extra:
            _raise_all(cls.__name__, extra, exc)
        raise
    found = problems(model)
    if found:
        _raise_all(cls.__name__, found)
    return model


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
    target_population_zh: str | None = Field(default=None, description="Target population in Chinese (适用人群).")
    contraindications: list[str] = Field(
        default_factory=list, description="Contraindications / populations the device is not intended for (English).")
    contraindications_zh: list[str] = Field(
        default_factory=list, description="Contraindications in Chinese (禁忌证), in the order of contraindications.")
    registrations: list[Registration] = Field(
        default_factory=list, description="Marketing authorisations, one per jurisdiction.")


class StrataConfig(_Strict):
    """Stratification attributes and which intersections are monitored."""

    attributes: list[AttributeSpec] = Field(min_length=1, description="Stratification attributes, in report order.")
    intersections: Literal["all_pairs", "none"] | list[list[str]] = Field(
        default="all_pairs",
        description=("'all_pairs' (default: every pair of attributes), 'none', or an explicit list of intersections, "
                     "each a pair or a triple of different attribute names, e.g. [age_band, sex, emphysema_grade]."),
    )
    confirmatory: list[str] = Field(
        default_factory=list,
        description=("Attributes whose single strata are pre-specified as confirmatory: with the overall population "
                     "and confirmatory_intersections they form the confirmatory family, decided by Holm at "
                     "monitoring.alpha (family-wise error rate)."),
    )
    confirmatory_intersections: list[dict[str, str]] = Field(
        default_factory=list,
        description=("Intersections pre-specified as confirmatory, each as attribute name -> stratum label for the "
                     "two or three attributes of a monitored intersection, e.g. {age_band: '>=75', emphysema_grade: "
                     "severe}. Every other monitored stratum (a monitored triple too) is exploratory "
                     "(Benjamini-Hochberg at monitoring.fdr)."),
    )

    @model_validator(mode="wrap")
    @classmethod
    def _names_are_known(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> StrataConfig:
        return _validate_reporting_all(cls, data, handler, StrataConfig._problems, StrataConfig._masked_problems)

    @staticmethod
    def _masked_problems(data: Any, exc: ValidationError) -> list[Problem]:
        """The name checks when only attributes failed (see :meth:`lenient`)."""
        lenient = StrataConfig.lenient(data)
        return [] if lenient is None else [p for p in lenient._problems() if p[0] != ("attributes",)]

    @staticmethod
    def lenient(data: Any) -> StrataConfig | None:
        """The strata section ``data`` that failed validation, for the cross-field checks pydantic skipped: when
        the other fields have valid types, each failed attribute that has a name counts as a known attribute with open-ended
        labels (so that no name or label is wrongly refused); None when even that cannot be built."""
        if not isinstance(data, dict):
            return None
        raw_attributes = data.get("attributes")
        if not isinstance(raw_attributes, list) or not raw_attributes:
            return None
        specs: list[AttributeSpec] = []
        for raw in raw_attributes:
            try:
                specs.append(AttributeSpec.model_validate(raw))
            except ValidationError:
                name = raw.get("name") if isinstance(raw, dict) else None
                if not isinstance(name, str):
                    return None
                specs.append(AttributeSpec.model_construct(name=name))
        fields: dict[str, Any] = {}
        for key, info in StrataConfig.model_fields.items():
            if key != "attributes":
                value = data[key] if key in data else info.get_default(call_default_factory=True)
                try:  # the field's own type (its cross-field checks are what the caller runs)
                    fields[key] = TypeAdapter(info.annotation).validate_python(value)
                except ValidationError:
                    return None
        return StrataConfig.model_construct(attributes=specs, **fields)

    def _problems(self) -> list[Problem]:
        problems: list[Problem] = []
        names = [a.name for a in self.attributes]
        if len(set(names)) != len(names):
            problems.append((("attributes",), f"attribute names must be unique, got {names}"))
        known = set(names)
        if isinstance(self.intersections, list):
            seen: set[frozenset[str]] = set()
            for i, entry in enumerate(self.intersections):
                if len(entry) not in (2, 3) or len(set(entry)) != len(entry):
                    problems.append((("intersections", i), f"{entry} is not a pair of two different attributes "
                                                           "or a triple of three"))
                    continue
                unknown = [n for n in entry if n not in known]
                if unknown:
                    problems.append((("intersections", i), f"unknown attribute(s) {unknown} (known: {sorted(known)})"))
                elif frozenset(entry) in seen:
                    problems.append((("intersections", i), "lists an intersection listed before"))
                seen.add(frozenset(entry))
        unknown = [n for n in self.confirmatory if n not in known]
        if unknown:
            problems.append((("confirmatory",), f"unknown attribute(s) {unknown} (known: {sorted(known)})"))
        monitored = {frozenset(g) for g in self._listed_intersections()
                     if set(g) <= known and len(g) in (2, 3) and len(set(g)) == len(g)}
        for i, where in enumerate(self.confirmatory_intersections):
            where_names = set(where)
            if where_names - known:
                problems.append((("confirmatory_intersections", i),
                                 f"unknown attribute(s) {sorted(where_names - known)} (known: {sorted(known)})"))
                continue
            if frozenset(where_names) not in monitored:
                problems.append((("confirmatory_intersections", i),
                                 "must name the two or three attributes of a monitored intersection"))
                continue
            for name, label in where.items():
                labels = self.attribute(name).labels()
                if labels and label not in labels:
                    problems.append((("confirmatory_intersections", i, name), f"{label!r} is not one of {labels}"))
        return problems

    def _listed_intersections(self) -> list[list[str]]:
        names = [a.name for a in self.attributes]
        if self.intersections == "all_pairs":
            return [list(p) for p in combinations(names, 2)]
        if self.intersections == "none":
            return []
        return [list(entry) for entry in self.intersections]

    def monitored_intersections(self) -> list[tuple[str, ...]]:
        """Every monitored intersection (pairs and triples), in listed order, each as attribute names in
        configuration order: the groupings of levels 2 and 3 every stage enumerates."""
        order = {a.name: i for i, a in enumerate(self.attributes)}
        return [tuple(sorted(entry, key=order.__getitem__)) for entry in self._listed_intersections()]

    def pairs(self) -> list[tuple[str, str]]:
        """The monitored pairwise intersections only (see :meth:`monitored_intersections` for every level)."""
        return [g for g in self.monitored_intersections() if len(g) == 2]  # type: ignore[misc]

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
    metrics: list[MetricClaim] = Field(default_factory=list, description=(
        "Claims on any other metric (accuracy, AUC, agreement with the reader, false-negative rate of the lowest "
        "level, low-confidence and review rates, lesion sensitivity, false positives per scan, share within "
        "the SLA), overall or per stratum; decided per model version and stratum like the proportions "
        "(monitor.domain.metric_claims)."))

    @model_validator(mode="after")
    def _at_least_one(self) -> Claims:
        if not any((self.sensitivity, self.specificity, self.ppv, self.npv, self.metrics)):
            raise ValueError("at least one overall claim (sensitivity, specificity, ppv, npv or one of metrics) "
                             "is required")
        return self

    def metric_claim_for(self, metric: str, stratum: StratumDefinition) -> MetricClaim | None:
        """The claim of ``metrics`` for ``metric`` in ``stratum``: the most specific one whose ``where``
        contains the stratum (ties: the stricter goal), or None."""
        best: tuple[int, float, MetricClaim] | None = None
        for claim in self.metrics:
            if claim.metric != metric or not stratum.is_within(claim.where):
                continue
            strict = -claim.goal if claim.direction == "minimum" else claim.goal
            key = (len(claim.where), strict)
            if best is None or key > best[:2]:
                best = (key[0], key[1], claim)
        return best[2] if best else None

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

    @field_validator("timezone")
    @classmethod
    def _timezone_known(cls, name: str) -> str:
        from monitor.domain.periods import resolve_timezone

        resolve_timezone(name)  # a ConfigError is a ValueError: reported with the other fields' errors
        return name

    @field_validator("drift_baseline")
    @classmethod
    def _baseline_readable(cls, text: str | None) -> str | None:
        from monitor.domain.data_drift import MODEL_VERSION_START, baseline_period
        from monitor.errors import ConfigError

        if text is not None and text != MODEL_VERSION_START:
            try:
                baseline_period(text)
            except ConfigError:
                raise ValueError("is neither a period label (2025Q1, 2025-03, 2025, 2025-01-01..2025-03-31) nor "
                                 f"{MODEL_VERSION_START!r}") from None
        return text


#: Ground-truth label sources a reference standard may be declared for (the ground-truth log's ``source``).
LabelSource = Literal["histopathology", "follow_up", "adjudication", "audit_sample", "clinical_diagnosis", "other"]


class ReferenceStandard(_Strict):
    """How one label source establishes the truth of an endpoint (regulatory.md section 2, item 6: the
    reference standard per endpoint, who labelled with which qualification, the adjudication rule)."""

    label_source: LabelSource = Field(description="Ground-truth label_source this definition applies to.")
    endpoint: str = Field(default="actionable finding (patient level)", min_length=1,
                          description="The endpoint the label decides, e.g. 'actionable nodule (patient level)'.")
    definition: str = Field(min_length=1, description="What the reference standard is (English).")
    definition_zh: str | None = Field(default=None, description="The definition in Chinese (参考标准).")
    endpoint_zh: str | None = Field(default=None, description="The endpoint in Chinese (终点).")
    labelled_by: str = Field(min_length=1, description="Who labels: role, e.g. 'thoracic pathologist'.")
    labelled_by_zh: str | None = Field(default=None, description="Who labels, in Chinese (标注者).")
    qualification: str = Field(min_length=1, description="Their qualification, e.g. 'board-certified, >= 5 years'.")
    qualification_zh: str | None = Field(default=None, description="Their qualification, in Chinese (资质).")
    adjudication: str = Field(min_length=1, description="Adjudication rule, e.g. 'two readers, a third on disagreement'.")
    adjudication_zh: str | None = Field(default=None, description="Adjudication rule, in Chinese (仲裁规则).")
    follow_up_days: int | None = Field(default=None, ge=0, description="Follow-up length in days (None: not follow-up based).")


class SiteDeployment(_Strict):
    """When a model version ran at one site."""

    site_id: str = Field(min_length=1, description="Site id (site_id of the prediction log).")
    deployed_on: date = Field(description="First day the version ran at the site.")
    retired_on: date | None = Field(default=None, description="Last day it ran there (None: still running).")

    @model_validator(mode="after")
    def _ordered(self) -> SiteDeployment:
        if self.retired_on is not None and self.retired_on < self.deployed_on:
            raise ValueError("retired_on is before deployed_on")
        return self


class ModelRelease(_Strict):
    """The lineage of one model version (regulatory.md section 2, item 3): what exactly runs and where."""

    version: str = Field(min_length=1, description="Model version as in the prediction log (model_version).")
    full_version: str | None = Field(default=None, description="Full release version, e.g. 2.1.0+build.4411.")
    model_hash: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$",
                                   description="SHA-256 of the released model artefact (64 hex digits).")
    operating_thresholds: dict[str, Probability] = Field(
        default_factory=dict, description="Named operating points of this version (empty: operating_threshold).")
    pccp_version: str | None = Field(default=None, description="Version of the PCCP the release was made under.")
    release_date: date | None = Field(default=None, description="Release date of the version.")
    deployments: list[SiteDeployment] = Field(default_factory=list, description="Deployment dates per site.")


class ScannerModel(_Strict):
    """A scanner model installed at the sites (regulatory.md section 2, item 4: manufacturer and model)."""

    manufacturer: str = Field(min_length=1, description="Manufacturer as the logs name it (the scanner stratum label).")
    model: str = Field(min_length=1, description="Manufacturer's model name, e.g. 'Revolution CT'.")
    sites: list[str] = Field(default_factory=list, description="Sites where it is installed.")


class Recipient(_Strict):
    """Who receives each report revision."""

    role: str = Field(min_length=1, description="Role, e.g. 'QA lead' or 'notified body'.")
    name: str | None = Field(default=None, description="Person or organisation.")


class ReportRecords(_Strict):
    """Distribution and retention of the periodic reports (regulatory.md section 2, item 19)."""

    distribution: list[Recipient] = Field(default_factory=list, description="Distribution list of the report.")
    retention_years: int = Field(ge=1, description="Years each report and its evidence are kept.")
    retention_basis: str | None = Field(default=None, description="Why that long, e.g. the regulation it follows.")


class PccpModificationEntry(_Strict):
    """One modification the device's authorised PCCP covers (FDA PCCP final guidance, Dec 2024, regulatory.md 1.2):
    a CAPA ticket's proposed modification of this type is ``within_pccp`` with this id
    (:mod:`monitor.domain.capa.pathway`)."""

    id: str = Field(min_length=1, description="Modification id in the PCCP's modification protocol, e.g. 'M1'.")
    modification_type: Literal["threshold_recalibration", "data_driven_retrain", "algorithm_change"] = Field(
        description="The kind of change the modification covers.")
    description: str | None = Field(default=None, description="What the modification protocol allows, in words.")


class Pccp(_Strict):
    """The device's authorised predetermined change control plan (PCCP)."""

    version: str = Field(min_length=1, description="PCCP version, as the model releases name it (pccp_version).")
    modifications: list[PccpModificationEntry] = Field(
        default_factory=list, description="The modifications the PCCP covers.")


#: Configuration fields added after schema version 1: they enter the configuration hash only when set, so that
#: an unchanged configuration keeps the hash its stored analyses and count cells recorded.
_LATER_FIELDS: dict[str, Any] = {"reference_standards": [], "model_versions": [], "scanners": [], "records": None,
                                  "pccp": None, "outputs": None, "review": None, "comparator": None, "lesions": None}
_LATER_CLAIM_FIELDS: dict[str, Any] = {"metrics": []}
_LATER_IDENTITY_FIELDS: dict[str, Any] = {"target_population_zh": None, "contraindications": [],
                                          "contraindications_zh": []}


class DeviceConfig(_Strict):
    """The whole configuration of one monitored device (``schemas/device.schema.json``)."""

    schema_version: Literal[1] = Field(default=1, description="Version of this configuration format.")
    device: DeviceIdentity
    operating_threshold: Probability = Field(description="Score at or above which the call is positive.")
    strata: StrataConfig
    claims: Claims
    monitoring: MonitoringRules = Field(default_factory=MonitoringRules)
    labels: LabelPolicy = Field(default_factory=LabelPolicy, description="How ground truth arrives.")
    reference_standards: list[ReferenceStandard] = Field(
        default_factory=list, description="The reference standard of each ground-truth label source.")
    model_versions: list[ModelRelease] = Field(
        default_factory=list, description="Lineage of the model versions: hash, thresholds, PCCP, deployments.")
    scanners: list[ScannerModel] = Field(default_factory=list, description="Scanner models installed at the sites.")
    records: ReportRecords | None = Field(default=None, description="Distribution list and retention of the reports.")
    pccp: Pccp | None = Field(default=None, description="The authorised PCCP and the modifications it covers.")
    outputs: Outputs | None = Field(default=None, description=(
        "What one AI result is: a binary call (default, also when unset) or one of several ordered levels."))
    review: ReviewTriggers | None = Field(default=None, description=(
        "Which results go to secondary review (the review worklist), and so what the review rate counts."))
    comparator: Comparator | None = Field(default=None, description=(
        "A reference reader or guideline score logged on the same studies (comparator_score / comparator_label)."))
    lesions: LesionMatching | None = Field(default=None, description=(
        "Lesion-level detection: the matching rule of AI findings to reference lesions and the FROC figures."))

    @model_validator(mode="wrap")
    @classmethod
    def _claims_refer_to_known_strata(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> DeviceConfig:
        return _validate_reporting_all(cls, data, handler,
                                       lambda c: (_claim_strata_problems(c.strata, c.claims) + _lineage_problems(c)
                                                  + _metric_claim_problems(c)),
                                       DeviceConfig._masked_problems)

    @staticmethod
    def _masked_problems(data: Any, exc: ValidationError) -> list[Problem]:
        """The claims-strata check when other sections (or some attributes) failed."""
        if not isinstance(data, dict) or "claims" in _failed_fields(exc):
            return []
        try:
            claims = Claims.model_validate(data.get("claims"))
        except ValidationError:
            return []
        try:
            strata: StrataConfig | None = StrataConfig.model_validate(data.get("strata"))
        except ValidationError:
            strata = StrataConfig.lenient(data.get("strata"))
        return [] if strata is None else _claim_strata_problems(strata, claims)

    def config_hash(self) -> str:
        """SHA-256 of the canonical JSON form: identifies the exact configuration an analysis used."""
        data = self.model_dump(mode="json")
        for fields, into in ((_LATER_FIELDS, data), (_LATER_IDENTITY_FIELDS, data["device"]),
                             (_LATER_CLAIM_FIELDS, data["claims"])):
            for name, default in fields.items():
                if into[name] == default:
                    del into[name]
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _claim_strata_problems(strata: StrataConfig, claims: Claims) -> list[Problem]:
    """Stratum claims that name an unknown attribute or label."""
    problems: list[Problem] = []
    for i, sc in enumerate(claims.strata):
        for name, label in sc.where.items():
            try:
                spec = strata.attribute(name)
            except KeyError:
                problems.append((("claims", "strata", i, "where"), f"unknown attribute {name!r}"))
                continue
            if spec.labels() and label not in spec.labels():
                problems.append((("claims", "strata", i, "where", name), f"{label!r} is not one of {spec.labels()}"))
    for i, mc in enumerate(claims.metrics):
        for name, label in mc.where.items():
            try:
                spec = strata.attribute(name)
            except KeyError:
                problems.append((("claims", "metrics", i, "where"), f"unknown attribute {name!r}"))
                continue
            if spec.labels() and label not in spec.labels():
                problems.append((("claims", "metrics", i, "where", name), f"{label!r} is not one of {spec.labels()}"))
    return problems


def _lineage_problems(config: DeviceConfig) -> list[Problem]:
    """A model version or a label source declared twice."""
    problems: list[Problem] = []
    for field, items, key in (("model_versions", config.model_versions, "version"),
                              ("reference_standards", config.reference_standards, "label_source")):
        seen: set[str] = set()
        for i, item in enumerate(items):
            value = getattr(item, key)
            if value in seen:
                problems.append(((field, i, key), f"{value!r} is declared twice"))
            seen.add(value)
    return problems


#: Claimable metrics that need a part of the configuration: (field, what it must be).
_METRIC_NEEDS: dict[str, tuple[str, str]] = {
    "lowest_level_fnr": ("outputs", "an ordinal output (outputs.type: ordinal)"),
    "weighted_kappa": ("outputs", "an ordinal output (outputs.type: ordinal)"),
    "review_rate": ("review", "review triggers (review)"),
    "lesion_sensitivity": ("lesions", "lesion matching (lesions)"),
    "fp_per_scan": ("lesions", "lesion matching (lesions)"),
    "within_sla": ("monitoring", "monitoring.intervention_sla_days"),
}


#: Prediction-log columns holding the AI's output: never a stratification input.
_OUTPUT_COLUMNS = frozenset({"score", "predicted_label", "low_confidence", "comparator_score", "comparator_label"})


def _metric_claim_problems(config: DeviceConfig) -> list[Problem]:
    """A metric claimed where the configuration lacks what it is measured with, and a stratum defined by the AI's
    own output (its strata would select on what is measured)."""
    problems: list[Problem] = []
    present = {
        "outputs": config.outputs is not None and config.outputs.type == "ordinal",
        "review": config.review is not None,
        "lesions": config.lesions is not None,
        "monitoring": config.monitoring.intervention_sla_days is not None,
    }
    for i, spec in enumerate(config.strata.attributes):
        if spec.source_column in _OUTPUT_COLUMNS:
            problems.append((("strata", "attributes", i, "column"),
                             f"{spec.source_column!r} is the AI's output: strata defined by it select on the outcome "
                             "being measured (declare ordered outputs with outputs.type: ordinal instead)"))
    for i, claim in enumerate(config.claims.metrics):
        need = _METRIC_NEEDS.get(claim.metric)
        if need is not None and not present[need[0]]:
            problems.append((("claims", "metrics", i, "metric"), f"{claim.metric} needs {need[1]}"))
    return problems
