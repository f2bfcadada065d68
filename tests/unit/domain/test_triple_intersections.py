"""Three-way intersections in the configuration (issue 17 item 8): triples are accepted where listed, every
bad entry is reported in one pass with its location, and the strata, groupings and decision families that the
stages enumerate cover the triples (hand-counted oracles)."""

from __future__ import annotations

import copy
from itertools import product
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from pydantic import ValidationError

from monitor.adapters.config_file import parse_device_config
from monitor.domain.device import DeviceConfig
from monitor.domain.evaluation import evaluate_cells
from monitor.domain.families import decision_families, enumerated_strata, family_of
from monitor.domain.grouping import monitored_groupings
from monitor.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "lung-nodule-ct.yaml"
TRIPLE = ["age_band", "sex", "emphysema_grade"]


def _example() -> dict[str, Any]:
    return yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))


def _with(intersections: Any, confirmatory_intersections: list[dict[str, str]] | None = None) -> dict[str, Any]:
    data = copy.deepcopy(_example())
    data["strata"]["intersections"] = intersections
    if confirmatory_intersections is not None:
        data["strata"]["confirmatory_intersections"] = confirmatory_intersections
    return data


def _problems(data: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    with pytest.raises(ValidationError) as info:
        DeviceConfig.model_validate(data)
    return [(tuple(e["loc"]), e["msg"]) for e in info.value.errors()]


def test_triples_are_accepted_beside_pairs_and_ordered_like_the_attributes() -> None:
    config = DeviceConfig.model_validate(_with([["emphysema_grade", "age_band"], ["sex", "emphysema_grade", "age_band"]],
                                               [{"age_band": ">=75", "sex": "F", "emphysema_grade": "severe"}]))
    assert config.strata.monitored_intersections() == [("age_band", "emphysema_grade"), tuple(TRIPLE)]
    assert config.strata.pairs() == [("age_band", "emphysema_grade")]  # the pairs only, as before
    assert monitored_groupings(config) == [(), ("age_band",), ("sex",), ("emphysema_grade",), ("scanner_vendor",),
                                           ("age_band", "emphysema_grade"), tuple(TRIPLE)]
    assert monitored_groupings(config, max_level=2)[-1] == ("age_band", "emphysema_grade")
    # 'all_pairs' stays pairs: the example's enumeration is unchanged
    example = DeviceConfig.model_validate(_example())
    assert example.strata.monitored_intersections() == example.strata.pairs() and len(example.strata.pairs()) == 6


def test_every_bad_intersection_is_reported_with_its_location_in_one_pass() -> None:
    data = _with([["age_band", "sex", "emphysema_grade", "scanner_vendor"],  # four attributes
                  ["age_band", "age_band", "sex"],                           # a repeated attribute
                  ["age_band", "sex", "nope"],                               # an unknown attribute
                  ["sex"],                                                   # one attribute
                  ["sex", "age_band", "emphysema_grade"],                    # fine
                  ["emphysema_grade", "sex", "age_band"]],                   # the same triple again
                 [{"age_band": ">=75", "sex": "F", "scanner_vendor": "GE"},     # not a monitored triple
                  {"age_band": ">=75", "sex": "F", "emphysema_grade": "worst"},  # a label not declared
                  {"age_band": ">=75", "sex": "F", "emphysema_grade": "severe"}])  # fine
    found = _problems(data)
    assert [loc for loc, _ in found] == [
        ("strata", "intersections", 0), ("strata", "intersections", 1), ("strata", "intersections", 2),
        ("strata", "intersections", 3), ("strata", "intersections", 5),
        ("strata", "confirmatory_intersections", 0), ("strata", "confirmatory_intersections", 1, "emphysema_grade")]
    messages = [message for _, message in found]
    assert "is not a pair of two different attributes or a triple of three" in messages[0]
    assert "is not a pair of two different attributes or a triple of three" in messages[1]
    assert "unknown attribute(s) ['nope']" in messages[2]
    assert "is not a pair of two different attributes or a triple of three" in messages[3]
    assert "lists an intersection listed before" in messages[4]
    assert "must name the two or three attributes of a monitored intersection" in messages[5]
    assert "'worst' is not one of" in messages[6]


def test_a_bad_triple_in_a_file_is_reported_with_its_line() -> None:
    text = EXAMPLE.read_text(encoding="utf-8").replace(
        "intersections: all_pairs", "intersections: [[age_band, sex, emphysema_grade], [age_band, sex, nope]]")
    assert "[age_band, sex, nope]" in text
    with pytest.raises(ConfigError) as info:
        parse_device_config(text, source="device.yaml")
    message = str(info.value)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "[age_band, sex, nope]" in row)
    assert "strata.intersections[1]" in message and f"line {line}" in message
    assert "strata.intersections[0]" not in message


def test_triples_join_the_exploratory_family_unless_listed_as_confirmatory() -> None:
    """Hand count: the example has 4 + 2 + 4 + 4 labels, claims on sensitivity and specificity everywhere;
    confirmatory: overall + 4 age bands + 2 sexes = 7 strata (14 tests); exploratory: 8 single strata and the
    6 pairs' 8 + 16 + 16 + 8 + 8 + 16 = 72 strata (160 tests). The triple adds 4 x 2 x 4 = 32 strata."""
    pairs = [list(p) for p in DeviceConfig.model_validate(_example()).strata.pairs()]
    plain = decision_families(DeviceConfig.model_validate(_example()))
    assert (plain["confirmatory"].size, plain["exploratory"].size) == (14, 160)
    config = DeviceConfig.model_validate(_with([*pairs, TRIPLE]))
    families = decision_families(config)
    assert (families["confirmatory"].size, families["exploratory"].size) == (14, 160 + 64)
    labels = [config.strata.attribute(n).labels() for n in TRIPLE]
    triples = [s for s in enumerated_strata(config) if s.level == 3]
    assert [s.as_dict() for s in triples] == [dict(zip(TRIPLE, c, strict=True)) for c in product(*labels)]
    key = "age_band=>=75 & emphysema_grade=severe & sex=F"
    assert family_of(families, key, "sensitivity").name == "exploratory"  # type: ignore[union-attr]
    chosen = DeviceConfig.model_validate(_with([*pairs, TRIPLE], [{"age_band": ">=75", "sex": "F",
                                                                  "emphysema_grade": "severe"}]))
    moved = decision_families(chosen)
    assert (moved["confirmatory"].size, moved["exploratory"].size) == (16, 222)
    assert family_of(moved, key, "sensitivity").name == "confirmatory"  # type: ignore[union-attr]


def test_the_claims_test_counts_each_triple_stratum_from_the_cells() -> None:
    """Each level-3 result is the sum of the cells inside it (a hand-built cell table)."""
    config = DeviceConfig.model_validate(_with([TRIPLE]))
    rows = []
    for i, (age, sex, grade) in enumerate(product(["<45", ">=75"], ["F", "M"], ["none", "severe"])):
        for vendor in ("GE", "Siemens"):
            rows.append({"model_version": "1.0", "age_band": age, "sex": sex, "emphysema_grade": grade,
                         "scanner_vendor": vendor, "tp": 10 + i, "fp": i, "fn": 1 + (i % 3), "tn": 20 + 2 * i})
    cells = pd.DataFrame(rows)
    results = {(r.stratum, r.metric): r for r in evaluate_cells(cells, config)}
    inside = cells.loc[(cells["age_band"] == ">=75") & (cells["sex"] == "F") & (cells["emphysema_grade"] == "severe")]
    tp, fn = int(inside["tp"].sum()), int(inside["fn"].sum())
    found = results[("age_band=>=75 & emphysema_grade=severe & sex=F", "sensitivity")]
    assert (found.level, found.successes, found.trials) == (3, tp, tp + fn)
    assert found.family == "exploratory"
    assert sum(1 for key, metric in results if metric == "sensitivity" and key.count(" & ") == 2) == 8
