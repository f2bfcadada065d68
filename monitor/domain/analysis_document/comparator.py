"""The comparator section of the analysis document (issue 17): the AI against a guideline score or a reference
reader logged on the same studies (monitor.domain.comparator); descriptive, it decides nothing."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from monitor.domain.analysis_document.base import LEVEL_MATCHES_STRATUM, Equals, NotNull, Null, Part, When
from monitor.domain.analysis_document.values import (
    Count, ModelVersion, Number, Probability, ProbabilityOrNull, SignedUnit, StratumAttributes, StratumKey, Text,
)

__all__ = ["ComparatorRow", "ComparatorSection"]

_PAIRED_CELLS = ("both_right", "ai_only_right", "comparator_only_right", "neither_right")


class ComparatorRow(Part):
    """One metric of the AI and of the comparator on the same labelled studies of one stratum of one model version
    (monitor.domain.comparator.compare_with_comparator). AUC: the paired DeLong et al. (1988) comparison from the joint
    histogram of the AI score (binned to 0.001) and the comparator score (exact values), each AUC with its own DeLong
    interval. Sensitivity (reference positives) and specificity (reference negatives): the paired 2x2 table of who was
    right, the difference with Newcombe's (1998, method 10) interval for paired proportions and McNemar's (1947) exact
    test of the discordant studies. Differences are AI - comparator. The p-values are per comparison, two-sided and
    unadjusted for multiplicity: they describe, they decide nothing (no claim, no finding, no ticket)."""

    __conditions__ = (
        *LEVEL_MATCHES_STRATUM,
        When({"metric": ("auc",)}, {"test": Equals("delong_paired"), "positives": NotNull("integer"),
                                    "negatives": NotNull("integer"), **{c: Null() for c in _PAIRED_CELLS}}),
        When({"metric": ("sensitivity", "specificity")},
             {"test": Equals("mcnemar_exact"), "positives": Null(), "negatives": Null(),
              **{c: NotNull("integer") for c in _PAIRED_CELLS}}),
    )

    model_version: ModelVersion = Field(description="The AI's model version (the comparator is never one).")
    stratum: StratumKey = Field(description="Stratum key.")
    level: Literal[0, 1] = Field(description="Stratum level (0 overall, 1 single attribute).")
    attributes: StratumAttributes = Field(description="Stratum assignments.")
    metric: Literal["auc", "sensitivity", "specificity"] = Field(description="The compared metric.")
    cases: Count = Field(description=(
        "Labelled studies in the comparison: with an AI score and a comparator score (auc), reference positives "
        "with both calls (sensitivity), reference negatives with both calls (specificity)."))
    positives: Count | None = Field(description="auc: reference-positive studies of cases; null otherwise.")
    negatives: Count | None = Field(description="auc: reference-negative studies of cases; null otherwise.")
    ai: ProbabilityOrNull = Field(description=(
        "The AI's metric on these studies; null for an AUC with fewer than min_cases_per_class positives or "
        "negatives, or without cases."))
    ai_ci_low: ProbabilityOrNull = Field(description=(
        "Lower limit of the AI's two-sided interval at rules.confidence: DeLong Wald interval (auc), "
        "rules.interval_method (sensitivity, specificity)."))
    ai_ci_high: ProbabilityOrNull = Field(description="Upper limit of the AI's interval.")
    comparator: ProbabilityOrNull = Field(description="The comparator's metric on the same studies.")
    comparator_ci_low: ProbabilityOrNull = Field(description="Lower limit of the comparator's interval (as ai_ci_low).")
    comparator_ci_high: ProbabilityOrNull = Field(description="Upper limit of the comparator's interval.")
    difference: SignedUnit | None = Field(description="ai - comparator; null when either is null.")
    ci_low: SignedUnit | None = Field(description=(
        "Lower limit of the two-sided interval of the difference at rules.confidence: DeLong Wald interval of the "
        "paired difference (auc), Newcombe's hybrid score interval for paired proportions (method 10)."))
    ci_high: SignedUnit | None = Field(description="Upper limit of the interval of the difference.")
    p_value: ProbabilityOrNull = Field(description=(
        "Two-sided p-value of no difference: DeLong z test (auc) or exact McNemar test (binomial on the "
        "discordant studies); per comparison, not adjusted, deciding nothing; null when not estimable."))
    test: Literal["delong_paired", "mcnemar_exact"] = Field(description="The test behind p_value.")
    both_right: Count | None = Field(description="Studies whose AI call and comparator call both match the truth.")
    ai_only_right: Count | None = Field(description=(
        "Studies where the AI call matches the truth and the comparator's not."))
    comparator_only_right: Count | None = Field(description=(
        "Studies where the comparator call matches the truth and the AI's not."))
    neither_right: Count | None = Field(description="Studies where neither call matches the truth.")


class ComparatorSection(Part):
    """The AI against the device's comparator (configuration comparator): a guideline score such as the Lung-RADS
    category or a reference reader's call, logged beside the AI on the same studies (comparator_score,
    comparator_label). Paired comparisons per model version, overall and in each single stratum; never a model
    version, never claimed, never a finding or a ticket."""

    name: Text = Field(description="The comparator's name (comparator.name), e.g. Lung-RADS v2022.")
    name_zh: Text | None = Field(description="Its name in Chinese (comparator.name_zh); null when not given.")
    kind: Literal["guideline", "reader"] = Field(description="'guideline' (a score) or 'reader' (a reference read).")
    positive_from: Number | None = Field(description=(
        "Comparator score at or above which its call is positive when comparator_label is not logged "
        "(comparator.positive_from); null when not configured (then only logged calls count)."))
    studies: Count = Field(description=(
        "Labelled predictions of the period carrying a comparator score or call, over every model version."))
    min_cases_per_class: Count = Field(description=(
        "Reference positives and negatives (each) an AUC comparison needs; below it the AUCs are null."))
    confidence: Probability = Field(description="Two-sided confidence level of every interval (rules.confidence).")
    rows: list[ComparatorRow] = Field(description=(
        "Per model version, then stratum (overall, then single strata in configuration order), the metrics auc, "
        "sensitivity and specificity."))
