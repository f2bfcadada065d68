"""Unit tests for monitor.stats.metrics."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from monitor.stats.metrics import METRIC_NAMES, estimate, metric_fraction


def test_metric_names() -> None:
    assert METRIC_NAMES == ("sensitivity", "specificity", "ppv", "npv")


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        ("sensitivity", (45, 50)),  # tp / (tp + fn)
        ("specificity", (100, 103)),  # tn / (tn + fp)
        ("ppv", (45, 48)),  # tp / (tp + fp)
        ("npv", (100, 105)),  # tn / (tn + fn)
    ],
)
def test_metric_fraction_scalar(metric: str, expected: tuple[int, int]) -> None:
    k, n = metric_fraction(metric, tp=45, fp=3, fn=5, tn=100)
    assert (int(k), int(n)) == expected
    assert k.dtype == np.int64 and n.dtype == np.int64


def test_metric_fraction_vectorised_and_broadcast() -> None:
    tp = np.array([1, 2, 3])
    k, n = metric_fraction("sensitivity", tp, 0, [1, 0, 2], 5)
    np.testing.assert_array_equal(k, [1, 2, 3])
    np.testing.assert_array_equal(n, [2, 2, 5])
    k[0] = 99  # result must not alias the input
    assert tp[0] == 1


def test_metric_fraction_complements() -> None:
    rng = np.random.default_rng(1)
    tp, fp, fn, tn = rng.integers(0, 50, size=(4, 100))
    k_se, n_se = metric_fraction("sensitivity", tp, fp, fn, tn)
    k_sp, n_sp = metric_fraction("specificity", tp, fp, fn, tn)
    k_ppv, n_ppv = metric_fraction("ppv", tp, fp, fn, tn)
    k_npv, n_npv = metric_fraction("npv", tp, fp, fn, tn)
    total = tp + fp + fn + tn
    np.testing.assert_array_equal(n_se + n_sp, total)
    np.testing.assert_array_equal(n_ppv + n_npv, total)
    np.testing.assert_array_equal(k_se + k_sp, k_ppv + k_npv)


def test_metric_fraction_unknown_metric() -> None:
    with pytest.raises(ValueError, match="unknown metric"):
        metric_fraction("accuracy", 1, 1, 1, 1)


def test_metric_fraction_negative_count() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        metric_fraction("sensitivity", -1, 0, 0, 0)


def test_estimate_values_and_zero_trials_without_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = estimate([45, 0, 3], [50, 0, 3])
    np.testing.assert_allclose(out, [0.9, np.nan, 1.0])
    assert out.dtype == np.float64
    assert np.isnan(estimate(0, 0))
    assert float(estimate(1, 4)) == 0.25


def test_estimate_accepts_integral_floats() -> None:
    assert float(estimate(3.0, 4.0)) == 0.75


@pytest.mark.parametrize(
    ("k", "n", "message"),
    [
        (5, 4, "must not exceed trials"),
        (-1, 4, "non-negative"),
        (1.5, 4, "whole numbers"),
        (np.nan, 4, "finite"),
    ],
)
def test_estimate_invalid(k: float, n: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        estimate(k, n)
