"""The append-only audit log, chained by HMAC-SHA256 under a key held outside the database.

Appends are serialised so that the chain never forks under concurrent writers: on PostgreSQL a
transaction-scoped advisory lock is taken before the head is read; on SQLite the record is inserted
first (which takes the database's single write lock until commit) and its hashes are filled in
after reading the predecessor.

Each record is keyed (:func:`monitor.domain.audit_chain.keyed_record_hash`) with the key of the key source
(:mod:`monitor.adapters.audit_key`) and carries, in ``row_digests``, the digests of the regulated rows of its entity
(report -> its revision, the revisions it supersedes or is superseded by, and its signatures; ticket -> the
ticket and its transitions; device -> its configuration versions), read back in the same transaction, so
the digest is of the rows as written. Rows written once (signatures, transitions, configuration versions)
keep the digest of their first audit record; rows that legitimately change (revisions, tickets) are
re-digested. The first record after the unkeyed (legacy) part of a chain, or the first record of all,
carries the digests of every regulated row (a baseline).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Iterator, Protocol

from sqlalchemy import Connection, Table, func, or_, select, text

from monitor.adapters.db.tables import (
    audit_log,
    device_config_versions,
    report_revisions,
    report_signatures,
    ticket_transitions,
    tickets,
)
from monitor.domain.audit_chain import (
    GENESIS_HASH,
    REGULATED_TABLES,
    AuditKey,
    Checkpoint,
    keyed_record_hash,
    make_checkpoint,
    record_hash,
    row_digest,
    row_name,
)

__all__ = ["AUDIT_LOCK_KEY", "GENESIS_HASH", "AuditKeySource", "AuditRepository", "record_hash"]

#: Key of the PostgreSQL advisory lock that serialises audit appends ("samdaudt" as an integer).
AUDIT_LOCK_KEY = 0x73616D6461756474

_TABLES: dict[str, Table] = {t.name: t for t in (report_revisions, report_signatures, tickets, ticket_transitions,
                                                 device_config_versions)}


class AuditKeySource(Protocol):
    """Where the chain's key comes from (:mod:`monitor.adapters.audit_key`)."""

    def key_for_writing(self) -> AuditKey: ...

    def key_for_reading(self) -> AuditKey | None: ...


class AuditRepository:
    """Append and read audit records."""

    def __init__(self, conn: Connection, keys: AuditKeySource | None = None) -> None:
        self._conn = conn
        self._keys = keys

    def append(self, *, at: datetime, actor: str, action: str, entity: str, entity_id: str,
               details: dict[str, Any]) -> str:
        """Append one record; return its hash."""
        if self._conn.dialect.name == "postgresql":
            self._conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_LOCK_KEY})
        key = self._keys.key_for_writing() if self._keys is not None else None
        clean = json.loads(json.dumps(details, default=str))
        seq = self._conn.execute(audit_log.insert().values(
            at=at, actor=actor, action=action, entity=entity, entity_id=entity_id,
            details=clean, prev_hash="", hash="",
        )).inserted_primary_key[0]
        previous = self._conn.execute(
            select(audit_log.c.hash, audit_log.c.key_id).where(audit_log.c.seq < seq)
            .order_by(audit_log.c.seq.desc()).limit(1)).first()
        prev = previous.hash if previous is not None else GENESIS_HASH
        if key is None:  # no key source wired (never by the application): a legacy record
            digest = record_hash(prev, at, actor, action, entity, entity_id, clean)
            self._conn.execute(audit_log.update().where(audit_log.c.seq == seq).values(prev_hash=prev, hash=digest))
            return digest
        baseline = previous is None or previous.key_id is None
        rows = self._all_digests() if baseline else self._entity_digests(entity, entity_id, seq)
        digest = keyed_record_hash(key, seq=seq, prev_hash=prev, at=at, actor=actor, action=action, entity=entity,
                                   entity_id=entity_id, details=clean, rows=rows)
        self._conn.execute(audit_log.update().where(audit_log.c.seq == seq).values(
            prev_hash=prev, hash=digest, key_id=key.key_id, row_digests=rows or None))
        return digest

    # --- regulated rows ---------------------------------------------------------------------------------

    def _digests(self, table: Table, *conditions: Any) -> dict[str, str]:
        key_columns = list(table.primary_key.columns)
        found = {}
        for r in self._conn.execute(select(table).where(*conditions)):
            row = dict(r._mapping)
            found[row_name(table.name, [row[c.name] for c in key_columns])] = row_digest(table.name, row)
        return found

    def _all_digests(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for table in _TABLES.values():
            found |= self._digests(table)
        return found

    def regulated_digests(self) -> dict[str, str]:
        """The digest of every current regulated row, by row name (for verification)."""
        return self._all_digests()

    def _entity_digests(self, entity: str, entity_id: str, seq: int) -> dict[str, str]:
        if entity == "report":
            superseded = select(report_revisions.c.supersedes).where(report_revisions.c.report_id == entity_id)
            current = self._digests(report_revisions, or_(
                report_revisions.c.report_id == entity_id, report_revisions.c.supersedes == entity_id,
                report_revisions.c.report_id.in_(superseded.scalar_subquery()))) \
                | self._digests(report_signatures, report_signatures.c.report_id == entity_id)
        elif entity == "ticket":
            current = self._digests(tickets, tickets.c.ticket_id == entity_id) \
                | self._digests(ticket_transitions, ticket_transitions.c.ticket_id == entity_id)
        elif entity == "device":
            current = self._digests(device_config_versions, device_config_versions.c.device_id == entity_id)
        else:
            return {}
        before = self._conn.execute(
            select(audit_log.c.row_digests).where(audit_log.c.entity == entity, audit_log.c.entity_id == entity_id,
                                           audit_log.c.seq < seq, audit_log.c.row_digests.is_not(None))
            .order_by(audit_log.c.seq.desc()).limit(1)).scalar_one_or_none() or {}
        carried = {name: digest for name, digest in before.items()
                   if name not in current or not REGULATED_TABLES[name.split(":", 1)[0]].mutable}
        return current | carried

    # --- reading ---------------------------------------------------------------------------------------

    def keys(self) -> dict[str, AuditKey]:
        """The configured key by its id, when its file exists (verification never creates a key)."""
        key = self._keys.key_for_reading() if self._keys is not None else None
        return {} if key is None else {key.key_id: key}

    def head(self) -> str:
        """Hash of the newest record (the chain head)."""
        last = self._conn.execute(
            select(audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
        ).scalar_one_or_none()
        return last or GENESIS_HASH

    def checkpoint(self) -> Checkpoint:
        """The head as a checkpoint (sequence number, hash, record count, the head's time, key id), authenticated
        by the key (created when missing; the checkpoint is for writing elsewhere)."""
        last = self._conn.execute(select(audit_log.c.seq, audit_log.c.hash, audit_log.c.at)
                                  .order_by(audit_log.c.seq.desc()).limit(1)).first()
        count = self._conn.execute(select(func.count()).select_from(audit_log)).scalar_one()
        key = self._keys.key_for_writing() if self._keys is not None else None
        if last is None:
            return make_checkpoint(key, seq=0, hash=GENESIS_HASH, count=0, at=None)
        return make_checkpoint(key, seq=int(last.seq), hash=last.hash, count=int(count), at=last.at)

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
