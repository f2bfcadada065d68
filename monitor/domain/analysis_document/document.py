"""The analysis document: identity, provenance, the claims test and every section beside it, as the service
composes it (monitor.service.analyze._document and monitor.service.sections.build_sections)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, MISSING

from monitor.domain.analysis_document.base import Part
from monitor.domain.analysis_document.clinical import (
    FailureRateRow, HumanAiAgreementRow, ModelVersionComparisonRow, VolumeAgreementRow,
)
from monitor.domain.analysis_document.clustering import Clustering
from monitor.domain.analysis_document.comparator import ComparatorSection
from monitor.domain.analysis_document.lesions import LesionSection
from monitor.domain.analysis_document.low_confidence import LowConfidenceRow
from monitor.domain.analysis_document.metric_claims import MetricClaimRow
from monitor.domain.analysis_document.ordinal import OrdinalSection
from monitor.domain.analysis_document.review import ReviewSection
from monitor.domain.analysis_document.data_drift import DriftComparison
from monitor.domain.analysis_document.discrimination import DiscriminationRow
from monitor.domain.analysis_document.early_warning import EarlyWarningRow
from monitor.domain.analysis_document.identity import Device, Period, Rules
from monitor.domain.analysis_document.label_arrival import LabelArrival
from monitor.domain.analysis_document.maturity import MaturityRow
from monitor.domain.analysis_document.provenance import Completeness, Site, Source
from monitor.domain.analysis_document.reference_comparison import ReferenceComparisonRow, ReferenceWindow
from monitor.domain.analysis_document.results import Finding, Result, StratumCounts
from monitor.domain.analysis_document.sequential import Sequential, SequentialAlarm
from monitor.domain.analysis_document.stratum_vs_rest import StratumVsRestRow
from monitor.domain.analysis_document.summary import Summary
from monitor.domain.analysis_document.time_to_intervention import TimeToInterventionRow
from monitor.domain.analysis_document.verification import AuditPlanRow, VerificationDesign, VerificationRow
from monitor.domain.analysis_document.values import Sha256, Text, TimestampUtc, Uuid

__all__ = ["AnalysisDocument"]


class AnalysisDocument(Part):
    """The result of analysing one device over one reporting period with the ground truth received up to a data cut-off
    (monitor.service.analyze._document). It is the single source of every number a report prints. Written by
    `samd-monitor analyze --device ID --period P [--cutoff T] --json` (standard output), stored with the analysis run in
    the database, and embedded as `analysis` in the report JSON (report.schema.json). Re-running the analysis with the
    same cut-off on the same inputs reproduces the same config_hash, input_fingerprint, counts and results. Metrics:
    sensitivity = tp/(tp+fn), specificity = tn/(tn+fp), ppv = tp/(tp+fp), npv = tn/(tn+fn). A stratum-metric is flagged
    when its Benjamini-Hochberg q-value is at most rules.fdr and its estimate is below claim - margin. Beyond the claims
    test, the document carries signals that never flag by themselves (monitor.service.sections.build_sections):
    discrimination and calibration, comparisons with the reference window and with the rest of the population, label
    maturity, verification bias, time to intervention, CUSUM and EWMA charts (CUSUM alarms are listed in
    sequential_alarms), data drift and a label-free early warning. Numbers that cannot be estimated (NaN in the code)
    are written as null. Timestamps are UTC, written with a Z suffix (reference_window's with a +00:00 offset)."""

    schema_: Literal["samd-monitor/analysis"] = Field(alias="schema", description=(
        "Kind of document: always samd-monitor/analysis."))
    schema_version: Literal[1] = Field(description=(
        "Version of this format (monitor.service.analyze.ANALYSIS_SCHEMA_VERSION). Additive changes keep it; "
        "breaking changes increase it."))
    run_id: Uuid = Field(description="Id of the stored analysis run (a random UUID).")
    created_at: TimestampUtc = Field(description="When the analysis ran (UTC).")
    actor: Text = Field(description=(
        "Who ran the analysis: a named user of the system (--user / MONITOR_USER) or a service account "
        "(service:scheduler), never the operating-system account; also recorded in the audit log."))
    software_version: Text = Field(description=(
        "Version of samd-monitor that produced the document."))
    config_hash: Sha256 = Field(description=(
        "SHA-256 (hex) of the canonical JSON form of the device configuration used "
        "(DeviceConfig.config_hash): identifies the exact configuration."))
    input_fingerprint: Sha256 = Field(description=(
        "SHA-256 (hex) over the ingestion batches that feed the period (kind, file checksum and row count of "
        "each, as listed in sources): identifies the exact input data."))
    device: Device = Field(description=(
        "The device's identity, as printed in a report's control block (from the device configuration)."))
    period: Period = Field(description=(
        "The reporting period: a calendar period [first_day, last_day] in the device's time zone, i.e. "
        "predictions with start_utc <= predicted_at < end_utc."))
    data_cutoff: TimestampUtc = Field(description=(
        "Data cut-off (UTC): only predictions and ground-truth versions ingested at or before this instant "
        "are used (default: the time of the run)."))
    rules: Rules = Field(description=(
        "The monitoring rules, claims and strata the analysis applied (from the device configuration), the "
        "decision rule in words and the decision families."))
    sources: list[Source] = Field(description=(
        "The ingestion batches that feed the period, by kind then batch id: prediction batches with "
        "predictions in the period, and ground-truth batches holding the label versions used. Retraction "
        "batches withdrawing predictions of the period by the cut-off are listed as kind retractions."))
    completeness: Completeness = Field(description=(
        "How much of the period's predictions have ground truth by the cut-off."))
    sites: list[Site] = Field(description="Predictions in the period per site, ordered by site id.")
    counts: list[StratumCounts] = Field(description=(
        "Confusion counts of every monitored stratum with cases, per model version, in report order (overall,"
        " single attributes, then intersections; labels in configuration order). Only predictions with ground"
        " truth are counted."))
    results: list[Result] = Field(description=(
        "One entry per model version, stratum of counts and metric (sensitivity, specificity, ppv, npv, in "
        "that order): estimate, interval, comparison with the claim and decision."))
    findings: list[Finding] = Field(description=(
        "The flagged stratum-metrics (results with status flagged, in the same order), each linked to the "
        "retraining ticket it opened or added evidence to."))
    summary: Summary = Field(description="Headline numbers of the run.")
    reference_window: ReferenceWindow = Field(description=(
        "The reference window of data_drift's preceding comparison, reference_comparison and early_warning: "
        "the rules.drift_reference_periods periods just before the period, pooled ([start_utc, end_utc), "
        "ground truth as of the same data cut-off). An explicit window has no preceding period: then periods "
        "is empty and the reference window is empty (start_utc = end_utc = the period's start)."))
    discrimination: list[DiscriminationRow] = Field(description=(
        "AUC (DeLong 1988 interval) and calibration (Brier score, calibration-in-the-large, calibration "
        "slope) per model version, overall then single strata in report order."))
    reference_comparison: list[ReferenceComparisonRow] = Field(description=(
        "Each claimed metric of each stratum with cases (overall, single, monitored intersections) per model "
        "version against the reference window: difference with Newcombe interval, one-sided Fisher p-value "
        "and Benjamini-Hochberg q-value over this section. Signals beside the claims test, not flags."))
    stratum_vs_rest: list[StratumVsRestRow] = Field(description=(
        "Each claimed metric of each single stratum and monitored intersection with cases per model version "
        "against the rest of the population (an equity signal): difference with Newcombe interval, one-sided "
        "Fisher p-value and Benjamini-Hochberg q-value over this section. Signals beside the claims test, not"
        " flags."))
    maturity: list[MaturityRow] = Field(description=(
        "Label completeness, Kaplan-Meier label delay and maturity per model version, overall then single "
        "strata."))
    verification: list[VerificationRow] = Field(description=(
        "Verification fractions by AI call, Begg-Greenes corrected sensitivity and specificity, and the "
        "audit-sampling plan per model version, overall then single strata."))
    time_to_intervention: list[TimeToInterventionRow] = Field(description=(
        "Kaplan-Meier time from AI result to intervention of the confirmed positives per model version, "
        "overall then single strata."))
    sequential: Sequential = Field(description="Sequential monitoring charts.")
    data_drift: list[DriftComparison] = Field(description=(
        "Data drift of the period against each reference (monitor.domain.data_drift): first the preceding "
        "window (reference preceding: the rules.drift_reference_periods periods just before the period), "
        "then, when rules.drift_baseline is set, the fixed baseline (reference baseline: that period, or for "
        "model_version_start the first period of each model version with cases in the period, one entry per "
        "distinct first period, oldest first), so that a persisting shift keeps being reported. Empty in a "
        "document that covers several periods."))
    early_warning: list[EarlyWarningRow] = Field(description=(
        "Label-free CBPE estimates for the predictions awaiting ground truth, per model version, overall then"
        " single strata; empty when the reference window has fewer than 30 labelled positives or 30 labelled "
        "negatives to calibrate on."))
    failure_rate: list[FailureRateRow] | MISSING = Field(MISSING, description=(
        "AI failure / no-result rate per model version, overall then single strata; present when the period "
        "has logged failures or claims.failure_rate is configured."))
    human_ai_agreement: list[HumanAiAgreementRow] | MISSING = Field(MISSING, description=(
        "Agreement of the AI with the reading clinician per model version, overall then single strata; "
        "present when predictions carry human_label."))
    volume_agreement: list[VolumeAgreementRow] | MISSING = Field(MISSING, description=(
        "Agreement of AI and reviewed segmentation volumes per model version, overall then single strata; "
        "present when predictions carry both volumes."))
    model_version_comparison: list[ModelVersionComparisonRow] | MISSING = Field(MISSING, description=(
        "Paired comparison of model versions that scored the same studies (shadow or A/B deployment), per "
        "pair of versions and metric; present when such studies have ground truth."))
    label_arrival: LabelArrival | MISSING = Field(MISSING, description=(
        "Maturity-aware evidence (monitor.domain.labels.label_arrival, docs/maturity.md): a label is final on"
        " arrival unless its source is one of provisional_sources (then final once horizon_days have passed "
        "since the prediction); each stratum-metric is decided on its final labels, provisional when the "
        "share of expected labels that are final is below min_expected_share. The label-arrival distributions"
        " come from the earlier cohorts (Lynden-Bell product-limit for right-truncated delays). Limitation: "
        "when outcome_dependent_delay is true, the final labels of a young cohort over-represent the fast "
        "outcome; delay_weighted_estimate accounts for it, assuming that given outcome and AI call the delay "
        "does not depend on the stratum or the period. Optional: absent from roll-ups."))
    clustering: Clustering | MISSING = Field(MISSING, description=(
        "Patients counted once where it matters (monitor.service.patient_clusters): per monitored stratum of "
        "each model version, the confirmed cases, the patients they come from, and the design effect of each "
        "metric (patient-level cluster-robust variance over the same estimator with every case its own "
        "cluster; docs/clustering.md). The decision rule divides the counts of a stratum-metric by its design"
        " effect truncated at 1."))
    verification_design: VerificationDesign | MISSING = Field(MISSING, description=(
        "Whether the period's labels agree with the declared verification design "
        "(monitor.domain.verification_design.design_check; docs/verification.md): declared design and "
        "fractions, the realised verified fractions by AI call with an exact binomial test, labels from an "
        "audit sample, negative calls verified outside the audit, and the warnings the report prints among "
        "its limitations."))
    audit_plan: list[AuditPlanRow] | MISSING = Field(MISSING, description=(
        "The audit-sampling plan per model version and overall / single stratum with a sensitivity claim "
        "(monitor.domain.verification_design.audit_plan; docs/verification.md): negative calls to over-read "
        "for the corrected sensitivity to within +/- the claim's margin and for the false-omission rate "
        "within +/- labels.audit_relative_half_width of itself, and the drop of the corrected sensitivity "
        "below the goal the declared design detects with monitoring.power at the stratum's one-sided family "
        "level (Bonferroni)."))
    ordinal: OrdinalSection | MISSING = Field(MISSING, description=(
        "Ordered outputs (outputs.type ordinal): metrics at every cut between levels, the per-level confusion "
        "matrix, weighted kappa against the reference grade and the false-negative rate of the lowest level, per"
        " model version and stratum (monitor.service.device_sections.ordinal)."))
    low_confidence: list[LowConfidenceRow] | MISSING = Field(MISSING, description=(
        "Low-confidence flags: the flag rate per model version and stratum, and performance within flagged and "
        "unflagged results; present when predictions carry low_confidence."))
    review: ReviewSection | MISSING = Field(MISSING, description=(
        "Review triggers (device review): the share of results sent to secondary review per trigger, model "
        "version and stratum, the worklist's status, and segmentation overlap (Dice / IoU) where supplied."))
    comparator: ComparatorSection | MISSING = Field(MISSING, description=(
        "The AI against the device's comparator (a guideline score or a reference reader) on the same studies: "
        "paired comparisons (DeLong for AUC, McNemar / Newcombe for paired proportions); no claims, no tickets."))
    lesions: LesionSection | MISSING = Field(MISSING, description=(
        "Lesion-level detection (device lesions): lesion sensitivity at the operating point, false positives per"
        " scan and the FROC curve with patient-bootstrap intervals."))
    metric_claims: list[MetricClaimRow] | MISSING = Field(MISSING, description=(
        "Every claim of claims.metrics decided per model version and stratum (monitor.domain.metric_claims); a "
        "shortfall or excess shown is a finding of kind metric_claim and opens or updates a ticket."))
    sequential_alarms: list[SequentialAlarm] = Field(description=(
        "The CUSUM charts of sequential.cusum that alarmed in the period (alarms_in_period >= 1), each stored"
        " as a finding of kind cusum_alarm, in the order of sequential.cusum."))
