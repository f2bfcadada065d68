"""Planner statistics after an ingest (PostgreSQL): the first load of a table is analysed in its batch's
transaction, a batch that changes at least 1,000 rows plus a tenth of the table is analysed again, and so is any
batch that brings a device (or model version) the statistics do not know, however small: without it, a
second device's first cases are estimated as one row and its analysis plans nested loops that ran for 20
minutes."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from monitor.service.ingest import ingest_predictions

COLUMNS = ["prediction_id", "device_id", "model_version", "site_id", "predicted_at", "score", "predicted_label",
           "patient_id", "age", "sex", "emphysema_grade", "scanner_vendor"]


def _log(path: Path, first: int, n: int, model_version: str = "2.1.0") -> Path:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for i in range(first, first + n):
        writer.writerow([f"p-{i:07d}", "lung-nodule-ct", model_version, f"SH-{i % 4}", "2025-08-01T09:15:00+08:00",
                         "0.82", "1", f"PAT-{i:07d}", "67", "FM"[i % 2], "mild", "GE"])
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def _analyses(app: Any) -> tuple[int, float]:
    """How many times ``predictions`` was analysed by hand (autovacuum's analyses are counted apart), and the
    row count its statistics hold."""
    with app.engine.connect() as conn:
        row = conn.execute(text("SELECT s.analyze_count, c.reltuples FROM pg_stat_user_tables s "
                                "JOIN pg_class c ON c.oid = s.relid WHERE s.relname = 'predictions' "
                                "AND s.schemaname = current_schema()")).one()
    return int(row[0]), float(row[1])


def test_only_stale_statistics_are_refreshed(app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    if app.engine.dialect.name != "postgresql":
        pytest.skip("planner statistics are PostgreSQL's")

    def ingest(first: int, n: int, model_version: str = "2.1.0") -> None:
        path = _log(tmp_path / f"p{first}.csv", first, n, model_version)
        ingest_predictions(app.open_log(path), source=str(path), uow=app.uow, hash_patient=app.patient_hasher(),
                           clock=app.clock, actor="pytest")

    ingest(0, 3000)  # the first load: never analysed before
    count, rows = _analyses(app)
    assert (count, rows) == (1, 3000)
    ingest(3000, 200, model_version="2.2.0")  # few rows, but of a model version the statistics do not know
    assert _analyses(app) == (2, 3200)
    ingest(3200, 6000)  # far more than 1,000 rows plus a tenth of the table
    assert _analyses(app) == (3, 9200)
    # Whether a small batch of known values is left alone depends on when PostgreSQL has counted the earlier
    # batches' changes (a transaction's counts reach pg_stat_user_tables up to a second after it commits, and
    # after the ANALYZE it ran): not asserted.
