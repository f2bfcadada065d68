"""The confirmed cases of patients seen more than once in a window, per patient and stratum cell, for the
patient-level (cluster-robust) variance of the stratum-metrics (:mod:`monitor.domain.clustering`).

Only patients with two or more confirmed cases in the window are read: a patient with a single case adds
exactly the binomial term to the cluster-robust sum, which the stratum counts already give
(docs/clustering.md). Patients are told apart by the keyed hash of their id (``predictions.patient_hash``);
the hash never leaves the database: the rows carry a patient *number* (the rank of the hash) instead.
"""

from __future__ import annotations

from datetime import datetime
from typing import Sequence

import pandas as pd
from sqlalchemy import Connection, Integer, cast, func, select

from monitor.adapters.db.repositories.results import (
    _label_join,
    _period_filter,
    attribute_expression,
    confusion_counts,
)
from monitor.adapters.db.tables import ground_truth, predictions
from monitor.domain.strata import AttributeSpec

__all__ = ["PatientClusterRepository"]

_COUNTS = ("tp", "fp", "fn", "tn")


class PatientClusterRepository:
    """Per-patient confusion counts of the patients with several confirmed cases in a window."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def repeated_patient_cells(self, device_id: str, *, start: datetime, end: datetime, cutoff: datetime,
                               attributes: Sequence[AttributeSpec]) -> pd.DataFrame:
        """``tp, fp, fn, tn`` per patient, model version and full combination of stratum labels, of the
        patients with at least two confirmed cases in the window (any model version, any cell).

        The cases are those the confusion cells count (:meth:`ResultRepository.confusion_cells`): the
        window's predictions ingested and not retracted by ``cutoff``, with the latest label received by
        ``cutoff``; stratum labels are the same SQL expressions (:func:`attribute_expression`). Columns:
        ``patient`` (0, 1, ...: the rank of the patient's hash, identical on both engines), ``model_version``,
        one column per attribute name, ``tp, fp, fn, tn`` (int64); sorted by patient, then the other keys.
        """
        labels = [attribute_expression(spec).label(f"s{i}") for i, spec in enumerate(attributes)]
        confirmed = (select(predictions.c.patient_hash.label("patient_key"),
                            predictions.c.model_version.label("model_version"), *labels,
                            ground_truth.c.label.label("truth"), predictions.c.predicted_label.label("call"),
                            func.count().over(partition_by=predictions.c.patient_hash).label("patient_cases"))
                     .select_from(predictions.join(ground_truth, _label_join(cutoff)))
                     .where(*_period_filter(device_id, start, end, cutoff))
                     .subquery("confirmed"))
        keys = [confirmed.c.patient_key, confirmed.c.model_version,
                *[confirmed.c[f"s{i}"] for i in range(len(attributes))]]
        patient = cast(func.dense_rank().over(order_by=confirmed.c.patient_key) - 1, Integer).label("patient")
        query = (select(patient, *keys[1:], *confusion_counts(confirmed.c.truth, confirmed.c.call))
                 .where(confirmed.c.patient_cases >= 2)
                 .group_by(*keys)
                 .order_by(*keys))
        names = ["patient", "model_version", *[a.name for a in attributes], *_COUNTS]
        frame = pd.DataFrame([tuple(r) for r in self._conn.execute(query)], columns=names)
        return frame.astype({name: "int64" for name in ("patient", *_COUNTS)})
