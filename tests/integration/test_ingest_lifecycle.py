"""Clinical-context columns, AI failures, ground truth by study, retractions, corrections as of a cut-off,
and PHI hygiene, on both engines."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from monitor.adapters.db.tables import (
    audit_log,
    ground_truth,
    prediction_failures,
    prediction_retractions,
    predictions,
    rejected_rows,
)
from monitor.domain.periods import Period
from monitor.service.analyze import analyze_period
from monitor.service.ingest import BatchSummary, ingest_ground_truth, ingest_predictions, ingest_retractions
from monitor.synthetic import DemoScenario

DEVICE = "lung-nodule-ct"
COLUMNS = ["prediction_id", "device_id", "model_version", "site_id", "predicted_at", "score", "predicted_label",
           "patient_id", "age", "sex", "emphysema_grade", "scanner_vendor", "study_uid", "human_label",
           "ai_volume_mm3", "reviewed_volume_mm3", "result_status", "failure_reason"]
TRUTH_COLUMNS = ["prediction_id", "study_uid", "device_id", "label", "confirmed_at", "source", "intervention_at",
                 "correction_reason"]
RETRACTION_COLUMNS = ["device_id", "prediction_id", "retracted_at", "reason"]


def row(pid: str, **changes: str) -> dict[str, str]:
    values = {"prediction_id": pid, "device_id": DEVICE, "model_version": "2.1.0", "site_id": "SH-01",
              "predicted_at": "2025-08-01T09:15:00+08:00", "score": "0.82", "predicted_label": "1",
              "patient_id": f"PAT-{pid}", "age": "67", "sex": "F", "emphysema_grade": "mild", "scanner_vendor": "GE"}
    return values | changes


def truth(pid: str = "", **changes: str) -> dict[str, str]:
    return {"prediction_id": pid, "device_id": DEVICE, "label": "1", "confirmed_at": "2025-09-01T10:00:00+08:00",
            "source": "histopathology"} | changes


def write(path: Path, rows: list[dict[str, str]], columns: list[str]) -> Path:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([r.get(c, "") for c in columns] for r in rows)
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def ingest(app: Any, path: Path, **kwargs: Any) -> BatchSummary:
    return ingest_predictions(app.open_log(path), source=str(path), uow=app.uow, hash_patient=app.patient_hasher(),
                              clock=app.clock, actor="pytest", **kwargs)


def ingest_truth(app: Any, path: Path, **kwargs: Any) -> BatchSummary:
    return ingest_ground_truth(app.open_log(path), source=str(path), uow=app.uow, clock=app.clock, actor="pytest",
                               **kwargs)


def retract(app: Any, path: Path, **kwargs: Any) -> BatchSummary:
    return ingest_retractions(app.open_log(path), source=str(path), uow=app.uow, clock=app.clock, actor="pytest",
                              **kwargs)


def table(app: Any, t: Any) -> dict[str, dict[str, Any]]:
    with app.uow() as unit:
        return {r.prediction_id: dict(r._mapping) for r in unit.connection.execute(select(t))}


def reasons(app: Any, batch_id: int) -> list[tuple[int, str | None, str]]:
    with app.uow() as unit:
        return [(r["row_number"], r["record_id"], r["reason_code"])
                for r in unit.logs.rejections(batch_id=batch_id, limit=None)]


UID = "1.2.840.113619.2.55.3.1"
SCHEMAS = [json.loads(p.read_text(encoding="utf-8"))
           for p in (Path(__file__).resolve().parents[2] / "schemas").glob("*.schema.json")]


def assert_valid_summary(summary: BatchSummary) -> None:
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    registry = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in SCHEMAS)
    schema = next(s for s in SCHEMAS if s["$id"].endswith("/batch_summary.schema.json"))
    errors = [e.message for e in Draft202012Validator(schema, registry=registry).iter_errors(summary.as_dict())]
    assert errors == []


# 1. clinical context and AI failures -----------------------------------------------------------------
def test_context_columns_and_failures(app: Any, tmp_path: Path) -> None:
    rows = [
        row("C1", study_uid=UID, human_label="1", ai_volume_mm3="523.6", reviewed_volume_mm3="498"),
        row("C2", study_uid=UID, human_label="0"),
        row("F1", score="", predicted_label="", result_status="failed", failure_reason="timeout"),
        row("F2", score="", predicted_label="", result_status="no_result"),
        row("B1", human_label="2"),                                             # invalid_human_label
        row("B2", ai_volume_mm3="-1"),                                          # invalid_ai_volume_mm3
        row("B3", reviewed_volume_mm3="inf"),                                   # invalid_reviewed_volume_mm3
        row("B4", result_status="failed"),                                      # result_on_failed_row (score)
        row("B5", result_status="crashed", score="", predicted_label=""),       # invalid_result_status
        row("B6", failure_reason="oom"),                                        # failure_reason_without_failure
        row("B7", study_uid="Jane Doe"),                                        # invalid_study_uid
        row("B8", score="", predicted_label=""),                                # missing_score
        row("B9", score="", predicted_label="", result_status="failed", failure_reason="bad code!"),
    ]
    summary = ingest(app, write(tmp_path / "p.csv", rows, COLUMNS))
    assert (summary.rows, summary.accepted, summary.duplicates, summary.rejected) == (13, 4, 0, 9)
    assert [code for *_, code in reasons(app, summary.batch_id)] == [
        "invalid_human_label", "invalid_ai_volume_mm3", "invalid_reviewed_volume_mm3", "result_on_failed_row",
        "invalid_result_status", "failure_reason_without_failure", "invalid_study_uid", "missing_score",
        "invalid_failure_reason"]
    stored = table(app, predictions)
    assert sorted(stored) == ["C1", "C2"]
    assert (stored["C1"]["study_uid"], stored["C1"]["human_label"], stored["C1"]["ai_volume_mm3"],
            stored["C1"]["reviewed_volume_mm3"]) == (UID, 1, 523.6, 498.0)
    assert (stored["C2"]["human_label"], stored["C2"]["ai_volume_mm3"]) == (0, None)
    failures = table(app, prediction_failures)
    assert {k: v["failure_code"] for k, v in failures.items()} == {"F1": "failed:timeout", "F2": "no_result"}
    assert failures["F1"]["patient_hash"] == app.patient_hasher()("PAT-F1")
    with app.uow() as unit:
        reason = unit.logs.rejections(batch_id=summary.batch_id, limit=None)[6]["reason"]
    assert "Jane Doe" not in reason  # no identifying value echoed

    # re-sends: identical -> duplicates; an id may not be both a result and a failure
    again = ingest(app, write(tmp_path / "p2.csv", [
        rows[0], rows[2],
        row("F1", result_status="ok"),                                          # F1 was a failure
        row("C2", score="", predicted_label="", result_status="failed"),        # C2 was a result
        row("C1", study_uid=UID, human_label="0", ai_volume_mm3="523.6", reviewed_volume_mm3="498"),  # changed
    ], COLUMNS))
    assert (again.accepted, again.duplicates, again.rejected) == (0, 2, 3)
    assert dict(again.reasons) == {"conflicting_duplicate": 3}
    assert sorted(table(app, predictions)) == ["C1", "C2"] and sorted(table(app, prediction_failures)) == ["F1", "F2"]


def test_rows_without_context_keep_their_hash(app: Any, tmp_path: Path) -> None:
    """Adding the optional columns to a file, empty, changes no row hash: old files re-send as duplicates."""
    plain = ["prediction_id", "device_id", "model_version", "site_id", "predicted_at", "score", "predicted_label",
             "patient_id", "age", "sex", "emphysema_grade", "scanner_vendor"]
    first = ingest(app, write(tmp_path / "old.csv", [row("H1"), row("H2")], plain))
    again = ingest(app, write(tmp_path / "new.csv", [row("H1", result_status="ok"), row("H2")], COLUMNS))
    assert (first.accepted, again.accepted, again.duplicates) == (2, 0, 2)


# 2. ground truth by study --------------------------------------------------------------------------------
def test_ground_truth_by_study(app: Any, tmp_path: Path) -> None:
    other = "1.2.3.4"
    ingest(app, write(tmp_path / "p.csv", [row("S1", study_uid=UID), row("S2", study_uid=UID),
                                           row("S3", study_uid=other), row("S4")], COLUMNS))
    summary = ingest_truth(app, write(tmp_path / "g.csv", [
        truth(study_uid=UID), truth("S3", label="0"), truth(study_uid="9.9.9"),
        truth("S4", study_uid=other),            # both: ambiguous
        truth(),                                 # neither
    ], TRUTH_COLUMNS))
    assert (summary.rows, summary.expanded, summary.accepted, summary.duplicates, summary.rejected) == (5, 1, 3, 0, 3)
    assert_valid_summary(summary)
    assert reasons(app, summary.batch_id) == [(3, "9.9.9", "unknown_study"), (4, "S4", "ambiguous_case"),
                                              (5, None, "missing_prediction_id")]
    labels = {k: (v["label"], v["version"]) for k, v in table(app, ground_truth).items()}
    assert labels == {"S1": (1, 1), "S2": (1, 1), "S3": (0, 1)}

    # the same labels by prediction id are duplicates; a correction by study versions every prediction
    resend = ingest_truth(app, write(tmp_path / "g2.csv", [truth("S1"), truth("S2")], TRUTH_COLUMNS))
    assert (resend.accepted, resend.duplicates) == (0, 2)
    fix = ingest_truth(app, write(tmp_path / "g3.csv", [
        truth(study_uid=UID, label="0", source="adjudication", correction_reason="panel re-read")], TRUTH_COLUMNS))
    assert (fix.rows, fix.expanded, fix.accepted) == (1, 1, 2)
    with app.uow() as unit:
        latest = unit.connection.execute(select(ground_truth.c.prediction_id, ground_truth.c.label,
                                                ground_truth.c.version).where(ground_truth.c.is_latest.is_(True))
                                         .order_by(ground_truth.c.prediction_id)).all()
    assert [tuple(r) for r in latest] == [("S1", 0, 2), ("S2", 0, 2), ("S3", 0, 1)]


# 3. retractions --------------------------------------------------------------------------------------------
def retraction(pid: str, **changes: str) -> dict[str, str]:
    return {"device_id": DEVICE, "prediction_id": pid, "retracted_at": "2025-10-02T08:00:00+08:00",
            "reason": "software defect 4711: wrong series analysed"} | changes


def test_retractions_outcomes(app: Any, tmp_path: Path) -> None:
    ingest(app, write(tmp_path / "p.csv", [row("R1"), row("R2"), row("F1", score="", predicted_label="",
                                                                        result_status="failed")], COLUMNS))
    first = retract(app, write(tmp_path / "r.csv", [
        retraction("R1"), retraction("R1"), retraction("NOPE"), retraction("NOPE"), retraction("F1"),
        retraction("R2", retracted_at="2025-10-02T08:00:00"), retraction("R2", reason="")], RETRACTION_COLUMNS))
    assert (first.rows, first.accepted, first.duplicates, first.rejected) == (7, 1, 1, 5)
    assert_valid_summary(first)
    assert reasons(app, first.batch_id) == [
        (3, "NOPE", "unknown_prediction"), (4, "NOPE", "unknown_prediction"), (5, "F1", "unknown_prediction"),
        (6, "R2", "retracted_at_without_offset"), (7, "R2", "missing_reason")]
    again = retract(app, write(tmp_path / "r2.csv", [retraction("R1"), retraction("R1", reason="other")],
                               RETRACTION_COLUMNS))
    assert (again.accepted, again.duplicates, again.rejected, dict(again.reasons)) == (
        0, 1, 1, {"conflicting_duplicate": 1})
    stored = table(app, prediction_retractions)
    assert list(stored) == ["R1"] and stored["R1"]["batch_id"] == first.batch_id
    assert stored["R1"]["retracted_at"] == datetime(2025, 10, 2, 0, 0, tzinfo=timezone.utc)


SCENARIO = DemoScenario(seed=11, scale=0.003)


def _strata(document: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(r["model_version"], r["stratum"], r["metric"], r["successes"], r["trials"]) for r in document["results"]]


def test_retractions_and_corrections_as_of_the_cutoff(app: Any, ingest_scenario: Any, tmp_path: Path) -> None:
    """An analysis re-run with its old cut-off reproduces the old result exactly; a later cut-off sees the
    correction and the retraction."""
    data = ingest_scenario(SCENARIO)
    period = Period.parse("2025Q3")
    cutoff_1 = app.clock() + timedelta(seconds=30)
    app.clock.now = cutoff_1 + timedelta(hours=1)
    first = analyze_period(DEVICE, period, uow=app.uow, clock=app.clock, actor="t", cutoff=cutoff_1)

    cases = data.predictions.merge(data.ground_truth[["prediction_id", "label"]], on="prediction_id")
    at = cases["predicted_at"].astype(str)
    in_q3 = cases.loc[at.str.startswith("2025-08")]
    target = in_q3.iloc[0]
    retracted = in_q3.iloc[1:4]
    fix = ingest_truth(app, write(tmp_path / "fix.csv", [
        truth(target["prediction_id"], label=str(1 - int(target["label"])), source="adjudication",
              confirmed_at="2025-12-01T10:00:00+08:00", correction_reason="panel re-read")], TRUTH_COLUMNS))
    assert fix.accepted == 1
    gone = retract(app, write(tmp_path / "r.csv", [retraction(p) for p in retracted["prediction_id"]],
                              RETRACTION_COLUMNS))
    assert gone.accepted == 3

    again = analyze_period(DEVICE, period, uow=app.uow, clock=app.clock, actor="t", cutoff=cutoff_1)
    assert _strata(again.document) == _strata(first.document)
    assert again.document["results"] == first.document["results"]
    assert again.document["input_fingerprint"] == first.document["input_fingerprint"]
    assert again.document["completeness"]["retracted"] == first.document["completeness"]["retracted"] == 0

    # a later cut-off sees the correction and the retractions (the same queries analyze_period uses)
    with app.uow() as unit:
        config = unit.devices.get(DEVICE)
        start, end = period.bounds_utc(ZoneInfo(config.monitoring.timezone))
        window: dict[str, Any] = dict(start=start, end=end)
        cells = {c: unit.results.confusion_cells(DEVICE, cutoff=c, attributes=[], **window)
                 for c in (cutoff_1, app.clock())}
        completeness = {c: unit.results.completeness(DEVICE, cutoff=c, **window) for c in cells}
        retracted = {c: unit.results.retracted_count(DEVICE, cutoff=c, **window) for c in cells}
        fingerprints = {c: unit.results.input_fingerprint(DEVICE, cutoff=c, **window) for c in cells}
    early, late = list(cells)
    assert (retracted[early], retracted[late]) == (0, 3)
    assert sum(c["predictions"] for c in completeness[late]) == sum(c["predictions"] for c in completeness[early]) - 3
    totals = {c: cells[c][["tp", "fp", "fn", "tn"]].to_numpy().sum() for c in cells}
    assert totals[late] == totals[early] - 3
    assert not cells[late].equals(cells[early])
    assert fingerprints[early][0] == first.document["input_fingerprint"]
    assert "retractions" in {s["kind"] for s in fingerprints[late][1]}

    # who, when and why of the correction are stored
    with app.uow() as unit:
        version = unit.connection.execute(select(ground_truth).where(
            ground_truth.c.prediction_id == target["prediction_id"], ground_truth.c.version == 2)).one()
        batch = unit.logs.batch(version.batch_id)
    assert version.correction_reason == "panel re-read" and batch["actor"] == "pytest"
    assert version.ingested_at > cutoff_1


# 4. PHI hygiene ----------------------------------------------------------------------------------------------
def test_ages_of_90_and_over_are_aggregated(app: Any, tmp_path: Path) -> None:
    summary = ingest(app, write(tmp_path / "p.csv", [row("A1", age="89.5"), row("A2", age="90"),
                                                     row("A3", age="104"), row("A4", age="97", score="7")], COLUMNS))
    assert (summary.accepted, summary.rejected) == (3, 1)
    assert {k: v["age"] for k, v in table(app, predictions).items()} == {"A1": 89.5, "A2": 90.0, "A3": 90.0}
    with app.uow() as unit:
        raw = unit.logs.rejections(batch_id=summary.batch_id)[0]["raw"]
    assert raw["age"] == "90" and raw["patient_id"].startswith("hmac-sha256:")
    # a deployment allowed exact ages keeps them (MONITOR_EXACT_AGES)
    exact = ingest(app, write(tmp_path / "e.csv", [row("E1", age="97")], COLUMNS), exact_ages=True)
    assert exact.accepted == 1 and table(app, predictions)["E1"]["age"] == 97.0


def test_nothing_identifying_is_stored_for_rejected_rows(app: Any, tmp_path: Path) -> None:
    summary = ingest(app, write(tmp_path / "p.csv", [
        row("X1", patient_id="ZHANG-SAN-110101199001011234", score="nan"),
        row("X2", patient_id="LI-SI-2", predicted_at="2025-13-01T00:00:00+08:00")], COLUMNS))
    assert summary.rejected == 2
    with app.uow() as unit:
        stored = json.dumps([dict(r._mapping) for r in unit.connection.execute(select(rejected_rows))], default=str)
        audit = json.dumps([r.details for r in unit.connection.execute(select(audit_log))], default=str)
    for secret in ("ZHANG-SAN", "LI-SI-2"):
        assert secret not in stored and secret not in audit


# 5. the PostgreSQL bulk path keeps the file's one transaction -------------------------------------------------
def test_bulk_insert_rolls_back_with_the_file(app: Any, tmp_path: Path) -> None:
    good = [row(f"T{i}") for i in range(30)]
    bad = tmp_path / "bad.csv"
    write(bad, good, COLUMNS)
    bad.write_bytes(bad.read_bytes() + b"T99,lung-nodule-ct,2.1.0,SH-\xff,2025-08-01T09:15:00+08:00,0.5,1,P\n")
    with pytest.raises(Exception):
        ingest(app, bad, chunk_rows=10)
    with app.uow() as unit:
        assert unit.connection.execute(select(func.count()).select_from(predictions)).scalar_one() == 0
    assert ingest(app, write(tmp_path / "good.csv", good, COLUMNS), chunk_rows=7).accepted == 30
    assert len(table(app, predictions)) == 30
