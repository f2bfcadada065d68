"""Period queries (confusion cells by GROUP BY, completeness, fingerprints) and stored analysis results."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any, Sequence

import pandas as pd
from sqlalchemy import (
    Connection,
    Float,
    Table,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    select,
)
from sqlalchemy.sql import ColumnElement

from monitor.adapters.db.repositories._active import active_prediction_clause
from monitor.adapters.db.tables import (
    analysis_runs,
    findings,
    ground_truth,
    ingestion_batches,
    prediction_retractions,
    predictions,
    stratum_results,
)
from monitor.domain.strata import AttributeSpec
from monitor.errors import NotFoundError

__all__ = ["ResultRepository", "attribute_expression", "confusion_counts", "sorted_cells"]

_CORE_COLUMNS = {"age": predictions.c.age, "sex": predictions.c.sex, "site_id": predictions.c.site_id,
                 "model_version": predictions.c.model_version}


def attribute_expression(spec: AttributeSpec, table: Table = predictions) -> ColumnElement[str]:
    """SQL expression giving the stratum label of ``spec`` for each prediction row.

    The SQL compiler of the domain's rule (:class:`monitor.domain.binning.BinningRule`, the one
    :meth:`AttributeSpec.bin_label` evaluates): numeric attributes are binned with left-closed edges
    (ages top-coded at 90), missing or empty values become ``unknown``. ``table`` is ``predictions``
    or a table with the same stratification columns (``prediction_failures``).
    """
    rule = spec.rule
    column = rule.column
    if column in _CORE_COLUMNS:
        raw: ColumnElement[Any] = table.c[column]
        numeric = raw if column == "age" else None
    else:
        raw = table.c.attributes[column].as_string()
        numeric = cast(table.c.attributes[column].as_float(), Float) if rule.is_numeric else None
    if not rule.is_numeric:  # missing or empty -> the missing label; the value read once (a JSON path is costly)
        return func.coalesce(func.nullif(raw, ""), literal(rule.missing))
    value = numeric if numeric is not None else cast(raw, Float)
    pairs, otherwise = rule.cases()
    whens = [(value.is_(None), literal(rule.missing))]
    whens += [(value < edge, literal(label)) for edge, label in pairs]
    return case(*whens, else_=literal(otherwise))


def confusion_counts(truth: ColumnElement[Any], call: ColumnElement[Any]) -> list[ColumnElement[Any]]:
    """``tp, fp, fn, tn``: sums over the grouped rows of the ground-truth label ``truth`` against the
    AI's ``call`` (rows without a label count in none)."""
    return [func.sum(case((and_(truth == label, call == called), 1), else_=0)).label(name)
            for name, label, called in (("tp", 1, 1), ("fp", 0, 1), ("fn", 1, 0), ("tn", 0, 0))]


def sorted_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """A confusion-cell table (keys, then ``tp, fp, fn, tn``) sorted by its keys, index reset."""
    return frame.sort_values(list(frame.columns[:-4]), kind="stable").reset_index(drop=True)


def _label_join(cutoff: datetime) -> ColumnElement[bool]:
    """Join condition from a prediction to its latest ground-truth version received by ``cutoff``.

    "Latest" is expressed as NOT EXISTS a newer version received by the cut-off, which the
    (device_id, prediction_id, ...) index answers per prediction on both engines.
    """
    newer = ground_truth.alias("newer")
    return and_(
        ground_truth.c.device_id == predictions.c.device_id,
        ground_truth.c.prediction_id == predictions.c.prediction_id,
        ground_truth.c.ingested_at <= cutoff,
        ~exists().where(newer.c.device_id == ground_truth.c.device_id,
                        newer.c.prediction_id == ground_truth.c.prediction_id,
                        newer.c.version > ground_truth.c.version,
                        newer.c.ingested_at <= cutoff),
    )


def _period_filter(device_id: str, start: datetime, end: datetime, cutoff: datetime,
                   *, active: bool = True) -> list[ColumnElement[bool]]:
    """The period's predictions ingested by the cut-off; unless ``active`` is False, without those
    retracted by the cut-off (:func:`active_prediction_clause`)."""
    period = [predictions.c.device_id == device_id, predictions.c.predicted_at >= start,
              predictions.c.predicted_at < end, predictions.c.ingested_at <= cutoff]
    return [*period, active_prediction_clause(cutoff)] if active else period


class ResultRepository:
    """Aggregations over a period and persistence of analysis runs."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def confusion_cells(self, device_id: str, *, start: datetime, end: datetime, cutoff: datetime,
                        attributes: Sequence[AttributeSpec]) -> pd.DataFrame:
        """Confusion counts per (model version, stratum labels), computed by the database (GROUP BY)."""
        return sorted_cells(self.stratum_counts(device_id, start=start, end=end, cutoff=cutoff,
                                                attributes=attributes, pending=False))

    def stratum_counts(self, device_id: str, *, start: datetime, end: datetime, cutoff: datetime,
                       attributes: Sequence[AttributeSpec], pending: bool) -> pd.DataFrame:
        """Per model version and full combination of attribute labels: ``tp, fp, fn, tn`` of the predictions
        with ground truth by the cut-off, and with ``pending`` also the count of those still awaiting it
        (one GROUP BY; the count cells of :mod:`monitor.service.cells` are recounted with it)."""
        keys = [predictions.c.model_version.label("model_version")]
        keys += [attribute_expression(spec).label(spec.name) for spec in attributes]
        truth, call = ground_truth.c.label, predictions.c.predicted_label
        counts = confusion_counts(truth, call)
        if pending:
            counts.append(func.sum(case((truth.is_(None), 1), else_=0)).label("pending"))
        joined = (predictions.outerjoin(ground_truth, _label_join(cutoff)) if pending
                  else predictions.join(ground_truth, _label_join(cutoff)))
        query = (select(*keys, *counts).select_from(joined)
                 .where(*_period_filter(device_id, start, end, cutoff)).group_by(*keys))
        names = ["model_version", *[s.name for s in attributes], *[c.name for c in counts]]
        frame = pd.DataFrame([tuple(r) for r in self._conn.execute(query)], columns=names)
        for c in names[len(attributes) + 1:]:
            frame[c] = frame[c].astype("int64")
        return frame

    def completeness(self, device_id: str, *, start: datetime, end: datetime, cutoff: datetime) -> list[dict[str, Any]]:
        """Per model version: predictions in the period, with ground truth by the cut-off, still awaiting it."""
        query = (
            select(predictions.c.model_version, func.count().label("predictions"),
                   func.count(ground_truth.c.prediction_id).label("with_ground_truth"),
                   func.sum(case((ground_truth.c.label == 1, 1), else_=0)).label("positives"),
                   func.sum(case((ground_truth.c.label == 0, 1), else_=0)).label("negatives"))
            .select_from(predictions.outerjoin(ground_truth, _label_join(cutoff)))
            .where(*_period_filter(device_id, start, end, cutoff))
            .group_by(predictions.c.model_version)
            .order_by(predictions.c.model_version)
        )
        result = []
        for r in self._conn.execute(query):
            result.append({"model_version": r.model_version, "predictions": int(r.predictions),
                           "with_ground_truth": int(r.with_ground_truth),
                           "awaiting_ground_truth": int(r.predictions) - int(r.with_ground_truth),
                           "positives": int(r.positives or 0), "negatives": int(r.negatives or 0)})
        return result

    def retracted_count(self, device_id: str, *, start: datetime, end: datetime, cutoff: datetime) -> int:
        """Predictions of the period (ingested by the cut-off) retracted by the cut-off: left out of the analysis."""
        query = (select(func.count()).select_from(predictions)
                 .where(*_period_filter(device_id, start, end, cutoff, active=False),
                        ~active_prediction_clause(cutoff)))
        return int(self._conn.execute(query).scalar_one())

    def sites_in_period(self, device_id: str, *, start: datetime, end: datetime, cutoff: datetime) -> list[dict[str, Any]]:
        """Predictions per site in the period."""
        query = (select(predictions.c.site_id, func.count().label("predictions"))
                 .where(*_period_filter(device_id, start, end, cutoff))
                 .group_by(predictions.c.site_id).order_by(predictions.c.site_id))
        return [{"site_id": r.site_id, "predictions": int(r.predictions)} for r in self._conn.execute(query)]

    def input_fingerprint(self, device_id: str, *, start: datetime, end: datetime, cutoff: datetime) -> tuple[str, list[dict[str, Any]]]:
        """SHA-256 over the batches (and their checksums) that feed the period, with row counts per batch."""
        pred = (select(predictions.c.batch_id, func.count().label("rows"))
                .where(*_period_filter(device_id, start, end, cutoff)).group_by(predictions.c.batch_id))
        truth = (select(ground_truth.c.batch_id, func.count().label("rows"))
                 .select_from(predictions.join(ground_truth, _label_join(cutoff)))
                 .where(*_period_filter(device_id, start, end, cutoff)).group_by(ground_truth.c.batch_id))
        retraction = prediction_retractions
        withdrawn = (select(retraction.c.batch_id, func.count().label("rows"))
                     .select_from(predictions.join(retraction, and_(
                         retraction.c.device_id == predictions.c.device_id,
                         retraction.c.prediction_id == predictions.c.prediction_id)))
                     .where(*_period_filter(device_id, start, end, cutoff, active=False),
                            retraction.c.ingested_at <= cutoff)
                     .group_by(retraction.c.batch_id))
        sources = []
        for kind, query in (("predictions", pred), ("ground_truth", truth), ("retractions", withdrawn)):
            for r in self._conn.execute(query):
                sources.append({"kind": kind, "batch_id": int(r.batch_id), "rows": int(r.rows)})
        ids = sorted({s["batch_id"] for s in sources})
        meta = {r.batch_id: r for r in self._conn.execute(
            select(ingestion_batches.c.batch_id, ingestion_batches.c.source_name, ingestion_batches.c.source_sha256)
            .where(ingestion_batches.c.batch_id.in_(ids)))} if ids else {}
        for s in sources:
            s["sha256"] = meta[s["batch_id"]].source_sha256
            s["source"] = meta[s["batch_id"]].source_name
        sources.sort(key=lambda s: (s["kind"], s["batch_id"]))
        canonical = json.dumps([(s["kind"], s["sha256"], s["rows"]) for s in sources], separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest(), sources

    # persistence ------------------------------------------------------------------------
    def save_run(self, run: dict[str, Any], results: Sequence[dict[str, Any]], found: Sequence[dict[str, Any]]) -> None:
        """Store a run's header, its document, its stratum results and findings."""
        self._conn.execute(analysis_runs.insert().values(**run))
        if results:
            self._conn.execute(stratum_results.insert(), [
                {k: r[k] for k in ("model_version", "stratum", "level", "metric", "successes", "trials", "estimate",
                                   "ci_low", "ci_high", "claim", "margin", "p_value", "q_value", "status",
                                   "additional_needed")} | {"run_id": run["run_id"]} for r in results])
        if found:
            self._conn.execute(findings.insert(), list(found))

    def get_run(self, run_id: str) -> dict[str, Any]:
        """A stored run (with its document)."""
        row = self._conn.execute(select(analysis_runs).where(analysis_runs.c.run_id == run_id)).first()
        if row is None:
            raise NotFoundError(f"analysis run {run_id!r} does not exist")
        return dict(row._mapping)

    def latest_run(self, device_id: str, period: str) -> dict[str, Any]:
        """The newest stored run of a device and period."""
        row = self._conn.execute(
            select(analysis_runs).where(analysis_runs.c.device_id == device_id, analysis_runs.c.period == period)
            .order_by(analysis_runs.c.created_at.desc(), analysis_runs.c.run_id.desc()).limit(1)).first()
        if row is None:
            raise NotFoundError(f"no analysis of device {device_id!r} for period {period}: "
                                f"run `samd-monitor analyze --device {device_id} --period {period}` first")
        return dict(row._mapping)

    def runs(self, device_id: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Stored runs (without documents), newest first."""
        cols = [c for c in analysis_runs.c if c.name != "document"]
        query = select(*cols).order_by(analysis_runs.c.created_at.desc()).limit(limit)
        if device_id:
            query = query.where(analysis_runs.c.device_id == device_id)
        return [dict(r._mapping) for r in self._conn.execute(query)]

    def stratum_results(self, run_id: str) -> list[dict[str, Any]]:
        """Stored stratum results of a run, in stored order."""
        rows = self._conn.execute(select(stratum_results).where(stratum_results.c.run_id == run_id)
                                  .order_by(stratum_results.c.id))
        return [dict(r._mapping) for r in rows]

    def set_finding_ticket(self, finding_id: str, ticket_id: str) -> None:
        """Link a finding to its ticket."""
        self._conn.execute(findings.update().where(findings.c.finding_id == finding_id).values(ticket_id=ticket_id))
