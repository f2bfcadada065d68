"""Tampering with the audit trail from inside the database is detected by ``audit verify`` (issue 16 item 4), on
both engines, on one small seeded database per engine (a report revision signed twice):

- the newest audit records (the two signature records) deleted, with the signatures themselves and the
  revision's status put back: the chain alone is consistent again, but a saved head or checkpoint names it;
- a middle record deleted and the rest of the chain recomputed with the project's own functions without the
  key (unkeyed, or under another key): detected with the key;
- a signer's printed name edited in ``report_signatures``: named by table and key, without the names;
- the clean chain: intact, every record recomputed with the key.

Each tampering happens in a transaction that is rolled back, so the scenarios share the seeded database.
"""

from __future__ import annotations

import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest
from sqlalchemy import delete, select, update

from monitor.adapters.audit_key import AuditKeyFile, read_checkpoint, write_checkpoint
from monitor.adapters.db.tables import audit_log, report_revisions, report_signatures
from monitor.adapters.db.unit_of_work import SqlUnitOfWork
from monitor.domain.audit_chain import AuditKey, keyed_record_hash, record_hash
from monitor.errors import IntegrityError
from monitor.service.audit import take_checkpoint, verify_audit
from monitor.service.signoff import sign_report

ROOT = Path(__file__).resolve().parents[3]
PASSWORDS = {"alice": "alice-correct-horse-1", "bob": "bob-battery-staple-2"}  # the ``signers`` fixture's


@pytest.fixture
def app(database_url: str, clock, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The wired application (overriding the shared ``app``) with its audit key in this test's folder."""
    from monitor.adapters.config_file import load_device_config
    from monitor.entrypoints.bootstrap import bootstrap
    from monitor.service.devices import register_device
    from monitor.settings import Settings

    settings = Settings(database_url=database_url, data_dir=tmp_path / "data",
                        patient_id_key="tamper-test-key-0123456789abcdef", audit_key_file=tmp_path / "key" / "audit.key")
    application = bootstrap(settings, clock=clock)
    example = ROOT / "examples" / "lung-nodule-ct.yaml"
    register_device(load_device_config(example), uow=application.uow, clock=clock, actor="pytest", source=str(example))
    yield application
    application.engine.dispose()


@pytest.fixture
def signed(app, signers, make_revision) -> str:  # type: ignore[no-untyped-def]
    """A revision generated (audited, as write_report does), then signed as authored and approved."""
    report_id = make_revision()
    with app.uow() as unit:
        unit.audit.append(at=app.clock(), actor="writer", action="report.generate", entity="report",
                          entity_id=report_id, details={"revision": 1})
    for user_id, meaning in (("alice", "authored"), ("bob", "approved")):
        sign_report(report_id, meaning=meaning, user_id=user_id, password=PASSWORDS[user_id], authenticate=signers,
                    uow=app.uow, clock=app.clock)
    return report_id


@contextmanager
def tampering(app, key_file: Path | None = None) -> Iterator[tuple[Any, Any]]:  # type: ignore[no-untyped-def]
    """``(connection, uow)``: one transaction, rolled back at the end; ``uow`` opens units on it with the key
    in ``key_file`` (default: the application's)."""
    keys = AuditKeyFile(key_file or app.settings.audit_key_file)
    with app.engine.connect() as conn:
        transaction = conn.begin()

        @contextmanager
        def uow() -> Iterator[SqlUnitOfWork]:
            yield SqlUnitOfWork(conn, keys)

        try:
            yield conn, uow
        finally:
            transaction.rollback()


def _records(conn) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    return [dict(r._mapping) for r in conn.execute(select(audit_log).order_by(audit_log.c.seq))]


def _middle(conn) -> tuple[list[dict[str, Any]], int]:  # type: ignore[no-untyped-def]
    """The records, and the index of the one to delete: the revision's generation (after every head recorded
    by a revision, so that only the key can tell)."""
    records = _records(conn)
    return records, next(i for i, r in enumerate(records) if r["action"] == "report.generate")


def _recompute(conn, records: list[dict[str, Any]], key: AuditKey | None) -> None:  # type: ignore[no-untyped-def]
    """Rewrite ``records`` (in order) as a chain continuing from their predecessor, as an attacker without the
    application's key can: unkeyed (``key`` None) or under another key."""
    prev = conn.execute(select(audit_log.c.hash).where(audit_log.c.seq < records[0]["seq"])
                        .order_by(audit_log.c.seq.desc()).limit(1)).scalar_one()
    for r in records:
        if key is None:
            digest = record_hash(prev, r["at"], r["actor"], r["action"], r["entity"], r["entity_id"], r["details"])
            values = {"prev_hash": prev, "hash": digest, "key_id": None}
        else:
            digest = keyed_record_hash(key, seq=r["seq"], prev_hash=prev, at=r["at"], actor=r["actor"],
                                       action=r["action"], entity=r["entity"], entity_id=r["entity_id"],
                                       details=r["details"], rows=r["row_digests"])
            values = {"prev_hash": prev, "hash": digest, "key_id": key.key_id}
        conn.execute(update(audit_log).where(audit_log.c.seq == r["seq"]).values(**values))
        prev = digest


def test_tampering_is_detected_and_a_clean_chain_is_intact(app, signed: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    clean = verify_audit(uow=app.uow)
    assert clean.ok and clean.mode == "keyed" and clean.caveat is None and clean.unverified == 0
    assert clean.rows == 4  # the device's configuration version, the revision and its two signatures
    checkpoint_file = write_checkpoint(take_checkpoint(uow=app.uow), tmp_path / "checkpoint.json")
    checkpoint = read_checkpoint(checkpoint_file)
    assert (checkpoint.hash, checkpoint.count) == (clean.head, clean.records) and checkpoint.hmac
    verify_audit(uow=app.uow, heads=[clean.head[:16]], checkpoints=[checkpoint])

    # (a) truncation: the signature records deleted, and the signatures and the revision's state with them
    with tampering(app) as (conn, uow):
        signs = [r["seq"] for r in _records(conn) if r["action"] == "report.sign"]
        conn.execute(delete(audit_log).where(audit_log.c.seq >= signs[0]))
        conn.execute(delete(report_signatures).where(report_signatures.c.report_id == signed))
        conn.execute(update(report_revisions).where(report_revisions.c.report_id == signed)
                     .values(status="draft", frozen_at=None))
        assert verify_audit(uow=uow).ok  # consistent again: only a head kept elsewhere shows the loss
        with pytest.raises(IntegrityError, match="truncated or rewritten: the checkpoint of record"):
            verify_audit(uow=uow, checkpoints=[checkpoint])
        with pytest.raises(IntegrityError, match="truncated: the given head recorded the chain head"):
            verify_audit(uow=uow, heads=[clean.head])

    # (b) a middle record deleted and the chain recomputed with the project's functions, without the key
    for attacker_key in (None, AuditKey(secrets.token_bytes(32))):
        with tampering(app) as (conn, uow):
            records, middle = _middle(conn)
            conn.execute(delete(audit_log).where(audit_log.c.seq == records[middle]["seq"]))
            _recompute(conn, records[middle + 1:], attacker_key)
            problem = "an unkeyed record follows keyed ones" if attacker_key is None else "it is keyed with another key"
            with pytest.raises(IntegrityError, match=f"broken at record {records[middle + 1]['seq']}: {problem}"):
                verify_audit(uow=uow)
            with pytest.raises(IntegrityError, match="broken at record"):
                verify_audit(uow=uow, keys=[AuditKeyFile(app.settings.audit_key_file).key_for_writing()])
        if attacker_key is not None:  # without the key only the links can be checked, and verify says so
            with tampering(app, key_file=tmp_path / "no-such.key") as (conn, uow):
                records, middle = _middle(conn)
                conn.execute(delete(audit_log).where(audit_log.c.seq == records[middle]["seq"]))
                _recompute(conn, records[middle + 1:], attacker_key)
                blind = verify_audit(uow=uow)
                assert blind.mode == "links-only" and "recomputation not excluded" in (blind.caveat or "")

    # (c) a signer's printed name edited: named by table and key, never by value
    with tampering(app) as (conn, uow):
        signature_id = conn.execute(select(report_signatures.c.id).where(
            report_signatures.c.report_id == signed, report_signatures.c.meaning == "approved")).scalar_one()
        conn.execute(update(report_signatures).where(report_signatures.c.id == signature_id)
                     .values(printed_name="Mallory Forger"))
        with pytest.raises(IntegrityError) as caught:
            verify_audit(uow=uow)
        message = str(caught.value)
        assert f"report_signatures:{signature_id}: differs from its digest audited at record" in message
        assert "Mallory" not in message and "Bob" not in message

    assert verify_audit(uow=app.uow, checkpoints=[checkpoint]).ok  # all rolled back: intact again
