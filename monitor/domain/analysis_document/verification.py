"""Verification bias: verified fractions by AI call with the Begg-Greenes (1983) corrected sensitivity and
specificity per stratum, the declared verification design checked against the period, and the audit-sampling
plan (monitor.domain.labels, monitor.domain.verification_design; docs/verification.md)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, MISSING

from monitor.domain.analysis_document.base import Part, STRATUM_MATCHES_LEVEL
from monitor.domain.analysis_document.values import Count, ModelVersion, Number, Probability, StratumKey

__all__ = ["AuditPlanRow", "DeclaredFractions", "VerificationDesign", "VerificationRow"]


class VerificationRow(Part):
    """Verification fraction by AI call and verification-bias-corrected accuracy of one monitored stratum (overall,
    single attribute or intersection) of one model version, with the audit-sampling plan (monitor.domain.labels.verification_by_stratum). The
    corrected figures and the plan are null unless both call groups have verified cases."""

    __conditions__ = STRATUM_MATCHES_LEVEL

    model_version: ModelVersion = Field(description="Model version.")
    stratum: StratumKey = Field(description="Stratum key.")
    level: Literal[0, 1, 2, 3] = Field(description=(
        "Stratum level of the stratum (0 overall, 1 single attribute, 2 pairwise, 3 three-way intersection)."))
    positive_calls: Count = Field(description=(
        "Predictions of the stratum in the period called positive (predicted_label 1)."))
    negative_calls: Count = Field(description=(
        "Predictions of the stratum in the period called negative (predicted_label 0)."))
    verified_positive_calls: Count = Field(description=(
        "Of the positive calls, those with ground truth by the data cut-off."))
    verified_negative_calls: Count = Field(description=(
        "Of the negative calls, those with ground truth by the data cut-off."))
    verification_fraction_positive_calls: Probability | None = Field(description=(
        "verified_positive_calls / positive_calls; null when there are no positive calls."))
    verification_fraction_negative_calls: Probability | None = Field(description=(
        "verified_negative_calls / negative_calls; null when there are no negative calls."))
    corrected_sensitivity: Probability | None = Field(description=(
        "Sensitivity corrected for verification bias by Begg & Greenes 1983 (verification missing at random "
        "given the AI call; equivalent to weighting verified cases by their call's inverse verification "
        "fraction); null when a call group has no verified case."))
    corrected_sensitivity_ci_low: Probability | None = Field(description=(
        "Lower limit of the two-sided interval of corrected_sensitivity at rules.confidence (Wald on the "
        "logit scale, delta-method variance); null when not estimable."))
    corrected_sensitivity_ci_high: Probability | None = Field(description=(
        "Upper limit of the two-sided interval of corrected_sensitivity at rules.confidence (Wald on the "
        "logit scale, delta-method variance); null when not estimable."))
    corrected_specificity: Probability | None = Field(description=(
        "Specificity corrected for verification bias by Begg & Greenes 1983 (as corrected_sensitivity); null "
        "when a call group has no verified case."))
    corrected_specificity_ci_low: Probability | None = Field(description=(
        "Lower limit of the two-sided interval of corrected_specificity at rules.confidence (Wald on the "
        "logit scale, delta-method variance); null when not estimable."))
    corrected_specificity_ci_high: Probability | None = Field(description=(
        "Upper limit of the two-sided interval of corrected_specificity at rules.confidence (Wald on the "
        "logit scale, delta-method variance); null when not estimable."))
    audit_sample_negative_calls: Count | None = Field(description=(
        "Audit-sampling plan: negative calls to over-read so that the false-omission rate fn/(fn+tn) is known"
        " within +/- labels.audit_relative_half_width of itself (Wald interval at rules.confidence, planned "
        "at the observed rate, at least 0.001; Cochran 1977, 4.4), at most the negative calls; 0 when there "
        "are no negative calls; null when a call group has no verified case. The audit_plan section also "
        "sizes it for the corrected sensitivity."))


class DeclaredFractions(Part):
    """Declared verification probability by AI call (1.0 under complete verification)."""

    positive_calls: Number | MISSING = Field(MISSING, description="Of positive calls.")
    negative_calls: Number | MISSING = Field(MISSING, description="Of negative calls.")


class VerificationDesign(Part):
    """Whether the period's labels agree with the declared verification design
    (monitor.domain.verification_design.design_check; docs/verification.md): declared design and fractions, the realised
    verified fractions by AI call with an exact binomial test, labels from an audit sample, negative calls verified
    outside the audit, and the warnings the report prints among its limitations."""

    verification: Literal["complete", "audit_sample"] = Field(description="labels.verification.")
    declared_fractions: DeclaredFractions = Field(description=(
        "Declared verification probability by AI call (1.0 under complete verification)."))
    realised: list[dict[str, Any]] = Field(description=(
        "Per model version, the calls, verified cases, realised fraction and exact binomial p-value against "
        "the declared fraction (audit designs only), by AI call."))
    audit_sample_labels: Count = Field(description="Labels with label_source audit_sample in the window.")
    negative_calls_verified_outside_audit: Count = Field(description=(
        "Negative calls verified by another source than the audit."))
    looks_like_audit_sample: bool = Field(description="Labels from an audit sample exist.")
    warnings: list[str] = Field(description="Statements for the report's limitations.")
    labels_by_source: dict[str, Count] | MISSING = Field(MISSING, description=(
        "The window's labelled cases by ground-truth source (label_source; sources with none left out), as of "
        "the cut-off: what the report's reference-standard section prints (absent in documents made before "
        "it was recorded: the report then counts them from the stored rows)."))


class AuditPlanRow(Part):
    """The audit-sampling plan of one stratum (overall or single) of one model version with a sensitivity claim."""

    model_version: str = Field(description="Model version.")
    stratum: str = Field(description="Stratum key.")
    level: int = Field(description="0 overall, 1 single.")
    calls: int | MISSING = Field(MISSING, description="AI calls of the stratum in the period.")
    negative_calls: int | MISSING = Field(MISSING, description="Negative (low-risk) AI calls.")
    audited_negative_calls: int | MISSING = Field(MISSING, description="Negative calls verified (the audit done).")
    design_fraction_negative_calls: Number | None | MISSING = Field(MISSING, description=(
        "Declared (audit design) or realised verification fraction of negative calls."))
    corrected_sensitivity: Number | None | MISSING = Field(MISSING, description=(
        "Verification-corrected sensitivity (Begg-Greenes / IPW)."))
    corrected_sensitivity_se: Number | None | MISSING = Field(MISSING, description="Its standard error (delta method).")
    claim: Number | None | MISSING = Field(MISSING, description="Sensitivity claim of the stratum.")
    performance_goal: Number | None | MISSING = Field(MISSING, description="claim - margin.")
    planning_prevalence: Number | None | MISSING = Field(MISSING, description=(
        "Prevalence the plan assumes (the corrected estimate)."))
    one_sided_level: Number | MISSING = Field(MISSING, description=(
        "One-sided level of the stratum's family, Bonferroni (alpha/m confirmatory, fdr/m exploratory)."))
    power: Number | MISSING = Field(MISSING, description="monitoring.power.")
    audit_for_sensitivity: int | None | MISSING = Field(MISSING, description=(
        "Negative calls to over-read per period (null: not reachable)."))
    audit_for_false_omission: int | None | MISSING = Field(MISSING, description=(
        "Negative calls to over-read for the false-omission rate (relative half-width)."))
    detectable_drop: Number | None | MISSING = Field(MISSING, description=(
        "Drop of the corrected sensitivity below the goal detected with monitoring.power."))
    detectable_sensitivity: Number | None | MISSING = Field(MISSING, description="performance_goal - detectable_drop.")
    planning_false_omission: Number | None | MISSING = Field(MISSING, description=(
        "False-omission rate the plan assumes."))
