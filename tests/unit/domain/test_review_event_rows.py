"""The review log's row validation (issue 17 item 3; monitor.domain.review_events): row numbers, reason codes,
and no value quoted in a reason."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from monitor.domain.review_events import review_identity, validate_review_events

ROOT = Path(__file__).resolve().parents[3]
NOW = datetime(2026, 2, 1, tzinfo=timezone.utc)
ROW = {"device_id": "hcc-segmentation", "prediction_id": "HCC-000001", "status": "edited", "reviewer": "Wang Fang",
       "reviewed_at": "2025-08-01T09:00:00+08:00", "field": "reviewed_volume_mm3", "old_value": "812.5",
       "new_value": "790.0", "note": "margin redrawn"}


@pytest.fixture(scope="module")
def devices() -> dict[str, Any]:
    from monitor.adapters.config_file import load_device_config

    hcc = load_device_config(ROOT / "examples" / "hcc-segmentation-review.yaml")
    lung = load_device_config(ROOT / "examples" / "lung-nodule-ct.yaml")
    return {hcc.device.id: hcc, lung.device.id: lung}


def _check(devices: dict[str, Any], *rows: dict[str, str | None], device_id: str | None = None):  # type: ignore[no-untyped-def]
    return validate_review_events(pd.DataFrame(list(rows), dtype=object), first_row=7, devices=devices, now=NOW,
                                  device_id=device_id)


def test_a_valid_edit_is_accepted_with_its_values(devices: dict[str, Any]) -> None:
    checked = _check(devices, ROW, ROW | {"status": "confirmed", "field": None, "old_value": None, "new_value": None})
    assert not checked.rejections and len(checked.accepted) == 2
    first = checked.accepted.iloc[0]
    assert first["row_number"] == 7 and first["new_value"] == 790.0 and first["field"] == "reviewed_volume_mm3"
    assert first["reviewed_at"] == pd.Timestamp("2025-08-01T01:00:00Z")
    assert checked.accepted["row_hash"].nunique() == 2


@pytest.mark.parametrize(("change", "code"), [
    ({"status": "approved"}, "invalid_status"),
    ({"status": None}, "missing_status"),
    ({"reviewer": None}, "missing_reviewer"),
    ({"reviewer": "PAT-20250801"}, "reviewer_looks_like_identifier"),
    ({"reviewer": "1234567"}, "invalid_reviewer"),
    ({"reviewed_at": "2025-08-01 09:00"}, "reviewed_at_without_offset"),
    ({"reviewed_at": "2027-01-01T00:00:00Z"}, "reviewed_at_in_future"),
    ({"field": None}, "missing_field"),
    ({"field": "patient_id"}, "invalid_field"),
    ({"new_value": None}, "missing_new_value"),
    ({"new_value": "-3"}, "invalid_new_value"),
    ({"new_value": "big"}, "invalid_new_value"),
    ({"field": "label", "old_value": "1", "new_value": "2"}, "invalid_new_value"),
    ({"status": "confirmed"}, "edit_without_edited_status"),
    ({"device_id": "no-such-device"}, "unknown_device"),
    ({"device_id": "lung-nodule-ct"}, "device_without_review"),
    ({"prediction_id": None}, "missing_prediction_id"),
    ({"note": "x" * 1001}, "invalid_note"),
])
def test_a_bad_row_is_rejected_with_its_row_number_and_reason_never_its_value(
        devices: dict[str, Any], change: dict[str, str | None], code: str) -> None:
    checked = _check(devices, ROW, ROW | change)
    assert len(checked.accepted) == 1
    [rejection] = checked.rejections
    assert rejection.row_number == 8
    assert rejection.code == code
    for column, value in change.items():
        if value and len(value) >= 3 and column != "field":  # a field's name is the format's word, not data
            assert value not in rejection.reason


def test_the_device_option_fills_and_guards_device_id(devices: dict[str, Any]) -> None:
    checked = _check(devices, ROW | {"device_id": None}, ROW | {"device_id": "lung-nodule-ct"},
                     device_id="hcc-segmentation")
    assert checked.accepted["device_id"].tolist() == ["hcc-segmentation"]
    assert [r.code for r in checked.rejections] == ["other_device"]


def test_identity_names_the_event_to_the_microsecond() -> None:
    at = pd.Timestamp("2025-08-01T09:00:00.1234567+08:00")
    assert review_identity("Wang Fang", at, None) == ("Wang Fang", "2025-08-01T01:00:00.123456+00:00", "")


def test_the_cli_offers_exactly_the_worklist_statuses() -> None:
    from typing import get_args

    from monitor.domain.review_events import WORKLIST_STATUSES
    from monitor.entrypoints.cli import worklist
    from monitor.service.worklist import WorklistStatus

    assert get_args(worklist.Status) == WORKLIST_STATUSES == get_args(WorklistStatus)
