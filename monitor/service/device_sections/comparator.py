"""Section ``comparator``: the AI against the device's comparator (a guideline score such as the Lung-RADS category,
or a reference reader) logged on the same studies, with paired methods (:mod:`monitor.domain.comparator`).

It applies when the configuration declares ``comparator`` and the window's labelled results carry one. It returns
no evidence: the comparator is never a model version, never claimed, never a finding or a ticket.
"""

from __future__ import annotations

from typing import Any

from monitor.domain.comparator import compare_with_comparator
from monitor.domain.device import DeviceConfig
from monitor.service.device_sections import DeviceSection, SectionResult
from monitor.service.window import WindowReads


def build(unit: Any, config: DeviceConfig, reads: WindowReads) -> SectionResult | None:
    """The comparator section over ``window``, or None when the device declares no comparator or no labelled
    result of the window carries one."""
    window = reads.window
    if config.comparator is None:
        return None
    counts = unit.comparator.paired_counts(window.device_id, attributes=config.strata.attributes,
                                           positive_from=config.comparator.positive_from, **window.kwargs())
    section = compare_with_comparator(counts, config)
    return None if section is None else SectionResult(content=section, evidence=[])


SECTION = DeviceSection("comparator", build)
