"""One row of the low-confidence section of the analysis document (issue 17; filled in by its section's work)."""

from __future__ import annotations

from monitor.domain.analysis_document.base import Part

__all__ = ["LowConfidenceRow"]


class LowConfidenceRow(Part):
    """One row of the low-confidence section."""
