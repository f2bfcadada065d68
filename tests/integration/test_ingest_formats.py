"""NDJSON, FHIR R4 Bundles and DICOM SR ingested end to end through the real services (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sqlalchemy import func, select

from monitor.adapters.db.tables import ground_truth, predictions, rejected_rows
from monitor.adapters.files.readers import open_log
from monitor.service.ingest import ingest_ground_truth, ingest_predictions

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "adapters" / "formats"))
from sr_factory import TRACKING_UID, write_study

ROOT = Path(__file__).resolve().parents[2]
FHIR = ROOT / "examples" / "fhir"
DEVICE = "lung-nodule-ct"


def _count(app, table) -> int:  # type: ignore[no-untyped-def]
    with app.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _predictions(app, log, source: str):  # type: ignore[no-untyped-def]
    return ingest_predictions(log, source=source, uow=app.uow, hash_patient=app.patient_hasher(), clock=app.clock,
                              actor="pytest")


def test_fhir_examples_ingest_cleanly(app) -> None:  # type: ignore[no-untyped-def]
    summary = _predictions(app, open_log(FHIR / "predictions.fhir.json", kind="predictions"), "p.fhir.json")
    assert (summary.rows, summary.accepted, summary.rejected) == (2, 2, 0), summary.reasons
    assert summary.ignored_columns == ()
    truth = ingest_ground_truth(open_log(FHIR / "ground-truth.fhir.json", kind="ground_truth", device_id=DEVICE),
                                source="g.fhir.json", uow=app.uow, clock=app.clock, actor="pytest")
    assert (truth.rows, truth.accepted, truth.rejected) == (2, 2, 0), truth.reasons
    assert (_count(app, predictions), _count(app, ground_truth), _count(app, rejected_rows)) == (2, 2, 0)
    with app.engine.connect() as conn:
        stored = {r.prediction_id: r for r in conn.execute(select(predictions))}
        labels = {r.prediction_id: r.label for r in conn.execute(select(ground_truth))}
    assert stored["FHIR-AI-0001"].score == 0.87 and stored["FHIR-AI-0002"].score == 0.12
    assert labels == {"FHIR-AI-0001": 1, "FHIR-AI-0002": 0}  # the second one through its study UID
    again = _predictions(app, open_log(FHIR / "predictions.fhir.json", kind="predictions"), "p.fhir.json")
    assert (again.duplicates, again.accepted) == (2, 0)


def test_source_rejections_are_stored_and_counted(app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bundle = json.loads((FHIR / "predictions.fhir.json").read_text())
    bundle["entry"].append({"resource": {"resourceType": "Medication", "id": "m1"}})
    bundle["entry"][6]["resource"]["subject"] = {"reference": "Patient/nobody"}
    path = tmp_path / "bad.fhir.json"
    path.write_text(json.dumps(bundle))
    summary = _predictions(app, open_log(path, kind="predictions"), "bad.fhir.json")
    assert (summary.rows, summary.accepted, summary.rejected) == (3, 1, 2)
    assert summary.reasons == {"dangling_reference": 1, "unrelated_resource": 1}
    with app.engine.connect() as conn:
        rows = {r.row_number: r for r in conn.execute(select(rejected_rows))}
    assert rows[7].record_id == "Observation/ai-1" and "Patient/nobody" in rows[7].reason
    assert rows[10].record_id == "Medication/m1"


def test_ndjson_end_to_end(app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    good = {"prediction_id": "N1", "device_id": DEVICE, "model_version": "2.1.0", "site_id": "SH-01",
            "predicted_at": "2025-10-14T09:15:00+08:00", "score": 0.8, "predicted_label": 1, "patient_id": "P1",
            "age": 61, "sex": "M"}
    lines = [json.dumps(good), "", "{broken", json.dumps({**good, "prediction_id": "N2", "score": 1.5}),
             json.dumps({**good, "prediction_id": "N3", "sex": ["M"]})]
    path = tmp_path / "log.ndjson"
    path.write_text("\n".join(lines) + "\n")
    summary = _predictions(app, open_log(path), "log.ndjson")
    assert (summary.rows, summary.accepted, summary.rejected) == (4, 1, 3)
    assert summary.reasons == {"invalid_json": 1, "score_out_of_range": 1, "invalid_value": 1}
    with app.engine.connect() as conn:
        numbers = sorted(r.row_number for r in conn.execute(select(rejected_rows)))
    assert numbers == [3, 4, 5]


def test_dicom_sr_end_to_end(app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    write_study(tmp_path / "study")
    (tmp_path / "study" / "notes.txt").write_text("not DICOM")
    summary = _predictions(app, open_log(tmp_path / "study"), "study")
    assert (summary.rows, summary.accepted, summary.rejected) == (2, 1, 1), summary.reasons
    assert summary.reasons == {"not_dicom": 1}
    with app.engine.connect() as conn:
        [stored] = conn.execute(select(predictions)).all()
    assert (stored.prediction_id, stored.model_version, stored.site_id, stored.score, stored.predicted_label) == \
        (TRACKING_UID, "2.1.0", "SH-01", 0.87, 1)
    assert stored.attributes.get("scanner_vendor") == "Siemens"
