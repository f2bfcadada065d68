"""The append-only audit log, chained by SHA-256 hashes (each record hashes its predecessor's hash)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from monitor.adapters.db.tables import audit_log

__all__ = ["GENESIS_HASH", "AuditRepository", "record_hash"]

GENESIS_HASH = "0" * 64


def record_hash(prev_hash: str, at: datetime, actor: str, action: str, entity: str, entity_id: str,
                details: dict[str, Any]) -> str:
    """The chained hash of one audit record."""
    body = json.dumps(
        [prev_hash, at.isoformat(), actor, action, entity, entity_id, details],
        sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str,
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


class AuditRepository:
    """Append and read audit records."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def append(self, *, at: datetime, actor: str, action: str, entity: str, entity_id: str,
               details: dict[str, Any]) -> str:
        """Append one record; return its hash."""
        last = self._conn.execute(
            select(audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
        ).scalar_one_or_none()
        prev = last or GENESIS_HASH
        clean = json.loads(json.dumps(details, default=str))
        digest = record_hash(prev, at, actor, action, entity, entity_id, clean)
        self._conn.execute(audit_log.insert().values(
            at=at, actor=actor, action=action, entity=entity, entity_id=entity_id,
            details=clean, prev_hash=prev, hash=digest,
        ))
        return digest

    def head(self) -> str:
        """Hash of the newest record (the chain head)."""
        last = self._conn.execute(
            select(audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
        ).scalar_one_or_none()
        return last or GENESIS_HASH

    def records(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest ``limit`` records, newest first."""
        rows = self._conn.execute(select(audit_log).order_by(audit_log.c.seq.desc()).limit(limit))
        return [dict(r._mapping) for r in rows]
