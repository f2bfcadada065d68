"""Hostile uploads to the HTTP API (both engines): compressed bodies and decompression bombs, deeply nested
and enormous JSON, SQL-injection payloads in bodies, query and path parameters, and path tricks on report
downloads. Each ends in a problem document or per-row rejections, never a server error, and nothing
outside the batch's own accepted rows is stored."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import zlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, inspect, select

from monitor.adapters.db.tables import ingestion_batches, metadata, predictions

DEVICE = "lung-nodule-ct"
PAYLOADS = ("'; DROP TABLE predictions; --", "\" OR 1=1 --", "x' UNION SELECT hash FROM api_tokens --",
            "%' OR '%'='", "1; DELETE FROM audit_log")


def _record(i: int, **changes: Any) -> dict[str, Any]:
    record = {"prediction_id": f"h-{i:06d}", "model_version": "2.1.0", "site_id": "site-a",
              "predicted_at": "2026-01-15T09:30:00Z", "score": 0.8, "predicted_label": 1, "patient_id": f"MRN-{i}",
              "age": 61, "sex": "F", "emphysema_grade": "none", "scanner_vendor": "GE"}
    return record | changes


def _ndjson(records: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


@pytest.fixture
def api(app, clock, monkeypatch):  # type: ignore[no-untyped-def]
    """A TestClient over the API (default body limit, 50 MiB) with a device token and a QA token."""
    from monitor.entrypoints.api import create_api
    from monitor.entrypoints.api.security import AuthFailureLimiter
    from monitor.service import access

    monkeypatch.setattr(access, "TOKEN_PARAMS", (2**8, 8, 1))  # cheap KDF: these tests are not about it
    client = TestClient(create_api(app, limiter=AuthFailureLimiter(limit=10_000)), raise_server_exceptions=False)
    client.device = {"Authorization": "Bearer " + access.create_token(  # type: ignore[attr-defined]
        app.uow, name="gw", role="device", device_id=DEVICE, clock=clock, actor="pytest")[1]}
    client.qa = {"Authorization": "Bearer " + access.create_token(  # type: ignore[attr-defined]
        app.uow, name="qa", role="qa", clock=clock, actor="pytest")[1]}
    client.app_ = app  # type: ignore[attr-defined]
    return client


def _count(app, table) -> int:  # type: ignore[no-untyped-def]
    with app.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _problem(response, status: int) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return response.json()  # type: ignore[no-any-return]


def _gzip_bomb(expanded: int) -> bytes:
    """A gzip stream of ``expanded`` bytes of valid-looking NDJSON (about a thousandth of that on the wire)."""
    line = _ndjson([_record(0)])
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = line * (1 << 20 // len(line) + 1)
    parts = [compressor.compress(block) for _ in range(expanded // len(block))]
    return b"".join(parts) + compressor.flush()


def test_compressed_bodies_are_refused_before_reading(api) -> None:  # type: ignore[no-untyped-def]
    """A gzip bomb (256 MiB of NDJSON in about 250 KB) and every other content coding get 415 with
    ``Accept-Encoding: identity``; nothing is inflated or stored. The same records uncompressed (or with
    ``Content-Encoding: identity``) are ingested."""
    bomb = _gzip_bomb(256 * 2**20)
    assert len(bomb) < 2**20
    headers = api.device | {"Content-Type": "application/x-ndjson"}
    problem = _problem(api.post(f"/v1/devices/{DEVICE}/predictions", content=bomb,
                                headers=headers | {"Content-Encoding": "gzip"}), 415)
    assert "Content-Encoding" in problem["detail"]
    small = _ndjson([_record(1)])
    for coding, body in (("gzip", gzip.compress(small)), ("deflate", zlib.compress(small)), ("br", small),
                         ("x-custom", small), ("gzip, identity", small), ("GZIP", gzip.compress(small))):
        for path in (f"/v1/devices/{DEVICE}/predictions", f"/v1/devices/{DEVICE}/ground-truth"):
            response = api.post(path, content=body, headers=headers | {"Content-Encoding": coding})
            _problem(response, 415)
            assert response.headers["accept-encoding"] == "identity"
    response = api.post("/v1/tickets/T-0001/comments", content=gzip.compress(b'{"body": "x"}'),
                        headers=api.qa | {"Content-Type": "application/json", "Content-Encoding": "gzip"})
    _problem(response, 415)
    assert _count(api.app_, ingestion_batches) == 0
    response = api.post(f"/v1/devices/{DEVICE}/predictions", content=small,
                        headers=headers | {"Content-Encoding": "identity"})
    assert response.status_code == 200 and response.json()["accepted"] == 1
    # gzip bytes sent as if they were JSON: unreadable (400), not a server error, nothing stored
    _problem(api.post(f"/v1/devices/{DEVICE}/predictions", content=gzip.compress(small),
                      headers=api.device | {"Content-Type": "application/json"}), 400)
    assert _count(api.app_, ingestion_batches) == 1


def test_deeply_nested_and_enormous_json_is_a_precise_refusal(api) -> None:  # type: ignore[no-untyped-def]
    """100 000 nested arrays: 400. Records with a nested object for an id, a 1 MiB id, a number beyond float
    range, a 400-digit age, a huge label: rejected rows with reasons (200), none stored."""
    headers = api.device | {"Content-Type": "application/json"}
    _problem(api.post(f"/v1/devices/{DEVICE}/predictions", content=b"[" * 100_000 + b"]" * 100_000,
                      headers=headers), 400)
    hostile = [
        _record(1, prediction_id={"nested": [[[[["deep"]]]]]}),
        _record(2, prediction_id="x" * 2**20),
        _record(3, score=float("inf")),
        _record(4, age=10**400),
        _record(5, predicted_label=10**30),
        _record(6, site_id=["a", "b"]),
    ]
    body = json.dumps(hostile).replace("Infinity", "1e400").encode()
    response = api.post(f"/v1/devices/{DEVICE}/predictions", content=body, headers=headers)
    assert response.status_code == 200, response.text
    summary = response.json()
    assert summary["accepted"] == 0 and summary["rejected"] == len(hostile), summary
    assert {"score_out_of_range", "invalid_age", "invalid_predicted_label"} <= set(summary["reasons"])
    assert _count(api.app_, predictions) == 0


def test_injection_payloads_over_http_are_data_or_nothing(api) -> None:  # type: ignore[no-untyped-def]
    """SQL-injection payloads as record fields are stored verbatim (ids, sites) or rejected; as query and
    path parameters of every read endpoint they match nothing: never a server error, no other row shown,
    and every table is still there."""
    records = [_record(i, prediction_id=p, site_id=p) for i, p in enumerate(PAYLOADS)]
    summary = api.post(f"/v1/devices/{DEVICE}/predictions", json=records, headers=api.device).json()
    assert summary["accepted"] + summary["rejected"] == len(PAYLOADS)
    with api.app_.engine.connect() as conn:
        stored = set(conn.execute(select(predictions.c.prediction_id)).scalars())
    assert stored <= set(PAYLOADS) and len(stored) == summary["accepted"]
    for payload in PAYLOADS:
        for path, params in (("/v1/devices", {}), ("/v1/runs", {"device_id": payload, "period": payload}),
                             ("/v1/findings", {"device_id": payload, "run_id": payload, "metric": payload}),
                             ("/v1/tickets", {"device_id": payload, "status": payload}),
                             ("/v1/report-files", {"device_id": payload, "period": payload}),
                             ("/v1/report-revisions", {"device_id": payload, "period": payload}),
                             ("/v1/batches", {"kind": payload}),
                             ("/v1/rejected-rows", {"reason_code": payload}),
                             ("/v1/audit", {"action": payload, "entity": payload, "actor": payload,
                                            "entity_id": payload})):
            response = api.get(path, params=params, headers=api.qa)
            assert response.status_code in (200, 422), (path, payload, response.text)
            if response.status_code == 200 and params:
                assert response.json()["items"] == [], (path, payload)
        for path in (f"/v1/devices/{payload}", f"/v1/devices/{payload}/periods", f"/v1/runs/{payload}",
                     f"/v1/runs/{payload}/results", f"/v1/tickets/{payload}", f"/v1/batches/{payload}"):
            response = api.get(path.replace("#", "%23").replace("?", "%3F"), headers=api.qa)
            assert response.status_code in (200, 404, 422), (path, response.text)
            if response.status_code == 200:
                assert response.json().get("items", []) == [], (path, response.text)
    with api.app_.engine.connect() as conn:
        assert set(inspect(conn).get_table_names()) >= {t.name for t in metadata.sorted_tables}


def test_report_downloads_serve_only_recorded_unchanged_files(api, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """File ids that are paths (``..``, encoded slashes) are not ids (422/404); a recorded file replaced by a
    symlink to another file, or edited, is refused with a problem document (its SHA-256 no longer matches)
    and its bytes are not sent."""
    app = api.app_
    report = tmp_path / "r.json"
    report.write_text('{"ok": true}\n', encoding="utf-8")
    now = datetime(2026, 2, 1, tzinfo=timezone.utc)
    with app.uow() as unit:
        unit.results.save_run({"run_id": "run-1", "device_id": DEVICE, "period": "2025Q3", "period_start": now,
                               "period_end": now, "data_cutoff": now, "created_at": now, "software_version": "t",
                               "config_hash": "0" * 64, "input_fingerprint": "0" * 64, "document": {},
                               "actor": "pytest"}, [], [])
        unit.reports.add(report_id="r-1", run_id="run-1", device_id=DEVICE, period="2025Q3", format="json",
                         path=str(report), sha256=hashlib.sha256(report.read_bytes()).hexdigest(),
                         at=app.clock(), actor="pytest", language=None)
    listed = api.get("/v1/report-files", headers=api.qa).json()["items"]
    file_id = listed[0]["id"]
    assert api.get(f"/v1/report-files/{file_id}/content", headers=api.qa).content == report.read_bytes()
    for trick in ("..%2F..%2Fetc%2Fpasswd", "../../etc/passwd", "%2e%2e", "1%00", "-1", "1e3", "0x1"):
        response = api.get(f"/v1/report-files/{trick}/content", headers=api.qa)
        assert response.status_code in (404, 422), (trick, response.status_code)
        assert b"root:" not in response.content
    secret = tmp_path / "elsewhere.txt"
    secret.write_text("root:x:0:0:secret\n", encoding="utf-8")
    report.unlink()
    os.symlink(secret, report)
    response = api.get(f"/v1/report-files/{file_id}/content", headers=api.qa)
    assert _problem(response, 500)["title"] == "Stored evidence failed verification"
    assert b"secret" not in response.content
    report.unlink()
    report.write_text('{"ok": false}\n', encoding="utf-8")
    _problem(api.get(f"/v1/report-files/{file_id}/content", headers=api.qa), 500)
