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


# --------------------------------------------------------------------------- tests against a goal (decision rule)

from scipy import special  # noqa: E402
from statsmodels.stats.proportion import proportion_confint  # noqa: E402

from monitor.stats.binomial_tests import exact_interval, goal_tests, log_betainc  # noqa: E402


@pytest.mark.parametrize(("k", "n", "goal"), [(40, 50, 0.88), (49, 50, 0.88), (0, 10, 0.5), (10, 10, 0.5),
                                              (1500, 2000, 0.88), (1631, 1865, 0.88), (171, 200, 0.83),
                                              (3, 3, 0.95), (0, 7, 0.01)])
def test_goal_tests_equal_scipy_binomtest_on_whole_counts(k: int, n: int, goal: float) -> None:
    t = goal_tests(k, n, goal)
    assert t.p_shortfall[0] == pytest.approx(stats.binomtest(k, n, goal, alternative="less").pvalue, rel=1e-10)
    assert t.p_conformity[0] == pytest.approx(stats.binomtest(k, n, goal, alternative="greater").pvalue, rel=1e-10)


def test_goal_tests_log10_stay_exact_below_the_float_range() -> None:
    """Oracle: log-sum-exp of scipy's binomial log pmf (exact in the far tails)."""
    for k, n, goal in [(0, 10_000, 0.9), (85_000, 100_000, 0.9), (10, 1_000_000, 0.5), (1500, 2000, 0.88)]:
        t = goal_tests(k, n, goal)
        lower = special.logsumexp(stats.binom.logpmf(np.arange(0, k + 1), n, goal)) / math.log(10)
        assert t.log10_p_shortfall[0] == pytest.approx(lower, rel=1e-10)
    t = goal_tests(4990, 5000, 0.5)
    upper = special.logsumexp(stats.binom.logpmf(np.arange(4990, 5001), 5000, 0.5)) / math.log(10)
    assert t.log10_p_conformity[0] == pytest.approx(upper, rel=1e-10)
    assert t.p_conformity[0] == 0.0 and math.isfinite(t.log10_p_conformity[0])


def test_log_betainc_matches_scipy_where_representable() -> None:
    rng = np.random.default_rng(3)
    a, b, x = rng.uniform(0.5, 500, 200), rng.uniform(0.5, 500, 200), rng.uniform(0, 1, 200)
    direct = special.betainc(a, b, x)
    keep = direct > 1e-280
    np.testing.assert_allclose(log_betainc(a, b, x)[keep], np.log(direct[keep]), rtol=1e-10, atol=1e-12)


def test_goal_tests_on_fractional_counts_are_continuous_and_monotone() -> None:
    """Effective (Korn-Graubard) counts: the test interpolates between whole counts and decreases in x."""
    x = np.linspace(1500, 1520, 41)
    p = goal_tests(x, 1800.5, 0.85).p_shortfall
    assert np.all(np.diff(p) > 0)
    assert goal_tests(1510.0, 1800.0, 0.85).p_shortfall[0] == pytest.approx(stats.binom.cdf(1510, 1800, 0.85),
                                                                            rel=1e-10)


@pytest.mark.parametrize(("k", "n"), [(0, 20), (20, 20), (45, 50), (1631, 1865)])
def test_exact_interval_is_clopper_pearson_and_dual_to_the_test(k: int, n: int) -> None:
    low, high = exact_interval(k, n, 0.95)
    ref_low, ref_high = proportion_confint(k, n, alpha=0.05, method="beta")
    assert low[0] == pytest.approx(ref_low, abs=1e-12) and high[0] == pytest.approx(ref_high, abs=1e-12)
    if 0 < k < n:  # the one-sided upper bound at 97.5% is the goal at which the shortfall p is 0.025
        assert goal_tests(k, n, high[0]).p_shortfall[0] == pytest.approx(0.025, rel=1e-8)
        assert goal_tests(k, n, low[0]).p_conformity[0] == pytest.approx(0.025, rel=1e-8)


def test_goal_tests_edges() -> None:
    t = goal_tests([0, 5, 3], [0, 5, 10], [0.9, 0.9, 0.0])
    assert math.isnan(t.p_shortfall[0]) and math.isnan(t.log10_p_conformity[0])
    assert t.p_shortfall[1] == 1.0  # all successes: no shortfall evidence
    assert t.p_conformity[2] == 0.0 or t.log10_p_conformity[2] == -math.inf  # H0 p <= 0 is impossible with x > 0
    with pytest.raises(ValueError):
        goal_tests(6, 5, 0.9)
