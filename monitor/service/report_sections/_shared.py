"""What several report sections read: the product and reference-standard joins, the ticket statuses.

Computed once per report content (the last source's values are kept), so that the limitations section
uses exactly the rows the product and reference-standard sections print."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from monitor.domain.report_product import (
    ProductSection,
    ReferenceStandardSection,
    product_section,
    reference_standard_section,
)
from monitor.domain.verification_design import labels_by_source
from monitor.service.report_sections import ReportSource

__all__ = ["label_sources", "product", "reference_standards", "ticket_status"]

_MEMO: dict[str, tuple[ReportSource, Any]] = {}


def _memo(name: str, source: ReportSource, make: Any) -> Any:
    held = _MEMO.get(name)
    if held is not None and held[0] is source:
        return held[1]
    value = make()
    _MEMO[name] = (source, value)
    return value


def ticket_status(source: ReportSource) -> dict[str, str]:
    """Status of each ticket the report names (content.tickets)."""
    return {t["ticket_id"]: t["status"] for t in source.core.get("tickets") or []}


def label_sources(source: ReportSource) -> dict[str, int] | None:
    """Labels per ground-truth source of the period's window as of the analysis cut-off: as the analysis
    recorded them (``verification_design.labels_by_source``), else (a document made before they were
    recorded) counted again from the window aggregates (month aggregates when fresh, else rows); None for
    a roll-up or a unit without them."""
    from monitor.service.cells import window_aggregates
    from monitor.service.window import Window

    def read() -> dict[str, int] | None:
        if source.rollup:
            return None
        recorded = (source.document.get("verification_design") or {}).get("labels_by_source")
        if recorded is not None:
            return {str(k): int(v) for k, v in recorded.items()}
        if not hasattr(source.unit, "aggregates"):
            return None
        period = source.document["period"]
        window = Window(source.config.device.id, datetime.fromisoformat(period["start_utc"]),
                        datetime.fromisoformat(period["end_utc"]), datetime.fromisoformat(source.document["data_cutoff"]))
        aggregates = window_aggregates(source.unit, source.config, window, None).aggregates
        return labels_by_source(aggregates.label_sources)

    return _memo("label_sources", source, read)  # type: ignore[no-any-return]


def product(source: ReportSource) -> ProductSection:
    def make() -> ProductSection:
        devices = source.unit.devices
        sites = devices.sites(source.config.device.id) if hasattr(devices, "sites") else []
        return product_section(source.config, source.document, sites)

    return _memo("product", source, make)  # type: ignore[no-any-return]


def reference_standards(source: ReportSource) -> ReferenceStandardSection:
    return _memo("reference", source,  # type: ignore[no-any-return]
                 lambda: reference_standard_section(source.config, label_sources(source)))
