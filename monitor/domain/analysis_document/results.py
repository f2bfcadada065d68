"""The claims test: confusion counts per stratum, one result per stratum-metric with the outcome of the
pre-specified decision rule (docs/methods.md; monitor.domain.evaluation), and the findings (flagged, not
provisional). The rule's outcome decides which statistics a result carries: :class:`Result` declares it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, MISSING

from monitor.domain.analysis_document.base import LEVEL_MATCHES_STRATUM, NotNull, Null, Part, When
from monitor.domain.analysis_document.values import (
    AtLeastOne, CiHigh, CiLow, Claim, Count, Estimate, Level, Margin, Metric, MinimalDetectableDrop, ModelVersion,
    NonNegative, NonPositive, PValue, PerformanceGoal, PositiveCount, Probability, ProbabilityOrNull, QValue,
    SignedUnit, StratumAttributes, StratumKey, Successes, TicketId, Trials, Uuid,
)

__all__ = ["Finding", "Result", "StratumCounts", "TESTED"]

#: The statuses of a result the decision rule tested (monitor.domain.evaluation.TESTED_STATUSES).
TESTED = ("flagged", "conforming", "inconclusive")
NUMBER = NotNull("number")
#: An adjustment of the evidence the rule decides on (monitor.domain.evidence).
EvidenceBasis = Literal["final_labels", "verification_corrected", "cluster_robust"]


class StratumCounts(Part):
    """Confusion counts of one stratum of one model version (predictions with ground truth only)."""

    __conditions__ = LEVEL_MATCHES_STRATUM  # the level is the number of assignments (a triple has three)

    model_version: ModelVersion = Field(description="Model version.")
    stratum: StratumKey = Field(description="Stratum key.")
    level: Level = Field(description="Stratum level.")
    attributes: StratumAttributes = Field(description="Stratum assignments.")
    tp: Count = Field(description="True positives: label 1, predicted_label 1.")
    fp: Count = Field(description="False positives: label 0, predicted_label 1.")
    fn: Count = Field(description="False negatives: label 1, predicted_label 0.")
    tn: Count = Field(description="True negatives: label 0, predicted_label 0.")


class Result(Part):
    """One metric in one stratum of one model version (monitor.domain.evaluation.StratumMetricResult): evidence,
    estimate, interval, exact tests against the claim and the performance goal, and the outcome of the pre-specified
    decision rule (docs/methods.md)."""

    #: The decision rule's outcome decides which statistics exist (docs/methods.md), and the level the stratum's shape.
    __conditions__ = (
        When({"status": TESTED, "provisional": (False,)},
             {"claim": NUMBER, "margin": NUMBER, "performance_goal": NUMBER, "p_value": NUMBER, "q_value": NUMBER,
              "p_shortfall": NUMBER, "q_conformity": NUMBER, "family": NotNull("string")}),
        When({"status": TESTED}, {"claim": NUMBER, "margin": NUMBER, "performance_goal": NUMBER,
                                  "family": NotNull("string")}),
        When({"status": ("flagged", "conforming")}, {"additional_needed": Null()}),
        When({"status": ("inconclusive",)}, {"additional_needed": NotNull("integer")}),
        When({"status": ("insufficient",)},
             {"claim": NUMBER, "margin": NUMBER, "performance_goal": NUMBER, "p_value": Null(), "q_value": Null(),
              "additional_needed": NotNull("integer"), "p_shortfall": Null()}),
        When({"status": ("not_tested",)},
             {"q_value": Null(), "additional_needed": Null(), "minimal_detectable_drop": Null(),
              "q_conformity": Null(), "family": Null()}),
        When({"estimate": (None,)}, {"ci_low": Null(), "ci_high": Null()}),
        *LEVEL_MATCHES_STRATUM,
        When({"trials": (0,)}, {"estimate": Null()}),
    )

    model_version: ModelVersion = Field(description="Model version.")
    stratum: StratumKey = Field(description="Stratum key.")
    level: Level = Field(description="Stratum level.")
    attributes: StratumAttributes = Field(description="Stratum assignments.")
    metric: Metric = Field(description="The metric.")
    successes: Successes = Field(description=(
        "Numerator of the metric: tp for sensitivity and ppv, tn for specificity and npv."))
    trials: Trials = Field(description=(
        "Denominator of the metric: tp+fn (reference positives) for sensitivity, tn+fp (reference negatives) "
        "for specificity, tp+fp (positive calls) for ppv, tn+fn (negative calls) for npv."))
    estimate: Estimate = Field(description="Point estimate successes/trials; null when trials is 0.")
    ci_low: CiLow = Field(description=(
        "Lower limit of the two-sided interval at rules.confidence by rules.interval_method; null when trials"
        " is 0."))
    ci_high: CiHigh = Field(description=(
        "Upper limit of the two-sided interval at rules.confidence by rules.interval_method; null when trials"
        " is 0."))
    effective_successes: NonNegative | None = Field(description=(
        "Successes of the evidence the rule decides on (Korn-Graubard effective count; equals successes when "
        "the evidence is not adjusted); null without trials."))
    effective_trials: NonNegative | None = Field(description=(
        "Trials of the evidence the rule decides on (effective count); null without trials."))
    basis: list[EvidenceBasis] = Field(description=(
        "Adjustments of the evidence, in the order applied ([] = the plain counts)."))
    design_effect: AtLeastOne = Field(description="Design effect of patient clustering applied (1 = none).")
    expected_share: ProbabilityOrNull = Field(description=(
        "Share of the labels expected by the cut-off that are final (label maturity); null when no "
        "expectation can be formed."))
    provisional: bool = Field(description=(
        "The evidence rests on fewer than labels.min_expected_share of the expected labels (the labels final "
        "early are an outcome-dependent subset): not decided, its outcome stays inconclusive and it enters "
        "its family with p = 1 (q_value and q_conformity null) until its labels have arrived."))
    claim: Claim = Field(description=(
        "Claimed value of the metric for this stratum: the most specific claims.strata entry containing the "
        "stratum (ties: the lower value), else the overall claim; null when the metric has no claim."))
    margin: Margin = Field(description=(
        "Clinically relevant drop below the claim that goes with it; null when there is no claim."))
    performance_goal: PerformanceGoal = Field(description=(
        "claim - margin: an estimate below it (with a significant q-value) is flagged; null when there is no "
        "claim. Negative only if a margin exceeds its claim."))
    p_value: PValue = Field(description=(
        "Exact one-sided binomial p-value of H0: metric >= claim on the evidence (the NMPA 'difference from "
        "the registered value' test): reported, not deciding; null when not tested (no claim, or too few "
        "trials). 0.0 when below the float range: log10_p_value keeps it."))
    log10_p_value: NonPositive | None = Field(description=(
        "log10 of p_value (finite where p_value underflows to 0); null when not tested."))
    p_shortfall: ProbabilityOrNull = Field(description=(
        "Exact one-sided p-value of H0: metric >= performance_goal on the evidence (raw, before the family's "
        "adjustment); null when not tested."))
    log10_p_shortfall: NonPositive | None = Field(description="log10 of p_shortfall.")
    q_value: QValue = Field(description=(
        "The shortfall p-value (p_shortfall) adjusted within its family: Holm-adjusted for the confirmatory "
        "family, Benjamini-Hochberg for the exploratory family, over the family's fixed size (members not "
        "tested this period count as p = 1); the result is flagged when it is at most family_level. Null when"
        " not tested."))
    log10_q_value: NonPositive | None = Field(description="log10 of q_value.")
    p_conformity: ProbabilityOrNull = Field(description=(
        "Exact one-sided p-value of H0: metric <= performance_goal on the evidence (raw); null when not "
        "tested."))
    log10_p_conformity: NonPositive | None = Field(description="log10 of p_conformity.")
    q_conformity: ProbabilityOrNull = Field(description=(
        "p_conformity adjusted within the family (Holm or BH, fixed family size); conforming when at most "
        "family_level."))
    log10_q_conformity: NonPositive | None = Field(description="log10 of q_conformity.")
    family: Literal["confirmatory", "exploratory"] | None = Field(description=(
        "The pre-specified decision family: confirmatory (Holm at rules.alpha) or exploratory (BH at "
        "rules.fdr; findings labelled exploratory); null when the result has no claim or its stratum label is"
        " not enumerated by the configuration."))
    family_size: PositiveCount | None = Field(description=(
        "Number of stratum-metrics in the family (fixed by the configuration per model version); null without"
        " a family."))
    family_level: ProbabilityOrNull = Field(description=(
        "The family's level: rules.alpha (confirmatory) or rules.fdr (exploratory); null without a family."))
    confirmatory: bool = Field(description=(
        "Whether the result belongs to the confirmatory family (family == confirmatory)."))
    status: Literal["flagged", "conforming", "inconclusive", "insufficient", "not_tested"] = Field(description=(
        "Outcome of the decision rule: flagged (shortfall shown: q_value <= family_level), conforming "
        "(conformity shown: q_conformity <= family_level), inconclusive (neither), insufficient (a claim and "
        "a family exist but the evidence's trials are below min_positives for sensitivity/ppv or "
        "min_negatives for specificity/npv; enters the family with p = 1), not_tested (no claim, or no "
        "family)."))
    minimal_detectable_drop: MinimalDetectableDrop = Field(description=(
        "Drop below the claim at which the decision rule flags with rules.power given this stratum's "
        "effective trials: exact power of the test of H0: p >= performance_goal at the family's first-step "
        "level (family_level / family_size), solved exactly in the true value; null when there is no claim, "
        "no family, or the rule cannot flag at this n."))
    additional_needed: Count | None = Field(description=(
        "For inconclusive and insufficient results: further cases after which the rule (at the family's "
        "first-step level) would show a shortfall one margin below the goal and conformity at the claim, each"
        " with rules.power (at least the minimum count); 0 when the stratum already has them; null otherwise."))


class Finding(Part):
    """A stratum-metric with a shortfall shown (status flagged, evidence not provisional): the statistics of its result,
    and the retraining ticket it opened or added evidence to."""

    finding_id: Uuid = Field(description="Id of the finding (a random UUID).")
    ticket_id: TicketId | None = Field(description=(
        "The retraining ticket (tickets.schema.json) that this finding opened, or the already open ticket of "
        "the same device, model version, stratum and metric to which it added evidence. Null in an annual "
        "roll-up, which opens no ticket."))
    model_version: ModelVersion = Field(description="Model version.")
    stratum: StratumKey = Field(description="Stratum key.")
    metric: Metric = Field(description="The metric.")
    attributes: StratumAttributes = Field(description="Stratum assignments.")
    successes: Successes = Field(description=(
        "Numerator of the metric: tp for sensitivity and ppv, tn for specificity and npv."))
    trials: Trials = Field(description=(
        "Denominator of the metric: tp+fn (reference positives) for sensitivity, tn+fp (reference negatives) "
        "for specificity, tp+fp (positive calls) for ppv, tn+fn (negative calls) for npv."))
    estimate: Probability = Field(description="Point estimate successes/trials; null when trials is 0.")
    ci_low: Probability = Field(description=(
        "Lower limit of the two-sided interval at rules.confidence by rules.interval_method; null when trials"
        " is 0."))
    ci_high: Probability = Field(description=(
        "Upper limit of the two-sided interval at rules.confidence by rules.interval_method; null when trials"
        " is 0."))
    effective_successes: NonNegative | None | MISSING = Field(MISSING, description=(
        "Successes of the evidence the rule decides on (Korn-Graubard effective count; equals successes when "
        "the evidence is not adjusted); null without trials."))
    effective_trials: NonNegative | None | MISSING = Field(MISSING, description=(
        "Trials of the evidence the rule decides on (effective count); null without trials."))
    basis: list[EvidenceBasis] | MISSING = Field(MISSING, description=(
        "Adjustments of the evidence, in the order applied ([] = the plain counts)."))
    design_effect: AtLeastOne | MISSING = Field(MISSING, description=(
        "Design effect of patient clustering applied (1 = none)."))
    expected_share: ProbabilityOrNull | MISSING = Field(MISSING, description=(
        "Share of the labels expected by the cut-off that are final (label maturity); null when no "
        "expectation can be formed."))
    provisional: bool | MISSING = Field(MISSING, description=(
        "The evidence rests on fewer than labels.min_expected_share of the expected labels (the labels final "
        "early are an outcome-dependent subset): not decided, its outcome stays inconclusive and it enters "
        "its family with p = 1 (q_value and q_conformity null) until its labels have arrived."))
    claim: Probability = Field(description=(
        "Claimed value of the metric for this stratum: the most specific claims.strata entry containing the "
        "stratum (ties: the lower value), else the overall claim; null when the metric has no claim."))
    margin: Probability = Field(description=(
        "Clinically relevant drop below the claim that goes with it; null when there is no claim."))
    performance_goal: SignedUnit = Field(description=(
        "claim - margin: an estimate below it (with a significant q-value) is flagged; null when there is no "
        "claim. Negative only if a margin exceeds its claim."))
    p_value: Probability = Field(description=(
        "Exact one-sided binomial p-value of H0: metric >= claim on the evidence (the NMPA 'difference from "
        "the registered value' test): reported, not deciding; null when not tested (no claim, or too few "
        "trials). 0.0 when below the float range: log10_p_value keeps it."))
    log10_p_value: NonPositive | None | MISSING = Field(MISSING, description=(
        "log10 of p_value (finite where p_value underflows to 0); null when not tested."))
    p_shortfall: ProbabilityOrNull | MISSING = Field(MISSING, description=(
        "Exact one-sided p-value of H0: metric >= performance_goal on the evidence (raw, before the family's "
        "adjustment); null when not tested."))
    log10_p_shortfall: NonPositive | None | MISSING = Field(MISSING, description="log10 of p_shortfall.")
    q_value: Probability = Field(description=(
        "The shortfall p-value (p_shortfall) adjusted within its family: Holm-adjusted for the confirmatory "
        "family, Benjamini-Hochberg for the exploratory family, over the family's fixed size (members not "
        "tested this period count as p = 1); the result is flagged when it is at most family_level. Null when"
        " not tested."))
    log10_q_value: NonPositive | None | MISSING = Field(MISSING, description="log10 of q_value.")
    family: Literal["confirmatory", "exploratory"] | None | MISSING = Field(MISSING, description=(
        "The pre-specified decision family: confirmatory (Holm at rules.alpha) or exploratory (BH at "
        "rules.fdr; findings labelled exploratory); null when the result has no claim or its stratum label is"
        " not enumerated by the configuration."))
    family_size: PositiveCount | None | MISSING = Field(MISSING, description=(
        "Number of stratum-metrics in the family (fixed by the configuration per model version); null without"
        " a family."))
    family_level: ProbabilityOrNull | MISSING = Field(MISSING, description=(
        "The family's level: rules.alpha (confirmatory) or rules.fdr (exploratory); null without a family."))
    minimal_detectable_drop: MinimalDetectableDrop = Field(description=(
        "Drop below the claim at which the decision rule flags with rules.power given this stratum's "
        "effective trials: exact power of the test of H0: p >= performance_goal at the family's first-step "
        "level (family_level / family_size), solved exactly in the true value; null when there is no claim, "
        "no family, or the rule cannot flag at this n."))
