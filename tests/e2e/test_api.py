"""The HTTP API through FastAPI's TestClient, on SQLite and PostgreSQL: access control for every role
and endpoint, ingest round trips, size limits, problem documents, the OpenAPI contract, and logs free of
secrets and patient identifiers."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from sqlalchemy import func, select

from monitor.adapters.config_file import load_device_config
from monitor.adapters.db.tables import (
    ground_truth,
    prediction_failures,
    predictions,
    rejected_rows,
)
from monitor.entrypoints.api import create_api
from monitor.entrypoints.api.security import AuthFailureLimiter
from monitor.entrypoints.logs import JsonFormatter
from monitor.service import access
from monitor.service.access import create_token, revoke_token
from monitor.service.devices import register_device

ROOT = Path(__file__).resolve().parents[2]
DEVICE = "lung-nodule-ct"
OTHER = "other-device"
PATIENT_PREFIX = "MRN-SECRET-"
SCHEMAS = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in (ROOT / "schemas").glob("*.schema.json")}
BATCH_SUMMARY = jsonschema.Draft202012Validator(SCHEMAS["batch_summary.schema.json"], registry=Registry().with_resources(
    (s["$id"], Resource.from_contents(s, default_specification=DRAFT202012)) for s in SCHEMAS.values()))


def prediction_records(n: int, *, start: int = 0, device: str | None = DEVICE) -> list[dict[str, Any]]:
    """``n`` valid prediction records."""
    records = []
    for i in range(start, start + n):
        record = {"prediction_id": f"p-{i:06d}", "model_version": "2.1.0", "site_id": f"site-{i % 3}",
                  "predicted_at": f"2026-01-{1 + i % 28:02d}T08:{i % 60:02d}:00Z", "score": round((i % 100) / 100, 2),
                  "predicted_label": int(i % 100 >= 50), "patient_id": f"{PATIENT_PREFIX}{i:06d}",
                  "age": 40 + i % 45, "sex": "FM"[i % 2], "emphysema_grade": "none", "scanner_vendor": "GE"}
        if device is not None:
            record["device_id"] = device
        records.append(record)
    return records


def truth_records(n: int) -> list[dict[str, Any]]:
    return [{"prediction_id": f"p-{i:06d}", "label": i % 2, "confirmed_at": "2026-01-29T10:00:00Z",
             "source": "histopathology"} for i in range(n)]


def ndjson(records: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def count(app, table) -> int:  # type: ignore[no-untyped-def]
    with app.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


@pytest.fixture
def api(app, clock, monkeypatch):  # type: ignore[no-untyped-def]
    """A TestClient over the API, with tokens of every kind in ``api.tokens``.

    Token hashes use a cheap scrypt cost here (the cost is recorded in each hash, and
    tests/integration/test_access.py checks the real one): these tests are about access, not the KDF.
    """
    monkeypatch.setattr(access, "TOKEN_PARAMS", (2**8, 8, 1))
    config = load_device_config(ROOT / "examples" / "lung-nodule-ct.yaml")
    other = config.model_copy(update={"device": config.device.model_copy(update={"id": OTHER})})
    register_device(other, uow=app.uow, clock=clock, actor="pytest", source="test")
    tokens: dict[str, str] = {}
    for role in ("qa", "auditor", "admin"):
        tokens[role] = create_token(app.uow, name=role, role=role, clock=clock, actor="pytest")[1]
    tokens["device"] = create_token(app.uow, name="gw", role="device", device_id=DEVICE, clock=clock, actor="pytest")[1]
    tokens["other_device"] = create_token(app.uow, name="gw2", role="device", device_id=OTHER, clock=clock,
                                          actor="pytest")[1]
    tokens["expired"] = create_token(app.uow, name="old", role="qa", expires_in=timedelta(seconds=1), clock=clock,
                                     actor="pytest")[1]
    revoked_id, tokens["revoked"] = create_token(app.uow, name="gone", role="qa", clock=clock, actor="pytest")
    revoke_token(app.uow, revoked_id, clock=clock, actor="pytest")
    tokens["malformed"] = "smt_not-a-token"
    tokens["unknown"] = "smt_0123456789abcdef_" + "A" * 43
    client = TestClient(create_api(app, max_body_bytes=64 * 1024, limiter=AuthFailureLimiter(limit=10_000)),
                        raise_server_exceptions=False)
    client.tokens = tokens  # type: ignore[attr-defined]
    client.app_ = app  # type: ignore[attr-defined]
    return client


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- access control: each credential x each kind of endpoint ----------------------------------------------------
ENDPOINTS = {
    # name: (method, path, body)
    "ingest_own": ("POST", f"/v1/devices/{DEVICE}/predictions", prediction_records(2)),
    "ingest_gt": ("POST", f"/v1/devices/{DEVICE}/ground-truth", truth_records(1)),
    "devices": ("GET", "/v1/devices", None),
    "device": ("GET", f"/v1/devices/{DEVICE}", None),
    "periods": ("GET", f"/v1/devices/{DEVICE}/periods", None),
    "runs": ("GET", "/v1/runs", None),
    "results": ("GET", "/v1/runs/no-such-run/results", None),
    "findings": ("GET", "/v1/findings", None),
    "tickets": ("GET", "/v1/tickets", None),
    "ticket": ("GET", "/v1/tickets/T-0001", None),
    "report_files": ("GET", "/v1/report-files", None),
    "report_download": ("GET", "/v1/report-files/1/content", None),
    "report_revisions": ("GET", "/v1/report-revisions", None),
    "batches": ("GET", "/v1/batches", None),
    "rejected": ("GET", "/v1/rejected-rows", None),
    "audit": ("GET", "/v1/audit", None),
    "comment": ("POST", "/v1/tickets/T-0001/comments", {"body": "looked at it"}),
    "transition": ("POST", "/v1/tickets/T-0001/transitions", {"to_status": "triaged", "reason": "r"}),
}
READS = {"devices", "device", "periods", "runs", "results", "findings", "tickets", "ticket", "report_files",
         "report_download", "report_revisions", "batches", "rejected", "audit"}
WRITES_LOGS = {"ingest_own", "ingest_gt"}
TICKET_WRITES = {"comment", "transition"}
ALLOWED = {
    "qa": READS | WRITES_LOGS | TICKET_WRITES,
    "auditor": READS,
    "admin": READS,
    "device": WRITES_LOGS,
    "other_device": set(),
}


def _call(api, endpoint: str, headers: dict[str, str]):  # type: ignore[no-untyped-def]
    method, path, body = ENDPOINTS[endpoint]
    return api.request(method, path, json=body, headers=headers)


def test_bad_credentials_get_401_everywhere(api, clock) -> None:  # type: ignore[no-untyped-def]
    clock.now += timedelta(minutes=1)  # the expired token's second is over
    wrong_secret = api.tokens["qa"][:-3] + ("xyz" if not api.tokens["qa"].endswith("xyz") else "abc")
    for credential in ("none", "expired", "revoked", "malformed", "unknown", "wrong_secret", "basic"):
        headers = {"none": {}, "wrong_secret": auth(wrong_secret), "basic": {"Authorization": "Basic cXE6cXE="}}.get(
            credential) if credential in ("none", "wrong_secret", "basic") else auth(api.tokens[credential])
        for endpoint in ENDPOINTS:
            response = _call(api, endpoint, headers)
            assert response.status_code == 401, (credential, endpoint, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert response.headers["www-authenticate"].startswith("Bearer")


def test_role_matrix_over_every_endpoint(api) -> None:  # type: ignore[no-untyped-def]
    for role in sorted(ALLOWED):
        for endpoint in ENDPOINTS:
            response = _call(api, endpoint, auth(api.tokens[role]))
            if endpoint in ALLOWED[role]:
                assert response.status_code in (200, 201, 404), (role, endpoint, response.status_code, response.text)
            else:
                assert response.status_code == 403, (role, endpoint, response.status_code, response.text)
                problem = response.json()
                assert problem["status"] == 403 and problem["title"] == "Forbidden" and problem["detail"]


def test_device_token_writes_only_its_own_device(api) -> None:  # type: ignore[no-untyped-def]
    response = api.post(f"/v1/devices/{OTHER}/predictions", json=prediction_records(1), headers=auth(api.tokens["device"]))
    assert response.status_code == 403
    response = api.post(f"/v1/devices/{OTHER}/predictions", json=prediction_records(1, device=OTHER),
                        headers=auth(api.tokens["other_device"]))
    assert response.status_code == 200 and response.json()["accepted"] == 1
    # rows naming another device than the URL's are rejected, never stored
    mixed = prediction_records(2, start=10) + prediction_records(1, start=20, device=OTHER)
    response = api.post(f"/v1/devices/{DEVICE}/predictions", json=mixed, headers=auth(api.tokens["device"]))
    summary = response.json()
    assert (summary["accepted"], summary["rejected"], summary["reasons"]) == (2, 1, {"device_mismatch": 1})
    with api.app_.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(predictions)
                            .where(predictions.c.device_id == OTHER)).scalar_one() == 1


# --- ingest round trips ------------------------------------------------------------------------------------------
def test_json_and_ndjson_round_trip(api) -> None:  # type: ignore[no-untyped-def]
    token = auth(api.tokens["device"])
    sent = prediction_records(300)
    first = api.post(f"/v1/devices/{DEVICE}/predictions", json=sent[:150], headers=token)
    second = api.post(f"/v1/devices/{DEVICE}/predictions", content=ndjson([
        {k: v for k, v in r.items() if k != "device_id"} for r in sent[150:]]),
        headers=token | {"Content-Type": "application/x-ndjson"})
    for response in (first, second):
        assert response.status_code == 200, response.text
        BATCH_SUMMARY.validate(response.json())
    assert first.json()["accepted"] + second.json()["accepted"] == 300 == count(api.app_, predictions)
    again = api.post(f"/v1/devices/{DEVICE}/predictions", json=sent[:150], headers=token).json()
    assert (again["accepted"], again["duplicates"]) == (0, 150) and count(api.app_, predictions) == 300
    truth = api.post(f"/v1/devices/{DEVICE}/ground-truth", content=ndjson(truth_records(120)),
                     headers=token | {"Content-Type": "application/x-ndjson; charset=utf-8"})
    assert truth.status_code == 200 and truth.json()["accepted"] == 120 == count(api.app_, ground_truth)
    batches = api.get("/v1/batches", params={"limit": 2}, headers=auth(api.tokens["auditor"])).json()
    assert [b["kind"] for b in batches["items"]] == ["ground_truth", "predictions"] and batches["next_offset"] == 2


def test_fhir_bundles_round_trip(api) -> None:  # type: ignore[no-untyped-def]
    token = auth(api.tokens["device"]) | {"Content-Type": "application/fhir+json"}
    sent = {}
    for kind, path in (("predictions", "predictions"), ("ground_truth", "ground-truth")):
        body = (ROOT / "examples" / "fhir" / f"{path}.fhir.json").read_bytes()
        response = api.post(f"/v1/devices/{DEVICE}/{path}", content=body, headers=token)
        assert response.status_code == 200, response.text
        BATCH_SUMMARY.validate(response.json())
        sent[kind] = response.json()
    assert sent["predictions"]["accepted"] >= 1
    stored = count(api.app_, predictions)
    with api.app_.engine.connect() as conn:
        failures = conn.execute(select(func.count()).select_from(prediction_failures)).scalar_one()
    assert stored + failures == sent["predictions"]["accepted"]
    assert count(api.app_, ground_truth) == sent["ground_truth"]["accepted"] >= 1


def test_rejected_rows_are_reported_and_listed(api) -> None:  # type: ignore[no-untyped-def]
    records = prediction_records(3)
    records[1]["score"] = 7.5
    records.append(["not", "an", "object"])  # type: ignore[arg-type]
    summary = api.post(f"/v1/devices/{DEVICE}/predictions", json=records, headers=auth(api.tokens["qa"])).json()
    assert (summary["rows"], summary["accepted"], summary["rejected"]) == (4, 2, 2)
    assert count(api.app_, rejected_rows) == 2
    listed = api.get("/v1/rejected-rows", params={"batch_id": summary["batch_id"]}, headers=auth(api.tokens["qa"]))
    rows = listed.json()["items"]
    assert [r["row_number"] for r in rows] == [2, 4]
    assert all(PATIENT_PREFIX not in json.dumps(r) for r in rows)


def test_body_size_limit_is_413_before_reading(api) -> None:  # type: ignore[no-untyped-def]
    big = ndjson(prediction_records(600))
    assert len(big) > 64 * 1024
    response = api.post(f"/v1/devices/{DEVICE}/predictions", content=big,
                        headers=auth(api.tokens["device"]) | {"Content-Type": "application/x-ndjson"})
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert "limit" in response.json()["detail"] and count(api.app_, predictions) == 0

    def chunked():  # no Content-Length: counted while streaming
        for start in range(0, len(big), 8192):
            yield big[start:start + 8192]

    response = api.post(f"/v1/devices/{DEVICE}/predictions", content=chunked(),
                        headers=auth(api.tokens["device"]) | {"Content-Type": "application/x-ndjson"})
    assert response.status_code == 413


UNUSABLE = [
    (b"{not json", "application/json", 400),
    (b'{"prediction_id": "x"}', "application/json", 400),
    (b"", "application/json", 400),
    (b"a,b\n1,2\n", "text/csv", 415),
    (b'[{"prediction_id": "p-1"}]', "application/json", 422),
]


def test_unusable_bodies_get_problem_documents(api) -> None:  # type: ignore[no-untyped-def]
    for body, content_type, status in UNUSABLE:
        response = api.post(f"/v1/devices/{DEVICE}/predictions", content=body,
                            headers=auth(api.tokens["device"]) | {"Content-Type": content_type})
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert set(problem) >= {"type", "title", "status", "detail"} and problem["status"] == status


def test_unknown_device_and_bad_parameters(api) -> None:  # type: ignore[no-untyped-def]
    response = api.post("/v1/devices/nope/predictions", json=prediction_records(1), headers=auth(api.tokens["qa"]))
    assert response.status_code == 404 and response.json()["title"] == "Not found"
    response = api.get("/v1/devices", params={"limit": 0}, headers=auth(api.tokens["qa"]))
    assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
    assert api.get("/v1/nowhere").status_code == 404


def test_health_ready_and_openapi(api) -> None:  # type: ignore[no-untyped-def]
    assert api.get("/health").json() == {"status": "alive"}
    # without a scheduler in the process (serve --no-scheduler) only the database is checked
    assert api.get("/ready").json() == {"status": "ready", "database": "ok", "scheduler": None,
                                        "scheduler_running": None}
    doc = api.get("/openapi.json", headers=auth(api.tokens["auditor"])).json()  # the document needs a token
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    post = doc["paths"]["/v1/devices/{device_id}/predictions"]["post"]
    assert set(post["requestBody"]["content"]) == {"application/json", "application/x-ndjson", "application/fhir+json"}
    assert {"401", "403", "413", "429"} <= set(post["responses"])


def test_failed_authentications_are_rate_limited(app) -> None:  # type: ignore[no-untyped-def]
    client = TestClient(create_api(app, limiter=AuthFailureLimiter(limit=3, window=60)))
    statuses = [client.get("/v1/devices", headers=auth("smt_wrong")).status_code for _ in range(5)]
    assert statuses == [401, 401, 401, 429, 429]
    blocked = client.get("/v1/devices", headers=auth("smt_wrong"))
    assert 1 <= int(blocked.headers["retry-after"]) <= 60 and blocked.json()["status"] == 429


def test_ticket_comment_and_transition(api, app, clock) -> None:  # type: ignore[no-untyped-def]
    with app.uow() as unit:
        ticket_id = unit.tickets.create(device_id=DEVICE, model_version="2.1.0", stratum="sex=F", metric="sensitivity",
                                        title="Sensitivity below claim", at=clock())
    qa = auth(api.tokens["qa"])
    response = api.post(f"/v1/tickets/{ticket_id}/comments", json={"body": "checking site-2"}, headers=qa)
    assert response.status_code == 201 and response.json()["comments"][0]["body"] == "checking site-2"
    response = api.post(f"/v1/tickets/{ticket_id}/transitions", json={"to_status": "triaged", "reason": "real"},
                        headers=qa)
    assert response.status_code == 200 and response.json()["status"] == "triaged"
    response = api.post(f"/v1/tickets/{ticket_id}/transitions", json={"to_status": "open", "reason": "x"}, headers=qa)
    assert response.status_code in (409, 422) and response.json()["status"] == response.status_code
    audit = api.get("/v1/audit", params={"entity": "ticket"}, headers=auth(api.tokens["auditor"])).json()["items"]
    assert {a["action"] for a in audit} >= {"ticket.comment", "ticket.transition"}


# --- logs -------------------------------------------------------------------------------------------------------
def test_logs_hold_no_secret_or_patient_id(api, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    secret = api.tokens["device"].split("_", 2)[2]
    api.post(f"/v1/devices/{DEVICE}/predictions", json=prediction_records(20), headers=auth(api.tokens["device"]))
    api.post(f"/v1/devices/{OTHER}/predictions", json=prediction_records(2), headers=auth(api.tokens["device"]))
    api.get("/v1/audit", headers=auth(api.tokens["device"]))
    api.get("/v1/devices", headers=auth(api.tokens["device"][:-2] + "zz"))
    api.get("/v1/devices", headers=auth(api.tokens["revoked"]))
    formatter = JsonFormatter()  # what `samd-monitor serve` writes
    lines = [json.loads(formatter.format(r)) for r in caplog.records]
    denied = [line for line in lines if line.get("event") == "request_denied"]
    assert [d["status"] for d in denied] == [403, 403, 401, 401]
    assert denied[0]["token_id"] == api.tokens["device"].split("_")[1]
    assert denied[0]["route"] == "/v1/devices/{device_id}/predictions" and denied[0]["reason"]
    text = "\n".join(formatter.format(r) for r in caplog.records)
    for token in api.tokens.values():
        assert token.split("_", 2)[-1] not in text
    assert secret not in text and PATIENT_PREFIX not in text


# --- the OpenAPI document is what the server does (schemathesis) -------------------------------------------------
def test_openapi_contract(api) -> None:  # type: ignore[no-untyped-def]
    """Every documented operation, called with generated data and an admin token, answers a documented
    status with a body matching its documented schema and content type, and never a server error."""
    headers = auth(api.tokens["admin"])
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.app, headers=headers)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    statuses: list[int] = []

    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck), database=None,
                  derandomize=True)
        def check(case) -> None:  # type: ignore[no-untyped-def]
            statuses.append(case.call_and_validate(headers=headers).status_code)

        check()
    assert {200, 403} <= set(statuses) and not any(s >= 500 for s in statuses)
