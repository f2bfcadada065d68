"""Tests for monitor.stats.comparisons (Newcombe interval, Fisher / z tests).

Reference values:
* Newcombe RG, Stat Med 1998;17:873-890, Table II, method 10 (hybrid score),
  examples (a) 56/70 - 48/80 = 0.2000 [0.0524, 0.3339], (b) 9/10 - 3/10 = 0.6000
  [0.1705, 0.8090], (g) 10/10 - 0/20 = 1.0000 [0.6791, 1.0000]; as reproduced
  (with SAS PROC FREQ RISKDIFF CL=WILSON) in the WUSS 2016 paper 127
  (lexjansen.com/wuss/2016/127_Final_Paper_PDF.pdf, p. 9);
* Fagerland MW, Lydersen S, Laake P (2015), 7/34 - 1/34: Newcombe [0.019, 0.34],
  as used in the statsmodels test-suite (test_proportion.py::test_confint_2indep);
* an independent implementation of method 10 from the Wilson limits, and
  scipy / statsmodels for the tests; an exact-enumeration coverage study.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats import proportion as smprop
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_chisquare, proportions_ztest

from monitor.stats.comparisons import (
    ALTERNATIVES,
    PROPORTION_TESTS,
    ProportionComparison,
    compare_proportions,
    compare_to_reference,
    newcombe_difference,
    newcombe_differences,
    stratum_vs_rest,
)

# (xa, na, xb, nb, difference, lower, upper) - Newcombe (1998) Table II, method 10.
NEWCOMBE_TABLE_II = [
    (56, 70, 48, 80, 0.2000, 0.0524, 0.3339),  # example (a)
    (9, 10, 3, 10, 0.6000, 0.1705, 0.8090),  # example (b)
    (10, 10, 0, 20, 1.0000, 0.6791, 1.0000),  # example (g)
]


def wilson(x: int, n: int, z: float) -> tuple[float, float]:
    """Wilson (1927) score interval, written out (no library)."""
    p = x / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def newcombe_by_hand(xa: int, na: int, xb: int, nb: int, conf: float = 0.95) -> tuple[float, float, float]:
    """Newcombe (1998) method 10: delta - sqrt((pa-la)^2 + (ub-pb)^2), delta + sqrt((ua-pa)^2 + (pb-lb)^2)."""
    z = stats.norm.ppf(0.5 + conf / 2)
    pa, pb = xa / na, xb / nb
    la, ua = wilson(xa, na, z)
    lb, ub = wilson(xb, nb, z)
    d = pa - pb
    return d, d - math.sqrt((pa - la) ** 2 + (ub - pb) ** 2), d + math.sqrt((ua - pa) ** 2 + (pb - lb) ** 2)


# ----------------------------------------------------------------------------- Newcombe


@pytest.mark.parametrize(("xa", "na", "xb", "nb", "d", "lo", "hi"), NEWCOMBE_TABLE_II)
def test_newcombe_1998_table_ii(xa: int, na: int, xb: int, nb: int, d: float, lo: float, hi: float) -> None:
    got = newcombe_difference(xa, na, xb, nb)
    assert got == pytest.approx((d, lo, hi), abs=5e-5)  # published to 4 decimals


def test_fagerland_2015_example() -> None:
    _, lo, hi = newcombe_difference(7, 34, 1, 34)
    assert (lo, hi) == pytest.approx((0.019, 0.340), abs=5e-4)


@pytest.mark.parametrize(
    ("xa", "na", "xb", "nb"),
    [(56, 70, 48, 80), (6, 7, 2, 7), (5, 56, 0, 29), (0, 10, 0, 20), (0, 10, 0, 10), (10, 10, 0, 10),
     (84, 101, 89, 105), (171, 200, 450, 500), (1, 3, 2, 2)],
)
@pytest.mark.parametrize("conf", [0.90, 0.95, 0.99])
def test_newcombe_matches_statsmodels_and_hand_formula(xa: int, na: int, xb: int, nb: int, conf: float) -> None:
    got = newcombe_difference(xa, na, xb, nb, confidence=conf)
    lo, hi = confint_proportions_2indep(xa, na, xb, nb, method="newcomb", compare="diff", alpha=1 - conf)
    assert got[1:] == pytest.approx((lo, hi), abs=1e-14)
    assert got == pytest.approx(newcombe_by_hand(xa, na, xb, nb, conf), abs=1e-12)


def test_newcombe_vectorised_matches_scalar_and_nan_for_empty() -> None:
    rng = np.random.default_rng(0)
    na, nb = rng.integers(0, 60, 50), rng.integers(0, 60, 50)
    xa, xb = rng.integers(0, na + 1), rng.integers(0, nb + 1)
    d, lo, hi = newcombe_differences(xa, na, xb, nb)
    for i in range(50):
        s = newcombe_difference(int(xa[i]), int(na[i]), int(xb[i]), int(nb[i]))
        if na[i] == 0 or nb[i] == 0:
            assert np.isnan(s).all() and np.isnan([d[i], lo[i], hi[i]]).all()
        else:
            assert s == (d[i], lo[i], hi[i])
    assert (lo[np.isfinite(lo)] >= -1).all() and (hi[np.isfinite(hi)] <= 1).all()


def test_newcombe_validation() -> None:
    with pytest.raises(ValueError, match="exceed"):
        newcombe_difference(5, 4, 1, 2)
    with pytest.raises(ValueError, match="scalar"):
        newcombe_difference([1, 2], [3, 4], 1, 2)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="confidence"):
        newcombe_difference(1, 2, 1, 2, confidence=95)
    with pytest.raises(ValueError, match="incompatible"):
        newcombe_differences([1, 2], [3, 4], [1, 2, 3], [3, 4, 5])


# ----------------------------------------------------------------------------- coverage


def exact_coverage(na: int, pa: float, nb: int, pb: float) -> float:
    """Exact coverage by enumerating every (xa, xb) outcome (no Monte-Carlo error)."""
    xa = np.arange(na + 1)[:, None]
    xb = np.arange(nb + 1)[None, :]
    _, lo, hi = newcombe_differences(xa, na, xb, nb)
    prob = stats.binom.pmf(xa, na, pa) * stats.binom.pmf(xb, nb, pb)
    truth = pa - pb
    return float(prob[(lo <= truth) & (truth <= hi)].sum())


GRID = np.round(np.arange(0.1, 0.91, 0.1), 2)


@pytest.mark.parametrize(("na", "nb"), [(50, 50), (100, 100), (50, 500)])
def test_newcombe_exact_coverage_near_nominal(na: int, nb: int) -> None:
    cov = np.array([[exact_coverage(na, pa, nb, pb) for pb in GRID] for pa in GRID])
    # Observed: n=50/50 0.943-0.964; 100/100 0.940-0.955; 50/500 0.950-0.954.
    assert cov.min() >= 0.93 and cov.max() <= 0.97
    assert 0.945 <= cov.mean() <= 0.955


def test_newcombe_coverage_at_extremes_is_conservative_not_liberal() -> None:
    # Near 0 or 1 with n = 50 the interval is conservative (up to ~0.98), never below 0.93.
    edge = [0.05, 0.5, 0.95]
    cov = [exact_coverage(50, pa, 50, pb) for pa in edge for pb in edge]
    assert min(cov) >= 0.93
    assert exact_coverage(50, 0.95, 50, 0.95) == pytest.approx(0.979, abs=0.001)


# ----------------------------------------------------------------------------- tests


@pytest.mark.parametrize(
    ("xa", "na", "xb", "nb"),
    [(56, 70, 48, 80), (9, 10, 3, 10), (0, 10, 0, 20), (10, 10, 0, 20), (171, 200, 450, 500), (3, 40, 1, 60)],
)
@pytest.mark.parametrize("alternative", ALTERNATIVES)
def test_fisher_matches_scipy(xa: int, na: int, xb: int, nb: int, alternative: str) -> None:
    r = compare_proportions(xa, na, xb, nb, alternative=alternative, test="fisher")  # type: ignore[arg-type]
    expected = stats.fisher_exact([[xa, na - xa], [xb, nb - xb]], alternative=alternative).pvalue
    assert r.p_value == pytest.approx(expected, rel=1e-12)
    assert r.method == "fisher"


def test_fisher_less_is_hypergeometric_lower_tail() -> None:
    # "less" = p_a < p_b: P(X <= xa) for X ~ Hypergeom(N, K, na), written out.
    xa, na, xb, nb = 160, 200, 450, 500
    total, k = na + nb, xa + xb
    tail = sum(math.comb(k, i) * math.comb(total - k, na - i) for i in range(xa + 1)) / math.comb(total, na)
    r = compare_proportions(xa, na, xb, nb, alternative="less")
    assert r.p_value == pytest.approx(tail, rel=1e-9)
    assert compare_proportions(xa, na, xb, nb, alternative="greater").p_value > 0.99


@pytest.mark.parametrize(
    ("xa", "na", "xb", "nb"), [(56, 70, 48, 80), (9, 10, 3, 10), (171, 200, 450, 500), (3, 40, 1, 60)]
)
@pytest.mark.parametrize("alternative", ALTERNATIVES)
def test_z_test_matches_statsmodels(xa: int, na: int, xb: int, nb: int, alternative: str) -> None:
    r = compare_proportions(xa, na, xb, nb, alternative=alternative, test="z")  # type: ignore[arg-type]
    sm_alt = {"two-sided": "two-sided", "less": "smaller", "greater": "larger"}[alternative]
    _, p = proportions_ztest([xa, xb], [na, nb], alternative=sm_alt)
    # The pooled z test is the score test of test_proportions_2indep without correction.
    score = smprop.test_proportions_2indep(xa, na, xb, nb, method="score", correction=False, alternative=sm_alt)
    assert r.p_value == pytest.approx(p, rel=1e-12)
    assert r.p_value == pytest.approx(score.pvalue, rel=1e-9)
    if alternative == "two-sided":
        assert r.p_value == pytest.approx(proportions_chisquare([xa, xb], [na, nb])[1], rel=1e-10)
    assert r.method == "z"


def test_z_by_hand() -> None:
    xa, na, xb, nb = 56, 70, 48, 80
    pooled = (xa + xb) / (na + nb)
    z = (xa / na - xb / nb) / math.sqrt(pooled * (1 - pooled) * (1 / na + 1 / nb))
    r = compare_proportions(xa, na, xb, nb, test="z", alternative="greater")
    assert r.p_value == pytest.approx(stats.norm.sf(z), rel=1e-12)


def test_z_degenerate_pooled_proportion() -> None:
    for xa, xb in ((0, 0), (10, 20)):
        r = compare_proportions(xa, 10, xb, 20, test="z")
        assert r.p_value == 1.0 and r.difference == 0.0


def test_comparison_fields_and_one_sided_consistency() -> None:
    r = compare_proportions(56, 70, 48, 80)
    assert isinstance(r, ProportionComparison)
    assert (r.estimate_a, r.estimate_b) == (0.8, 0.6)
    assert (r.difference, r.ci_low, r.ci_high) == newcombe_difference(56, 70, 48, 80)
    for test in PROPORTION_TESTS:
        less = compare_proportions(56, 70, 48, 80, test=test, alternative="less")  # type: ignore[arg-type]
        greater = compare_proportions(56, 70, 48, 80, test=test, alternative="greater")  # type: ignore[arg-type]
        assert greater.p_value < 0.05 < less.p_value
        # The interval is always the two-sided Newcombe interval.
        assert (less.ci_low, less.ci_high) == (greater.ci_low, greater.ci_high)


def test_empty_group_gives_nan() -> None:
    r = compare_proportions(0, 0, 3, 20)
    assert np.isnan([r.estimate_a, r.difference, r.ci_low, r.ci_high, r.p_value]).all()
    assert r.estimate_b == 0.15
    r = compare_proportions(3, 20, 0, 0, test="z")
    assert np.isnan(r.p_value) and r.estimate_a == 0.15


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"alternative": "smaller"}, "alternative"), ({"test": "chi2"}, "test"), ({"confidence": 1.5}, "confidence")],
)
def test_compare_validation(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        compare_proportions(5, 10, 4, 10, **kwargs)
    with pytest.raises(ValueError, match="exceed"):
        compare_proportions(11, 10, 4, 10)


# ----------------------------------------------------------------------------- wrappers


def test_compare_to_reference_is_current_minus_reference() -> None:
    kw = {"alternative": "less", "test": "z", "confidence": 0.9}
    assert compare_to_reference(160, 200, 450, 500, **kw) == compare_proportions(160, 200, 450, 500, **kw)
    r = compare_to_reference(160, 200, 450, 500)
    assert r.difference == pytest.approx(0.8 - 0.9)


def test_stratum_vs_rest_subtracts_the_stratum() -> None:
    r = stratum_vs_rest(30, 40, 530, 600, alternative="less")
    expected = compare_proportions(30, 40, 500, 560, alternative="less")
    assert r == expected
    assert r.estimate_b == pytest.approx(500 / 560)


def test_stratum_vs_rest_validation_and_empty_rest() -> None:
    with pytest.raises(ValueError, match="part of the total"):
        stratum_vs_rest(30, 40, 20, 600)  # more stratum successes than total
    with pytest.raises(ValueError, match="part of the total"):
        stratum_vs_rest(30, 40, 30, 35)  # more stratum trials than total
    with pytest.raises(ValueError, match="part of the total"):
        stratum_vs_rest(0, 40, 590, 600)  # 40 stratum failures, only 10 in total
    r = stratum_vs_rest(30, 40, 30, 40)  # the stratum is the whole population
    assert np.isnan(r.estimate_b) and np.isnan(r.p_value)
