"""Identifiers planted in every position of every input never come out (issue 15, "planted identifiers").

Patient ids, accession numbers, patient names and a study UID are planted in CSV values, a header-less CSV,
bad rows, NDJSON lines, a FHIR Bundle's Patient (identifier and name), a DICOM SR's PatientID /
PatientName / AccessionNumber tags and file names; the files go in through the CLI and the API, then
``analyze`` and ``report`` (HTML, JSON, CSV) run. Every output is scanned: the CLI's stdout and stderr,
API responses, log records, every text of every table, and every file written.

By design a ``study_uid`` is stored in the clear (it links ground truth to studies: docs/ingestion.md), so
the study UID is looked for everywhere except the database.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from monitor.adapters.db.tables import metadata
from monitor.entrypoints.api import create_api
from monitor.entrypoints.api.security import AuthFailureLimiter
from monitor.entrypoints.cli import app as cli
from monitor.service import access
from monitor.service.access import create_token, create_user

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "adapters" / "formats"))
from sr_factory import ct_image, measurement_report  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DEVICE = "lung-nodule-ct"
PID, ACC, NAME, UID = "ZQPID4471", "ZQACC9083", "Zqplanted", "1.2.826.0.1.3680043.8.498.99817"
PLANTED = (PID, ACC, NAME)
HEADER = ("prediction_id,device_id,model_version,site_id,predicted_at,score,predicted_label,patient_id,age,"
          "accession_number\n")


def row(i: int, *, score: str = "0.8", at: str = "2025-08-01T09:15:00+08:00") -> str:
    return f"PL{i},{DEVICE},2.1.0,SH-01,{at},{score},{i % 2},{PID}{i:02d},67,{ACC}{i:02d}\n"


def fhir_bundle() -> bytes:
    bundle = json.loads((ROOT / "examples" / "fhir" / "predictions.fhir.json").read_text(encoding="utf-8"))
    for number, entry in enumerate(bundle["entry"]):
        resource = entry["resource"]
        if resource["resourceType"] == "Patient":
            resource["identifier"][0]["value"] = f"{PID}F{number}"
            resource["name"] = [{"family": NAME, "given": ["Ann"], "text": f"{NAME} Ann"}]
    return json.dumps(bundle).encode()


def dicom_sr(folder: Path) -> Path:
    image = ct_image()
    image.PatientID, image.PatientName, image.AccessionNumber = f"{PID}S", f"{NAME}^Ann", f"{ACC}S"
    report = measurement_report(image)
    report.PatientID, report.PatientName, report.AccessionNumber = f"{PID}S", f"{NAME}^Ann", f"{ACC}S"
    path = folder / f"sr-{PID}S.dcm"
    report.save_as(path)
    return path


def database_text(app: Any) -> str:
    """Every value of every table as text (study_uid columns left out: stored in the clear by design)."""
    parts = []
    with app.engine.connect() as conn:
        for table in metadata.sorted_tables:
            for record in conn.execute(select(table)).mappings():
                parts += [f"{table.name}.{k}={v}" for k, v in record.items()]
    return "\n".join(parts)


def files_text(folder: Path) -> str:
    return "\n".join(f"{p.name}\n{p.read_bytes().decode('utf-8', 'replace')}" for p in sorted(folder.rglob("*"))
                     if p.is_file())


def test_planted_identifiers_come_out_nowhere(app: Any, database_url: str, clock: Any, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="monitor")
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    out.mkdir()
    monkeypatch.setenv("MONITOR_DATABASE_URL", database_url)
    monkeypatch.setenv("MONITOR_PATIENT_ID_KEY", "planted-test-key-0123456789")
    create_user(app.uow, user_id="planted-tester", display_name="Planted tester", role="qa", password=None,
                clock=app.clock, actor="admin")
    monkeypatch.setenv("MONITOR_USER", "planted-tester")  # the named user the commands act as
    seen: list[str] = []  # everything a user or an operator could see

    def run(*args: str) -> int:
        result = CliRunner().invoke(cli, list(args))
        seen.extend([result.output, repr(result.exception) if result.exception else ""])
        return result.exit_code

    # CLI: a CSV named after one of its own patients and accessions, with a bad row holding identifiers in
    # the wrong columns; a header-less CSV; an NDJSON file with a line that is not JSON; a DICOM SR.
    named = inputs / f"visit-{PID}01-{ACC}02.csv"
    named.write_text(HEADER + "".join(row(i) for i in range(1, 9))
                     + row(9, score=f"{PID}09", at=f"{ACC}09") + row(10, score="7"))
    assert run("ingest", "predictions", str(named), "--json") == 0
    headerless = inputs / "headerless.csv"
    headerless.write_text(row(11) + row(12))
    assert run("ingest", "predictions", str(headerless)) != 0
    lines = inputs / "lines.ndjson"
    lines.write_text(json.dumps({"prediction_id": "PL20", "device_id": DEVICE, "model_version": "2.1.0",
                                 "site_id": "SH-01", "predicted_at": "2025-08-02T09:15:00Z", "score": 0.4,
                                 "predicted_label": 0, "patient_id": f"{PID}20", "accession_number": f"{ACC}20"})
                     + f"\n{{\"patient_id\": \"{PID}21\", oops\n")
    assert run("ingest", "predictions", str(lines), "--json") == 0
    sr_folder = inputs / "sr"
    sr_folder.mkdir()
    sr = dicom_sr(sr_folder)
    run("ingest", "predictions", str(sr), "--device", DEVICE, "--json")
    truth = inputs / "truth.csv"
    truth.write_text("prediction_id,device_id,label,confirmed_at,source,accession_number\n"
                     + "".join(f"PL{i},{DEVICE},{i % 2},2025-08-20T10:00:00Z,histopathology,\n" for i in range(1, 9))
                     + f",{DEVICE},1,2025-08-20T10:00:00Z,histopathology,{ACC}404\n")
    assert run("ingest", "ground-truth", str(truth), "--json") == 0

    # API: NDJSON with a bad line, a JSON array with a bad record, a header-less CSV body, a FHIR Bundle.
    monkeypatch.setattr(access, "TOKEN_PARAMS", (2**8, 8, 1))
    token = create_token(app.uow, name="gw", role="device", device_id=DEVICE, clock=clock, actor="pytest")[1]
    api = TestClient(create_api(app, limiter=AuthFailureLimiter(limit=10_000)), raise_server_exceptions=False)
    api.headers["Authorization"] = f"Bearer {token}"
    record = {"prediction_id": "PL30", "model_version": "2.1.0", "site_id": "SH-01", "predicted_at": f"{PID}30",
              "score": 0.3, "predicted_label": 0, "patient_id": f"{PID}30", "accession_number": f"{ACC}30"}
    url = f"/v1/devices/{DEVICE}/predictions"
    for body, media in ((json.dumps(record).encode() + f"\n{PID}31 {NAME}\n".encode(), "application/x-ndjson"),
                        (json.dumps([record | {"prediction_id": "PL32", "predicted_at": "2025-08-03T00:00:00Z"},
                                     f"{PID}33"]).encode(), "application/json"),
                        (row(34).encode(), "text/csv"),
                        (fhir_bundle(), "application/fhir+json")):
        response = api.post(url, content=body, headers={"Content-Type": media})
        assert response.status_code < 500, response.text
        seen.append(response.text)
    seen.append(api.get("/v1/rejected-rows", params={"limit": 500}).text)

    # analysis and reports (the storage part runs on both engines; reports, engine-independent, on SQLite)
    sqlite = database_url.startswith("sqlite")
    if sqlite:
        assert run("analyze", "--device", DEVICE, "--period", "2025Q3", "--json") == 0
        assert run("report", "--device", DEVICE, "--period", "2025Q3", "--format", "html,json,csv",
                   "--out-dir", str(out)) == 0
    assert run("ingest", "rejected", "--out", str(out / "rejected.csv"), "--kind", "predictions") == 0

    stored = database_text(app)
    assert "[identifier]" in stored  # the named file's batch is recorded under its masked name
    shown = "\n".join([*seen, caplog.text, files_text(out)])
    assert not sqlite or any(Path(p).suffix == ".html" for p in out.rglob("*")), "no report was written"
    for planted in PLANTED:
        for where, text in (("database", stored), ("outputs, logs and files", shown)):
            assert planted.lower() not in text.lower(), (planted, where, _around(text, planted))
    assert UID not in shown, _around(shown, UID)


def _around(text: str, planted: str) -> str:
    at = text.lower().find(planted.lower())
    return text[max(0, at - 200):at + 100]
