"""Section ``ordinal`` (issue 17 item 1): the metrics of an ordered output against the reference grade, per
model version and stratum (monitor.domain.ordinal), for a device whose ``outputs.type`` is ``ordinal``."""

from __future__ import annotations

from typing import Any

from monitor.domain.device import DeviceConfig
from monitor.domain.ordinal import SOURCE, ordinal_section
from monitor.service.device_sections import DeviceSection, SectionResult
from monitor.service.window import WindowReads

__all__ = ["SECTION", "build"]


def build(unit: Any, config: DeviceConfig, reads: WindowReads) -> SectionResult | None:
    """The section, or None when the device's outputs are not ordinal or no prediction carries a level."""
    window = reads.window
    if config.outputs is None or config.outputs.type != "ordinal":
        return None
    counts = unit.ordinal.level_counts(window.device_id, **window.kwargs(), attributes=config.strata.attributes)
    if counts.empty:
        return None
    result = ordinal_section(counts, config)
    return SectionResult(result.section, result.evidence)


SECTION = DeviceSection(SOURCE, build)
