"""The audit log's hash chain: how a record is hashed, how a chain is verified, checkpoints and row digests.

Each record stores ``prev_hash`` (its predecessor's hash; 64 zeros for the first record) and its own ``hash``:

- **keyed** records (``key_id`` set): ``HMAC-SHA256(key, canonical JSON of [version, seq, prev_hash, at, actor,
  action, entity, entity_id, details, rows, key_id])`` (RFC 2104). The key is held outside the database (a key
  file); the record stores only the key's fingerprint (:attr:`AuditKey.key_id`). Without the key nobody can
  recompute a keyed record, so deleting or editing a record and recomputing the rest is detected by anyone
  holding the key.
- **legacy** records (``key_id`` NULL, written before migration 0010): ``SHA-256(canonical JSON of [prev_hash,
  at, actor, action, entity, entity_id, details])``. They are accepted only before the first keyed record; a
  legacy record after a keyed one is a downgrade (someone recomputed the chain without the key).

Editing a record breaks its own hash; deleting or reordering records breaks the ``prev_hash`` link of the
record that follows. Deleting the newest records is visible only against a head recorded elsewhere:
a :class:`Checkpoint` (sequence number, hash, record count, time and key id, authenticated by an HMAC under
the same key) written into submission archives and checkpoint files, or a head printed in a report.

Regulated rows (:data:`REGULATED_TABLES`) are covered too: each audit record carries, in ``row_digests``, the SHA-256
digest (:func:`row_digest`) of the regulated rows of its entity as written; verification compares every
current row with its newest audited digest (:func:`check_rows`).

References: 21 CFR 11.10(e) (secure, computer-generated, time-stamped audit trails that do not obscure
previously recorded information), 11.10(c) (protection of records), 11.70 (signature/record linking);
RFC 2104 (HMAC); shared/reference/regulatory.md section 2 (audit-trail review attestation).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CHECKPOINT_FORMAT", "GENESIS_HASH", "REGULATED_TABLES", "AuditKey", "BrokenLink", "ChainReport", "Checkpoint",
    "RegulatedTable", "check_anchors", "check_rows", "checkpoint_problem", "keyed_record_hash", "make_checkpoint",
    "record_hash", "row_digest", "row_name", "verify_chain",
]

GENESIS_HASH = "0" * 64
CHECKPOINT_FORMAT = "samd-monitor/audit-checkpoint"
_KEYED_VERSION = "samd-audit-hmac-v1"
_KEY_ID_DOMAIN = b"samd-monitor audit key id v1\x00"


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8")


@dataclass(frozen=True)
class AuditKey:
    """The secret key of the keyed chain (never stored in the database; its :attr:`key_id` is)."""

    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.secret) < 32:
            raise ValueError("an audit key needs at least 32 bytes")

    @property
    def key_id(self) -> str:
        """Fingerprint of the key (16 hex digits of a domain-separated SHA-256): names the key, reveals nothing."""
        return hashlib.sha256(_KEY_ID_DOMAIN + self.secret).hexdigest()[:16]

    def mac(self, body: Any) -> str:
        """HMAC-SHA256 (RFC 2104) of the canonical JSON of ``body``."""
        return hmac.new(self.secret, _canonical(body), hashlib.sha256).hexdigest()


def record_hash(prev_hash: str, at: datetime, actor: str, action: str, entity: str, entity_id: str,
                details: dict[str, Any]) -> str:
    """The legacy (unkeyed) chained hash of one audit record, written before migration 0010."""
    return hashlib.sha256(_canonical([prev_hash, at.isoformat(), actor, action, entity, entity_id, details])).hexdigest()


def keyed_record_hash(key: AuditKey, *, seq: int, prev_hash: str, at: datetime, actor: str, action: str,
                      entity: str, entity_id: str, details: dict[str, Any], rows: dict[str, str] | None) -> str:
    """The keyed chained hash (HMAC-SHA256 under ``key``) of one audit record."""
    return key.mac([_KEYED_VERSION, int(seq), prev_hash, at.astimezone(timezone.utc).isoformat(), actor, action, entity, entity_id, details,
                    rows or {}, key.key_id])


# ------------------------------------------------------------------------------------------- regulated rows

@dataclass(frozen=True)
class RegulatedTable:
    """A table whose rows are digested into the audit records of their entity.

    ``mutable``: the row may legitimately change (its digest is recomputed by every audited action on its
    entity); otherwise it is written once (an existing digest is carried forward, never recomputed).
    ``ignored``: bookkeeping columns left out of the digest (they change without an audited action).
    """

    name: str
    entity: Literal["report", "ticket", "device"]
    mutable: bool
    ignored: tuple[str, ...] = ()


#: The regulated tables (issue 16 item 4; 21 CFR 11.10(e), 11.70): report signatures, report revisions,
#: tickets with their transitions, and device configuration versions.
REGULATED_TABLES: dict[str, RegulatedTable] = {t.name: t for t in (
    RegulatedTable("report_revisions", "report", mutable=True),
    RegulatedTable("report_signatures", "report", mutable=False),
    RegulatedTable("tickets", "ticket", mutable=True, ignored=("updated_at",)),
    RegulatedTable("ticket_transitions", "ticket", mutable=False),
    RegulatedTable("device_config_versions", "device", mutable=False),
)}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        moment = value if value.tzinfo is None else value.astimezone(timezone.utc)
        return moment.replace(tzinfo=None).isoformat(timespec="microseconds")
    if isinstance(value, bytes):
        return value.hex()
    return value


def row_name(table: str, key: Sequence[Any] | Any) -> str:
    """How a row is named in audit records and messages: ``table:key`` (primary-key values joined by ``/``)."""
    parts = key if isinstance(key, (list, tuple)) else (key,)
    return f"{table}:" + "/".join(str(p) for p in parts)


def row_digest(table: str, row: Mapping[str, Any]) -> str:
    """Canonical SHA-256 of a regulated row as stored: every column except the table's ignored ones and the
    NULL ones (a nullable column added later leaves existing digests unchanged); datetimes as UTC ISO-8601."""
    ignored = REGULATED_TABLES[table].ignored if table in REGULATED_TABLES else ()
    body = {k: _plain(v) for k, v in row.items() if k not in ignored and v is not None}
    return hashlib.sha256(_canonical([table, body])).hexdigest()


def check_rows(audited: Mapping[str, tuple[int, str]], current: Mapping[str, str]) -> list[str]:
    """Compare the current digests of the regulated rows (``row name -> digest``) with their newest audited
    digests (``row name -> (record seq, digest)``); one problem per row, naming table and key only."""
    problems = []
    for name in sorted(set(audited) | set(current)):
        if name not in audited:
            problems.append(f"{name}: no audit record covers this row (written outside the application)")
        elif name not in current:
            problems.append(f"{name}: the row audited at record {audited[name][0]} no longer exists (deleted)")
        elif audited[name][1] != current[name]:
            problems.append(f"{name}: differs from its digest audited at record {audited[name][0]} "
                            "(edited outside the application)")
    return problems


# ------------------------------------------------------------------------------------------------ chain

@dataclass(frozen=True)
class BrokenLink:
    """The first record at which the chain fails, and why."""

    seq: int
    problem: str  # edited | deleted | reordered | downgraded | foreign-key

    def describe(self) -> str:
        """One-line explanation."""
        what = {
            "edited": "its content does not match its hash (the record was edited, or the chain recomputed "
                      "without the key)",
            "deleted": "its prev_hash matches no record (a preceding record was deleted or rewritten)",
            "reordered": "its prev_hash is the hash of another record (records were reordered or swapped)",
            "downgraded": "an unkeyed record follows keyed ones (the chain was recomputed without the key)",
            "foreign-key": "it is keyed with another key than the records before it (the chain was recomputed "
                           "with another key)",
        }[self.problem]
        return f"audit chain broken at record {self.seq}: {what}"


@dataclass(frozen=True)
class ChainReport:
    """Result of verifying a chain.

    ``mode``: ``keyed`` when every keyed record was recomputed with its key; ``links-only`` when some keyed
    records could only be checked for their links (their key was not available, so a recomputation is not
    excluded); ``legacy`` when the chain has no keyed record. ``index`` maps every hash to ``(seq, count)``
    (position in the chain), ``rows`` each regulated row to its newest audited ``(seq, digest)``.
    """

    records: int
    head: str
    broken: BrokenLink | None
    head_seq: int = 0
    head_at: datetime | None = None
    keyed: int = 0
    unverified: int = 0
    unknown_key_ids: tuple[str, ...] = ()
    index: dict[str, tuple[int, int]] = field(default_factory=dict, repr=False)
    rows: dict[str, tuple[int, str]] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        """True when no link is broken."""
        return self.broken is None

    @property
    def mode(self) -> Literal["keyed", "links-only", "legacy"]:
        """How far the chain could be checked (see the class docstring)."""
        if self.keyed == 0:
            return "legacy"
        return "links-only" if self.unverified else "keyed"


def verify_chain(records: Iterable[Mapping[str, Any]], keys: Mapping[str, AuditKey] | None = None, *,
                 strict: bool = False) -> ChainReport:
    """Recompute the chain of ``records`` (in ``seq`` order) and name the first broken link.

    ``keys``: the available keys by key id. A keyed record whose key is missing is checked for its link
    only (counted in ``unverified``). It is a break instead when ``strict`` (the keys were given explicitly,
    so every keyed record must verify), or when it follows a record keyed with an available key (a switch
    to an unknown key is what recomputing without the key looks like).
    """
    keys = dict(keys or {})
    rows = records if isinstance(records, list) else list(records)
    hashes = {r["hash"] for r in rows}
    index: dict[str, tuple[int, int]] = {GENESIS_HASH: (0, 0)}
    audited: dict[str, tuple[int, str]] = {}
    expected_prev, keyed, unverified, unknown, last_key = GENESIS_HASH, 0, 0, [], None
    head_seq, head_at = 0, None

    def report(count: int, broken: BrokenLink | None) -> ChainReport:
        return ChainReport(count, expected_prev, broken, head_seq, head_at, keyed, unverified, tuple(unknown),
                           index, audited)

    for count, r in enumerate(rows, start=1):
        seq = int(r["seq"])
        if r["prev_hash"] != expected_prev:
            return report(count, BrokenLink(seq, "reordered" if r["prev_hash"] in hashes else "deleted"))
        key_id = r.get("key_id")
        if key_id is None:
            if keyed:
                return report(count, BrokenLink(seq, "downgraded"))
            recomputed = record_hash(r["prev_hash"], r["at"], r["actor"], r["action"], r["entity"], r["entity_id"],
                                     r["details"])
        else:
            keyed += 1
            key = keys.get(key_id)
            if key is None:
                if strict or (last_key is not None and last_key in keys):
                    return report(count, BrokenLink(seq, "foreign-key"))
                unverified += 1
                if key_id not in unknown:
                    unknown.append(key_id)
                recomputed = r["hash"]
            else:
                recomputed = keyed_record_hash(key, seq=seq, prev_hash=r["prev_hash"], at=r["at"], actor=r["actor"],
                                               action=r["action"], entity=r["entity"], entity_id=r["entity_id"],
                                               details=r["details"], rows=r.get("row_digests"))
            last_key = key_id
        if recomputed != r["hash"]:
            return report(count, BrokenLink(seq, "edited"))
        expected_prev, head_seq, head_at = r["hash"], seq, r["at"]
        index[r["hash"]] = (seq, count)
        for name, digest in (r.get("row_digests") or {}).items():
            audited[name] = (seq, digest)
    return report(len(rows), None)


# ------------------------------------------------------------------------------------------- checkpoints

class Checkpoint(BaseModel):
    """The chain's head as recorded outside the database: record ``seq`` has ``hash`` and is the
    ``count``-th record, written at ``at``; ``hmac`` authenticates these fields under the key ``key_id``
    (empty when the chain had no key)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal["samd-monitor/audit-checkpoint"] = CHECKPOINT_FORMAT
    seq: int = Field(ge=0)
    hash: str = Field(pattern="^[0-9a-f]{64}$")
    count: int = Field(ge=0)
    at: datetime | None
    key_id: str | None
    hmac: str | None

    def body(self) -> list[Any]:
        """What the HMAC covers."""
        return [CHECKPOINT_FORMAT, self.seq, self.hash, self.count, None if self.at is None else self.at.isoformat(),
                self.key_id]


def make_checkpoint(key: AuditKey | None, *, seq: int, hash: str, count: int, at: datetime | None) -> Checkpoint:
    """A checkpoint of the head ``(seq, hash)``, authenticated by ``key`` when there is one."""
    plain = Checkpoint(seq=seq, hash=hash, count=count, at=at, key_id=None, hmac=None)
    if key is None:
        return plain
    keyed = plain.model_copy(update={"key_id": key.key_id})
    return keyed.model_copy(update={"hmac": key.mac(keyed.body())})


def checkpoint_problem(checkpoint: Checkpoint, chain: ChainReport, keys: Mapping[str, AuditKey]) -> str | None:
    """Why ``chain`` does not contain ``checkpoint`` (``None`` when it does): a forged checkpoint, a head no
    longer in the chain (the records up to it were deleted or rewritten), or fewer records up to it."""
    name = f"checkpoint of record {checkpoint.seq} ({checkpoint.hash[:16]}...)"
    key = keys.get(checkpoint.key_id or "")
    if key is not None and not hmac.compare_digest(key.mac(checkpoint.body()), checkpoint.hmac or ""):
        return f"{name}: its HMAC does not verify with key {key.key_id} (the checkpoint was altered or forged)"
    found = chain.index.get(checkpoint.hash)
    if found is None:
        return (f"audit chain truncated or rewritten: the {name} is no longer in the chain (records up to it were "
                "deleted or recomputed)")
    if found != (checkpoint.seq, checkpoint.count):
        return (f"audit chain rewritten: the {name} is now record {found[0]}, number {found[1]} in the chain "
                f"(it was number {checkpoint.count}: records before it were deleted)")
    return None


def check_anchors(chain: ChainReport, heads: Iterable[tuple[str, str]]) -> list[str]:
    """Heads recorded elsewhere (``(where, hash or hash prefix of at least 12 hex digits)``) that the chain no
    longer holds: its newest records at that time were deleted, or the chain was recomputed."""
    problems = []
    for where, head in heads:
        head = head.strip().lower()
        present = head in chain.index if len(head) == 64 else (
            len(head) >= 12 and any(h.startswith(head) for h in chain.index))
        if not present:
            problems.append(f"audit chain truncated: {where} recorded the chain head {head[:16]}..., which is no "
                            "longer in the chain (its newest records were deleted, or the chain recomputed)")
    return problems
