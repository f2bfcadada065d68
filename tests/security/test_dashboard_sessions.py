"""The dashboard's session rules and sign-in throttle with an injected clock (no sleeps):
a fresh token at sign-in, idle and absolute expiry, sign-out, throttling that never locks the real
user out for good, and the password check's equal cost and message for unknown users."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, Iterator

import pytest

from dashboards.sessions import SessionPolicy, SessionStore, SignInThrottle, ThrottlePolicy, load_session_policy
from monitor.errors import AuthenticationError, ConfigError
from monitor.service import access
from monitor.service.access import Principal

QA = Principal(name="qa1", role="qa", user_id="qa1")


class Clock:
    """A settable clock."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


def test_sign_in_issues_a_fresh_token_and_revokes_the_one_it_replaces() -> None:
    store = SessionStore(Clock())
    assert store.get("planted-before-sign-in") == (None, None)  # a token the store never issued grants nothing
    first = store.sign_in(QA, replacing="planted-before-sign-in")
    second = store.sign_in(QA, replacing=first)
    assert first != second and len(second) >= 43
    assert store.get(first) == (None, None) and store.get(second) == (QA, None)
    assert len(store) == 1


def test_idle_timeout_restarts_with_activity_and_expires_server_side() -> None:
    clock = Clock()
    store = SessionStore(clock, SessionPolicy(idle=timedelta(minutes=15), absolute=timedelta(hours=8)))
    token = store.sign_in(QA)
    for _ in range(3):  # activity every 14 minutes keeps it alive
        clock.advance(minutes=14)
        assert store.get(token) == (QA, None)
    clock.advance(minutes=15)
    assert store.get(token) == (None, "expired")
    assert store.get(token) == (None, None) and len(store) == 0  # deleted, not only refused


def test_absolute_timeout_ends_an_active_session() -> None:
    clock = Clock()
    store = SessionStore(clock, SessionPolicy(idle=timedelta(minutes=15), absolute=timedelta(hours=8)))
    token = store.sign_in(QA)
    for _ in range(47):  # 7 h 50 min of activity every 10 minutes
        clock.advance(minutes=10)
        assert store.get(token)[0] == QA
    clock.advance(minutes=10)
    assert store.get(token) == (None, "expired")


def test_sign_out_deletes_the_session_and_expired_ones_are_purged() -> None:
    clock = Clock()
    store = SessionStore(clock)
    token, other = store.sign_in(QA), store.sign_in(QA)
    store.sign_out(token)
    store.sign_out(None)
    store.sign_out("never-issued")
    assert store.get(token) == (None, None) and store.get(other)[0] == QA
    clock.advance(hours=9)
    store.sign_in(QA)
    assert len(store) == 1  # the abandoned session went at the next sign-in


def test_session_policy_comes_from_the_environment() -> None:
    assert load_session_policy({}) == SessionPolicy(idle=timedelta(minutes=15), absolute=timedelta(hours=8))
    policy = load_session_policy({"MONITOR_DASHBOARD_IDLE_MINUTES": "5", "MONITOR_DASHBOARD_SESSION_HOURS": "0.5"})
    assert policy == SessionPolicy(idle=timedelta(minutes=5), absolute=timedelta(minutes=30))
    for bad in ("0", "-1", "nan", "soon"):
        with pytest.raises(ConfigError, match="MONITOR_DASHBOARD_IDLE_MINUTES"):
            load_session_policy({"MONITOR_DASHBOARD_IDLE_MINUTES": bad})


def test_throttle_delays_after_the_free_failures_doubling_up_to_the_cap() -> None:
    clock = Clock()
    throttle = SignInThrottle(clock, ThrottlePolicy())
    for _ in range(5):
        assert throttle.wait("qa1", "10.0.0.9") == timedelta(0)
        throttle.failed("qa1", "10.0.0.9")
    delays = []
    for _ in range(12):
        delay = throttle.wait("qa1", "10.0.0.9")
        delays.append(delay.total_seconds())
        clock.advance(seconds=delay.total_seconds())
        assert throttle.wait("qa1", "10.0.0.9") == timedelta(0)  # exactly one attempt per delay
        throttle.failed("qa1", "10.0.0.9")
    assert delays[:5] == [1, 2, 4, 8, 16] and max(delays) == 300 and delays[-1] == 300
    assert throttle.wait("QA1 ", "10.0.0.9") > timedelta(0)  # the same user however it is typed
    clock.advance(minutes=15)  # the window since the last failure has passed
    assert throttle.wait("qa1", "10.0.0.9") == timedelta(0)


def test_one_clients_guessing_does_not_lock_the_user_out_elsewhere() -> None:
    clock = Clock()
    throttle = SignInThrottle(clock, ThrottlePolicy())
    for _ in range(20):  # guessing qa1's password from one address
        throttle.failed("qa1", "203.0.113.7")
    assert throttle.wait("anyone", "203.0.113.7") > timedelta(0)  # the guessing client is slowed for every user
    assert throttle.wait("qa1", "198.51.100.2") == timedelta(0)  # the real user at their own address is not


def test_a_spread_out_attack_delays_the_user_only_boundedly_and_success_clears_it() -> None:
    clock = Clock()
    throttle = SignInThrottle(clock, ThrottlePolicy())
    for n in range(60):  # 60 addresses, one guess each
        throttle.failed("qa1", f"192.0.2.{n}")
    wait = throttle.wait("qa1", "198.51.100.2")
    assert timedelta(0) < wait <= ThrottlePolicy().max_delay
    clock.advance(seconds=wait.total_seconds())
    assert throttle.wait("qa1", "198.51.100.2") == timedelta(0)  # never forever: after the delay, one try
    throttle.succeeded("qa1", "198.51.100.2")
    throttle.failed("qa1", "192.0.2.200")
    assert throttle.wait("qa1", "198.51.100.2") == timedelta(0)


def test_throttle_table_holds_no_typed_user_id_and_stays_bounded() -> None:
    clock = Clock()
    throttle = SignInThrottle(clock, ThrottlePolicy(), max_keys=30)
    for n in range(100):
        throttle.failed(f"patient-{n}@example.org", "192.0.2.1")
        clock.advance(minutes=16)
    keys = repr(throttle._failures)
    assert "patient-" not in keys and len(throttle._failures) <= 33


class _Units:
    """A unit of work whose access repository returns ``user``."""

    def __init__(self, user: dict[str, Any] | None) -> None:
        self.user = user

    @contextmanager
    def __call__(self) -> Iterator[Any]:
        yield SimpleNamespace(access=SimpleNamespace(user=lambda user_id, with_hash=False: self.user))


def test_unknown_wrong_and_disabled_users_cost_one_hash_and_get_one_message(monkeypatch: pytest.MonkeyPatch) -> None:
    stored = access.hash_secret("correct horse battery", params=(2**4, 8, 1))
    calls: list[str] = []
    real = access.secret_matches

    def counting(secret: str, stored_hash: str) -> bool:
        calls.append(stored_hash)
        return real(secret, stored_hash)

    monkeypatch.setattr(access, "secret_matches", counting)
    monkeypatch.setattr(access, "_dummy_hash", lambda kind: access.hash_secret("x", params=(2**4, 8, 1)))
    user = {"role": "qa", "password_hash": stored, "disabled_at": None}
    cases = {"unknown": (None, "correct horse battery"), "wrong": (user, "not the password!"),
             "disabled": (user | {"disabled_at": datetime(2026, 1, 1, tzinfo=UTC)}, "correct horse battery"),
             "no password": (user | {"password_hash": None}, "correct horse battery")}
    messages = set()
    for record, password in cases.values():
        with pytest.raises(AuthenticationError) as caught:
            access.verify_password(_Units(record), "qa1", password, clock=Clock())
        messages.add(str(caught.value))
    assert len(calls) == len(cases) and len(messages) == 1
    assert access.verify_password(_Units(user), "qa1", "correct horse battery", clock=Clock()).role == "qa"
