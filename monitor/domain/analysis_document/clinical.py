"""The clinical sections, present when the logs carry their inputs: AI failure rate, human-AI agreement,
segmentation-volume agreement and the paired comparison of model versions (monitor.service.clinical_sections)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from monitor.domain.analysis_document.base import Part
from monitor.domain.analysis_document.values import (
    Count, ModelVersion, NonNegative, NonPositive, Number, OpenUnit, Positive, PositiveCount, ProbabilityOrNull,
    SignedUnit, StratumAttributes, StratumKey, Uuid,
)

__all__ = ["FailureRateRow", "HumanAiAgreementRow", "ModelVersionComparisonRow", "VolumeAgreementRow"]


class FailureRateRow(Part):
    """AI failure / no-result rate of one model version in one stratum (overall or single attribute), from the
    predictions delivered (predictions) and the failed or no-result studies (prediction_failures) of the period, without
    retracted ones (monitor.domain.failures)."""

    model_version: ModelVersion = Field(description="Model version.")
    stratum: StratumKey = Field(description="Stratum key.")
    level: Literal[0, 1] = Field(description="Stratum level (0 overall, 1 single attribute).")
    attributes: StratumAttributes = Field(description="Stratum assignments.")
    results: Count = Field(description="Studies with a delivered AI result.")
    failures: Count = Field(description=(
        "Studies for which the AI returned no result (result_status failed or no_result)."))
    attempts: Count = Field(description="results + failures.")
    rate: ProbabilityOrNull = Field(description="failures / attempts; null without attempts.")
    ci_low: ProbabilityOrNull = Field(description=(
        "Lower limit of the two-sided interval of the rate (rules.interval_method at rules.confidence)."))
    ci_high: ProbabilityOrNull = Field(description=(
        "Upper limit of the two-sided interval of the rate (rules.interval_method at rules.confidence)."))
    maximum: ProbabilityOrNull = Field(description=(
        "Registered maximum of the rate (claims.failure_rate.maximum); null when none is configured."))
    margin: ProbabilityOrNull = Field(description=(
        "Clinically relevant excess above the maximum (claims.failure_rate.margin); null when no maximum is "
        "configured."))
    goal: ProbabilityOrNull = Field(description=(
        "maximum + margin, the goal the rule decides against; null without a maximum."))
    p_value: ProbabilityOrNull = Field(description=(
        "Exact one-sided binomial p-value of H0: rate <= maximum (the registered value; scipy binomtest, "
        "alternative greater): reported, not deciding; null when not tested."))
    log10_p_value: NonPositive | None = Field(description="log10 of p_value.")
    p_excess: ProbabilityOrNull = Field(description=(
        "Exact one-sided p-value of H0: rate <= goal (raw); null when not tested."))
    log10_p_excess: NonPositive | None = Field(description="log10 of p_excess.")
    q_value: ProbabilityOrNull = Field(description=(
        "p_excess adjusted within its family (Holm for confirmatory, BH for exploratory, fixed family size); "
        "flagged when at most family_level; null when not tested."))
    log10_q_value: NonPositive | None = Field(description="log10 of q_value.")
    p_conformity: ProbabilityOrNull = Field(description=(
        "Exact one-sided p-value of H0: rate >= goal (raw); null when not tested."))
    q_conformity: ProbabilityOrNull = Field(description=(
        "p_conformity adjusted within the family; conforming when at most family_level."))
    family: Literal["confirmatory", "exploratory"] | None = Field(description=(
        "confirmatory (overall and the single strata of strata.confirmatory attributes; Holm at rules.alpha) "
        "or exploratory (other enumerated single strata; BH at rules.fdr); null without a maximum or for a "
        "label the configuration does not enumerate."))
    family_size: PositiveCount | None = Field(description=(
        "Number of strata in the family (per model version, fixed by the configuration)."))
    family_level: ProbabilityOrNull = Field(description="rules.alpha or rules.fdr; null without a family.")
    status: Literal["flagged", "conforming", "inconclusive", "insufficient", "not_tested"] = Field(description=(
        "flagged: excess above the goal shown (q_value <= family_level); conforming: rate below the goal "
        "shown (q_conformity <= family_level); inconclusive: neither; insufficient: no attempts (enters the "
        "family with p = 1); not_tested: no maximum configured or no family."))
    by_code: dict[str, Count] = Field(description="Failures by failure code (most frequent first).")
    finding_id: Uuid | None = Field(description=(
        "The finding of kind failure_rate stored for a flagged row (it opens no ticket); null otherwise."))


class HumanAiAgreementRow(Part):
    """Agreement of the AI call (predicted_label) with the reading clinician's call (human_label) in one stratum of one
    model version (monitor.domain.human_ai_agreement): Cohen's kappa (Cohen 1960) with the Fleiss-Cohen-Everitt (1969)
    Wald interval, positive / negative percent agreement of the AI against the clinician (FDA 2007) with binomial
    intervals, and among the discordant cases with ground truth, who was right, with McNemar's exact test."""

    model_version: ModelVersion = Field(description="Model version.")
    stratum: StratumKey = Field(description="Stratum key.")
    level: Literal[0, 1] = Field(description="Stratum level (0 overall, 1 single attribute).")
    cases: Count = Field(description="Predictions of the period with a clinician's call.")
    both_positive: Count = Field(description="AI positive and clinician positive.")
    ai_only_positive: Count = Field(description="AI positive, clinician negative.")
    human_only_positive: Count = Field(description="AI negative, clinician positive.")
    both_negative: Count = Field(description="AI negative and clinician negative.")
    observed_agreement: ProbabilityOrNull = Field(description="Share of concordant calls; null without cases.")
    kappa: SignedUnit | None = Field(description=(
        "Cohen's kappa; null when not estimable (no cases, or both raters constant)."))
    kappa_se: NonNegative | None = Field(description=(
        "Large-sample standard error of kappa (Fleiss, Cohen & Everitt 1969)."))
    kappa_ci_low: SignedUnit | None = Field(description=(
        "Lower limit of kappa -/+ z * se at rules.confidence, clipped to [-1, 1]."))
    kappa_ci_high: SignedUnit | None = Field(description=(
        "Upper limit of kappa -/+ z * se at rules.confidence, clipped to [-1, 1]."))
    ppa: ProbabilityOrNull = Field(description=(
        "Positive percent agreement: both positive / clinician positive; null without clinician positives."))
    ppa_ci_low: ProbabilityOrNull = Field(description="Lower limit of the interval of ppa (rules.interval_method).")
    ppa_ci_high: ProbabilityOrNull = Field(description="Upper limit of the interval of ppa (rules.interval_method).")
    npa: ProbabilityOrNull = Field(description=(
        "Negative percent agreement: both negative / clinician negative; null without clinician negatives."))
    npa_ci_low: ProbabilityOrNull = Field(description="Lower limit of the interval of npa (rules.interval_method).")
    npa_ci_high: ProbabilityOrNull = Field(description="Upper limit of the interval of npa (rules.interval_method).")
    discordant: Count = Field(description="ai_only_positive + human_only_positive.")
    discordant_with_truth: Count = Field(description=(
        "Discordant cases whose ground truth had arrived by the cut-off (ai_right + human_right)."))
    ai_right: Count = Field(description="Discordant cases with ground truth where the AI call matched it.")
    human_right: Count = Field(description="Discordant cases with ground truth where the clinician's call matched it.")
    mcnemar_p_value: ProbabilityOrNull = Field(description=(
        "Two-sided exact McNemar p-value of ai_right vs human_right; null without discordant cases with "
        "ground truth."))


class VolumeAgreementRow(Part):
    """Bland-Altman agreement of the AI segmentation volume with the reviewed volume in one stratum of one model
    version, on d = ln(AI / reviewed) from database sums (monitor.domain.volume_agreement); ratios are exp of the
    log-scale values, limits of agreement cover 95% of cases, their intervals are exact (Carkeet 2015) at
    rules.confidence. Statistics are null with fewer than two cases."""

    model_version: ModelVersion = Field(description="Model version.")
    stratum: StratumKey = Field(description="Stratum key.")
    level: Literal[0, 1] = Field(description="Stratum level (0 overall, 1 single attribute).")
    cases: Count = Field(description="Predictions of the period with both volumes positive.")
    mean_log_ratio: Number | None = Field(description="Mean of ln(AI / reviewed) (the bias on the log scale).")
    sd_log_ratio: NonNegative | None = Field(description="Sample standard deviation of ln(AI / reviewed).")
    ratio: Positive | None = Field(description="Geometric-mean ratio AI / reviewed, exp(mean_log_ratio).")
    ratio_bias_ci_low: Positive | None = Field(description="Lower limit of the t interval of the bias, as a ratio.")
    ratio_bias_ci_high: Positive | None = Field(description="Upper limit of the t interval of the bias, as a ratio.")
    ratio_loa_low: Positive | None = Field(description="Lower 95% limit of agreement, as a ratio.")
    ratio_loa_high: Positive | None = Field(description="Upper 95% limit of agreement, as a ratio.")
    ratio_loa_low_ci_low: Positive | None = Field(description=(
        "Lower limit of the exact interval of the lower limit of agreement, as a ratio."))
    ratio_loa_low_ci_high: Positive | None = Field(description=(
        "Upper limit of the exact interval of the lower limit of agreement, as a ratio."))
    ratio_loa_high_ci_low: Positive | None = Field(description=(
        "Lower limit of the exact interval of the upper limit of agreement, as a ratio."))
    ratio_loa_high_ci_high: Positive | None = Field(description=(
        "Upper limit of the exact interval of the upper limit of agreement, as a ratio."))
    tolerance: OpenUnit = Field(description="Relative tolerance (rules.volume_tolerance).")
    outside_tolerance: Count = Field(description="Cases with |AI - reviewed| > tolerance x reviewed.")
    outside_share: ProbabilityOrNull = Field(description="outside_tolerance / cases.")
    outside_ci_low: ProbabilityOrNull = Field(description=(
        "Lower limit of the interval of outside_share (rules.interval_method)."))
    outside_ci_high: ProbabilityOrNull = Field(description=(
        "Upper limit of the interval of outside_share (rules.interval_method)."))


class ModelVersionComparisonRow(Part):
    """One metric of two model versions on the same studies (matched on study_uid by the database;
    monitor.domain.model_comparison): AUC by the paired DeLong (1988) test from the joint score histogram (scores binned
    to 0.001), sensitivity / specificity by the paired difference with Newcombe's (1998) interval and McNemar's exact
    test. Differences are version_a - version_b."""

    version_a: ModelVersion = Field(description="The lower model version of the pair.")
    version_b: ModelVersion = Field(description="The higher model version of the pair.")
    matched_studies: Count = Field(description="Studies scored by both versions in the period.")
    labelled_studies: Count = Field(description="Matched studies with a (consistent) ground truth by the cut-off.")
    label_conflicts: Count = Field(description=(
        "Matched studies whose two predictions carry different ground-truth labels (left out)."))
    metric: Literal["auc", "sensitivity", "specificity"] = Field(description="The compared metric.")
    cases: Count = Field(description=(
        "Studies in the comparison: labelled studies (auc), reference positives (sensitivity) or negatives "
        "(specificity)."))
    estimate_a: ProbabilityOrNull = Field(description=(
        "The metric of version_a; null for an AUC with fewer than 10 positives or negatives."))
    estimate_b: ProbabilityOrNull = Field(description="The metric of version_b.")
    difference: SignedUnit | None = Field(description="estimate_a - estimate_b.")
    ci_low: SignedUnit | None = Field(description=(
        "Lower limit of the two-sided interval of the difference at rules.confidence (DeLong Wald interval or"
        " Newcombe paired interval)."))
    ci_high: SignedUnit | None = Field(description="Upper limit of the two-sided interval of the difference.")
    p_value: ProbabilityOrNull = Field(description=(
        "Two-sided p-value of no difference (DeLong z test or exact McNemar); null when not estimable."))
    test: Literal["delong_paired", "mcnemar_exact"] = Field(description="The test behind p_value.")
    a_only: Count | None = Field(description="Studies where version_a was right and version_b wrong (null for auc).")
    b_only: Count | None = Field(description="Studies where version_b was right and version_a wrong (null for auc).")
