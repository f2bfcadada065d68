"""Simulation checks of the decision rule, run through the same ``evaluate_cells`` the service uses.

* With every stratum exactly at its performance goal (the boundary of H0: the worst case for false
  flags), the share of runs with any confirmatory flag stays within alpha (FWER) and with any exploratory
  flag within the FDR level (with every null true, FDR = the chance of any false discovery).
* With one pre-specified stratum, the empirical power to flag at the minimal detectable drop the rule
  reports for 350 positives matches the target power (0.80) within 3 points.
Larger runs (more replicates, the power over the full grid with the default margin) are in
``bench/bench_decision_rule.py``.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd

from monitor.adapters.config_file import load_device_config, parse_device_config
from monitor.domain.evaluation import TESTED_STATUSES, evaluate_cells

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "lung-nodule-ct.yaml"
LEVELS = {"age_band": ["<45", "45-64", "65-74", ">=75"], "sex": ["F", "M"],
          "emphysema_grade": ["none", "mild", "moderate", "severe"],
          "scanner_vendor": ["GE", "Siemens", "Philips", "United Imaging"]}


def null_cells(rng: np.random.Generator, *, cases: int, prevalence: float, se: float, sp: float) -> pd.DataFrame:
    """A cell table of ``cases`` cases spread over the 128 cells, every cell exactly at (se, sp)."""
    combos = list(itertools.product(*LEVELS.values()))
    weights = rng.dirichlet(np.full(len(combos), 5.0))
    n = rng.multinomial(cases, weights)
    positives = rng.binomial(n, prevalence)
    tp = rng.binomial(positives, se)
    tn = rng.binomial(n - positives, sp)
    frame = pd.DataFrame(combos, columns=list(LEVELS))
    return frame.assign(model_version="1", tp=tp, fn=positives - tp, tn=tn, fp=n - positives - tn)


def test_every_stratum_at_its_goal_false_flags_within_the_stated_rates() -> None:
    config = load_device_config(EXAMPLE)
    rng = np.random.default_rng(2024)
    replicates = 40
    any_confirmatory = any_exploratory = 0
    for _ in range(replicates):
        results = evaluate_cells(null_cells(rng, cases=200_000, prevalence=0.09, se=0.88, sp=0.83), config)
        tested = [r for r in results if r.status in TESTED_STATUSES]
        any_confirmatory += any(r.status == "flagged" and r.family == "confirmatory" for r in results)
        any_exploratory += any(r.status == "flagged" and r.family == "exploratory" for r in results)
    assert len(tested) > 150
    assert any_confirmatory / replicates <= config.monitoring.alpha + 0.05  # MC slack at 40 replicates
    assert any_exploratory / replicates <= config.monitoring.fdr + 0.05


def test_power_at_the_reported_minimal_detectable_drop() -> None:
    config = parse_device_config(
        """
schema_version: 1
device: {id: sim, name: Sim, manufacturer: M, intended_use: U}
operating_threshold: 0.5
strata:
  attributes: [{name: site, values: [a]}]
  intersections: none
claims:
  sensitivity: {value: 0.90, margin: 0.02}
monitoring: {alpha: 0.05, min_positives: 50}
""", source="simulation")

    def cells(hits: int) -> pd.DataFrame:
        return pd.DataFrame({"model_version": ["1"], "site": ["a"], "tp": [hits], "fn": [350 - hits],
                             "tn": [1000], "fp": [100]})

    def overall(hits: int):  # type: ignore[no-untyped-def]
        return next(r for r in evaluate_cells(cells(hits), config) if r.stratum == "overall" and r.metric == "sensitivity")

    mdd = overall(315).minimal_detectable_drop
    rng = np.random.default_rng(7)
    replicates = 1000
    flagged = sum(overall(int(hits)).status == "flagged" for hits in rng.binomial(350, 0.90 - mdd, size=replicates))
    assert abs(flagged / replicates - 0.80) <= 0.03
