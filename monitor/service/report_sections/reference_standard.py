"""Section ``reference_standard`` (block 015_reference_standard): the declared reference standard of each
ground-truth label source seen in the period; a source without one is "not defined" (and a limitation)."""

from __future__ import annotations

from monitor.domain.report_product import ReferenceStandardSection
from monitor.service.report_sections import ContentSection, ReportSource
from monitor.service.report_sections._shared import reference_standards


def build(source: ReportSource) -> ReferenceStandardSection:
    return reference_standards(source)


SECTION = ContentSection("reference_standard", ReferenceStandardSection, build)
