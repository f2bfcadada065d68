"""The roll-up of stored per-period results equals evaluating the pooled cell table directly."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from monitor.domain.device import DeviceConfig
from monitor.domain.evaluation import evaluate_cells
from monitor.domain.rollup import counts_from_results, rollup_results

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "lung-nodule-ct.yaml"
STORED = ("model_version", "stratum", "level", "metric", "successes", "trials", "claim", "margin", "status")


def _config() -> DeviceConfig:
    return DeviceConfig.model_validate(yaml.safe_load(EXAMPLE.read_text(encoding="utf-8")))


def _cells(seed: int, config: DeviceConfig) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    names = [a.name for a in config.strata.attributes]
    labels = [config.strata.attribute(n).labels() for n in names]
    rows = []
    for combo in itertools.product(*labels):
        positives, negatives = rng.integers(0, 40), rng.integers(0, 120)
        tp = rng.binomial(positives, 0.9)
        tn = rng.binomial(negatives, 0.85)
        rows.append({"model_version": "2.1.0", **dict(zip(names, combo, strict=True)),
                     "tp": tp, "fn": positives - tp, "tn": tn, "fp": negatives - tn})
    return pd.DataFrame(rows)


def _stored(cells: pd.DataFrame, config: DeviceConfig) -> list[dict]:
    """What ``stratum_results`` keeps of a run (no attributes, no adjusted p-values, no MDD)."""
    return [{k: r.as_dict()[k] for k in STORED} for r in evaluate_cells(cells, config)]


def test_rollup_of_two_periods_equals_the_evaluation_of_their_pooled_cells() -> None:
    config = _config()
    first, second = _cells(1, config), _cells(2, config)
    keys = [c for c in first.columns if c not in ("tp", "fp", "fn", "tn")]
    pooled = pd.concat([first, second]).groupby(keys, as_index=False)[["tp", "fp", "fn", "tn"]].sum()
    counts, results = rollup_results([_stored(first, config), _stored(second, config)], config)
    expected = [r.as_dict() for r in evaluate_cells(pooled, config)]
    got = [r.as_dict() for r in results]
    assert [(r["stratum"], r["metric"]) for r in got] == [(r["stratum"], r["metric"]) for r in expected]
    for g, e in zip(got, expected, strict=True):
        assert (g["successes"], g["trials"], g["status"], g["level"], g["attributes"]) == \
            (e["successes"], e["trials"], e["status"], e["level"], e["attributes"])
        for key in ("estimate", "ci_low", "ci_high", "p_value", "p_shortfall", "q_value", "p_conformity",
                    "q_conformity", "minimal_detectable_drop", "additional_needed", "family", "family_size"):
            assert g[key] == pytest.approx(e[key], nan_ok=True), (g["stratum"], key)
    assert len(counts) == len({(r["model_version"], r["stratum"]) for r in expected})


def test_counts_are_recovered_from_sensitivity_and_specificity_rows() -> None:
    rows = [{"model_version": "1", "stratum": "overall", "metric": "sensitivity", "successes": 9, "trials": 10},
            {"model_version": "1", "stratum": "overall", "metric": "specificity", "successes": 80, "trials": 100},
            {"model_version": "1", "stratum": "overall", "metric": "ppv", "successes": 9, "trials": 29}]
    assert counts_from_results(rows) == {("1", "overall"): {"tp": 9, "fn": 1, "tn": 80, "fp": 20}}
