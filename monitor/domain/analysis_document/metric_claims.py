"""One decided claim of claims.metrics of the analysis document (issue 17 item 5; monitor.domain.metric_claims)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from monitor.domain.analysis_document.base import NotNull, Null, Part, When
from monitor.domain.analysis_document.values import (
    Level, ModelVersion, NonNegative, NonPositive, Number, PositiveCount, ProbabilityOrNull, StratumAttributes,
    StratumKey, Text, TicketId, Uuid,
)

__all__ = ["METRIC_CLAIM_STATUSES", "ClaimableMetricName", "MetricClaimRow"]

#: The outcomes of a claim (monitor.domain.metric_claims.DECISION_RULE).
METRIC_CLAIM_STATUSES = ("flagged", "conforming", "inconclusive", "insufficient", "not_tested")
ClaimableMetricName = Literal[
    "accuracy", "auc", "kappa", "weighted_kappa", "ppa", "npa", "overall_agreement", "within_sla",
    "lowest_level_fnr", "low_confidence_rate", "review_rate", "lesion_sensitivity", "fp_per_scan",
]
_NUMBER = NotNull("number")


class MetricClaimRow(Part):
    """One metric of claims.metrics in one stratum of one model version: the evidence a section measured, the claim
    that applies there, the two one-sided tests against its goal, their family's adjusted values and the outcome of
    the pre-specified rule (monitor.domain.metric_claims.DECISION_RULE; docs/methods.md "Claims on any metric")."""

    __conditions__ = (
        When({"status": ("flagged", "conforming")},
             {"goal": _NUMBER, "q_value": _NUMBER, "q_conformity": _NUMBER, "family": NotNull("string")}),
        When({"status": ("not_tested",)}, {"q_value": Null(), "family": Null(), "finding_id": Null()}),
        When({"status": ("insufficient",)}, {"q_value": Null(), "p_departure": Null(), "finding_id": Null()}),
    )

    model_version: ModelVersion = Field(description="Model version.")
    stratum: StratumKey = Field(description="Stratum key.")
    level: Level = Field(description="Stratum level.")
    attributes: StratumAttributes = Field(description="Stratum assignments.")
    metric: ClaimableMetricName = Field(description="The claimed metric (claims.metrics[].metric).")
    source: Text = Field(description="The analysis section that measured it (its key in this document).")
    kind: Literal["proportion", "estimate"] = Field(description=(
        "proportion: events of trials, tested by the exact binomial tests; estimate: an estimate with its standard "
        "error, tested by the Wald z-test."))
    direction: Literal["minimum", "maximum"] = Field(description=(
        "minimum: the metric must stay high (a shortfall below the goal is flagged); maximum: a rate that must stay "
        "low (an excess above the goal is flagged)."))
    events: NonNegative | None = Field(description=(
        "Proportion: the events counted (effective, possibly fractional, when verification-corrected); null for an "
        "estimate."))
    trials: NonNegative | None = Field(description=(
        "Proportion: the trials (denominator); estimate: the cases it rests on. Null when not given."))
    estimate: Number | None = Field(description="events / trials, or the section's estimate; null without data.")
    standard_error: NonNegative | None = Field(description="Standard error of an estimate; null for a proportion.")
    ci_low: Number | None = Field(description="Lower limit of the two-sided interval at rules.confidence.")
    ci_high: Number | None = Field(description="Upper limit of the two-sided interval at rules.confidence.")
    interval_method: Literal["wilson", "clopper-pearson", "jeffreys", "wald", "section"] | None = Field(description=(
        "How the interval was formed: rules.interval_method on whole counts, clopper-pearson on effective counts "
        "(Korn-Graubard), wald (estimate +/- z x SE), or section (the measuring section's own interval); null "
        "without an interval."))
    claim: Number | None = Field(description="The claimed minimum or maximum that applies here; null without a claim.")
    margin: NonNegative | None = Field(description="The claim's margin; null without a claim.")
    goal: Number | None = Field(description="minimum - margin or maximum + margin; null without a claim.")
    test: Literal["exact_binomial", "wald_z"] | None = Field(description="The test that decided; null when untested.")
    z: Number | None = Field(description="Wald statistic (estimate - goal) / standard_error; null otherwise.")
    p_value: ProbabilityOrNull = Field(description=(
        "One-sided p-value of H0: metric on the claimed side of the registered value (minimum or maximum itself): "
        "reported, not deciding; null when untested."))
    log10_p_value: NonPositive | None = Field(description="log10 of p_value.")
    p_departure: ProbabilityOrNull = Field(description=(
        "One-sided p-value against the goal whose rejection flags: H0: metric >= goal for a minimum (shortfall), "
        "H0: metric <= goal for a maximum (excess); raw; null when untested."))
    log10_p_departure: NonPositive | None = Field(description="log10 of p_departure.")
    q_value: ProbabilityOrNull = Field(description=(
        "p_departure adjusted within its family (Holm for confirmatory, Benjamini-Hochberg for exploratory, over "
        "the family's fixed size; members not decided this period count as p = 1); flagged when at most "
        "family_level. Null when not decided."))
    log10_q_value: NonPositive | None = Field(description="log10 of q_value.")
    p_conformity: ProbabilityOrNull = Field(description=(
        "The mirror one-sided p-value (H0: metric on the wrong side of the goal); raw; null when untested."))
    log10_p_conformity: NonPositive | None = Field(description="log10 of p_conformity.")
    q_conformity: ProbabilityOrNull = Field(description=(
        "p_conformity adjusted within the family; conforming when at most family_level (and not flagged)."))
    log10_q_conformity: NonPositive | None = Field(description="log10 of q_conformity.")
    family: Literal["confirmatory", "exploratory"] | None = Field(description=(
        "The family per model version and metric: confirmatory (overall, strata.confirmatory attributes, "
        "strata.confirmatory_intersections; Holm at rules.alpha) or exploratory (other pre-specified strata with "
        "the claim; Benjamini-Hochberg at rules.fdr); null without a claim or for a label not enumerated."))
    family_size: PositiveCount | None = Field(description="Members of the family (fixed by the configuration).")
    family_level: ProbabilityOrNull = Field(description="rules.alpha or rules.fdr; null without a family.")
    provisional: bool = Field(description=(
        "The labels behind the evidence have not yet arrived in the expected share: not decided (inconclusive, p = 1 "
        "in its family), never a ticket."))
    status: Literal["flagged", "conforming", "inconclusive", "insufficient", "not_tested"] = Field(description=(
        "flagged: shortfall (minimum) or excess (maximum) shown against the goal, a finding of kind metric_claim "
        "with a ticket; conforming: the claimed side shown; inconclusive: neither (or provisional); insufficient: "
        "no trials or no standard error (p = 1 in the family); not_tested: no claim, or a stratum not enumerated."))
    finding_id: Uuid | None = Field(description="The finding of kind metric_claim of a flagged row; null otherwise.")
    ticket_id: TicketId | None = Field(description=(
        "The retraining ticket the finding opened or added evidence to; null otherwise (and in an annual roll-up)."))
