"""Prediction and ground-truth logs, ingestion batches and rejected rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable, Sequence

import pandas as pd
from sqlalchemy import Connection, and_, func, select, text, update

from monitor.adapters.db.tables import (
    ground_truth,
    ingestion_batches,
    model_versions,
    predictions,
    rejected_rows,
    sites,
)
from monitor.domain.logs import Rejection

__all__ = ["LogRepository"]

_LOOKUP_CHUNK = 900
_RECORD_ID_LENGTH = rejected_rows.c.record_id.type.length


def _chunks(values: Sequence[str], size: int = _LOOKUP_CHUNK) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


def _fit(text: str | None, limit: int) -> str | None:
    """``text`` shortened to ``limit`` characters (ending in an ellipsis when cut)."""
    return text if text is None or len(text) <= limit else text[:limit - 1] + "\u2026"


def _column_values(frame: pd.DataFrame, column: str) -> list[Any]:
    """A column as plain Python values (datetimes, ints, floats, str; None for missing)."""
    series = frame[column]
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        values = series.array.to_pydatetime()
        return [None if v is pd.NaT or v is None or v != v else v for v in values]
    if pd.api.types.is_integer_dtype(series.dtype):
        return series.astype(object).tolist()
    if pd.api.types.is_float_dtype(series.dtype):
        return series.astype(object).where(series.notna(), None).tolist()
    return [None if v is None or (isinstance(v, float) and v != v) else v for v in series.tolist()]


def _records(frame: pd.DataFrame, columns: Sequence[str], extra: dict[str, Any]) -> list[dict[str, Any]]:
    data = [_column_values(frame, c) for c in columns]
    return [dict(zip(columns, values, strict=True)) | extra for values in zip(*data, strict=True)]


class LogRepository:
    """Writes and lookups used by ingestion."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    # batches -----------------------------------------------------------------------------
    def start_batch(self, *, kind: str, source_name: str, source_format: str, source_sha256: str,
                    at: datetime, actor: str) -> int:
        """Create a batch record (counts filled in by :meth:`finish_batch`); return its id."""
        result = self._conn.execute(ingestion_batches.insert().values(
            kind=kind, source_name=source_name, source_format=source_format, source_sha256=source_sha256,
            rows_total=0, accepted=0, duplicates=0, rejected=0, started_at=at, finished_at=at, actor=actor,
        ))
        return int(result.inserted_primary_key[0])

    def finish_batch(self, batch_id: int, *, rows_total: int, accepted: int, duplicates: int, rejected: int,
                     at: datetime) -> None:
        """Record a batch's final counts."""
        self._conn.execute(update(ingestion_batches).where(ingestion_batches.c.batch_id == batch_id).values(
            rows_total=rows_total, accepted=accepted, duplicates=duplicates, rejected=rejected, finished_at=at,
        ))

    def batches(self, limit: int = 50) -> list[dict[str, Any]]:
        """The newest batches, newest first."""
        rows = self._conn.execute(select(ingestion_batches).order_by(ingestion_batches.c.batch_id.desc()).limit(limit))
        return [dict(r._mapping) for r in rows]

    # predictions -------------------------------------------------------------------------
    def prediction_hashes(self, device_id: str, ids: Sequence[str]) -> dict[str, str]:
        """Stored row hashes of the given prediction ids of one device."""
        found: dict[str, str] = {}
        for part in _chunks(list(ids)):
            rows = self._conn.execute(select(predictions.c.prediction_id, predictions.c.row_hash).where(
                predictions.c.device_id == device_id, predictions.c.prediction_id.in_(part)))
            found.update((r.prediction_id, r.row_hash) for r in rows)
        return found

    def insert_predictions(self, frame: pd.DataFrame, *, batch_id: int, at: datetime) -> None:
        """Insert validated, new prediction rows."""
        if frame.empty:
            return
        columns = ["device_id", "prediction_id", "model_version", "site_id", "predicted_at", "score",
                   "predicted_label", "patient_hash", "age", "sex", "attributes", "row_hash"]
        self._conn.execute(predictions.insert(), _records(frame, columns, {"batch_id": batch_id, "ingested_at": at}))

    def register_model_versions(self, device_id: str, versions: Iterable[str], *, batch_id: int, at: datetime) -> list[str]:
        """Record model versions not seen before; return the new ones."""
        return self._register(model_versions, "model_version", device_id, versions, batch_id, at)

    def register_sites(self, device_id: str, site_ids: Iterable[str], *, batch_id: int, at: datetime) -> list[str]:
        """Record sites not seen before; return the new ones."""
        return self._register(sites, "site_id", device_id, site_ids, batch_id, at)

    def _register(self, table: Any, column: str, device_id: str, values: Iterable[str], batch_id: int,
                  at: datetime) -> list[str]:
        wanted = sorted(set(values))
        if not wanted:
            return []
        known = {r[0] for r in self._conn.execute(select(table.c[column]).where(
            table.c.device_id == device_id, table.c[column].in_(wanted)))}
        new = [v for v in wanted if v not in known]
        if new:
            self._conn.execute(table.insert(), [
                {"device_id": device_id, column: v, "first_seen_at": at, "first_batch_id": batch_id} for v in new])
        return new

    # ground truth ------------------------------------------------------------------------
    def latest_ground_truth(self, device_id: str, ids: Sequence[str]) -> dict[str, tuple[int, str]]:
        """``{prediction_id: (version, row_hash)}`` of the latest stored ground truth."""
        found: dict[str, tuple[int, str]] = {}
        for part in _chunks(list(ids)):
            rows = self._conn.execute(
                select(ground_truth.c.prediction_id, ground_truth.c.version, ground_truth.c.row_hash).where(
                    ground_truth.c.device_id == device_id, ground_truth.c.is_latest.is_(True),
                    ground_truth.c.prediction_id.in_(part)))
            found.update((r.prediction_id, (r.version, r.row_hash)) for r in rows)
        return found

    def ground_truth_history(self, device_id: str, ids: Sequence[str]) -> dict[str, set[tuple[str, str | None]]]:
        """``{prediction_id: {(row_hash, correction_reason), ...}}`` over every stored version."""
        found: dict[str, set[tuple[str, str | None]]] = {}
        for part in _chunks(list(ids)):
            rows = self._conn.execute(
                select(ground_truth.c.prediction_id, ground_truth.c.row_hash, ground_truth.c.correction_reason).where(
                    ground_truth.c.device_id == device_id, ground_truth.c.prediction_id.in_(part)))
            for r in rows:
                found.setdefault(r.prediction_id, set()).add((r.row_hash, r.correction_reason))
        return found

    def insert_ground_truth(self, frame: pd.DataFrame, *, batch_id: int, at: datetime) -> None:
        """Insert ground-truth versions (column ``version``); older versions stop being latest."""
        if frame.empty:
            return
        corrected = frame.loc[frame["version"] > 1]
        for device_id, group in corrected.groupby("device_id"):
            for part in _chunks(group["prediction_id"].tolist()):
                self._conn.execute(update(ground_truth).where(
                    ground_truth.c.device_id == device_id, ground_truth.c.prediction_id.in_(part),
                    ground_truth.c.is_latest.is_(True)).values(is_latest=False))
        columns = ["device_id", "prediction_id", "version", "label", "confirmed_at", "source", "intervention_at",
                   "correction_reason", "row_hash"]
        self._conn.execute(ground_truth.insert(),
                           _records(frame, columns, {"batch_id": batch_id, "ingested_at": at, "is_latest": True}))

    def refresh_statistics(self) -> None:
        """Refresh the planner's statistics after a batch (PostgreSQL): without them, the first large load
        of a table leaves plans that scan it once per joined row."""
        if self._conn.dialect.name == "postgresql":
            self._conn.execute(text("ANALYZE predictions"))
            self._conn.execute(text("ANALYZE ground_truth"))

    # rejections --------------------------------------------------------------------------
    def insert_rejections(self, batch_id: int, rejections: Sequence[Rejection]) -> None:
        """Store rejected rows with their number, reason and (pseudonymised) content."""
        if rejections:
            self._conn.execute(rejected_rows.insert(), [
                {"batch_id": batch_id, "row_number": r.row_number, "record_id": _fit(r.record_id, _RECORD_ID_LENGTH),
                 "reason_code": r.code[:64], "reason": r.reason, "raw": r.raw} for r in rejections])

    def rejections(self, *, batch_id: int | None = None, code: str | None = None, limit: int = 100,
                   offset: int = 0) -> list[dict[str, Any]]:
        """Rejected rows with their batch's source, filtered, ordered by batch and row."""
        query = (select(rejected_rows, ingestion_batches.c.source_name, ingestion_batches.c.kind)
                 .join(ingestion_batches, ingestion_batches.c.batch_id == rejected_rows.c.batch_id))
        conditions = []
        if batch_id is not None:
            conditions.append(rejected_rows.c.batch_id == batch_id)
        if code is not None:
            conditions.append(rejected_rows.c.reason_code == code)
        if conditions:
            query = query.where(and_(*conditions))
        query = query.order_by(rejected_rows.c.batch_id, rejected_rows.c.row_number).limit(limit).offset(offset)
        return [dict(r._mapping) for r in self._conn.execute(query)]

    def count_rejections(self) -> int:
        """Number of stored rejected rows."""
        return int(self._conn.execute(select(func.count()).select_from(rejected_rows)).scalar_one())
