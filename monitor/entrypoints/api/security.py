"""Bearer-token authentication, permission checks, and rate limiting of failed authentications."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from typing import Callable

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from monitor.domain.roles import Permission
from monitor.entrypoints.api.problems import RateLimitedError
from monitor.entrypoints.bootstrap import App
from monitor.errors import AuthenticationError
from monitor.service.access import (
    Principal,
    VerifiedTokens,
    authenticate_token,
    parse_token,
)

__all__ = ["AuthFailureLimiter", "Authenticator", "bearer"]

bearer = HTTPBearer(auto_error=False, bearerFormat="smt_<token_id>_<secret>",
                    description="An API token created with `samd-monitor token create`.")


class AuthFailureLimiter:
    """At most ``limit`` failed authentications per client address in a sliding ``window`` (seconds);
    past that the address is answered 429 until the oldest failure leaves the window."""

    def __init__(self, limit: int = 20, window: float = 60.0, now: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self._now = now
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float]:
        failures = self._failures.setdefault(client, deque())
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures

    def retry_after(self, client: str) -> int | None:
        """Seconds until ``client`` may try again, or ``None`` when it is not blocked."""
        with self._lock:
            now = self._now()
            failures = self._recent(client, now)
            if len(failures) < self.limit:
                if not failures:
                    self._failures.pop(client, None)
                return None
            return max(1, math.ceil(failures[0] + self.window - now))

    def failed(self, client: str) -> None:
        """Count one failed authentication of ``client``."""
        with self._lock:
            now = self._now()
            self._recent(client, now).append(now)


def client_address(request: Request) -> str:
    """The client's address as the server sees it (put a proxy's forwarded address here if behind one)."""
    return request.client.host if request.client else "unknown"


class Authenticator:
    """FastAPI dependencies: who is calling, and may they do this."""

    def __init__(self, app: App, limiter: AuthFailureLimiter) -> None:
        self._app = app
        self.limiter = limiter
        self._verified = VerifiedTokens()

    def principal(self, request: Request,
                  credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Principal:
        """The authenticated caller (401 otherwise; 429 while the address is rate limited)."""
        wait = self.limiter.retry_after(client_address(request))
        if wait is not None:
            raise RateLimitedError(f"too many failed authentications from this address; retry in {wait} s", wait)
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise AuthenticationError("missing bearer token (Authorization: Bearer smt_...)")
        try:
            request.state.token_id = parse_token(credentials.credentials)[0]
        except AuthenticationError:
            request.state.token_id = None
            raise
        return authenticate_token(self._app.uow, credentials.credentials, clock=self._app.clock,
                                  verified=self._verified)

    def require(self, permission: Permission) -> Callable[..., Principal]:
        """A dependency admitting principals with ``permission`` (device-scoped ones are checked in the route)."""

        def check(principal: Principal = Depends(self.principal)) -> Principal:
            principal.require(permission, principal.device_id)  # the URL's device: checked in the route
            return principal

        return check

    def failed(self, request: Request) -> None:
        """Count a failed authentication of the request's client."""
        self.limiter.failed(client_address(request))
