"""POST ticket events as generic JSON to a webhook (httpx).

The body is canonical JSON (sorted keys, UTF-8). With a secret, the request carries
``X-Samd-Signature: sha256=<hex HMAC-SHA256 of the body>`` (the scheme GitHub webhooks use), so
the receiver can check origin and integrity; ``X-Samd-Event`` names the event and
``X-Samd-Delivery`` its outbox id (deliveries are at-least-once: de-duplicate on it).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any, Callable

import httpx

from monitor.errors import ConfigError

__all__ = ["SIGNATURE_HEADER", "signature", "webhook_poster"]

SIGNATURE_HEADER = "X-Samd-Signature"


def signature(secret: str, body: bytes) -> str:
    """``sha256=`` + hex HMAC-SHA256 of ``body`` under ``secret``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def webhook_poster(url: str, *, secret: str | None = None, timeout: float = 10.0,
                   transport: httpx.BaseTransport | None = None) -> Callable[[dict[str, Any]], None]:
    """A ``post(payload)`` that raises on a network error or a non-2xx answer."""
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"MONITOR_TICKET_WEBHOOK_URL must be an http(s) URL, got {url!r}")

    def post(payload: dict[str, Any]) -> None:
        body = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = {"Content-Type": "application/json", "User-Agent": "samd-monitor",
                   "X-Samd-Event": str(payload.get("event", "")), "X-Samd-Delivery": str(payload.get("delivery_id", ""))}
        if secret:
            headers[SIGNATURE_HEADER] = signature(secret, body)
        with httpx.Client(timeout=timeout, transport=transport, follow_redirects=False) as client:
            response = client.post(url, content=body, headers=headers)
        if not 200 <= response.status_code < 300:
            raise RuntimeError(f"webhook answered HTTP {response.status_code}")

    return post
