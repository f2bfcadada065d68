"""Claims on any metric (monitor.domain.metric_claims): every figure against an independent oracle (scipy.stats
binomtest / norm, statsmodels proportion_confint / multipletests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

from monitor.domain.analysis_document.metric_claims import MetricClaimRow
from monitor.domain.device import DeviceConfig
from monitor.domain.metric_claims import (
    DECISION_RULE, MetricEvidence, decide_metric_claims, metric_families, proportion_goal_tests, wald_goal_tests,
)
from monitor.domain.strata import StratumDefinition

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "dr-triage.yaml"
OVERALL = StratumDefinition.of({})


def _config(metrics: list[dict]) -> DeviceConfig:
    """dr-triage: overall, age_band (3 bins) and sex (2) confirmatory, camera (2) exploratory, no intersections."""
    raw = yaml.safe_load(EXAMPLE.read_text())
    raw["claims"]["metrics"] = metrics
    return DeviceConfig.model_validate(raw)


def _proportion(metric: str, events: float, trials: float, stratum: StratumDefinition = OVERALL, **kw) -> MetricEvidence:
    return MetricEvidence(metric, "1.0.0", stratum, "proportion", "test", events=events, trials=trials, **kw)


def _estimate(metric: str, estimate: float, se: float | None, stratum: StratumDefinition = OVERALL) -> MetricEvidence:
    return MetricEvidence(metric, "1.0.0", stratum, "estimate", "test", estimate=estimate, standard_error=se, trials=500)


def test_minimum_proportion_is_the_exact_binomial_test_and_the_configured_interval():
    config = _config([{"metric": "accuracy", "minimum": 0.95, "margin": 0.02}])
    [row] = decide_metric_claims([_proportion("accuracy", 905, 1000)], config)
    assert isinstance(row, MetricClaimRow) and row.direction == "minimum" and row.test == "exact_binomial"
    assert row.goal == pytest.approx(0.93) and row.estimate == pytest.approx(0.905)
    assert row.p_departure == pytest.approx(stats.binomtest(905, 1000, 0.93, alternative="less").pvalue, rel=1e-9)
    assert row.p_conformity == pytest.approx(stats.binomtest(905, 1000, 0.93, alternative="greater").pvalue, rel=1e-9)
    assert row.p_value == pytest.approx(stats.binomtest(905, 1000, 0.95, alternative="less").pvalue, rel=1e-9)
    low, high = proportion_confint(905, 1000, alpha=0.05, method="wilson")
    assert (row.ci_low, row.ci_high) == (pytest.approx(low), pytest.approx(high))
    assert row.interval_method == "wilson"
    # overall alone tested in a confirmatory family of 6 (overall, 3 age bands, 2 sexes): Holm = 6 x p
    assert row.family == "confirmatory" and row.family_size == 6
    assert row.q_value == pytest.approx(min(1.0, 6 * row.p_departure), rel=1e-9)
    assert row.status == "flagged"


def test_maximum_proportion_is_the_mirror_test():
    config = _config([{"metric": "low_confidence_rate", "maximum": 0.10, "margin": 0.02}])
    rows = decide_metric_claims([_proportion("low_confidence_rate", 150, 1000),
                                 _proportion("low_confidence_rate", 70, 1000, StratumDefinition.of({"sex": "F"}))],
                                config)
    excess, below = rows
    assert excess.direction == "maximum" and excess.goal == pytest.approx(0.12)
    assert excess.p_departure == pytest.approx(stats.binomtest(150, 1000, 0.12, alternative="greater").pvalue, rel=1e-9)
    assert excess.p_conformity == pytest.approx(stats.binomtest(150, 1000, 0.12, alternative="less").pvalue, rel=1e-9)
    assert excess.p_value == pytest.approx(stats.binomtest(150, 1000, 0.10, alternative="greater").pvalue, rel=1e-9)
    assert excess.status == "flagged" and below.status == "conforming"
    padded = [excess.p_departure, below.p_departure, 1, 1, 1, 1]
    assert excess.q_value == pytest.approx(multipletests(padded, method="holm")[1][0], rel=1e-9)
    padded = [excess.p_conformity, below.p_conformity, 1, 1, 1, 1]
    assert below.q_conformity == pytest.approx(multipletests(padded, method="holm")[1][1], rel=1e-9)


def test_directional_tests_against_scipy_on_arrays():
    x, n, g = np.array([3, 40, 49]), np.array([50, 50, 50]), np.array([0.1, 0.88, 0.9])
    low = proportion_goal_tests(x, n, g, "minimum")
    high = proportion_goal_tests(x, n, g, "maximum")
    for i in range(3):
        less = stats.binomtest(int(x[i]), int(n[i]), g[i], alternative="less").pvalue
        greater = stats.binomtest(int(x[i]), int(n[i]), g[i], alternative="greater").pvalue
        assert 10 ** low.log10_p_departure[i] == pytest.approx(less, rel=1e-9)
        assert 10 ** high.log10_p_departure[i] == pytest.approx(greater, rel=1e-9)
        assert 10 ** high.log10_p_conformity[i] == pytest.approx(less, rel=1e-9)
    z, tests = wald_goal_tests([0.80, 1.2], [0.05, 0.2], [0.85, 1.0], "maximum")
    assert z.tolist() == pytest.approx([-1.0, 1.0])
    assert (10 ** tests.log10_p_departure).tolist() == pytest.approx(stats.norm.sf([-1.0, 1.0]).tolist())


def test_estimate_is_the_wald_z_test_with_the_wald_interval():
    config = _config([{"metric": "auc", "minimum": 0.90, "margin": 0.03}])
    [row] = decide_metric_claims([_estimate("auc", 0.84, 0.02)], config)
    z = (0.84 - 0.87) / 0.02
    assert row.test == "wald_z" and row.z == pytest.approx(z)
    assert row.p_departure == pytest.approx(stats.norm.cdf(z), rel=1e-9)
    assert row.p_conformity == pytest.approx(stats.norm.sf(z), rel=1e-9)
    assert row.p_value == pytest.approx(stats.norm.cdf((0.84 - 0.90) / 0.02), rel=1e-9)
    half = stats.norm.ppf(0.975) * 0.02
    assert (row.ci_low, row.ci_high) == (pytest.approx(0.84 - half), pytest.approx(0.84 + half))
    assert row.interval_method == "wald"
    assert row.q_value == pytest.approx(min(1.0, 6 * stats.norm.cdf(z)), rel=1e-9)
    assert row.status == "inconclusive"  # Holm over 6: 6 x 0.0668 > 0.05


def test_exploratory_family_is_benjamini_hochberg_at_fdr():
    config = _config([{"metric": "kappa", "minimum": 0.80, "margin": 0.05}])
    topcon, canon = (StratumDefinition.of({"camera": c}) for c in ("Topcon", "Canon"))
    rows = decide_metric_claims([_estimate("kappa", 0.70, 0.03, topcon), _estimate("kappa", 0.73, 0.03, canon)],
                                config)
    p = [stats.norm.cdf((0.70 - 0.75) / 0.03), stats.norm.cdf((0.73 - 0.75) / 0.03)]
    q = multipletests(p, method="fdr_bh")[1]
    assert [r.family for r in rows] == ["exploratory", "exploratory"] and rows[0].family_size == 2
    assert [r.q_value for r in rows] == [pytest.approx(v, rel=1e-9) for v in q]
    assert rows[0].family_level == config.monitoring.fdr
    assert [r.status for r in rows] == ["flagged" if v <= config.monitoring.fdr else "inconclusive" for v in q]


def test_untestable_and_unclaimed_evidence():
    config = _config([{"metric": "accuracy", "minimum": 0.9, "margin": 0.0},
                      {"metric": "kappa", "minimum": 0.8, "margin": 0.0}])
    rows = decide_metric_claims([
        _proportion("accuracy", 0, 0),  # no trials
        _estimate("kappa", 0.9, None),  # no standard error
        _estimate("auc", 0.9, 0.01),  # no claim
        _proportion("accuracy", 10, 10, StratumDefinition.of({"camera": "Zeiss"})),  # label not enumerated
        _proportion("accuracy", 50, 100, StratumDefinition.of({"sex": "F"}), provisional=True),
    ], config)
    assert [r.status for r in rows] == ["insufficient", "insufficient", "not_tested", "not_tested", "inconclusive"]
    assert rows[0].estimate is None and rows[0].ci_low is None and rows[0].family == "confirmatory"
    assert rows[2].claim is None and rows[2].family is None and rows[2].q_value is None
    assert rows[4].provisional and rows[4].q_value is None and rows[4].p_departure is not None


def test_section_interval_and_effective_counts():
    config = _config([{"metric": "accuracy", "minimum": 0.9}])
    given, fractional = decide_metric_claims([
        _proportion("accuracy", 90, 100, ci_low=0.8, ci_high=0.95),
        _proportion("accuracy", 45.5, 50.25, StratumDefinition.of({"sex": "M"})),
    ], config)
    assert (given.ci_low, given.ci_high, given.interval_method) == (0.8, 0.95, "section")
    x, n = 45.5, 50.25
    assert fractional.interval_method == "clopper-pearson"
    assert fractional.ci_low == pytest.approx(stats.beta.ppf(0.025, x, n - x + 1))
    assert fractional.ci_high == pytest.approx(stats.beta.ppf(0.975, x + 1, n - x))
    assert fractional.events == 45.5 and given.events == 90 and isinstance(given.events, int)


def test_families_follow_the_most_specific_claim_and_the_rule_names_its_methods():
    config = _config([{"metric": "accuracy", "minimum": 0.9, "where": {"camera": "Canon"}}])
    families = metric_families(config, "accuracy")
    assert families["confirmatory"].size == 0 and families["exploratory"].members == {("camera=Canon", "accuracy")}
    for method in ("binomial", "Wald", "Holm", "Benjamini-Hochberg", "alpha", "fdr"):
        assert method in DECISION_RULE


def test_the_same_metric_measured_twice_is_refused():
    config = _config([{"metric": "accuracy", "minimum": 0.9}])
    with pytest.raises(ValueError, match="measured twice"):
        decide_metric_claims([_proportion("accuracy", 9, 10), _proportion("accuracy", 8, 10)], config)
