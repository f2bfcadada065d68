"""Deliver queued ticket events (the transactional outbox ``webhook_outbox``) to the ticket webhook.

Events are queued in the same transaction as the ticket change they describe, so none is lost;
delivery is at-least-once (each POST carries ``delivery_id`` for de-duplication). A failed attempt
is recorded (``attempts``, ``last_error``) and retried after an exponential backoff
(:func:`backoff`); events are never dropped: a failing one stays visible in
``samd-monitor tickets outbox`` until it is delivered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable

from monitor.service.ports import Clock, UnitOfWorkFactory

__all__ = ["BACKOFF_BASE", "BACKOFF_CAP", "DeliverySummary", "Poster", "backoff", "deliver_pending", "outbox"]

#: Wait after the first failure; doubled after each further failure, capped at :data:`BACKOFF_CAP`.
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=6)
#: ``post(payload)`` sends one event; any exception means the attempt failed.
Poster = Callable[[dict[str, Any]], None]


def backoff(failed_attempts: int) -> timedelta:
    """Wait before the next attempt after ``failed_attempts`` (>= 1) consecutive failures: 30 s, 60 s, 2 min, ... 6 h."""
    return min(BACKOFF_BASE * (2 ** max(failed_attempts - 1, 0)), BACKOFF_CAP)


@dataclass
class DeliverySummary:
    """What one delivery pass did."""

    delivered: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)


def deliver_pending(uow: UnitOfWorkFactory, *, post: Poster, clock: Clock, limit: int = 100) -> DeliverySummary:
    """POST every due, undelivered event once (oldest first); record each outcome in its own transaction."""
    with uow() as unit:
        due = unit.tickets.due_events(clock(), limit=limit)
    summary = DeliverySummary()
    for event in due:
        try:
            post({"delivery_id": event["id"], **event["payload"]})
        except Exception as exc:  # any failure of the receiver or the network: keep the event, retry later
            message = f"{type(exc).__name__}: {exc}"
            with uow() as unit:
                unit.tickets.mark_failed(event["id"], error=message,
                                         next_attempt_at=clock() + backoff(event["attempts"] + 1))
            summary.failed[event["id"]] = message
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
