"""The pre-specified decision rule of monitor.domain.evaluation against independent oracles.

Oracles: scipy.stats.binomtest for the exact one-sided tests against the goal and the claim, statsmodels
multipletests (Holm, BH) on the family padded with p = 1, scipy.stats.binom for the power figures.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from monitor.adapters.config_file import load_device_config, parse_device_config
from monitor.domain.evaluation import STATUSES, TESTED_STATUSES, evaluate_cells, evaluate_counts, stratum_counts
from monitor.domain.evidence import Adjustments, FinalCounts
from monitor.domain.families import decision_families
from monitor.stats.power import exact_power

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "lung-nodule-ct.yaml"

CONFIG = """
schema_version: 1
device: {id: sim, name: Sim, manufacturer: M, intended_use: U}
operating_threshold: 0.5
strata:
  attributes:
    - {name: site, values: [a, b, c]}
    - {name: sex, values: [F, M]}
  intersections: all_pairs
  confirmatory: [sex]
claims:
  sensitivity: {value: 0.90, margin: 0.02}
monitoring: {fdr: 0.10, alpha: 0.05, power: 0.80, min_positives: 50, min_negatives: 50}
"""


def _config():  # type: ignore[no-untyped-def]
    return parse_device_config(CONFIG, source="test")


def _cells(hits: dict[tuple[str, str], tuple[int, int]]) -> pd.DataFrame:
    rows = [{"model_version": "1", "site": site, "sex": sex, "tp": tp, "fn": pos - tp, "tn": 500, "fp": 50}
            for (site, sex), (tp, pos) in hits.items()]
    return pd.DataFrame(rows)


HITS = {("a", "F"): (640, 800), ("a", "M"): (790, 820), ("b", "F"): (40, 45), ("b", "M"): (1400, 1500),
        ("c", "F"): (300, 330), ("c", "M"): (10, 12)}


def test_families_are_enumerated_from_the_configuration() -> None:
    families = decision_families(_config())
    # confirmatory: overall + F + M; exploratory: 3 sites + 3 x 2 intersections; sensitivity is the only claim
    assert (families["confirmatory"].size, families["exploratory"].size) == (3, 9)
    assert (families["confirmatory"].method, families["exploratory"].method) == ("holm", "bh")
    assert families["confirmatory"].first_step_level == pytest.approx(0.05 / 3)


def test_outcomes_follow_the_exact_tests_and_the_family_adjustment() -> None:
    config = _config()
    results = [r for r in evaluate_cells(_cells(HITS), config) if r.metric == "sensitivity"]
    assert {r.status for r in results} <= set(STATUSES)
    for name, method, level in (("confirmatory", "holm", 0.05), ("exploratory", "fdr_bh", 0.10)):
        rows = [r for r in results if r.family == name]
        tested = [r for r in rows if r.status in TESTED_STATUSES]
        size = decision_families(config)[name].size
        p_short = [stats.binomtest(r.successes, r.trials, r.performance_goal, alternative="less").pvalue for r in tested]
        p_conf = [stats.binomtest(r.successes, r.trials, r.performance_goal, alternative="greater").pvalue
                  for r in tested]
        q_short = multipletests(p_short + [1.0] * (size - len(tested)), method=method)[1]
        q_conf = multipletests(p_conf + [1.0] * (size - len(tested)), method=method)[1]
        for i, r in enumerate(tested):
            assert r.p_shortfall == pytest.approx(p_short[i], rel=1e-9)
            assert r.q_value == pytest.approx(q_short[i], rel=1e-9)
            assert r.q_conformity == pytest.approx(q_conf[i], rel=1e-9)
            assert r.p_value == pytest.approx(stats.binomtest(r.successes, r.trials, 0.90, alternative="less").pvalue,
                                              rel=1e-9)
            expected = "flagged" if q_short[i] <= level else "conforming" if q_conf[i] <= level else "inconclusive"
            assert r.status == expected, r.stratum
            assert (r.family_size, r.family_level) == (size, level)
    by_key = {r.stratum: r for r in results}
    assert by_key["sex=F & site=a"].status == "flagged"      # 640/800 = 0.80, far below the goal 0.88
    assert by_key["sex=M & site=c"].status == "insufficient"  # 12 positives < 50
    assert by_key["sex=F & site=b"].status == "insufficient"
    assert by_key["sex=M & site=b"].status == "conforming"   # 1400/1500 = 0.933
    assert {r.status for r in results if r.metric == "sensitivity"} >= {"flagged", "conforming", "insufficient"}


def test_no_claim_and_unenumerated_labels_are_not_tested() -> None:
    hits = dict(HITS) | {("unknown", "F"): (100, 200)}
    results = evaluate_cells(_cells(hits), _config())
    unknown = [r for r in results if "site=unknown" in r.stratum and r.metric == "sensitivity"]
    assert unknown and all(r.status == "not_tested" and r.family is None for r in unknown)
    assert all(r.status == "not_tested" for r in results if r.metric != "sensitivity")  # no claim


def test_p_values_below_the_float_range_keep_their_log10() -> None:
    results = evaluate_cells(_cells({("a", "F"): (0, 20_000), ("a", "M"): (19_990, 20_000)}), _config())
    overall = next(r for r in results if r.stratum == "sex=F" and r.metric == "sensitivity")
    assert overall.status == "flagged" and overall.p_shortfall == 0.0
    expected = 20_000 * math.log10(0.12)  # P(X <= 0) = (1 - goal) ** n
    assert overall.log10_p_shortfall == pytest.approx(expected, rel=1e-12)
    assert overall.log10_q_value == pytest.approx(expected + math.log10(3), rel=1e-12)  # Holm, m = 3


def test_power_figures_are_those_of_the_rule() -> None:
    config = _config()
    results = evaluate_cells(_cells(HITS), config)
    for r in results:
        if r.minimal_detectable_drop is None:
            continue
        level = r.family_level / r.family_size
        power = exact_power(r.trials, r.performance_goal, r.claim - r.minimal_detectable_drop, alpha=level)
        assert power == pytest.approx(0.80, abs=1e-9), r.stratum
    for r in results:
        if r.status in ("inconclusive", "insufficient"):
            level = r.family_level / r.family_size
            n = r.trials + r.additional_needed
            goal = r.performance_goal
            # with n cases the rule shows a shortfall one margin below the goal, and conformity at the claim
            assert exact_power(n, goal, goal - r.margin, alpha=level) >= 0.80
            assert exact_power(n, 1 - goal, 1 - r.claim, alpha=level) >= 0.80
            assert n >= 50
        elif r.status in ("flagged", "conforming", "not_tested"):
            assert r.additional_needed is None


def test_evidence_adjustments_decide_and_provisional_is_carried() -> None:
    config = _config()
    counts = stratum_counts(_cells(HITS), config)
    key = ("1", "sex=M & site=b", "sensitivity")
    plain = {(r.stratum, r.metric): r for r in evaluate_counts(counts, config)}
    adjusted = {(r.stratum, r.metric): r for r in evaluate_counts(
        counts, config, Adjustments(final_counts={key: FinalCounts(250, 300, expected_share=0.5)},
                                    design_effects={key: 1.6}))}
    before, after = plain[(key[1], key[2])], adjusted[(key[1], key[2])]
    assert (before.successes, before.trials) == (after.successes, after.trials) == (1400, 1500)
    assert (after.effective_successes, after.effective_trials) == pytest.approx((156.25, 187.5))
    assert after.basis == ["final_labels", "cluster_robust"] and after.design_effect == 1.6
    assert after.provisional and after.expected_share == 0.5 and not before.provisional
    # fractional counts: the beta form of the exact test (= binomtest on whole counts), Clopper-Pearson interval
    assert after.p_shortfall == pytest.approx(stats.beta.cdf(0.12, 187.5 - 156.25, 157.25), rel=1e-9)
    assert after.ci_low == pytest.approx(stats.beta.ppf(0.025, 156.25, 187.5 - 156.25 + 1), rel=1e-9)
    assert after.estimate == pytest.approx(250 / 300)


def test_the_demo_configuration_families() -> None:
    families = decision_families(load_device_config(EXAMPLE))
    assert (families["confirmatory"].size, families["exploratory"].size) == (14, 160)
