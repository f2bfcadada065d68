"""The AI beside its comparator (a guideline score or a reference reader logged on the same studies): the paired
counts the comparator section needs, computed by the database (GROUP BY).

One row per prediction of the window counted as of the data cut-off (:func:`_period_filter`: ingested by then,
not retracted by then) that has a ground-truth label received by the cut-off (:func:`_label_join`, the latest
version) and carries a comparator (``comparator_score`` or ``comparator_label``) enters; the rows are counted by

* the AI score bin (0.001 wide, :func:`half_up_bin`, as every AI AUC of the analysis) and the comparator score
  itself (its distinct values: a guideline category such as Lung-RADS 1..5 has a handful, so ranks stay exact):
  the joint histogram the paired DeLong comparison reads (:func:`monitor.stats.paired.paired_auc_from_histogram`);
* the AI call (``predicted_label``) and the comparator call: ``comparator_label`` when logged, else
  ``comparator_score >= positive_from`` (null when neither gives one): the paired 2x2 tables of calls by truth;
* the ground truth.

The counts are summed in the database to the whole population and each single attribute (*grouping sets*,
:mod:`monitor.domain.grouping`), so the frame's size is bounded by the number of occupied cells (AI bins x
comparator values x calls x truth x strata), not by the number of cases.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import (
    BigInteger, Connection, Float, Integer, String, case, cast, func, literal, null, or_, select, union_all,
)

from monitor.adapters.db.repositories.aggregates import SCORE_BINS, half_up_bin
from monitor.adapters.db.repositories.results import _label_join, _period_filter, attribute_expression
from monitor.adapters.db.tables import ground_truth, predictions
from monitor.domain.grouping import GROUPING_COLUMN, grouping_name
from monitor.domain.strata import AttributeSpec

__all__ = ["COMPARATOR_MEASURES", "ComparatorRepository"]

#: The measure columns of :meth:`ComparatorRepository.paired_counts`, beside the grouping and stratum columns.
COMPARATOR_MEASURES = ("ai_bin", "comparator_score", "ai_call", "comparator_call", "label")


class ComparatorRepository:
    """Database-side counts of the AI and its comparator on the same labelled studies."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def paired_counts(self, device_id: str, *, start: datetime, end: datetime, cutoff: datetime,
                      attributes: Sequence[AttributeSpec], positive_from: float | None) -> pd.DataFrame:
        """Labelled predictions carrying a comparator, counted by AI score bin, comparator score, both calls and
        truth, per model version, summed to the whole population and each single attribute.

        Columns: :data:`~monitor.domain.grouping.GROUPING_COLUMN`, ``model_version``, one column per attribute
        (null outside the row's grouping), ``ai_bin`` (0..1000), ``comparator_score`` (null when only a call
        was logged), ``ai_call``, ``comparator_call`` (null when no call can be made: no label logged and no
        ``positive_from``), ``label`` (0 / 1) and ``n``.
        """
        score = predictions.c.comparator_score
        if positive_from is None:
            from_score: Any = cast(null(), Integer)
        else:
            from_score = case((score.is_(None), cast(null(), Integer)),
                              (score >= literal(float(positive_from), Float), 1), else_=0)
        call = func.coalesce(cast(predictions.c.comparator_label, Integer), from_score)
        names = [a.name for a in attributes]
        values = [predictions.c.model_version.label("model_version"),
                  *[attribute_expression(spec).label(spec.name) for spec in attributes],
                  half_up_bin(self._conn, predictions.c.score, SCORE_BINS).label("ai_bin"),
                  cast(score, Float).label("comparator_score"),
                  cast(predictions.c.predicted_label, Integer).label("ai_call"), call.label("comparator_call"),
                  cast(ground_truth.c.label, Integer).label("label")]
        cases = (select(*values)
                 .select_from(predictions.join(ground_truth, _label_join(cutoff)))
                 .where(*_period_filter(device_id, start, end, cutoff),
                        or_(score.is_not(None), predictions.c.comparator_label.is_not(None)))
                 .cte("comparator_cases"))  # read once per grouping: materialised once on both engines
        measures = [cases.c[m] for m in COMPARATOR_MEASURES]
        parts = []
        for grouping in [(), *[(name,) for name in names]]:
            labels = [cases.c[name] if name in grouping else cast(null(), String).label(name) for name in names]
            keys = [cases.c.model_version, *[cases.c[name] for name in grouping], *measures]
            parts.append(select(literal(grouping_name(grouping), type_=String).label(GROUPING_COLUMN),
                                cases.c.model_version, *labels, *measures,
                                cast(func.count(), BigInteger).label("n"))
                         .group_by(*keys))
        columns = [GROUPING_COLUMN, "model_version", *names, *COMPARATOR_MEASURES, "n"]
        rows = self._conn.execute(union_all(*parts)).all()
        frame = pd.DataFrame([tuple(r) for r in rows], columns=columns)
        return frame.astype({"ai_bin": "int64", "comparator_score": "float64", "ai_call": "int64",
                             "comparator_call": "float64", "label": "int64", "n": "int64"})
