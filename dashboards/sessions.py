"""Server-side sign-in sessions and sign-in throttling of the dashboard (no Streamlit import: pure, clocked).

A Streamlit session keeps its state on the server, and a browser that presents the session id again
(a reconnect, a reload in the same tab) gets that state back. So the signed-in user is not kept in
that state: the state holds only an opaque session token (256 random bits), and the
:class:`SessionStore` of the server process maps the token to the user, the sign-in time and the
last activity. Every script run looks the token up, which is where the rules are enforced:

* **New token at sign-in** (no fixation): :meth:`SessionStore.sign_in` always issues a fresh token
  and revokes the one it replaces; a token that the store did not issue (planted or stale) grants
  nothing.
* **Idle and absolute expiry**, server-side, from the clock of the store: ``MONITOR_DASHBOARD_IDLE_MINUTES``
  (default 15) without a script run, or ``MONITOR_DASHBOARD_SESSION_HOURS`` (default 8) after sign-in,
  whichever comes first (OWASP Session Management Cheat Sheet: 15-30 min idle, 4-8 h absolute for
  sensitive applications).
* **Sign-out** deletes the token from the store; the page state is cleared as well, and a re-run,
  a reconnect or the back button finds no session.

:class:`SignInThrottle` slows password guessing without locking the real user out for good: failures
are counted per user id, per client address and per (user id, client) pair, each in a sliding window
(``window``); past a key's free allowance each further attempt waits ``base_delay`` doubled per
failure, capped at ``max_delay``; a success clears the pair and the user. The pair allows 5 free
failures, the client 20 (it may try several users), the user 50 (a spread-out attack), so another
client's guessing delays a user only after 50 failures and for at most ``max_delay`` (5 min) after
the last one. A refused attempt does not check the password and the message is the same for every
user id, known or not (no enumeration); the password check itself is constant-time and costs the
same for unknown users (:func:`monitor.service.access.verify_password`). The counters live in the
process and restart with it.

References: OWASP Session Management Cheat Sheet (session id renewal, timeouts); OWASP
Authentication Cheat Sheet ("Protect against automated attacks", account lockout).
"""

from __future__ import annotations

import hmac
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.service.access import Principal
from monitor.settings import load_settings

__all__ = ["Session", "SessionPolicy", "SessionStore", "SignInThrottle", "ThrottlePolicy", "load_session_policy"]

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class SessionPolicy:
    """How long a dashboard sign-in lasts."""

    idle: timedelta = timedelta(minutes=15)
    absolute: timedelta = timedelta(hours=8)


def load_session_policy(env: Mapping[str, str] | None = None) -> SessionPolicy:
    """``MONITOR_DASHBOARD_IDLE_MINUTES`` (default 15, at least 1) and ``MONITOR_DASHBOARD_SESSION_HOURS``
    (default 8, at least one minute), read with the other settings (:class:`monitor.settings.Settings`)
    from ``env`` (default ``os.environ``)."""
    settings = load_settings(env)
    return SessionPolicy(idle=timedelta(minutes=settings.dashboard_idle_minutes),
                         absolute=timedelta(hours=settings.dashboard_session_hours))


@dataclass
class Session:
    """A signed-in user and the times the expiry rules are checked against."""

    principal: Principal
    signed_in_at: datetime
    last_seen_at: datetime


class SessionStore:
    """Token -> :class:`Session`, in the server process; every lookup enforces the expiry rules."""

    def __init__(self, clock: Clock, policy: SessionPolicy | None = None) -> None:
        self._clock = clock
        self.policy = policy or SessionPolicy()
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def sign_in(self, principal: Principal, *, replacing: str | None = None) -> str:
        """A fresh token for ``principal``; the token it replaces (if any) stops working."""
        now = self._clock()
        token = secrets.token_urlsafe(32)
        with self._lock:
            if replacing is not None:
                self._sessions.pop(replacing, None)
            self._purge(now)
            self._sessions[token] = Session(principal, now, now)
        return token

    def get(self, token: str | None) -> tuple[Principal | None, str | None]:
        """``(principal, None)`` for a live token (its idle clock restarts); ``(None, reason)`` otherwise:
        ``"expired"`` for a token that timed out (it is deleted), ``None`` for one never issued or signed out."""
        if not token:
            return None, None
        now = self._clock()
        with self._lock:
            session = self._sessions.get(token)
            if session is None:
                return None, None
            if self._expired(session, now):
                del self._sessions[token]
                return None, "expired"
            session.last_seen_at = now
            return session.principal, None

    def sign_out(self, token: str | None) -> None:
        """Delete ``token``'s session (nothing happens for an unknown token)."""
        if token:
            with self._lock:
                self._sessions.pop(token, None)

    def __len__(self) -> int:
        return len(self._sessions)

    def _expired(self, session: Session, now: datetime) -> bool:
        return (now - session.last_seen_at >= self.policy.idle
                or now - session.signed_in_at >= self.policy.absolute)

    def _purge(self, now: datetime) -> None:
        for token in [t for t, s in self._sessions.items() if self._expired(s, now)]:
            del self._sessions[token]


@dataclass(frozen=True)
class ThrottlePolicy:
    """Free failures per key kind, the window they are counted in, and the delays beyond them."""

    free_per_pair: int = 5
    free_per_client: int = 20
    free_per_user: int = 50
    window: timedelta = timedelta(minutes=15)
    base_delay: timedelta = timedelta(seconds=1)
    max_delay: timedelta = timedelta(minutes=5)


class SignInThrottle:
    """Failed sign-ins per user id, client and pair; :meth:`wait` says how long the next attempt must wait."""

    def __init__(self, clock: Clock, policy: ThrottlePolicy | None = None, max_keys: int = 100_000) -> None:
        self._clock = clock
        self.policy = policy or ThrottlePolicy()
        self._failures: dict[tuple[str, ...], tuple[int, datetime]] = {}
        self._max_keys = max_keys
        self._lock = threading.Lock()
        self._salt = secrets.token_bytes(16)

    def _user(self, user_id: str) -> str:
        """The user id as a key (case-folded, hashed: the table never holds typed names in the clear)."""
        return hmac.new(self._salt, user_id.strip().casefold().encode("utf-8"), "sha256").hexdigest()

    def _keys(self, user_id: str, client: str) -> list[tuple[tuple[str, ...], int]]:
        user = self._user(user_id)
        p = self.policy
        return [(("pair", user, client), p.free_per_pair), (("client", client), p.free_per_client),
                (("user", user), p.free_per_user)]

    def wait(self, user_id: str, client: str) -> timedelta:
        """How long until ``client`` may try ``user_id`` again (zero: now)."""
        now = self._clock()
        longest = timedelta(0)
        with self._lock:
            for key, free in self._keys(user_id, client):
                entry = self._failures.get(key)
                if entry is None:
                    continue
                count, last = entry
                if now - last >= self.policy.window:
                    del self._failures[key]
                    continue
                if count >= free:
                    delay = min(self.policy.base_delay * 2 ** min(count - free, 30), self.policy.max_delay)
                    longest = max(longest, last + delay - now)
        return max(longest, timedelta(0))

    def failed(self, user_id: str, client: str) -> None:
        """Count a failed attempt."""
        now = self._clock()
        with self._lock:
            if len(self._failures) >= self._max_keys:
                self._failures = {k: v for k, v in self._failures.items() if now - v[1] < self.policy.window}
            for key, _ in self._keys(user_id, client):
                count, _last = self._failures.get(key, (0, now))
                self._failures[key] = (count + 1, now)

    def succeeded(self, user_id: str, client: str) -> None:
        """A correct password: the pair and the user start again (the client's count stays)."""
        with self._lock:
            for key, _ in self._keys(user_id, client):
                if key[0] != "client":
                    self._failures.pop(key, None)
