"""Aggregations for the deeper statistics, all computed by the database (GROUP BY) or streamed in chunks.

* verification cells: every prediction by stratum labels, call and whether ground truth has arrived;
* score histograms: cases by score bin (0.001 wide), label and call, for AUC, calibration and
  label-free estimates (summed to the whole population and each single attribute);
* feature histograms: the distribution of each stratification input and of the score in a window,
  for data drift;
* day-count tables: time to intervention and time to label, in whole days, for Kaplan-Meier (summed
  to the whole population, each single attribute and each monitored intersection the window's cases
  were opened with);
* the stream of a model version's labelled cases in the order they became known to the service (both the
  prediction and its current label ingested), in chunks, for the sequential charts.

An analysis materialises each window's cases once (:meth:`AggregateRepository.window_cases`: a
temporary table of the window's predictions joined to their labels, attribute expressions evaluated)
and runs these aggregations on it, so the window's rows are scanned and joined once, not once per
section; the count cells, confusion and verification cells and the label sources are sums of one of its
GROUP BYs (:meth:`AggregateRepository.outcome_groups`, a few rows per stratum combination). The charts'
cases are streamed from the rows (they are ordered by when they became known, not by the window's
prediction time).

The tables read by sections that report the whole population and single strata only are summed in
the database to those *grouping sets* (:mod:`monitor.domain.grouping`): a count per full
combination of attribute labels and score bin or day would hold nearly a row per case at scale.
"""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterator, Sequence

import pandas as pd
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Float,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    and_,
    case,
    cast,
    func,
    insert,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.schema import CreateTable
from sqlalchemy.sql import ColumnElement

from monitor.adapters.db.repositories.label_arrival import whole_days
from monitor.adapters.db.repositories.results import (
    _label_join,
    _period_filter,
    attribute_expression,
    sorted_cells,
)
from monitor.adapters.db.tables import ground_truth, predictions
from monitor.domain.grouping import GROUPING_COLUMN, grouping_name
from monitor.domain.strata import AttributeSpec

__all__ = ["AggregateRepository", "SCORE_BINS", "WindowCases", "half_up_bin"]

#: Scores are binned to 0.001 (1,001 ordered bins): ties within a bin count 1/2 in the AUC.
SCORE_BINS = 1000


def _frame(rows: Sequence[Any], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame([tuple(r) for r in rows], columns=columns)


def _with_confusion(groups: pd.DataFrame) -> pd.DataFrame:
    """``groups`` (:meth:`AggregateRepository.outcome_groups`) with ``tp, fp, fn, tn``: its ``n`` in the
    column of its label and call, as ``results.confusion_counts`` counts (a pending case, or another value,
    counts in none)."""
    label, call, n = groups["label"], groups["predicted_label"], groups["n"]
    return groups.assign(**{name: n.where((label == truth) & (call == called), 0).astype("int64")
                            for name, truth, called in (("tp", 1, 1), ("fp", 0, 1), ("fn", 1, 0), ("tn", 0, 0))})


def _summed(frame: pd.DataFrame, keys: list[str], counts: list[str]) -> pd.DataFrame:
    """``counts`` summed per ``keys`` (null keys kept as their own group, returned as ``None``), as the
    database's GROUP BY gives them: a row per key present in ``frame``."""
    summed = frame.groupby(keys, dropna=False, sort=True, as_index=False)[counts].sum()
    for key in keys:
        if summed[key].dtype == object or summed[key].isna().any():
            summed[key] = summed[key].astype(object).where(summed[key].notna(), None)
    return summed.astype({c: "int64" for c in counts})[[*keys, *counts]]


def _numeric_input(spec: AttributeSpec) -> ColumnElement[float]:
    """The raw value of a numeric attribute (``age``, or a number in the ``attributes`` JSON)."""
    column = spec.source_column
    return predictions.c.age if column == "age" else cast(predictions.c.attributes[column].as_float(), Float)


@dataclass(frozen=True)
class WindowCases:
    """A window's cases materialised in a temporary table (:meth:`AggregateRepository.window_cases`):
    stratum labels in columns ``s0, s1, ...`` (in the order of ``attributes``), numeric inputs in
    ``f0, f1, ...`` (``numeric`` maps an attribute name to its column); ``intersections``: the monitored
    intersections (pairs and triples of attribute names) the day-count tables are also summed to.
    ``counted`` keeps what was counted once from the table for several aggregates (the outcome groups)."""

    table: Table
    attributes: tuple[AttributeSpec, ...]
    numeric: dict[str, str]
    intersections: tuple[tuple[str, ...], ...] = ()
    counted: dict[str, pd.DataFrame] = field(default_factory=dict, compare=False, repr=False)

    @property
    def names(self) -> list[str]:
        return [a.name for a in self.attributes]

    def column(self, name: str) -> str:
        """The column holding the stratum label of attribute ``name``."""
        return f"s{self.names.index(name)}"

    def keys(self) -> list[ColumnElement[Any]]:
        """Model version and the stratum labels, labelled with the attribute names."""
        return [self.table.c.model_version.label("model_version"),
                *[self.table.c[f"s{i}"].label(name) for i, name in enumerate(self.names)]]


def half_up_bin(conn: Connection, value: ColumnElement[float], width_inverse: int) -> ColumnElement[int]:
    """``floor(value * width_inverse + 0.5)`` for non-negative values, identical on both engines
    (PostgreSQL's ``round`` on doubles breaks ties to even, SQLite's away from zero): the one binning of
    scores and numeric inputs for every repository that counts or samples them."""
    shifted = value * width_inverse + 0.5
    if conn.dialect.name == "sqlite":
        return cast(shifted, Integer)  # truncation == floor for non-negative values
    return cast(func.floor(shifted), Integer)


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
        return half_up_bin(self._conn, value, width_inverse)

    def _single_strata(self, counted: Select[Any], attributes: Sequence[AttributeSpec], measures: list[str],
                       intersections: Sequence[tuple[str, ...]] = ()) -> tuple[Select[Any], list[str]]:
        """Sum ``n`` of ``counted`` (grouped by model version, every attribute and ``measures``) to the
        whole population, to each single attribute and to each of ``intersections``, in the database:
        grouping sets with the column :data:`GROUPING_COLUMN`, the attributes outside a row's grouping
        null. The full combination is counted once (a CTE, materialised on both engines: it is read
        once per grouping) and never leaves the database."""
        full = counted.cte("full_combination")
        names = [a.name for a in attributes]
        parts = []
        for grouping in [(), *[(name,) for name in names], *intersections]:
            labels = [full.c[name] if name in grouping else cast(null(), String).label(name) for name in names]
            keys = [full.c.model_version, *[full.c[name] for name in grouping], *[full.c[m] for m in measures]]
            parts.append(select(literal(grouping_name(grouping), type_=String).label(GROUPING_COLUMN),
                                full.c.model_version, *labels, *[full.c[m] for m in measures],
                                cast(func.sum(full.c.n), BigInteger).label("n"))
                         .group_by(*keys))
        return union_all(*parts), [GROUPING_COLUMN, "model_version", *names, *measures, "n"]

    def _cases_query(self, device_id: str, *, start: datetime, end: datetime, cutoff: datetime,
                     attributes: Sequence[AttributeSpec]) -> tuple[list[Column[Any]], Select[Any], list[AttributeSpec]]:
        """The columns of a window's cases (:meth:`window_cases`), the query selecting them (labelled with
        the column names) and the numeric attributes (``f0, f1, ...``)."""
        names = [a.name for a in attributes]
        numeric = [a for a in attributes if a.is_numeric]
        columns = [Column("case_id", BigInteger), Column("predicted_at", predictions.c.predicted_at.type),
                   Column("model_version", String), *[Column(f"s{i}", String) for i in range(len(names))],
                   Column("score_bin", Integer), Column("score_pct", Integer), Column("predicted_label", Integer),
                   Column("label", Integer), Column("intervention_days", Integer),
                   Column("intervention_observed", Integer), Column("delay_days", Integer),
                   Column("delay_observed", Integer), Column("site_id", String), Column("label_source", String),
                   Column("arrival_days", Integer), Column("arrival_late", Integer),
                   Column("patient_key", String),
                   *[Column(f"f{i}", Integer) for i in range(len(numeric))]]
        # The first label's confirmation, looked up per prediction of the window (the ground-truth index on
        # device and prediction answers it): a subquery grouping every label of the device was aggregated in
        # full for each window, whatever its size.
        earlier = ground_truth.alias("first_label")
        labelled_at = (select(func.min(earlier.c.confirmed_at))
                       .where(earlier.c.device_id == predictions.c.device_id,
                              earlier.c.prediction_id == predictions.c.prediction_id, earlier.c.ingested_at <= cutoff)
                       .scalar_subquery())
        arrived = ground_truth.c.id.is_not(None)  # a label received by the cut-off: the first one too
        seen = and_(ground_truth.c.intervention_at.is_not(None), ground_truth.c.intervention_at <= cutoff)
        at_cutoff = literal(cutoff, type_=predictions.c.predicted_at.type)
        late = ground_truth.c.confirmed_at > cutoff
        values = [predictions.c.id, predictions.c.predicted_at, predictions.c.model_version,
                  *[attribute_expression(spec) for spec in attributes],
                  self._bin(predictions.c.score, SCORE_BINS), self._bin(predictions.c.score, 100),
                  predictions.c.predicted_label, ground_truth.c.label,
                  self._ceil_days(case((seen, ground_truth.c.intervention_at), else_=at_cutoff)),
                  case((seen, 1), else_=0),
                  self._ceil_days(case((arrived, labelled_at), else_=at_cutoff)),
                  case((arrived, 1), else_=0),
                  predictions.c.site_id, ground_truth.c.source,
                  # the current label's arrival delay as the label-arrival histograms count it (confirmation
                  # capped at the cut-off) and whether it was capped (``label_delays``)
                  whole_days(self._conn.dialect.name, case((late, at_cutoff), else_=ground_truth.c.confirmed_at)),
                  case((late, 1), else_=0),
                  predictions.c.patient_hash,
                  *[self._bin(_numeric_input(spec), 1) for spec in numeric]]
        query = (select(*[v.label(c.name) for v, c in zip(values, columns, strict=True)])
                 .select_from(predictions.outerjoin(ground_truth, _label_join(cutoff)))
                 .where(*_period_filter(device_id, start, end, cutoff)))
        return columns, query, numeric

    @contextmanager
    def window_cases(self, device_id: str, *, start: datetime, end: datetime, cutoff: datetime,
                     attributes: Sequence[AttributeSpec], intersections: Sequence[tuple[str, ...]] = ()
                     ) -> Iterator[WindowCases]:
        """The window's cases, materialised once in a temporary table, dropped when the block ends.

        One row per prediction of the window counted as of ``cutoff`` (:func:`_period_filter`) with
        what every section aggregates: stratum labels, score bins, call, the latest label received by
        the cut-off (:func:`_label_join`; null while pending), the whole days to intervention and to
        the first label (censored at the cut-off), the site, the numeric inputs and the patient's keyed
        hash (``patient_key``: it stays in the database, like the table). The predictions
        are joined to their labels and their attribute expressions evaluated once, instead of once per
        section (about ten scans of the window's rows before). ``intersections`` (attribute-name tuples):
        the monitored intersections the day-count tables are summed to besides the single attributes.
        """
        columns, query, numeric = self._cases_query(device_id, start=start, end=end, cutoff=cutoff,
                                                    attributes=attributes)
        table = Table(f"window_cases_{uuid.uuid4().hex[:12]}", MetaData(), *columns, prefixes=["TEMPORARY"],
                      postgresql_on_commit="DROP")
        sqlite = self._conn.dialect.name == "sqlite"
        driver = self._conn.connection.driver_connection if sqlite else None
        # pysqlite would open a transaction before the INSERT and keep its read snapshot until the analysis
        # first writes, which then fails (SQLITE_BUSY_SNAPSHOT) if an ingest committed in between: outside
        # a transaction the table (private to this connection) is created and filled in autocommit mode.
        autocommit = driver is not None and not driver.in_transaction  # type: ignore[attr-defined]
        previous = driver.isolation_level if autocommit else None  # type: ignore[union-attr]
        if autocommit:
            driver.isolation_level = None  # type: ignore[union-attr]
        try:
            self._conn.execute(CreateTable(table))
            self._conn.execute(insert(table).from_select([c.name for c in columns], query))
        finally:
            if autocommit:
                driver.isolation_level = previous  # type: ignore[union-attr]
        try:
            yield WindowCases(table, tuple(attributes), {spec.name: f"f{i}" for i, spec in enumerate(numeric)},
                              tuple(tuple(g) for g in intersections))
        except BaseException:
            # PostgreSQL: the unit of work's rollback removes the table (a DROP in the aborted transaction
            # would fail and hide the error). SQLite has no aborted state: drop it, in the transaction it
            # was created in, if any (then the rollback removes both).
            if sqlite:
                table.drop(self._conn)
            raise
        table.drop(self._conn)

    def outcome_groups(self, cases: WindowCases) -> pd.DataFrame:
        """The cases by model version, stratum labels, call (``predicted_label``), ``label`` (-1 while
        pending) and ``label_source`` (null while pending), with their number ``n``: one GROUP BY of the
        table, counted once per materialisation (kept in ``cases.counted``), from which the count cells,
        confusion cells, verification cells and label sources are summed. Its rows are the stratum
        combinations times a few outcomes, not the cases."""
        held = cases.counted.get("outcome_groups")
        if held is not None:
            return held
        t = cases.table
        keys = cases.keys()
        label = func.coalesce(t.c.label, -1).label("label")
        query = (select(*keys, t.c.predicted_label, label, t.c.label_source, func.count().label("n"))
                 .group_by(*keys, t.c.predicted_label, label, t.c.label_source))
        frame = _frame(self._conn.execute(query).all(),
                       ["model_version", *cases.names, "predicted_label", "label", "label_source", "n"])
        frame = frame.astype({"label": "int64", "n": "int64"})
        cases.counted["outcome_groups"] = frame
        return frame

    def label_delays(self, cases: WindowCases) -> pd.DataFrame:
        """Labelled cases by model version, ``label``, call, ground-truth ``source`` of the current label,
        whole ``days`` from the AI result to its confirmation (floored; a confirmation after the cut-off
        counts as at the cut-off) and ``late`` (1: it was, so ``days`` holds only for this cut-off): the
        month parts of the label-arrival histograms (:func:`monitor.service.label_maturity.assess_label_maturity`)."""
        t = cases.table
        query = (select(t.c.model_version, t.c.label, t.c.predicted_label, t.c.label_source, t.c.arrival_days,
                        t.c.arrival_late, func.count().label("n"))
                 .where(t.c.label.is_not(None))
                 .group_by(t.c.model_version, t.c.label, t.c.predicted_label, t.c.label_source, t.c.arrival_days,
                           t.c.arrival_late))
        frame = _frame(self._conn.execute(query).all(),
                       ["model_version", "label", "predicted_label", "source", "days", "late", "n"])
        return frame.astype({c: "int64" for c in ("label", "predicted_label", "days", "late", "n")})

    def month_cells(self, cases: WindowCases) -> pd.DataFrame:
        """``tp, fp, fn, tn, pending`` per model version and full combination of stratum labels of the
        cases, labelled or not: the count cells of :meth:`ResultRepository.stratum_counts` (``pending=True``)."""
        groups = self.outcome_groups(cases)
        counts = ["tp", "fp", "fn", "tn", "pending"]
        return _summed(_with_confusion(groups).assign(pending=groups["n"].where(groups["label"] == -1, 0)),
                       ["model_version", *cases.names], counts)

    def case_label_sources(self, cases: WindowCases) -> pd.DataFrame:
        """Labelled cases by call and ground-truth source (``predicted_label``, ``source``, ``n``): the table
        :meth:`label_sources` counts from the rows."""
        groups = self.outcome_groups(cases)
        labelled = groups.loc[groups["label"] != -1].rename(columns={"label_source": "source"})
        return _summed(labelled, ["predicted_label", "source"], ["n"])

    def confusion_cells(self, cases: WindowCases) -> pd.DataFrame:
        """``tp, fp, fn, tn`` per model version and full combination of stratum labels of the window's
        labelled cases: the table :meth:`ResultRepository.confusion_cells` counts from the rows."""
        groups = self.outcome_groups(cases)
        labelled = _with_confusion(groups.loc[groups["label"] != -1])
        return sorted_cells(_summed(labelled, ["model_version", *cases.names], ["tp", "fp", "fn", "tn"]))

    def verification_cells(self, cases: WindowCases) -> pd.DataFrame:
        """Predictions by stratum labels, call (``predicted_label``) and ``verified`` (ground truth arrived)."""
        groups = self.outcome_groups(cases)
        verified = groups.assign(verified=(groups["label"] != -1).astype("int64"))
        return _summed(verified, ["model_version", *cases.names, "predicted_label", "verified"], ["n"])

    def score_histogram(self, cases: WindowCases) -> pd.DataFrame:
        """Cases by score bin (0..1000), ``label`` (-1 when not yet known) and call (``predicted_label``),
        for the whole population and each single attribute (grouping sets, :meth:`_single_strata`)."""
        t = cases.table
        keys = cases.keys()
        label = func.coalesce(t.c.label, -1).label("label")
        counted = (select(*keys, t.c.score_bin, label, t.c.predicted_label, func.count().label("n"))
                   .group_by(*keys, t.c.score_bin, label, t.c.predicted_label))
        query, names = self._single_strata(counted, cases.attributes, ["score_bin", "label", "predicted_label"])
        return _frame(self._conn.execute(query).all(), names)

    def feature_histogram(self, cases: WindowCases, feature: AttributeSpec | str) -> pd.DataFrame:
        """Distribution of one input in the window: ``value`` and ``n``.

        ``feature`` is an attribute (its raw column: whole numbers for numeric ones, labels for categorical
        ones) or one of ``site_id``, ``score`` (binned to 0.01).
        """
        t = cases.table
        if feature == "site_id":
            value: ColumnElement[Any] = t.c.site_id
        elif feature == "score":
            value = t.c.score_pct
        else:
            assert isinstance(feature, AttributeSpec)
            value = t.c[cases.numeric[feature.name]] if feature.is_numeric else t.c[cases.column(feature.name)]
        query = select(value.label("value"), func.count().label("n")).group_by(value)
        return _frame(self._conn.execute(query).all(), ["value", "n"])

    def intervention_days(self, cases: WindowCases) -> pd.DataFrame:
        """Confirmed positives by whole days from the AI result to intervention, for the whole population,
        each single attribute and each of the cases' monitored intersections (grouping sets,
        :meth:`_single_strata`).

        ``observed`` is 1 when the intervention happened by the cut-off, else 0 and ``days`` is the
        time to the cut-off (right-censored).
        """
        return self._days(cases, "intervention", cases.table.c.label == 1)

    def label_delay_days(self, cases: WindowCases) -> pd.DataFrame:
        """Predictions by whole days from the AI result to the reference standard's confirmation
        (``confirmed_at`` of the first version received by the cut-off); ``observed`` 0 = still
        pending, censored at the cut-off. For the whole population, each single attribute and each of the
        cases' monitored intersections (grouping sets, :meth:`_single_strata`)."""
        return self._days(cases, "delay", None)

    def _days(self, cases: WindowCases, prefix: str, where: ColumnElement[bool] | None) -> pd.DataFrame:
        t = cases.table
        keys = cases.keys()
        days, observed = t.c[f"{prefix}_days"].label("days"), t.c[f"{prefix}_observed"].label("observed")
        counted = select(*keys, days, observed, func.count().label("n")).group_by(*keys, days, observed)
        if where is not None:
            counted = counted.where(where)
        query, names = self._single_strata(counted, cases.attributes, ["days", "observed"], cases.intersections)
        return _frame(self._conn.execute(query).all(), names)

    def first_prediction_at(self, device_id: str, model_version: str) -> datetime | None:
        """When a model version's first prediction was made (its charts start there)."""
        return self._conn.execute(select(func.min(predictions.c.predicted_at)).where(
            predictions.c.device_id == device_id, predictions.c.model_version == model_version)).scalar_one_or_none()
