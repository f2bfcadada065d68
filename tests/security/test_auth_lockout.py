"""The failed-authentication throttle never refuses a valid credential, still slows down failing clients
(by address and by token id), and its memory stays bounded however many addresses an attacker uses.

Once, 20 bad tokens from one address locked that address for 60 s: a valid QA or device token from it
then got 429, so anyone behind the same NAT or proxy could stop every device there from posting without
holding any credential.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from monitor.entrypoints.api import create_api
from monitor.entrypoints.api.security import AuthFailureLimiter
from monitor.service import access
from monitor.service.access import create_token

DEVICE = "lung-nodule-ct"
NAT = ("203.0.113.7", 40000)  # one address shared by an attacker and the devices behind it
LIMIT = 20


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _record(i: int) -> dict[str, Any]:
    return {"prediction_id": f"lock-{i:06d}", "device_id": DEVICE, "model_version": "2.1.0", "site_id": "site-1",
            "predicted_at": "2026-01-20T08:00:00Z", "score": 0.4, "predicted_label": 0,
            "patient_id": f"MRN-LOCK-{i:06d}", "age": 50, "sex": "F", "emphysema_grade": "none",
            "scanner_vendor": "GE"}


@pytest.fixture
def tokens(app, clock, monkeypatch) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """A valid token of every role (cheap scrypt cost: these tests are about the throttle, not the KDF)."""
    monkeypatch.setattr(access, "TOKEN_PARAMS", (2**8, 8, 1))
    made = {role: create_token(app.uow, name=role, role=role, clock=clock, actor="pytest")[1]
            for role in ("qa", "auditor", "admin")}
    made["device"] = create_token(app.uow, name="gw", role="device", device_id=DEVICE, clock=clock, actor="pytest")[1]
    return made


def _client(api: FastAPI, address: tuple[str, int] = NAT) -> TestClient:
    return TestClient(api, raise_server_exceptions=False, client=address)


def _bad_tokens(valid: str) -> list[str]:
    """Malformed, unknown and wrong-secret tokens (the last ones name a real token id)."""
    token_id = valid.split("_")[1]
    return ["smt_garbage", "not-even-smt", "smt_0123456789abcdef_" + "A" * 43,
            *[f"smt_{token_id}_{'B' * 42}{c}" for c in "CDEFGHIJKLMNOPQRSTUVWXYZ"]]


def test_valid_tokens_of_every_role_pass_from_a_throttled_address(app, tokens) -> None:  # type: ignore[no-untyped-def]
    """25+ bad tokens from one address throttle its failures (429 with Retry-After), yet a valid token of each
    role from that very address is served at once, and the next bad token is still 429."""
    client = _client(create_api(app, limiter=AuthFailureLimiter(limit=LIMIT, window=60)))
    bad = _bad_tokens(tokens["qa"])
    assert len(bad) > LIMIT
    statuses = [client.get("/v1/devices", headers=_auth(token)).status_code for token in bad]
    assert statuses[:LIMIT] == [401] * LIMIT and set(statuses[LIMIT:]) == {429}
    for role in ("qa", "auditor", "admin"):
        response = client.get("/v1/devices", headers=_auth(tokens[role]))
        assert response.status_code == 200, (role, response.text)
    posted = client.post(f"/v1/devices/{DEVICE}/predictions", json=[_record(i) for i in range(3)],
                         headers=_auth(tokens["device"]))
    assert posted.status_code in (200, 201), posted.text
    assert posted.json()["accepted"] == 3
    # a success does not reset the count: the attacker's next try is throttled all the same
    again = client.get("/v1/devices", headers=_auth("smt_garbage"))
    assert again.status_code == 429 and again.headers["content-type"] == "application/problem+json"
    assert 1 <= int(again.headers["retry-after"]) <= 60
    missing = client.get("/v1/devices")
    assert missing.status_code == 429


def test_guessing_one_tokens_secret_is_throttled_from_any_address(app, tokens) -> None:  # type: ignore[no-untyped-def]
    """Wrong secrets for one real token id, each from a new address: the token id's own count throttles
    them past the limit; the token's real secret is still served, and another address with another
    (unknown) token is not throttled."""
    api = create_api(app, limiter=AuthFailureLimiter(limit=LIMIT, window=60))
    token_id = tokens["qa"].split("_")[1]
    statuses = [_client(api, (f"198.51.100.{i}", 1000 + i)).get(
        "/v1/devices", headers=_auth(f"smt_{token_id}_{i:043d}")).status_code for i in range(LIMIT + 3)]
    assert statuses[:LIMIT] == [401] * LIMIT and statuses[LIMIT:] == [429] * 3
    assert _client(api, ("198.51.100.250", 9)).get("/v1/devices", headers=_auth(tokens["qa"])).status_code == 200
    stranger = _client(api, ("192.0.2.1", 9)).get("/v1/devices", headers=_auth("smt_0123456789abcdef_" + "A" * 43))
    assert stranger.status_code == 401


def test_the_throttle_lifts_after_the_window() -> None:
    """Failures leave the sliding window: the key is free again, and ``Retry-After`` counts down to that."""
    now = [1000.0]
    limiter = AuthFailureLimiter(limit=3, window=60, now=lambda: now[0])
    assert [limiter.failed("addr:a") for _ in range(3)] == [None, None, None]
    assert limiter.failed("addr:a") == 60
    now[0] += 30
    assert limiter.retry_after("addr:a") == 30 and limiter.retry_after("addr:b") is None
    now[0] += 61
    assert limiter.retry_after("addr:a") is None and limiter.failed("addr:a") is None


def test_the_tracker_stays_bounded_under_many_distinct_keys() -> None:
    """50,000 distinct addresses and token ids (an attacker rotating them): never more than ``max_keys``
    tracked, each with at most ``limit`` times; keys whose failures left the window go first."""
    now = [0.0]
    limiter = AuthFailureLimiter(limit=5, window=60, now=lambda: now[0], max_keys=1_000)
    for i in range(50_000):
        limiter.failed(f"addr:10.{i // 65536}.{i // 256 % 256}.{i % 256}", f"token:{i:016x}")
        assert limiter.tracked <= 1_000
        now[0] += 0.001
    assert all(len(times) <= 5 for times in limiter._failures.values())
    # a hammering key is the most recently failed one: rotating keys push out the idle ones first
    for _ in range(10):
        limiter.failed("addr:attacker")
    for i in range(500):
        limiter.failed(f"addr:rotating-{i}")
    assert limiter.retry_after("addr:attacker") is not None
    # once the window has passed, stale keys are dropped before any live one
    now[0] += 120
    limiter.failed("addr:fresh")
    limiter.failed("addr:fresh-2")
    assert limiter.tracked == 2 and limiter.retry_after("addr:attacker") is None
