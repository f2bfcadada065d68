"""Running an analysis and writing a report draft over HTTP, on SQLite and PostgreSQL: only the role that
may (qa), the same services and audit records as the command line, problem documents for mistakes."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from monitor.entrypoints.api import create_api
from monitor.entrypoints.api.security import AuthFailureLimiter
from monitor.service import access
from monitor.service.access import create_token
from monitor.synthetic import DemoScenario

DEVICE = "lung-nodule-ct"
SCENARIO = DemoScenario(seed=11, scale=0.02)
ANALYSES = f"/v1/devices/{DEVICE}/analyses"
REPORTS = f"/v1/devices/{DEVICE}/reports"


@pytest.fixture
def api(app, clock, monkeypatch, tmp_path):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(access, "TOKEN_PARAMS", (2**8, 8, 1))  # cheap hashes: these tests are not about the KDF
    data_dir = tmp_path / "data"
    settings = app.settings
    app.settings = (settings.model_copy(update={"data_dir": data_dir}) if hasattr(settings, "model_copy")
                    else replace(settings, data_dir=data_dir))
    tokens = {role: create_token(app.uow, name=role, role=role, clock=clock, actor="pytest",
                                 device_id=DEVICE if role == "device" else None)[1]
              for role in ("device", "qa", "auditor", "admin", "operations")}
    client = TestClient(create_api(app, limiter=AuthFailureLimiter(limit=10_000)), raise_server_exceptions=False)
    client.tokens = tokens  # type: ignore[attr-defined]
    return client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def problem(response, status: int) -> dict:  # type: ignore[no-untyped-def, type-arg]
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["detail"]
    return body  # type: ignore[no-any-return]


def test_only_qa_may_run_analyses_and_write_reports(api) -> None:  # type: ignore[no-untyped-def]
    for path, body in ((ANALYSES, {"period": "2025Q3"}), (REPORTS, {"period": "2025Q3", "formats": ["json"]})):
        problem(api.post(path, json=body), 401)
        problem(api.post(path, json=body, headers=bearer("smt_0123456789abcdef_" + "A" * 43)), 401)
        for role in ("device", "auditor", "admin", "operations"):
            assert problem(api.post(path, json=body, headers=bearer(api.tokens[role])), 403)["title"] == "Forbidden"
        # qa may: nothing ingested yet, so the analysis finds no data and there is no run to report
        assert api.post(path, json=body, headers=bearer(api.tokens["qa"])).status_code in (201, 404, 422)


def test_analysis_then_report_as_the_command_line_does(api, app, ingest_scenario) -> None:  # type: ignore[no-untyped-def]
    ingest_scenario(SCENARIO)
    qa = bearer(api.tokens["qa"])
    response = api.post(ANALYSES, json={"period": "2025Q3"}, headers=qa)
    assert response.status_code == 201, response.text
    run = response.json()
    assert response.headers["location"] == f"/v1/runs/{run['run_id']}"
    assert run["device_id"] == DEVICE and run["period"] == "2025Q3" and run["predictions"] > 0
    assert run["flagged"] == len(run["findings"])
    stored = api.get(response.headers["location"], headers=qa).json()
    assert stored["run_id"] == run["run_id"] and stored["document"]["summary"]["strata"] == run["strata"]

    response = api.post(REPORTS, json={"period": "2025Q3", "formats": ["json", "csv"]}, headers=qa)
    assert response.status_code == 201, response.text
    report = response.json()
    assert report["run_id"] == run["run_id"] and report["revision"] == 1 and report["status"] == "draft"
    folder = app.settings.data_dir / "reports"
    for file in report["files"]:  # written into the service's report folder, as recorded
        assert hashlib.sha256((folder / file["name"]).read_bytes()).hexdigest() == file["sha256"]
    assert "/" not in "".join(f["name"] for f in report["files"])  # names only: no server paths in answers
    unexplained = api.post(REPORTS, json={"period": "2025Q3", "formats": ["json"], "run_id": run["run_id"]},
                           headers=qa)
    assert unexplained.status_code == 422 and "reason" in unexplained.text  # a second revision needs a reason
    second = api.post(REPORTS, json={"period": "2025Q3", "formats": ["json"], "run_id": run["run_id"],
                                     "reason": "re-run on the same analysis"}, headers=qa)
    assert second.status_code == 201 and second.json()["revision"] == 2

    audit = api.get("/v1/audit", headers=bearer(api.tokens["auditor"])).json()["items"]
    done = {(a["action"], a["entity_id"]): a["actor"] for a in audit}
    assert done[("analysis.run", run["run_id"])] == "token:qa"  # audited with the caller as the actor
    assert done[("report.generate", report["report_id"])] == "token:qa"
    assert done[("report.supersede", report["report_id"])] == "token:qa"
    revisions = api.get("/v1/report-revisions", params={"device_id": DEVICE}, headers=qa).json()["items"]
    assert {r["revision"] for r in revisions} == {1, 2}


def test_mistakes_are_problem_documents(api) -> None:  # type: ignore[no-untyped-def]
    qa = bearer(api.tokens["qa"])
    for body in ({"period": "2025-Q3"}, {"period": "Q3"}, {}, {"period": "2025Q3", "cutoff": "2025-10-01T00:00:00"},
                 {"period": "2025Q3", "extra": 1, "cutoff": "yesterday"}):
        problem(api.post(ANALYSES, json=body, headers=qa), 422)
    problem(api.post("/v1/devices/no-such-device/analyses", json={"period": "2025Q3"}, headers=qa), 404)
    problem(api.post("/v1/devices/bad%20id/analyses", json={"period": "2025Q3"}, headers=qa), 422)
    for body in ({"period": "2025Q3", "formats": ["docx"]}, {"period": "2025Q3", "languages": ["fr"]},
                 {"period": "2025Q3", "formats": []}, {"period": "2025Q3", "run_id": "../../etc"}):
        problem(api.post(REPORTS, json=body, headers=qa), 422)
    problem(api.post(REPORTS, json={"period": "2024Q1", "formats": ["json"]}, headers=qa), 404)  # no run to report
