"""Ticket-event webhooks against a real HTTP receiver on 127.0.0.1 that misbehaves: down, slow, trickling,
5xx / 4xx / 429, redirecting to another host, answering with an endless body, and a receiver that checks
signatures against replay. Delivery is at-least-once across restarts, each ticket's events in order, and
one pass waits for at most one timeout.

Every loop of the fake receivers is bounded; only loopback addresses are used.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from monitor.adapters.notifications.webhook import webhook_poster
from monitor.service.tickets import transition_ticket
from monitor.service.webhook import (
    BACKOFF_CAP,
    ReceiverUnavailable,
    backoff,
    deliver_pending,
    outbox,
)

SECRET = "receiver-shared-secret"
SQLITE_ONLY = pytest.mark.parametrize("empty_database_url", ["sqlite"], indirect=True)
Behaviour = Callable[["_Handler", dict[str, Any]], None]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_POST(self) -> None:  # noqa: N802 (http.server API)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        receiver = self.server.receiver
        receiver.requests.append((dict(self.headers), body))
        try:
            receiver.behaviour(self, json.loads(body))
        except OSError:  # the sender hung up: expected for the slow and endless answers
            pass
        finally:
            receiver.handled.set()

    def answer(self, status: int, **headers: str) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


class _Server(ThreadingHTTPServer):
    receiver: Receiver


class Receiver:
    """A webhook receiver on a loopback address; ``behaviour(handler, payload)`` answers each POST."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.accepted: list[int] = []
        self.handled = threading.Event()
        self.behaviour: Behaviour = self.ok
        self.server = _Server((host, port), _Handler)
        self.server.receiver = self
        self.url = f"http://{host}:{self.server.server_address[1]}/hooks/tickets"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def ok(self, handler: _Handler, payload: dict[str, Any]) -> None:
        self.accepted.append(payload["delivery_id"])
        handler.answer(204)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers() -> Iterator[Callable[..., Receiver]]:
    started: list[Receiver] = []

    def start(host: str = "127.0.0.1", port: int = 0) -> Receiver:
        started.append(Receiver(host, port))
        return started[-1]

    yield start
    for receiver in started:
        receiver.close()


def _tickets(app, clock, moves: dict[str, list[str]]) -> None:  # type: ignore[no-untyped-def]
    """Open one ticket per key of ``moves`` and queue an event per listed transition, in that order."""
    for stratum, statuses in moves.items():
        with app.uow() as unit:
            ticket_id = unit.tickets.create(device_id="lung-nodule-ct", model_version="2.1.0", stratum=stratum,
                                            metric="sensitivity", title="t", at=clock())
        for status in statuses:
            transition_ticket(ticket_id, status, reason=f"to {status}", actor="qa", uow=app.uow, clock=clock)


def _restart(database_url: str, clock):  # type: ignore[no-untyped-def]
    from monitor.entrypoints.bootstrap import bootstrap
    from monitor.settings import Settings

    return bootstrap(Settings(database_url=database_url, data_dir=Path("."), patient_id_key="k" * 32),
                     clock=clock)


def test_a_receiver_down_costs_one_attempt_and_every_event_arrives_once_in_order_after_restarts(
        app, clock, database_url: str, receivers) -> None:  # type: ignore[no-untyped-def]
    """Connection refused: the pass stops after one attempt (the others keep 0 attempts). After a restart
    of the service with the receiver back on the same address, every event is delivered in queue order;
    after another restart nothing is sent again."""
    _tickets(app, clock, {"site_id=1": ["triaged", "in_progress"], "site_id=2": ["triaged"]})
    # The port is held bound without listening while the receiver is down: a connection is refused at once
    # and no other test's server can take the port meanwhile (one did once, and the post was cut off at its
    # deadline instead of refused). A deadline of 10 s: the refusal must not race a loaded machine's clock.
    down = socket.socket()
    down.bind(("127.0.0.1", 0))
    port = int(down.getsockname()[1])
    url = f"http://127.0.0.1:{port}/hooks/tickets"
    try:
        summary = deliver_pending(app.uow, post=webhook_poster(url, timeout=10), clock=clock)
    finally:
        down.close()
    assert summary.stopped and summary.delivered == [] and len(summary.failed) == 1
    assert "ConnectError" in next(iter(summary.failed.values()))
    assert [(e["state"], e["attempts"]) for e in outbox(app.uow)] == [("failed", 1), ("pending", 0), ("pending", 0)]
    app.engine.dispose()

    restarted = _restart(database_url, clock)
    receiver = receivers(port=port)
    clock.now += backoff(1)
    summary = deliver_pending(restarted.uow, post=webhook_poster(url, timeout=2), clock=clock)
    ids = [e["id"] for e in outbox(restarted.uow, include_delivered=True)]
    assert summary.delivered == ids and receiver.accepted == ids and summary.failed == {}
    restarted.engine.dispose()

    again = _restart(database_url, clock)
    clock.now += timedelta(days=1)
    assert deliver_pending(again.uow, post=webhook_poster(url, timeout=2), clock=clock).delivered == []
    assert len(receiver.requests) == 3 and outbox(again.uow) == []
    again.engine.dispose()


@SQLITE_ONLY
def test_a_tickets_newer_event_waits_for_its_older_one(app, clock, receivers) -> None:  # type: ignore[no-untyped-def]
    """A 503 to the first event, then a newer event of the same ticket is queued before the retry is due: it
    is held (another ticket's event is not), and both arrive in order once the first is retried."""
    receiver = receivers()
    answers = iter([503])
    receiver.behaviour = lambda h, p: h.answer(next(answers)) if len(receiver.requests) == 1 else receiver.ok(h, p)
    post = webhook_poster(receiver.url, timeout=2)
    _tickets(app, clock, {"site_id=1": ["triaged"]})
    first = deliver_pending(app.uow, post=post, clock=clock)
    assert list(first.failed.values()) == ["webhook answered HTTP 503"]
    transition_ticket("RT-000001", "in_progress", reason="working", actor="qa", uow=app.uow, clock=clock)
    _tickets(app, clock, {"site_id=2": [], "site_id=3": ["triaged"]})  # RT-000002 (no event), RT-000003
    second = deliver_pending(app.uow, post=post, clock=clock)
    events = {e["id"]: e["ticket_id"] for e in outbox(app.uow, include_delivered=True)}
    assert [events[i] for i in second.delivered] == ["RT-000003"] and second.failed == {}
    clock.now += backoff(1)
    third = deliver_pending(app.uow, post=post, clock=clock)
    assert [events[i] for i in third.delivered] == ["RT-000001", "RT-000001"]
    assert third.delivered == sorted(third.delivered) and outbox(app.uow) == []


@SQLITE_ONLY
def test_a_refused_event_is_recorded_and_kept_while_other_tickets_go_on(app, clock, receivers) -> None:  # type: ignore[no-untyped-def]
    """422 for one ticket's events: recorded as refused, retried only after the cap (6 h), that ticket's
    later event waits, another ticket's event is delivered in the same pass. A 429 is "later", not
    "refused": normal backoff, and the pass stops."""
    receiver = receivers()

    def refuse_first_ticket(handler: _Handler, payload: dict[str, Any]) -> None:
        if payload["ticket_id"] == "RT-000001":
            handler.answer(422)
        else:
            receiver.ok(handler, payload)

    receiver.behaviour = refuse_first_ticket
    _tickets(app, clock, {"site_id=1": ["triaged", "in_progress"], "site_id=2": ["triaged"]})
    summary = deliver_pending(app.uow, post=webhook_poster(receiver.url, timeout=2), clock=clock)
    first, held, other = outbox(app.uow, include_delivered=True)
    assert summary.delivered == [other["id"]] and list(summary.failed) == [first["id"]] and not summary.stopped
    assert "HTTP 422" in first["last_error"] and "refused" in first["last_error"]
    assert first["next_attempt_at"] - clock.now > BACKOFF_CAP - timedelta(minutes=1)
    assert (held["state"], held["attempts"]) == ("pending", 0)

    receiver.behaviour = lambda handler, payload: handler.answer(429, **{"Retry-After": "120"})
    clock.now += BACKOFF_CAP
    summary = deliver_pending(app.uow, post=webhook_poster(receiver.url, timeout=2), clock=clock)
    assert summary.stopped and list(summary.failed) == [first["id"]]
    assert outbox(app.uow)[0]["next_attempt_at"] - clock.now < backoff(2) + timedelta(seconds=5)


@SQLITE_ONLY
@pytest.mark.parametrize("answer", ["sleep", "trickle"])
def test_a_slow_receiver_is_cut_off_and_the_event_is_sent_again(app, clock, receivers, answer: str) -> None:  # type: ignore[no-untyped-def]
    """A receiver that answers after 4 s, or trickles its status line a byte every 0.1 s (each read is
    quick, so httpx's per-read timeout never fires): the pass ends within the 0.5 s budget (plus slack)
    with one attempt; the receiver had the event, so the retry sends it again with the same id."""
    receiver = receivers()

    def slow(handler: _Handler, payload: dict[str, Any]) -> None:
        for step in range(40):
            if answer == "trickle":
                handler.wfile.write(b"HTTP/1.1 200 OK\r\n"[step % 17:step % 17 + 1])
                handler.wfile.flush()
            time.sleep(0.1)
        handler.answer(204)

    receiver.behaviour = slow
    _tickets(app, clock, {"site_id=1": ["triaged", "in_progress"], "site_id=2": ["triaged"]})
    started = time.monotonic()
    summary = deliver_pending(app.uow, post=webhook_poster(receiver.url, timeout=0.5), clock=clock)
    assert time.monotonic() - started < 2.0
    assert summary.stopped and len(summary.failed) == 1
    assert "no answer within 0.5 s" in next(iter(summary.failed.values()))

    receiver.behaviour = receiver.ok
    clock.now += backoff(1)
    summary = deliver_pending(app.uow, post=webhook_poster(receiver.url, timeout=2), clock=clock)
    assert len(summary.delivered) == 3 and outbox(app.uow) == []
    ids = [headers["webhook-id"] for headers, _body in receiver.requests]
    assert ids[0] == ids[1] == str(summary.delivered[0])  # at-least-once: the same id, de-duplicable


def test_redirects_are_never_followed(receivers) -> None:  # type: ignore[no-untyped-def]
    """301/302/303/307/308 to another host (127.0.0.2) or another scheme: a failure of the attempt, and the
    signed payload never reaches the other address."""
    elsewhere = receivers(host="127.0.0.2")
    redirecting = receivers()
    post = webhook_poster(redirecting.url, secret=SECRET, timeout=2)
    for status, location in [(301, elsewhere.url), (302, elsewhere.url), (303, elsewhere.url),
                             (307, elsewhere.url), (308, elsewhere.url),
                             (307, elsewhere.url.replace("http:", "https:")), (302, "file:///etc/passwd")]:
        redirecting.behaviour = lambda h, p, s=status, loc=location: h.answer(s, Location=loc)
        with pytest.raises(ReceiverUnavailable, match=f"HTTP {status}, a redirect: not followed"):
            post({"delivery_id": 1, "event": "ticket.triaged"})
    assert len(redirecting.requests) == 7 and elsewhere.requests == []


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_an_endless_answer_body_is_not_read(receivers, framing: str) -> None:  # type: ignore[no-untyped-def]
    """A 200 whose body claims 1 TB (or is chunked without end) and is written as fast as the socket takes
    it (up to 160 MB): the attempt counts as delivered and returns at once; the receiver manages to
    write no more than the sockets' buffers hold before the sender hangs up."""
    receiver = receivers()
    written = [0]

    def endless(handler: _Handler, payload: dict[str, Any]) -> None:
        handler.send_response(200)
        if framing == "chunked":
            handler.send_header("Transfer-Encoding", "chunked")
        else:
            handler.send_header("Content-Length", str(10**12))
        handler.end_headers()
        block = b"x" * 65536
        chunk = b"10000\r\n" + block + b"\r\n" if framing == "chunked" else block
        for _ in range(2500):
            handler.wfile.write(chunk)
            written[0] += len(chunk)

    receiver.behaviour = endless
    started = time.monotonic()
    webhook_poster(receiver.url, timeout=5)({"delivery_id": 1, "event": "ticket.triaged"})
    assert time.monotonic() - started < 2.0
    assert receiver.handled.wait(10)
    assert written[0] < 32 * 2**20, written[0]


def verify(secret: str, headers: dict[str, str], body: bytes, *, now: float, seen: set[str],
           tolerance: float = 300) -> dict[str, Any] | None:
    """The receiver's check documented in docs/tickets.md: the signature over id, timestamp and body, a
    timestamp at most ``tolerance`` seconds away, and an id not seen before (None: a duplicate, answer
    2xx without acting again). Raises ValueError for a forged or replayed request."""
    headers = {k.lower(): v for k, v in headers.items()}
    delivery, stamp = headers["webhook-id"], headers["webhook-timestamp"]
    expected = base64.b64encode(hmac.new(secret.encode(), f"{delivery}.{stamp}.".encode() + body,
                                         hashlib.sha256).digest()).decode()
    offered = [s.split(",", 1)[1] for s in headers["webhook-signature"].split() if s.startswith("v1,")]
    if not any(hmac.compare_digest(expected, s) for s in offered):
        raise ValueError("bad signature")
    if abs(now - int(stamp)) > tolerance:
        raise ValueError("timestamp outside the tolerance: a replay")
    if delivery in seen:
        return None
    seen.add(delivery)
    return dict(json.loads(body))


@SQLITE_ONLY
def test_a_receiver_can_detect_a_replayed_or_forged_delivery(app, clock, receivers) -> None:  # type: ignore[no-untyped-def]
    """The signature covers the delivery id and the attempt's timestamp: the genuine request verifies; the
    same request replayed after the tolerance, with its timestamp or id changed, or its body altered, does
    not; a retry (same id, new timestamp) verifies and is recognised as a duplicate."""
    receiver = receivers()
    answers = iter([503])
    receiver.behaviour = lambda h, p: h.answer(next(answers)) if len(receiver.requests) == 1 else receiver.ok(h, p)
    _tickets(app, clock, {"site_id=1": ["triaged"]})
    post = webhook_poster(receiver.url, secret=SECRET, timeout=2)
    deliver_pending(app.uow, post=post, clock=clock)
    clock.now += backoff(1)
    deliver_pending(app.uow, post=post, clock=clock)
    (first, body), (retry, retry_body) = receiver.requests
    seen: set[str] = set()
    stamp = int(first["webhook-timestamp"])
    assert abs(stamp - time.time()) < 60
    payload = verify(SECRET, first, body, now=stamp, seen=seen)
    assert payload is not None and str(payload["delivery_id"]) == first["webhook-id"] == first["X-Samd-Delivery"]
    assert verify(SECRET, retry, retry_body, now=int(retry["webhook-timestamp"]), seen=seen) is None
    with pytest.raises(ValueError, match="replay"):
        verify(SECRET, first, body, now=stamp + 301, seen=set())
    for forged, forged_body in [({**first, "webhook-timestamp": str(stamp + 600)}, body),
                                ({**first, "webhook-id": "999"}, body),
                                (first, body.replace(b"triaged", b"rejected"))]:
        with pytest.raises(ValueError, match="bad signature"):
            verify(SECRET, forged, forged_body, now=stamp + 600, seen=set())
    with pytest.raises(ValueError, match="bad signature"):
        verify("another secret", first, body, now=stamp, seen=set())


@SQLITE_ONLY
def test_a_receiver_slow_but_in_time_cannot_hold_a_pass_for_long(app, clock, receivers) -> None:  # type: ignore[no-untyped-def]
    """Each answer takes 0.3 s (within the timeout): a pass with a 0.5 s budget starts no attempt after it,
    the rest stay pending (0 attempts) and go in the next pass, in order."""
    receiver = receivers()

    def slow_ok(handler: _Handler, payload: dict[str, Any]) -> None:
        time.sleep(0.3)
        receiver.ok(handler, payload)

    receiver.behaviour = slow_ok
    _tickets(app, clock, {"site_id=1": ["triaged", "in_progress", "validating"], "site_id=2": ["triaged"]})
    post = webhook_poster(receiver.url, timeout=2)
    started = time.monotonic()
    first = deliver_pending(app.uow, post=post, clock=clock, budget=0.5)
    assert time.monotonic() - started < 1.5 and first.stopped and 1 <= len(first.delivered) <= 2
    assert {(e["state"], e["attempts"]) for e in outbox(app.uow)} == {("pending", 0)}
    second = deliver_pending(app.uow, post=post, clock=clock)
    assert receiver.accepted == first.delivered + second.delivered == sorted(receiver.accepted)
