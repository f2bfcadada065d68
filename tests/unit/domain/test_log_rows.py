"""Row validation of the newer log columns (pure core), and its agreement with the JSON Schemas."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from jsonschema import Draft202012Validator

from monitor.adapters.config_file import load_device_config
from monitor.domain.logs import (
    missing_columns,
    validate_ground_truth,
    validate_predictions,
    validate_retractions,
)
from monitor.domain.privacy import make_patient_hasher

ROOT = Path(__file__).resolve().parents[3]
DEVICES = {"lung-nodule-ct": load_device_config(ROOT / "examples" / "lung-nodule-ct.yaml")}
HASH = make_patient_hasher("unit-test-key-0123456789abcdef")
NOW = datetime(2026, 2, 1, tzinfo=timezone.utc)
UID = "1.2.840.10008.5.1.4"
BASE = {"prediction_id": "P1", "device_id": "lung-nodule-ct", "model_version": "2.1.0", "site_id": "S1",
        "predicted_at": "2025-08-01T09:15:00+08:00", "score": 0.4, "predicted_label": 0, "patient_id": "PAT-1"}
TRUTH = {"device_id": "lung-nodule-ct", "label": 1, "confirmed_at": "2025-09-01T10:00:00+08:00",
         "source": "follow_up"}
RETRACTION = {"device_id": "lung-nodule-ct", "prediction_id": "P1", "retracted_at": "2025-10-01T00:00:00Z",
              "reason": "FSN-7"}
FAILED = {"score": None, "predicted_label": None, "result_status": "failed"}

CASES: list[tuple[str, dict[str, Any], bool]] = [
    ("prediction_log", BASE | {"study_uid": UID, "human_label": 1, "ai_volume_mm3": 12.5,
                               "reviewed_volume_mm3": 0}, True),
    ("prediction_log", BASE | FAILED, True),
    ("prediction_log", BASE | FAILED | {"result_status": "no_result", "failure_reason": "out_of_scope"}, True),
    ("prediction_log", BASE | FAILED | {"score": 0.3}, False),
    ("prediction_log", BASE | FAILED | {"ai_volume_mm3": 3}, False),
    ("prediction_log", BASE | {"failure_reason": "timeout"}, False),
    ("prediction_log", BASE | {"result_status": "crashed"}, False),
    ("prediction_log", BASE | {"score": None}, False),
    ("prediction_log", BASE | {"human_label": 2}, False),
    ("prediction_log", BASE | {"ai_volume_mm3": -0.1}, False),
    ("prediction_log", BASE | {"study_uid": "1.2.abc"}, False),
    ("prediction_log", BASE | FAILED | {"failure_reason": "two words"}, False),
    ("ground_truth_log", TRUTH | {"prediction_id": "P1"}, True),
    ("ground_truth_log", TRUTH | {"study_uid": UID}, True),
    ("ground_truth_log", TRUTH | {"study_uid": UID, "prediction_id": "P1"}, False),
    ("ground_truth_log", TRUTH, False),
    ("retraction_log", RETRACTION, True),
    ("retraction_log", RETRACTION | {"reason": None}, False),
    ("retraction_log", RETRACTION | {"retracted_at": "2025-10-01T00:00:00"}, False),
]


def _schema(name: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads((ROOT / "schemas" / f"{name}.schema.json").read_text(encoding="utf-8")))


def _text(row: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame([{k: None if v is None else str(v) for k, v in row.items()}], dtype=object)


def _accepted(kind: str, row: dict[str, Any]) -> bool:
    raw = _text(row)
    if kind == "prediction_log":
        checked = validate_predictions(raw, first_row=1, devices=DEVICES, hash_patient=HASH, now=NOW)
    elif kind == "ground_truth_log":
        checked = validate_ground_truth(raw, first_row=1, devices=DEVICES, now=NOW)
    else:
        checked = validate_retractions(raw, first_row=1, devices=DEVICES, now=NOW)
    return len(checked.accepted) == 1


@pytest.mark.parametrize(("kind", "row", "expected"), CASES)
def test_schema_and_validator_agree(kind: str, row: dict[str, Any], expected: bool) -> None:
    assert _schema(kind).is_valid(row) is expected
    assert _accepted(kind, row) is expected


def test_failures_hash_apart_and_context_keeps_old_hashes() -> None:
    plain = validate_predictions(_text(BASE), first_row=1, devices=DEVICES, hash_patient=HASH, now=NOW).accepted
    empty_context = validate_predictions(_text(BASE | {"study_uid": None, "result_status": "ok"}), first_row=1,
                                         devices=DEVICES, hash_patient=HASH, now=NOW).accepted
    with_context = validate_predictions(_text(BASE | {"study_uid": UID}), first_row=1, devices=DEVICES,
                                        hash_patient=HASH, now=NOW).accepted
    failure = validate_predictions(_text(BASE | FAILED), first_row=1, devices=DEVICES, hash_patient=HASH,
                                   now=NOW).accepted
    assert plain["row_hash"][0] == empty_context["row_hash"][0]
    assert len({plain["row_hash"][0], with_context["row_hash"][0], failure["row_hash"][0]}) == 3
    assert (failure["result_status"][0], failure["failure_code"][0]) == ("failed", "failed")


def test_ages_and_pseudonyms() -> None:
    rows = pd.concat([_text(BASE | {"age": a, "prediction_id": f"A{a}"}) for a in ("89.9", "90", "117")])
    capped = validate_predictions(rows, first_row=1, devices=DEVICES, hash_patient=HASH, now=NOW).accepted
    exact = validate_predictions(rows, first_row=1, devices=DEVICES, hash_patient=HASH, now=NOW,
                                 exact_ages=True).accepted
    assert list(capped["age"]) == [89.9, 90.0, 90.0] and list(exact["age"]) == [89.9, 90.0, 117.0]
    pseudonym = f"hmac-sha256:{HASH('PAT-1')}"
    again = validate_predictions(_text(BASE | {"patient_id": pseudonym}), first_row=1, devices=DEVICES,
                                 hash_patient=HASH, now=NOW).accepted
    assert again["patient_hash"][0] == HASH("PAT-1")
    bad = validate_predictions(_text(BASE | {"patient_id": "PAT-XYZ", "age": "104", "score": "x"}), first_row=1,
                               devices=DEVICES, hash_patient=HASH, now=NOW).rejections[0]
    assert bad.raw["age"] == "90" and bad.raw["patient_id"] == f"hmac-sha256:{HASH('PAT-XYZ')}"


def test_required_columns() -> None:
    assert missing_columns(["device_id", "study_uid", "label", "confirmed_at", "source"], kind="ground_truth") == []
    assert missing_columns(["device_id", "label", "confirmed_at", "source"], kind="ground_truth") == ["prediction_id"]
    failures_only = ["prediction_id", "device_id", "model_version", "site_id", "predicted_at", "patient_id",
                     "result_status"]
    assert missing_columns(failures_only, kind="predictions") == []
    assert missing_columns(failures_only[:-1], kind="predictions") == ["score", "predicted_label"]
    assert missing_columns(["device_id", "prediction_id"], kind="retractions") == ["retracted_at", "reason"]
