"""Section ``limitations`` (block 130_limitations): every limitation the period's data show
(monitor.domain.report_limitations.limitations), with the product and reference-standard gaps."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from monitor.domain.report_limitations import Limitation, limitations
from monitor.service.report_sections import ContentSection, ReportSource
from monitor.service.report_sections._shared import product, reference_standards


class Limitations(BaseModel):
    """The limitations of the report, in a fixed order (regulatory.md section 2, item 17)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    items: list[Limitation] = Field(description="Every limitation the period's data show.")


def build(source: ReportSource) -> Limitations:
    made = product(source)
    return Limitations(items=limitations(source.document, sites_not_covered=made.sites_not_covered,
                                         undefined_sources=reference_standards(source).undefined,
                                         undeclared_versions=made.undeclared_versions,
                                         scanner_basis=made.scanner_basis))


SECTION = ContentSection("limitations", Limitations, build)
