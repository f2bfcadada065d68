"""The device-kind configuration (issue 17) and the log fields it reads: ordinal levels, low-confidence flags,
comparator score and call, mask overlap. No database."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from pydantic import ValidationError

from monitor.domain.device import DeviceConfig
from monitor.domain.device_kinds import MetricClaim, Outputs
from monitor.domain.logs import validate_ground_truth, validate_predictions
from monitor.domain.privacy import make_patient_hasher
from monitor.domain.strata import StratumDefinition

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "lung-nodule-ct.yaml"
NOW = datetime(2026, 2, 1, 8, 0, tzinfo=timezone.utc)
HASH = make_patient_hasher("unit-test-patient-key-0123456789")
LEVELS = [{"name": "low_risk", "name_zh": "低风险"}, {"name": "monitor"}, {"name": "refer_now"}]


def _base() -> dict[str, Any]:
    return yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))


def _ordinal(**outputs: Any) -> DeviceConfig:
    data = _base()
    data["device"]["id"] = "dr-ordinal"
    data["outputs"] = {"type": "ordinal", "levels": LEVELS, **outputs}
    return DeviceConfig.model_validate(data)


# configuration ---------------------------------------------------------------------------------
def test_unset_kind_fields_keep_the_configuration_hash() -> None:
    data = _base()
    plain = DeviceConfig.model_validate(data)
    explicit = DeviceConfig.model_validate(data | {"outputs": None, "review": None, "comparator": None,
                                                   "lesions": None, "claims": data["claims"] | {"metrics": []}})
    assert explicit.config_hash() == plain.config_hash()
    assert _ordinal().config_hash() != DeviceConfig.model_validate(_base() | {
        "device": _base()["device"] | {"id": "dr-ordinal"}}).config_hash()


@pytest.mark.parametrize(("outputs", "message"), [
    ({"type": "ordinal", "levels": LEVELS[:2]}, "at least 3 levels"),
    ({"type": "ordinal", "levels": [*LEVELS, {"name": "monitor"}]}, "unique"),
    ({"type": "ordinal", "levels": LEVELS, "positive_from": "low_risk"}, "cannot be the lowest"),
    ({"type": "ordinal", "levels": LEVELS, "positive_from": "urgent"}, "is not one of the levels"),
    ({"type": "binary", "levels": LEVELS}, "'ordinal' only"),
])
def test_ordinal_outputs_are_checked(outputs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Outputs.model_validate(outputs)


def test_positive_index_defaults_to_the_second_level() -> None:
    assert _ordinal().outputs.positive_index() == 1  # type: ignore[union-attr]
    assert _ordinal(positive_from="refer_now").outputs.positive_index() == 2  # type: ignore[union-attr]


@pytest.mark.parametrize(("claim", "message"), [
    ({"metric": "accuracy", "maximum": 0.9}, "must stay high"),
    ({"metric": "low_confidence_rate", "minimum": 0.1}, "must stay low"),
    ({"metric": "ppa", "minimum": 1.5}, "within 0..1"),
])
def test_a_metric_claim_goes_the_metric_s_way(claim: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        MetricClaim.model_validate(claim)


def test_goals_and_the_most_specific_claim() -> None:
    data = _base()
    data["claims"]["metrics"] = [
        {"metric": "accuracy", "minimum": 0.974, "margin": 0.02},
        {"metric": "accuracy", "minimum": 0.95, "margin": 0.02, "where": {"emphysema_grade": "severe"}},
        {"metric": "low_confidence_rate", "maximum": 0.05, "margin": 0.03},
        {"metric": "fp_per_scan", "maximum": 1.5, "margin": 0.5},
    ]
    data["lesions"] = {}
    config = DeviceConfig.model_validate(data)
    severe = StratumDefinition.of({"emphysema_grade": "severe"})
    assert config.claims.metric_claim_for("accuracy", severe).minimum == 0.95  # type: ignore[union-attr]
    assert config.claims.metric_claim_for("accuracy", StratumDefinition()).goal == pytest.approx(0.954)  # type: ignore[union-attr]
    assert config.claims.metric_claim_for("low_confidence_rate", severe).goal == pytest.approx(0.08)  # type: ignore[union-attr]
    assert config.claims.metric_claim_for("review_rate", severe) is None


def test_every_metric_claim_problem_is_reported_in_one_pass() -> None:
    data = _base()
    data["claims"]["metrics"] = [
        {"metric": "lowest_level_fnr", "maximum": 0.012},
        {"metric": "review_rate", "maximum": 0.1},
        {"metric": "accuracy", "minimum": 0.9, "where": {"emphysema_grade": "extreme"}},
        {"metric": "fp_per_scan", "maximum": 1.0, "where": {"colour": "red"}},
    ]
    with pytest.raises(ValidationError) as caught:
        DeviceConfig.model_validate(data)
    found = {(tuple(e["loc"]), e["msg"].split(", ", 1)[-1]) for e in caught.value.errors()}
    assert found == {
        (("claims", "metrics", 0, "metric"), "lowest_level_fnr needs an ordinal output (outputs.type: ordinal)"),
        (("claims", "metrics", 1, "metric"), "review_rate needs review triggers (review)"),
        (("claims", "metrics", 2, "where", "emphysema_grade"),
         "'extreme' is not one of ['none', 'mild', 'moderate', 'severe']"),
        (("claims", "metrics", 3, "where"), "unknown attribute 'colour'"),
        (("claims", "metrics", 3, "metric"), "fp_per_scan needs lesion matching (lesions)"),
    }


def test_claims_on_other_metrics_alone_are_enough() -> None:
    data = _base()
    data["claims"] = {"metrics": [{"metric": "accuracy", "minimum": 0.974, "margin": 0.02}]}
    assert DeviceConfig.model_validate(data).claims.sensitivity is None
    data["claims"] = {"metrics": []}
    with pytest.raises(ValidationError, match="at least one overall claim"):
        DeviceConfig.model_validate(data)


# logs ---------------------------------------------------------------------------------------------
def _prediction(i: int, device: str, **changes: str | None) -> dict[str, str | None]:
    row: dict[str, str | None] = {
        "prediction_id": f"P{i:03d}", "device_id": device, "model_version": "2.1.0", "site_id": "SH-01",
        "predicted_at": "2025-08-01T09:15:00+08:00", "score": "0.82", "predicted_label": "1",
        "patient_id": f"PATIENT-{i:03d}", "age": "67", "sex": "F", "emphysema_grade": "mild", "scanner_vendor": "GE",
    }
    return row | changes


def _devices() -> dict[str, DeviceConfig]:
    binary = DeviceConfig.model_validate(_base())
    return {binary.device.id: binary, "dr-ordinal": _ordinal()}


def _check(rows: list[dict[str, str | None]]):  # type: ignore[no-untyped-def]
    raw = pd.DataFrame(rows).astype(object).where(lambda f: f.notna(), None)
    return validate_predictions(raw, first_row=1, devices=_devices(), hash_patient=HASH, now=NOW)


def test_an_ordinal_level_is_kept_with_its_binary_call() -> None:
    checked = _check([_prediction(1, "dr-ordinal", predicted_label="low_risk"),
                      _prediction(2, "dr-ordinal", predicted_label="monitor"),
                      _prediction(3, "dr-ordinal", predicted_label="2"),
                      _prediction(4, "lung-nodule-ct", predicted_label="1")])
    assert checked.rejections == []
    rows = checked.accepted
    assert rows["predicted_level"].tolist() == [0, 1, 2, None]
    assert rows["predicted_label"].tolist() == [0, 1, 1, 1]


def test_a_level_the_device_does_not_have_is_rejected_without_its_value() -> None:
    checked = _check([_prediction(1, "dr-ordinal", predicted_label="urgent_secret"),
                      _prediction(2, "dr-ordinal", predicted_label="3"),
                      _prediction(3, "lung-nodule-ct", predicted_label="monitor")])
    assert [(r.row_number, r.code) for r in checked.rejections] == [
        (1, "invalid_predicted_label"), (2, "invalid_predicted_label"), (3, "invalid_predicted_label")]
    assert "low_risk, monitor, refer_now" in checked.rejections[0].reason
    assert all("urgent_secret" not in r.reason for r in checked.rejections)
    assert checked.rejections[2].reason == "predicted_label is not 0 or 1"


def test_a_reference_grade_is_kept_with_its_binary_truth() -> None:
    rows = [{"prediction_id": f"P{i}", "device_id": "dr-ordinal", "label": label, "confirmed_at": "2025-09-10T10:00:00Z",
             "source": "adjudication"} for i, label in enumerate(["refer_now", "0", "monitor", "severe"], start=1)]
    raw = pd.DataFrame(rows).astype(object)
    checked = validate_ground_truth(raw, first_row=1, devices=_devices(), now=NOW)
    assert checked.accepted["label_level"].tolist() == [2, 0, 1]
    assert checked.accepted["label"].tolist() == [1, 0, 1]
    assert [(r.row_number, r.code) for r in checked.rejections] == [(4, "invalid_label")]
    graded = checked.accepted["row_hash"].tolist()
    assert len(set(graded)) == 3


@pytest.mark.parametrize(("changes", "code"), [
    ({"low_confidence": "maybe"}, "invalid_low_confidence"),
    ({"comparator_score": "4A"}, "invalid_comparator_score"),
    ({"comparator_label": "2"}, "invalid_comparator_label"),
    ({"ai_volume_mm3": "100", "reviewed_volume_mm3": "120", "overlap_volume_mm3": "110"}, "invalid_overlap_volume_mm3"),
    ({"overlap_volume_mm3": "10"}, "invalid_overlap_volume_mm3"),
    ({"result_status": "failed", "score": None, "predicted_label": None, "low_confidence": "1"}, "result_on_failed_row"),
])
def test_kind_fields_are_validated(changes: dict[str, str | None], code: str) -> None:
    checked = _check([_prediction(1, "lung-nodule-ct", **changes)])
    assert [r.code for r in checked.rejections] == [code]


def test_kind_fields_extend_the_row_hash_only_where_given() -> None:
    plain = _check([_prediction(1, "lung-nodule-ct")]).accepted
    flagged = _check([_prediction(1, "lung-nodule-ct", low_confidence="true")]).accepted
    unflagged = _check([_prediction(1, "lung-nodule-ct", low_confidence="no")]).accepted
    same = _check([_prediction(1, "lung-nodule-ct", low_confidence="1")]).accepted
    assert flagged["low_confidence"].tolist() == [1] and unflagged["low_confidence"].tolist() == [0]
    assert len({plain["row_hash"][0], flagged["row_hash"][0], unflagged["row_hash"][0]}) == 3
    assert same["row_hash"][0] == flagged["row_hash"][0]
    compared = _check([_prediction(1, "lung-nodule-ct", comparator_score="4.5", comparator_label="1",
                                   ai_volume_mm3="100", reviewed_volume_mm3="120", overlap_volume_mm3="90")]).accepted
    assert compared[["comparator_score", "comparator_label", "overlap_volume_mm3"]].iloc[0].tolist() == [4.5, 1, 90.0]


def test_a_stratum_of_the_ai_s_own_output_is_refused() -> None:
    data = _base()
    data["strata"]["attributes"].append({"name": "triage_level", "column": "predicted_label", "values": ["0", "1"]})
    with pytest.raises(ValidationError) as caught:
        DeviceConfig.model_validate(data)
    [error] = caught.value.errors()
    assert error["loc"][:3] == ("strata", "attributes", len(data["strata"]["attributes"]) - 1)
    assert "outputs.type: ordinal" in error["msg"]
