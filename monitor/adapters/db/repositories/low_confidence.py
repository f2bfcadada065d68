"""The counts of the low-confidence section (issue 17 item 4), computed by the database (GROUP BY).

The window's delivered results as the clinical sections read them
(:mod:`monitor.adapters.db.repositories.clinical`): predicted in the period, ingested by the data cut-off and not
retracted by it (``_period_filter``), each with its latest ground-truth version received by the cut-off
(``_label_join``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pandas as pd
from sqlalchemy import BigInteger, Connection, cast, exists, func, select

from monitor.adapters.db.repositories.clinical import ClinicalRepository
from monitor.adapters.db.repositories.results import _label_join, _period_filter, attribute_expression
from monitor.adapters.db.tables import ground_truth, predictions
from monitor.domain.strata import AttributeSpec

__all__ = ["LowConfidenceRepository"]


class LowConfidenceRepository:
    """Counts of the window's results by low-confidence flag, AI call and ground truth."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def any_logged(self, device_id: str, *, start: datetime, end: datetime, cutoff: datetime) -> bool:
        """Whether any result of the window logged its low-confidence flag (0 or 1)."""
        query = select(exists().where(*_period_filter(device_id, start, end, cutoff),
                                      predictions.c.low_confidence.is_not(None)))
        return bool(self._conn.execute(query).scalar())

    def counts(self, device_id: str, *, start: datetime, end: datetime, cutoff: datetime,
               attributes: Sequence[AttributeSpec]) -> pd.DataFrame:
        """Results by model version, stratum labels, flag, call and ground truth.

        Columns: ``model_version``, the stratum labels (one column per attribute), ``low_confidence`` (0, 1 or
        None when not logged), ``predicted_label``, ``label`` (None while the ground truth is pending) and ``n``.

        One statement: the results are first counted by model version, the raw inputs of the stratum labels, flag,
        call and label (a few thousand groups), and the labels are evaluated once per group, not per row (as
        :meth:`ClinicalRepository.failure_counts` does).
        """
        inputs = ClinicalRepository(self._conn)._stratum_inputs(predictions, attributes)
        flag, call, label = predictions.c.low_confidence, predictions.c.predicted_label, ground_truth.c.label
        raw = (select(predictions.c.model_version.label("model_version"), *[c for _, c in inputs],
                      flag.label("low_confidence"), call.label("predicted_label"), label.label("label"),
                      func.count().label("n"))
               .select_from(predictions.outerjoin(ground_truth, _label_join(cutoff)))
               .where(*_period_filter(device_id, start, end, cutoff))
               .group_by(predictions.c.model_version, *[g for g, _ in inputs], flag, call, label)
               .subquery())
        keys = [raw.c.model_version.label("model_version"),
                *[attribute_expression(spec, raw).label(spec.name) for spec in attributes],  # type: ignore[arg-type]
                raw.c.low_confidence, raw.c.predicted_label, raw.c.label]
        query = select(*keys, cast(func.sum(raw.c.n), BigInteger).label("n")).group_by(*keys)
        names = ["model_version", *[a.name for a in attributes], "low_confidence", "predicted_label", "label", "n"]
        frame = pd.DataFrame([tuple(r) for r in self._conn.execute(query).all()], columns=names)
        frame = frame.astype({"n": "int64"})
        for column in ("low_confidence", "label"):
            frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
        return frame.sort_values(names[:-1], kind="stable", na_position="first", key=lambda s: s.astype(str)
                                 ).reset_index(drop=True)
