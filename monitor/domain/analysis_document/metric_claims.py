"""One decided claim of claims.metrics of the analysis document (issue 17; filled in by its section's work)."""

from __future__ import annotations

from monitor.domain.analysis_document.base import Part

__all__ = ["MetricClaimRow"]


class MetricClaimRow(Part):
    """One decided claim of claims.metrics."""
