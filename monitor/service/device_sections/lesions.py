"""The lesion-level detection section (issue 17 item 2): applies when the device declares ``lesions``.

Reads the window's scans (prediction rows with their strata and latest label), their findings and their reference
lesions (latest version by the cut-off) through the unit of work, and computes the section with the pure core
(:func:`monitor.domain.lesion_evaluation.evaluate_lesions`): lesion sensitivity and FP/scan (the evidence of their
claims), the FROC curve, the CPM and the JAFROC FOM, with patient-bootstrap intervals.
"""

from __future__ import annotations

from typing import Any

from monitor.domain.device import DeviceConfig
from monitor.domain.lesion_evaluation import evaluate_lesions
from monitor.service.device_sections import DeviceSection, SectionResult
from monitor.service.window import WindowReads

__all__ = ["SECTION", "build"]


def build(unit: Any, config: DeviceConfig, reads: WindowReads) -> SectionResult | None:
    """The section, or ``None`` when the device is not a lesion device."""
    window = reads.window
    if config.lesions is None:
        return None
    lesions = unit.lesions
    scans = lesions.window_scans(window.device_id, **window.kwargs(), attributes=config.strata.attributes)
    findings = lesions.window_findings(window.device_id, **window.kwargs())
    references = lesions.window_references(window.device_id, **window.kwargs())
    result = evaluate_lesions(scans, findings, references, config)
    return SectionResult(result.section, result.evidence)


SECTION = DeviceSection("lesions", build)
