"""Confusion-cell tables computed by Apache Spark from Parquet logs in a data lake.

The SQL path (:meth:`monitor.adapters.db.repositories.results.ResultRepository.confusion_cells`)
counts ingested rows in the database. This adapter computes the *same* cell table
(model version x stratum labels -> ``tp, fp, fn, tn``) from prediction and ground-truth
logs stored as Parquet (local paths, HDFS or object-store URLs that Spark can read), so
that the unchanged statistics core (:func:`monitor.domain.evaluation.evaluate_cells`) can
run on volumes one machine cannot hold. Only the cell table (a few thousand rows) comes
back to the driver.

Rules, mirroring ingestion and the SQL path:

* a prediction row counts when its required fields are present and valid (score in
  [0, 1], predicted label 0/1, a timestamp), it belongs to the device, and
  ``period start <= predicted_at < period end`` and ``predicted_at <= cutoff``;
* prediction ids repeated with identical content count once; ids repeated with
  different content are excluded (ingestion rejects them as conflicts) and reported;
* a ground-truth row counts when its label is 0/1 and ``confirmed_at <= cutoff``;
  several rows for one prediction (corrections) resolve to the one confirmed last
  (ties: the larger label version order in the file set is not defined, so ties with
  different labels are excluded and reported);
* stratum labels follow the domain's rule (:class:`monitor.domain.binning.BinningRule`, compiled
  to a Spark column by :func:`stratum_column`): numeric attributes are binned with left-closed
  edges, missing or empty values become ``unknown``; ages of 90 and above are top-coded to 90 like
  ingestion does (one constant, :data:`monitor.domain.binning.AGE_CAP`).

Reference: Zaharia M. et al., "Apache Spark: a unified engine for big data processing",
Commun. ACM 59(11), 2016 (the engine); the counting rules are samd-monitor's own
(docs/spark.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Sequence

import pandas as pd

from monitor.domain.strata import AttributeSpec
from monitor.errors import InputError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from pyspark.sql import Column, DataFrame, SparkSession

__all__ = ["SparkCellEngine", "SparkCells", "describe", "local_spark_session", "spark_confusion_cells", "stratum_column"]

COUNT_COLUMNS = ("tp", "fp", "fn", "tn")


@dataclass
class SparkCells:
    """The cell table and what the Spark pass excluded, with reasons."""

    cells: pd.DataFrame
    predictions_read: int
    predictions_counted: int
    excluded: dict[str, int] = field(default_factory=dict)


def local_spark_session(app_name: str = "samd-monitor", cores: int = 2) -> SparkSession:
    """A local-mode Spark session in UTC with modest memory, for tests and single machines."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - depends on the optional extra
        raise InputError("the Spark engine needs PySpark: pip install 'samd-monitor[spark]'") from exc
    return (SparkSession.builder.master(f"local[{cores}]").appName(app_name)
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.shuffle.partitions", str(max(4, cores * 4)))
            .config("spark.ui.enabled", "false")
            # pandas/pyarrow write nanosecond timestamps, which Spark reads only as longs.
            .config("spark.sql.legacy.parquet.nanosAsLong", "true")
            .config("spark.driver.memory", "2g")
            .getOrCreate())


def stratum_column(frame: DataFrame, spec: AttributeSpec) -> Column:
    """The Spark compiler of the domain's binning rule (:class:`monitor.domain.binning.BinningRule`):
    the stratum label of ``spec`` for each row of ``frame`` (a missing column labels every row ``unknown``)."""
    from pyspark.sql import functions as F

    rule = spec.rule
    if rule.column not in frame.columns:
        return F.lit(rule.missing)
    raw = F.col(rule.column)
    if not rule.is_numeric:
        text = raw.cast("string")
        return F.when(text.isNull() | (text == ""), F.lit(rule.missing)).otherwise(text)
    # try_cast: text that is not a number is missing (a plain cast fails the job under ANSI mode, Spark 4's default).
    value = raw.try_cast("double")
    pairs, otherwise = rule.cases()
    expression = F.when(value.isNull() | F.isnan(value), F.lit(rule.missing))
    for edge, label in pairs:
        expression = expression.when(value < F.lit(float(edge)), F.lit(label))
    return expression.otherwise(F.lit(otherwise))


def _timestamp(frame: DataFrame, column: str) -> Column:
    """A timestamp column: Parquet timestamps as they are, nanosecond timestamps (read as longs, see
    ``spark.sql.legacy.parquet.nanosAsLong``) converted, ISO-8601 strings with an offset parsed."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import LongType, StringType

    kind = frame.schema[column].dataType
    if isinstance(kind, LongType):
        return F.timestamp_micros(F.floor(F.col(column) / 1000).cast("long"))
    if isinstance(kind, StringType):
        return F.to_timestamp(F.col(column))
    return F.col(column).cast("timestamp")


def _utc_literal(moment: datetime) -> Column:
    from pyspark.sql import functions as F

    naive_utc = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return F.lit(naive_utc.isoformat(sep=" ")).cast("timestamp")


def spark_confusion_cells(
    spark: SparkSession, *, predictions: Sequence[str], ground_truth: Sequence[str], device_id: str,
    start: datetime, end: datetime, cutoff: datetime, attributes: Sequence[AttributeSpec],
) -> SparkCells:
    """Cell table of ``device_id`` over ``[start, end)`` with labels confirmed by ``cutoff``.

    ``predictions`` and ``ground_truth`` are Parquet paths or URLs (files, folders or globs).
    The result has the columns ``model_version``, one per attribute, and ``tp, fp, fn, tn``,
    sorted like the SQL path's, so that the two can be compared frame for frame.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F
    from pyspark.sql.utils import AnalysisException

    for when in (start, end, cutoff):
        if when.tzinfo is None:
            raise InputError("period bounds and the cut-off need a UTC offset")
    try:
        pred = spark.read.parquet(*predictions)
        truth = spark.read.parquet(*ground_truth)
    except AnalysisException as exc:
        raise InputError(f"Spark cannot read the Parquet logs: {str(exc).splitlines()[0]}") from exc
    required = {"prediction_id", "device_id", "model_version", "predicted_at", "score", "predicted_label"}
    missing = sorted(required - set(pred.columns))
    if missing:
        raise InputError(f"prediction logs lack required column(s): {', '.join(missing)}")
    missing = sorted({"prediction_id", "device_id", "label", "confirmed_at"} - set(truth.columns))
    if missing:
        raise InputError(f"ground-truth logs lack required column(s): {', '.join(missing)}")

    score = F.col("score").cast("double")
    call = F.col("predicted_label").cast("int")
    predicted_at = _timestamp(pred, "predicted_at")
    pred = pred.where(F.col("device_id") == device_id)
    valid = (F.col("prediction_id").isNotNull() & F.col("model_version").isNotNull() & predicted_at.isNotNull()
             & score.isNotNull() & ~F.isnan(score) & (score >= 0) & (score <= 1) & call.isin(0, 1))
    excluded: dict[str, int] = {}
    tally = pred.agg(F.count(F.lit(1)).alias("read"),
                     F.sum(F.when(valid, 0).otherwise(1)).alias("invalid")).first()
    read, invalid = int(tally["read"]), int(tally["invalid"] or 0)
    if invalid:
        excluded["invalid_prediction_row"] = invalid
    labels = {spec.name: stratum_column(pred, spec) for spec in attributes}
    rows = (pred.where(valid)
            .select(F.col("prediction_id").cast("string").alias("prediction_id"),
                    F.col("model_version").cast("string").alias("model_version"),
                    predicted_at.alias("_at"), call.alias("_call"), score.alias("_score"),
                    *[expression.alias(name) for name, expression in labels.items()])
            .where((F.col("_at") >= _utc_literal(start)) & (F.col("_at") < _utc_literal(end))
                   & (F.col("_at") <= _utc_literal(cutoff)))
            .dropDuplicates())
    by_id = Window.partitionBy("prediction_id")
    rows = cached_rows = rows.withColumn("_copies", F.count(F.lit(1)).over(by_id)).persist()
    conflicts = rows.where(F.col("_copies") > 1).select("prediction_id").distinct().count()
    if conflicts:
        excluded["conflicting_prediction_id"] = conflicts
    rows = rows.where(F.col("_copies") == 1)

    label = F.col("label").cast("int")
    confirmed = _timestamp(truth, "confirmed_at")
    latest = Window.partitionBy("prediction_id").orderBy(F.col("_confirmed").desc())
    truth = (truth.where((F.col("device_id") == device_id) & label.isin(0, 1) & confirmed.isNotNull())
             .select(F.col("prediction_id").cast("string").alias("prediction_id"), label.alias("_truth"),
                     confirmed.alias("_confirmed"))
             .where(F.col("_confirmed") <= _utc_literal(cutoff))
             .dropDuplicates()
             .withColumn("_rank", F.rank().over(latest))
             .where(F.col("_rank") == 1))
    truth = cached_truth = truth.withColumn(
        "_ties", F.count(F.lit(1)).over(Window.partitionBy("prediction_id"))).persist()
    tied = truth.where(F.col("_ties") > 1).select("prediction_id").distinct().count()
    if tied:
        excluded["ambiguous_ground_truth"] = tied
    truth = truth.where(F.col("_ties") == 1).select("prediction_id", "_truth")

    joined = rows.join(truth, "prediction_id", "inner")
    keys = ["model_version", *labels]
    counts = [F.sum(F.when((F.col("_truth") == t) & (F.col("_call") == c), 1).otherwise(0)).alias(name)
              for name, t, c in (("tp", 1, 1), ("fp", 0, 1), ("fn", 1, 0), ("tn", 0, 0))]
    aggregated = joined.groupBy(*keys).agg(*counts).collect()
    counted = rows.count()
    cached_rows.unpersist()
    cached_truth.unpersist()
    frame = pd.DataFrame([tuple(r) for r in aggregated], columns=[*keys, *COUNT_COLUMNS])
    for column in COUNT_COLUMNS:
        frame[column] = frame[column].astype("int64")
    frame = frame.sort_values(keys, kind="stable").reset_index(drop=True)
    return SparkCells(cells=frame, predictions_read=read, predictions_counted=counted, excluded=excluded)


@dataclass
class SparkCellEngine:
    """The Spark engine behind the cell-engine port (:class:`monitor.service.cell_engines.CellEngine`).

    Without a ``spark`` session a local one is started at the first count. ``last`` keeps the
    bookkeeping (rows read, counted, excluded) of the latest count.
    """

    predictions: Sequence[str]
    ground_truth: Sequence[str]
    spark: SparkSession | None = None
    last: SparkCells | None = None

    def confusion_cells(self, device_id: str, *, start: datetime, end: datetime, cutoff: datetime,
                        attributes: Sequence[AttributeSpec]) -> pd.DataFrame:
        """The lake's cells (see :func:`spark_confusion_cells`)."""
        if self.spark is None:
            self.spark = local_spark_session()
        self.last = spark_confusion_cells(self.spark, predictions=self.predictions, ground_truth=self.ground_truth,
                                          device_id=device_id, start=start, end=end, cutoff=cutoff,
                                          attributes=attributes)
        return self.last.cells


def describe(result: SparkCells) -> dict[str, Any]:
    """Plain-data summary of a Spark pass for JSON output."""
    return {"predictions_read": result.predictions_read, "predictions_counted": result.predictions_counted,
            "excluded": dict(sorted(result.excluded.items())), "cells": len(result.cells)}
