"""The confirmed cases of patients seen more than once in a window, per patient and stratum cell, for the
patient-level (cluster-robust) variance of the stratum-metrics (:mod:`monitor.domain.clustering`).

Only patients with two or more confirmed cases in the window are read: a patient with a single case adds
exactly the binomial term to the cluster-robust sum, which the stratum counts already give
(docs/clustering.md). Patients are told apart by the keyed hash of their id (``predictions.patient_hash``,
carried into the window's materialised cases): the hash never leaves the database, the rows carry a patient
*number* (the rank of the hash) instead.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Connection, Integer, cast, func, select

from monitor.adapters.db.repositories.aggregates import WindowCases
from monitor.adapters.db.repositories.results import confusion_counts

__all__ = ["PatientClusterRepository"]

_COUNTS = ("tp", "fp", "fn", "tn")


class PatientClusterRepository:
    """Per-patient confusion counts of the patients with several confirmed cases in a window."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def repeated_patient_cells(self, cases: WindowCases) -> pd.DataFrame:
        """``tp, fp, fn, tn`` per patient, model version and full combination of stratum labels, of the
        patients with at least two confirmed cases in the window (any model version, any cell).

        ``cases``: the window's cases materialised as of the cut-off
        (:meth:`~monitor.adapters.db.repositories.aggregates.AggregateRepository.window_cases`); the
        confirmed ones are those the confusion cells count (the latest label received by the cut-off), with
        the same stratum labels. Columns: ``patient`` (0, 1, ...: the rank of the patient's hash, identical
        on both engines), ``model_version``, one column per attribute name, ``tp, fp, fn, tn`` (int64);
        sorted by patient, then the other keys.
        """
        t = cases.table
        strata = [t.c[cases.column(name)].label(f"s{i}") for i, name in enumerate(cases.names)]
        confirmed = (select(t.c.patient_key, t.c.model_version, *strata, t.c.label.label("truth"),
                            t.c.predicted_label.label("call"),
                            func.count().over(partition_by=t.c.patient_key).label("patient_cases"))
                     .where(t.c.label.is_not(None))
                     .subquery("confirmed"))
        keys = [confirmed.c.patient_key, confirmed.c.model_version,
                *[confirmed.c[f"s{i}"] for i in range(len(cases.names))]]
        patient = cast(func.dense_rank().over(order_by=confirmed.c.patient_key) - 1, Integer).label("patient")
        query = (select(patient, *keys[1:], *confusion_counts(confirmed.c.truth, confirmed.c.call))
                 .where(confirmed.c.patient_cases >= 2)
                 .group_by(*keys)
                 .order_by(*keys))
        names = ["patient", "model_version", *cases.names, *_COUNTS]
        frame = pd.DataFrame([tuple(r) for r in self._conn.execute(query)], columns=names)
        return frame.astype({name: "int64" for name in ("patient", *_COUNTS)})
