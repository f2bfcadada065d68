"""The API's description: ``/openapi.json`` needs a token (docs/api.md), ``/docs`` and ``/redoc`` are
shells without API information whose scripts and styles are served by the API itself (no CDN: they work
offline), and the operation ids are unique, readable and stable."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from monitor.adapters.config_file import load_device_config
from monitor.entrypoints.api import create_api
from monitor.entrypoints.api.docs_pages import STATIC_DIR
from monitor.entrypoints.api.security import AuthFailureLimiter
from monitor.service import access
from monitor.service.access import create_token, revoke_token
from monitor.service.devices import register_device

ROOT = Path(__file__).resolve().parents[2]
ROLES = ("device", "qa", "auditor", "admin", "operations")


@pytest.fixture
def api(app, clock, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(access, "TOKEN_PARAMS", (2**8, 8, 1))  # cheap hashes: these tests are not about the KDF
    register_device(load_device_config(ROOT / "examples" / "lung-nodule-ct.yaml"), uow=app.uow, clock=clock,
                    actor="pytest", source="test")
    tokens = {role: create_token(app.uow, name=role, role=role, clock=clock, actor="pytest",
                                 device_id="lung-nodule-ct" if role == "device" else None)[1] for role in ROLES}
    revoked_id, tokens["revoked"] = create_token(app.uow, name="gone", role="qa", clock=clock, actor="pytest")
    revoke_token(app.uow, revoked_id, clock=clock, actor="pytest")
    client = TestClient(create_api(app, limiter=AuthFailureLimiter(limit=10_000)), raise_server_exceptions=False)
    client.tokens = tokens  # type: ignore[attr-defined]
    return client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_openapi_document_needs_a_token_of_any_role(api) -> None:  # type: ignore[no-untyped-def]
    for headers in ({}, bearer(api.tokens["revoked"]), bearer("smt_0123456789abcdef_" + "A" * 43),
                    {"Authorization": "Basic cXE6cXE="}):
        response = api.get("/openapi.json", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert "paths" not in response.text
    for role in ROLES:  # the description is the same for everyone who may call the API at all
        response = api.get("/openapi.json", headers=bearer(api.tokens[role]))
        assert response.status_code == 200, role
        assert response.json()["info"]["title"] == "samd-monitor API"


def test_docs_pages_hold_no_api_information_and_load_nothing_from_elsewhere(api) -> None:  # type: ignore[no-untyped-def]
    document = api.get("/openapi.json", headers=bearer(api.tokens["auditor"])).json()
    for page, script in (("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")):
        response = api.get(page)  # a browser opening the page cannot send a bearer token
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
        html = response.text
        csp = response.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp and "http" not in csp
        assert not re.search(r"(src|href)=\"(https?:)?//", html), "every asset must come from this server"
        assert f'src="static/{script}"' in html and 'src="static/docs.js"' in html
        for path in document["paths"]:  # no route, no schema, no version in the open page
            assert path not in html
        assert document["info"]["version"] not in html
        for asset in re.findall(r'(?:src|href)="(static/[^"]+)"', html):
            served = api.get("/" + asset)
            assert served.status_code == 200, asset
            assert served.content == (STATIC_DIR / Path(asset).name).read_bytes()
    loader = api.get("/static/docs.js").text
    assert 'fetch("openapi.json"' in loader and "Authorization" in loader  # the document is fetched with the token


def test_vendored_assets_are_the_recorded_ones_with_their_licenses() -> None:
    listing = (STATIC_DIR / "VENDORED.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\S+) \| ([^|]+) \| [^|]+ \| ([0-9a-f]{64}) \|$", listing, re.MULTILINE)
    assert {name for name, _, _ in rows} == {"swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"}
    for name, _, digest in rows:
        assert hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest() == digest, name
    for license_file in ("swagger-ui-LICENSE", "swagger-ui-NOTICE", "redoc-LICENSE",
                         "swagger-ui-bundle.js.LICENSE.txt", "redoc.standalone.js.LICENSE.txt"):
        assert (STATIC_DIR / license_file).stat().st_size > 0
    bundle = (STATIC_DIR / "swagger-ui-bundle.js").read_text(encoding="utf-8")
    assert "SwaggerUIBundle" in bundle


def test_operation_ids_are_unique_readable_and_stable(api, app) -> None:  # type: ignore[no-untyped-def]
    document = api.get("/openapi.json", headers=bearer(api.tokens["qa"])).json()
    operations = {(method, path): op for path, item in document["paths"].items() for method, op in item.items()}
    ids = [op["operationId"] for op in operations.values()]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    for operation_id in ids:  # snake_case words, no FastAPI path-and-method suffix (``..._v1_devices_get``)
        assert re.fullmatch(r"[a-z]+(_[a-z0-9]+)*", operation_id) and len(operation_id) <= 40, operation_id
        assert not operation_id.endswith(("_get", "_post", "_put", "_delete")), operation_id
    expected = {  # a client generated from the document keeps these method names
        ("get", "/health"): "health",
        ("get", "/ready"): "ready",
        ("get", "/metrics"): "get_metrics",
        ("post", "/v1/devices/{device_id}/predictions"): "post_predictions",
        ("post", "/v1/devices/{device_id}/ground-truth"): "post_ground_truth",
        ("post", "/v1/devices/{device_id}/analyses"): "run_analysis",
        ("post", "/v1/devices/{device_id}/reports"): "write_report_draft",
        ("post", "/v1/tickets/{ticket_id}/transitions"): "post_transition",
        ("post", "/v1/tickets/{ticket_id}/comments"): "post_comment",
    }
    assert {key: operations[key]["operationId"] for key in expected} == expected
    # an API built again describes itself the same way (ids derive from the code, not from build order)
    assert create_api(app).openapi() == document
