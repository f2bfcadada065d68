"""The lesion-level detection section of the analysis document (issue 17 item 2; monitor.domain.lesion_evaluation,
monitor.stats.froc): per model version and stratum (overall and single attributes), lesion sensitivity at the
operating point, false positives per scan, the FROC curve, the sensitivity at the predefined FP rates and their mean
(CPM), and the JAFROC figure of merit, each with its patient-bootstrap standard error and percentile interval.

The claims of lesion_sensitivity and fp_per_scan (claims.metrics) are decided in metric_claims, not here."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from monitor.domain.analysis_document.base import LEVEL_MATCHES_STRATUM, Part
from monitor.domain.analysis_document.values import (
    Count, Level, ModelVersion, NonNegative, Number, Positive, Probability, ProbabilityOrNull, StratumAttributes,
    StratumKey, Text,
)

__all__ = ["FrocPointRow", "LesionEstimate", "LesionSection", "LesionSizeRow", "LesionStratumRow",
           "SensitivityAtRate"]

_BOOT = "the bootstrap over patients (bootstrap_replicates, seed)"


class LesionEstimate(Part):
    """A lesion-level figure: its estimate, the standard deviation of its bootstrap replicates (the standard error)
    and the Efron percentile interval at confidence; every field null when the figure is undefined (no reference
    lesion, or no normal scan for the FOM)."""

    estimate: Number | None = Field(description="The figure on the period's data; null when undefined.")
    standard_error: NonNegative | None = Field(description=f"Standard deviation (ddof 1) of the replicates of {_BOOT}.")
    ci_low: Number | None = Field(description=f"Lower percentile limit of {_BOOT} at confidence.")
    ci_high: Number | None = Field(description=f"Upper percentile limit of {_BOOT} at confidence.")


class SensitivityAtRate(LesionEstimate):
    """The lesion sensitivity at one predefined false-positive rate: the highest sensitivity of an FROC point whose
    FPs per scan do not exceed the rate (the curve as a step function; 0 when no point does)."""

    fp_per_scan: Positive = Field(description="The predefined rate (lesions.fp_per_scan_points).")


class FrocPointRow(Part):
    """One point of the FROC curve: the findings scored at or above threshold are reported."""

    threshold: Probability = Field(description="A distinct finding score, taken as the threshold.")
    true_positives: Count = Field(description="Reference lesions hit by a reported finding.")
    false_positives: Count = Field(description="Reported findings that hit no (free) reference lesion.")
    sensitivity: ProbabilityOrNull = Field(description="true_positives / lesions; null without a reference lesion.")
    fp_per_scan: NonNegative = Field(description="false_positives / scans.")


class LesionSizeRow(Part):
    """Lesion sensitivity at the operating point by the reference lesion's diameter (descriptive, no interval)."""

    size_band: Text = Field(description="Reference diameter band in mm (<6, 6-8, 8-15, >=15, or unknown).")
    lesions: Count = Field(description="Reference lesions in the band.")
    detected: Count = Field(description="Of them, hit by a finding scored at or above the operating threshold.")
    sensitivity: ProbabilityOrNull = Field(description="detected / lesions; null without lesions.")


class LesionStratumRow(Part):
    """The lesion-level figures of one model version in one stratum, over its evaluated scans (scans with a
    patient-level ground-truth label by the cut-off) and their reference lesions."""

    __conditions__ = LEVEL_MATCHES_STRATUM

    model_version: ModelVersion = Field(description="Model version.")
    stratum: StratumKey = Field(description="Stratum key (a scan's stratum is its prediction row's).")
    level: Level = Field(description="Stratum level (0 overall, 1 single attribute).")
    attributes: StratumAttributes = Field(description="Stratum assignments.")
    scans: Count = Field(description="Evaluated scans: the FP/scan denominator.")
    patients: Count = Field(description="Distinct patients of the scans: the bootstrap's clusters.")
    normal_scans: Count = Field(description="Scans without a reference lesion (the JAFROC FOM's normal cases).")
    lesions: Count = Field(description="Reference lesions (latest version by the cut-off, not withdrawn).")
    findings: Count = Field(description="AI findings of the scans, any score.")
    true_positives: Count = Field(description="Lesions hit by a finding scored at or above the operating threshold.")
    false_positives: Count = Field(description="Findings at or above the operating threshold that hit no free lesion.")
    false_negatives: Count = Field(description="lesions - true_positives.")
    lesion_sensitivity: LesionEstimate = Field(description="true_positives / lesions at the operating threshold.")
    fp_per_scan: LesionEstimate = Field(description="false_positives / scans at the operating threshold.")
    sensitivity_at: list[SensitivityAtRate] = Field(description="Sensitivity at each predefined FP rate.")
    cpm: LesionEstimate = Field(description=(
        "Mean of sensitivity_at (the CPM, Niemeijer et al. 2011 with the configured rates)."))
    jafroc_fom: LesionEstimate = Field(description=(
        "JAFROC figure of merit (Chakraborty & Berbaum 2004): the probability that a lesion's matched score exceeds "
        "the highest false-positive score of a normal scan (ties 1/2; unmarked lesions and normal scans without a "
        "finding rate -inf); null without a normal scan or a lesion."))
    froc: list[FrocPointRow] = Field(description="The FROC curve, highest threshold first (overall rows only).")
    by_size: list[LesionSizeRow] = Field(description="Sensitivity by reference diameter band (overall rows only).")


class LesionSection(Part):
    """The lesion-level detection section (device lesions)."""

    rule: Literal["centre_within_reference", "centre_distance"] = Field(description="The matching rule (lesions.rule).")
    max_distance_mm: Positive | None = Field(description="Distance limit of centre_distance; null otherwise.")
    operating_threshold: Probability = Field(description=(
        "Finding score at or above which a finding is reported (lesions.operating_threshold, else the device's)."))
    fp_per_scan_points: list[Positive] = Field(description="The predefined FP rates of sensitivity_at and the CPM.")
    bootstrap_replicates: Count = Field(description="Replicates of the bootstrap over patients.")
    seed: int = Field(description="Seed of the bootstrap (numpy default_rng).")
    confidence: Probability = Field(description="Confidence of the percentile intervals (monitoring.confidence).")
    scans_pending: Count = Field(description=(
        "Scans of the period without a patient-level ground-truth label by the cut-off: not evaluated."))
    positive_scans_without_lesions: Count = Field(description=(
        "Evaluated scans labelled positive with no reference lesion (a data-quality signal; evaluated as normal)."))
    negative_scans_with_lesions: Count = Field(description=(
        "Evaluated scans labelled negative with reference lesions (a data-quality signal; their lesions count)."))
    rows: list[LesionStratumRow] = Field(description="Per model version: overall, then each single stratum.")
