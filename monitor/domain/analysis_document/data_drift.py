"""Data drift of the period's inputs against the preceding window and the fixed baseline
(monitor.domain.data_drift; Rabanser et al. 2019): a leading indicator, not proof of a performance loss."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from monitor.domain.analysis_document.base import Part
from monitor.domain.analysis_document.values import (
    Count, ModelVersion, NonNegative, Number, PeriodLabel, Positive, Text, TimestampUtc,
)

__all__ = ["DriftComparison", "DriftRow"]

#: Why a drift row has its verdict.
DriftReason = Literal[
    "no_reference",
    "no_current_cases",
    "distance_reached_threshold",
    "distance_below_threshold",
    "significant_effect_reached_floor",
    "significant_effect_below_floor",
    "not_significant",
]


class DriftRow(Part):
    """Drift of one input between the reference window and the period, from histograms aggregated by the database
    (monitor.domain.data_drift; Rabanser et al. 2019). A leading indicator to investigate, not proof of a performance
    loss."""

    feature: Text = Field(description=(
        "The input: a stratification attribute (its source column for a numeric attribute, e.g. age, binned "
        "to whole units; the attribute name for a categorical one), site_id, score (binned to 0.01), "
        "positive_call_rate (positive calls among all predictions) or confirmed_prevalence (label 1 among the"
        " cases with ground truth)."))
    kind: Literal["numeric", "categorical", "rate"] = Field(description=(
        "Kind of input: numeric, categorical, or rate (positive_call_rate, confirmed_prevalence)."))
    method: Literal["wasserstein", "jensenshannon", "psi", "chisquare", "two-proportion-z"] | None = Field(description=(
        "Drift measure: wasserstein (first Wasserstein distance divided by the reference standard deviation; "
        "numeric inputs), jensenshannon (Jensen-Shannon distance, natural log, in [0, 0.8326]; categorical "
        "inputs), psi or chisquare (not chosen by the analysis), two-proportion-z (pooled two-sided "
        "two-proportion z test; the rates); null when the row is not compared (a window without cases)."))
    value: NonNegative | None = Field(description=(
        "The method's score: the distance (wasserstein, jensenshannon, psi) or the p-value (chisquare, "
        "two-proportion-z); null when the row is not compared."))
    threshold: Positive | None = Field(description=(
        "Threshold applied to value: 0.1 for the distances (drift when value >= threshold, Evidently "
        "defaults), 0.05 for the p-values (drift when value < threshold and |effect_size| reaches "
        "effect_floor); null when the row is not compared."))
    effect_size: Number | None = Field(description=(
        "Effect size: the distance itself for the distance methods, the Jensen-Shannon distance for "
        "chisquare, the signed rate difference current - reference for two-proportion-z; null when not "
        "available."))
    effect_floor: Positive | None = Field(description=(
        "The effect-size floor that decided the row: |effect_size| must reach it for drift. The threshold "
        "itself for the distance methods (they are their own effect size), 0.05 (Jensen-Shannon distance) for"
        " chisquare, 0.02 (absolute rate difference) for two-proportion-z; null when the row is not compared."))
    drifted: bool | None = Field(description=(
        "The verdict: distance >= threshold; for two-proportion-z, p < 0.05 and |effect_size| >= 0.02; for "
        "chisquare, p < 0.05 and Jensen-Shannon distance >= 0.05. Null when the row is not compared (reason "
        "no_reference or no_current_cases): no reference is not 'not drifted'."))
    reason: DriftReason = Field(description=(
        "Why the row has its verdict: no_reference (the reference window has no cases; drifted null), "
        "no_current_cases (the period has none; drifted null), distance_reached_threshold (true) or "
        "distance_below_threshold (false) for the distances, significant_effect_reached_floor (true), "
        "significant_effect_below_floor (false: p < threshold but |effect_size| < effect_floor) or "
        "not_significant (false: p >= threshold) for the tests."))
    reference_n: Count = Field(description="Cases in the reference window (for the rates: the rate's denominator).")
    current_n: Count = Field(description="Cases in the period (for the rates: the rate's denominator).")


class DriftComparison(Part):
    """The period's data drift against one reference window: each stratification input, site_id and the score
    (Wasserstein for numeric and Jensen-Shannon for categorical inputs, threshold 0.1), then the positive-call rate and
    the confirmed prevalence (two-proportion z test with a 0.02 effect-size floor), in that order. A reference window
    without cases (the first period, an empty baseline, a baseline that is not before the period) gives rows that are
    not compared (drifted null, reason no_reference), never 'not drifted'."""

    reference: Literal["preceding", "baseline"] = Field(description=(
        "preceding: the periods just before the period (a shift is reported while it is new); baseline: the "
        "fixed baseline of rules.drift_baseline (a shift is reported as long as it persists)."))
    baseline: PeriodLabel | Literal["model_version_start"] | None = Field(description=(
        "For reference baseline: the configured baseline (its canonical period label, or "
        "model_version_start); null for preceding."))
    model_versions: list[ModelVersion] = Field(description=(
        "For baseline model_version_start: the model versions (with cases in the period) whose first period "
        "this window is; empty otherwise."))
    periods: list[PeriodLabel] = Field(description=(
        "Labels of the reference window's periods, oldest first; empty when there is no reference window (an "
        "explicit period has no predecessor; a baseline that is the period itself or later)."))
    start_utc: TimestampUtc | None = Field(description=(
        "Start of the reference window, included; null when periods is empty."))
    end_utc: TimestampUtc | None = Field(description=(
        "End of the reference window, excluded; null when periods is empty."))
    rows: list[DriftRow] = Field(description="One row per input, in the order above.")
