"""The audit log's hash chain: how a record is hashed, and how a chain is verified.

Each record stores ``prev_hash`` (its predecessor's hash; 64 zeros for the first record) and
``hash = SHA-256(canonical JSON of [prev_hash, at, actor, action, entity, entity_id, details])``.
Editing a record breaks its own hash; deleting or reordering records breaks the ``prev_hash`` link
of the record that follows. Deleting the newest records is only visible against a head recorded
elsewhere (report revisions and submission manifests record the head they saw).
Reference: 21 CFR 11.10(e) (secure, time-stamped audit trails that do not obscure earlier entries).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Mapping

__all__ = ["GENESIS_HASH", "BrokenLink", "ChainReport", "record_hash", "verify_chain"]

GENESIS_HASH = "0" * 64


def record_hash(prev_hash: str, at: datetime, actor: str, action: str, entity: str, entity_id: str,
                details: dict[str, Any]) -> str:
    """The chained hash of one audit record."""
    body = json.dumps(
        [prev_hash, at.isoformat(), actor, action, entity, entity_id, details],
        sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str,
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class BrokenLink:
    """The first record at which the chain fails, and why."""

    seq: int
    problem: str  # edited | deleted | reordered

    def describe(self) -> str:
        """One-line explanation."""
        what = {
            "edited": "its content does not match its hash (the record was edited)",
            "deleted": "its prev_hash matches no record (a preceding record was deleted or rewritten)",
            "reordered": "its prev_hash is the hash of another record (records were reordered or swapped)",
        }[self.problem]
        return f"audit chain broken at record {self.seq}: {what}"


@dataclass(frozen=True)
class ChainReport:
    """Result of verifying a chain."""

    records: int
    head: str
    broken: BrokenLink | None

    @property
    def ok(self) -> bool:
        """True when no link is broken."""
        return self.broken is None


def verify_chain(records: Iterable[Mapping[str, Any]]) -> ChainReport:
    """Recompute the chain of ``records`` (in ``seq`` order) and name the first broken link."""
    rows = list(records)
    hashes = {r["hash"] for r in rows}
    expected_prev = GENESIS_HASH
    for count, r in enumerate(rows, start=1):
        recomputed = record_hash(r["prev_hash"], r["at"], r["actor"], r["action"], r["entity"], r["entity_id"],
                                 r["details"])
        if r["prev_hash"] != expected_prev:
            problem = "reordered" if r["prev_hash"] in hashes else "deleted"
            return ChainReport(count, expected_prev, BrokenLink(int(r["seq"]), problem))
        if recomputed != r["hash"]:
            return ChainReport(count, expected_prev, BrokenLink(int(r["seq"]), "edited"))
        expected_prev = r["hash"]
    return ChainReport(len(rows), expected_prev, None)
