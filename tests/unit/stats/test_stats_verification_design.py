"""Audit designs: inverse-probability-weighted (Begg-Greenes) estimates, their variance, and the audit planner.

Oracles: the complete-verification binomial variance (hand); the case-level weighted ratio with weights
``N_c / n_c`` (the definition of the estimator); the delta method computed from statsmodels' binomial GLM
covariance matrices with a numerical gradient; seeded simulations of the design (bias, coverage of the
Wilson interval on the Korn-Graubard effective counts, the planned standard error and the power at the
detectable drop).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats
from scipy.special import expit
from statsmodels.stats.proportion import proportion_confint

from monitor.stats.verification import (
    DESIGN_METRICS,
    audit_size_for_false_omission,
    audit_size_for_sensitivity,
    design_corrected,
    detectable_sensitivity_drop,
    planned_sensitivity_se,
)

CASES = [  # tp, fp, fn, tn, calls_positive, calls_negative
    (270, 30, 2, 168, 300, 1700),
    (720, 650, 8, 655, 1370, 6630),
    (45, 12, 9, 80, 60, 900),
    (150, 50, 5, 95, 200, 1800),
]


def _scalar(result: dict[str, tuple[np.ndarray, np.ndarray]], metric: str) -> tuple[float, float]:
    estimate, variance = result[metric]
    return float(estimate), float(variance)


@pytest.mark.parametrize(("tp", "fp", "fn", "tn"), [(45, 10, 5, 140), (90, 3, 12, 400), (7, 2, 1, 30)])
def test_complete_verification_gives_the_binomial_variance(tp: int, fp: int, fn: int, tn: int) -> None:
    r = design_corrected(tp, fp, fn, tn, tp + fp, fn + tn)
    for metric, (x, n) in {"sensitivity": (tp, tp + fn), "specificity": (tn, tn + fp), "ppv": (tp, tp + fp),
                           "npv": (tn, tn + fn)}.items():
        estimate, variance = _scalar(r, metric)
        p = x / n
        assert estimate == pytest.approx(p, abs=1e-12)
        assert variance == pytest.approx(p * (1 - p) / n, rel=1e-10)
        assert p * (1 - p) / variance == pytest.approx(n, rel=1e-10)  # effective n = the plain count


@pytest.mark.parametrize("case", CASES)
def test_estimate_is_the_weighted_ratio_of_the_verified_cases(case: tuple[int, ...]) -> None:
    tp, fp, fn, tn, n1_all, n0_all = case
    # Case-level data of the verified: (call, disease), each weighted by its call's N_c / n_c.
    call = np.repeat([1, 1, 0, 0], [tp, fp, fn, tn])
    disease = np.repeat([1, 0, 1, 0], [tp, fp, fn, tn])
    weight = np.where(call == 1, n1_all / (tp + fp), n0_all / (fn + tn))
    r = design_corrected(*case)
    expected = {
        "sensitivity": np.sum(weight * disease * call) / np.sum(weight * disease),
        "specificity": np.sum(weight * (1 - disease) * (1 - call)) / np.sum(weight * (1 - disease)),
        "ppv": np.sum(weight * disease * call) / np.sum(weight * call),
        "npv": np.sum(weight * (1 - disease) * (1 - call)) / np.sum(weight * (1 - call)),
    }
    for metric in DESIGN_METRICS:
        assert _scalar(r, metric)[0] == pytest.approx(expected[metric], abs=1e-12)


def _glm_delta_variances(case: tuple[int, ...]) -> dict[str, float]:
    """Var of Se and Sp by the delta method on statsmodels' GLM estimates of logit P(T+), logit P(D+|T)."""
    tp, fp, fn, tn, n1_all, n0_all = case
    share = sm.GLM(np.array([[n1_all, n0_all]]), np.ones((1, 1)), family=sm.families.Binomial()).fit()
    rates = sm.GLM(np.array([[tp, fp], [fn, tn]]), np.array([[1.0, 1.0], [1.0, 0.0]]),
                   family=sm.families.Binomial()).fit()
    theta = np.concatenate([share.params, rates.params])
    cov = np.zeros((3, 3))
    cov[:1, :1], cov[1:, 1:] = share.cov_params(), rates.cov_params()

    def metrics(t: np.ndarray) -> np.ndarray:
        pi, p1, p0 = expit(t[0]), expit(t[1] + t[2]), expit(t[1])
        se = pi * p1 / (pi * p1 + (1 - pi) * p0)
        sp = (1 - pi) * (1 - p0) / ((1 - pi) * (1 - p0) + pi * (1 - p1))
        return np.array([se, sp])

    step = 1e-6
    gradient = np.column_stack([(metrics(theta + step * e) - metrics(theta - step * e)) / (2 * step)
                                for e in np.eye(3)])
    variance = np.diag(gradient @ cov @ gradient.T)
    return {"sensitivity": float(variance[0]), "specificity": float(variance[1])}


@pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::statsmodels.tools.sm_exceptions.PerfectSeparationWarning")
@pytest.mark.parametrize("case", CASES)  # saturated GLMs: no residual degrees of freedom, exact fits
def test_variance_matches_the_delta_method_on_statsmodels_glm_covariances(case: tuple[int, ...]) -> None:
    oracle = _glm_delta_variances(case)
    r = design_corrected(*case)
    for metric in ("sensitivity", "specificity"):
        assert _scalar(r, metric)[1] == pytest.approx(oracle[metric], rel=1e-5)


def test_vectorised_equals_elementwise() -> None:
    columns = np.array(CASES).T
    r = design_corrected(*columns)
    for i, case in enumerate(CASES):
        one = design_corrected(*case)
        for metric in DESIGN_METRICS:
            assert r[metric][0][i] == pytest.approx(float(one[metric][0]), abs=0)
            assert r[metric][1][i] == pytest.approx(float(one[metric][1]), abs=0)


def test_zero_missed_cases_in_the_audit_use_the_haldane_anscombe_cells() -> None:
    tp, fp, fn, tn, n1_all, n0_all = 130, 170, 0, 170, 300, 1700
    estimate, variance = _scalar(design_corrected(tp, fp, fn, tn, n1_all, n0_all), "sensitivity")
    a, b, c, d = tp + 0.5, fp + 0.5, fn + 0.5, tn + 0.5
    pi, p1, p0 = n1_all / (n1_all + n0_all), a / (a + b), c / (c + d)
    se = pi * p1 / (pi * p1 + (1 - pi) * p0)
    v_logit = 1 / n1_all + 1 / n0_all + 1 / a - 1 / (a + b) + 1 / c - 1 / (c + d)
    assert estimate == pytest.approx(se, abs=1e-12) and estimate < 1
    assert variance == pytest.approx((se * (1 - se)) ** 2 * v_logit, rel=1e-12)
    # Not a certain 1: the effective number of positives is small (the audit found 0 of ~2 expected misses).
    assert estimate * (1 - estimate) / variance < 60


def test_degenerate_strata() -> None:
    r = design_corrected([5, 0, 3], [2, 0, 0], [0, 0, 0], [0, 4, 0], [7, 0, 3], [0, 40, 10])
    assert np.isnan(r["sensitivity"][0][:2]).all() and np.isnan(r["specificity"][0][:2]).all()
    assert np.isnan(r["ppv"][0][1]) and np.isnan(r["npv"][0][0])  # no verified call of that kind
    assert np.isfinite(r["sensitivity"][0][2])  # negative calls, none verified: estimable, barely
    assert r["sensitivity"][0][2] * (1 - r["sensitivity"][0][2]) / r["sensitivity"][1][2] < 5
    with pytest.raises(ValueError, match="must not exceed"):
        design_corrected(5, 2, 1, 1, 6, 10)
    with pytest.raises(ValueError):
        design_corrected(-1, 2, 1, 1, 6, 10)


# ------------------------------------------------------------------ simulation of the design


def _simulate(rng: np.random.Generator, reps: int, calls: int, prevalence: float, sensitivity: float,
              specificity: float, f1: float, f0: float) -> tuple[np.ndarray, ...]:
    """Case-level design by cells: (T, D) multinomial over all calls, then each call verified with its f."""
    probs = [prevalence * sensitivity, (1 - prevalence) * (1 - specificity), prevalence * (1 - sensitivity),
             (1 - prevalence) * specificity]
    all_cells = rng.multinomial(calls, probs, size=reps)
    verified = rng.binomial(all_cells, [f1, f1, f0, f0])
    tp, fp, fn, tn = verified.T
    return tp, fp, fn, tn, all_cells[:, 0] + all_cells[:, 1], all_cells[:, 2] + all_cells[:, 3]


@pytest.mark.parametrize(("calls", "f0"), [(20_000, 0.10), (8_000, 0.25)])
def test_simulated_bias_and_coverage_of_the_effective_n_interval(calls: int, f0: float) -> None:
    rng = np.random.default_rng(20240611)
    reps, truth = 4000, {"sensitivity": 0.90, "specificity": 0.91}
    r = design_corrected(*_simulate(rng, reps, calls, 0.10, truth["sensitivity"], truth["specificity"], 1.0, f0))
    for metric, value in truth.items():
        estimate, variance = r[metric]
        assert abs(estimate.mean() - value) < 4 * estimate.std() / math.sqrt(reps)  # unbiased (MC error)
        assert variance.mean() == pytest.approx(estimate.var(), rel=0.12)  # the variance is the spread
        n_eff = estimate * (1 - estimate) / variance  # Korn & Graubard effective n
        low, high = proportion_confint(estimate * n_eff, n_eff, alpha=0.05, method="wilson")
        coverage = float(np.mean((low <= value) & (value <= high)))
        assert abs(coverage - 0.95) < 0.02, (metric, coverage)


def test_planned_standard_error_is_the_simulated_spread() -> None:
    rng = np.random.default_rng(7)
    calls, prevalence, se, sp, f0 = 8_000, 0.10, 0.90, 0.91, 0.10
    simulated = design_corrected(*_simulate(rng, 3000, calls, prevalence, se, sp, 1.0, f0))["sensitivity"][0]
    planned = planned_sensitivity_se(calls, prevalence, se, sp, fraction_negative=f0)
    assert planned == pytest.approx(float(simulated.std()), rel=0.10)


def test_audit_size_for_sensitivity_is_the_smallest_reaching_the_width() -> None:
    calls, prevalence, se, sp, width = 8_000, 0.10, 0.90, 0.91, 0.03
    n0 = audit_size_for_sensitivity(calls, prevalence, se, sp, half_width=width)
    assert n0 is not None
    negatives = calls * (1 - (prevalence * se + (1 - prevalence) * (1 - sp)))
    z = stats.norm.ppf(0.975)

    def half(n: int) -> float:
        return z * planned_sensitivity_se(calls, prevalence, se, sp, fraction_negative=n / negatives)

    assert half(n0) <= width < half(n0 - 1)
    assert audit_size_for_sensitivity(500, prevalence, se, sp, half_width=width) is None  # census too small


def test_audit_size_for_false_omission_by_hand() -> None:
    z = stats.norm.ppf(0.975)
    n = audit_size_for_false_omission(0.012, relative_half_width=0.5)
    assert n == math.ceil(z * z * 0.988 / (0.25 * 0.012))
    assert z * math.sqrt(0.012 * 0.988 / n) <= 0.5 * 0.012 < z * math.sqrt(0.012 * 0.988 / (n - 1))


def test_detectable_drop_has_the_stated_power_in_simulation() -> None:
    calls, prevalence, sp, goal, f0, alpha, power = 8_000, 0.10, 0.91, 0.84, 0.10, 0.025, 0.80
    drop = detectable_sensitivity_drop(calls, prevalence, sp, goal=goal, fraction_negative=f0, alpha=alpha,
                                       power=power)
    assert drop is not None and 0 < drop < goal
    rng = np.random.default_rng(11)
    reps = 3000
    estimate, variance = design_corrected(*_simulate(rng, reps, calls, prevalence, goal - drop, sp, 1.0, f0))[
        "sensitivity"]
    flagged = estimate + stats.norm.ppf(1 - alpha) * np.sqrt(variance) < goal
    assert float(flagged.mean()) == pytest.approx(power, abs=3 * math.sqrt(power * (1 - power) / reps) + 0.02)


def test_planner_arguments_are_checked() -> None:
    with pytest.raises(ValueError):
        planned_sensitivity_se(100, 0.0, 0.9, 0.9, fraction_negative=0.1)
    with pytest.raises(ValueError):
        planned_sensitivity_se(100, 0.1, 0.9, 0.9, fraction_negative=0.0)
    with pytest.raises(ValueError):
        audit_size_for_false_omission(0.0, relative_half_width=0.5)
    with pytest.raises(ValueError):
        detectable_sensitivity_drop(100, 0.1, 0.9, goal=1.0, fraction_negative=0.1)
    assert detectable_sensitivity_drop(0, 0.1, 0.9, goal=0.84, fraction_negative=0.1) is None
