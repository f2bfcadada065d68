"""Section ``comparator`` (block 085_comparator): the AI against the device's comparator (a guideline score such
as Lung-RADS, or a reference reader) on the same studies, as the analysis computed it (the analysis document's
``comparator``, monitor.domain.comparator): AUC, sensitivity and specificity of both with the paired differences.
None when the analysis has no comparator section (no comparator configured or logged, or a roll-up)."""

from __future__ import annotations

from monitor.domain.analysis_document.comparator import ComparatorSection
from monitor.service.report_sections import ContentSection, ReportSource


def build(source: ReportSource) -> ComparatorSection | None:
    stored = source.document.get("comparator")
    if source.rollup or not stored:
        return None
    return ComparatorSection.model_validate(stored)


SECTION = ContentSection("comparator", ComparatorSection, build)
