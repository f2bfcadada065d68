"""Planner statistics after an ingest (PostgreSQL): the first load of a table is analysed in its batch's
transaction, a batch that leaves the statistics within a factor of two is not (autovacuum keeps up with
those), and a batch that doubles the table is analysed again."""

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


def _log(path: Path, first: int, n: int) -> Path:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for i in range(first, first + n):
        writer.writerow([f"p-{i:07d}", "lung-nodule-ct", "2.1.0", f"SH-{i % 4}", "2025-08-01T09:15:00+08:00",
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

    def ingest(first: int, n: int) -> None:
        path = _log(tmp_path / f"p{first}.csv", first, n)
        ingest_predictions(app.open_log(path), source=str(path), uow=app.uow, hash_patient=app.patient_hasher(),
                           clock=app.clock, actor="pytest")

    ingest(0, 3000)  # the first load: never analysed before
    count, rows = _analyses(app)
    assert (count, rows) == (1, 3000)
    ingest(3000, 500)  # 500 changed rows < 1,000 + 3,000: left to autovacuum (which may count it meanwhile)
    assert _analyses(app)[0] == 1
    ingest(3500, 6000)  # this batch alone doubles the table
    assert _analyses(app) == (2, 9500)
