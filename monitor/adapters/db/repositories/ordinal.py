"""Counts of an ordinal device's predictions by AI level and reference grade, computed by the database.

The window is read as every other aggregation reads it: the period's predictions ingested by the data cut-off
without those retracted by then (``_period_filter``), joined to the latest ground-truth version received by
the cut-off (``_label_join``); stratum labels by :func:`attribute_expression`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pandas as pd
from sqlalchemy import Connection, func, select

from monitor.adapters.db.repositories.results import _label_join, _period_filter, attribute_expression
from monitor.adapters.db.tables import ground_truth, predictions
from monitor.domain.strata import AttributeSpec

__all__ = ["OrdinalRepository"]

#: ``label_level`` of a prediction without a graded label by the cut-off.
UNVERIFIED = -1


class OrdinalRepository:
    """Database-side counts of the ordinal section over one device and window."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def level_counts(self, device_id: str, *, start: datetime, end: datetime, cutoff: datetime,
                     attributes: Sequence[AttributeSpec]) -> pd.DataFrame:
        """Predictions with an AI level by model version, stratum labels, AI level and reference grade.

        Columns: ``model_version``, one column per attribute (its labels), ``predicted_level``,
        ``label_level`` (:data:`UNVERIFIED` while the prediction has no graded label by the cut-off: pending,
        or never verified under an audit design) and ``n``. Rows without a level (a binary device's) are left
        out.
        """
        keys = [predictions.c.model_version.label("model_version")]
        keys += [attribute_expression(spec).label(spec.name) for spec in attributes]
        grade = func.coalesce(ground_truth.c.label_level, UNVERIFIED).label("label_level")
        query = (select(*keys, predictions.c.predicted_level, grade, func.count().label("n"))
                 .select_from(predictions.outerjoin(ground_truth, _label_join(cutoff)))
                 .where(*_period_filter(device_id, start, end, cutoff), predictions.c.predicted_level.is_not(None))
                 .group_by(*keys, predictions.c.predicted_level, grade))
        names = ["model_version", *[a.name for a in attributes], "predicted_level", "label_level", "n"]
        frame = pd.DataFrame([tuple(r) for r in self._conn.execute(query).all()], columns=names)
        return frame.astype({"predicted_level": "int64", "label_level": "int64", "n": "int64"})
