"""The lesion-level detection section of the analysis document (issue 17; filled in by its section's work)."""

from __future__ import annotations

from monitor.domain.analysis_document.base import Part

__all__ = ["LesionSection"]


class LesionSection(Part):
    """The lesion-level detection section."""
