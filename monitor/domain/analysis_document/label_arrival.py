"""Maturity-aware evidence (monitor.domain.labels.label_arrival; docs/maturity.md): the label-arrival
distributions (Lynden-Bell product-limit for right-truncated delays), the final labels, expected labels and
delay-weighted estimate of each stratum-metric."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, MISSING

from monitor.domain.analysis_document.base import Part
from monitor.domain.analysis_document.values import Count, ModelVersion, NonNegative, Number, Probability, StratumKey

__all__ = ["ArrivalDistribution", "ArrivalDistributions", "CellDistributions", "FinalBy", "LabelArrival",
           "LabelArrivalRow"]


class FinalBy(Part):
    """The share of labels final by a number of days."""

    days: int = Field(description="Days since the prediction.")
    share: Probability = Field(description="Share of the labels final by then.")


class ArrivalDistribution(Part):
    """An arrival distribution (monitor.stats.maturity.arrival_cdf); null when none could be estimated."""

    reference: Literal["model_version", "device"] = Field(description=(
        "Whose earlier cohorts it rests on: the model version's or the device's (every model version)."))
    labels: Count = Field(description="Final reference labels within the horizon.")
    mature_labels: Count = Field(description="Of these, from cohorts that had reached the horizon at the cut-off.")
    median_days: NonNegative = Field(description="Median delay until final, in whole days.")
    p90_days: NonNegative = Field(description="90th percentile of the delay until final.")
    final_by: list[FinalBy] = Field(description=(
        "F(days): the share of labels final by 30, 90 and 180 days (those below the horizon)."))
    basis: str | MISSING = Field(MISSING, description=(
        "Cells only: model_version|cell, model_version|outcome, device|cell or device|outcome (the fallbacks of "
        "monitor.domain.labels.arrival_distributions)."))


class CellDistributions(Part):
    """The distribution used for each confusion cell (tp, fp, fn, tn: outcome and AI call)."""

    tp: ArrivalDistribution | None | MISSING = Field(MISSING, description=(
        "An arrival distribution (monitor.stats.maturity.arrival_cdf); null when none could be estimated."))
    fp: ArrivalDistribution | None | MISSING = Field(MISSING, description=(
        "An arrival distribution (monitor.stats.maturity.arrival_cdf); null when none could be estimated."))
    fn: ArrivalDistribution | None | MISSING = Field(MISSING, description=(
        "An arrival distribution (monitor.stats.maturity.arrival_cdf); null when none could be estimated."))
    tn: ArrivalDistribution | None | MISSING = Field(MISSING, description=(
        "An arrival distribution (monitor.stats.maturity.arrival_cdf); null when none could be estimated."))


class ArrivalDistributions(Part):
    """The label-arrival distributions of one model version: positives' and negatives', per confusion cell, their
    distance and verdict."""

    model_version: ModelVersion = Field(description="Model version.")
    positives: ArrivalDistribution | None = Field(description=(
        "An arrival distribution (monitor.stats.maturity.arrival_cdf); null when none could be estimated."))
    negatives: ArrivalDistribution | None = Field(description=(
        "An arrival distribution (monitor.stats.maturity.arrival_cdf); null when none could be estimated."))
    cells: CellDistributions = Field(description=(
        "The distribution used for each confusion cell (tp, fp, fn, tn: outcome and AI call)."))
    distance: Probability | None = Field(description=(
        "Largest difference between the positives' and negatives' distributions (Kolmogorov); null without "
        "both."))
    outcome_dependent_delay: bool | None = Field(description=(
        "distance >= outcome_dependence_threshold (null without both distributions)."))


class LabelArrivalRow(Part):
    """Labels received, final and expected for one metric (or prevalence) of one stratum of one model version."""

    model_version: ModelVersion = Field(description="Model version.")
    stratum: StratumKey = Field(description="Stratum key.")
    level: Literal[0, 1] = Field(description="0 overall, 1 single attribute.")
    metric: Literal["sensitivity", "specificity", "ppv", "npv", "prevalence"] = Field(description=(
        "Metric (prevalence: the share of positive labels, reported, never decided)."))
    received: Count = Field(description="Labels of the metric's denominator received by the cut-off.")
    final: Count = Field(description="Of these, final at the cut-off: the trials the rule decides on.")
    successes: Count = Field(description="Final labels in the numerator.")
    expected_labels: NonNegative | None = Field(description=(
        "Labels expected once every case has reached the horizon: per cell sum of final / F_cell(elapsed) "
        "(Horvitz-Thompson), never fewer than the cell's received labels; null without a distribution."))
    expected_share: Probability | None = Field(description=(
        "final / expected_labels (1 past the horizon); null when it cannot be formed."))
    estimate: Probability | None = Field(description="successes / final.")
    delay_weighted_estimate: Probability | None = Field(description=(
        "Numerator over denominator of the cells' expected labels: each final label weighted by 1 / "
        "F_cell(elapsed)."))
    provisional: bool = Field(description="expected_share < min_expected_share.")


class LabelArrival(Part):
    """Maturity-aware evidence (monitor.domain.labels.label_arrival, docs/maturity.md): a label is final on arrival
    unless its source is one of provisional_sources (then final once horizon_days have passed since the prediction);
    each stratum-metric is decided on its final labels, provisional when the share of expected labels that are final is
    below min_expected_share. The label-arrival distributions come from the earlier cohorts (Lynden-Bell product-limit
    for right-truncated delays). Limitation: when outcome_dependent_delay is true, the final labels of a young cohort
    over-represent the fast outcome; delay_weighted_estimate accounts for it, assuming that given outcome and AI call
    the delay does not depend on the stratum or the period. Optional: absent from roll-ups."""

    horizon_days: Count = Field(description="monitoring.maturity_window_days: labels are expected within it.")
    provisional_sources: list[str] = Field(description="labels.provisional_sources.")
    min_expected_share: Probability = Field(description="labels.min_expected_share.")
    outcome_dependence_threshold: Number = Field(description=(
        "Kolmogorov distance between the positives' and negatives' arrival distributions at or above which "
        "the delay is said to depend on the outcome."))
    outcome_dependent_delay: bool | None = Field(description=(
        "Whether the label delay depends on the outcome for any model version (null: no distribution for both"
        " outcomes)."))
    distributions: list[ArrivalDistributions] = Field(description=(
        "Per model version: the positives' and negatives' arrival distributions (calls pooled), per confusion"
        " cell the ones used, their distance and verdict."))
    strata: list[LabelArrivalRow] = Field(description=(
        "Per model version, overall then single strata, each metric (and prevalence, never decided): labels "
        "received and final, the expected labels (Horvitz-Thompson, sum of final / F_cell(elapsed), never "
        "fewer than received, per cell), expected_share = final / expected_labels, provisional, the estimate "
        "on final labels and the delay-weighted estimate."))
