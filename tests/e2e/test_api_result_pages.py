"""``GET /v1/runs/{id}/results`` served from the page cache (both engines): every page is byte for byte
what FastAPI's response-model path made of the same service call before the cache (an old-path route built
here), the second request of a page (a cache hit) equals the first, an unknown run stays 404, and a cached
page still needs a valid token."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from monitor.entrypoints.api import create_api
from monitor.entrypoints.api import models as m
from monitor.entrypoints.api.read import _page
from monitor.entrypoints.api.security import AuthFailureLimiter
from monitor.service import access
from monitor.service import queries as q
from monitor.service.access import create_token, revoke_token

DEVICE = "lung-nodule-ct"
QUERIES = [{}, {"metric": "sensitivity", "limit": 100}, {"metric": "specificity", "limit": 7, "offset": 3},
           {"status": "flagged"}, {"stratum_prefix": "site_id=site-1"}, {"model_version": "2.1.0", "limit": 1000},
           {"limit": 5, "offset": 395}]


def _store_run(app) -> str:  # type: ignore[no-untyped-def]
    run_id = str(uuid.uuid4())
    now = datetime(2026, 2, 1, tzinfo=timezone.utc)
    results = [{"model_version": "2.1.0", "stratum": f"site_id=site-{i % 13}|sex={'FM'[i % 2]}", "level": 2,
                "metric": ("sensitivity", "specificity")[i % 2], "successes": 80 + i % 7, "trials": 100,
                "estimate": (80 + i % 7) / 100, "ci_low": 0.71, "ci_high": 0.87, "claim": 0.9, "margin": 0.02,
                "p_value": 1 / (i + 3), "q_value": None if i % 5 == 0 else 0.05,
                "status": "flagged" if i % 7 == 0 else "ok", "additional_needed": None if i % 3 else i}
               for i in range(400)]
    with app.uow() as unit:
        unit.results.save_run({"run_id": run_id, "device_id": DEVICE, "period": "2026Q1", "period_start": now,
                               "period_end": now + timedelta(days=90), "data_cutoff": now, "created_at": now,
                               "software_version": "test", "config_hash": "0" * 64, "input_fingerprint": "0" * 64,
                               "document": {"test": True}, "actor": "pytest"}, results, [])
    return run_id


def _old_path(app) -> TestClient:  # type: ignore[no-untyped-def]
    """The route as it was before the cache: the page returned as data, serialised by FastAPI."""
    api = FastAPI()

    @api.get("/v1/runs/{run_id}/results", response_model=m.Page[m.StratumResult])
    def list_results(run_id: str, model_version: str | None = None, metric: q.Metric | None = None,
                     status: q.ResultStatus | None = None, stratum_prefix: str | None = None, limit: int = 100,
                     offset: int = 0) -> dict[str, Any]:
        return _page(q.list_results(app.uow, run_id, model_version=model_version, metric=metric, status=status,
                                    stratum_prefix=stratum_prefix, limit=limit, offset=offset))

    return TestClient(api)


def test_cached_pages_are_the_bytes_of_the_response_model_path(app, clock, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(access, "TOKEN_PARAMS", (2**8, 8, 1))
    token_id, token = create_token(app.uow, name="reader", role="auditor", clock=clock, actor="pytest")
    run_id = _store_run(app)
    client = TestClient(create_api(app, limiter=AuthFailureLimiter(limit=10_000)), raise_server_exceptions=False)
    old = _old_path(app)
    headers = {"Authorization": f"Bearer {token}"}
    for params in QUERIES:
        expected = old.get(f"/v1/runs/{run_id}/results", params=params)
        assert expected.status_code == 200
        first = client.get(f"/v1/runs/{run_id}/results", params=params, headers=headers)
        second = client.get(f"/v1/runs/{run_id}/results", params=params, headers=headers)
        assert first.status_code == second.status_code == 200, first.text
        assert first.content == second.content == expected.content, params
        assert first.headers["content-type"] == expected.headers["content-type"] == "application/json"
    assert len(client.get(f"/v1/runs/{run_id}/results", params={"limit": 1000}, headers=headers).json()["items"]) == 400
    for _ in range(2):
        missing = client.get(f"/v1/runs/{uuid.uuid4()}/results", headers=headers)
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
    revoke_token(app.uow, token_id, clock=clock, actor="pytest")
    assert client.get(f"/v1/runs/{run_id}/results", params=QUERIES[1], headers=headers).status_code == 401


@pytest.mark.parametrize("bad", [{"metric": "nope"}, {"limit": 0}, {"stratum_prefix": "a\x01"}])
def test_bad_parameters_are_still_refused(app, clock, monkeypatch, bad) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(access, "TOKEN_PARAMS", (2**8, 8, 1))
    token = create_token(app.uow, name="reader", role="auditor", clock=clock, actor="pytest")[1]
    client = TestClient(create_api(app, limiter=AuthFailureLimiter(limit=10_000)), raise_server_exceptions=False)
    answer = client.get(f"/v1/runs/{_store_run(app)}/results", params=bad, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 422
