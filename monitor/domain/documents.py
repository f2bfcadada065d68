"""Checking a document the service produced against its typed model, in one place for every document kind.

A document that breaks its model is a defect of the producer, not of the user's input: the error is an
:class:`IntegrityError` that names fields and error types, never values, and nothing is stored or written.
The cyclic garbage collector is paused while the models are built: building hundreds of thousands of small
objects otherwise triggers collections that scan them all again and again, more than half the time for a
10,000-stratum analysis document (docs/analysis-document.md, "Cost").
"""

from __future__ import annotations

import gc
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from monitor.errors import IntegrityError

__all__ = ["validate_document"]

M = TypeVar("M", bound=BaseModel)


def validate_document(model: type[M], document: Any, *, what: str, unstored: str) -> M:
    """``document`` as ``model``; :class:`IntegrityError` "``what`` breaks its schema (...); ``unstored``" when
    it does not fit (the first five problems by place and type)."""
    paused = gc.isenabled()
    gc.disable()
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        where = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['type']}" for e in exc.errors()[:5])
        raise IntegrityError(f"{what} breaks its schema ({exc.error_count()} problem(s): {where}); {unstored}: "
                             "please report this defect") from None
    finally:
        if paused:
            gc.enable()
