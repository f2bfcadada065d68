"""The review section of the analysis document (issue 17 item 3): the share of results the device's review triggers
sent to secondary review per model version and stratum, the worklist's cases by review status, and the overlap
of the AI and the reviewed segmentation masks (Dice / IoU) where supplied (monitor.domain.review,
monitor.service.device_sections.review). The review rate's claim (claims.metrics review_rate) is decided in
metric_claims, not here."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from monitor.domain.analysis_document.base import LEVEL_MATCHES_STRATUM, Part
from monitor.domain.analysis_document.values import (
    Count, Level, ModelVersion, OpenUnit, ProbabilityOrNull, StratumAttributes, StratumKey,
)

__all__ = ["OverlapRow", "ReviewRateRow", "ReviewSection", "Trigger", "WorklistCounts"]

Trigger = Literal["volume_disagreement", "reader_disagreement", "low_confidence", "failure"]
_INTERVAL = "(rules.interval_method at rules.confidence)"


class ReviewRateRow(Part):
    """The review rate of one model version in one stratum (overall, single attribute or monitored intersection):
    the period's cases (delivered results ingested by the cut-off and not retracted by it, plus the failures when
    the failure trigger is declared) for which any declared trigger fired."""

    __conditions__ = LEVEL_MATCHES_STRATUM

    model_version: ModelVersion = Field(description="Model version.")
    stratum: StratumKey = Field(description="Stratum key.")
    level: Level = Field(description="Stratum level (0 overall, 1 single attribute, 2 intersection).")
    attributes: StratumAttributes = Field(description="Stratum assignments.")
    cases: Count = Field(description="Cases counted by the rate (its denominator).")
    sent_to_review: Count = Field(description="Cases with any trigger fired (the rate's numerator).")
    rate: ProbabilityOrNull = Field(description="sent_to_review / cases; null without cases.")
    ci_low: ProbabilityOrNull = Field(description=f"Lower limit of the rate's two-sided interval {_INTERVAL}.")
    ci_high: ProbabilityOrNull = Field(description=f"Upper limit of the rate's two-sided interval {_INTERVAL}.")
    by_trigger: dict[str, Count] = Field(description=(
        "Cases for which each declared trigger fired (a case may fire several: they can sum above "
        "sent_to_review)."))


class WorklistCounts(Part):
    """The period's worklist cases by the status of their latest review event ingested by the cut-off."""

    pending: Count = Field(description="No review event yet.")
    in_review: Count = Field(description="Taken by a reviewer.")
    confirmed: Count = Field(description="AI result confirmed.")
    edited: Count = Field(description="A field edited (e.g. reviewed_volume_mm3, label).")
    rejected: Count = Field(description="AI result rejected.")
    total: Count = Field(description="Every worklist case of the period (all model versions).")


class OverlapRow(Part):
    """Dice and IoU of the AI and the reviewed masks of one model version in one stratum (overall or single
    attribute), over the delivered results with overlap_volume_mm3 given: Dice = 2 overlap / (AI + reviewed)
    (Dice 1945), IoU = overlap / (AI + reviewed - overlap) (Jaccard 1912). Means with the Student t interval
    (clipped to [0, 1]); medians with the distribution-free order-statistic interval (Conover 1999, 3.2), both
    at rules.confidence; limits null when too few cases."""

    __conditions__ = LEVEL_MATCHES_STRATUM

    model_version: ModelVersion = Field(description="Model version.")
    stratum: StratumKey = Field(description="Stratum key.")
    level: Level = Field(description="Stratum level (0 overall, 1 single attribute).")
    attributes: StratumAttributes = Field(description="Stratum assignments.")
    cases: Count = Field(description="Cases with a valid overlap (0 <= overlap <= min(AI, reviewed), AI + reviewed > 0).")
    invalid_overlap: Count = Field(description="Cases whose overlap is given but impossible: left out.")
    dice_mean: ProbabilityOrNull = Field(description="Mean Dice coefficient.")
    dice_mean_ci_low: ProbabilityOrNull = Field(description="Lower limit of the t interval of the mean Dice.")
    dice_mean_ci_high: ProbabilityOrNull = Field(description="Upper limit of the t interval of the mean Dice.")
    dice_median: ProbabilityOrNull = Field(description="Median Dice coefficient.")
    dice_median_ci_low: ProbabilityOrNull = Field(description="Lower limit of the order-statistic interval.")
    dice_median_ci_high: ProbabilityOrNull = Field(description="Upper limit of the order-statistic interval.")
    iou_mean: ProbabilityOrNull = Field(description="Mean IoU (Jaccard index).")
    iou_mean_ci_low: ProbabilityOrNull = Field(description="Lower limit of the t interval of the mean IoU.")
    iou_mean_ci_high: ProbabilityOrNull = Field(description="Upper limit of the t interval of the mean IoU.")
    iou_median: ProbabilityOrNull = Field(description="Median IoU.")
    iou_median_ci_low: ProbabilityOrNull = Field(description="Lower limit of the order-statistic interval.")
    iou_median_ci_high: ProbabilityOrNull = Field(description="Upper limit of the order-statistic interval.")


class ReviewSection(Part):
    """The review-trigger section: trigger rates by stratum and trigger, the worklist by status, Dice / IoU."""

    triggers: list[Trigger] = Field(description="The triggers the device declares (review), in report order.")
    volume_tolerance: OpenUnit | None = Field(description=(
        "Relative tolerance of the volume trigger (|AI - reviewed| > tolerance x reviewed); null when not declared."))
    rates: list[ReviewRateRow] = Field(description="Review rates per model version: overall, single strata, "
                                                   "monitored intersections.")
    worklist: WorklistCounts = Field(description="The worklist's cases by review status.")
    overlap: list[OverlapRow] = Field(description=(
        "Dice / IoU per model version, overall then single strata; empty when no result gives overlap_volume_mm3."))
