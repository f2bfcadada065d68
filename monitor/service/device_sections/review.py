"""Section ``review`` of the analysis document (issue 17 item 3): the review rate per model version and stratum and
per trigger (:mod:`monitor.domain.review`), the worklist's cases by review status as of the cut-off
(:mod:`monitor.service.worklist`), and Dice / IoU where the logs give the masks' overlap; with the review rate's
evidence for ``claims.metrics`` (review_rate). It applies when the device declares review triggers (``review``).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from monitor.domain.analysis_document.review import OverlapRow, ReviewRateRow, ReviewSection, WorklistCounts
from monitor.domain.device import DeviceConfig
from monitor.domain.review import (
    OverlapSummary,
    ReviewRate,
    declared_triggers,
    overlap_by_stratum,
    review_rate_evidence,
    review_rates,
)
from monitor.domain.review_events import WORKLIST_STATUSES
from monitor.service.device_sections import DeviceSection, SectionResult
from monitor.service.window import WindowReads
from monitor.service.worklist import worklist_items

__all__ = ["SECTION", "build"]


def _rate_row(rate: ReviewRate) -> ReviewRateRow:
    return ReviewRateRow(model_version=rate.model_version, stratum=rate.stratum.key, level=rate.stratum.level,
                         attributes=rate.stratum.as_dict(), cases=rate.trials, sent_to_review=rate.events,
                         rate=rate.rate, ci_low=rate.ci_low, ci_high=rate.ci_high, by_trigger=dict(rate.by_trigger))


def _overlap_row(summary: OverlapSummary) -> OverlapRow:
    values: dict[str, float | None] = {}
    for name, (estimate, low, high) in (("dice_mean", summary.dice), ("dice_median", summary.dice_median),
                                        ("iou_mean", summary.iou), ("iou_median", summary.iou_median)):
        values |= {name: estimate, f"{name}_ci_low": low, f"{name}_ci_high": high}
    return OverlapRow(model_version=summary.model_version, stratum=summary.stratum.key, level=summary.stratum.level,
                      attributes=summary.stratum.as_dict(), cases=summary.cases,
                      invalid_overlap=summary.invalid_overlap, **values)


def build(unit: Any, config: DeviceConfig, reads: WindowReads) -> SectionResult | None:
    """The section over ``window``, or None when the device declares no review triggers."""
    window = reads.window
    if config.review is None:
        return None
    cases = unit.review.cases(window.device_id, **window.kwargs(), attributes=config.strata.attributes)
    _, items = worklist_items(cases, unit.review.latest(window.device_id, window.cutoff), config)
    statuses = Counter(item.status for item in items)
    rates = review_rates(cases, config) if not cases.empty else []
    overlap = overlap_by_stratum(cases, config) if not cases.empty else []
    content = ReviewSection(
        triggers=list(declared_triggers(config.review)),  # type: ignore[arg-type]
        volume_tolerance=config.review.volume_disagreement,
        rates=[_rate_row(r) for r in rates],
        worklist=WorklistCounts(**{s: statuses.get(s, 0) for s in WORKLIST_STATUSES}, total=len(items)),
        overlap=[_overlap_row(s) for s in overlap])
    return SectionResult(content=content, evidence=review_rate_evidence(rates))


SECTION = DeviceSection("review", build)
