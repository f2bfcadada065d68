"""Invalid query values of the read API are 422 problem documents, never a silently empty list (issue 18),
on SQLite and PostgreSQL: a period in the wrong form, and a value outside an enumerated filter (statuses,
batch kind, metric); OpenAPI lists the enumerated values. The reads go through the one read side
(``monitor.service.queries``), which checks the same values for every other caller."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from monitor.domain import tickets as ticket_rules
from monitor.entrypoints.api import create_api
from monitor.entrypoints.api.security import AuthFailureLimiter
from monitor.service import access
from monitor.service.access import create_token

BAD = [
    ("/v1/runs", {"period": "2025-Q3"}),
    ("/v1/runs", {"period": "Q3-2025"}),
    ("/v1/runs", {"period": "2025-13"}),
    ("/v1/report-files", {"period": "2025 Q3"}),
    ("/v1/report-revisions", {"period": "last quarter"}),
    ("/v1/report-revisions", {"status": "final"}),
    ("/v1/tickets", {"status": "opened"}),
    ("/v1/batches", {"kind": "predictionz"}),
    ("/v1/findings", {"metric": "recall"}),
    ("/v1/runs/no-such-run/results", {"status": "passed"}),
    ("/v1/runs/no-such-run/results", {"metric": "auc"}),
    ("/v1/rejected-rows", {"status": "closed"}),
]


@pytest.fixture
def client(app, clock, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(access, "TOKEN_PARAMS", (2**8, 8, 1))  # a cheap KDF: these tests are not about it
    token = create_token(app.uow, name="qa", role="qa", clock=clock, actor="pytest")[1]
    api = TestClient(create_api(app, limiter=AuthFailureLimiter(limit=10_000)), raise_server_exceptions=False)
    api.headers["Authorization"] = f"Bearer {token}"
    return api


def test_invalid_query_values_are_422_problem_documents(client) -> None:  # type: ignore[no-untyped-def]
    for path, params in BAD:
        response = client.get(path, params=params)
        assert response.status_code == 422, (path, params, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["status"] == 422 and problem["title"] == "Unprocessable input"
        assert list(params.values())[0] not in response.text  # the value given is never quoted back


def test_well_formed_values_are_accepted(client) -> None:  # type: ignore[no-untyped-def]
    for params in ({"period": "2025Q3"}, {"period": "2025q3"}, {"period": "2025-07"}, {"period": "2025"},
                   {"period": "2025-07-01..2025-09-30"}):
        response = client.get("/v1/runs", params=params)
        assert response.status_code == 200 and response.json()["items"] == [], params
    for status in ticket_rules.STATUSES:
        assert client.get("/v1/tickets", params={"status": status}).status_code == 200
    assert client.get("/v1/batches", params={"kind": "ground_truth"}).status_code == 200
    assert client.get("/v1/findings", params={"metric": "sensitivity"}).status_code == 200
    # a well-formed filter on a missing run is still "not found", not an empty page
    assert client.get("/v1/runs/no-such-run/results", params={"status": "flagged"}).status_code == 404


def test_openapi_lists_the_enumerated_values(client) -> None:  # type: ignore[no-untyped-def]
    doc = client.get("/openapi.json").json()

    def schema(path: str, name: str) -> dict:  # type: ignore[type-arg]
        parameter = next(p for p in doc["paths"][path]["get"]["parameters"] if p["name"] == name)
        found = parameter["schema"]
        options = found.get("anyOf", [found])
        resolved = [doc["components"]["schemas"][o["$ref"].rsplit("/", 1)[1]] if "$ref" in o else o for o in options]
        return next(o for o in resolved if o.get("type") != "null")

    assert schema("/v1/tickets", "status")["enum"] == list(ticket_rules.STATUSES)
    assert schema("/v1/batches", "kind")["enum"] == ["predictions", "ground_truth", "retractions"]
    assert schema("/v1/findings", "metric")["enum"] == ["sensitivity", "specificity", "ppv", "npv"]
    assert "pattern" in schema("/v1/runs", "period")
