"""The API's memory of recently authenticated tokens (``MONITOR_API_AUTH_CACHE_SECONDS``, both engines):
a client's repeated requests read its token once per window, a revocation or a disabled user reaches the
running API at most one window later, expiry is exact whatever the window, a wrong secret for a remembered
token id is still refused, and a window of zero reads the database on every request."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from monitor.entrypoints.api import create_api
from monitor.entrypoints.api import security
from monitor.entrypoints.api.security import AuthFailureLimiter
from monitor.entrypoints.bootstrap import bootstrap
from monitor.service import access
from monitor.service.access import create_token, create_user, disable_user, revoke_token
from monitor.settings import Settings
from tests.conftest import TEST_PATIENT_KEY


class HeldClock:
    """A clock that stands still until the test moves it."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def held(database_url: str, monkeypatch):  # type: ignore[no-untyped-def]
    """``make(seconds)``: the application on ``database_url`` with a held clock and that cache window, its
    API client, and a counter of the token reads that reached the database."""
    monkeypatch.setattr(access, "TOKEN_PARAMS", (2**8, 8, 1))
    reads = {"n": 0}
    real = security.authenticate_token

    def counted(*args: Any, **kwargs: Any) -> Any:
        reads["n"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(security, "authenticate_token", counted)
    apps = []

    def make(seconds: float) -> tuple[Any, HeldClock, TestClient, dict[str, int]]:
        clock = HeldClock()
        application = bootstrap(Settings(database_url=database_url, data_dir=Path("."), patient_id_key=TEST_PATIENT_KEY,
                                         api_auth_cache_seconds=seconds), clock=clock)
        apps.append(application)
        client = TestClient(create_api(application, limiter=AuthFailureLimiter(limit=10_000)))
        return application, clock, client, reads

    yield make
    for application in apps:
        application.engine.dispose()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_revoked_token_is_refused_within_one_window(held) -> None:  # type: ignore[no-untyped-def]
    app, clock, client, reads = held(1.0)
    token_id, token = create_token(app.uow, name="reader", role="auditor", clock=clock, actor="pytest")
    assert [client.get("/v1/devices", headers=_bearer(token)).status_code for _ in range(5)] == [200] * 5
    assert reads["n"] == 1  # one database read for five requests in the window
    revoke_token(app.uow, token_id, clock=clock, actor="pytest")
    clock.now += timedelta(milliseconds=999)
    assert client.get("/v1/devices", headers=_bearer(token)).status_code == 200  # the documented window
    clock.now += timedelta(milliseconds=1)
    assert client.get("/v1/devices", headers=_bearer(token)).status_code == 401
    assert client.get("/v1/devices", headers=_bearer(token)).status_code == 401  # failures are never remembered
    assert reads["n"] == 3


def test_a_disabled_user_is_refused_within_one_window(held) -> None:  # type: ignore[no-untyped-def]
    app, clock, client, _ = held(1.0)
    create_user(app.uow, user_id="li.na", display_name="Li Na", role="qa", password=None, clock=clock, actor="pytest")
    token = create_token(app.uow, name="li", role="qa", user_id="li.na", clock=clock, actor="pytest")[1]
    assert client.get("/v1/devices", headers=_bearer(token)).status_code == 200
    disable_user(app.uow, "li.na", clock=clock, actor="pytest")
    clock.now += timedelta(seconds=1)
    assert client.get("/v1/devices", headers=_bearer(token)).status_code == 401


def test_expiry_is_exact_whatever_the_window(held) -> None:  # type: ignore[no-untyped-def]
    app, clock, client, _ = held(60.0)
    token = create_token(app.uow, name="short", role="auditor", expires_in=timedelta(seconds=10), clock=clock,
                         actor="pytest")[1]
    clock.now += timedelta(seconds=9)
    assert client.get("/v1/devices", headers=_bearer(token)).status_code == 200
    clock.now += timedelta(seconds=1)  # the token's expiry, 50 s before the window would end
    assert client.get("/v1/devices", headers=_bearer(token)).status_code == 401


def test_a_wrong_secret_for_a_remembered_token_is_refused(held) -> None:  # type: ignore[no-untyped-def]
    app, clock, client, _ = held(60.0)
    token = create_token(app.uow, name="reader", role="auditor", clock=clock, actor="pytest")[1]
    assert client.get("/v1/devices", headers=_bearer(token)).status_code == 200
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert client.get("/v1/devices", headers=_bearer(forged)).status_code == 401
    assert client.get("/v1/devices", headers=_bearer(token)).status_code == 200


def test_a_clock_moving_back_forgets(held) -> None:  # type: ignore[no-untyped-def]
    app, clock, client, reads = held(60.0)
    token = create_token(app.uow, name="reader", role="auditor", clock=clock, actor="pytest")[1]
    assert client.get("/v1/devices", headers=_bearer(token)).status_code == 200
    clock.now -= timedelta(seconds=1)
    assert client.get("/v1/devices", headers=_bearer(token)).status_code == 200
    assert reads["n"] == 2


def test_a_zero_window_reads_every_request(held) -> None:  # type: ignore[no-untyped-def]
    app, clock, client, reads = held(0.0)
    token_id, token = create_token(app.uow, name="reader", role="auditor", clock=clock, actor="pytest")
    assert [client.get("/v1/devices", headers=_bearer(token)).status_code for _ in range(3)] == [200] * 3
    assert reads["n"] == 3
    revoke_token(app.uow, token_id, clock=clock, actor="pytest")
    assert client.get("/v1/devices", headers=_bearer(token)).status_code == 401
