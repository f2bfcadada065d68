"""Verify, checkpoint and list the keyed, hash-chained audit log (21 CFR 11.10(e); docs/audit.md).

:func:`verify_audit` recomputes the chain (HMAC-SHA256 with the key when it is available, links only
otherwise), then checks what was recorded outside the database (heads printed in reports, submission
archives' and checkpoint files' checkpoints) and that every current regulated row (report signatures and
revisions, tickets and their transitions, device configuration versions) still has the digest of its newest
audit record. :func:`take_checkpoint` gives the head to keep elsewhere (``samd-monitor audit checkpoint``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from monitor.domain.audit_chain import (
    AuditKey,
    ChainReport,
    Checkpoint,
    check_anchors,
    check_rows,
    checkpoint_problem,
    verify_chain,
)
from monitor.errors import IntegrityError
from monitor.service.ports import UnitOfWorkFactory

__all__ = ["AuditVerification", "list_audit", "take_checkpoint", "verify_audit"]

#: Problems named in an IntegrityError message before "and N more".
_SHOWN = 10


class AuditVerification(BaseModel):
    """What ``audit verify`` found. ``mode``: ``keyed`` (every record recomputed with its key), ``links-only``
    (some keyed records' key was not available: their links were checked, a recomputation is not excluded),
    ``legacy`` (no keyed record yet: unkeyed SHA-256, a recomputation is not excluded)."""

    model_config = ConfigDict(frozen=True)

    ok: bool
    records: int
    head: str
    head_seq: int
    head_at: datetime | None
    mode: Literal["keyed", "links-only", "legacy"]
    key_ids: tuple[str, ...]
    unverified: int
    unknown_key_ids: tuple[str, ...]
    anchors: int
    checkpoints: int
    rows: int
    broken: str | None  # the first broken link, when the chain itself is broken
    problems: tuple[str, ...]

    @property
    def caveat(self) -> str | None:
        """What this verification could not exclude (``None`` when every record was recomputed with its key)."""
        if self.mode == "legacy":
            return "links only: no keyed record (unkeyed SHA-256 chain): recomputation not excluded"
        if self.mode == "links-only":
            return (f"links only for {self.unverified} records keyed with {', '.join(self.unknown_key_ids)} (key not "
                    "given: --key-file): recomputation not excluded")
        return None


def _verification(chain: ChainReport, keys: Mapping[str, AuditKey], problems: list[str], *, anchors: int,
                  checkpoints: int, rows: int) -> AuditVerification:
    return AuditVerification(
        ok=not problems, records=chain.records, head=chain.head, head_seq=chain.head_seq, head_at=chain.head_at,
        mode=chain.mode, key_ids=tuple(sorted(keys)), unverified=chain.unverified,
        unknown_key_ids=chain.unknown_key_ids, anchors=anchors, checkpoints=checkpoints, rows=rows,
        broken=None if chain.broken is None else chain.broken.describe(), problems=tuple(problems))


def verify_audit(*, uow: UnitOfWorkFactory, keys: Sequence[AuditKey] | None = None, heads: Sequence[str] = (),
                 checkpoints: Sequence[Checkpoint] = (), strict: bool | None = None,
                 raise_on_problem: bool = True) -> AuditVerification:
    """Verify the chain and everything anchored to it; raise :class:`IntegrityError` naming every problem
    (unless ``raise_on_problem`` is false: then they are in the result).

    ``keys``: the keys to recompute with, given explicitly (then, unless ``strict`` is false, every keyed record
    must verify with one of them); default: the configured key when its file exists (records keyed with another
    key are then checked for their links only, unless they follow records of the known key). ``heads``: chain heads (or prefixes of at least
    12 hex digits) recorded elsewhere, e.g. printed in a report; ``checkpoints``: checkpoints read from
    checkpoint files or submission archives. Heads recorded by report revisions are always checked.
    """
    with uow() as unit:
        available = {k.key_id: k for k in keys} if keys is not None else unit.audit.keys()
        chain = verify_chain(list(unit.audit.chain()), available, strict=keys is not None if strict is None else strict)
        problems: list[str] = []
        rows = 0
        anchors = [(f"report {report_id}", head) for report_id, head in unit.revisions.audit_heads()]
        anchors += [("the given head", head) for head in heads]
        if chain.broken is not None:
            problems.append(chain.broken.describe())
        else:
            problems += check_anchors(chain, anchors)
            problems += [p for c in checkpoints if (p := checkpoint_problem(c, chain, available)) is not None]
            current = unit.audit.regulated_digests()
            if chain.keyed == 0 and available and (chain.records or current):
                problems.append(f"no audit record is keyed with key {', '.join(sorted(available))}, which exists: the "
                                "keyed records were deleted, or the chain recomputed without the key")
            if chain.keyed or chain.records == 0:  # rows are digested from the first keyed record on (a baseline)
                rows = len(current)
                problems += check_rows(chain.rows, current)
    result = _verification(chain, available, problems, anchors=len(anchors), checkpoints=len(checkpoints),
                           rows=rows)
    if problems and raise_on_problem:
        more = f"; and {len(problems) - _SHOWN} more" if len(problems) > _SHOWN else ""
        raise IntegrityError("; ".join(problems[:_SHOWN]) + more)
    return result


def take_checkpoint(*, uow: UnitOfWorkFactory) -> Checkpoint:
    """The chain's head as an authenticated checkpoint, to be kept outside the database (a checkpoint file,
    a submission archive). The chain is verified first: a broken chain gets no checkpoint."""
    verify_audit(uow=uow)
    with uow() as unit:
        return unit.audit.checkpoint()


def list_audit(*, uow: UnitOfWorkFactory, limit: int = 100, actor: str | None = None, action: str | None = None,
               entity: str | None = None, entity_id: str | None = None, since: datetime | None = None,
               until: datetime | None = None) -> list[dict[str, Any]]:
    """Audit records matching the filters, newest first (``action`` ending in ``.`` matches a prefix)."""
    with uow() as unit:
        return unit.audit.records(limit, actor=actor, action=action, entity=entity, entity_id=entity_id,
                                  since=since, until=until)
