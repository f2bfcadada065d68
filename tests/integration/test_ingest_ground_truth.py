"""Ingestion of ground-truth logs (SQLite and PostgreSQL): late arrival, re-sends, corrections, cut-offs."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from monitor.adapters.db.tables import ground_truth, ingestion_batches
from monitor.domain.periods import Period
from monitor.service.ingest import BatchSummary, ingest_ground_truth, ingest_predictions

DEVICE = "lung-nodule-ct"
PREDICTION_COLUMNS = ["prediction_id", "device_id", "model_version", "site_id", "predicted_at", "score",
                      "predicted_label", "patient_id", "age", "sex", "emphysema_grade", "scanner_vendor"]
TRUTH_COLUMNS = ["prediction_id", "device_id", "label", "confirmed_at", "source", "intervention_at",
                 "correction_reason"]
START, END = Period.parse("2025Q3").bounds_utc(ZoneInfo("Asia/Shanghai"))


def prediction(pid: str, label: int, age: int, sex: str, grade: str, vendor: str) -> dict[str, str]:
    return {"prediction_id": pid, "device_id": DEVICE, "model_version": "2.1.0", "site_id": "SH-01",
            "predicted_at": "2025-08-01T09:15:00+08:00", "score": "0.9" if label else "0.1",
            "predicted_label": str(label), "patient_id": f"PAT-{pid}", "age": str(age), "sex": sex,
            "emphysema_grade": grade, "scanner_vendor": vendor}


def truth(pid: str, label: int | str, **changes: str) -> dict[str, str]:
    values = {"prediction_id": pid, "device_id": DEVICE, "label": str(label),
              "confirmed_at": "2025-09-10T10:00:00+08:00", "source": "histopathology"}
    values.update(changes)
    return values


def write(path: Path, rows: list[dict[str, str]], columns: list[str]) -> Path:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([r.get(c, "") for c in columns] for r in rows)
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def ingest_truth(app: Any, path: Path, chunk_rows: int = 50_000) -> BatchSummary:
    return ingest_ground_truth(app.open_log(path), source=str(path), uow=app.uow, clock=app.clock, actor="pytest",
                               chunk_rows=chunk_rows)


def ingest_preds(app: Any, path: Path) -> BatchSummary:
    return ingest_predictions(app.open_log(path), source=str(path), uow=app.uow, hash_patient=app.patient_hasher(),
                              clock=app.clock, actor="pytest")


def versions(app: Any) -> list[tuple[Any, ...]]:
    """(prediction_id, version, label, is_latest, correction_reason) of every stored ground-truth row."""
    with app.uow() as unit:
        rows = unit.connection.execute(select(
            ground_truth.c.prediction_id, ground_truth.c.version, ground_truth.c.label, ground_truth.c.is_latest,
            ground_truth.c.correction_reason).order_by(ground_truth.c.prediction_id, ground_truth.c.version)).all()
    return [tuple(r) for r in rows]


def rejected(app: Any, batch_id: int) -> list[tuple[int, str | None, str]]:
    with app.uow() as unit:
        return [(r["row_number"], r["record_id"], r["reason_code"])
                for r in unit.logs.rejections(batch_id=batch_id)]


def completeness(app: Any, cutoff: Any) -> list[dict[str, Any]]:
    with app.uow() as unit:
        return unit.results.completeness(DEVICE, start=START, end=END, cutoff=cutoff)


def cells(app: Any, cutoff: Any) -> list[dict[str, Any]]:
    with app.uow() as unit:
        attributes = unit.devices.get(DEVICE).strata.attributes
        frame = unit.results.confusion_cells(DEVICE, start=START, end=END, cutoff=cutoff, attributes=attributes)
    return frame.to_dict("records")


def cell(age_band: str, sex: str, grade: str, vendor: str, tp: int = 0, fp: int = 0, fn: int = 0,
         tn: int = 0) -> dict[str, Any]:
    return {"model_version": "2.1.0", "age_band": age_band, "sex": sex, "emphysema_grade": grade,
            "scanner_vendor": vendor, "tp": tp, "fp": fp, "fn": fn, "tn": tn}


def test_ground_truth_arrival_resend_conflict_and_correction(app: Any, tmp_path: Path) -> None:
    p1 = prediction("P1", 1, 70, "F", "mild", "GE")
    p2 = prediction("P2", 0, 50, "M", "none", "Siemens")
    p3 = prediction("P3", 1, 80, "F", "severe", "GE")
    p4 = prediction("P4", 0, 40, "M", "mild", "Philips")
    ingest_preds(app, write(tmp_path / "p12.csv", [p1, p2], PREDICTION_COLUMNS))

    # ground truth for P3 arrives before its prediction: stored, and joins once the prediction arrives
    first = ingest_truth(app, write(tmp_path / "gt1.csv", [truth("P1", 1), truth("P2", 0), truth("P3", 1)],
                                    TRUTH_COLUMNS))
    assert (first.rows, first.accepted, first.duplicates, first.rejected) == (3, 3, 0, 0)
    summary = {"model_version": "2.1.0", "predictions": 2, "with_ground_truth": 2, "awaiting_ground_truth": 0,
               "positives": 1, "negatives": 1}
    assert completeness(app, app.clock()) == [summary]
    ingest_preds(app, write(tmp_path / "p34.csv", [p3, p4], PREDICTION_COLUMNS))
    assert completeness(app, app.clock()) == [summary | {"predictions": 4, "with_ground_truth": 3,
                                                         "awaiting_ground_truth": 1, "positives": 2}]

    # an identical re-send is a duplicate
    resend = ingest_truth(app, write(tmp_path / "gt2.csv", [truth("P1", 1)], TRUTH_COLUMNS))
    assert (resend.accepted, resend.duplicates, resend.rejected) == (0, 1, 0)

    # another label without correction_reason is a conflict, never an overwrite
    conflict = ingest_truth(app, write(tmp_path / "gt3.csv", [truth("P2", 0), truth("P1", 0)], TRUTH_COLUMNS))
    assert (conflict.accepted, conflict.duplicates, conflict.rejected) == (0, 1, 1)
    assert rejected(app, conflict.batch_id) == [(2, "P1", "conflicting_duplicate")]
    assert versions(app) == [("P1", 1, 1, True, None), ("P2", 1, 0, True, None), ("P3", 1, 1, True, None)]

    # with correction_reason it is version 2; version 1 is kept, no longer latest
    correction = ingest_truth(app, write(tmp_path / "gt4.csv", [
        truth("P1", 0, confirmed_at="2025-10-02T10:00:00+08:00", source="adjudication",
              correction_reason="expert panel re-read")], TRUTH_COLUMNS))
    assert (correction.accepted, correction.duplicates, correction.rejected) == (1, 0, 0)
    assert versions(app) == [("P1", 1, 1, False, None), ("P1", 2, 0, True, "expert panel re-read"),
                             ("P2", 1, 0, True, None), ("P3", 1, 1, True, None)]

    # an analysis cut off before the correction was ingested still sees version 1
    with app.uow() as unit:
        corrected_at = unit.connection.execute(select(ground_truth.c.ingested_at).where(
            ground_truth.c.prediction_id == "P1", ground_truth.c.version == 2)).scalar_one()
        original_at = unit.connection.execute(select(ingestion_batches.c.started_at).where(
            ingestion_batches.c.batch_id == first.batch_id)).scalar_one()
    before = corrected_at - timedelta(milliseconds=500)
    assert original_at < before < corrected_at
    after = app.clock()
    unchanged = [cell("45-64", "M", "none", "Siemens", tn=1), cell(">=75", "F", "severe", "GE", tp=1)]
    assert cells(app, before) == sorted(unchanged + [cell("65-74", "F", "mild", "GE", tp=1)],
                                        key=lambda c: (c["age_band"], c["sex"]))
    assert cells(app, after) == sorted(unchanged + [cell("65-74", "F", "mild", "GE", fp=1)],
                                       key=lambda c: (c["age_band"], c["sex"]))
    assert completeness(app, before)[0]["positives"] == 2 and completeness(app, after)[0]["positives"] == 1


def test_resends_after_corrections_change_nothing(app: Any, tmp_path: Path) -> None:
    original = write(tmp_path / "original.csv", [truth("P1", 1), truth("P2", 0)], TRUTH_COLUMNS)
    fix = write(tmp_path / "fix.csv", [truth("P1", 0, correction_reason="slide re-read")], TRUTH_COLUMNS)
    # one file holding an original and its correction, and a repeat of the original
    both = write(tmp_path / "both.csv", [truth("P3", 1), truth("P3", 0, correction_reason="typo"), truth("P3", 1)],
                 TRUTH_COLUMNS)

    assert ingest_truth(app, original).accepted == 2
    assert ingest_truth(app, fix).accepted == 1
    outcome = ingest_truth(app, both)
    assert (outcome.accepted, outcome.duplicates, outcome.rejected) == (2, 1, 0)
    state = versions(app)
    assert state == [("P1", 1, 1, False, None), ("P1", 2, 0, True, "slide re-read"), ("P2", 1, 0, True, None),
                     ("P3", 1, 1, False, None), ("P3", 2, 0, True, "typo")]

    # re-sending any of these files (in any chunking) is all duplicates: the original rows too
    for path, chunk_rows in ((original, 50_000), (fix, 1), (both, 50_000), (both, 1)):
        again = ingest_truth(app, path, chunk_rows=chunk_rows)
        assert (again.accepted, again.duplicates, again.rejected) == (0, again.rows, 0), (path.name, chunk_rows)
    assert versions(app) == state

    # a new correction back to the original label is version 3; re-sending the old fix is still a duplicate
    back = ingest_truth(app, write(tmp_path / "back.csv", [truth("P1", 1, correction_reason="second opinion")],
                                   TRUTH_COLUMNS))
    assert (back.accepted, back.duplicates) == (1, 0)
    assert ingest_truth(app, fix).duplicates == 1
    assert [v for v in versions(app) if v[0] == "P1"] == [
        ("P1", 1, 1, False, None), ("P1", 2, 0, False, "slide re-read"), ("P1", 3, 1, True, "second opinion")]


BAD_TRUTH: list[tuple[dict[str, str], str]] = [
    (truth("T1", 1), "accepted"),
    (truth("T2", ""), "missing_label"),
    (truth("T3", "yes"), "invalid_label"),
    (truth("T4", 1, source="biopsy"), "invalid_source"),
    (truth("T5", 1, source="null"), "missing_source"),
    (truth("T6", 1, device_id="liver-ct"), "unknown_device"),
    (truth("T7", 1, confirmed_at="2025-09-10 10:00"), "confirmed_at_without_offset"),
    (truth("T8", 1, confirmed_at="2025-02-30T10:00:00+08:00"), "invalid_confirmed_at"),
    (truth("T9", 1, confirmed_at="2031-01-01T00:00:00Z"), "confirmed_at_in_future"),
    (truth("T10", 1, intervention_at="2025-09-01"), "intervention_at_without_offset"),
    (truth("", 1), "missing_prediction_id"),
    (truth("T1", 1), "duplicate"),
    (truth("T1", 0), "conflicting_duplicate"),
    (truth("T1", 0, correction_reason="re-read"), "accepted"),  # version 2, from the same file
    (truth("T13", 0, intervention_at="2025-08-20T08:00:00+08:00"), "accepted"),
    (truth("T1", 0, correction_reason="re-read"), "duplicate"),
]


@pytest.mark.parametrize("chunk_rows", [2, 50_000])
def test_bad_ground_truth_rows(app: Any, tmp_path: Path, chunk_rows: int) -> None:
    columns = [*TRUTH_COLUMNS, "comment"]
    path = write(tmp_path / "truth.csv", [r | {"comment": "x"} for r, _ in BAD_TRUTH], columns)
    summary = ingest_truth(app, path, chunk_rows=chunk_rows)
    assert (summary.rows, summary.accepted, summary.duplicates, summary.rejected) == (16, 3, 2, 11)
    assert summary.ignored_columns == ("comment",)
    expected = [(n, r["prediction_id"] or None, code) for n, (r, code) in enumerate(BAD_TRUTH, start=1)
                if code not in ("accepted", "duplicate")]
    assert rejected(app, summary.batch_id) == expected
    assert versions(app) == [("T1", 1, 1, False, None), ("T1", 2, 0, True, "re-read"), ("T13", 1, 0, True, None)]
