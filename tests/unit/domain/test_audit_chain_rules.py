"""The pure chain verifier names the first broken link for an edited, deleted or reordered record."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone

from monitor.domain.audit_chain import GENESIS_HASH, record_hash, verify_chain


def _chain(n: int) -> list[dict]:
    rows, prev = [], GENESIS_HASH
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    for i in range(1, n + 1):
        row = {"seq": i, "at": start + timedelta(seconds=i), "actor": "a", "action": "x.y", "entity": "e",
               "entity_id": str(i), "details": {"n": i, "text": "值"}, "prev_hash": prev}
        row["hash"] = record_hash(prev, row["at"], "a", "x.y", "e", str(i), row["details"])
        rows.append(row)
        prev = row["hash"]
    return rows


def test_intact_chain() -> None:
    rows = _chain(5)
    report = verify_chain(rows)
    assert report.ok and report.records == 5 and report.head == rows[-1]["hash"]
    assert verify_chain([]).head == GENESIS_HASH


def test_edit_delete_and_swap_are_named_at_the_first_broken_record() -> None:
    edited = copy.deepcopy(_chain(5))
    edited[2]["details"]["n"] = 99
    assert (verify_chain(edited).broken.seq, verify_chain(edited).broken.problem) == (3, "edited")
    deleted = _chain(5)
    del deleted[1]
    assert (verify_chain(deleted).broken.seq, verify_chain(deleted).broken.problem) == (3, "deleted")
    swapped = _chain(5)
    swapped[1], swapped[3] = swapped[3], swapped[1]
    assert (verify_chain(swapped).broken.seq, verify_chain(swapped).broken.problem) == (4, "reordered")
    assert "record 4" in verify_chain(swapped).broken.describe()
