"""Tests for monitor.stats.calibration (Brier score, calibration-in-the-large, slope).

Oracles:
* ``sklearn.metrics.brier_score_loss`` for the Brier score;
* CITL solved independently: the MLE of ``a`` in ``logit P(y) = a + offset(lp)``
  is the root of the score equation ``sum(y - expit(a + lp)) = 0`` (scipy
  ``brentq``) and its model SE is ``1 / sqrt(sum p_a (1 - p_a))``;
* slope from an unpenalised ``sklearn.linear_model.LogisticRegression`` on
  ``logit(p)``, and its SE from the inverse Fisher information written here;
* simulation: perfectly calibrated data cover (0, 1); miscalibrated data do not.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize, special, stats
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss

from monitor.stats.calibration import PROBABILITY_CLIP, CalibrationResult, brier_score, calibration


def simulate(seed: int, n: int, *, shift: float = 0.0, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Outcomes from the true risk; the reported probability is expit(shift + scale * logit(true))."""
    rng = np.random.default_rng(seed)
    true_lp = rng.normal(-0.5, 1.3, n)
    y = (rng.uniform(size=n) < special.expit(true_lp)).astype(int)
    p = special.expit(shift + scale * true_lp)
    return y, p


# ----------------------------------------------------------------------------- Brier


@pytest.mark.parametrize("seed", range(3))
def test_brier_matches_sklearn(seed: int) -> None:
    y, p = simulate(seed, 500)
    assert brier_score(y, p) == pytest.approx(brier_score_loss(y, p), abs=1e-15)
    w = np.random.default_rng(seed).integers(0, 5, y.size)
    assert brier_score(y, p, weights=w) == pytest.approx(brier_score_loss(y, p, sample_weight=w), abs=1e-14)
    assert calibration(y, p).brier == pytest.approx(brier_score_loss(y, p), abs=1e-15)


def test_brier_uses_unclipped_probabilities_and_edge_cases() -> None:
    assert brier_score([1, 0], [1.0, 0.0]) == 0.0
    assert brier_score([0, 1], [1.0, 0.0]) == 1.0
    assert np.isnan(brier_score([], []))
    assert np.isnan(brier_score([0, 1], [0.2, 0.3], weights=[0, 0]))
    assert brier_score([True, False], [0.5, 0.5]) == 0.25


# ----------------------------------------------------------------------------- oracles


@pytest.mark.parametrize(("seed", "shift", "scale"), [(0, 0.0, 1.0), (1, 0.4, 1.0), (2, -0.3, 0.7), (3, 0.0, 1.5)])
def test_citl_matches_score_equation(seed: int, shift: float, scale: float) -> None:
    y, p = simulate(seed, 800, shift=shift, scale=scale)
    lp = special.logit(np.clip(p, PROBABILITY_CLIP, 1 - PROBABILITY_CLIP))
    a_hat = optimize.brentq(lambda a: np.sum(y - special.expit(a + lp)), -10, 10, xtol=1e-14)
    fitted = special.expit(a_hat + lp)
    se = 1.0 / np.sqrt(np.sum(fitted * (1 - fitted)))
    z = stats.norm.ppf(0.975)
    r = calibration(y, p)
    assert r.citl == pytest.approx(a_hat, abs=1e-7)
    assert r.citl_ci == pytest.approx((a_hat - z * se, a_hat + z * se), abs=1e-6)


@pytest.mark.parametrize(("seed", "shift", "scale"), [(10, 0.0, 1.0), (11, 0.5, 0.6), (12, -0.2, 1.4)])
def test_slope_matches_sklearn_and_fisher_information(seed: int, shift: float, scale: float) -> None:
    y, p = simulate(seed, 800, shift=shift, scale=scale)
    lp = special.logit(np.clip(p, PROBABILITY_CLIP, 1 - PROBABILITY_CLIP))
    model = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(lp[:, None], y)
    a, b = float(model.intercept_[0]), float(model.coef_[0, 0])
    fitted = special.expit(a + b * lp)
    x = np.column_stack([np.ones_like(lp), lp])
    cov = np.linalg.inv(x.T @ (x * (fitted * (1 - fitted))[:, None]))
    se_b = np.sqrt(cov[1, 1])
    z = stats.norm.ppf(0.975)
    r = calibration(y, p)
    assert r.slope == pytest.approx(b, abs=1e-5)
    assert r.slope_ci == pytest.approx((b - z * se_b, b + z * se_b), abs=1e-5)


# ----------------------------------------------------------------------------- simulation


def test_perfect_calibration_covers_ideal_values() -> None:
    # One seeded draw (each interval covers with probability ~0.95).
    y, p = simulate(202, 3000)
    r = calibration(y, p)
    assert r.citl_ci[0] < 0.0 < r.citl_ci[1]
    assert r.slope_ci[0] < 1.0 < r.slope_ci[1]
    assert (r.n, r.events) == (3000, int(y.sum()))


def test_wald_interval_coverage_on_calibrated_data() -> None:
    # Seeded Monte-Carlo: 300 perfectly calibrated samples of n = 400.
    reps = 300
    citl_hits = slope_hits = 0
    for rep in range(reps):
        y, p = simulate(10_000 + rep, 400)
        r = calibration(y, p)
        citl_hits += r.citl_ci[0] <= 0.0 <= r.citl_ci[1]
        slope_hits += r.slope_ci[0] <= 1.0 <= r.slope_ci[1]
    # Binomial(300, 0.95) has sd 1.3%; +-3.5 sd around the nominal level.
    assert 0.90 <= citl_hits / reps <= 0.99
    assert 0.90 <= slope_hits / reps <= 0.99


def test_miscalibration_is_detected() -> None:
    # Risks overestimated (shift +0.5 on the logit) -> CITL < 0; too extreme (scale 2) -> slope ~ 0.5.
    y, p = simulate(7, 3000, shift=0.5)
    r = calibration(y, p)
    assert r.citl_ci[1] < 0.0
    y, p = simulate(8, 3000, scale=2.0)
    r = calibration(y, p)
    assert r.slope_ci[1] < 1.0 and r.slope == pytest.approx(0.5, abs=0.07)


def test_confidence_level_widens_interval() -> None:
    y, p = simulate(4, 1000, shift=0.2)
    r90, r99 = calibration(y, p, confidence=0.90), calibration(y, p, confidence=0.99)
    assert r90.citl == r99.citl and r90.slope == r99.slope
    assert r99.citl_ci[0] < r90.citl_ci[0] < r90.citl < r90.citl_ci[1] < r99.citl_ci[1]
    w90 = r90.slope_ci[1] - r90.slope_ci[0]
    w99 = r99.slope_ci[1] - r99.slope_ci[0]
    assert w99 / w90 == pytest.approx(stats.norm.ppf(0.995) / stats.norm.ppf(0.95), rel=1e-9)


# ----------------------------------------------------------------------------- weights


def test_binned_weights_equal_per_case() -> None:
    y, p = simulate(21, 4000, shift=0.2, scale=0.8)
    p = np.round(p, 2)  # the service's score bins
    per_case = calibration(y, p)
    # One row per (score bin, label) with its count.
    keys, counts = np.unique(np.column_stack([p, y]), axis=0, return_counts=True)
    binned = calibration(keys[:, 1].astype(int), keys[:, 0], weights=counts)
    assert len(counts) < 250
    assert (binned.n, binned.events) == (per_case.n, per_case.events)
    assert binned.brier == pytest.approx(per_case.brier, abs=1e-14)
    assert binned.citl == pytest.approx(per_case.citl, abs=1e-9)
    assert binned.slope == pytest.approx(per_case.slope, abs=1e-9)
    assert binned.citl_ci == pytest.approx(per_case.citl_ci, abs=1e-9)
    assert binned.slope_ci == pytest.approx(per_case.slope_ci, abs=1e-9)


def test_zero_weights_are_ignored() -> None:
    y, p = simulate(22, 500)
    w = np.ones(y.size, int)
    w[:50] = 0
    assert calibration(y, p, weights=w) == calibration(y[50:], p[50:])


# ----------------------------------------------------------------------------- edge cases


def test_empty_input_gives_nan() -> None:
    r = calibration([], [])
    assert isinstance(r, CalibrationResult)
    assert (r.n, r.events) == (0, 0)
    assert np.isnan([r.brier, r.citl, *r.citl_ci, r.slope, *r.slope_ci]).all()


@pytest.mark.parametrize(
    ("labels", "probs"),
    [([0, 0, 0], [0.1, 0.5, 0.9]), ([1, 1, 1], [0.1, 0.5, 0.9])],
)
def test_no_events_or_no_nonevents(labels: list[int], probs: list[float]) -> None:
    r = calibration(labels, probs)
    assert np.isfinite(r.brier)
    assert np.isnan([r.citl, *r.citl_ci, r.slope, *r.slope_ci]).all()


def test_separation_and_constant_probability() -> None:
    # Outcome perfectly separated by the score: no finite slope MLE.
    r = calibration([0, 0, 0, 1, 1, 1], [0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    assert np.isnan([r.slope, *r.slope_ci]).all() and np.isfinite(r.citl)
    # A single distinct probability: slope not identifiable, CITL = logit(ybar) - logit(p).
    r = calibration([0, 1, 0, 1, 1], [0.5] * 5)
    assert np.isnan(r.slope)
    assert r.citl == pytest.approx(special.logit(0.6), abs=1e-8)


def test_probabilities_at_zero_and_one_are_clipped() -> None:
    r = calibration([0, 1, 0, 1, 1, 0], [0.0, 1.0, 0.2, 0.6, 0.4, 0.7])
    assert np.isfinite([r.citl, r.slope]).all()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"labels": [0, 2], "probabilities": [0.1, 0.2]}, "0/1"),
        ({"labels": [0, 1], "probabilities": [0.1, 1.2]}, r"\[0, 1\]"),
        ({"labels": [0, 1], "probabilities": [0.1, np.nan]}, r"\[0, 1\]"),
        ({"labels": [0, 1], "probabilities": [0.1]}, "same length"),
        ({"labels": [0, 1], "probabilities": [0.1, 0.2], "weights": [1, -1]}, "non-negative"),
        ({"labels": [0, 1], "probabilities": [0.1, 0.2], "weights": [1.5, 1]}, "whole numbers"),
        ({"labels": [0, 1], "probabilities": [0.1, 0.2], "weights": [1]}, "weights"),
        ({"labels": [0, 1], "probabilities": [0.1, 0.2], "confidence": 0}, "confidence"),
    ],
)
def test_validation(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        calibration(**kwargs)
