"""Aggregations for the clinical sections, all computed by the database (GROUP BY):

* AI results and AI failures (``prediction_failures``) by stratum labels and failure code;
* the AI call against the reading clinician's call (``human_label``) and the ground truth;
* the sums of the log ratio of the AI and the reviewed segmentation volume (Bland-Altman);
* the joint score histogram of two model versions that scored the same study (``study_uid``).

Every query reads the window's predictions ingested by the data cut-off, without those retracted
by then (:func:`~monitor.adapters.db.repositories._active.active_prediction_clause`, through
``_period_filter``), with the latest ground-truth version received by the cut-off.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import (
    JSON,
    BigInteger,
    Connection,
    Float,
    String,
    Text,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    select,
    union_all,
)

from monitor.adapters.db.repositories.aggregates import SCORE_BINS, half_up_bin
from monitor.adapters.db.repositories.results import (
    _CORE_COLUMNS,
    _label_join,
    _period_filter,
    attribute_expression,
)
from monitor.adapters.db.tables import (
    ground_truth,
    prediction_failures,
    prediction_retractions,
    predictions,
)
from monitor.domain.strata import AttributeSpec

__all__ = ["ClinicalRepository"]


def _frame(rows: Sequence[Any], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame([tuple(r) for r in rows], columns=columns)


def _names(attributes: Sequence[AttributeSpec]) -> list[str]:
    return ["model_version", *[a.name for a in attributes]]


class ClinicalRepository:
    """Database-side aggregations of the clinical context columns over one device and window."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def _stratum_inputs(self, table: Any, attributes: Sequence[AttributeSpec]) -> list[tuple[Any, Any]]:
        """The raw columns of ``table`` the stratum labels are computed from, as (grouping expression,
        selected column) pairs: the labels of a group of rows equal on them are the labels of each row.
        PostgreSQL cannot group ``json`` values: the JSON attributes are grouped as text (the stored text,
        so extraction from it gives what it gives on each row) and read back as JSON."""
        columns = sorted({spec.rule.column for spec in attributes})
        inputs = [(table.c[c], table.c[c]) for c in columns if c in _CORE_COLUMNS]
        if any(c not in _CORE_COLUMNS for c in columns):
            if self._conn.dialect.name == "postgresql":
                text = cast(table.c.attributes, Text)
                inputs.append((text, cast(text, JSON).label("attributes")))
            else:
                inputs.append((table.c.attributes, table.c.attributes))
        return inputs

    def failure_counts(self, device_id: str, *, start: datetime, end: datetime, cutoff: datetime,
                       attributes: Sequence[AttributeSpec]) -> pd.DataFrame:
        """AI results and failures by model version and stratum labels.

        Columns: ``model_version``, stratum labels, ``failure_code`` (None for delivered results)
        and ``n``. Failures are rows of ``prediction_failures`` predicted in the window, ingested by
        the cut-off and not retracted by it.

        One statement: the results and the failures are each counted first by model version and the
        raw inputs of the stratum labels (age, sex, the attributes' stored text: a few thousand groups),
        and the labels (:func:`attribute_expression`) are evaluated once per group, not per row.
        """
        failed = prediction_failures
        retracted = exists().where(prediction_retractions.c.device_id == failed.c.device_id,
                                   prediction_retractions.c.prediction_id == failed.c.prediction_id,
                                   prediction_retractions.c.ingested_at <= cutoff)
        sources = [(predictions, literal(None, String), _period_filter(device_id, start, end, cutoff)),
                   (failed, failed.c.failure_code,
                    [failed.c.device_id == device_id, failed.c.predicted_at >= start, failed.c.predicted_at < end,
                     failed.c.ingested_at <= cutoff, ~retracted])]
        parts = []
        for table, code, where in sources:
            inputs = self._stratum_inputs(table, attributes)
            grouped = [table.c.model_version, *[g for g, _ in inputs], code]
            raw = (select(table.c.model_version.label("model_version"), *[c for _, c in inputs],
                          code.label("failure_code"), func.count().label("n"))
                   .where(*where).group_by(*grouped).subquery())
            keys = [raw.c.model_version.label("model_version"),
                    *[attribute_expression(spec, raw).label(spec.name) for spec in attributes],  # type: ignore[arg-type]
                    raw.c.failure_code]
            parts.append(select(*keys, cast(func.sum(raw.c.n), BigInteger).label("n")).group_by(*keys))
        names = [*_names(attributes), "failure_code", "n"]
        frame = _frame(self._conn.execute(union_all(*parts)).all(), names).astype({"n": "int64"})
        frame["failure_code"] = frame["failure_code"].astype(object).where(frame["failure_code"].notna(), None)
        delivered = frame["failure_code"].isna()
        return (pd.concat([frame.loc[delivered], frame.loc[~delivered]])
                .sort_values(names[:-1], kind="stable", na_position="first").reset_index(drop=True))

    def agreement_table(self, device_id: str, *, start: datetime, end: datetime, cutoff: datetime,
                        attributes: Sequence[AttributeSpec]) -> pd.DataFrame:
        """Predictions with a clinician's call, by stratum labels, AI call, clinician call and ground truth.

        Columns: ``model_version``, stratum labels, ``predicted_label``, ``human_label``, ``label``
        (-1 while the ground truth is pending) and ``n``.
        """
        keys = [predictions.c.model_version.label("model_version")]
        keys += [attribute_expression(spec).label(spec.name) for spec in attributes]
        label = func.coalesce(ground_truth.c.label, -1).label("label")
        query = (select(*keys, predictions.c.predicted_label, predictions.c.human_label, label,
                        func.count().label("n"))
                 .select_from(predictions.outerjoin(ground_truth, _label_join(cutoff)))
                 .where(*_period_filter(device_id, start, end, cutoff), predictions.c.human_label.is_not(None))
                 .group_by(*keys, predictions.c.predicted_label, predictions.c.human_label, label))
        names = [*_names(attributes), "predicted_label", "human_label", "label", "n"]
        return _frame(self._conn.execute(query).all(), names)

    def volume_sums(self, device_id: str, *, start: datetime, end: datetime, cutoff: datetime,
                    attributes: Sequence[AttributeSpec], tolerance: float) -> pd.DataFrame:
        """Sums of ``d = ln(AI volume / reviewed volume)`` by model version and stratum labels.

        Only predictions with both volumes positive enter. Columns: ``model_version``, stratum labels,
        ``n``, ``sum_d``, ``sum_d2`` and ``outside`` (cases with ``|AI - reviewed| > tolerance x
        reviewed``).
        """
        keys = [predictions.c.model_version.label("model_version")]
        keys += [attribute_expression(spec).label(spec.name) for spec in attributes]
        ai, reviewed = predictions.c.ai_volume_mm3, predictions.c.reviewed_volume_mm3
        d = func.ln(cast(ai, Float) / reviewed)
        outside = case((func.abs(ai - reviewed) > literal(float(tolerance)) * reviewed, 1), else_=0)
        query = (select(*keys, func.count().label("n"), func.sum(d).label("sum_d"), func.sum(d * d).label("sum_d2"),
                        func.sum(outside).label("outside"))
                 .where(*_period_filter(device_id, start, end, cutoff), ai > 0, reviewed > 0)
                 .group_by(*keys))
        frame = _frame(self._conn.execute(query).all(), [*_names(attributes), "n", "sum_d", "sum_d2", "outside"])
        return frame.astype({"n": "int64", "sum_d": "float64", "sum_d2": "float64", "outside": "int64"})

    def paired_score_histogram(self, device_id: str, *, start: datetime, end: datetime,
                               cutoff: datetime) -> pd.DataFrame:
        """Studies scored by two model versions in the window: joint histogram of their scores and calls.

        Pairs are matched in the database on ``study_uid`` (one prediction per study and version:
        the first stored). Columns: ``version_a`` < ``version_b``, ``bin_a``, ``bin_b`` (score bins
        0..1000), ``call_a``, ``call_b``, ``label`` and ``n``. ``label`` is the study's ground truth
        (either prediction's latest label by the cut-off; -1 when neither has one, -2 when the two
        disagree).
        """
        chosen = (select(func.min(predictions.c.id).label("pid"))
                  .where(*_period_filter(device_id, start, end, cutoff), predictions.c.study_uid.is_not(None))
                  .group_by(predictions.c.study_uid, predictions.c.model_version).subquery("chosen"))
        cases = (select(predictions.c.study_uid, predictions.c.model_version,
                        half_up_bin(self._conn, predictions.c.score, SCORE_BINS).label("score_bin"),
                        predictions.c.predicted_label.label("call"),
                        func.coalesce(ground_truth.c.label, -1).label("label"))
                 .select_from(chosen.join(predictions, predictions.c.id == chosen.c.pid)
                              .outerjoin(ground_truth, _label_join(cutoff)))
                 .cte("cases"))  # referenced twice: materialised once (SQLite, PostgreSQL 12+)
        a, b = cases.alias("a"), cases.alias("b")
        label = case((a.c.label < 0, b.c.label), (b.c.label < 0, a.c.label), (a.c.label == b.c.label, a.c.label),
                     else_=-2).label("label")
        keys = [a.c.model_version.label("version_a"), b.c.model_version.label("version_b"),
                a.c.score_bin.label("bin_a"), b.c.score_bin.label("bin_b"), a.c.call.label("call_a"),
                b.c.call.label("call_b"), label]
        query = (select(*keys, func.count().label("n"))
                 .select_from(a.join(b, and_(a.c.study_uid == b.c.study_uid, a.c.model_version < b.c.model_version)))
                 .group_by(*keys))
        names = ["version_a", "version_b", "bin_a", "bin_b", "call_a", "call_b", "label", "n"]
        return _frame(self._conn.execute(query).all(), names)
