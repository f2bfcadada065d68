"""Row validation of prediction and ground-truth logs (no database).

Each reason code has its own case: a row that is good except for one field, and
the exact code, row number and message that come out. Rows with several problems
report all of them; row numbers count from the chunk's ``first_row``.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from monitor.adapters.config_file import load_device_config, parse_device_config
from monitor.domain.logs import (
    GROUND_TRUTH_OPTIONAL,
    GROUND_TRUTH_REQUIRED,
    PREDICTION_OPTIONAL,
    PREDICTION_REQUIRED,
    missing_columns,
    validate_ground_truth,
    validate_predictions,
)
from monitor.domain.privacy import make_patient_hasher

EXAMPLE_CONFIG = Path(__file__).resolve().parents[3] / "examples" / "lung-nodule-ct.yaml"
DEVICE = "lung-nodule-ct"
NOW = datetime(2026, 2, 1, 8, 0, tzinfo=timezone.utc)
HASH = make_patient_hasher("unit-test-patient-key-0123456789")

PREDICTION_COLUMNS = [*PREDICTION_REQUIRED, *PREDICTION_OPTIONAL, "emphysema_grade", "scanner_vendor"]
GROUND_TRUTH_COLUMNS = [*GROUND_TRUTH_REQUIRED, *GROUND_TRUTH_OPTIONAL]


@pytest.fixture(scope="module")
def devices() -> dict[str, Any]:
    config = load_device_config(EXAMPLE_CONFIG)
    return {config.device.id: config}


def prediction(i: int = 1, **changes: str | None) -> dict[str, str | None]:
    """A valid prediction row as the readers hand it over (text, ``None`` for empty)."""
    row: dict[str, str | None] = {
        "prediction_id": f"P{i:03d}", "device_id": DEVICE, "model_version": "2.1.0", "site_id": "SH-01",
        "predicted_at": "2025-08-01T09:15:00+08:00", "score": "0.82", "predicted_label": "1",
        "patient_id": f"PATIENT-{i:03d}", "age": "67", "sex": "F", "emphysema_grade": "mild", "scanner_vendor": "GE",
    }
    row.update(changes)
    return row


def truth(i: int = 1, **changes: str | None) -> dict[str, str | None]:
    """A valid ground-truth row as text."""
    row: dict[str, str | None] = {
        "prediction_id": f"P{i:03d}", "device_id": DEVICE, "label": "1",
        "confirmed_at": "2025-09-10T10:00:00+08:00", "source": "histopathology",
        "intervention_at": None, "correction_reason": None,
    }
    row.update(changes)
    return row


def frame(rows: list[dict[str, str | None]], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns).astype(object).where(lambda f: f.notna(), None)


def check_predictions(rows: list[dict[str, str | None]], devices: dict[str, Any],  # type: ignore[no-untyped-def]
                      first_row: int = 1):
    return validate_predictions(frame(rows, PREDICTION_COLUMNS), first_row=first_row, devices=devices,
                                hash_patient=HASH, now=NOW)


def check_truth(rows: list[dict[str, str | None]], devices: dict[str, Any],  # type: ignore[no-untyped-def]
                first_row: int = 1):
    return validate_ground_truth(frame(rows, GROUND_TRUTH_COLUMNS), first_row=first_row, devices=devices, now=NOW)


# accepted rows ---------------------------------------------------------------------------------
def test_valid_prediction_becomes_a_canonical_row(devices: dict[str, Any]) -> None:
    checked = check_predictions([prediction(1)], devices)
    assert checked.rejections == []
    row = checked.accepted.iloc[0]
    assert row["row_number"] == 1
    assert (row["device_id"], row["prediction_id"], row["model_version"], row["site_id"]) == (
        DEVICE, "P001", "2.1.0", "SH-01")
    assert row["predicted_at"] == pd.Timestamp("2025-08-01T01:15:00Z")
    assert (row["score"], row["predicted_label"], row["age"], row["sex"]) == (0.82, 1, 67.0, "F")
    assert row["patient_hash"] == HASH("PATIENT-001")
    assert "PATIENT-001" not in checked.accepted.to_string()
    assert json.loads(row["attributes"]) == {"emphysema_grade": "mild", "scanner_vendor": "GE"}  # JSON text, sorted keys
    assert len(row["row_hash"]) == 64


def test_equivalent_spellings_give_the_same_row_hash(devices: dict[str, Any]) -> None:
    plain = check_predictions([prediction(1)], devices).accepted
    respelled = check_predictions([prediction(
        1, predicted_at="2025-08-01T01:15:00Z", score=" 0.820 ", predicted_label="1.0", age="67.0",
        site_id=" SH-01 ")], devices).accepted
    other_offset = check_predictions([prediction(1, predicted_at="2025-08-01T09:15:00+0800")], devices).accepted
    assert respelled["row_hash"].tolist() == plain["row_hash"].tolist() == other_offset["row_hash"].tolist()
    changed = check_predictions([prediction(1, score="0.83")], devices).accepted
    assert changed["row_hash"].iloc[0] != plain["row_hash"].iloc[0]


def test_optional_fields_may_be_empty(devices: dict[str, Any]) -> None:
    checked = check_predictions([prediction(1, age=None, sex="", emphysema_grade="null", scanner_vendor=None)],
                                devices)
    assert checked.rejections == []
    row = checked.accepted.iloc[0]
    assert np.isnan(row["age"]) and row["sex"] is None
    assert json.loads(row["attributes"]) == {"emphysema_grade": None, "scanner_vendor": None}


@pytest.mark.parametrize("stamp", ["2025-08-01T01:15:00Z", "2025-08-01T09:15:00+08:00", "2025-08-01T09:15:00+0800",
                                   "2025-08-01T09:15:00+08", "2025-08-01 09:15:00+08:00",
                                   "2025-07-31T21:15:00-04:00", "2025-08-01T09:15:00.000+08:00"])
def test_accepted_timestamp_spellings_are_the_same_instant(devices: dict[str, Any], stamp: str) -> None:
    checked = check_predictions([prediction(1, predicted_at=stamp)], devices)
    assert checked.rejections == []
    assert checked.accepted["predicted_at"].iloc[0] == pd.Timestamp("2025-08-01T01:15:00Z")


def test_future_tolerance_is_one_day(devices: dict[str, Any]) -> None:
    soon = (NOW + timedelta(hours=23)).isoformat()
    late = (NOW + timedelta(hours=25)).isoformat()
    checked = check_predictions([prediction(1, predicted_at=soon), prediction(2, predicted_at=late)], devices)
    assert checked.accepted["prediction_id"].tolist() == ["P001"]
    assert [(r.row_number, r.code) for r in checked.rejections] == [(2, "predicted_at_in_future")]


def test_empty_chunk(devices: dict[str, Any]) -> None:
    predictions = check_predictions([], devices)
    truths = check_truth([], devices)
    assert predictions.accepted.empty and predictions.rejections == []
    assert truths.accepted.empty and truths.rejections == []


# one case per prediction reason code -------------------------------------------------------------
PREDICTION_CASES = [
    # (changes to a valid row, code, message of the (only) problem)
    ({"prediction_id": None}, "missing_prediction_id", "prediction_id is missing"),
    ({"device_id": ""}, "missing_device_id", "device_id is missing"),
    ({"model_version": "null"}, "missing_model_version", "model_version is missing"),
    ({"site_id": "  "}, "missing_site_id", "site_id is missing"),
    ({"patient_id": "NaN"}, "missing_patient_id", "patient_id is missing"),
    ({"predicted_at": "N/A"}, "missing_predicted_at", "predicted_at is missing"),
    ({"score": "None"}, "missing_score", "score is missing"),
    ({"predicted_label": "NA"}, "missing_predicted_label", "predicted_label is missing"),
    ({"prediction_id": "P" * 129}, "invalid_prediction_id", "prediction_id is longer than 128 characters"),
    ({"patient_id": "X" * 129}, "invalid_patient_id", "patient_id is longer than 128 characters"),
    ({"model_version": "v" * 65}, "invalid_model_version", "model_version is longer than 64 characters"),
    ({"site_id": "s" * 65}, "invalid_site_id", "site_id is longer than 64 characters"),
    ({"device_id": "other-device"}, "unknown_device",
     "device_id is not a registered device (run `samd-monitor device add CONFIG`)"),
    ({"predicted_at": "2025-08-01T09:15:00"}, "predicted_at_without_offset",
     "predicted_at has no UTC offset (write e.g. 2025-08-01T09:15:00+08:00)"),
    ({"predicted_at": "2025-08-01"}, "predicted_at_without_offset",  # the day's "-01" is not an offset
     "predicted_at has no UTC offset (write e.g. 2025-08-01T09:15:00+08:00)"),
    ({"predicted_at": "2025-08"}, "predicted_at_without_offset",
     "predicted_at has no UTC offset (write e.g. 2025-08-01T09:15:00+08:00)"),
    ({"predicted_at": "2025-02-30T09:15:00+08:00"}, "invalid_predicted_at",
     "predicted_at is not a valid ISO-8601 timestamp"),
    ({"predicted_at": "2025-08-01T25:15:00+08:00"}, "invalid_predicted_at",
     "predicted_at is not a valid ISO-8601 timestamp"),
    ({"predicted_at": "yesterday"}, "invalid_predicted_at",  # not a timestamp at all, not "without offset"
     "predicted_at is not a valid ISO-8601 timestamp"),
    ({"predicted_at": "01/08/2025 09:15"}, "invalid_predicted_at",
     "predicted_at is not a valid ISO-8601 timestamp"),
    ({"predicted_at": "2099-01-01T00:00:00+08:00"}, "predicted_at_in_future",
     "predicted_at is more than one day after ingestion (in the future)"),
    ({"score": "high"}, "invalid_score", "score is not a number"),
    ({"score": "1.5"}, "score_out_of_range", "score is outside 0..1"),
    ({"score": "-0.01"}, "score_out_of_range", "score is outside 0..1"),
    ({"score": "inf"}, "score_out_of_range", "score is outside 0..1"),
    ({"predicted_label": "2"}, "invalid_predicted_label", "predicted_label is not 0 or 1"),
    ({"predicted_label": "yes"}, "invalid_predicted_label", "predicted_label is not 0 or 1"),
    ({"age": "sixty"}, "invalid_age", "age is not a number of years in 0..130"),
    ({"age": "131"}, "invalid_age", "age is not a number of years in 0..130"),
    ({"age": "-1"}, "invalid_age", "age is not a number of years in 0..130"),
    ({"sex": "F" * 17}, "invalid_sex", "sex is longer than 16 characters"),
    ({"emphysema_grade": "m" * 65}, "invalid_emphysema_grade", "emphysema_grade is longer than 64 characters"),
    ({"scanner_vendor": "g" * 65}, "invalid_scanner_vendor", "scanner_vendor is longer than 64 characters"),
]


@pytest.mark.parametrize(("changes", "code", "message"), PREDICTION_CASES,
                         ids=[f"{c[1]}-{i}" for i, c in enumerate(PREDICTION_CASES)])
def test_prediction_reason_code(devices: dict[str, Any], changes: dict[str, str | None], code: str,
                                message: str) -> None:
    checked = check_predictions([prediction(1), prediction(2, **changes), prediction(3)], devices, first_row=1)
    assert checked.accepted["prediction_id"].tolist() == ["P001", "P003"]
    assert checked.accepted["row_number"].tolist() == [1, 3]
    [rejection] = checked.rejections
    assert (rejection.row_number, rejection.code, rejection.reason) == (2, code, message)
    expected_id = changes.get("prediction_id", "P002")
    assert rejection.record_id == (None if expected_id is None else expected_id)
    assert rejection.raw["patient_id"] in (None, f"hmac-sha256:{HASH(str(changes.get('patient_id', 'PATIENT-002')))}")


def test_numeric_attribute_must_be_a_number() -> None:
    text = EXAMPLE_CONFIG.read_text(encoding="utf-8").replace(
        "      values: [GE, Siemens, Philips, United Imaging]\n",
        "      values: [GE, Siemens, Philips, United Imaging]\n    - name: nodule_mm\n      bins: [6, 8]\n")
    config = parse_device_config(text, source="test")
    rows = [prediction(1, nodule_mm="7.5"), prediction(2, nodule_mm="big"), prediction(3, nodule_mm=None)]
    raw = frame(rows, [*PREDICTION_COLUMNS, "nodule_mm"])
    checked = validate_predictions(raw, first_row=1, devices={DEVICE: config}, hash_patient=HASH, now=NOW)
    assert [(r.row_number, r.code, r.reason) for r in checked.rejections] == [
        (2, "invalid_nodule_mm", "nodule_mm is not a number")]
    assert [json.loads(a)["nodule_mm"] for a in checked.accepted["attributes"]] == [7.5, None]


# one case per ground-truth reason code -----------------------------------------------------------
TRUTH_CASES = [
    ({"prediction_id": ""}, "missing_prediction_id", "prediction_id (or study_uid, or accession_number) is missing"),
    ({"device_id": None}, "missing_device_id", "device_id is missing"),
    ({"label": "null"}, "missing_label", "label is missing"),
    ({"confirmed_at": None}, "missing_confirmed_at", "confirmed_at is missing"),
    ({"source": "NaN"}, "missing_source", "source is missing"),
    ({"prediction_id": "P" * 129}, "invalid_prediction_id", "prediction_id is longer than 128 characters"),
    ({"device_id": "other-device"}, "unknown_device",
     "device_id is not a registered device (run `samd-monitor device add CONFIG`)"),
    ({"label": "positive"}, "invalid_label", "label is not 0 or 1"),
    ({"label": "-1"}, "invalid_label", "label is not 0 or 1"),
    ({"confirmed_at": "2025-09-10T10:00:00"}, "confirmed_at_without_offset",
     "confirmed_at has no UTC offset (write e.g. 2025-08-01T09:15:00+08:00)"),
    ({"confirmed_at": "2025-09-31T10:00:00+08:00"}, "invalid_confirmed_at",
     "confirmed_at is not a valid ISO-8601 timestamp"),
    ({"confirmed_at": "2099-09-10T10:00:00+08:00"}, "confirmed_at_in_future",
     "confirmed_at is more than one day after ingestion (in the future)"),
    ({"intervention_at": "2025-09-01"}, "intervention_at_without_offset",
     "intervention_at has no UTC offset (write e.g. 2025-08-01T09:15:00+08:00)"),
    ({"intervention_at": "soon"}, "invalid_intervention_at", "intervention_at is not a valid ISO-8601 timestamp"),
    ({"intervention_at": "2099-09-10T10:00:00Z"}, "intervention_at_in_future",
     "intervention_at is more than one day after ingestion (in the future)"),
    ({"source": "pathology"}, "invalid_source",
     "source is not one of histopathology, follow_up, adjudication, audit_sample, "
     "clinical_diagnosis, other"),
    ({"correction_reason": "r" * 501}, "invalid_correction_reason", "correction_reason is longer than 500 characters"),
]


@pytest.mark.parametrize(("changes", "code", "message"), TRUTH_CASES,
                         ids=[f"{c[1]}-{i}" for i, c in enumerate(TRUTH_CASES)])
def test_ground_truth_reason_code(devices: dict[str, Any], changes: dict[str, str | None], code: str,
                                  message: str) -> None:
    checked = check_truth([truth(1), truth(2, **changes), truth(3)], devices)
    assert checked.accepted["prediction_id"].tolist() == ["P001", "P003"]
    [rejection] = checked.rejections
    assert (rejection.row_number, rejection.code, rejection.reason) == (2, code, message)


def test_valid_ground_truth_becomes_a_canonical_row(devices: dict[str, Any]) -> None:
    rows = [truth(1), truth(2, label="0.0", source="follow_up", intervention_at="2025-09-01T08:00:00+08:00",
                          correction_reason="panel review")]
    checked = check_truth(rows, devices)
    assert checked.rejections == []
    first, second = (checked.accepted.iloc[i] for i in range(2))
    assert (first["label"], first["source"], first["correction_reason"]) == (1, "histopathology", None)
    assert first["confirmed_at"] == pd.Timestamp("2025-09-10T02:00:00Z") and pd.isna(first["intervention_at"])
    assert (second["label"], second["source"]) == (0, "follow_up")
    assert second["intervention_at"] == pd.Timestamp("2025-09-01T00:00:00Z")
    # correction_reason is not content: the same label with a reason hashes like the plain row
    assert check_truth([truth(1, correction_reason="x")], devices).accepted["row_hash"].iloc[0] == first["row_hash"]


# several problems, row numbers ----------------------------------------------------------------------
def test_every_problem_of_a_row_is_reported(devices: dict[str, Any]) -> None:
    bad = prediction(2, site_id=None, predicted_at="2025-08-01T09:15:00", score="abc", predicted_label="2",
                     age="200")
    [rejection] = check_predictions([bad], devices).rejections
    assert rejection.code == "missing_site_id"
    assert rejection.reason.split("; ") == [
        "site_id is missing",
        "predicted_at has no UTC offset (write e.g. 2025-08-01T09:15:00+08:00)",
        "score is not a number",
        "predicted_label is not 0 or 1",
        "age is not a number of years in 0..130",
    ]


def test_every_problem_of_a_ground_truth_row_is_reported(devices: dict[str, Any]) -> None:
    bad = truth(1, device_id="nope", label="7", confirmed_at="2025-13-01T00:00:00+08:00", source=None)
    [rejection] = check_truth([bad], devices).rejections
    assert rejection.code == "unknown_device"
    assert rejection.reason.split("; ") == [
        "device_id is not a registered device (run `samd-monitor device add CONFIG`)",
        "label is not 0 or 1",
        "confirmed_at is not a valid ISO-8601 timestamp",
        "source is missing",
    ]


def test_a_row_with_only_an_id_lists_every_missing_field(devices: dict[str, Any]) -> None:
    row = {c: None for c in PREDICTION_COLUMNS} | {"prediction_id": "P009"}
    [rejection] = check_predictions([row], devices).rejections
    assert (rejection.code, rejection.record_id) == ("missing_device_id", "P009")
    assert rejection.reason.split("; ") == [f"{c} is missing" for c in (
        "device_id", "model_version", "site_id", "patient_id", "predicted_at", "score", "predicted_label")]


def test_row_numbers_count_from_first_row(devices: dict[str, Any]) -> None:
    rows = [prediction(1), prediction(2, score="x"), prediction(3), prediction(4, predicted_label="9"),
            prediction(5)]
    raw = frame(rows, PREDICTION_COLUMNS)
    raw.index = pd.RangeIndex(4000, 4005)  # a later chunk of a reader keeps counting its index
    checked = validate_predictions(raw, first_row=4001, devices=devices, hash_patient=HASH, now=NOW)
    assert [(r.row_number, r.record_id, r.code) for r in checked.rejections] == [
        (4002, "P002", "invalid_score"), (4004, "P004", "invalid_predicted_label")]
    assert checked.accepted["row_number"].tolist() == [4001, 4003, 4005]
    assert checked.accepted["prediction_id"].tolist() == ["P001", "P003", "P005"]
    truths = check_truth([truth(1, label="x"), truth(2), truth(3, source="x")], devices, first_row=51)
    assert [(r.row_number, r.code) for r in truths.rejections] == [(51, "invalid_label"), (53, "invalid_source")]
    assert truths.accepted["row_number"].tolist() == [52]


def test_rejected_raw_content_holds_only_the_patient_hash(devices: dict[str, Any]) -> None:
    checked = check_predictions([prediction(1, score="x", patient_id="CLEAR-ID-77"),
                                 prediction(2, score="x", patient_id=None)], devices)
    first, second = checked.rejections
    assert first.raw == dict.fromkeys(PREDICTION_COLUMNS) | prediction(1, score="x") | {
        "patient_id": f"hmac-sha256:{HASH('CLEAR-ID-77')}"}
    assert "CLEAR-ID-77" not in repr(checked.rejections)
    assert second.raw["patient_id"] is None


def test_missing_columns() -> None:
    assert missing_columns(["prediction_id", "score"], kind="predictions") == [
        "device_id", "model_version", "site_id", "predicted_at", "predicted_label", "patient_id"]
    assert missing_columns(GROUND_TRUTH_COLUMNS, kind="ground_truth") == []
    assert missing_columns(["prediction_id", "device_id", "label"], kind="ground_truth") == ["confirmed_at", "source"]
