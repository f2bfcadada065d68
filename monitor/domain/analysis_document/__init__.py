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

import gc
from typing import Any

from pydantic import ValidationError

from monitor.domain.analysis_document.document import AnalysisDocument
from monitor.errors import IntegrityError

__all__ = ["AnalysisDocument", "as_json", "validated"]


def validated(document: dict[str, Any]) -> AnalysisDocument:
    """The typed analysis document; :class:`IntegrityError` naming where when ``document`` breaks the schema
    (a defect of the producer, not of the user's input: nothing is stored; the message names fields, not values).

    The cyclic garbage collector is paused while the models are built: building hundreds of thousands of small
    objects otherwise triggers collections that scan them all again and again, more than half the time for a
    10,000-stratum document (docs/analysis-document.md, "Cost")."""
    paused = gc.isenabled()
    gc.disable()
    try:
        return AnalysisDocument.model_validate(document)
    except ValidationError as exc:
        where = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['type']}" for e in exc.errors()[:5])
        raise IntegrityError(f"the analysis document breaks its schema ({exc.error_count()} problem(s): {where}); "
                             "nothing was stored: please report this defect") from None
    finally:
        if paused:
            gc.enable()


def as_json(document: AnalysisDocument) -> dict[str, Any]:
    """The document as JSON values, as the producers wrote it (absent optional fields stay absent)."""
    return document.model_dump(mode="json", by_alias=True)
