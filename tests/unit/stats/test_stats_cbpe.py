"""Confidence-based performance estimation: calibrated simulation, binned form, isotonic calibration."""

from __future__ import annotations

import math
from dataclasses import FrozenInstanceError

import numpy as np
import pandas as pd
import pytest
from sklearn.isotonic import IsotonicRegression

from monitor.stats.cbpe import EstimatedPerformance, cbpe, cbpe_from_bins, fit_isotonic_calibration


def _realised(labels: np.ndarray, calls: np.ndarray) -> dict[str, float]:
    tp = np.sum(labels & calls)
    fn = np.sum(labels & ~calls)
    fp = np.sum(~labels & calls)
    tn = np.sum(~labels & ~calls)
    return {
        "sensitivity": tp / (tp + fn),
        "specificity": tn / (tn + fp),
        "ppv": tp / (tp + fp),
        "npv": tn / (tn + fn),
        "n_pos": tp + fn,
        "n_neg": tn + fp,
        "n_call_pos": tp + fp,
        "n_call_neg": tn + fn,
    }


def _window(rng: np.random.Generator, n: int, a: float, b: float) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated probabilities p ~ Beta(a, b) and labels drawn as Bernoulli(p)."""
    p = rng.beta(a, b, n)
    return p, rng.random(n) < p


def _assert_within_mc_error(est: EstimatedPerformance, real: dict[str, float], z: float = 4.0) -> None:
    # binomial standard error of each realised metric bounds the (Poisson-binomial) label noise
    for metric, denom in [("sensitivity", "n_pos"), ("specificity", "n_neg"), ("ppv", "n_call_pos"), ("npv", "n_call_neg")]:
        value = real[metric]
        se = math.sqrt(value * (1 - value) / real[denom])
        assert getattr(est, metric) == pytest.approx(value, abs=z * se), metric


@pytest.mark.parametrize(("seed", "a", "b"), [(1, 2.0, 5.0), (2, 1.0, 1.0), (3, 0.5, 3.0)])
def test_calibrated_estimate_matches_realised_performance(seed: int, a: float, b: float) -> None:
    rng = np.random.default_rng(seed)
    p, labels = _window(rng, 100_000, a, b)
    calls = p >= 0.3
    est = cbpe(p, calls)
    assert est.n == 100_000 and est.is_estimate
    _assert_within_mc_error(est, _realised(labels, calls))


def test_estimate_follows_a_covariate_shift() -> None:
    """The case mix moves to harder cases (lower p): the estimate tracks the realised drop."""
    rng = np.random.default_rng(7)
    p_ref, y_ref = _window(rng, 80_000, 2.0, 2.0)
    p_cur, y_cur = _window(rng, 80_000, 1.2, 3.0)
    ref_est, cur_est = cbpe(p_ref, p_ref >= 0.5), cbpe(p_cur, p_cur >= 0.5)
    ref_real, cur_real = _realised(y_ref, p_ref >= 0.5), _realised(y_cur, p_cur >= 0.5)
    assert cur_real["ppv"] < ref_real["ppv"] - 0.02  # the shift does change performance
    _assert_within_mc_error(ref_est, ref_real)
    _assert_within_mc_error(cur_est, cur_real)


def test_binned_equals_per_case() -> None:
    rng = np.random.default_rng(5)
    p = np.round(rng.beta(2.0, 4.0, 20_000), 2)  # probabilities on a 0.01 grid, as stored bins
    calls = rng.random(20_000) < p + 0.1
    per_case = cbpe(p, calls)
    frame = pd.DataFrame({"p": p, "pos": calls.astype(int), "neg": (~calls).astype(int)})
    bins = frame.groupby("p", as_index=False)[["pos", "neg"]].sum()
    binned = cbpe_from_bins(bins["p"], bins["pos"], bins["neg"])
    assert binned.n == per_case.n == 20_000
    for metric in ("sensitivity", "specificity", "ppv", "npv"):
        assert getattr(binned, metric) == pytest.approx(getattr(per_case, metric), rel=1e-12)


def test_expected_counts_closed_form() -> None:
    p = np.array([0.9, 0.8, 0.3, 0.1])
    c = np.array([1, 1, 0, 0])
    tp, fn = np.sum(p * c), np.sum(p * (1 - c))
    fp, tn = np.sum((1 - p) * c), np.sum((1 - p) * (1 - c))
    est = cbpe(p, c.astype(bool))
    assert est == EstimatedPerformance(
        sensitivity=pytest.approx(tp / (tp + fn)),  # type: ignore[arg-type]
        specificity=pytest.approx(tn / (tn + fp)),  # type: ignore[arg-type]
        ppv=pytest.approx(tp / (tp + fp)),  # type: ignore[arg-type]
        npv=pytest.approx(tn / (tn + fn)),  # type: ignore[arg-type]
        n=4,
        is_estimate=True,
    )


def test_undefined_metrics_are_nan() -> None:
    est = cbpe([0.2, 0.7], [0, 0])  # no positive call: PPV undefined
    assert math.isnan(est.ppv)
    assert est.npv == pytest.approx(1.1 / 2)
    certain = cbpe([0.0, 0.0], [1, 0])  # no expected positive: sensitivity undefined
    assert math.isnan(certain.sensitivity) and certain.specificity == 0.5
    empty = cbpe([], [])
    assert empty.n == 0 and math.isnan(empty.sensitivity)


def test_estimated_performance_is_frozen() -> None:
    est = cbpe([0.5], [1])
    with pytest.raises(FrozenInstanceError):
        est.sensitivity = 1.0  # type: ignore[misc]


def test_isotonic_calibration_improves_a_miscalibrated_score() -> None:
    """Raw score = p^3 (monotone but miscalibrated): calibrating on a labelled reference window
    fixes both the calibration error and the CBPE estimate on a separate current window."""
    rng = np.random.default_rng(42)
    p_ref, y_ref = _window(rng, 30_000, 2.0, 3.0)
    p_cur, y_cur = _window(rng, 60_000, 2.0, 3.0)
    score_ref, score_cur = p_ref**3, p_cur**3
    calibrate = fit_isotonic_calibration(score_ref, y_ref)
    calibrated = calibrate(score_cur)
    assert calibrated.shape == score_cur.shape
    assert np.all((calibrated >= 0) & (calibrated <= 1))
    # mean absolute calibration error against the true probabilities
    assert np.mean(np.abs(calibrated - p_cur)) < 0.03 < np.mean(np.abs(score_cur - p_cur))
    calls = p_cur >= 0.4
    real = _realised(y_cur, calls)
    raw_est, cal_est = cbpe(score_cur, calls), cbpe(calibrated, calls)
    for metric in ("sensitivity", "specificity", "ppv", "npv"):
        assert abs(getattr(cal_est, metric) - real[metric]) < abs(getattr(raw_est, metric) - real[metric])
        assert getattr(cal_est, metric) == pytest.approx(real[metric], abs=0.02)


def test_isotonic_calibration_is_sklearn_as_a_pure_function() -> None:
    rng = np.random.default_rng(3)
    scores = rng.normal(size=2_000)
    labels = rng.random(2_000) < 1 / (1 + np.exp(-2 * scores))
    calibrate = fit_isotonic_calibration(scores, labels)
    model = IsotonicRegression(out_of_bounds="clip").fit(scores, labels.astype(float))
    grid = np.linspace(-6.0, 6.0, 1_001)  # includes scores outside the fitted range (clipped)
    np.testing.assert_allclose(calibrate(grid), model.predict(grid), rtol=0, atol=1e-12)
    assert np.all(np.diff(calibrate(grid)) >= 0)
    assert calibrate(np.array([[-9.0, 9.0]])).shape == (1, 2)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: cbpe([0.5, 1.2], [1, 0]), "probabilities"),
        (lambda: cbpe([0.5, np.nan], [1, 0]), "probabilities"),
        (lambda: cbpe([0.5, 0.4], [1, 2]), "binary"),
        (lambda: cbpe([0.5, 0.4], [1]), "same length"),
        (lambda: cbpe([[0.5]], [[1]]), "1-D"),
        (lambda: cbpe_from_bins([0.5], [1, 2], [1, 2]), "same length"),
        (lambda: cbpe_from_bins([0.5], [-1], [1]), "non-negative"),
        (lambda: fit_isotonic_calibration([0.1, np.inf], [0, 1]), "finite"),
        (lambda: fit_isotonic_calibration([0.1, 0.2], [0, 3]), "binary"),
        (lambda: fit_isotonic_calibration([], []), "non-empty"),
        (lambda: fit_isotonic_calibration([0.1, 0.2], [0]), "same length"),
    ],
)
def test_invalid_input_raises(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]


@pytest.mark.parametrize("seed", range(20))
def test_isotonic_calibration_from_counts_equals_repeated_cases(seed: int) -> None:
    """A (score bin, label, count) histogram gives exactly the map of its rows repeated ``count`` times."""
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 300))
    scores, labels = rng.integers(0, 1001, k) / 1000, rng.integers(0, 2, k)
    counts = rng.integers(1, int(rng.choice([3, 50, 3000])), k)
    grid = np.linspace(-0.1, 1.1, 1201)
    repeated = fit_isotonic_calibration(np.repeat(scores, counts), np.repeat(labels, counts))(grid)
    assert np.array_equal(fit_isotonic_calibration(scores, labels, counts=counts)(grid), repeated)
