"""Ground truth that names the exam only by its accession number links to the stored predictions of that
accession; accession numbers are kept only as their keyed hash (also in rejected rows); FHIR ground truth
referring to an ImagingStudy by an ACSN-typed identifier links the same way. Both engines."""

from __future__ import annotations

import copy
import csv
import io
import json
from pathlib import Path
from typing import Any

from sqlalchemy import select

from monitor.adapters.db.tables import ground_truth, predictions, rejected_rows
from monitor.service.ingest import ingest_ground_truth, ingest_predictions

DEVICE = "lung-nodule-ct"
ROOT = Path(__file__).resolve().parents[2]
P_COLUMNS = ["prediction_id", "device_id", "model_version", "site_id", "predicted_at", "score", "predicted_label",
             "patient_id", "age", "sex", "emphysema_grade", "scanner_vendor", "accession_number"]
G_COLUMNS = ["prediction_id", "accession_number", "device_id", "label", "confirmed_at", "source"]


def _csv(path: Path, rows: list[dict[str, str]], columns: list[str]) -> Path:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([r.get(c, "") for c in columns] for r in rows)
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def _prediction(pid: str, accession: str) -> dict[str, str]:
    return {"prediction_id": pid, "device_id": DEVICE, "model_version": "2.1.0", "site_id": "SH-01",
            "predicted_at": "2025-08-01T09:15:00+08:00", "score": "0.82", "predicted_label": "1",
            "patient_id": f"PAT-{pid}", "age": "67", "sex": "F", "emphysema_grade": "mild", "scanner_vendor": "GE",
            "accession_number": accession}


def test_ground_truth_by_accession_number_links_every_prediction_of_the_exam(app: Any, tmp_path: Path) -> None:
    hasher = app.patient_hasher()
    rows = [_prediction("A1", "ACC-77001"), _prediction("A2", "ACC-77001"), _prediction("A3", "ACC-77002"),
            _prediction("A4", "")]
    sent = ingest_predictions(app.open_log(_csv(tmp_path / "p.csv", rows, P_COLUMNS)), source="p.csv", uow=app.uow,
                              hash_patient=hasher, clock=app.clock, actor="t")
    assert (sent.accepted, sent.rejected) == (4, 0)
    labels = [{"accession_number": "ACC-77001", "device_id": DEVICE, "label": "1",
               "confirmed_at": "2025-09-01T10:00:00+08:00", "source": "histopathology"},
              {"accession_number": "ACC-99999", "device_id": DEVICE, "label": "0",
               "confirmed_at": "2025-09-01T10:00:00+08:00", "source": "follow_up"},
              {"prediction_id": "A3", "accession_number": "ACC-77002", "device_id": DEVICE, "label": "0",
               "confirmed_at": "2025-09-01T10:00:00+08:00", "source": "follow_up"}]
    summary = ingest_ground_truth(app.open_log(_csv(tmp_path / "g.csv", labels, G_COLUMNS)), source="g.csv",
                                  uow=app.uow, clock=app.clock, actor="t", hash_patient=hasher)
    assert (summary.rows, summary.accepted, summary.expanded, summary.rejected) == (3, 2, 1, 2)
    assert dict(summary.reasons) == {"unknown_accession": 1, "ambiguous_case": 1}
    with app.uow() as unit:
        linked = dict(unit.connection.execute(select(ground_truth.c.prediction_id, ground_truth.c.label)).all())
        stored = unit.connection.execute(select(predictions.c.prediction_id, predictions.c.accession_hash)).all()
        rejected = unit.connection.execute(select(rejected_rows.c.record_id, rejected_rows.c.raw)).all()
    assert linked == {"A1": 1, "A2": 1}
    assert dict(stored) == {"A1": hasher("ACC-77001"), "A2": hasher("ACC-77001"), "A3": hasher("ACC-77002"),
                            "A4": None}
    dump = json.dumps([[r[0], r[1]] for r in rejected])
    assert "ACC-7700" not in dump and "ACC-99999" not in dump  # identifiers only as keyed hashes
    assert f"hmac-sha256:{hasher('ACC-99999')}" in dump

    again = ingest_ground_truth(app.open_log(_csv(tmp_path / "g2.csv", labels[:1], G_COLUMNS)), source="g2.csv",
                                uow=app.uow, clock=app.clock, actor="t", hash_patient=hasher)
    assert (again.accepted, again.duplicates) == (0, 2)  # a re-send is a duplicate for each linked prediction


def test_fhir_ground_truth_linked_only_by_accession(app: Any, tmp_path: Path) -> None:
    hasher = app.patient_hasher()
    fhir = ROOT / "examples" / "fhir"
    ingest_predictions(app.open_log(fhir / "predictions.fhir.json", kind="predictions"), source="p", uow=app.uow,
                       hash_patient=hasher, clock=app.clock, actor="t")
    bundle = json.loads((fhir / "ground-truth.fhir.json").read_text(encoding="utf-8"))
    report = copy.deepcopy(next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "DiagnosticReport"))
    report["resource"]["basedOn"] = [{"type": "ImagingStudy", "identifier": {
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "ACSN"}]},
        "value": "ACC-2025-0001"}}]
    path = tmp_path / "acsn.fhir.json"
    path.write_text(json.dumps({"resourceType": "Bundle", "type": "collection", "entry": [report]}), encoding="utf-8")
    summary = ingest_ground_truth(app.open_log(path, kind="ground_truth", device_id=DEVICE), source="acsn",
                                  uow=app.uow, clock=app.clock, actor="t", hash_patient=hasher)
    assert (summary.accepted, summary.rejected) == (1, 0), summary.as_dict()
    with app.uow() as unit:
        linked = unit.connection.execute(select(ground_truth.c.prediction_id, ground_truth.c.label)).all()
        expected = unit.connection.execute(select(predictions.c.prediction_id).where(
            predictions.c.accession_hash == hasher("ACC-2025-0001"))).scalars().all()
    assert [r[0] for r in linked] == list(expected) and len(expected) == 1 and linked[0][1] == 1
