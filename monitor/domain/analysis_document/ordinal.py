"""The section of an ordinal device (outputs.type ordinal) of the analysis document: per model version and
stratum, the per-level confusion matrix, sensitivity and specificity at every cut between levels, weighted kappa
against the reference grade and the false-negative rate of the lowest level (monitor.domain.ordinal,
monitor.service.device_sections.ordinal)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from monitor.domain.analysis_document.base import LEVEL_MATCHES_STRATUM, Part
from monitor.domain.analysis_document.values import (
    Count, Level, ModelVersion, NonNegative, PositiveCount, ProbabilityOrNull, SignedUnit, StratumAttributes,
    StratumKey, Text,
)

__all__ = ["OrdinalCut", "OrdinalLevel", "OrdinalRate", "OrdinalSection", "OrdinalStratum"]


class OrdinalLevel(Part):
    """One level of the ordered output, lowest first (outputs.levels)."""

    name: Text = Field(description="Level name as the logs give it.")
    name_zh: Text | None = Field(description="Level name in Chinese (outputs.levels[].name_zh); null when not given.")


class OrdinalRate(Part):
    """A proportion of verified cases: the raw counts, and under an audit design the verification-corrected
    estimate with its Korn-Graubard effective counts."""

    successes: Count = Field(description="Verified cases in the numerator (raw count).")
    trials: Count = Field(description="Verified cases in the denominator (raw count).")
    estimate: ProbabilityOrNull = Field(description=(
        "successes / trials under complete verification; under labels.verification audit_sample the "
        "verification-corrected (Begg-Greenes, inverse-probability-weighted) estimate; null without trials."))
    ci_low: ProbabilityOrNull = Field(description=(
        "Lower limit of the two-sided interval at rules.confidence: rules.interval_method on whole counts, "
        "Clopper-Pearson on the effective counts (Korn-Graubard) under an audit design."))
    ci_high: ProbabilityOrNull = Field(description="Upper limit of the same interval.")
    effective_successes: NonNegative | None = Field(description=(
        "Under an audit design: estimate x effective_trials; null under complete verification."))
    effective_trials: NonNegative | None = Field(description=(
        "Under an audit design: estimate (1 - estimate) / variance (Korn & Graubard 1998), the variance by the "
        "delta method of the two-phase design; null under complete verification."))


class OrdinalCut(Part):
    """Sensitivity and specificity at one cut between levels: positive = level >= cut."""

    cut: PositiveCount = Field(description="Index of the lowest positive level of the cut (1 .. K-1).")
    positive_from: Text = Field(description="Name of that level.")
    primary: bool = Field(description="Whether this is outputs.positive_from, the cut of the binary metrics.")
    sensitivity: OrdinalRate = Field(description="P(AI level >= cut | reference grade >= cut).")
    specificity: OrdinalRate = Field(description="P(AI level < cut | reference grade < cut).")


class OrdinalStratum(Part):
    """The ordinal metrics of one model version in one stratum (overall, single attribute or monitored
    intersection)."""

    __conditions__ = LEVEL_MATCHES_STRATUM

    model_version: ModelVersion = Field(description="Model version.")
    stratum: StratumKey = Field(description="Stratum key.")
    level: Level = Field(description="Stratum level.")
    attributes: StratumAttributes = Field(description="Stratum assignments.")
    calls: list[Count] = Field(description=(
        "AI calls by level (lowest first) among the period's delivered predictions, verified or not."))
    matrix: list[list[Count]] = Field(description=(
        "Verified cases (ground truth with a reference grade by the cut-off): rows the AI level, columns the "
        "reference grade, lowest first."))
    verified: Count = Field(description="Verified cases (the sum of matrix).")
    basis: Literal["counts", "verification_corrected"] = Field(description=(
        "counts: complete verification, the figures are the verified counts; verification_corrected: "
        "labels.verification audit_sample, each verified case weighted by calls / verified cases of its binary "
        "call (Begg & Greenes 1983)."))
    cuts: list[OrdinalCut] = Field(description="Every cut between levels, lowest first.")
    weighted_kappa: SignedUnit | None = Field(description=(
        "Weighted kappa of the AI level against the reference grade (Cohen 1968, outputs.kappa_weights); null "
        "when it cannot be estimated (no case, or a single level in both margins)."))
    kappa_standard_error: NonNegative | None = Field(description=(
        "Large-sample standard error (Fleiss, Cohen & Everitt 1969; the delta method of the two-phase design "
        "under an audit design)."))
    kappa_ci_low: SignedUnit | None = Field(description="Lower Wald limit at rules.confidence, within -1..1.")
    kappa_ci_high: SignedUnit | None = Field(description="Upper Wald limit at rules.confidence, within -1..1.")
    lowest_level_fnr: OrdinalRate = Field(description=(
        "False-negative rate of the lowest level: among cases whose reference grade >= outputs.positive_from, "
        "the share the AI called the lowest level."))


class OrdinalSection(Part):
    """A section of an ordinal device (outputs.type ordinal)."""

    levels: list[OrdinalLevel] = Field(description="The levels, lowest first.")
    positive_from: Text = Field(description="The lowest level of a positive binary call (outputs.positive_from).")
    kappa_weights: Literal["linear", "quadratic"] = Field(description="Weights of the weighted kappa.")
    verification: Literal["complete", "audit_sample"] = Field(description="labels.verification.")
    strata: list[OrdinalStratum] = Field(description="Per model version and stratum, in report order.")
