"""Prediction, ground-truth and retraction logs, ingestion batches and rejected rows.

On PostgreSQL, accepted rows are written with ``COPY ... FROM STDIN`` (psycopg 3) on the
unit of work's own connection, so they stay inside the file's one transaction; on SQLite
with an ``executemany`` insert.
"""

from __future__ import annotations

import io
import json
from datetime import datetime
from typing import Any, Iterable, Sequence

import pandas as pd
from sqlalchemy import Connection, Table, and_, func, select, text, union_all, update

from monitor.adapters.db.tables import (
    ground_truth,
    ingestion_batches,
    model_versions,
    prediction_failures,
    prediction_retractions,
    predictions,
    rejected_rows,
    sites,
)
from monitor.domain.logs import Rejection

__all__ = ["LogRepository"]

_LOOKUP_CHUNK = 900
_INGEST_LOCK_KEY = 0x5A4D_0001  # advisory-lock key of ingestion ("SM", 1)
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


_PREDICTION_COLUMNS = ["device_id", "prediction_id", "model_version", "site_id", "predicted_at", "score",
                       "predicted_label", "patient_hash", "age", "sex", "attributes", "study_uid", "human_label",
                       "ai_volume_mm3", "reviewed_volume_mm3", "row_hash"]
_FAILURE_COLUMNS = ["device_id", "prediction_id", "model_version", "site_id", "predicted_at", "failure_code",
                    "patient_hash", "age", "sex", "attributes", "study_uid", "row_hash"]
_TRUTH_COLUMNS = ["device_id", "prediction_id", "version", "label", "confirmed_at", "source", "intervention_at",
                  "correction_reason", "row_hash"]


def _copy_text(frame: pd.DataFrame, columns: Sequence[str], extra: dict[str, Any]) -> str:
    """``frame``'s columns (then the constant ``extra`` ones) as CSV text for ``COPY ... (FORMAT csv)``:
    an unquoted empty field is NULL (no stored text is ever empty), JSON as text, timestamps with offset."""
    out: dict[str, Any] = {}
    for c in columns:
        values = _column_values(frame, c)
        if c == "attributes":
            values = [json.dumps(v, sort_keys=True) for v in values]
        elif values and any(isinstance(v, datetime) for v in values):
            values = [None if v is None else v.isoformat() for v in values]
        elif any(isinstance(v, float) for v in values):
            values = [None if v is None else repr(float(v)) for v in values]
        out[c] = pd.Series(values, dtype=object)
    for c, v in extra.items():
        out[c] = v.isoformat() if isinstance(v, datetime) else v
    buffer = io.StringIO()
    pd.DataFrame(out).to_csv(buffer, header=False, index=False, lineterminator="\n")
    return buffer.getvalue()


class LogRepository:
    """Writes and lookups used by ingestion."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def _bulk_insert(self, table: Table, frame: pd.DataFrame, columns: Sequence[str], extra: dict[str, Any]) -> None:
        """Insert ``frame``'s rows: ``COPY`` on PostgreSQL, ``executemany`` elsewhere (same transaction)."""
        if frame.empty:
            return
        if self._conn.dialect.name == "postgresql":
            names = ", ".join([*columns, *extra])
            driver = self._conn.connection.driver_connection
            with driver.cursor() as cursor:  # type: ignore[union-attr]
                with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN WITH (FORMAT csv)") as copy:
                    copy.write(_copy_text(frame, columns, extra))
            return
        self._conn.execute(table.insert(), _records(frame, columns, extra))

    # batches -----------------------------------------------------------------------------
    def lock_ingestion(self) -> None:
        """Serialise ingestion: wait for any other file's ingest transaction to end (PostgreSQL: a
        transaction-scoped advisory lock; SQLite serialises writers itself). Two processes sending the
        same file then give one batch of accepted rows and one of duplicates, never a constraint error."""
        if self._conn.dialect.name == "postgresql":
            self._conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _INGEST_LOCK_KEY})

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
    def batch(self, batch_id: int) -> dict[str, Any] | None:
        """One batch record, or ``None``."""
        row = self._conn.execute(select(ingestion_batches).where(ingestion_batches.c.batch_id == batch_id)).first()
        return None if row is None else dict(row._mapping)

    # predictions -------------------------------------------------------------------------
    def prediction_hashes(self, device_id: str, ids: Sequence[str]) -> dict[str, str]:
        """Stored row hashes of the given prediction ids of one device (results and AI failures)."""
        found: dict[str, str] = {}
        for part in _chunks(list(ids)):
            query = union_all(*[select(t.c.prediction_id, t.c.row_hash).where(
                t.c.device_id == device_id, t.c.prediction_id.in_(part)) for t in (predictions, prediction_failures)])
            found.update((r.prediction_id, r.row_hash) for r in self._conn.execute(query))
        return found

    def insert_predictions(self, frame: pd.DataFrame, *, batch_id: int, at: datetime) -> None:
        """Insert validated, new prediction rows (results; see :meth:`insert_failures` for failures)."""
        self._bulk_insert(predictions, frame, _PREDICTION_COLUMNS, {"batch_id": batch_id, "ingested_at": at})

    def insert_failures(self, frame: pd.DataFrame, *, batch_id: int, at: datetime) -> None:
        """Insert validated, new AI-failure rows (``result_status`` failed / no_result)."""
        self._bulk_insert(prediction_failures, frame, _FAILURE_COLUMNS, {"batch_id": batch_id, "ingested_at": at})

    def predictions_by_study(self, device_id: str, study_uids: Sequence[str]) -> dict[str, list[str]]:
        """``{study_uid: [prediction_id, ...]}`` of the stored predictions (results) of one device."""
        found: dict[str, list[str]] = {}
        for part in _chunks(sorted(set(study_uids))):
            rows = self._conn.execute(select(predictions.c.study_uid, predictions.c.prediction_id).where(
                predictions.c.device_id == device_id, predictions.c.study_uid.in_(part))
                .order_by(predictions.c.study_uid, predictions.c.prediction_id))
            for r in rows:
                found.setdefault(r.study_uid, []).append(r.prediction_id)
        return found

    def stored_prediction_ids(self, device_id: str, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` are stored predictions (results) of the device."""
        found: set[str] = set()
        for part in _chunks(list(ids)):
            found.update(r[0] for r in self._conn.execute(select(predictions.c.prediction_id).where(
                predictions.c.device_id == device_id, predictions.c.prediction_id.in_(part))))
        return found

    # retractions -------------------------------------------------------------------------
    def retractions(self, device_id: str, ids: Sequence[str]) -> dict[str, tuple[datetime, str]]:
        """``{prediction_id: (retracted_at, reason)}`` of stored retractions."""
        found: dict[str, tuple[datetime, str]] = {}
        t = prediction_retractions
        for part in _chunks(list(ids)):
            rows = self._conn.execute(select(t.c.prediction_id, t.c.retracted_at, t.c.reason).where(
                t.c.device_id == device_id, t.c.prediction_id.in_(part)))
            found.update((r.prediction_id, (r.retracted_at, r.reason)) for r in rows)
        return found

    def insert_retractions(self, frame: pd.DataFrame, *, batch_id: int, at: datetime) -> None:
        """Insert new retractions."""
        if not frame.empty:
            self._conn.execute(prediction_retractions.insert(), _records(
                frame, ["device_id", "prediction_id", "retracted_at", "reason"], {"batch_id": batch_id,
                                                                                   "ingested_at": at}))

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
        self._bulk_insert(ground_truth, frame, _TRUTH_COLUMNS, {"batch_id": batch_id, "ingested_at": at,
                                                                "is_latest": True})

    def refresh_statistics(self) -> None:
        """Refresh the planner's statistics after a batch (PostgreSQL): without them, the first large load
        of a table leaves plans that scan it once per joined row."""
        if self._conn.dialect.name == "postgresql":
            for table in ("predictions", "ground_truth", "prediction_failures", "prediction_retractions"):
                self._conn.execute(text(f"ANALYZE {table}"))

    # rejections --------------------------------------------------------------------------
    def insert_rejections(self, batch_id: int, rejections: Sequence[Rejection]) -> None:
        """Store rejected rows with their number, reason and (pseudonymised) content."""
        if rejections:
            self._conn.execute(rejected_rows.insert(), [
                {"batch_id": batch_id, "row_number": r.row_number, "record_id": _fit(r.record_id, _RECORD_ID_LENGTH),
                 "reason_code": r.code[:64], "reason": r.reason, "raw": r.raw} for r in rejections])

    def rejections(self, *, batch_id: int | None = None, code: str | None = None, limit: int | None = 100,
                   offset: int = 0, status: str | None = None, kind: str | None = None,
                   since: datetime | None = None) -> list[dict[str, Any]]:
        """Rejected rows with their batch's source, filtered (``since``: batches started then or later),
        ordered by batch and row; ``limit`` None for all."""
        query = (select(rejected_rows, ingestion_batches.c.source_name, ingestion_batches.c.kind)
                 .join(ingestion_batches, ingestion_batches.c.batch_id == rejected_rows.c.batch_id))
        conditions = []
        if batch_id is not None:
            conditions.append(rejected_rows.c.batch_id == batch_id)
        if code is not None:
            conditions.append(rejected_rows.c.reason_code == code)
        if status is not None:
            conditions.append(rejected_rows.c.status == status)
        if kind is not None:
            conditions.append(ingestion_batches.c.kind == kind)
        if since is not None:
            conditions.append(ingestion_batches.c.started_at >= since)
        if conditions:
            query = query.where(and_(*conditions))
        query = query.order_by(rejected_rows.c.batch_id, rejected_rows.c.row_number, rejected_rows.c.id)
        query = query.limit(limit).offset(offset) if limit is not None else query.offset(offset)
        return [dict(r._mapping) for r in self._conn.execute(query)]

    def resolve_rejections(self, batch_id: int, *, status: str, at: datetime, by: str,
                           record_ids: Sequence[str] | None = None, row_number: int | None = None,
                           resolved_batch_id: int | None = None, note: str | None = None) -> list[int]:
        """Mark the *open* rejected rows of a batch (those with ``record_ids``, or at ``row_number``, else
        all) as ``status``; return the row numbers changed."""
        conditions = [rejected_rows.c.batch_id == batch_id, rejected_rows.c.status == "open"]
        if row_number is not None:
            conditions.append(rejected_rows.c.row_number == row_number)
        targets: list[tuple[int, int]] = []
        if record_ids is None:
            targets = [tuple(r) for r in self._conn.execute(  # type: ignore[misc]
                select(rejected_rows.c.id, rejected_rows.c.row_number).where(*conditions))]
        else:
            for part in _chunks(sorted(set(record_ids))):
                targets += [tuple(r) for r in self._conn.execute(  # type: ignore[misc]
                    select(rejected_rows.c.id, rejected_rows.c.row_number).where(
                        *conditions, rejected_rows.c.record_id.in_(part)))]
        for part in _chunks([i for i, _ in targets]):
            self._conn.execute(update(rejected_rows).where(rejected_rows.c.id.in_(part)).values(
                status=status, resolved_at=at, resolved_by=by, resolved_batch_id=resolved_batch_id,
                resolution_note=note))
        return sorted(n for _, n in targets)

    def count_rejections(self) -> int:
        """Number of stored rejected rows."""
        return int(self._conn.execute(select(func.count()).select_from(rejected_rows)).scalar_one())
