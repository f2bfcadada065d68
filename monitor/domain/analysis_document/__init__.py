"""The analysis document as typed models (``schemas/analysis.schema.json`` is generated from them).

One module per part: the run's identity and rules (:mod:`.identity`), its provenance (:mod:`.provenance`:
sources, completeness, sites), the claims test (:mod:`.results`: counts, results, findings), the summary, and
each section beside the claims test (:mod:`.discrimination`, :mod:`.reference_comparison`,
:mod:`.stratum_vs_rest`, :mod:`.maturity`, :mod:`.label_arrival`, :mod:`.verification`,
:mod:`.time_to_intervention`, :mod:`.sequential`, :mod:`.data_drift`, :mod:`.early_warning`,
:mod:`.clustering`, :mod:`.clinical`), composed in :mod:`.document`. Value types are in :mod:`.values`, the
base models and the cross-field rules in :mod:`.base`.

The models are strict (no coercion) and frozen; :func:`validated` checks a document as the producers build it
and gives back the same JSON.
"""

from __future__ import annotations

from typing import Any

from monitor.domain.analysis_document.document import AnalysisDocument
from monitor.domain.documents import validate_document

__all__ = ["AnalysisDocument", "as_json", "validated"]


def validated(document: dict[str, Any]) -> AnalysisDocument:
    """The typed analysis document (:func:`monitor.domain.documents.validate_document`: an
    :class:`~monitor.errors.IntegrityError` naming fields, not values, when ``document`` breaks the schema)."""
    return validate_document(AnalysisDocument, document, what="the analysis document", unstored="nothing was stored")


def as_json(document: AnalysisDocument) -> dict[str, Any]:
    """The document as JSON values, as the producers wrote it (absent optional fields stay absent)."""
    return document.model_dump(mode="json", by_alias=True)
