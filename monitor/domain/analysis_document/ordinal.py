"""A section of an ordinal device (outputs.type ordinal) of the analysis document (issue 17; filled in by its section's work)."""

from __future__ import annotations

from monitor.domain.analysis_document.base import Part

__all__ = ["OrdinalSection"]


class OrdinalSection(Part):
    """A section of an ordinal device (outputs.type ordinal)."""
