"""Corrective-action tickets: creation, evidence, transitions, comments and the webhook outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from monitor.adapters.db.tables import (
    ticket_comments,
    ticket_evidence,
    ticket_transitions,
    tickets,
    webhook_outbox,
)
from monitor.domain.tickets import TERMINAL
from monitor.errors import NotFoundError

__all__ = ["TicketRepository", "open_key"]


def open_key(device_id: str, model_version: str, stratum: str, metric: str) -> str:
    """The key under which at most one ticket may be open (not closed or rejected)."""
    return "\x1f".join((device_id, model_version, stratum, metric))


class TicketRepository:
    """Create tickets, attach evidence, move them through their lifecycle, list and read them."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def find_open(self, device_id: str, model_version: str, stratum: str, metric: str) -> dict[str, Any] | None:
        """The open (non-terminal) ticket for this device x model version x stratum x metric, if any."""
        row = self._conn.execute(select(tickets).where(
            tickets.c.open_key == open_key(device_id, model_version, stratum, metric))).first()
        return None if row is None else dict(row._mapping)

    def create(self, *, device_id: str, model_version: str, stratum: str, metric: str, title: str,
               at: datetime, severity: str | None = None, containment: str | None = None,
               acceptance_criteria: dict[str, Any] | None = None,
               data_collection_target: int | None = None) -> str:
        """Open a new ticket; return its id (``RT-000001`` style)."""
        seq = int(self._conn.execute(select(func.coalesce(func.max(tickets.c.seq), 0))).scalar_one()) + 1
        ticket_id = f"RT-{seq:06d}"
        self._conn.execute(tickets.insert().values(
            ticket_id=ticket_id, seq=seq, device_id=device_id, model_version=model_version, stratum=stratum,
            metric=metric, status="open", open_key=open_key(device_id, model_version, stratum, metric),
            title=title, created_at=at, updated_at=at, severity=severity, containment=containment,
            acceptance_criteria=acceptance_criteria, data_collection_target=data_collection_target,
        ))
        return ticket_id

    def add_evidence(self, ticket_id: str, *, run_id: str, finding_id: str, evidence: dict[str, Any],
                     at: datetime) -> bool:
        """Attach a run's evidence to a ticket; False when this run's evidence is already there."""
        exists = self._conn.execute(select(ticket_evidence.c.id).where(
            ticket_evidence.c.ticket_id == ticket_id, ticket_evidence.c.run_id == run_id)).first()
        if exists:
            return False
        self._conn.execute(ticket_evidence.insert().values(
            ticket_id=ticket_id, run_id=run_id, finding_id=finding_id, evidence=evidence, added_at=at))
        self._conn.execute(tickets.update().where(tickets.c.ticket_id == ticket_id).values(updated_at=at))
        return True

    # lifecycle --------------------------------------------------------------------------------
    def lock(self, ticket_id: str) -> dict[str, Any]:
        """The ticket row, locked for update on PostgreSQL (SQLite serialises writers anyway)."""
        row = self._conn.execute(select(tickets).where(tickets.c.ticket_id == ticket_id).with_for_update()).first()
        if row is None:
            raise NotFoundError(f"ticket {ticket_id!r} does not exist")
        return dict(row._mapping)

    def record_transition(self, ticket_id: str, *, from_status: str | None, to_status: str, actor: str,
                          reason: str, at: datetime, run_id: str | None = None,
                          resolution: str | None = None) -> None:
        """Store one transition and the ticket's new status (terminal states release the open key)."""
        self._conn.execute(ticket_transitions.insert().values(
            ticket_id=ticket_id, from_status=from_status, to_status=to_status, actor=actor, reason=reason,
            run_id=run_id, at=at))
        if from_status is None:
            return
        values: dict[str, Any] = {"status": to_status, "updated_at": at}
        if to_status in TERMINAL:
            values |= {"open_key": None, "resolution": resolution or reason}
        if to_status == "closed":
            values["closed_run_id"] = run_id
        self._conn.execute(tickets.update().where(tickets.c.ticket_id == ticket_id).values(**values))

    def set_capa(self, ticket_id: str, capa: dict[str, Any], *, at: datetime) -> None:
        """Store the ticket's CAPA record (JSON of monitor.domain.capa.CapaRecord)."""
        self._conn.execute(tickets.update().where(tickets.c.ticket_id == ticket_id).values(capa=capa, updated_at=at))

    def add_comment(self, ticket_id: str, *, actor: str, body: str, at: datetime) -> int:
        """Store a comment; return its id."""
        result = self._conn.execute(ticket_comments.insert().values(ticket_id=ticket_id, actor=actor, body=body, at=at))
        self._conn.execute(tickets.update().where(tickets.c.ticket_id == ticket_id).values(updated_at=at))
        return int(result.inserted_primary_key[0])

    # reading ----------------------------------------------------------------------------------
    def list(self, *, device_id: str | None = None, status: str | None = None,
             ticket_id: str | None = None) -> list[dict[str, Any]]:
        """Tickets with their evidence, transitions and comments, oldest first."""
        query = select(tickets).order_by(tickets.c.seq)
        if device_id:
            query = query.where(tickets.c.device_id == device_id)
        if status:
            query = query.where(tickets.c.status == status)
        if ticket_id:
            query = query.where(tickets.c.ticket_id == ticket_id)
        result = []
        for row in self._conn.execute(query):
            item = {k: v for k, v in row._mapping.items() if k not in ("open_key", "seq")}
            item["evidence"] = [dict(e._mapping) for e in self._conn.execute(
                select(ticket_evidence.c.run_id, ticket_evidence.c.finding_id, ticket_evidence.c.evidence,
                       ticket_evidence.c.added_at)
                .where(ticket_evidence.c.ticket_id == row.ticket_id).order_by(ticket_evidence.c.id))]
            item["transitions"] = [dict(t._mapping) for t in self._conn.execute(
                select(ticket_transitions.c.from_status, ticket_transitions.c.to_status, ticket_transitions.c.actor,
                       ticket_transitions.c.reason, ticket_transitions.c.run_id, ticket_transitions.c.at)
                .where(ticket_transitions.c.ticket_id == row.ticket_id).order_by(ticket_transitions.c.id))]
            item["comments"] = [dict(c._mapping) for c in self._conn.execute(
                select(ticket_comments.c.actor, ticket_comments.c.body, ticket_comments.c.at)
                .where(ticket_comments.c.ticket_id == row.ticket_id).order_by(ticket_comments.c.id))]
            result.append(item)
        return result

    def get(self, ticket_id: str) -> dict[str, Any]:
        """One ticket with its evidence, transitions and comments."""
        found = self.list(ticket_id=ticket_id)
        if not found:
            raise NotFoundError(f"ticket {ticket_id!r} does not exist")
        return found[0]

    # webhook outbox ---------------------------------------------------------------------------
    def enqueue_event(self, ticket_id: str, *, event: str, payload: dict[str, Any], at: datetime) -> int:
        """Queue a webhook event in the caller's transaction; return its id."""
        result = self._conn.execute(webhook_outbox.insert().values(
            ticket_id=ticket_id, event=event, payload=payload, created_at=at, attempts=0, next_attempt_at=at))
        return int(result.inserted_primary_key[0])

    def due_events(self, now: datetime, limit: int = 100) -> list[dict[str, Any]]:
        """Undelivered events whose next attempt is due, oldest first."""
        rows = self._conn.execute(
            select(webhook_outbox).where(webhook_outbox.c.delivered_at.is_(None),
                                         webhook_outbox.c.next_attempt_at <= now)
            .order_by(webhook_outbox.c.id).limit(limit))
        return [dict(r._mapping) for r in rows]

    def mark_delivered(self, event_id: int, *, at: datetime) -> None:
        """Record a successful delivery."""
        self._conn.execute(webhook_outbox.update().where(webhook_outbox.c.id == event_id).values(
            attempts=webhook_outbox.c.attempts + 1, delivered_at=at, last_error=None))

    def mark_failed(self, event_id: int, *, error: str, next_attempt_at: datetime) -> None:
        """Record a failed attempt and when to retry."""
        self._conn.execute(webhook_outbox.update().where(webhook_outbox.c.id == event_id).values(
            attempts=webhook_outbox.c.attempts + 1, last_error=error[:2000], next_attempt_at=next_attempt_at))

    def outbox(self, *, include_delivered: bool = False) -> list[dict[str, Any]]:
        """Outbox events (by default only undelivered ones), oldest first."""
        query = select(webhook_outbox).order_by(webhook_outbox.c.id)
        if not include_delivered:
            query = query.where(webhook_outbox.c.delivered_at.is_(None))
        return [dict(r._mapping) for r in self._conn.execute(query)]
