"""``GET /metrics`` scraped like Prometheus does, on SQLite and PostgreSQL: who may scrape (docs/api.md),
request counts and latencies by route template, ingested rows by outcome, scheduler job runs by job and
outcome; and the access log written as fields with a request id."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from monitor import __version__
from monitor.adapters.config_file import load_device_config
from monitor.entrypoints.api import create_api
from monitor.entrypoints.api.security import AuthFailureLimiter
from monitor.entrypoints.logs import JsonFormatter
from monitor.errors import InputError
from monitor.service import access
from monitor.service.access import create_token
from monitor.service.devices import register_device
from monitor.service.jobs import JobOutcome, run_job

ROOT = Path(__file__).resolve().parents[2]
DEVICE = "lung-nodule-ct"
PATIENT_PREFIX = "MRN-METRICS-"


def records(n: int, *, start: int = 0, score: float | None = None) -> list[dict[str, Any]]:
    return [{"prediction_id": f"m-{i:05d}", "model_version": "2.1.0", "site_id": "site-a",
             "predicted_at": "2026-01-10T08:00:00Z", "score": 0.7 if score is None else score, "predicted_label": 1,
             "patient_id": f"{PATIENT_PREFIX}{i:05d}", "age": 60, "sex": "F", "emphysema_grade": "none",
             "scanner_vendor": "GE"} for i in range(start, start + n)]


@pytest.fixture
def api(app, clock, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(access, "TOKEN_PARAMS", (2**8, 8, 1))  # cheap hashes: these tests are not about the KDF
    register_device(load_device_config(ROOT / "examples" / "lung-nodule-ct.yaml"), uow=app.uow, clock=clock,
                    actor="pytest", source="test")
    tokens = {role: create_token(app.uow, name=role, role=role, clock=clock, actor="pytest")[1]
              for role in ("qa", "auditor", "admin", "operations")}
    tokens["device"] = create_token(app.uow, name="gw", role="device", device_id=DEVICE, clock=clock,
                                    actor="pytest")[1]
    client = TestClient(create_api(app, limiter=AuthFailureLimiter(limit=10_000)), raise_server_exceptions=False)
    client.tokens = tokens  # type: ignore[attr-defined]
    return client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def scrape(api) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:  # type: ignore[no-untyped-def]
    response = api.get("/metrics", headers=bearer(api.tokens["operations"]))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def value(samples, name: str, **labels: str) -> float:  # type: ignore[no-untyped-def]
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_who_may_scrape(api) -> None:  # type: ignore[no-untyped-def]
    assert api.get("/metrics").status_code == 401
    assert api.get("/metrics", headers=bearer("smt_0123456789abcdef_" + "A" * 43)).status_code == 401
    for role, status in {"operations": 200, "admin": 200, "qa": 403, "auditor": 403, "device": 403}.items():
        response = api.get("/metrics", headers=bearer(api.tokens[role]))
        assert response.status_code == status, (role, response.text)
        if status == 403:
            assert response.headers["content-type"] == "application/problem+json"
    # the operations role reads metrics and nothing else
    operations = bearer(api.tokens["operations"])
    assert api.get("/v1/devices", headers=operations).status_code == 403
    assert api.get("/v1/audit", headers=operations).status_code == 403
    assert api.post(f"/v1/devices/{DEVICE}/predictions", json=records(1), headers=operations).status_code == 403
    assert api.post(f"/v1/devices/{DEVICE}/analyses", json={"period": "2026Q1"}, headers=operations).status_code == 403


def test_requests_and_ingested_rows_are_counted(api) -> None:  # type: ignore[no-untyped-def]
    device = bearer(api.tokens["device"])
    first = api.post(f"/v1/devices/{DEVICE}/predictions", json=records(5), headers=device)
    assert first.status_code == 200 and first.json()["accepted"] == 5
    again = api.post(f"/v1/devices/{DEVICE}/predictions", json=records(5) + records(2, start=5, score=7.0),
                     headers=device)
    assert again.json()["duplicates"] == 5 and again.json()["rejected"] == 2
    api.get("/v1/devices/lung-nodule-ct", headers=bearer(api.tokens["auditor"]))
    api.get(f"/no/such/{PATIENT_PREFIX}1")
    api.get("/static/docs.js")
    samples = scrape(api)
    rows = "samd_monitor_ingested_rows_total"
    assert value(samples, rows, kind="predictions", outcome="accepted", source="api") == 5
    assert value(samples, rows, kind="predictions", outcome="duplicate", source="api") == 5
    assert value(samples, rows, kind="predictions", outcome="rejected", source="api") == 2
    assert value(samples, rows, kind="ground_truth", outcome="accepted", source="drop_folder") == 0  # present at 0
    requests = "samd_monitor_http_requests_total"
    route = "/v1/devices/{device_id}/predictions"
    assert value(samples, requests, method="POST", route=route, status="200") == 2
    assert value(samples, requests, method="GET", route="/v1/devices/{device_id}", status="200") == 1
    assert value(samples, requests, method="GET", route="<unmatched>", status="404") == 1
    assert value(samples, requests, method="GET", route="/static/{path}", status="200") == 1
    latency = "samd_monitor_http_request_duration_seconds"
    assert value(samples, latency + "_count", method="POST", route=route) == 2
    assert value(samples, latency + "_sum", method="POST", route=route) > 0
    assert value(samples, latency + "_bucket", method="POST", route=route, le="+Inf") == 2
    assert value(samples, "samd_monitor_build_info", version=__version__) == 1
    assert any(name == "python_info" for name, _ in samples)
    text = api.get("/metrics", headers=bearer(api.tokens["admin"])).text
    assert PATIENT_PREFIX not in text and "lung-nodule-ct" not in text  # route templates only, never values


def test_job_runs_are_counted_by_job_and_outcome(api, app, clock) -> None:  # type: ignore[no-untyped-def]
    metrics = api.app.state.metrics
    stop = metrics.watch_jobs()
    try:
        run_job("housekeeping", "housekeeping", lambda: {}, uow=app.uow, clock=clock, host="h")
        run_job("report", "report:x", lambda: {"report_id": "r"}, uow=app.uow, clock=clock, host="h", once=True)
        run_job("report", "report:x", lambda: {}, uow=app.uow, clock=clock, host="h", once=True)  # already done

        def broken() -> None:
            raise InputError("no data")

        run_job("nightly-analysis", "analysis:x", broken, uow=app.uow, clock=clock, host="h")
    finally:
        stop()
    run_job("housekeeping", "housekeeping", lambda: {}, uow=app.uow, clock=clock, host="h")  # not watched any more
    # a drop-folder scan counts the rows of the files it ingested (the counts of its job details)
    metrics.observe_job("drop-folder", JobOutcome(1, "succeeded", {"files": [
        {"kind": "predictions", "outcome": "done", "accepted": 7, "duplicates": 1, "rejected": 2},
        {"kind": "ground_truth", "outcome": "done", "accepted": 3, "duplicates": 0, "rejected": 0},
        {"kind": "predictions", "outcome": "failed", "error": "missing columns"}]}))
    samples = scrape(api)
    runs = "samd_monitor_job_runs_total"
    assert value(samples, runs, job="housekeeping", outcome="succeeded") == 1
    assert value(samples, runs, job="report", outcome="succeeded") == 1
    assert value(samples, runs, job="report", outcome="skipped") == 1
    assert value(samples, runs, job="nightly-analysis", outcome="failed") == 1
    assert value(samples, runs, job="drop-folder", outcome="succeeded") == 1
    rows = "samd_monitor_ingested_rows_total"
    assert value(samples, rows, kind="predictions", outcome="accepted", source="drop_folder") == 7
    assert value(samples, rows, kind="predictions", outcome="rejected", source="drop_folder") == 2
    assert value(samples, rows, kind="ground_truth", outcome="accepted", source="drop_folder") == 3


def test_access_log_is_fields_with_a_request_id(api, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.INFO)
    token = api.tokens["device"]
    response = api.post(f"/v1/devices/{DEVICE}/predictions?note={PATIENT_PREFIX}9", json=records(3),
                        headers=bearer(token))
    request_id = response.headers["x-request-id"]
    assert len(request_id) == 32
    denied = api.get("/v1/audit", headers=bearer(token))
    formatter = JsonFormatter()
    server = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]  # the test client's own
    lines = [json.loads(formatter.format(r)) for r in server]
    access_lines = [line for line in lines if line["logger"] == "monitor.access"]
    assert len(access_lines) == 2
    first, second = access_lines
    assert first["message"] == "request"  # the items are fields, not text in the message
    assert {k: first[k] for k in ("event", "method", "route", "status", "request_id", "token_id")} == {
        "event": "request", "method": "POST", "route": "/v1/devices/{device_id}/predictions", "status": 200,
        "request_id": request_id, "token_id": token.split("_")[1]}
    assert isinstance(first["duration_ms"], float) and first["duration_ms"] > 0
    assert second["status"] == 403 and second["request_id"] == denied.headers["x-request-id"] != request_id
    # the denial record of that request carries the same request id
    denial = next(line for line in lines if line.get("event") == "request_denied")
    assert denial["request_id"] == second["request_id"]
    text = "\n".join(formatter.format(r) for r in server)
    assert token.split("_", 2)[2] not in text and PATIENT_PREFIX not in text
