"""Aggregations for the deeper statistics, all computed by the database (GROUP BY) or streamed in chunks.

* verification cells: every prediction by stratum labels, call and whether ground truth has arrived;
* score histograms: cases by score bin (0.001 wide), label and call, for AUC, calibration and
  label-free estimates (summed to the whole population and each single attribute);
* feature histograms: the distribution of each stratification input and of the score in a window,
  for data drift;
* day-count tables: time to intervention and time to label, in whole days, for Kaplan-Meier (summed
  to the whole population and each single attribute);
* the ordered stream of confirmed cases of a model version, in chunks, for sequential charts.

The tables read by sections that report the whole population and single strata only are summed in
the database to those *grouping sets* (:mod:`monitor.domain.grouping`): a count per full
combination of attribute labels and score bin or day would hold nearly a row per case at scale.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterator, Sequence

import numpy as np
import pandas as pd
from sqlalchemy import (
    BigInteger,
    Connection,
    Float,
    Integer,
    Select,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.sql import ColumnElement

from monitor.adapters.db.repositories.results import _label_join, _period_filter, attribute_expression
from monitor.adapters.db.tables import ground_truth, predictions
from monitor.domain.grouping import GROUPING_COLUMN, grouping_name
from monitor.domain.strata import AttributeSpec

__all__ = ["AggregateRepository", "SCORE_BINS"]

#: Scores are binned to 0.001 (1,001 ordered bins): ties within a bin count 1/2 in the AUC.
SCORE_BINS = 1000


def _frame(rows: Sequence[Any], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame([tuple(r) for r in rows], columns=columns)


class AggregateRepository:
    """Database-side aggregations over one device and window."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def _ceil_days(self, later: Any) -> ColumnElement[int]:
        """Whole days (rounded up) from the AI result to ``later``, identical on both engines:
        the difference is taken in whole seconds, then divided with integer arithmetic."""
        if self._conn.dialect.name == "sqlite":
            seconds = cast(func.round((func.julianday(later) - func.julianday(predictions.c.predicted_at)) * 86400.0),
                           Integer)
        else:
            seconds = cast(func.round(func.extract("epoch", later - predictions.c.predicted_at)), Integer)
        return (seconds + 86399) // 86400

    def _bin(self, value: ColumnElement[float], width_inverse: int) -> ColumnElement[int]:
        """``floor(value * width_inverse + 0.5)`` for non-negative values, identical on both engines
        (PostgreSQL's ``round`` on doubles breaks ties to even, SQLite's away from zero)."""
        shifted = value * width_inverse + 0.5
        if self._conn.dialect.name == "sqlite":
            return cast(shifted, Integer)  # truncation == floor for non-negative values
        return cast(func.floor(shifted), Integer)

    def _keys(self, attributes: Sequence[AttributeSpec]) -> list[ColumnElement[Any]]:
        keys: list[ColumnElement[Any]] = [predictions.c.model_version.label("model_version")]
        return keys + [attribute_expression(spec).label(spec.name) for spec in attributes]

    def _single_strata(self, counted: Select[Any], attributes: Sequence[AttributeSpec], measures: list[str]
                       ) -> tuple[Select[Any], list[str]]:
        """Sum ``n`` of ``counted`` (grouped by model version, every attribute and ``measures``) to the
        whole population and to each single attribute, in the database: grouping sets with the
        column :data:`GROUPING_COLUMN`, the attributes outside a row's grouping null. The full
        combination is counted once (a CTE, materialised on both engines: it is read once per
        grouping) and never leaves the database."""
        full = counted.cte("full_combination")
        names = [a.name for a in attributes]
        parts = []
        for grouping in [(), *[(name,) for name in names]]:
            labels = [full.c[name] if name in grouping else cast(null(), String).label(name) for name in names]
            keys = [full.c.model_version, *[full.c[name] for name in grouping], *[full.c[m] for m in measures]]
            parts.append(select(literal(grouping_name(grouping), type_=String).label(GROUPING_COLUMN),
                                full.c.model_version, *labels, *[full.c[m] for m in measures],
                                cast(func.sum(full.c.n), BigInteger).label("n"))
                         .group_by(*keys))
        return union_all(*parts), [GROUPING_COLUMN, "model_version", *names, *measures, "n"]

    def verification_cells(self, device_id: str, *, start: datetime, end: datetime, cutoff: datetime,
                           attributes: Sequence[AttributeSpec]) -> pd.DataFrame:
        """Predictions by stratum labels, call (``predicted_label``) and ``verified`` (ground truth arrived)."""
        keys = self._keys(attributes)
        verified = case((ground_truth.c.prediction_id.is_(None), 0), else_=1).label("verified")
        query = (select(*keys, predictions.c.predicted_label, verified, func.count().label("n"))
                 .select_from(predictions.outerjoin(ground_truth, _label_join(cutoff)))
                 .where(*_period_filter(device_id, start, end, cutoff))
                 .group_by(*keys, predictions.c.predicted_label, verified))
        names = ["model_version", *[a.name for a in attributes], "predicted_label", "verified", "n"]
        return _frame(self._conn.execute(query).all(), names)

    def score_histogram(self, device_id: str, *, start: datetime, end: datetime, cutoff: datetime,
                        attributes: Sequence[AttributeSpec]) -> pd.DataFrame:
        """Cases by score bin (0..1000), ``label`` (-1 when not yet known) and call (``predicted_label``),
        for the whole population and each single attribute (grouping sets, :meth:`_single_strata`)."""
        keys = self._keys(attributes)
        score_bin = self._bin(predictions.c.score, SCORE_BINS).label("score_bin")
        label = func.coalesce(ground_truth.c.label, -1).label("label")
        counted = (select(*keys, score_bin, label, predictions.c.predicted_label, func.count().label("n"))
                   .select_from(predictions.outerjoin(ground_truth, _label_join(cutoff)))
                   .where(*_period_filter(device_id, start, end, cutoff))
                   .group_by(*keys, score_bin, label, predictions.c.predicted_label))
        query, names = self._single_strata(counted, attributes, ["score_bin", "label", "predicted_label"])
        return _frame(self._conn.execute(query).all(), names)

    def feature_histogram(self, device_id: str, feature: AttributeSpec | str, *, start: datetime, end: datetime,
                          cutoff: datetime) -> pd.DataFrame:
        """Distribution of one input in the window: ``value`` and ``n``.

        ``feature`` is an attribute (its raw column: whole numbers for numeric ones, labels for categorical
        ones) or one of ``site_id``, ``score`` (binned to 0.01).
        """
        if feature == "site_id":
            value: ColumnElement[Any] = predictions.c.site_id
        elif feature == "score":
            value = self._bin(predictions.c.score, 100)
        else:
            assert isinstance(feature, AttributeSpec)
            if feature.is_numeric:
                column = feature.source_column
                raw = predictions.c.age if column == "age" else cast(predictions.c.attributes[column].as_float(), Float)
                value = self._bin(raw, 1)
            else:
                value = attribute_expression(feature)
        query = (select(value.label("value"), func.count().label("n"))
                 .where(*_period_filter(device_id, start, end, cutoff))
                 .group_by(value))
        return _frame(self._conn.execute(query).all(), ["value", "n"])

    def intervention_days(self, device_id: str, *, start: datetime, end: datetime, cutoff: datetime,
                          attributes: Sequence[AttributeSpec]) -> pd.DataFrame:
        """Confirmed positives by whole days from the AI result to intervention, for the whole population
        and each single attribute (grouping sets, :meth:`_single_strata`).

        ``observed`` is 1 when the intervention happened by the cut-off, else 0 and ``days`` is the
        time to the cut-off (right-censored).
        """
        keys = self._keys(attributes)
        seen = and_(ground_truth.c.intervention_at.is_not(None), ground_truth.c.intervention_at <= cutoff)
        observed = case((seen, 1), else_=0).label("observed")
        end_time = case((seen, ground_truth.c.intervention_at), else_=literal(cutoff, type_=predictions.c.predicted_at.type))
        days = self._ceil_days(end_time).label("days")
        counted = (select(*keys, days, observed, func.count().label("n"))
                   .select_from(predictions.join(ground_truth, _label_join(cutoff)))
                   .where(*_period_filter(device_id, start, end, cutoff), ground_truth.c.label == 1)
                   .group_by(*keys, days, observed))
        query, names = self._single_strata(counted, attributes, ["days", "observed"])
        return _frame(self._conn.execute(query).all(), names)

    def label_delay_days(self, device_id: str, *, start: datetime, end: datetime, cutoff: datetime,
                         attributes: Sequence[AttributeSpec]) -> pd.DataFrame:
        """Predictions by whole days from the AI result to the reference standard's confirmation
        (``confirmed_at`` of the first version received by the cut-off); ``observed`` 0 = still
        pending, censored at the cut-off. For the whole population and each single attribute
        (grouping sets, :meth:`_single_strata`)."""
        keys = self._keys(attributes)
        first = (select(ground_truth.c.prediction_id, func.min(ground_truth.c.confirmed_at).label("labelled_at"))
                 .where(ground_truth.c.device_id == device_id, ground_truth.c.ingested_at <= cutoff)
                 .group_by(ground_truth.c.prediction_id).subquery("first_label"))
        arrived = first.c.labelled_at.is_not(None)
        observed = case((arrived, 1), else_=0).label("observed")
        when = case((arrived, first.c.labelled_at), else_=literal(cutoff, type_=predictions.c.predicted_at.type))
        days = self._ceil_days(when).label("days")
        counted = (select(*keys, days, observed, func.count().label("n"))
                   .select_from(predictions.outerjoin(first, first.c.prediction_id == predictions.c.prediction_id))
                   .where(*_period_filter(device_id, start, end, cutoff))
                   .group_by(*keys, days, observed))
        query, names = self._single_strata(counted, attributes, ["days", "observed"])
        return _frame(self._conn.execute(query).all(), names)

    def first_prediction_at(self, device_id: str, model_version: str) -> datetime | None:
        """When a model version's first prediction was made (its charts start there)."""
        return self._conn.execute(select(func.min(predictions.c.predicted_at)).where(
            predictions.c.device_id == device_id, predictions.c.model_version == model_version)).scalar_one_or_none()

    def confirmed_case_stream(self, device_id: str, model_version: str, *, start: datetime, end: datetime,
                              cutoff: datetime, attributes: Sequence[AttributeSpec],
                              chunk_rows: int = 200_000) -> Iterator[pd.DataFrame]:
        """Confirmed cases of one model version in ``[start, end)``, in time order, in chunks of
        ``chunk_rows`` cases (the last one shorter).

        Columns: stratum labels (categorical), ``label`` and ``predicted_label`` (int8). Used by the
        sequential charts, which carry their state from chunk to chunk, so memory stays bounded: rows
        are fetched in slices of at most 25,000 and folded at once into compact arrays (a code per
        label), never held as Python rows for a whole chunk.
        """
        labels = [attribute_expression(spec).label(spec.name) for spec in attributes]
        query = (select(*labels, ground_truth.c.label, predictions.c.predicted_label)
                 .select_from(predictions.join(ground_truth, _label_join(cutoff)))
                 .where(*_period_filter(device_id, start, end, cutoff), predictions.c.model_version == model_version)
                 .order_by(predictions.c.predicted_at, predictions.c.id))
        names = [a.name for a in attributes]
        slice_rows = max(1, min(chunk_rows, 25_000))
        lookups: list[dict[Any, int]] = [{} for _ in names]  # label -> code, per attribute, across chunks
        codes = np.empty((len(names), chunk_rows), dtype=np.int32)
        outcome = np.empty((2, chunk_rows), dtype=np.int8)
        filled = 0

        def chunk(size: int) -> pd.DataFrame:
            frame = {name: pd.Categorical.from_codes(codes[i, :size].copy(), categories=list(lookups[i]))
                     for i, name in enumerate(names)}
            return pd.DataFrame(frame | {"label": outcome[0, :size].copy(), "predicted_label": outcome[1, :size].copy()})

        result = self._conn.execute(query.execution_options(yield_per=slice_rows))
        for part in result.partitions(slice_rows):
            taken = 0
            while taken < len(part):
                rows = part[taken:taken + chunk_rows - filled]
                columns = list(zip(*rows, strict=True))
                for i, lookup in enumerate(lookups):
                    codes[i, filled:filled + len(rows)] = [lookup.setdefault(v, len(lookup)) for v in columns[i]]
                outcome[0, filled:filled + len(rows)] = columns[-2]
                outcome[1, filled:filled + len(rows)] = columns[-1]
                filled += len(rows)
                taken += len(rows)
                if filled == chunk_rows:
                    yield chunk(filled)
                    filled = 0
        if filled:
            yield chunk(filled)
