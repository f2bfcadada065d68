"""POST ticket events as generic JSON to a webhook (httpx).

The body is canonical JSON (sorted keys, UTF-8). Each request carries the headers of the Standard
Webhooks specification (https://www.standardwebhooks.com/): ``webhook-id`` (the outbox id, the same on
every retry: deliveries are at-least-once, de-duplicate on it) and ``webhook-timestamp`` (Unix seconds of
this attempt); with a secret also ``webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``,
so a receiver can reject a replayed request (old timestamp, or an id already seen) as well as a forged one.
The older ``X-Samd-Signature: sha256=<hex HMAC-SHA256 of the body>`` (the GitHub scheme, no timestamp),
``X-Samd-Event`` and ``X-Samd-Delivery`` are still sent. ``docs/tickets.md`` shows how a receiver verifies.

One attempt is bounded: ``timeout`` seconds for the whole request (a receiver that trickles its answer
byte by byte is cut off: httpx's own timeouts are per read), redirects are never followed (the signed
payload goes to the configured address only), and the answer's body is never read (only its status).
The outcome is classified for :func:`monitor.service.webhook.deliver_pending`: a 4xx other than 408, 425
and 429 is :class:`~monitor.service.webhook.EventRejected` (this event); anything else that is not 2xx
is :class:`~monitor.service.webhook.ReceiverUnavailable`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
from typing import Any, Callable

import httpx

from monitor.errors import ConfigError
from monitor.service.webhook import EventRejected, ReceiverUnavailable

__all__ = ["SIGNATURE_HEADER", "STANDARD_SIGNATURE_HEADER", "signature", "standard_signature", "webhook_poster"]

SIGNATURE_HEADER = "X-Samd-Signature"
STANDARD_SIGNATURE_HEADER = "webhook-signature"
#: Client errors that say "try again later", not "this event is refused" (RFC 9110 15.5.9, RFC 8470, RFC 6585).
RETRYABLE_4XX = frozenset({408, 425, 429})


def signature(secret: str, body: bytes) -> str:
    """``sha256=`` + hex HMAC-SHA256 of ``body`` under ``secret`` (``X-Samd-Signature``)."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def standard_signature(secret: str, delivery_id: str, timestamp: str, body: bytes) -> str:
    """``v1,`` + base64 HMAC-SHA256 of ``{id}.{timestamp}.{body}`` under ``secret`` (``webhook-signature``;
    the key is the secret's UTF-8 bytes)."""
    digest = hmac.new(secret.encode("utf-8"), f"{delivery_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


class _Deadline:
    """Shuts the request's socket down when the whole attempt has taken ``seconds`` (a blocked read
    returns at once); the socket is learnt from httpcore's ``trace`` request extension."""

    def __init__(self, seconds: float) -> None:
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self.expired = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def trace(self, name: str, info: dict[str, Any]) -> None:
        if name.endswith("connect_tcp.complete") and info.get("return_value") is not None:
            sock = info["return_value"].get_extra_info("socket")
            if sock is not None:
                with self._lock:
                    self._sockets.append(sock)
                    if self.expired:
                        self._cut(sock)

    @staticmethod
    def _cut(sock: socket.socket) -> None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                self._cut(sock)

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


def webhook_poster(url: str, *, secret: str | None = None, timeout: float = 10.0,
                   transport: httpx.BaseTransport | None = None,
                   now: Callable[[], float] = time.time) -> Callable[[dict[str, Any]], None]:
    """A ``post(payload)`` that returns on a 2xx answer and raises ``EventRejected`` /
    ``ReceiverUnavailable`` otherwise; one call takes at most about ``timeout`` seconds."""
    if not url.startswith(("http://", "https://")):  # never echo the URL: it may carry a token
        raise ConfigError("MONITOR_TICKET_WEBHOOK_URL must be an http:// or https:// URL")

    def post(payload: dict[str, Any]) -> None:
        body = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        delivery, stamp = str(payload.get("delivery_id", "")), str(int(now()))
        headers = {"Content-Type": "application/json", "User-Agent": "samd-monitor",
                   "X-Samd-Event": str(payload.get("event", "")), "X-Samd-Delivery": delivery,
                   "webhook-id": delivery, "webhook-timestamp": stamp}
        if secret:
            headers[SIGNATURE_HEADER] = signature(secret, body)
            headers[STANDARD_SIGNATURE_HEADER] = standard_signature(secret, delivery, stamp, body)
        try:
            with _Deadline(timeout) as deadline, \
                    httpx.Client(timeout=timeout, transport=transport, follow_redirects=False) as client, \
                    client.stream("POST", url, content=body, headers=headers,
                                  extensions={"trace": deadline.trace}) as response:
                status = response.status_code  # the body is never read: closing the stream drops the connection
        except httpx.TimeoutException as exc:
            raise ReceiverUnavailable(f"no answer within {timeout:g} s ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            if deadline.expired:
                raise ReceiverUnavailable(f"no answer within {timeout:g} s (cut off)") from exc
            raise ReceiverUnavailable(f"cannot reach the webhook: {type(exc).__name__}: {exc}") from exc
        if 200 <= status < 300:
            return
        if 300 <= status < 400:
            raise ReceiverUnavailable(f"webhook answered HTTP {status}, a redirect: not followed (set "
                                      "MONITOR_TICKET_WEBHOOK_URL to the final address)")
        if 400 <= status < 500 and status not in RETRYABLE_4XX:
            raise EventRejected(f"webhook answered HTTP {status}: the receiver refused this event")
        raise ReceiverUnavailable(f"webhook answered HTTP {status}")

    return post
