"""Bearer-token authentication, permission checks, and throttling of failed authentications.

A token's secret has 256 random bits (:mod:`monitor.service.access`), so online guessing is hopeless at
any rate; the throttle makes a client that keeps failing back off (429 with ``Retry-After``) and marks
it in the denial log, without ever refusing a valid credential: the token is checked first, and a valid
one is served whatever its address did (OWASP Authentication Cheat Sheet, "Login Throttling": lock-outs
keyed only by source address let anyone behind the same NAT or proxy deny service to everyone there).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from datetime import timedelta
from typing import Callable

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from monitor.domain.roles import Permission
from monitor.entrypoints.api.problems import RateLimitedError
from monitor.entrypoints.bootstrap import App
from monitor.errors import AuthenticationError
from monitor.service.access import (
    Principal,
    RecentPrincipals,
    VerifiedTokens,
    authenticate_token,
    parse_token,
)

__all__ = ["AuthFailureLimiter", "Authenticator", "bearer"]

bearer = HTTPBearer(auto_error=False, bearerFormat="smt_<token_id>_<secret>",
                    description="An API token created with `samd-monitor token create`.")


class AuthFailureLimiter:
    """Failed authentications counted per key in a sliding ``window`` (seconds); a key with ``limit``
    failures in the window is *throttled* until the oldest of them leaves it.

    Keys are the client address (``addr:...``) and the presented token's public id (``token:...``), so
    that guessing one token's secret is throttled from any number of addresses. Throttling never refuses
    a valid credential: :class:`Authenticator` checks the token first and only a *failed* attempt from a
    throttled key is answered 429 (with ``Retry-After``) instead of 401. The memory is bounded: each key
    keeps its last ``limit`` failure times and at most ``max_keys`` keys are tracked; past that, keys whose
    failures all left the window go first, then the least recently failed (an attacker rotating addresses
    can push out an idle key, never grow the table).
    """

    def __init__(self, limit: int = 20, window: float = 60.0, now: Callable[[], float] = time.monotonic,
                 max_keys: int = 10_000) -> None:
        if limit < 1 or window <= 0 or max_keys < 1:
            raise ValueError("limit and max_keys must be at least 1 and window positive")
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._now = now
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()  # least recently failed first
        self._lock = threading.Lock()

    @property
    def tracked(self) -> int:
        """How many keys are tracked (no ``__len__``: an empty limiter must not be falsy)."""
        return len(self._failures)

    def _wait(self, failures: deque[float] | None, now: float) -> int | None:
        if failures is None or len(failures) < self.limit or failures[0] <= now - self.window:
            return None
        return max(1, math.ceil(failures[0] + self.window - now))

    def retry_after(self, *keys: str) -> int | None:
        """Seconds until none of ``keys`` is throttled, or ``None`` when none is."""
        with self._lock:
            now = self._now()
            waits = [w for key in keys if (w := self._wait(self._failures.get(key), now)) is not None]
            return max(waits) if waits else None

    def failed(self, *keys: str) -> int | None:
        """Count one failed authentication against each of ``keys``; return the seconds to wait when one of
        them was already throttled before this failure (the caller then answers 429), else ``None``."""
        with self._lock:
            now = self._now()
            waits = [w for key in keys if (w := self._wait(self._failures.get(key), now)) is not None]
            for key in keys:
                failures = self._failures.pop(key, None)
                if failures is None:
                    self._make_room(now)
                    failures = deque(maxlen=self.limit)
                failures.append(now)
                self._failures[key] = failures  # now the most recently failed
            return max(waits) if waits else None

    def _make_room(self, now: float) -> None:
        """Drop keys whose last failure left the window (the oldest first), then, if still full, the least
        recently failed key."""
        while self._failures:
            oldest = next(iter(self._failures.values()))
            if oldest[-1] > now - self.window:
                break
            self._failures.popitem(last=False)
        while len(self._failures) >= self.max_keys:
            self._failures.popitem(last=False)


def client_address(request: Request) -> str:
    """The client's address as the server sees it (put a proxy's forwarded address here if behind one)."""
    return request.client.host if request.client else "unknown"


class Authenticator:
    """FastAPI dependencies: who is calling, and may they do this."""

    def __init__(self, app: App, limiter: AuthFailureLimiter) -> None:
        self._app = app
        self.limiter = limiter
        self._verified = VerifiedTokens()
        self._recent = RecentPrincipals(timedelta(seconds=app.settings.api_auth_cache_seconds))

    async def principal(self, request: Request,
                        credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Principal:
        """The authenticated caller. A valid token is always served; a failed attempt is 401, or 429 with
        ``Retry-After`` when its address or its token id is throttled (:class:`AuthFailureLimiter`).

        A token authenticated within ``MONITOR_API_AUTH_CACHE_SECONDS`` is answered from memory, on the
        event loop (:class:`RecentPrincipals`); otherwise the database is read in the thread pool. At 50
        clients on PostgreSQL that took the read API's p99 from 350-460 ms to 60-70 ms (docs/api.md)."""
        request.state.token_id = None
        try:
            if credentials is None or credentials.scheme.lower() != "bearer":
                raise AuthenticationError("missing bearer token (Authorization: Bearer smt_...)")
            token_id, secret = parse_token(credentials.credentials)
            request.state.token_id = token_id
            now = self._app.clock()  # the entry's age counts from before the database read
            recent = self._recent.get(token_id, secret, now)
            if recent is not None:
                return recent
            principal = await run_in_threadpool(authenticate_token, self._app.uow, credentials.credentials,
                                                clock=self._app.clock, verified=self._verified)
            self._recent.remember(token_id, secret, principal, now)
            return principal
        except AuthenticationError as exc:
            keys = [f"addr:{client_address(request)}"]
            if request.state.token_id is not None:
                keys.append(f"token:{request.state.token_id}")
            wait = self.limiter.failed(*keys)
            if wait is not None:
                raise RateLimitedError(f"too many failed authentications from this address or for this token; "
                                       f"retry in {wait} s", wait) from exc
            raise

    def require(self, permission: Permission) -> Callable[..., Principal]:
        """A dependency admitting principals with ``permission`` (device-scoped ones are checked in the route).

        The check itself is ``async`` (it reads nothing): FastAPI runs a plain ``def`` dependency in its
        thread pool, one more hop per request for no I/O."""

        async def check(principal: Principal = Depends(self.principal)) -> Principal:
            principal.require(permission, principal.device_id)  # the URL's device: checked in the route
            return principal

        return check

