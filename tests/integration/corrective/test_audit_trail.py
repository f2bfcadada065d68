"""The audit chain on real databases: tampering (edit, delete, swap, truncation) is named at the first broken
link; concurrent appends from several connections keep one unbroken chain (both engines)."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest
from sqlalchemy import delete, select, update

from monitor.adapters.db.tables import analysis_runs, audit_log
from monitor.errors import IntegrityError
from monitor.service.audit import list_audit, verify_audit


def _append(app, n: int, actor: str = "qa") -> None:  # type: ignore[no-untyped-def]
    for i in range(n):
        with app.uow() as unit:
            unit.audit.append(at=app.clock(), actor=actor, action="test.event", entity="thing", entity_id=str(i),
                              details={"i": i, "old": None, "new": {"value": f"v{i}"}})


def _seqs(app) -> list[int]:  # type: ignore[no-untyped-def]
    with app.engine.connect() as conn:
        return [r.seq for r in conn.execute(select(audit_log.c.seq).order_by(audit_log.c.seq))]


def test_edited_deleted_and_swapped_records_are_named(app) -> None:  # type: ignore[no-untyped-def]
    _append(app, 6)
    assert verify_audit(uow=app.uow).records == 7  # the device registration + 6
    seqs = _seqs(app)
    with app.engine.begin() as conn:
        row = conn.execute(select(audit_log).where(audit_log.c.seq == seqs[3])).one()
        conn.execute(update(audit_log).where(audit_log.c.seq == seqs[3]).values(details={"i": 999}))
    with pytest.raises(IntegrityError, match=f"broken at record {seqs[3]}: its content does not match"):
        verify_audit(uow=app.uow)
    with app.engine.begin() as conn:  # restore, then delete a record
        conn.execute(update(audit_log).where(audit_log.c.seq == seqs[3]).values(details=row.details))
    verify_audit(uow=app.uow)
    with app.engine.begin() as conn:
        saved = {s: dict(conn.execute(select(audit_log).where(audit_log.c.seq == s)).one()._mapping) for s in seqs}
        conn.execute(delete(audit_log).where(audit_log.c.seq == seqs[2]))
    with pytest.raises(IntegrityError, match=f"broken at record {seqs[3]}: .* was deleted"):
        verify_audit(uow=app.uow)
    with app.engine.begin() as conn:  # restore, then swap the contents of two records
        conn.execute(audit_log.insert().values(**saved[seqs[2]]))
    verify_audit(uow=app.uow)
    with app.engine.begin() as conn:
        for a, b in ((seqs[1], seqs[4]), (seqs[4], seqs[1])):
            conn.execute(update(audit_log).where(audit_log.c.seq == a).values(
                **{k: v for k, v in saved[b].items() if k != "seq"}))
    with pytest.raises(IntegrityError, match=f"broken at record {seqs[1]}: .* reordered"):
        verify_audit(uow=app.uow)


def test_truncation_is_caught_by_a_recorded_head(app) -> None:  # type: ignore[no-untyped-def]
    _append(app, 3)
    at = datetime(2026, 2, 1, tzinfo=timezone.utc)
    with app.uow() as unit:
        head = unit.audit.head()
        unit.connection.execute(analysis_runs.insert().values(
            run_id="run-1", device_id="lung-nodule-ct", period="2025Q3", period_start=at, period_end=at,
            data_cutoff=at, created_at=at, software_version="t", config_hash="c", input_fingerprint="f",
            document={}, actor="t"))
        unit.reports.add_revision(report_id="rep-1", device_id="lung-nodule-ct", period="2025Q3", run_id="run-1",
                                  revision=1, languages="en", content_sha256="0" * 64, audit_head=head, at=at,
                                  actor="t")
    verify_audit(uow=app.uow)
    with app.engine.begin() as conn:
        conn.execute(delete(audit_log).where(audit_log.c.seq == _seqs(app)[-1]))
    with pytest.raises(IntegrityError, match="truncated: report rep-1"):
        verify_audit(uow=app.uow)


def test_concurrent_appends_keep_one_chain(app) -> None:  # type: ignore[no-untyped-def]
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            _append(app, 15, actor=name)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    report = verify_audit(uow=app.uow)
    assert report.records == 61
    assert len(list_audit(uow=app.uow, limit=100, actor="w2")) == 15
    assert len(list_audit(uow=app.uow, limit=100, action="test.")) == 60
