"""Retraining tickets and the evidence each analysis run adds to them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from monitor.adapters.db.tables import ticket_evidence, tickets
from monitor.errors import NotFoundError

__all__ = ["TicketRepository", "open_key"]


def open_key(device_id: str, model_version: str, stratum: str, metric: str) -> str:
    """The key under which at most one ticket may be open."""
    return "\x1f".join((device_id, model_version, stratum, metric))


class TicketRepository:
    """Create tickets, attach evidence, list and read them."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def find_open(self, device_id: str, model_version: str, stratum: str, metric: str) -> dict[str, Any] | None:
        """The open ticket for this device x model version x stratum x metric, if any."""
        row = self._conn.execute(select(tickets).where(
            tickets.c.open_key == open_key(device_id, model_version, stratum, metric))).first()
        return None if row is None else dict(row._mapping)

    def create(self, *, device_id: str, model_version: str, stratum: str, metric: str, title: str,
               at: datetime) -> str:
        """Open a new ticket; return its id (``RT-000001`` style)."""
        seq = int(self._conn.execute(select(func.coalesce(func.max(tickets.c.seq), 0))).scalar_one()) + 1
        ticket_id = f"RT-{seq:06d}"
        self._conn.execute(tickets.insert().values(
            ticket_id=ticket_id, seq=seq, device_id=device_id, model_version=model_version, stratum=stratum,
            metric=metric, status="open", open_key=open_key(device_id, model_version, stratum, metric),
            title=title, created_at=at, updated_at=at,
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

    def list(self, *, device_id: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
        """Tickets with their evidence, oldest first."""
        query = select(tickets).order_by(tickets.c.seq)
        if device_id:
            query = query.where(tickets.c.device_id == device_id)
        if status:
            query = query.where(tickets.c.status == status)
        result = []
        for row in self._conn.execute(query):
            item = {k: v for k, v in row._mapping.items() if k not in ("open_key", "seq")}
            item["evidence"] = [dict(e._mapping) for e in self._conn.execute(
                select(ticket_evidence.c.run_id, ticket_evidence.c.finding_id, ticket_evidence.c.evidence,
                       ticket_evidence.c.added_at)
                .where(ticket_evidence.c.ticket_id == row.ticket_id).order_by(ticket_evidence.c.id))]
            result.append(item)
        return result

    def get(self, ticket_id: str) -> dict[str, Any]:
        """One ticket with its evidence."""
        for item in self.list():
            if item["ticket_id"] == ticket_id:
                return item
        raise NotFoundError(f"ticket {ticket_id!r} does not exist")
