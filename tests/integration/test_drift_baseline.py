"""Data drift against a fixed baseline, through the database on both engines: a shift of the population's
age that starts in 2025Q2 and persists is reported in 2025Q2 against both references, in 2025Q3 against the
fixed baseline only (the preceding quarter has shifted too), and the first quarter says "no reference"."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from monitor.domain.periods import Period
from monitor.service.analyze import analyze_period
from monitor.synthetic import DemoScenario, generate, write_csv

SCENARIO = DemoScenario(seed=7, scale=0.01, quarters=("2025Q1", "2025Q2", "2025Q3"), drift_quarter=None)
AGE_SHIFT = 20  # years added to every patient from 2025Q2 on: about 1.5 reference standard deviations (SD 13.5)


def _register(app, baseline: str) -> None:  # type: ignore[no-untyped-def]
    from monitor.service.devices import register_device

    with app.uow() as unit:
        config = unit.devices.get("lung-nodule-ct")
    changed = config.model_copy(update={"monitoring": config.monitoring.model_copy(update={"drift_baseline": baseline})})
    register_device(changed, uow=app.uow, clock=app.clock, actor="t", source="test")


@pytest.fixture
def shifted(app, tmp_path: Path):  # type: ignore[no-untyped-def]
    from monitor.service.ingest import ingest_ground_truth, ingest_predictions

    data = generate(SCENARIO)
    predictions = data.predictions.copy()
    later = ~predictions["prediction_id"].str.startswith("LN-2025Q1-")
    predictions["age"] = predictions["age"].where(~later, pd.to_numeric(predictions["age"]) + AGE_SHIFT)
    ingest_predictions(app.open_log(write_csv(predictions, tmp_path / "p.csv")), source="p.csv", uow=app.uow,
                       hash_patient=app.patient_hasher(), clock=app.clock, actor="t")
    ingest_ground_truth(app.open_log(write_csv(data.ground_truth, tmp_path / "g.csv")), source="g.csv",
                        uow=app.uow, clock=app.clock, actor="t")
    return app


def _drift(app, quarter: str) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    """The period's drift comparisons by reference, each valid against the analysis schema (strict)."""
    from jsonschema import Draft202012Validator

    from tests.unit.test_schemas import BASE_ID, _registry

    document = analyze_period("lung-nodule-ct", Period.parse(quarter), uow=app.uow, clock=app.clock, actor="t").document
    schema = Draft202012Validator({"$ref": f"{BASE_ID}analysis.schema.json#/$defs/drift_comparison"},
                                  registry=_registry(True))
    for comparison in document["data_drift"]:
        schema.validate(comparison)
    assert [c["reference"] for c in document["data_drift"]] == ["preceding", "baseline"]
    return {c["reference"]: c for c in document["data_drift"]}


def _age(comparison: dict) -> dict:
    return next(r for r in comparison["rows"] if r["feature"] == "age")


def test_a_persisting_shift_keeps_being_reported_against_the_baseline(shifted) -> None:  # type: ignore[no-untyped-def]
    _register(shifted, "2025-Q1")

    first = _drift(shifted, "2025Q1")
    assert first["preceding"]["periods"] == ["2024Q4"] and first["baseline"]["periods"] == []
    assert first["baseline"]["baseline"] == "2025Q1" and first["baseline"]["start_utc"] is None
    for comparison in first.values():
        assert {r["reason"] for r in comparison["rows"]} == {"no_reference"}
        assert all(r["drifted"] is None and r["reference_n"] == 0 and r["effect_floor"] is None
                   for r in comparison["rows"])

    second = _drift(shifted, "2025Q2")
    for comparison in second.values():
        assert comparison["periods"] == ["2025Q1"]
        age = _age(comparison)
        assert age["drifted"] is True and age["reason"] == "distance_reached_threshold"
        assert age["value"] >= age["effect_floor"] == age["threshold"] == 0.1

    third = _drift(shifted, "2025Q3")
    assert third["preceding"]["periods"] == ["2025Q2"] and third["baseline"]["periods"] == ["2025Q1"]
    assert _age(third["preceding"])["drifted"] is False
    assert _age(third["preceding"])["reason"] == "distance_below_threshold"
    assert _age(third["baseline"])["drifted"] is True
    assert _age(third["baseline"])["value"] == pytest.approx(_age(second["baseline"])["value"], abs=0.25)
    for comparison in third.values():  # the rates carry their floor and the reason of their verdict
        rate = next(r for r in comparison["rows"] if r["feature"] == "positive_call_rate")
        assert rate["effect_floor"] == 0.02 and rate["threshold"] == 0.05
        assert rate["reason"] in {"not_significant", "significant_effect_below_floor", "significant_effect_reached_floor"}

    _register(shifted, "model_version_start")  # the only model version started in 2025Q1: the same baseline
    start = _drift(shifted, "2025Q3")["baseline"]
    assert start["baseline"] == "model_version_start" and start["model_versions"] == ["2.1.0"]
    assert start["periods"] == ["2025Q1"] and start["rows"] == third["baseline"]["rows"]
