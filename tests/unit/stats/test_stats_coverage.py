"""Exact (and a small Monte-Carlo) coverage study of the interval methods.

Exact coverage at (n, p) is sum_x P(X = x) * 1[L(x) <= p <= U(x)], computed by
summing binomial probabilities over all x = 0..n (Brown, Cai & DasGupta 2001).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from monitor.stats.intervals import INTERVAL_METHODS, proportion_intervals

PS = (0.5, 0.8, 0.9, 0.95)
NS = np.arange(30, 501)


def exact_coverage(n: int, p: float, method: str, confidence: float = 0.95) -> float:
    x = np.arange(n + 1)
    lo, hi = proportion_intervals(x, n, confidence=confidence, method=method)  # type: ignore[arg-type]
    covered = (lo <= p) & (p <= hi)
    return float(stats.binom.pmf(x, n, p)[covered].sum())


@pytest.fixture(scope="module")
def coverage() -> dict[tuple[str, float], np.ndarray]:
    return {
        (m, p): np.array([exact_coverage(int(n), p, m) for n in NS])
        for m in INTERVAL_METHODS
        for p in PS
    }


@pytest.mark.parametrize("method", ["wilson", "jeffreys"])
@pytest.mark.parametrize("p", PS)
def test_average_coverage_near_nominal(
    coverage: dict[tuple[str, float], np.ndarray], method: str, p: float
) -> None:
    assert 0.945 <= coverage[(method, p)].mean() <= 0.955


@pytest.mark.parametrize("p", PS)
def test_clopper_pearson_never_below_nominal(
    coverage: dict[tuple[str, float], np.ndarray], p: float
) -> None:
    assert coverage[("clopper-pearson", p)].min() >= 0.95 - 1e-12


@pytest.mark.parametrize("method", ["wilson", "jeffreys"])
def test_pointwise_coverage_oscillates(
    coverage: dict[tuple[str, float], np.ndarray], method: str
) -> None:
    # Documented in docs/methods.md: pointwise coverage dips to ~92% for
    # p in 0.5..0.9 (both methods), while the average stays ~95%.
    for p in (0.5, 0.8, 0.9):
        cov = coverage[(method, p)]
        assert cov.min() < 0.935
        assert cov.min() > 0.91
        assert cov.max() > 0.96


def test_wilson_floor_and_jeffreys_dip_near_one(
    coverage: dict[tuple[str, float], np.ndarray],
) -> None:
    # Near p = 0.95, Wilson still stays above ~92.5% but the equal-tailed
    # Jeffreys interval dips to ~88% (its lower limit at x = n exceeds p).
    assert coverage[("wilson", 0.95)].min() > 0.925
    assert 0.87 < coverage[("jeffreys", 0.95)].min() < 0.90


@pytest.mark.parametrize("method", INTERVAL_METHODS)
@pytest.mark.parametrize(("n", "p"), [(50, 0.9), (137, 0.8), (300, 0.95)])
def test_monte_carlo_agrees_with_exact(method: str, n: int, p: float) -> None:
    reps = 20_000
    rng = np.random.default_rng(20240501 + n)
    x = rng.binomial(n, p, size=reps)
    lo, hi = proportion_intervals(x, n, method=method)  # type: ignore[arg-type]
    simulated = float(np.mean((lo <= p) & (p <= hi)))
    exact = exact_coverage(n, p, method)
    se = np.sqrt(exact * (1 - exact) / reps)
    assert abs(simulated - exact) <= 4 * se
