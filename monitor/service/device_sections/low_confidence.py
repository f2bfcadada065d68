"""Section ``low_confidence`` of the analysis document (issue 17 item 4): the AI's low-confidence /
out-of-distribution flag rate per model version and stratum, and performance within flagged and unflagged results
(:mod:`monitor.domain.low_confidence`), with the flag rate's evidence for ``claims.metrics`` (low_confidence_rate).

It applies when a result of the window logged the flag, or the device claims a maximum low-confidence rate (the
section then shows, per stratum, how many results did not log it).
"""

from __future__ import annotations

from typing import Any

from monitor.domain.device import DeviceConfig
from monitor.domain.low_confidence import METRIC, SOURCE, low_confidence_by_stratum
from monitor.service.device_sections import DeviceSection, SectionResult
from monitor.service.window import WindowReads

__all__ = ["SECTION", "build"]


def build(unit: Any, config: DeviceConfig, reads: WindowReads) -> SectionResult | None:
    """The section over ``window``, or None when no result logged the flag and no claim asks for it."""
    window = reads.window
    claimed = any(claim.metric == METRIC for claim in config.claims.metrics)
    span = window.kwargs()
    if not claimed and not unit.low_confidence.any_logged(window.device_id, **span):
        return None
    counts = unit.low_confidence.counts(window.device_id, attributes=config.strata.attributes, **span)
    found = low_confidence_by_stratum(counts, config)
    return SectionResult(content=found.rows, evidence=found.evidence)


SECTION = DeviceSection(SOURCE, build)
