"""Exact one-sided binomial p-values vs scipy.binomtest and an exact rational CDF."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from scipy import stats

from monitor.stats.binomial_tests import claim_shortfall_pvalue, claim_shortfall_pvalues


def r_binom_test_less(k: int, n: int, p: str) -> float:
    """R binom.test(k, n, p, alternative = "less")$p.value = pbinom(k, n, p),
    computed independently in exact rational arithmetic."""
    pf = Fraction(p)
    total = sum(math.comb(n, i) * pf**i * (1 - pf) ** (n - i) for i in range(k + 1))
    return float(total)


CASES = [
    (40, 50, "0.9"),
    (45, 50, "0.9"),
    (290, 350, "0.9"),
    (0, 10, "0.5"),
    (10, 10, "0.5"),
    (80, 100, "0.85"),
    (171, 200, "0.9"),
    (3, 3, "0.95"),
    (25, 30, "0.95"),
    (0, 5, "0"),
    (5, 5, "1"),
]


@pytest.mark.parametrize(("k", "n", "p"), CASES)
def test_scalar_matches_exact_cdf_and_scipy(k: int, n: int, p: str) -> None:
    got = claim_shortfall_pvalue(k, n, float(p))
    assert got == pytest.approx(r_binom_test_less(k, n, p), rel=1e-10, abs=1e-300)
    assert got == pytest.approx(stats.binomtest(k, n, float(p), alternative="less").pvalue, rel=1e-12)


def test_known_value() -> None:
    # pbinom(40, 50, 0.9) in R = 0.02453794 (same as the exact rational sum).
    assert claim_shortfall_pvalue(40, 50, 0.9) == pytest.approx(0.02453794, abs=5e-9)


def test_vectorised_matches_scalar() -> None:
    rng = np.random.default_rng(3)
    n = rng.integers(0, 500, size=200)
    k = rng.binomial(n, 0.86)
    claims = rng.choice([0.8, 0.85, 0.9, 0.95], size=200)
    got = claim_shortfall_pvalues(k, n, claims)
    for i in range(200):
        expected = claim_shortfall_pvalue(int(k[i]), int(n[i]), float(claims[i]))
        if n[i] == 0:
            assert np.isnan(got[i]) and np.isnan(expected)
        else:
            assert got[i] == pytest.approx(expected, rel=1e-9, abs=1e-300)


def test_vectorised_broadcasts_scalar_claim() -> None:
    got = claim_shortfall_pvalues([40, 45, 0], [50, 50, 0], 0.9)
    assert got.shape == (3,)
    assert np.isnan(got[2])
    assert np.all((got[:2] >= 0) & (got[:2] <= 1))


def test_zero_trials_is_nan() -> None:
    assert math.isnan(claim_shortfall_pvalue(0, 0, 0.9))


def test_pvalue_is_monotone_in_successes() -> None:
    p = claim_shortfall_pvalues(np.arange(101), 100, 0.9)
    assert np.all(np.diff(p) >= 0)
    assert p[-1] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((6, 5, 0.9), "must not exceed trials"),
        ((-1, 5, 0.9), "non-negative"),
        ((1, 5, 1.2), "claim"),
        ((1, 5, float("nan")), "claim"),
    ],
)
def test_invalid(args: tuple[int, int, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        claim_shortfall_pvalue(*args)
    with pytest.raises(ValueError, match=message):
        claim_shortfall_pvalues(*args)
