"""Ticket events reach a real local HTTP server through the outbox: failed attempts are recorded and retried
with exponential backoff, nothing is lost, and each POST is signed (both engines)."""

from __future__ import annotations

import hmac
import json
import threading
from datetime import timedelta
from hashlib import sha256
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest

from monitor.adapters.notifications.webhook import webhook_poster
from monitor.service.tickets import transition_ticket
from monitor.service.webhook import backoff, deliver_pending, outbox

SECRET = "webhook-test-secret"


class _Receiver(BaseHTTPRequestHandler):
    fail_first = 2
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server API)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), body))
        failing = len(type(self).received) <= type(self).fail_first
        self.send_response(503 if failing else 204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[_Receiver]]]:
    handler = type("Receiver", (_Receiver,), {"received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks/tickets", handler
    server.shutdown()
    server.server_close()


def test_events_are_retried_with_backoff_until_delivered(app, clock, receiver) -> None:  # type: ignore[no-untyped-def]
    url, handler = receiver
    with app.uow() as unit:
        unit.tickets.create(device_id="lung-nodule-ct", model_version="2.1.0", stratum="site_id==cmd|' /C calc'!A0",
                            metric="sensitivity", title="t", at=clock())
    transition_ticket("RT-000001", "triaged", reason="looked at it", actor="qa", uow=app.uow, clock=clock)
    post = webhook_poster(url, secret=SECRET)

    first = deliver_pending(app.uow, post=post, clock=clock)
    assert list(first.failed.values()) == ["webhook answered HTTP 503"]
    [event] = outbox(app.uow)
    assert (event["state"], event["attempts"], event["last_error"]) == ("failed", 1, "webhook answered HTTP 503")
    assert deliver_pending(app.uow, post=post, clock=clock).failed == {}  # not due yet: no request
    assert len(handler.received) == 1

    clock.now += backoff(1)
    second = deliver_pending(app.uow, post=post, clock=clock)
    assert second.failed and outbox(app.uow)[0]["attempts"] == 2
    [event] = outbox(app.uow)
    assert event["next_attempt_at"] - clock.now > backoff(2) - timedelta(seconds=5)  # 60 s after the second failure

    clock.now += backoff(2)
    third = deliver_pending(app.uow, post=post, clock=clock)
    assert third.delivered == [event["id"]] and outbox(app.uow) == []
    [delivered] = outbox(app.uow, include_delivered=True)
    assert delivered["state"] == "delivered" and delivered["attempts"] == 3 and delivered["last_error"] is None

    bodies = [json.loads(b) for _, b in handler.received]
    assert len(bodies) == 3 and bodies[0] == bodies[2]  # the same event each time, de-duplicable by delivery_id
    assert bodies[0]["event"] == "ticket.triaged" and bodies[0]["from_status"] == "open"
    assert bodies[0]["delivery_id"] == event["id"] and bodies[0]["stratum"].startswith("site_id==cmd")
    headers, body = handler.received[-1]
    expected = "sha256=" + hmac.new(SECRET.encode(), body, sha256).hexdigest()
    assert headers["X-Samd-Signature"] == expected and headers["X-Samd-Event"] == "ticket.triaged"


def test_an_unreachable_receiver_keeps_the_event(app, clock) -> None:  # type: ignore[no-untyped-def]
    with app.uow() as unit:
        unit.tickets.create(device_id="lung-nodule-ct", model_version="2.1.0", stratum="overall",
                            metric="specificity", title="t", at=clock())
    transition_ticket("RT-000001", "rejected", reason="duplicate of a site issue", actor="qa", uow=app.uow, clock=clock)
    summary = deliver_pending(app.uow, post=webhook_poster("http://127.0.0.1:9/none", timeout=2), clock=clock)
    assert len(summary.failed) == 1 and "ConnectError" in next(iter(summary.failed.values()))
    assert outbox(app.uow)[0]["state"] == "failed"


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert backoff(40) == timedelta(hours=6)
