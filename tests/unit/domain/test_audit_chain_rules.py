"""The pure chain verifier names the first broken link for an edited, deleted or reordered record; the keyed
chain (HMAC-SHA256, RFC 2104), its checkpoints and the regulated-row digests (issue 16 item 4)."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone

from monitor.domain.audit_chain import (
    GENESIS_HASH,
    AuditKey,
    check_anchors,
    check_rows,
    checkpoint_problem,
    keyed_record_hash,
    make_checkpoint,
    record_hash,
    row_digest,
    row_name,
    verify_chain,
)


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


# --- the keyed chain (issue 16 item 4) -----------------------------------------------------------------------

KEY = AuditKey(b"k" * 32)
OTHER = AuditKey(b"o" * 32)


def _keyed(rows: list[dict], key: AuditKey, n: int, *, digests: dict[str, str] | None = None) -> list[dict]:
    """``rows`` continued by ``n`` records keyed with ``key``."""
    rows = [dict(r) for r in rows]
    prev = rows[-1]["hash"] if rows else GENESIS_HASH
    start = datetime(2026, 3, 1, tzinfo=timezone.utc)
    for i in range(n):
        seq = len(rows) + 1
        row = {"seq": seq, "at": start + timedelta(seconds=seq), "actor": "a", "action": "x.k", "entity": "report",
               "entity_id": "r", "details": {"i": i}, "prev_hash": prev, "key_id": key.key_id,
               "row_digests": digests if i == 0 else None}
        row["hash"] = keyed_record_hash(key, seq=seq, prev_hash=prev, at=row["at"], actor="a", action="x.k",
                                        entity="report", entity_id="r", details=row["details"],
                                        rows=row["row_digests"])
        rows.append(row)
        prev = row["hash"]
    return rows


def test_a_keyed_chain_continues_a_legacy_one_and_verifies_with_its_key() -> None:
    rows = _keyed(_chain(3), KEY, 3, digests={"tickets:RT-1": "d" * 64})
    report = verify_chain(rows, {KEY.key_id: KEY})
    assert report.ok and report.mode == "keyed" and report.keyed == 3 and report.head_seq == 6
    assert report.rows == {"tickets:RT-1": (4, "d" * 64)} and report.index[rows[2]["hash"]] == (3, 3)
    assert verify_chain(_chain(3)).mode == "legacy"


def test_without_the_key_only_the_links_are_checked_and_the_report_says_so() -> None:
    report = verify_chain(_keyed([], KEY, 3))
    assert report.ok and report.mode == "links-only" and report.unverified == 3
    assert report.unknown_key_ids == (KEY.key_id,)
    strict = verify_chain(_keyed([], KEY, 3), {OTHER.key_id: OTHER}, strict=True)
    assert (strict.broken.seq, strict.broken.problem) == (1, "foreign-key")


def test_a_chain_recomputed_without_the_key_is_caught_with_it() -> None:
    rows = _keyed(_chain(2), KEY, 4)
    del rows[3]  # a middle (keyed) record deleted ...
    recomputed = _keyed(rows[:3], OTHER, 2)  # ... and the rest recomputed under another key
    broken = verify_chain(recomputed, {KEY.key_id: KEY}).broken
    assert (broken.seq, broken.problem) == (4, "foreign-key") and "another key" in broken.describe()
    assert verify_chain(recomputed).mode == "links-only"  # without the key: not excluded, and said so
    downgraded = rows[:3]
    legacy = {"seq": 4, "at": rows[2]["at"], "actor": "a", "action": "x", "entity": "e", "entity_id": "1",
              "details": {}, "prev_hash": rows[2]["hash"]}
    legacy["hash"] = record_hash(legacy["prev_hash"], legacy["at"], "a", "x", "e", "1", {})
    assert verify_chain([*downgraded, legacy]).broken.problem == "downgraded"  # even without the key
    edited = _keyed([], KEY, 3)
    edited[1]["details"] = {"i": 99}
    assert verify_chain(edited, {KEY.key_id: KEY}).broken.problem == "edited"


def test_an_earlier_unknown_key_is_links_only_but_a_switch_away_from_the_known_key_breaks() -> None:
    rows = _keyed(_keyed([], OTHER, 2), KEY, 2)  # e.g. a restore into a new place, then a new key
    report = verify_chain(rows, {KEY.key_id: KEY})
    assert report.ok and report.mode == "links-only" and report.unverified == 2


def test_row_digests_are_canonical_and_ignore_bookkeeping_and_nulls() -> None:
    moment = datetime(2026, 3, 1, 8, tzinfo=timezone.utc)
    row = {"ticket_id": "RT-1", "status": "open", "created_at": moment, "updated_at": moment, "x": None}
    same = {"x": None, "status": "open", "ticket_id": "RT-1", "updated_at": moment + timedelta(days=3),
            "created_at": moment.astimezone(timezone(timedelta(hours=8)))}
    assert row_digest("tickets", row) == row_digest("tickets", same)
    assert row_digest("tickets", row) != row_digest("tickets", row | {"status": "closed"})
    assert row_digest("tickets", row) != row_digest("ticket_transitions", row)
    assert row_name("report_signatures", 7) == "report_signatures:7"


def test_row_problems_name_table_and_key_only() -> None:
    problems = check_rows({"report_signatures:1": (5, "a"), "report_signatures:2": (6, "b")},
                          {"report_signatures:1": "a", "report_signatures:2": "c", "tickets:RT-9": "d"})
    assert problems == [
        "report_signatures:2: differs from its digest audited at record 6 (edited outside the application)",
        "tickets:RT-9: no audit record covers this row (written outside the application)"]
    assert check_rows({"tickets:RT-1": (3, "a")}, {}) == [
        "tickets:RT-1: the row audited at record 3 no longer exists (deleted)"]


def test_checkpoints_and_heads_detect_truncation_and_forgery() -> None:
    rows = _keyed([], KEY, 5)
    chain = verify_chain(rows, {KEY.key_id: KEY})
    saved = make_checkpoint(KEY, seq=5, hash=rows[-1]["hash"], count=5, at=rows[-1]["at"])
    keys = {KEY.key_id: KEY}
    assert checkpoint_problem(saved, chain, keys) is None and saved.key_id == KEY.key_id
    truncated = verify_chain(rows[:3], keys)
    assert "truncated or rewritten" in checkpoint_problem(saved, truncated, keys)
    forged = saved.model_copy(update={"count": 4})
    assert "HMAC does not verify" in checkpoint_problem(forged, chain, keys)
    assert "records before it were deleted" in checkpoint_problem(
        make_checkpoint(KEY, seq=5, hash=rows[-1]["hash"], count=6, at=None), chain, keys)
    assert check_anchors(chain, [("report r", rows[2]["hash"][:12]), ("a head", rows[-1]["hash"])]) == []
    assert "truncated: report r recorded" in check_anchors(truncated, [("report r", rows[4]["hash"])])[0]
    assert check_anchors(chain, [("short", rows[2]["hash"][:8])])  # too short to identify a record


def test_the_key_is_never_shown() -> None:
    assert "kkkk" not in repr(KEY) and len(KEY.key_id) == 16 and KEY.key_id != OTHER.key_id
