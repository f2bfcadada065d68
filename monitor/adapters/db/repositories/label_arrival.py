"""Labels by finality and their arrival delays, for maturity-aware decisions (:mod:`monitor.domain.labels`).

A label is *final* at the cut-off when it was received by then and either its source is final on arrival,
or its source is one of the device's provisional sources (``labels.provisional_sources``) and the
maturity window (``monitoring.maturity_window_days``) has passed since the prediction. The label of a case
is the latest version received by the cut-off (:func:`~monitor.adapters.db.repositories.results._label_join`,
as for the confusion cells), its source and confirmation date those of that version.

Days are whole days, floored, computed in whole seconds identically on both engines:

* ``elapsed_days``: from the AI result to the cut-off;
* the arrival delay: from the AI result to ``confirmed_at`` (a confirmation dated after the cut-off counts
  as at the cut-off, so a delay never exceeds the elapsed time); for a provisional source the delay until
  the label is final is the larger of that and the maturity window.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Sequence

import pandas as pd
from sqlalchemy import BigInteger, Connection, Integer, case, cast, false, func, literal, select, union_all
from sqlalchemy.sql import ColumnElement

from monitor.adapters.db.repositories._active import active_prediction_clause
from monitor.adapters.db.repositories.results import _label_join
from monitor.adapters.db.tables import ground_truth, predictions

if TYPE_CHECKING:  # aggregates.py imports whole_days from here
    from monitor.adapters.db.repositories.aggregates import WindowCases

__all__ = ["LabelArrivalRepository", "greatest", "whole_days"]

_DAY_SECONDS = 86_400


def _seconds(dialect: str, later: Any, predicted_at: Any = predictions.c.predicted_at) -> ColumnElement[int]:
    """Whole seconds from the AI result (``predicted_at``: the predictions' column, or a copy of it) to
    ``later`` (rounded), identical on both engines."""
    if dialect == "sqlite":
        return cast(func.round((func.julianday(later) - func.julianday(predicted_at)) * 86400.0), Integer)
    return cast(func.round(func.extract("epoch", later - predicted_at)), Integer)


def greatest(dialect: str, a: ColumnElement[int], b: ColumnElement[int]) -> ColumnElement[int]:
    """The larger of two integers (SQLite's scalar ``max``, PostgreSQL's ``greatest``)."""
    return getattr(func, "max" if dialect == "sqlite" else "greatest")(a, b, type_=Integer)


def whole_days(dialect: str, later: Any, predicted_at: Any = predictions.c.predicted_at) -> ColumnElement[int]:
    """Whole days (floored, never negative) from the AI result to ``later``: the larger of the seconds
    and 0, divided by a day (the seconds computed once per row). The arrival delay of the histograms here
    and of the months' ``label_delays`` aggregate (:mod:`monitor.adapters.db.repositories.aggregates`)."""
    return greatest(dialect, _seconds(dialect, later, predicted_at), literal(0)) // _DAY_SECONDS


class LabelArrivalRepository:
    """Final and received labels of a window by elapsed time, and the arrival histograms of earlier cohorts."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def _days(self, later: Any) -> ColumnElement[int]:
        return whole_days(self._conn.dialect.name, later)

    def _greatest(self, a: ColumnElement[int], b: ColumnElement[int]) -> ColumnElement[int]:
        return greatest(self._conn.dialect.name, a, b)

    @staticmethod
    def _at(moment: datetime) -> ColumnElement[Any]:
        return literal(moment, type_=predictions.c.predicted_at.type)

    def _provisional(self, sources: Sequence[str]) -> ColumnElement[bool]:
        return ground_truth.c.source.in_(list(sources)) if sources else false()

    def final_cells(self, cases: WindowCases, *, cutoff: datetime, provisional_sources: Sequence[str],
                    window_days: int) -> pd.DataFrame:
        """The window's labelled cases per model version, full combination of stratum labels, ``label``,
        call (``predicted_label``) and ``elapsed_days``: ``received`` (labels received by the cut-off, the
        cases the confusion cells count) and ``final`` (of these, final at the cut-off; see the module
        docstring). ``cases``: the window's cases materialised as of ``cutoff``
        (:meth:`~monitor.adapters.db.repositories.aggregates.AggregateRepository.window_cases`: the latest
        label received by the cut-off, its source, the stratum labels of the confusion cells)."""
        t = cases.table
        dialect = self._conn.dialect.name
        elapsed = whole_days(dialect, self._at(cutoff), t.c.predicted_at).label("elapsed_days")
        young = t.c.predicted_at > cutoff - timedelta(days=window_days)
        provisional = t.c.label_source.in_(list(provisional_sources)) if provisional_sources else false()
        final = case((provisional & young, 0), else_=1)
        keys = [*cases.keys(), t.c.label.label("label"), t.c.predicted_label.label("predicted_label"), elapsed]
        query = (select(*keys, func.count().label("received"), cast(func.sum(final), BigInteger).label("final"))
                 .where(t.c.label.is_not(None))
                 .group_by(*keys))
        names = ["model_version", *cases.names, "label", "predicted_label", "elapsed_days", "received", "final"]
        frame = pd.DataFrame([tuple(r) for r in self._conn.execute(query)], columns=names)
        counts = ["label", "predicted_label", "elapsed_days", "received", "final"]
        return frame.astype({c: "int64" for c in counts}).sort_values(names[:-2], kind="stable").reset_index(drop=True)

    def arrival_histograms(self, device_id: str, *, before: datetime, cutoff: datetime,
                           provisional_sources: Sequence[str], window_days: int, horizon_days: int,
                           after: datetime | None = None) -> pd.DataFrame:
        """The earlier cohorts' final labels (predicted before ``before`` and, with ``after``, at or after it;
        ingested, not retracted and final
        by ``cutoff``) whose delay until final is at most ``horizon_days``, per model version and ``label``:
        two histograms of the same cases, ``kind`` ``delay`` (``days`` = delay until final) and ``elapsed``
        (``days`` = elapsed days, capped at ``horizon_days``), with the count ``n``. The elapsed times are
        the truncation of the delays (:func:`monitor.stats.maturity.arrival_cdf`).

        One pass over the cases: the database groups them by (model version, label, call, delay, capped
        elapsed) once (the joint histogram, a few thousand groups: every case predicted more than
        ``horizon_days`` + 1 days before the cut-off has the capped elapsed time ``horizon_days``, read
        without date arithmetic), and both histograms are sums over those groups."""
        at_cutoff = self._at(cutoff)
        confirmed = case((ground_truth.c.confirmed_at > cutoff, at_cutoff), else_=ground_truth.c.confirmed_at)
        delay = self._days(confirmed)
        provisional = self._provisional(provisional_sources)
        until_final = case((provisional, self._greatest(delay, literal(window_days))), else_=delay)
        old = predictions.c.predicted_at <= cutoff - timedelta(days=horizon_days + 1)  # elapsed > horizon
        elapsed = self._days(at_cutoff)
        capped = case((old, horizon_days), (elapsed > horizon_days, horizon_days), else_=elapsed)
        young = predictions.c.predicted_at > cutoff - timedelta(days=window_days)
        cases = (select(predictions.c.model_version.label("model_version"), ground_truth.c.label.label("label"),
                        predictions.c.predicted_label.label("predicted_label"),
                        until_final.label("delay_days"), capped.label("elapsed_days"))
                 .select_from(predictions.join(ground_truth, _label_join(cutoff)))
                 .where(predictions.c.device_id == device_id, predictions.c.predicted_at < before,
                        *([] if after is None else [predictions.c.predicted_at >= after]),
                        predictions.c.ingested_at <= cutoff, active_prediction_clause(cutoff),
                        ~(provisional & young))
                 .subquery("final_labels"))
        keys = [cases.c.model_version, cases.c.label, cases.c.predicted_label, cases.c.delay_days,
                cases.c.elapsed_days]
        joint = (select(*keys, func.count().label("n")).group_by(*keys)
                 .having(cases.c.delay_days <= horizon_days)
                 .cte("joint"))  # referenced twice: materialised once (SQLite, PostgreSQL 12+)
        group = [joint.c.model_version, joint.c.label, joint.c.predicted_label]
        parts = [select(*group, literal(kind).label("kind"), joint.c[f"{kind}_days"].label("days"),
                        cast(func.sum(joint.c.n), BigInteger).label("n"))
                 .group_by(*group, joint.c[f"{kind}_days"])
                 for kind in ("delay", "elapsed")]
        names = ["model_version", "label", "predicted_label", "kind", "days", "n"]
        frame = pd.DataFrame(self._conn.execute(union_all(*parts)).all(), columns=names)
        return (frame.astype({"label": "int64", "predicted_label": "int64", "days": "int64", "n": "int64"})
                .sort_values(names[:-1], kind="stable").reset_index(drop=True))
