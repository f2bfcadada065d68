"""Ingestion of prediction logs into a real database (SQLite and PostgreSQL).

Every row of a file is accepted, recognised as a duplicate, or rejected with its
row number and reason; a file is one transaction; re-sending a file changes
nothing; CSV and Parquet carrying the same rows store the same rows.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import func, select

from monitor.adapters.db.tables import (
    audit_log,
    ground_truth,
    ingestion_batches,
    model_versions,
    predictions,
    rejected_rows,
    sites,
)
from monitor.errors import InputError
from monitor.service.ingest import BatchSummary, ingest_ground_truth, ingest_predictions

DEVICE = "lung-nodule-ct"
COLUMNS = ["prediction_id", "device_id", "model_version", "site_id", "predicted_at", "score", "predicted_label",
           "patient_id", "age", "sex", "emphysema_grade", "scanner_vendor"]
TRUTH_COLUMNS = ["prediction_id", "device_id", "label", "confirmed_at", "source", "intervention_at",
                 "correction_reason"]
TABLES = {"predictions": predictions, "ground_truth": ground_truth, "rejected_rows": rejected_rows,
          "ingestion_batches": ingestion_batches, "audit_log": audit_log, "model_versions": model_versions,
          "sites": sites}


# helpers -------------------------------------------------------------------------------------------
def row(pid: str, **changes: str) -> dict[str, str]:
    """A valid prediction row (text), predicted in 2025Q3 (Asia/Shanghai)."""
    values = {"prediction_id": pid, "device_id": DEVICE, "model_version": "2.1.0", "site_id": "SH-01",
              "predicted_at": "2025-08-01T09:15:00+08:00", "score": "0.82", "predicted_label": "1",
              "patient_id": f"PAT-{pid}", "age": "67", "sex": "F", "emphysema_grade": "mild", "scanner_vendor": "GE"}
    values.update(changes)
    return values


def csv_text(rows: list[dict[str, str] | list[str]], columns: list[str] = COLUMNS) -> str:
    """CSV text; a row given as a list is written as is (e.g. too few fields)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for r in rows:
        writer.writerow(r if isinstance(r, list) else [r.get(c, "") for c in columns])
    return out.getvalue()


def write(path: Path, content: str | bytes) -> Path:
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def ingest(app: Any, path: Path, *, chunk_rows: int = 50_000, **kwargs: Any) -> BatchSummary:
    return ingest_predictions(app.open_log(path), source=str(path), uow=app.uow, hash_patient=app.patient_hasher(),
                              clock=app.clock, actor="pytest", chunk_rows=chunk_rows, **kwargs)


def ingest_truth(app: Any, path: Path, *, chunk_rows: int = 50_000) -> BatchSummary:
    return ingest_ground_truth(app.open_log(path), source=str(path), uow=app.uow, clock=app.clock, actor="pytest",
                               chunk_rows=chunk_rows)


def counts(app: Any) -> dict[str, int]:
    with app.uow() as unit:
        return {name: int(unit.connection.execute(select(func.count()).select_from(t)).scalar_one())
                for name, t in TABLES.items()}


def stored_predictions(app: Any) -> dict[str, dict[str, Any]]:
    with app.uow() as unit:
        rows = unit.connection.execute(select(predictions)).all()
    return {r.prediction_id: dict(r._mapping) for r in rows}


def rejections(app: Any, batch_id: int) -> list[dict[str, Any]]:
    with app.uow() as unit:
        return unit.logs.rejections(batch_id=batch_id, limit=1000)


def batch(app: Any, batch_id: int) -> dict[str, Any]:
    with app.uow() as unit:
        return next(b for b in unit.logs.batches(1000) if b["batch_id"] == batch_id)


# 1. a file of bad rows -----------------------------------------------------------------------------
# (row, expected outcome): "accepted", "duplicate", or the reason code of the rejection.
BAD_FILE: list[tuple[dict[str, str] | list[str], str]] = [
    (row("G01"), "accepted"),
    (row(""), "missing_prediction_id"),
    (row("B03", model_version=""), "missing_model_version"),
    (row("B04", patient_id=""), "missing_patient_id"),
    (row("B05", predicted_at=""), "missing_predicted_at"),
    (row("B06", score="high"), "invalid_score"),
    (row("B07", score="1.01"), "score_out_of_range"),
    (row("B08", score="-0.2"), "score_out_of_range"),
    (row("B09", predicted_label="2"), "invalid_predicted_label"),
    (row("B10", predicted_label="true"), "invalid_predicted_label"),
    (row("G11", predicted_at="2025-08-01T01:15:00Z", score="0.1", predicted_label="0"), "accepted"),
    (row("B12", predicted_at="01/08/2025 09:15"), "invalid_predicted_at"),
    (row("B13", predicted_at="2025-02-30T09:15:00+08:00"), "invalid_predicted_at"),
    (row("B14", predicted_at="2025-08-01T09:15:00"), "predicted_at_without_offset"),
    (row("B15", predicted_at="2025-08-01"), "predicted_at_without_offset"),
    (row("B16", predicted_at="2030-01-01T00:00:00+08:00"), "predicted_at_in_future"),
    (row("B17", device_id="liver-ct"), "unknown_device"),
    (row("B18", patient_id="null"), "missing_patient_id"),
    (row("B19", score="NaN"), "missing_score"),
    (row("B20", site_id="NULL"), "missing_site_id"),
    (row("G21"), "accepted"),
    (row("G21"), "duplicate"),  # same id, same content, same file
    (row("G23", score="0.1", predicted_label="0"), "accepted"),
    (row("G23", score="0.11", predicted_label="0"), "conflicting_duplicate"),  # same id, other content
    (row("STORED-1"), "duplicate"),  # identical to a row stored by an earlier file
    (row("STORED-2", score="0.99"), "conflicting_duplicate"),  # conflicts with the stored row
    (row("STORED-2"), "duplicate"),  # identical to the stored row, after a conflicting repeat
    (row("STORED-2", score="0.99"), "conflicting_duplicate"),  # the conflicting content again
    (row("B29", predicted_at="2025-08-01T09:15:00", score="abc", predicted_label="7"), "predicted_at_without_offset"),
    (["B30", DEVICE], "missing_model_version"),  # too few fields
    (row("G31", age="", sex="", emphysema_grade="", scanner_vendor=""), "accepted"),
    (row("G23", score="0.1", predicted_label="0"), "duplicate"),
    (row("B33", patient_id="CLEAR-PATIENT-33", score="2"), "score_out_of_range"),
]


@pytest.mark.parametrize("chunk_rows", [3, 50_000])
def test_bad_rows_file(app: Any, tmp_path: Path, chunk_rows: int) -> None:
    first = ingest(app, write(tmp_path / "earlier.csv", csv_text([row("STORED-1"), row("STORED-2")])))
    assert (first.accepted, first.rejected) == (2, 0)
    before = stored_predictions(app)
    path = write(tmp_path / "bad.csv", csv_text([r for r, _ in BAD_FILE]))

    summary = ingest(app, path, chunk_rows=chunk_rows)

    # the exact outcome, whatever the chunking
    assert (summary.rows, summary.accepted, summary.duplicates, summary.rejected) == (33, 5, 4, 24)
    assert dict(summary.reasons) == {
        "missing_prediction_id": 1, "missing_model_version": 2, "missing_patient_id": 2, "missing_predicted_at": 1,
        "invalid_score": 1, "score_out_of_range": 3, "invalid_predicted_label": 2, "invalid_predicted_at": 2,
        "predicted_at_without_offset": 3, "predicted_at_in_future": 1, "unknown_device": 1, "missing_score": 1,
        "missing_site_id": 1, "conflicting_duplicate": 3,
    }
    stored = batch(app, summary.batch_id)
    assert (stored["kind"], stored["rows_total"], stored["accepted"], stored["duplicates"], stored["rejected"]) == (
        "predictions", 33, 5, 4, 24)

    # every rejected row: its number, id and reason code
    listed = rejections(app, summary.batch_id)
    expected = [(n, code) for n, (_, code) in enumerate(BAD_FILE, start=1) if code not in ("accepted", "duplicate")]
    assert [(r["row_number"], r["reason_code"]) for r in listed] == expected
    ids = {r["row_number"]: r["record_id"] for r in listed}
    assert ids[2] is None and ids[30] == "B30" and ids[26] == ids[28] == "STORED-2" and ids[24] == "G23"
    by_row = {r["row_number"]: r for r in listed}
    assert by_row[29]["reason"].split("; ") == [
        "predicted_at has no UTC offset (write e.g. 2025-08-01T09:15:00+08:00)",
        "score is not a number", "predicted_label is not 0 or 1"]
    assert by_row[30]["reason"] == "; ".join(f"{c} is missing" for c in (
        "model_version", "site_id", "patient_id", "predicted_at", "score", "predicted_label"))
    assert by_row[26]["reason"].startswith("prediction with this prediction_id was already received with different content")

    # the stored rows: the accepted ones plus the earlier file, first content wins, nothing overwritten
    after = stored_predictions(app)
    assert sorted(after) == ["G01", "G11", "G21", "G23", "G31", "STORED-1", "STORED-2"]
    for pid in ("STORED-1", "STORED-2"):
        assert after[pid]["row_hash"] == before[pid]["row_hash"] and after[pid]["batch_id"] == first.batch_id
    assert after["G23"]["score"] == 0.1 and after["G11"]["predicted_label"] == 0
    assert after["G31"]["age"] is None and after["G31"]["sex"] is None
    assert after["G31"]["attributes"] == {"emphysema_grade": None, "scanner_vendor": None}
    assert after["G01"]["patient_hash"] == app.patient_hasher()("PAT-G01")

    # rejected rows keep their content, with the patient identifier only as its keyed hash
    hasher = app.patient_hasher()
    assert by_row[33]["raw"]["patient_id"] == f"hmac-sha256:{hasher('CLEAR-PATIENT-33')}"
    assert by_row[26]["raw"] == row("STORED-2", score="0.99") | {"patient_id": f"hmac-sha256:{hasher('PAT-STORED-2')}"}
    assert by_row[4]["raw"]["patient_id"] is None and by_row[30]["raw"]["patient_id"] is None
    for r in listed:
        assert r["raw"]["patient_id"] is None or r["raw"]["patient_id"].startswith("hmac-sha256:")
    dumped = json.dumps(listed, default=str)
    assert "CLEAR-PATIENT-33" not in dumped and "PAT-B" not in dumped and "PAT-STORED" not in dumped


def test_overlong_id_is_rejected_not_a_database_error(app: Any, tmp_path: Path) -> None:
    long_id = "X" * 200  # longer than rejected_rows.record_id: PostgreSQL refused the whole file
    path = write(tmp_path / "long.csv", csv_text([row(long_id), row("G1", patient_id="Y" * 300), row("G2")]))
    summary = ingest(app, path)
    assert (summary.accepted, summary.rejected) == (1, 2)
    listed = rejections(app, summary.batch_id)
    assert [(r["row_number"], r["reason_code"]) for r in listed] == [
        (1, "invalid_prediction_id"), (2, "invalid_patient_id")]
    assert listed[0]["record_id"] == "X" * 127 + "\u2026"
    assert listed[0]["raw"]["prediction_id"] == long_id
    assert "Y" * 300 not in json.dumps(listed)


# 2. re-sending files -------------------------------------------------------------------------------
def test_idempotent_reingest(app: Any, tmp_path: Path) -> None:
    rows = [row(f"P{i:02d}", model_version="2.1.0" if i % 3 else "2.2.0", site_id=f"SITE-{i % 4}",
                score=f"0.{i:02d}", predicted_label=str(int(i >= 50)), age=str(40 + i)) for i in range(12)]
    # P03 again, identical, in the same file
    rows.append(row("P03", model_version="2.2.0", score="0.03", predicted_label="0", age="43", site_id="SITE-3"))
    preds = write(tmp_path / "predictions.csv", csv_text(rows))
    truth = write(tmp_path / "ground_truth.csv", csv_text([
        {"prediction_id": "P01", "device_id": DEVICE, "label": "1", "confirmed_at": "2025-09-01T10:00:00+08:00",
         "source": "histopathology"},
        {"prediction_id": "P02", "device_id": DEVICE, "label": "0", "confirmed_at": "2025-09-02T10:00:00+08:00",
         "source": "follow_up", "intervention_at": "2025-08-20T10:00:00+08:00"},
        {"prediction_id": "P01", "device_id": DEVICE, "label": "0", "confirmed_at": "2025-09-05T10:00:00+08:00",
         "source": "adjudication", "correction_reason": "panel re-read"},  # a correction in the same file
        {"prediction_id": "P99", "device_id": DEVICE, "label": "1", "confirmed_at": "2025-09-03T10:00:00+08:00",
         "source": "other"},  # its prediction has not arrived
    ], TRUTH_COLUMNS))

    p1 = ingest(app, preds)
    t1 = ingest_truth(app, truth)
    assert (p1.rows, p1.accepted, p1.duplicates, p1.rejected) == (13, 12, 1, 0)
    assert sorted(p1.new_model_versions) == ["2.1.0", "2.2.0"]
    assert sorted(p1.new_sites) == ["SITE-0", "SITE-1", "SITE-2", "SITE-3"]
    assert (t1.rows, t1.accepted, t1.duplicates, t1.rejected) == (4, 4, 0, 0)
    first = counts(app)
    stored = {pid: r["row_hash"] for pid, r in stored_predictions(app).items()}

    p2 = ingest(app, preds, chunk_rows=2)
    t2 = ingest_truth(app, truth, chunk_rows=1)

    assert (p2.rows, p2.accepted, p2.duplicates, p2.rejected) == (13, 0, 13, 0)
    assert (p2.new_model_versions, p2.new_sites) == ([], [])
    assert (t2.rows, t2.accepted, t2.duplicates, t2.rejected) == (4, 0, 4, 0)
    second = counts(app)
    assert second == first | {"ingestion_batches": first["ingestion_batches"] + 2,
                              "audit_log": first["audit_log"] + 2}
    assert {pid: r["row_hash"] for pid, r in stored_predictions(app).items()} == stored
    with app.uow() as unit:
        batches = sorted(unit.logs.batches(10), key=lambda b: b["batch_id"])
        versions = unit.connection.execute(
            select(ground_truth.c.prediction_id, ground_truth.c.version, ground_truth.c.label, ground_truth.c.is_latest)
            .order_by(ground_truth.c.prediction_id, ground_truth.c.version)).all()
    assert [(b["kind"], b["source_sha256"], b["rows_total"], b["accepted"], b["duplicates"], b["rejected"])
            for b in batches] == [
        ("predictions", p1.sha256, 13, 12, 1, 0), ("ground_truth", t1.sha256, 4, 4, 0, 0),
        ("predictions", p1.sha256, 13, 0, 13, 0), ("ground_truth", t1.sha256, 4, 0, 4, 0)]
    assert [tuple(v) for v in versions] == [("P01", 1, 1, False), ("P01", 2, 0, True), ("P02", 1, 0, True),
                                            ("P99", 1, 1, True)]


# 3. one transaction per file -----------------------------------------------------------------------
def _padded_rows(n: int) -> str:
    # an ignored column makes the rows long, so the bad byte lies beyond the reader's first buffer
    return "".join(",".join(row(f"M{i:04d}", score="bad" if i == 1 else "0.5").values()) + "," + "n" * 300 + "\n"
                   for i in range(n))


@pytest.mark.parametrize("kind", ["predictions", "ground_truth"])
def test_a_file_that_fails_midway_stores_nothing(app: Any, tmp_path: Path, kind: str) -> None:
    ingest(app, write(tmp_path / "earlier.csv", csv_text([row("E1"), row("E2", score="x")])))
    before = counts(app)
    with app.uow() as unit:
        head = unit.audit.head()
    if kind == "predictions":
        header = ",".join(COLUMNS) + ",notes\n"
        good = header + _padded_rows(1200)
        bad = good.encode() + b"M9999,lung-nodule-ct,2.1.0,SH-\xff01,2025-08-01T09:15:00+08:00,0.5,1,P,67,F,mild,GE,x\n"
    else:
        truth_row = "T{0},lung-nodule-ct,1,2025-09-01T10:00:00+08:00,histopathology,,\n"
        good = ",".join(TRUTH_COLUMNS) + "\n" + "".join(truth_row.format(i) for i in range(500))
        bad = (good + "T500,lung-nodule-ct,1,2025-09-01T10:00:00+08:00,audit_sample,,reason, with a comma\n").encode()
    path = write(tmp_path / "broken.csv", bad)
    processed: list[int] = []

    with pytest.raises(InputError) as caught:
        if kind == "predictions":
            ingest(app, path, chunk_rows=50, progress=processed.append)
        else:
            ingest_ground_truth(app.open_log(path), source=str(path), uow=app.uow, clock=app.clock, actor="pytest",
                                chunk_rows=50, progress=processed.append)

    assert sum(processed) >= 50  # chunks were written inside the transaction before the failure
    if kind == "predictions":
        assert "is not UTF-8 text" in str(caught.value)
    else:
        assert str(caught.value) == (f"{path}: malformed CSV at data row 501: 8 fields but the header has 7 "
                                     "(quote values that contain a comma)")
    assert counts(app) == before  # no batch, no rows, no rejections, no audit entry
    with app.uow() as unit:
        assert unit.audit.head() == head

    # the database is usable afterwards, and the repaired file goes in whole
    repaired = ingest(app, write(tmp_path / "repaired.csv", good)) if kind == "predictions" else \
        ingest_truth(app, write(tmp_path / "repaired.csv", good))
    assert repaired.rows == (1200 if kind == "predictions" else 500)
    assert repaired.rejected == (1 if kind == "predictions" else 0)


# 5. Parquet ----------------------------------------------------------------------------------------
def test_parquet_stores_the_same_rows_as_csv(app: Any, tmp_path: Path) -> None:
    shanghai = pd.to_datetime(["2025-08-01T09:15:00+08:00", "2025-08-02T23:30:00.250+08:00",
                               "2025-09-30T23:59:59+08:00"], utc=True, format="ISO8601").tz_convert("Asia/Shanghai")
    frame = pd.DataFrame({
        "prediction_id": ["Q1", "Q2", "Q3"], "device_id": DEVICE, "model_version": "2.1.0",
        "site_id": ["SH-01", "BJ-02", "SH-01"], "predicted_at": shanghai, "score": [0.82, 0.1, 0.5],
        "predicted_label": [1, 0, 1], "patient_id": ["PAT-1", "PAT-2", "PAT-3"], "age": [67.0, None, 80.0],
        "sex": ["F", None, "M"], "emphysema_grade": ["mild", None, "severe"], "scanner_vendor": ["GE", "GE", None],
    })
    parquet = tmp_path / "predictions.parquet"
    frame.to_parquet(parquet)
    # The same rows as CSV text, with the instants written in other offsets and other spellings.
    text = csv_text([
        row("Q1", predicted_at="2025-08-01T01:15:00Z", score="0.820", predicted_label="1", patient_id="PAT-1",
            age="67.0"),
        row("Q2", site_id="BJ-02", predicted_at="2025-08-02T15:30:00.25+00:00", score="0.1", predicted_label="0",
            patient_id="PAT-2", age="", sex="", emphysema_grade="", scanner_vendor="GE"),
        row("Q3", predicted_at="2025-09-30T17:59:59+02:00", score="0.5", predicted_label="1.0", patient_id="PAT-3",
            age="80", sex="M", emphysema_grade="severe", scanner_vendor=""),
    ])
    csv_path = write(tmp_path / "predictions.csv", text)

    from_parquet = ingest(app, parquet, chunk_rows=2)
    assert (from_parquet.rows, from_parquet.accepted, from_parquet.rejected) == (3, 3, 0)
    stored = stored_predictions(app)
    assert [stored[q]["predicted_at"] for q in ("Q1", "Q2", "Q3")] == list(shanghai.tz_convert("UTC").to_pydatetime())
    assert stored["Q2"]["age"] is None and stored["Q2"]["sex"] is None
    assert stored["Q3"]["attributes"] == {"emphysema_grade": "severe", "scanner_vendor": None}

    # the CSV rows validate to the same row hashes, and ingesting them changes nothing
    with app.uow() as unit:
        devices = unit.devices.configs()
    from monitor.domain.logs import validate_predictions
    csv_hashes = {}
    for first_row, chunk in app.open_log(csv_path).chunks():
        checked = validate_predictions(chunk, first_row=first_row, devices=devices, hash_patient=app.patient_hasher(),
                                       now=app.clock())
        csv_hashes.update(zip(checked.accepted["prediction_id"], checked.accepted["row_hash"], strict=True))
    assert csv_hashes == {q: stored[q]["row_hash"] for q in ("Q1", "Q2", "Q3")}
    from_csv = ingest(app, csv_path)
    assert (from_csv.rows, from_csv.accepted, from_csv.duplicates, from_csv.rejected) == (3, 0, 3, 0)


def test_parquet_naive_timestamps_are_rejected(app: Any, tmp_path: Path) -> None:
    frame = pd.DataFrame({
        "prediction_id": ["N1", "N2", "N3"], "device_id": DEVICE, "model_version": "2.1.0", "site_id": "SH-01",
        "predicted_at": pd.to_datetime(["2025-08-01T09:15:00", "2025-08-02T09:15:00", "2025-08-03T09:15:00"]),
        "score": [0.8, 0.2, 0.5], "predicted_label": [True, False, None], "patient_id": ["A", "B", "C"],
    })
    naive = tmp_path / "naive.parquet"
    frame.to_parquet(naive)
    summary = ingest(app, naive, chunk_rows=2)
    assert (summary.rows, summary.accepted, summary.rejected) == (3, 0, 3)
    listed = rejections(app, summary.batch_id)
    assert [(r["row_number"], r["record_id"], r["reason_code"]) for r in listed] == [
        (1, "N1", "predicted_at_without_offset"), (2, "N2", "predicted_at_without_offset"),
        (3, "N3", "predicted_at_without_offset")]
    assert listed[0]["reason"] == ("predicted_at has no UTC offset "
                                   "(write e.g. 2025-08-01T09:15:00+08:00)")
    assert listed[2]["reason"].endswith("; predicted_label is missing")
    assert [r["raw"]["patient_id"] for r in listed] == [f"hmac-sha256:{app.patient_hasher()(p)}" for p in "ABC"]

    # dates without a time are no better; with an offset the same rows go in
    frame.assign(predicted_at=frame["predicted_at"].dt.date).to_parquet(tmp_path / "dates.parquet")
    dates = ingest(app, tmp_path / "dates.parquet")
    assert (dates.accepted, dict(dates.reasons)) == (0, {"predicted_at_without_offset": 3})
    aware = frame.assign(predicted_at=frame["predicted_at"].dt.tz_localize("Asia/Shanghai"))
    aware.to_parquet(tmp_path / "aware.parquet")
    fixed = ingest(app, tmp_path / "aware.parquet", chunk_rows=2)
    assert (fixed.accepted, fixed.rejected, dict(fixed.reasons)) == (2, 1, {"missing_predicted_label": 1})
    assert {k: v["predicted_label"] for k, v in stored_predictions(app).items()} == {"N1": 1, "N2": 0}


# 6. headers and file shapes ------------------------------------------------------------------------
def test_unusable_headers_store_nothing(app: Any, tmp_path: Path) -> None:
    before = counts(app)
    header = ",".join(COLUMNS)
    good_line = ",".join(row("H1").values())
    cases = [
        ("empty.csv", "", "the file is empty (expected a header row)"),
        ("no_score.csv", header.replace(",score", "") + "\n" + good_line.replace(",0.82", "") + "\n",
         "missing required column(s): score (found 11 column(s): prediction_id, device_id, model_version, "
         "site_id, predicted_at, predicted_label, patient_id, age, sex and 2 other(s))"),
        ("semicolons.csv", header.replace(",", ";") + "\n" + good_line.replace(",", ";") + "\n",
         "the header is separated by ';'; samd-monitor reads comma-separated files"),
        ("twice.csv", header + ",Score\n" + good_line + ",0.5\n", "duplicate column name(s) in the header: score"),
    ]
    for name, content, message in cases:
        path = write(tmp_path / name, content)
        with pytest.raises(InputError) as caught:
            ingest(app, path)
        assert str(caught.value) == f"{path}: {message}", name
    truth_path = write(tmp_path / "truth_no_label.csv", "prediction_id,device_id,confirmed_at,source\n")
    with pytest.raises(InputError, match=r"missing required column\(s\): label"):
        ingest_truth(app, truth_path)
    assert counts(app) == before


def test_header_only_file_is_an_error_and_stores_nothing(app: Any, tmp_path: Path) -> None:
    """Empty input is a user error (issue 18): no batch is stored, for predictions and ground truth alike."""
    with pytest.raises(InputError, match="no data rows"):
        ingest(app, write(tmp_path / "header.csv", ",".join(COLUMNS) + "\n"))
    with pytest.raises(InputError, match="no data rows"):
        ingest_truth(app, write(tmp_path / "truth.csv", ",".join(TRUTH_COLUMNS[:5]) + "\n"))
    assert counts(app)["predictions"] == 0 and counts(app)["ingestion_batches"] == 0


def test_bom_quoted_newline_and_extra_columns(app: Any, tmp_path: Path) -> None:
    columns = ["Prediction_ID", *COLUMNS[1:], "notes", "ward"]
    text = csv_text([
        row("F1") | {"Prediction_ID": "F1", "notes": "fine", "ward": "7"},
        row("F2", scanner_vendor="United\nImaging") | {"Prediction_ID": "F2", "notes": 'two\nlines, "quoted"'},
        row("F3", score="9") | {"Prediction_ID": "F3"},
    ], columns)
    path = write(tmp_path / "excel.csv", b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert text.count("\n") == 6  # 4 records on 6 lines

    summary = ingest(app, path)

    assert (summary.rows, summary.accepted, summary.rejected) == (3, 2, 1)
    assert summary.ignored_columns == ("notes", "ward")
    assert [(r["row_number"], r["record_id"], r["reason_code"]) for r in rejections(app, summary.batch_id)] == [
        (3, "F3", "score_out_of_range")]
    stored = stored_predictions(app)
    assert stored["F2"]["attributes"] == {"emphysema_grade": "mild", "scanner_vendor": "United\nImaging"}
    assert "notes" not in json.dumps([r["attributes"] for r in stored.values()])
    with app.uow() as unit:
        details = unit.connection.execute(select(audit_log.c.details).where(
            audit_log.c.action == "ingest.predictions")).scalar_one()
    assert details["ignored_columns"] == ["notes", "ward"]


def test_columns_outside_the_format_are_not_stored_even_in_rejected_rows(app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from monitor.service.ingest import ingest_predictions

    path = tmp_path / "extra.csv"
    path.write_text(
        "prediction_id,device_id,model_version,site_id,predicted_at,score,predicted_label,patient_id,age,sex,"
        "patient_name,emphysema_grade\n"
        "x1,lung-nodule-ct,2.1.0,s1,2025-08-01T09:00:00+08:00,1.7,1,P1,70,F,Jane Doe,mild\n",
        encoding="utf-8",
    )
    summary = ingest_predictions(app.open_log(path), source="extra.csv", uow=app.uow,
                                 hash_patient=app.patient_hasher(), clock=app.clock, actor="t")
    assert summary.rejected == 1 and "patient_name" in summary.ignored_columns
    with app.uow() as unit:
        raw = unit.logs.rejections(batch_id=summary.batch_id)[0]["raw"]
    assert "patient_name" not in raw and "Jane Doe" not in str(raw)
    assert raw["emphysema_grade"] == "mild" and raw["patient_id"].startswith("hmac-sha256:")
