"""Simulation checks of the decision rule, run through the same ``evaluate_cells`` the service uses.

* Under no drift (every stratum exactly at its claim: the boundary of H0, the worst case), the share of
  runs with any flag anywhere in the stratum grid stays within the configured FDR level.
* With one pre-specified stratum and no margin, the empirical power to flag the 4.3-point drop
  (0.90 -> 0.857) at 350 positives matches the exact binomial power (0.80) within 3 points.
Larger runs (more replicates, the power over the full grid with the default margin) are in
``bench/bench_decision_rule.py``.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd

from monitor.adapters.config_file import load_device_config, parse_device_config
from monitor.domain.evaluation import evaluate_cells
from monitor.stats.power import exact_power

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


def test_no_drift_any_flag_share_within_fdr() -> None:
    config = load_device_config(EXAMPLE)
    rng = np.random.default_rng(2024)
    replicates = 60
    runs_with_flag = 0
    tests = 0
    for _ in range(replicates):
        results = evaluate_cells(null_cells(rng, cases=200_000, prevalence=0.09, se=0.90, sp=0.85), config)
        tests = sum(r.status in ("ok", "flagged") for r in results)
        runs_with_flag += any(r.status == "flagged" for r in results)
    assert tests > 150
    assert runs_with_flag / replicates <= config.monitoring.fdr


def test_power_at_350_positives_matches_exact_binomial_power() -> None:
    config = parse_device_config(
        """
schema_version: 1
device: {id: sim, name: Sim, manufacturer: M, intended_use: U}
operating_threshold: 0.5
strata:
  attributes: [{name: site, values: [a]}]
  intersections: none
claims:
  sensitivity: {value: 0.90, margin: 0.0}
monitoring: {fdr: 0.05, min_positives: 50}
""", source="simulation")
    rng = np.random.default_rng(7)
    replicates = 1000
    tp = rng.binomial(350, 0.857, size=replicates)
    flagged = 0
    for hits in tp:
        cells = pd.DataFrame({"model_version": ["1"], "site": ["a"], "tp": [hits], "fn": [350 - hits],
                              "tn": [1000], "fp": [100]})
        result = [r for r in evaluate_cells(cells, config) if r.stratum == "overall" and r.metric == "sensitivity"]
        flagged += result[0].status == "flagged"
    expected = exact_power(350, 0.90, 0.857, alpha=0.05)
    assert abs(expected - 0.80) < 0.01
    assert abs(flagged / replicates - expected) <= 0.03
