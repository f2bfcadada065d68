"""The audit chain on real databases: tampering (edit, delete, swap, truncation) is named at the first broken
link; concurrent appends from several connections keep one unbroken chain; a legacy (unkeyed) chain continues
keyed (both engines). Deliberate tampering with a recomputed chain: test_audit_tamper.py."""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update

from monitor.adapters.db.tables import analysis_runs, audit_log
from monitor.errors import IntegrityError
from monitor.service.audit import list_audit, verify_audit

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "lung-nodule-ct.yaml"


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
        unit.audit.append(at=at, actor="t", action="report.generate", entity="report", entity_id="rep-1", details={})
    verify_audit(uow=app.uow)
    with app.engine.begin() as conn:  # the revision's own record and the one before it (the recorded head)
        conn.execute(delete(audit_log).where(audit_log.c.seq.in_(_seqs(app)[-2:])))
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


def test_a_legacy_chain_continues_keyed_from_a_baseline_and_verify_never_creates_a_key(  # type: ignore[no-untyped-def]
        database_url: str, clock, tmp_path: Path) -> None:
    """Records written before migration 0010 (unkeyed) stay verifiable; the first keyed record carries the
    digests of every regulated row then present; the key file is created 0600 outside the database on the
    first write, and verification without it checks the links only, saying so, without creating one."""
    from monitor.adapters.audit_key import AuditKeyFile
    from monitor.adapters.config_file import load_device_config
    from monitor.adapters.db.unit_of_work import SqlUnitOfWork, unit_of_work_factory
    from monitor.entrypoints.bootstrap import bootstrap
    from monitor.settings import Settings

    key_file = tmp_path / "keys" / "audit.key"
    app = bootstrap(Settings(database_url=database_url, data_dir=tmp_path, audit_key_file=key_file),
                    clock=clock)
    try:
        with app.engine.begin() as conn:  # as the code before migration 0010 wrote them: no key
            legacy = SqlUnitOfWork(conn)
            version, _ = legacy.devices.save(load_device_config(EXAMPLE), at=clock(), actor="t")
            legacy.audit.append(at=clock(), actor="t", action="device.configure", entity="device",
                                entity_id="lung-nodule-ct", details={"config_version": version})
        assert verify_audit(uow=app.uow).mode == "legacy" and not key_file.exists()
        _append(app, 2)
        assert key_file.stat().st_mode & 0o777 == 0o600
        report = verify_audit(uow=app.uow)
        assert (report.mode, report.records, report.rows) == ("keyed", 3, 1)
        with app.engine.connect() as conn:
            first_keyed = conn.execute(select(audit_log.c.row_digests).where(audit_log.c.key_id.is_not(None))
                                       .order_by(audit_log.c.seq).limit(1)).scalar_one()
        assert list(first_keyed) == [f"device_config_versions:{version}"]
        missing = tmp_path / "elsewhere" / "audit.key"
        blind = verify_audit(uow=unit_of_work_factory(app.engine, AuditKeyFile(missing)))
        assert blind.mode == "links-only" and "recomputation not excluded" in blind.caveat and not missing.exists()
    finally:
        app.engine.dispose()
