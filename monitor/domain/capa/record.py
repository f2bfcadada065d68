"""The CAPA record of a ticket: the 12 items of a corrective-action / retraining ticket (regulatory.md section 3).

One pydantic model per item, in the order of section 3. A ticket opened by an analysis gets its record in the
same transaction: identification and the trigger evidence are filled from the finding and its analysis run
(and never change afterwards), the suggested containment, severity and acceptance criteria from the ticket's
plan (:func:`monitor.domain.tickets.plan_ticket`), and the root-cause evidence the analysis already has.
People fill the rest, section by section (:data:`USER_FIELDS`); the workflow
(:mod:`monitor.domain.capa.workflow`) says what must be filled before each transition.

The record is ``schemas/tickets.schema.json``'s ``capa`` (generated from these models by schemas/generate.py).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field

from monitor.domain.capa.pathway import PathwayDecision
from monitor.domain.capa.reportability import Jurisdiction

__all__ = [
    "AcceptanceCriteria", "AcceptanceRule", "Approvals", "CapaRecord", "CapaSignature", "CapaType", "ChartState",
    "Containment", "DataManagementPlan", "DriftEvidence", "ErrorReview", "Identification", "ImpactAssessment",
    "JurisdictionAssessment", "LabelMaturity", "Modification", "RaciEntry", "RegistrationRef", "Reportability",
    "RiskAssessment", "RootCause", "RootCauseEvidence", "SECTIONS", "SIGNATURE_MEANINGS", "StratumVsRest",
    "TriggerEvidence", "USER_FIELDS", "VerificationOfEffectiveness", "VerificationResult", "record_sha256",
]

CapaType = Literal["capa", "problem_report", "retrain_request", "fsca_assessment"]
Severity = Literal["critical", "major", "minor"]
SafetyClass = Literal["A", "B", "C"]
TriageDecision = Literal["contain_and_investigate", "investigate", "monitor_only", "escalate_fsca"]
RootCauseCategory = Literal["data_shift", "population_mix", "label_or_reference_change", "software_environment",
                            "concept_shift", "feedback_loop", "other"]
RaciRole = Literal["algorithm_owner", "clinical_lead", "statistician", "qa", "ra"]
#: Signature meanings of a CAPA record (21 CFR 11.50(a)(3)); ``approved`` is the QA approval that closing needs.
SIGNATURE_MEANINGS = ("reviewed", "approved")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RegistrationRef(_Section):
    """A marketing authorisation of the product (from the device configuration)."""

    jurisdiction: str = Field(description="Regulator, e.g. NMPA, FDA, EU-MDR.")
    number: str = Field(description="Registration / clearance / certificate number.")
    device_class: str | None = Field(default=None, description="Risk class in that jurisdiction.")


class Identification(_Section):
    """Item 1: what the ticket is and what it concerns."""

    capa_type: CapaType = Field(default="retrain_request", description="CAPA, problem report, retrain request or "
                                "field-safety-corrective-action (FSCA) assessment.")
    device_id: str = Field(description="Device id.")
    product: str = Field(description="Product name as registered.")
    registrations: list[RegistrationRef] = Field(default_factory=list, description="Registration numbers of the "
                                                 "product (device configuration).")
    model_versions: list[str] = Field(description="Affected model version(s).")
    sites: list[str] = Field(default_factory=list, description="Affected sites (the site ids of the period, or the "
                             "site of a site stratum).")
    report_ids: list[str] = Field(default_factory=list, description="Linked report revisions.")
    alarm_ids: list[str] = Field(default_factory=list, description="Linked findings and alarms (finding ids).")


class ChartState(_Section):
    """The CUSUM chart of the stratum-metric at the trigger (analysis document sequential.cusum)."""

    state: Literal["alarm", "in_control"] = Field(description="Whether the chart alarmed in the period.")
    statistic: float = Field(description="CUSUM statistic S_t at the period's end.")
    h: float = Field(description="Decision limit h.")
    arl0: float | None = Field(default=None, description="Designed in-control average run length.")
    alarms_in_period: int = Field(description="Alarms in the period.")
    first_alarm: Any = Field(default=None, description="The first alarm of the period (as in the analysis document).")


class LabelMaturity(_Section):
    """How complete the labels behind the trigger were."""

    completeness: float | None = Field(default=None, description="Share of the stratum's predictions with ground "
                                       "truth by the cut-off.")
    mature: bool | None = Field(default=None, description="Whether the stratum's labels were mature.")
    expected_share: float | None = Field(default=None, description="Share of the expected labels that were final.")


class TriggerEvidence(_Section):
    """Item 2 (immutable): the finding that opened the ticket, as the analysis run computed it."""

    finding_id: str = Field(description="The finding (findings[].finding_id of the analysis document).")
    run_id: str = Field(description="The analysis run.")
    period: str = Field(description="The analysed period.")
    data_cutoff: str = Field(description="The run's data cut-off (UTC).")
    detected_at: datetime = Field(description="Detection time: when the analysis run flagged the finding (UTC).")
    input_fingerprint: str = Field(description="Data snapshot: SHA-256 over the ingestion batches the run read.")
    config_hash: str = Field(description="SHA-256 of the device configuration the run applied.")
    model_version: str = Field(description="Model version.")
    metric: str = Field(description="Metric.")
    stratum: str = Field(description="Stratum key.")
    stratum_definition: str = Field(description="The stratum in words: each attribute and its level.")
    registered_value: float = Field(description="The registered (claimed) value.")
    margin: float = Field(description="Non-inferiority margin of the claim.")
    performance_goal: float = Field(description="claim - margin.")
    observed: float = Field(description="Observed estimate.")
    ci_low: float | None = Field(description="Lower limit of the confidence interval.")
    ci_high: float | None = Field(description="Upper limit of the confidence interval.")
    confidence: float = Field(description="Confidence level of the interval.")
    test: str = Field(description="The decision test, in words.")
    p_value: float | None = Field(description="Exact one-sided p-value against the goal (raw).")
    q_value: float | None = Field(description="Multiplicity-adjusted p-value in its family.")
    family: str | None = Field(default=None, description="Decision family (confirmatory or exploratory).")
    successes: int = Field(description="Successes (e.g. true positives).")
    trials: int = Field(description="Trials (n; for sensitivity the confirmed positives, n-positive).")
    trials_are: str = Field(description="What the trials count (confirmed positives, confirmed negatives, ...).")
    label_maturity: LabelMaturity = Field(description="Label maturity of the stratum.")
    chart: ChartState | None = Field(default=None, description="CUSUM chart state; null without a chart.")


class RiskAssessment(_Section):
    """Item 3: severity, hazard and harm, risk-file link, software safety class and the triage decision."""

    severity: Severity | None = Field(default=None, description="Severity (from the ticket's plan unless changed).")
    hazard: str | None = Field(default=None, description="Hazard, e.g. missed actionable nodule.")
    harm: str | None = Field(default=None, description="Harm, e.g. delayed diagnosis of lung cancer.")
    risk_file_item: str | None = Field(default=None, description="ISO 14971 risk-management-file item id.")
    probability_before: str | None = Field(default=None, description="Probability of harm before the correction.")
    probability_after: str | None = Field(default=None, description="Probability of harm after the correction.")
    iec62304_class: SafetyClass | None = Field(default=None, description="IEC 62304 software safety class.")
    triage_decision: TriageDecision | None = Field(default=None, description="Patient-safety triage decision.")
    triage_rationale: str | None = Field(default=None, description="Why.")
    triaged_by: str | None = Field(default=None, description="Who made the triage decision (set on saving).")
    triaged_at: datetime | None = Field(default=None, description="When (set on saving).")


class JurisdictionAssessment(_Section):
    """Item 4, one jurisdiction: the decision, its rationale and its clock."""

    jurisdiction: Jurisdiction = Field(description="NMPA, EU-MDR or FDA.")
    event_class: str = Field(description="Event class (monitor.domain.capa.reportability.EVENT_CLASSES).")
    decision: Literal["reportable", "not_reportable"] = Field(description="Derived from the event class.")
    rationale: str = Field(min_length=1, description="Why.")
    aware_at: datetime = Field(description="When the manufacturer became aware (default: the detection time).")
    deadline: datetime | None = Field(description="Reporting deadline computed from aware_at; null without a clock.")
    reference: str = Field(description="The rule the deadline comes from.")
    assessed_by: str = Field(description="Who assessed.")
    assessed_at: datetime = Field(description="When.")


class Reportability(_Section):
    """Item 4: the reportability assessment per jurisdiction."""

    assessments: list[JurisdictionAssessment] = Field(default_factory=list, description="One per jurisdiction.")


class Containment(_Section):
    """Item 5: containment / interim measures and their effective date."""

    suggested: str | None = Field(default=None, description="The measure suggested when the ticket opened.")
    measures: str | None = Field(default=None, description="The measures taken.")
    effective_at: datetime | None = Field(default=None, description="When they took effect.")
    decided_by: str | None = Field(default=None, description="Who decided (set on saving).")


class DriftEvidence(_Section):
    """One input feature's drift in the trigger run (analysis document data_drift)."""

    reference: str = Field(description="The reference it was compared with.")
    feature: str = Field(description="Feature.")
    method: str = Field(description="Test or distance.")
    value: float | None = Field(default=None, description="The statistic or p-value.")
    effect_size: float | None = Field(default=None, description="Effect size.")
    drifted: bool = Field(description="Whether the pre-specified rule called it drifted.")


class StratumVsRest(_Section):
    """The stratum against the rest of the population (analysis document stratum_vs_rest)."""

    estimate: float | None = Field(description="The stratum's estimate.")
    reference_estimate: float | None = Field(description="The rest's estimate.")
    difference: float | None = Field(description="Difference (stratum - rest).")
    ci_low: float | None = Field(description="Lower limit of the difference's interval.")
    ci_high: float | None = Field(description="Upper limit of the difference's interval.")
    p_value: float | None = Field(description="Two-sided p-value.")


class ErrorReview(_Section):
    """The errors to review in the stratum (e.g. false negatives of a sensitivity shortfall)."""

    error_kind: str = Field(description="false_negatives or false_positives.")
    errors: int = Field(description="Number of errors in the stratum in the trigger run.")
    reviewed: int | None = Field(default=None, description="How many were reviewed.")
    summary: str | None = Field(default=None, description="What the review found.")


class RootCauseEvidence(_Section):
    """What the trigger run's analysis already says about causes."""

    input_drift: list[DriftEvidence] = Field(default_factory=list, description="Drift rows of the run.")
    stratum_vs_rest: StratumVsRest | None = Field(default=None, description="Stratum against the rest.")
    error_review: ErrorReview | None = Field(default=None, description="Errors to review.")


class RootCause(_Section):
    """Item 6: investigation plan and findings, with the evidence the analysis has."""

    plan: str | None = Field(default=None, description="Investigation plan.")
    category: RootCauseCategory | None = Field(default=None, description="Root-cause category.")
    findings: str | None = Field(default=None, description="What the investigation found.")
    evidence: RootCauseEvidence = Field(default_factory=RootCauseEvidence, description="Evidence from the analysis.")
    updated_by: str | None = Field(default=None, description="Who last changed it.")


class Modification(_Section):
    """Item 7: the proposed modification and its regulatory pathway (decided by the pre-specified rule)."""

    modification_type: Literal["threshold_recalibration", "data_driven_retrain", "algorithm_change"] | None = Field(
        default=None, description="Type of change.")
    description: str | None = Field(default=None, description="What changes.")
    validation_run_id: str | None = Field(default=None, description="Analysis run of the modified model whose "
                                          "counts the pathway test uses (else the trigger's).")
    pathway: PathwayDecision | None = Field(default=None, description="Regulatory pathway (computed).")


class DataManagementPlan(_Section):
    """Item 8: new data, annotation roles and the sequestered test set."""

    training_data: str | None = Field(default=None, description="New training/tuning data: sources and dates.")
    inclusion_exclusion: str | None = Field(default=None, description="Inclusion and exclusion criteria.")
    annotation_protocol: str | None = Field(default=None, description="Annotation protocol.")
    annotator: str | None = Field(default=None, description="Annotator role holder.")
    reviewer: str | None = Field(default=None, description="Reviewer role holder (not the annotator).")
    arbitrator: str | None = Field(default=None, description="Arbitrator role holder (neither of the others).")
    test_set_sequestration: str | None = Field(default=None, description="How the test set is kept out of training.")
    representativeness: str | None = Field(default=None, description="How the failing stratum is represented.")


class AcceptanceRule(_Section):
    """The closing rule fixed when the ticket opened (monitor.domain.tickets.acceptance_criteria)."""

    metric: str = Field(description="Metric.")
    stratum: str = Field(description="Stratum.")
    confidence: float = Field(description="Confidence level of the bound.")
    stratum_lower_bound_at_least: float | None = Field(default=None, description=(
        "The stratum's lower bound must reach this (a claimed minimum); null for a claimed maximum."))
    stratum_upper_bound_at_most: float | None = Field(default=None, description=(
        "The stratum's upper bound must stay at or below this (a claimed maximum of claims.metrics, a rate that "
        "must stay low); absent for a claimed minimum."))
    min_trials: int = Field(description="Minimum cases in the stratum.")
    other_strata_estimate_at_least: str = Field(description="The rule for the other strata.")
    text: str = Field(description="The criteria in words.")


class AcceptanceCriteria(_Section):
    """Item 9: the performance-evaluation protocol, fixed before unblinding."""

    rule: AcceptanceRule | None = Field(default=None, description="The closing rule checked on the validation run.")
    primary_endpoint: str | None = Field(default=None, description="Primary endpoint and NI margin.")
    no_stratum_degrades_beyond: float | None = Field(default=None, description="delta: no stratum may drop more.")
    statistical_methods: str | None = Field(default=None, description="Methods, sample size and power.")
    regression_tests: str | None = Field(default=None, description="Regression tests.")
    robustness_checks: str | None = Field(default=None, description="Cybersecurity and robustness checks.")
    frozen_at: datetime | None = Field(default=None, description="When they were frozen (later edits are refused).")
    frozen_by: str | None = Field(default=None, description="Who froze them.")


class ImpactAssessment(_Section):
    """Item 10: benefits, risks and effects of the change."""

    benefits_risks: str | None = Field(default=None, description="Benefits and risks of the change.")
    other_strata: str | None = Field(default=None, description="Effect on other strata.")
    labeling: str | None = Field(default=None, description="Labeling / IFU changes.")
    user_training: str | None = Field(default=None, description="User training.")
    communication_plan: str | None = Field(default=None, description="Communication plan.")


class VerificationResult(_Section):
    """The analysis of a newer model version that met the acceptance criteria."""

    run_id: str = Field(description="The qualifying analysis run.")
    model_version: str = Field(description="The model version that met them.")
    at: datetime = Field(description="When it was checked.")


class VerificationOfEffectiveness(_Section):
    """Item 11: the post-deployment monitoring plan of the change."""

    monitoring_plan: str | None = Field(default=None, description="Charts reset or restarted with a new baseline.")
    window: str | None = Field(default=None, description="Window length.")
    success_criterion: str | None = Field(default=None, description="Success criterion.")
    result: VerificationResult | None = Field(default=None, description="The analysis that met the acceptance "
                                              "criteria (tickets capa verify).")


class RaciEntry(_Section):
    """One RACI role and its holder."""

    role: RaciRole = Field(description="Role.")
    user_id: str = Field(description="Holder.")


class CapaSignature(_Section):
    """An electronic signature of the record (21 CFR 11.50, 11.70): bound to the record's SHA-256."""

    user_id: str = Field(description="Signer's user id (re-authenticated with the password).")
    printed_name: str = Field(description="Signer's printed name.")
    meaning: Literal["reviewed", "approved"] = Field(description="Meaning of the signature.")
    signed_at: datetime = Field(description="Date and time of signing (UTC).")
    record_sha256: str = Field(description="SHA-256 of the record signed (record_sha256: without the signatures).")


class Approvals(_Section):
    """Item 12: RACI, e-signatures, links and the closure rationale."""

    raci: list[RaciEntry] = Field(default_factory=list, description="Algorithm owner, clinical lead, statistician, "
                                  "QA, RA.")
    signatures: list[CapaSignature] = Field(default_factory=list, description="Signatures, oldest first.")
    links: list[str] = Field(default_factory=list, description="Commits, model-registry entries, data snapshots.")
    closure_rationale: str | None = Field(default=None, description="Why it can close (before the approval).")


class CapaRecord(_Section):
    """The 12 items of regulatory.md section 3 for one ticket."""

    schema_version: Literal[1] = Field(default=1, description="Version of the record's format.")
    ticket_id: str = Field(description="The ticket.")
    identification: Identification = Field(description="Item 1.")
    trigger: TriggerEvidence = Field(description="Item 2 (immutable).")
    risk: RiskAssessment = Field(default_factory=RiskAssessment, description="Item 3.")
    reportability: Reportability = Field(default_factory=Reportability, description="Item 4.")
    containment: Containment = Field(default_factory=Containment, description="Item 5.")
    root_cause: RootCause = Field(default_factory=RootCause, description="Item 6.")
    modification: Modification = Field(default_factory=Modification, description="Item 7.")
    data_management: DataManagementPlan = Field(default_factory=DataManagementPlan, description="Item 8.")
    acceptance: AcceptanceCriteria = Field(default_factory=AcceptanceCriteria, description="Item 9.")
    impact: ImpactAssessment = Field(default_factory=ImpactAssessment, description="Item 10.")
    verification: VerificationOfEffectiveness = Field(default_factory=VerificationOfEffectiveness,
                                                      description="Item 11.")
    approvals: Approvals = Field(default_factory=Approvals, description="Item 12.")


#: Sections people edit, and the fields of each they may set (the rest is computed or set on saving).
USER_FIELDS: Mapping[str, tuple[str, ...]] = {
    "identification": ("capa_type", "report_ids", "sites"),
    "risk": ("severity", "hazard", "harm", "risk_file_item", "probability_before", "probability_after",
             "iec62304_class", "triage_decision", "triage_rationale"),
    "reportability": ("assessments",),
    "containment": ("measures", "effective_at"),
    "root_cause": ("plan", "category", "findings", "error_review"),
    "modification": ("modification_type", "description", "validation_run_id"),
    "data_management": ("training_data", "inclusion_exclusion", "annotation_protocol", "annotator", "reviewer",
                        "arbitrator", "test_set_sequestration", "representativeness"),
    "acceptance": ("primary_endpoint", "no_stratum_degrades_beyond", "statistical_methods", "regression_tests",
                   "robustness_checks"),
    "impact": ("benefits_risks", "other_strata", "labeling", "user_training", "communication_plan"),
    "verification": ("monitoring_plan", "window", "success_criterion"),
    "approvals": ("raci", "links", "closure_rationale"),
}
SECTIONS = tuple(USER_FIELDS)


def record_sha256(record: CapaRecord) -> str:
    """SHA-256 of the record's canonical JSON without its signatures: what a signature is bound to."""
    body: dict[str, Any] = record.model_dump(mode="json")
    body["approvals"]["signatures"] = []
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
                          .encode("utf-8")).hexdigest()
