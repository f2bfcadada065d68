"""Section ``product`` (block 015_product): target population, contraindications, model lineage with
deployments per site, scanners by manufacturer and model (monitor.domain.report_product)."""

from __future__ import annotations

from monitor.domain.report_product import ProductSection
from monitor.service.report_sections import ContentSection, ReportSource
from monitor.service.report_sections._shared import product


def build(source: ReportSource) -> ProductSection:
    return product(source)


SECTION = ContentSection("product", ProductSection, build)
