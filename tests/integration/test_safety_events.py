"""The safety-event log end to end on both engines: a CSV with good, duplicate and bad rows, a re-send that
adds versions, and the report section built from what is stored (issue 16 item 2; regulatory.md 2 item 14)."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select

from monitor.adapters.db.tables import rejected_rows, safety_events
from monitor.service.report_sections import ReportSource
from monitor.service.report_sections.safety import build
from monitor.service.safety_events import ingest_safety_events

COLUMNS = ["event_id", "site_id", "received_at", "occurred_at", "kind", "seriousness", "imdrf_codes", "patient_id",
           "age", "emphysema_grade", "description", "nmpa_decision", "nmpa_rationale", "nmpa_reported_at",
           "fda_decision", "fda_rationale", "fda_reported_at"]
DEATH = {"event_id": "AE-1", "site_id": "SH-01", "received_at": "2025-08-01T09:00:00+08:00", "kind": "adverse_event",
         "seriousness": "death", "imdrf_codes": "A0901;E0123", "patient_id": "PAT-777001", "age": "80",
         "emphysema_grade": "severe", "description": "nodule missed; patient PAT-777001 died",
         "nmpa_decision": "reportable", "nmpa_reported_at": "2025-08-06T09:00:00+08:00",
         "fda_decision": "reportable", "fda_reported_at": "2025-09-15T09:00:00+08:00"}
ROWS = [
    DEATH,
    {"event_id": "CMP-2", "site_id": "BJ-02", "received_at": "2025-08-10T09:00:00+08:00", "kind": "complaint",
     "seriousness": "non_serious", "description": "slow results", "nmpa_decision": "not_reportable",
     "nmpa_rationale": "no harm"},
    {"event_id": "INC-3", "site_id": "SH-01", "received_at": "2025-09-01T09:00:00+08:00", "kind": "incident",
     "seriousness": "malfunction_could_lead", "imdrf_codes": "A0502", "description": "false negatives after update",
     "nmpa_decision": "pending"},
    {"event_id": "OVR-4", "site_id": "GZ-03", "received_at": "2025-09-02T09:00:00+08:00",
     "kind": "override_discordance", "seriousness": "non_serious", "description": "radiologist overrode a call"},
    DEATH,  # identical re-send: a duplicate
    {**DEATH, "event_id": "BAD-5", "imdrf_codes": "X99"},  # rejected: not an IMDRF code
    {**DEATH, "event_id": "BAD-6", "fda_decision": "not_reportable", "fda_reported_at": ""},  # no rationale
]
AS_OF = datetime(2026, 3, 1, tzinfo=timezone.utc)  # after the test clock's ingestion times


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["device_id", *COLUMNS])
    writer.writerows(["lung-nodule-ct", *(r.get(c, "") for c in COLUMNS)] for r in rows)
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def _ingest(app: Any, path: Path):  # type: ignore[no-untyped-def]
    return ingest_safety_events(app.open_log(path), source=str(path), uow=app.uow, clock=app.clock, actor="pytest",
                                hash_patient=app.patient_hasher(), device_id="lung-nodule-ct")


def test_safety_log_ingested_versioned_and_summarised(app: Any, tmp_path: Path) -> None:
    first = _ingest(app, _write(tmp_path / "events.csv", ROWS))
    assert (first.rows, first.accepted, first.duplicates, first.rejected) == (7, 4, 1, 2)
    assert dict(first.reasons) == {"invalid_imdrf_codes": 1, "missing_fda_rationale": 1}
    updated = {**ROWS[2], "nmpa_decision": "reportable", "nmpa_reported_at": "2025-09-30T09:00:00+08:00"}
    moved = {**ROWS[1], "received_at": "2025-08-11T09:00:00+08:00"}
    second = _ingest(app, _write(tmp_path / "events-2.csv", [updated, moved, ROWS[3]]))
    assert (second.accepted, second.duplicates, second.rejected) == (1, 1, 1)
    assert dict(second.reasons) == {"received_at_changed": 1}

    with app.engine.connect() as conn:
        stored = conn.execute(select(safety_events)).mappings().all()
        quarantined = conn.execute(select(rejected_rows.c.raw, rejected_rows.c.reason)).all()
    assert sorted((r["event_id"], r["version"]) for r in stored) == [("AE-1", 1), ("CMP-2", 1), ("INC-3", 1),
                                                                      ("INC-3", 2), ("OVR-4", 1)]
    assert "PAT-777001" not in repr(stored) + repr(quarantined)  # identifiers: only their keyed hash
    assert all("X99" not in reason for _, reason in quarantined)  # reasons never echo values

    with app.uow() as unit:
        source = ReportSource(unit=unit, config=unit.devices.get("lung-nodule-ct"), document={}, core={
            "usage": {"studies": 2000}}, rollup=False, period=None, run=SimpleNamespace(
            device_id="lung-nodule-ct", period_start=datetime(2025, 6, 30, 16, tzinfo=timezone.utc),
            period_end=datetime(2025, 9, 30, 16, tzinfo=timezone.utc), data_cutoff=AS_OF))
        section = build(source)
    assert section.events == 4 and section.overdue == 1
    assert {c.value: c.count for c in section.by_kind} == {"complaint": 1, "adverse_event": 1, "incident": 1,
                                                            "user_feedback": 0, "override_discordance": 1}
    assert [(c.code, c.count) for c in section.by_code] == [("A0502", 1), ("A0901", 1), ("E0123", 1)]
    assert {(s.attribute, s.label) for s in section.by_stratum} == {("age_band", ">=75"), ("emphysema_grade", "severe")}
    clocks = {(c.event_id, c.jurisdiction): c.status for c in section.clocks}
    assert clocks[("AE-1", "NMPA")] == "met" and clocks[("AE-1", "FDA")] == "late"
    assert clocks[("INC-3", "NMPA")] == "late"  # the second version: reported on day 29 of 20
    assert clocks[("INC-3", "FDA")] == "overdue"  # registered with the FDA, not assessed: 803.50(a) 30 days ran out
    assert clocks[("CMP-2", "NMPA")] == "not_required" and section.overrides.per_1000 == 0.5
