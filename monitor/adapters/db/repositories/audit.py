"""The append-only audit log, chained by SHA-256 hashes (each record hashes its predecessor's hash).

Appends are serialised so that the chain never forks under concurrent writers: on PostgreSQL a
transaction-scoped advisory lock is taken before the head is read; on SQLite the record is inserted
first (which takes the database's single write lock until commit) and its hashes are filled in
after reading the predecessor.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Iterator

from sqlalchemy import Connection, select, text

from monitor.adapters.db.tables import audit_log
from monitor.domain.audit_chain import GENESIS_HASH, record_hash

__all__ = ["AUDIT_LOCK_KEY", "GENESIS_HASH", "AuditRepository", "record_hash"]

#: Key of the PostgreSQL advisory lock that serialises audit appends ("samdaudt" as an integer).
AUDIT_LOCK_KEY = 0x73616D6461756474


class AuditRepository:
    """Append and read audit records."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def append(self, *, at: datetime, actor: str, action: str, entity: str, entity_id: str,
               details: dict[str, Any]) -> str:
        """Append one record; return its hash."""
        if self._conn.dialect.name == "postgresql":
            self._conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_LOCK_KEY})
        clean = json.loads(json.dumps(details, default=str))
        seq = self._conn.execute(audit_log.insert().values(
            at=at, actor=actor, action=action, entity=entity, entity_id=entity_id,
            details=clean, prev_hash="", hash="",
        )).inserted_primary_key[0]
        prev = self._conn.execute(
            select(audit_log.c.hash).where(audit_log.c.seq < seq).order_by(audit_log.c.seq.desc()).limit(1)
        ).scalar_one_or_none() or GENESIS_HASH
        digest = record_hash(prev, at, actor, action, entity, entity_id, clean)
        self._conn.execute(audit_log.update().where(audit_log.c.seq == seq).values(prev_hash=prev, hash=digest))
        return digest

    def head(self) -> str:
        """Hash of the newest record (the chain head)."""
        last = self._conn.execute(
            select(audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
        ).scalar_one_or_none()
        return last or GENESIS_HASH

    def records(self, limit: int = 100, *, actor: str | None = None, action: str | None = None,
                entity: str | None = None, entity_id: str | None = None, since: datetime | None = None,
                until: datetime | None = None) -> list[dict[str, Any]]:
        """The newest ``limit`` records matching the filters (action: exact or a ``prefix.`` match), newest first."""
        query = select(audit_log).order_by(audit_log.c.seq.desc()).limit(limit)
        if actor:
            query = query.where(audit_log.c.actor == actor)
        if action:
            query = query.where(audit_log.c.action.startswith(action) if action.endswith(".")
                                else audit_log.c.action == action)
        if entity:
            query = query.where(audit_log.c.entity == entity)
        if entity_id:
            query = query.where(audit_log.c.entity_id == entity_id)
        if since:
            query = query.where(audit_log.c.at >= since)
        if until:
            query = query.where(audit_log.c.at < until)
        return [dict(r._mapping) for r in self._conn.execute(query)]

    def chain(self, batch: int = 5000) -> Iterator[dict[str, Any]]:
        """Every record in chain order (by ``seq``), read in batches."""
        last = None
        while True:
            query = select(audit_log).order_by(audit_log.c.seq).limit(batch)
            if last is not None:
                query = query.where(audit_log.c.seq > last)
            rows = [dict(r._mapping) for r in self._conn.execute(query)]
            if not rows:
                return
            yield from rows
            last = rows[-1]["seq"]
