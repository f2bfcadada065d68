"""The safety-event log's row validation and the reportability clocks (issue 16 item 2; regulatory.md 2 item 14)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from monitor.domain.privacy import make_patient_hasher
from monitor.domain.safety_events import parse_imdrf_codes, validate_safety_events
from monitor.domain.safety_summary import JurisdictionDecision, SafetyEvent, clock_status, summarise_safety

EXAMPLE_CONFIG = Path(__file__).resolve().parents[3] / "examples" / "lung-nodule-ct.yaml"
NOW = datetime(2026, 2, 1, tzinfo=timezone.utc)
UTC = timezone.utc
ROW = {"event_id": "CMP-1", "device_id": "lung-nodule-ct", "site_id": "SH-01",
       "received_at": "2025-08-01T09:00:00+08:00", "occurred_at": "2025-07-30T10:00:00+08:00",
       "kind": "adverse_event", "seriousness": "serious_injury", "imdrf_codes": "A0901; E0123",
       "description": "missed nodule reported by the radiologist of PAT-000123", "patient_id": "PAT-000123",
       "age": "81", "emphysema_grade": "severe",
       "nmpa_decision": "reportable", "nmpa_reported_at": "2025-08-15T09:00:00+08:00",
       "fda_decision": "not_reportable", "fda_rationale": "device not marketed at this site's country"}


@pytest.fixture(scope="module")
def devices() -> dict[str, Any]:
    from monitor.adapters.config_file import load_device_config

    config = load_device_config(EXAMPLE_CONFIG)
    return {config.device.id: config}


def _check(devices: dict[str, Any], *rows: dict[str, str | None], device_id: str | None = None):  # type: ignore[no-untyped-def]
    raw = pd.DataFrame(list(rows), dtype=object)
    return validate_safety_events(raw, first_row=1, devices=devices, now=NOW,
                                  hash_patient=make_patient_hasher("k" * 64), device_id=device_id)


def test_a_complete_row_is_accepted_with_identifiers_hashed_and_strata_as_labels(devices: dict[str, Any]) -> None:
    checked = _check(devices, ROW)
    assert not checked.rejections
    row = checked.accepted.iloc[0]
    assert row["imdrf_codes"] == '["A0901", "E0123"]'
    assert row["attributes"] == '{"age_band": ">=75", "emphysema_grade": "severe"}'  # the band, never the age
    assert len(row["patient_hash"]) == 64 and "PAT-000123" not in row["patient_hash"]
    assert '"NMPA": {"decision": "reportable"' in row["decisions"]
    assert row["description"] == "missed nodule reported by the radiologist of [identifier]"


@pytest.mark.parametrize(("change", "code"), [
    ({"imdrf_codes": "A09X1"}, "invalid_imdrf_codes"),
    ({"imdrf_codes": None}, "missing_imdrf_codes"),  # an adverse event needs a code
    ({"kind": "rumour"}, "invalid_kind"),
    ({"seriousness": "bad"}, "invalid_seriousness"),
    ({"received_at": "2025-09-03"}, "received_at_without_offset"),
    ({"occurred_at": "2025-08-02T09:00:00+08:00"}, "occurred_after_awareness"),
    ({"description": None}, "missing_description"),
    ({"fda_rationale": None}, "missing_fda_rationale"),
    ({"nmpa_decision": "pending"}, "nmpa_reported_at_without_report"),
    ({"nmpa_reported_at": "2025-07-01T09:00:00+08:00"}, "nmpa_reported_before_awareness"),
    ({"nmpa_event_class": "fatal"}, "invalid_nmpa_event_class"),
    ({"seriousness": "non_serious"}, "nmpa_reportable_without_class"),
    ({"fda_event_class": "mdr_30_day"}, "fda_class_contradicts_decision"),
    ({"eu_mdr_rationale": "no decision yet"}, "missing_eu_mdr_decision"),
    ({"device_id": "other-device"}, "unknown_device"),
])
def test_a_bad_row_is_rejected_with_its_reason_and_no_value_echoed(devices: dict[str, Any], change: dict[str, Any],
                                                                   code: str) -> None:
    checked = _check(devices, {**ROW, **change})
    assert checked.accepted.empty
    (rejection,) = checked.rejections
    assert (rejection.row_number, rejection.code) == (1, code), rejection.reason
    for value in change.values():
        if value and len(value) > 3:
            assert value not in rejection.reason
    assert rejection.raw["patient_id"].startswith("hmac-sha256:")  # identifiers hashed in the quarantine too
    assert "PAT-000123" not in str(rejection.raw)


def test_the_device_option_fills_and_guards_device_id(devices: dict[str, Any]) -> None:
    checked = _check(devices, {**ROW, "device_id": None}, {**ROW, "event_id": "CMP-2", "device_id": "dr-triage"},
                     device_id="lung-nodule-ct")
    assert checked.accepted["device_id"].tolist() == ["lung-nodule-ct"]
    assert [r.code for r in checked.rejections] == ["other_device"]


def test_imdrf_code_shape() -> None:
    assert parse_imdrf_codes("a0901,E0123 E0123") == (["A0901", "E0123"], True)
    assert parse_imdrf_codes("A9") == (["A9"], False)
    assert parse_imdrf_codes("Z0101")[1] is False and parse_imdrf_codes(None) == ([], True)


def _event(event_id: str, received: datetime, seriousness: str = "serious_injury", **decisions: Any) -> SafetyEvent:
    return SafetyEvent(event_id=event_id, site_id="SH-01", received_at=received, kind="adverse_event",
                       seriousness=seriousness, imdrf_codes=["A0901"],
                       decisions={j: JurisdictionDecision(**d) for j, d in decisions.items()})


def test_clocks_per_jurisdiction_from_the_awareness_date() -> None:
    aware = datetime(2025, 8, 1, tzinfo=UTC)
    events = [
        _event("death", aware, "death", NMPA={"decision": "reportable", "reported_at": datetime(2025, 8, 8, tzinfo=UTC)},
               FDA={"decision": "reportable", "reported_at": datetime(2025, 9, 1, tzinfo=UTC)}),
        _event("serious", aware, **{"EU-MDR": {"decision": "pending", "event_class": "serious_public_health_threat"}}),
        _event("fda5", aware, FDA={"decision": "reportable", "event_class": "mdr_5_day"}),
        _event("old", datetime(2025, 5, 1, tzinfo=UTC)),  # an earlier period's open clock is carried
    ]
    summary = summarise_safety(events, period_start=datetime(2025, 7, 1, tzinfo=UTC),
                               period_end=datetime(2025, 10, 1, tzinfo=UTC), as_of=datetime(2025, 8, 15, tzinfo=UTC),
                               registered=["NMPA", "FDA"], studies=1000)
    clocks = {(c.event_id, c.jurisdiction): c for c in summary.clocks}
    assert clocks["death", "NMPA"].deadline == datetime(2025, 8, 8, tzinfo=UTC)  # NMPA death: 7 days
    assert clocks["death", "NMPA"].status == "met"
    assert clocks["death", "FDA"].status == "late"  # 803.50(a): 30 days
    assert clocks["serious", "NMPA"].deadline == datetime(2025, 8, 21, tzinfo=UTC)  # not assessed: pending, 20 days
    assert not clocks["serious", "NMPA"].assessed and clocks["serious", "NMPA"].status == "due"
    assert clocks["serious", "EU-MDR"].deadline == datetime(2025, 8, 3, tzinfo=UTC)  # Art. 87(4): 2 days
    assert clocks["serious", "EU-MDR"].status == "overdue"
    assert clocks["fda5", "FDA"].deadline == datetime(2025, 8, 8, tzinfo=UTC)  # 5 work days from a Friday
    assert clocks["old", "NMPA"].status == "overdue" and not clocks["old", "NMPA"].in_period
    assert summary.events == 3 and summary.overdue == 4
    assert summary.jurisdictions == ["NMPA", "EU-MDR", "FDA"]


def test_an_empty_log_still_answers_the_item() -> None:
    summary = summarise_safety([], period_start=datetime(2025, 7, 1, tzinfo=UTC), period_end=datetime(2025, 10, 1, tzinfo=UTC),
                               as_of=NOW, registered=["NMPA"], studies=0)
    assert summary.events == 0 and summary.clocks == [] and summary.overrides.per_1000 is None
    assert [c.count for c in summary.by_kind] == [0, 0, 0, 0, 0]


def test_clock_status() -> None:
    deadline = datetime(2025, 8, 8, tzinfo=UTC)
    assert clock_status(None, None, NOW) == "not_required"
    assert clock_status(deadline, None, datetime(2025, 8, 8, tzinfo=UTC)) == "due"
    assert clock_status(deadline, datetime(2025, 8, 9, tzinfo=UTC), NOW) == "late"


@pytest.mark.parametrize(("change", "valid"), [
    ({}, True),
    ({"imdrf_codes": "A0901, e0123"}, True),
    ({"imdrf_codes": "A09X1"}, False),
    ({"kind": "complaint", "imdrf_codes": None}, True),
    ({"imdrf_codes": None}, False),
    ({"fda_rationale": None}, False),
    ({"seriousness": "bad"}, False),
    ({"received_at": "2025-09-03"}, False),
    ({"nmpa_event_class": "overseas_serious"}, True),
    ({"eu_mdr_event_class": "fatal", "eu_mdr_decision": "pending"}, False),
])
def test_the_log_schema_and_the_validator_agree(devices: dict[str, Any], change: dict[str, Any], valid: bool) -> None:
    import json

    from jsonschema import Draft202012Validator

    schema = json.loads((EXAMPLE_CONFIG.parents[1] / "schemas" / "safety_event_log.schema.json").read_text("utf-8"))
    row = {k: v for k, v in {**ROW, **change}.items() if v is not None}
    assert (not list(Draft202012Validator(schema).iter_errors(row))) is valid
    assert (len(_check(devices, row).accepted) == 1) is valid
