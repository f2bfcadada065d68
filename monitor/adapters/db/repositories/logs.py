"""Prediction, ground-truth and retraction logs, ingestion batches and rejected rows.

On PostgreSQL, accepted rows are written with ``COPY ... FROM STDIN`` (psycopg 3) on the
unit of work's own connection, so they stay inside the file's one transaction; on SQLite
with an ``executemany`` insert.
"""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timezone
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
from sqlalchemy import JSON, Connection, cast, String, Table, and_, bindparam, func, literal_column, select, text, union_all, update
from sqlalchemy.sql import ColumnElement

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

_LOOKUP_CHUNK = 50_000
#: SQLite page cache of a connection that bulk-inserts (KiB; the default 2 MiB cannot hold the indexes
#: of a large table, so each chunk's inserts re-read and spill their pages; 256 MiB took the 1M-row ingest
#: over 1 GB peak).
_SQLITE_CACHE_KIB = 131_072
_INGEST_LOCK_KEY = 0x5A4D_0001  # advisory-lock key of ingestion ("SM", 1)
_RECORD_ID_LENGTH = rejected_rows.c.record_id.type.length
#: The log tables whose planner statistics an ingest keeps fresh (:meth:`LogRepository.refresh_statistics`).
_ANALYSED_TABLES = ("ground_truth", "prediction_failures", "prediction_retractions", "predictions")
_STALE_ROWS, _STALE_FRACTION = 1000, 0.1


def _chunks(values: Sequence[str], size: int = _LOOKUP_CHUNK) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


def _one_of(conn: Connection, column: Any, values: Sequence[Any]) -> ColumnElement[bool]:
    """``column IN values`` with the values as ONE bound parameter, a JSON array (read by
    ``json_array_elements_text`` into an array on PostgreSQL, by ``json_each`` on SQLite): tens of
    thousands of ids cost one parameter, not one placeholder each (whose rendering and parsing dominated
    lookups), nor a driver-side array dump value by value."""
    listed = bindparam(None, json.dumps(list(values)), type_=String)  # json.dumps: C speed, no per-value dump
    if conn.dialect.name == "postgresql":
        element = func.json_array_elements_text(cast(listed, JSON))
        elements = select(element if isinstance(column.type, String) else cast(element, column.type))
        return column == func.any(func.array(elements.scalar_subquery()))
    return column.in_(select(literal_column("value")).select_from(func.json_each(listed)))


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
                       "predicted_label", "patient_hash", "age", "sex", "attributes", "study_uid", "accession_hash",
                       "human_label",
                       "ai_volume_mm3", "reviewed_volume_mm3", "predicted_level", "low_confidence", "comparator_score",
                       "comparator_label", "overlap_volume_mm3", "row_hash"]
_FAILURE_COLUMNS = ["device_id", "prediction_id", "model_version", "site_id", "predicted_at", "failure_code",
                    "patient_hash", "age", "sex", "attributes", "study_uid", "row_hash"]
_TRUTH_COLUMNS = ["device_id", "prediction_id", "version", "label", "confirmed_at", "source", "intervention_at",
                  "correction_reason", "label_level", "row_hash"]


def _plain_column(series: pd.Series, *, sqlite: bool) -> list[Any]:
    """One column as driver values, vectorised: UTC timestamps as text (SQLite: SQLAlchemy's stored
    form ``YYYY-MM-DD HH:MM:SS.ffffff``; PostgreSQL: ISO 8601 with ``Z``), floats as ``repr`` text for
    COPY (exact round trip), ``None`` for every missing value."""
    missing = series.isna().to_numpy()
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        moments = series.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[us]")
        texts = np.datetime_as_string(moments, unit="us")
        texts = np.char.replace(texts, "T", " ") if sqlite else np.char.add(texts, "Z")
        values = texts.astype(object)
    elif pd.api.types.is_float_dtype(series.dtype):
        values = np.array(series.tolist() if sqlite else [repr(v) for v in series.tolist()], dtype=object)
    elif pd.api.types.is_bool_dtype(series.dtype):
        values = np.array([int(v) if sqlite else ("true" if v else "false") for v in series.tolist()], dtype=object)
    elif pd.api.types.is_integer_dtype(series.dtype):
        values = np.array(series.tolist() if sqlite else series.astype(str).tolist(), dtype=object)
    else:
        values = series.to_numpy(dtype=object).copy()
        if not sqlite:
            values = np.array([v if v is None or isinstance(v, str) else str(int(v)) if isinstance(v, (bool, int, np.integer))
                               else repr(float(v)) if isinstance(v, float) else str(v) for v in values], dtype=object)
    values[missing] = None
    return values.tolist()


def _extra_value(value: Any, *, sqlite: bool) -> Any:
    if isinstance(value, datetime):
        utc = value.astimezone(timezone.utc)
        return utc.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds") if sqlite else utc.isoformat()
    if isinstance(value, bool):
        return int(value) if sqlite else ("true" if value else "false")
    return value if sqlite else str(value)


def _copy_array(series: pd.Series) -> pa.Array:
    """One column for the COPY text, without a Python loop where the type allows: numbers stay numbers
    (Arrow writes floats in their shortest exact form, NULL for NaN), text stays text."""
    if isinstance(series.dtype, pd.DatetimeTZDtype):  # written as 2025-08-01 01:15:00.000000Z (microseconds, UTC)
        return pa.array(series.dt.tz_convert("UTC"), from_pandas=True).cast(pa.timestamp("us", tz="UTC"), safe=False)
    if pd.api.types.is_float_dtype(series.dtype) or pd.api.types.is_integer_dtype(series.dtype):
        return pa.array(series.to_numpy(), from_pandas=True)
    values = series.to_numpy(dtype=object)
    if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        return pa.array(values, type=pa.string(), from_pandas=True)
    return pa.array(_plain_column(series, sqlite=False), type=pa.string())


def _copy_text(frame: pd.DataFrame, columns: Sequence[str], extra: dict[str, Any]) -> bytes:
    """``frame``'s columns (then the constant ``extra`` ones) as CSV for ``COPY ... (FORMAT csv)``, written
    by Arrow's C++ CSV writer: text quoted, an unquoted empty field is NULL (no stored text is ever empty)."""
    arrays = [_copy_array(frame[c]) for c in columns]
    arrays += [pa.array([_extra_value(v, sqlite=False)] * len(frame), type=pa.string()) for v in extra.values()]
    table = pa.Table.from_arrays(arrays, names=[*columns, *extra])
    buffer = pa.BufferOutputStream()
    pacsv.write_csv(table, buffer, write_options=pacsv.WriteOptions(include_header=False))
    return buffer.getvalue().to_pybytes()


class LogRepository:
    """Writes and lookups used by ingestion."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def _bulk_insert(self, table: Table, frame: pd.DataFrame, columns: Sequence[str], extra: dict[str, Any]) -> None:
        """Insert ``frame``'s rows: ``COPY`` on PostgreSQL, ``executemany`` elsewhere (same transaction)."""
        if frame.empty:
            return
        absent = [c for c in columns if c not in frame.columns]  # optional columns a caller's frame lacks
        if absent:
            frame = frame.assign(**{c: pd.Series(None, index=frame.index, dtype=object) for c in absent})
        if self._conn.dialect.name == "postgresql":
            names = ", ".join([*columns, *extra])
            driver = self._conn.connection.driver_connection
            with driver.cursor() as cursor:  # type: ignore[union-attr]
                with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN WITH (FORMAT csv)") as copy:
                    copy.write(_copy_text(frame, columns, extra))
            return
        # SQLite: the driver's executemany on the unit of work's own connection (same transaction),
        # with values already in SQLAlchemy's stored form (JSON columns hold their text as given).
        values = [_plain_column(frame[c], sqlite=True) for c in columns]
        constants = tuple(_extra_value(v, sqlite=True) for v in extra.values())
        names = ", ".join([*columns, *extra])
        marks = ", ".join("?" * (len(columns) + len(extra)))
        driver = self._conn.connection.driver_connection
        self._raise_sqlite_cache()
        driver.executemany(f"INSERT INTO {table.name} ({names}) VALUES ({marks})",  # type: ignore[union-attr]
                           zip(*values, *(itertools.repeat(c, len(frame)) for c in constants), strict=True))

    def _raise_sqlite_cache(self) -> None:
        """Give this SQLite connection a page cache of :data:`_SQLITE_CACHE_KIB` for the batch (its own
        setting is kept in the connection's info and put back by :meth:`finish_batch`)."""
        info = self._conn.connection.info
        if "ingest_cache_size" not in info:
            driver = self._conn.connection.driver_connection
            info["ingest_cache_size"] = driver.execute("PRAGMA cache_size").fetchone()[0]  # type: ignore[union-attr]
            driver.execute(f"PRAGMA cache_size = -{_SQLITE_CACHE_KIB}")  # type: ignore[union-attr]

    def _restore_sqlite_cache(self) -> None:
        previous = self._conn.connection.info.pop("ingest_cache_size", None)
        if previous is not None:
            self._conn.connection.driver_connection.execute(f"PRAGMA cache_size = {int(previous)}")  # type: ignore[union-attr]

    # batches -----------------------------------------------------------------------------
    def lock_ingestion(self) -> None:
        """Serialise ingestion: wait for any other file's ingest transaction to end and hold the lock until
        this one ends (PostgreSQL: a transaction-scoped advisory lock; SQLite: the database write lock,
        taken now by a write that changes nothing). Two processes sending the same file then give one batch
        of accepted rows and one of duplicates, never a constraint error; and the batch's time, read after
        this call, is later than the cut-off of any analysis that passed :meth:`wait_for_ingestion` before."""
        if self._conn.dialect.name == "postgresql":
            self._conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _INGEST_LOCK_KEY})
        else:
            self._conn.execute(text("UPDATE ingestion_batches SET rows_total = rows_total WHERE 0 = 1"))

    def wait_for_ingestion(self) -> None:
        """Wait until no ingest transaction is open (take the ingestion lock and release it at once).

        An analysis calls this after fixing its cut-off: every batch stamped at or before the cut-off has
        then committed, so the analysis counts exactly what a later re-run with the same cut-off counts.
        """
        if self._conn.dialect.name == "postgresql":
            self._conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _INGEST_LOCK_KEY})
            self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _INGEST_LOCK_KEY})
            return
        driver = self._conn.connection.driver_connection
        if driver.in_transaction:  # type: ignore[union-attr]
            return  # this connection already writes, so it holds the write lock: no ingest is open
        driver.execute("BEGIN IMMEDIATE")  # type: ignore[union-attr]  # waits (busy timeout) for the writer
        driver.execute("ROLLBACK")  # type: ignore[union-attr]

    def start_batch(self, *, kind: str, source_name: str, source_format: str, source_sha256: str,
                    at: datetime, actor: str) -> int:
        """Create a batch record (counts filled in by :meth:`finish_batch`); return its id."""
        result = self._conn.execute(ingestion_batches.insert().values(
            kind=kind, source_name=source_name, source_format=source_format, source_sha256=source_sha256,
            rows_total=0, accepted=0, duplicates=0, rejected=0, started_at=at, finished_at=at, actor=actor,
        ))
        return int(result.inserted_primary_key[0])

    def finish_batch(self, batch_id: int, *, rows_total: int, accepted: int, duplicates: int, rejected: int,
                     at: datetime, source_name: str | None = None) -> None:
        """Record a batch's final counts (and its source name, when it had to be masked after reading)."""
        names = {} if source_name is None else {"source_name": source_name}
        if self._conn.dialect.name == "sqlite":
            self._restore_sqlite_cache()
        self._conn.execute(update(ingestion_batches).where(ingestion_batches.c.batch_id == batch_id).values(
            rows_total=rows_total, accepted=accepted, duplicates=duplicates, rejected=rejected, finished_at=at,
            **names,
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
                t.c.device_id == device_id, _one_of(self._conn, t.c.prediction_id, part)) for t in (predictions, prediction_failures)])
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
        return self._predictions_by(predictions.c.study_uid, device_id, study_uids)

    def predictions_by_accession(self, device_id: str, accession_hashes: Sequence[str]) -> dict[str, list[str]]:
        """``{accession_hash: [prediction_id, ...]}`` of the stored predictions (results) of one device."""
        return self._predictions_by(predictions.c.accession_hash, device_id, accession_hashes)

    def _predictions_by(self, column: Any, device_id: str, keys: Sequence[str]) -> dict[str, list[str]]:
        """``{key: [prediction_id, ...]}``: the device's stored predictions grouped by ``column``'s value."""
        found: dict[str, list[str]] = {}
        for part in _chunks(sorted(set(keys))):
            rows = self._conn.execute(select(column, predictions.c.prediction_id).where(
                predictions.c.device_id == device_id, _one_of(self._conn, column, part))
                .order_by(column, predictions.c.prediction_id))
            for key, prediction_id in rows:
                found.setdefault(key, []).append(prediction_id)
        return found

    def stored_prediction_ids(self, device_id: str, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` are stored predictions (results) of the device."""
        found: set[str] = set()
        for part in _chunks(list(ids)):
            found.update(r[0] for r in self._conn.execute(select(predictions.c.prediction_id).where(
                predictions.c.device_id == device_id, _one_of(self._conn, predictions.c.prediction_id, part))))
        return found

    # retractions -------------------------------------------------------------------------
    def retractions(self, device_id: str, ids: Sequence[str]) -> dict[str, tuple[datetime, str]]:
        """``{prediction_id: (retracted_at, reason)}`` of stored retractions."""
        found: dict[str, tuple[datetime, str]] = {}
        t = prediction_retractions
        for part in _chunks(list(ids)):
            rows = self._conn.execute(select(t.c.prediction_id, t.c.retracted_at, t.c.reason).where(
                t.c.device_id == device_id, _one_of(self._conn, t.c.prediction_id, part)))
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
            table.c.device_id == device_id, _one_of(self._conn, table.c[column], wanted)))}
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
                    _one_of(self._conn, ground_truth.c.prediction_id, part)))
            found.update((r.prediction_id, (r.version, r.row_hash)) for r in rows)
        return found

    def ground_truth_history(self, device_id: str, ids: Sequence[str]) -> dict[str, set[tuple[str, str | None]]]:
        """``{prediction_id: {(row_hash, correction_reason), ...}}`` over every stored version."""
        found: dict[str, set[tuple[str, str | None]]] = {}
        for part in _chunks(list(ids)):
            rows = self._conn.execute(
                select(ground_truth.c.prediction_id, ground_truth.c.row_hash, ground_truth.c.correction_reason).where(
                    ground_truth.c.device_id == device_id, _one_of(self._conn, ground_truth.c.prediction_id, part)))
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
                    ground_truth.c.device_id == device_id, _one_of(self._conn, ground_truth.c.prediction_id, part),
                    ground_truth.c.is_latest.is_(True)).values(is_latest=False))
        self._bulk_insert(ground_truth, frame, _TRUTH_COLUMNS, {"batch_id": batch_id, "ingested_at": at,
                                                                "is_latest": True})

    def refresh_statistics(self, *, new_values: bool = False) -> None:
        """Refresh the planner's statistics after a batch (PostgreSQL): without them, the first large load
        of a table leaves plans that scan it once per joined row.

        The tables analysed are those never analysed, or changed since their last ANALYZE (committed changes and
        this transaction's own) by at least :data:`_STALE_ROWS` rows plus :data:`_STALE_FRACTION` of the rows
        they had then (autovacuum's analyze rule with a larger floor: this service does not rely on autovacuum,
        which may be off), and, when ``new_values`` (the batch brought a device or model version the table did
        not hold), every table this transaction wrote to: statistics that do not know a device estimate its rows
        as one, and the nested loops planned on that scan the device's rows once per row (a query of a second
        device's first 2,400 cases ran for over 20 minutes). An ANALYZE of every table after every batch was most
        of a small batch's time, all of it spent holding the ingestion lock (bench/bench_api.py --push --phases:
        126 of 229 ms per 1,000-row post).
        """
        if self._conn.dialect.name != "postgresql":
            return
        written = ("pg_stat_get_xact_tuples_inserted(c.oid) + pg_stat_get_xact_tuples_updated(c.oid)"
                   " + pg_stat_get_xact_tuples_deleted(c.oid)")
        stale = self._conn.execute(text(
            "SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid "
            "WHERE s.schemaname = current_schema() AND s.relname = ANY(:tables) AND (c.reltuples < 0 OR "
            f"s.n_mod_since_analyze + {written} >= :rows + :fraction * c.reltuples OR (:new AND {written} > 0)) "
            "ORDER BY s.relname"),
            {"tables": list(_ANALYSED_TABLES), "rows": _STALE_ROWS, "fraction": _STALE_FRACTION,
             "new": new_values}).scalars().all()
        for table in stale:
            self._conn.execute(text(f"ANALYZE {table}"))

    # rejections --------------------------------------------------------------------------
    def insert_rejections(self, batch_id: int, rejections: Sequence[Rejection],
                          content_hashes: Sequence[str] | None = None) -> int:
        """Store rejected rows with their number, reason and (pseudonymised) content; return how many were not
        stored because they repeat an *open* rejected row of an earlier batch (same ``content_hashes``)."""
        if not rejections:
            return 0
        hashes: Sequence[str | None] = content_hashes if content_hashes is not None else [None] * len(rejections)
        known: set[str] = set()
        for part in _chunks(sorted({h for h in hashes if h is not None})):
            known.update(self._conn.execute(select(rejected_rows.c.content_hash).where(
                rejected_rows.c.status == "open", rejected_rows.c.batch_id != batch_id,
                _one_of(self._conn, rejected_rows.c.content_hash, part))).scalars())
        rows = [{"batch_id": batch_id, "row_number": r.row_number, "record_id": _fit(r.record_id, _RECORD_ID_LENGTH),
                 "reason_code": r.code[:64], "reason": r.reason, "raw": r.raw, "content_hash": h}
                for r, h in zip(rejections, hashes, strict=True) if h is None or h not in known]
        if rows:
            self._conn.execute(rejected_rows.insert(), rows)
        return len(rejections) - len(rows)

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
                        *conditions, _one_of(self._conn, rejected_rows.c.record_id, part)))]
        for part in _chunks([i for i, _ in targets]):
            self._conn.execute(update(rejected_rows).where(_one_of(self._conn, rejected_rows.c.id, part)).values(
                status=status, resolved_at=at, resolved_by=by, resolved_batch_id=resolved_batch_id,
                resolution_note=note))
        return sorted(n for _, n in targets)

    def count_rejections(self) -> int:
        """Number of stored rejected rows."""
        return int(self._conn.execute(select(func.count()).select_from(rejected_rows)).scalar_one())
