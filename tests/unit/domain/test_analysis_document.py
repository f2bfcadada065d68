"""The typed analysis document (monitor.domain.analysis_document): what the models accept, refuse and give back.

Whole documents (the pure core's, the demo's, the negative cases) are checked against both the models and the
generated schema in tests/unit/test_schemas.py; here, the rules of the parts.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from monitor.domain.analysis_document.base import Entries, Equals, NotNull, Null, When
from monitor.domain.analysis_document.clustering import Clustering
from monitor.domain.analysis_document.provenance import Completeness
from monitor.domain.analysis_document.results import Result, StratumCounts

RESULT: dict[str, Any] = {
    "model_version": "2.1.0", "stratum": "age_band=<45 & emphysema_grade=none", "level": 2,
    "attributes": {"age_band": "<45", "emphysema_grade": "none"}, "metric": "specificity", "successes": 72,
    "trials": 80, "estimate": 0.9, "ci_low": 0.8148931119389591, "ci_high": 0.9484523844326191,
    "effective_successes": 72.0, "effective_trials": 80.0, "basis": [], "design_effect": 1.0, "expected_share": None,
    "provisional": False, "claim": 0.85, "margin": 0.02, "performance_goal": 0.83, "p_value": 0.9272825071381912,
    "log10_p_value": -0.03278793295402573, "p_shortfall": 0.972276779651832, "log10_p_shortfall": -0.012210086139001982,
    "q_value": 1.0, "log10_q_value": 0.0, "p_conformity": 0.0578828038931369, "log10_p_conformity": -1.237450439442718,
    "q_conformity": 0.11576560778627382, "log10_q_conformity": -0.9364204437787367, "family": "exploratory",
    "family_size": 160, "family_level": 0.1, "confirmatory": False, "status": "inconclusive",
    "minimal_detectable_drop": 0.2142051660876848, "additional_needed": 5985,
}
COUNTS: dict[str, Any] = {"model_version": "2.1.0", "stratum": "age_band=<45", "level": 1,
                          "attributes": {"age_band": "<45"}, "tp": 159, "fp": 32, "fn": 48, "tn": 288}
TOTALS = {"predictions": 10, "with_ground_truth": 3, "awaiting_ground_truth": 7, "positives": 3, "negatives": 0}


def _dumped(model: Any) -> str:
    return json.dumps(model.model_dump(mode="json"))


def test_a_row_comes_back_as_the_same_json_text() -> None:
    assert _dumped(Result.model_validate(RESULT)) == json.dumps(RESULT)
    assert _dumped(StratumCounts.model_validate(COUNTS)) == json.dumps(COUNTS)


@pytest.mark.parametrize(("field", "value"), [("design_effect", 1), ("design_effect", 1.0), ("effective_trials", 80),
                                              ("effective_trials", 80.0)])
def test_numbers_keep_the_json_type_they_were_written_with(field: str, value: float) -> None:
    """1 stays 1 and 1.0 stays 1.0: the stored JSON text, and so its hash, does not change."""
    dumped = Result.model_validate({**RESULT, field: value}).model_dump(mode="json")[field]
    assert type(dumped) is type(value) and dumped == value


@pytest.mark.parametrize(("field", "value"), [("successes", 72.0), ("successes", True), ("estimate", "0.9"),
                                              ("estimate", True), ("stratum", 1), ("level", "2"), ("level", 3),
                                              ("estimate", 1.5), ("metric", "accuracy")])
def test_nothing_is_coerced(field: str, value: Any) -> None:
    """Strict, as JSON Schema: no float for a count, no string or boolean for a number, no out-of-range value."""
    with pytest.raises(ValidationError):
        Result.model_validate({**RESULT, field: value})


def test_an_open_part_keeps_an_undeclared_property_and_a_closed_part_refuses_it() -> None:
    kept = StratumCounts.model_validate({**COUNTS, "added_later": 1})
    assert kept.model_dump(mode="json")["added_later"] == 1
    clustering = {"method": "cluster-robust variance", "repeated_patients": 0, "strata": []}
    Clustering.model_validate(clustering)
    with pytest.raises(ValidationError, match="added_later"):
        Clustering.model_validate({**clustering, "added_later": 1})


def test_an_optional_field_absent_stays_absent_and_is_not_null() -> None:
    without = Completeness.model_validate({"by_model_version": [], "total": TOTALS})
    assert "retracted" not in without.model_dump(mode="json")
    assert Completeness.model_validate({"by_model_version": [], "total": TOTALS, "retracted": 2}).retracted == 2
    with pytest.raises(ValidationError):
        Completeness.model_validate({"by_model_version": [], "total": TOTALS, "retracted": None})


@pytest.mark.parametrize(("changes", "message"), [
    ({"additional_needed": None}, "additional_needed is not null when status is 'inconclusive'"),
    ({"status": "flagged"}, "additional_needed is null when status is 'flagged' or 'conforming'"),
    ({"estimate": None}, "ci_low is null when estimate is None"),
    ({"level": 1}, "attributes has 1 entries when level is 1"),
    ({"level": 0}, "stratum is 'overall' when level is 0"),
])
def test_a_cross_field_rule_names_the_field_and_the_condition(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Result.model_validate({**RESULT, **changes})


def test_a_rule_is_written_into_the_schema_as_if_then() -> None:
    rule = When({"status": ("flagged", "conforming")}, {"additional_needed": Null(), "claim": NotNull("number")})
    assert rule.schema() == {
        "if": {"properties": {"status": {"enum": ["flagged", "conforming"]}}, "required": ["status"]},
        "then": {"properties": {"additional_needed": {"type": "null"}, "claim": {"type": "number"}}},
    }
    assert When({"level": (0,)}, {"stratum": Equals("overall"), "attributes": Entries(0)}).schema()["then"] == {
        "properties": {"stratum": {"const": "overall"}, "attributes": {"minProperties": 0, "maxProperties": 0}}}
    schema = Result.model_json_schema()
    assert len(schema["allOf"]) == len(Result.__conditions__)
