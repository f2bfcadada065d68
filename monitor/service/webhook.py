"""Deliver queued ticket events (the transactional outbox ``webhook_outbox``) to the ticket webhook.

Each event's payload carries the ticket's CAPA record (``capa``, as it was when the event was queued;
:mod:`monitor.service.tickets`), so a receiver's ticketing system holds the 12 items of regulatory.md section 3.

Events are queued in the same transaction as the ticket change they describe, so none is lost;
delivery is at-least-once: an event is marked delivered only after the receiver's 2xx answer, so one
whose answer was lost (timeout, crash, restart) is sent again with the same ``delivery_id``, and one
marked delivered is never sent again. Events are never dropped: a failing one stays visible in
``samd-monitor tickets outbox`` until it is delivered.

* Order: the events of one ticket are delivered in the order they were queued; a ticket's event waits
  while an older event of the same ticket is undelivered (``delivery_id`` increases with that order).
* The receiver unavailable (:class:`ReceiverUnavailable`: network error, timeout, redirect, 5xx, 408,
  425, 429): the attempt is recorded (``attempts``, ``last_error``), retried after an exponential
  :func:`backoff`, and the pass stops there: one pass waits for at most one timeout, never one per event,
  and starts no attempt after :data:`PASS_BUDGET_SECONDS`.
* The receiver refuses the event (:class:`EventRejected`: any other 4xx): recorded and retried only
  every :data:`BACKOFF_CAP` (the same request would be refused again; an operator fixes the receiver);
  the other tickets' events go on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable

from monitor.errors import MonitorError
from monitor.service.ports import Clock, UnitOfWorkFactory

__all__ = ["BACKOFF_BASE", "BACKOFF_CAP", "PASS_BUDGET_SECONDS", "DeliverySummary", "EventRejected", "Poster", "ReceiverUnavailable",
           "backoff", "deliver_pending", "outbox"]

#: Wait after the first failure; doubled after each further failure, capped at :data:`BACKOFF_CAP`.
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=6)
#: Seconds after which a delivery pass starts no new attempt (the scheduler's default interval).
PASS_BUDGET_SECONDS = 60.0
#: ``post(payload)`` sends one event; any exception means the attempt failed.
Poster = Callable[[dict[str, Any]], None]


class ReceiverUnavailable(MonitorError):
    """The webhook could not take any event now (down, slow, redirecting, 5xx): retry later, stop the pass."""


class EventRejected(MonitorError):
    """The webhook refused this one event (a 4xx answer): retried only every :data:`BACKOFF_CAP`."""


def backoff(failed_attempts: int) -> timedelta:
    """Wait before the next attempt after ``failed_attempts`` (>= 1) consecutive failures: 30 s, 60 s, 2 min, ... 6 h."""
    return min(BACKOFF_BASE * (2 ** max(failed_attempts - 1, 0)), BACKOFF_CAP)


@dataclass
class DeliverySummary:
    """What one delivery pass did (``stopped``: the pass ended early because the receiver was unavailable)."""

    delivered: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    stopped: bool = False


def _message(exc: Exception) -> str:
    return str(exc) if isinstance(exc, MonitorError) else f"{type(exc).__name__}: {exc}"


def deliver_pending(uow: UnitOfWorkFactory, *, post: Poster, clock: Clock, limit: int = 100,
                    budget: float = PASS_BUDGET_SECONDS) -> DeliverySummary:
    """POST due, undelivered events (at most ``limit``; each ticket's in order) once; record each outcome in
    its own transaction. No new attempt starts after ``budget`` seconds (a slow receiver that still answers
    in time cannot hold the scheduler for ``limit`` timeouts); the rest wait for the next pass."""
    ends = time.monotonic() + budget
    with uow() as unit:
        waiting = unit.tickets.outbox()  # every undelivered event, oldest first
    now = clock()
    held: set[str] = set()  # tickets with an older undelivered event: their newer events wait
    summary = DeliverySummary()
    for event in waiting:
        if event["ticket_id"] in held:
            continue
        if len(summary.delivered) + len(summary.failed) >= limit:
            break
        if time.monotonic() > ends:
            summary.stopped = True
            break
        if event["next_attempt_at"] > now:
            held.add(event["ticket_id"])
            continue
        try:
            post({"delivery_id": event["id"], **event["payload"]})
        except Exception as exc:  # any failure of the receiver or the network: keep the event, retry later
            message = _message(exc)
            wait = BACKOFF_CAP if isinstance(exc, EventRejected) else backoff(event["attempts"] + 1)
            with uow() as unit:
                unit.tickets.mark_failed(event["id"], error=message, next_attempt_at=clock() + wait)
            summary.failed[event["id"]] = message
            held.add(event["ticket_id"])
            if not isinstance(exc, EventRejected):
                summary.stopped = True
                break
        else:
            with uow() as unit:
                unit.tickets.mark_delivered(event["id"], at=clock())
            summary.delivered.append(event["id"])
    return summary


def outbox(uow: UnitOfWorkFactory, *, include_delivered: bool = False) -> list[dict[str, Any]]:
    """Queued events with their state: ``pending`` (not tried yet), ``failed`` (last attempt failed;
    retried at ``next_attempt_at``) or ``delivered``."""
    with uow() as unit:
        rows = unit.tickets.outbox(include_delivered=include_delivered)
    for row in rows:
        row["state"] = "delivered" if row["delivered_at"] else ("failed" if row["last_error"] else "pending")
    return rows
