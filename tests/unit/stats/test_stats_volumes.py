"""Tests for monitor.stats.volumes (Bland-Altman from streamed sums) and monitor.stats.rate_limits.

Oracles:
* a direct numpy / scipy computation on the differences (mean, SD with ddof 1, t interval of the
  mean, the Bland & Altman 1986 approximate SE sqrt(3 s^2 / n) of a limit);
* the exact interval of a limit (Carkeet 2015) checked against the noncentral-t quantiles and by a
  simulation of its coverage (exact: within Monte-Carlo error of the nominal level);
* ``scipy.stats.binomtest(alternative="greater")`` for the one-sided excess test.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from monitor.stats.rate_limits import rate_excess_pvalues
from monitor.stats.volumes import bland_altman_from_sums


def _sums(d: np.ndarray) -> tuple[int, float, float]:
    return d.size, float(d.sum()), float((d ** 2).sum())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_from_sums_matches_a_direct_computation(seed: int) -> None:
    d = np.log(np.random.default_rng(seed).lognormal(0.05, 0.12, 80))
    r = bland_altman_from_sums(*_sums(d), confidence=0.95, method="approximate")
    mean, sd, n = d.mean(), d.std(ddof=1), d.size
    assert r.bias == pytest.approx(mean, abs=1e-12) and r.sd == pytest.approx(sd, rel=1e-9)
    assert (r.bias_ci_low, r.bias_ci_high) == pytest.approx(stats.t.interval(0.95, n - 1, mean, sd / np.sqrt(n)))
    assert (r.loa_low, r.loa_high) == pytest.approx((mean - 1.959964 * sd, mean + 1.959964 * sd), rel=1e-6)
    half = stats.t.ppf(0.975, n - 1) * np.sqrt(3 * sd**2 / n)
    assert (r.loa_high_ci_low, r.loa_high_ci_high) == pytest.approx((r.loa_high - half, r.loa_high + half))
    assert (r.loa_low_ci_low, r.loa_low_ci_high) == pytest.approx((r.loa_low - half, r.loa_low + half))


def test_exact_limits_use_noncentral_t_quantiles_and_mirror() -> None:
    d = np.log(np.random.default_rng(5).lognormal(-0.02, 0.2, 25))
    r = bland_altman_from_sums(*_sums(d), method="exact")
    n, mean, sd = d.size, d.mean(), d.std(ddof=1)
    z = stats.norm.ppf(0.975)
    lo_q, hi_q = stats.nct.ppf([0.025, 0.975], n - 1, z * np.sqrt(n))
    assert (r.loa_high_ci_low, r.loa_high_ci_high) == pytest.approx(
        (mean + sd * lo_q / np.sqrt(n), mean + sd * hi_q / np.sqrt(n)))
    assert r.loa_low_ci_low - r.bias == pytest.approx(-(r.loa_high_ci_high - r.bias))
    assert r.loa_low_ci_high - r.bias == pytest.approx(-(r.loa_high_ci_low - r.bias))
    # the exact interval is asymmetric (wider above the upper limit) and close to the approximation
    approx = bland_altman_from_sums(*_sums(d), method="approximate")
    assert r.loa_high_ci_high - r.loa_high > r.loa_high - r.loa_high_ci_low
    assert abs((r.loa_high_ci_high - r.loa_high_ci_low) - (approx.loa_high_ci_high - approx.loa_high_ci_low)) < 0.1


@pytest.mark.parametrize(("method", "low", "high"), [("exact", 0.93, 0.97), ("approximate", 0.90, 0.97)])
def test_limit_of_agreement_interval_coverage(method: str, low: float, high: float) -> None:
    """1000 samples of 20 normal differences: how often the interval holds the true upper limit."""
    rng = np.random.default_rng(2024)
    mu, sigma, n = 0.03, 0.15, 20
    true_upper = mu + stats.norm.ppf(0.975) * sigma
    samples = rng.normal(mu, sigma, (1000, n))
    covered = 0
    for d in samples:
        r = bland_altman_from_sums(*_sums(d), method=method)  # type: ignore[arg-type]
        covered += r.loa_high_ci_low <= true_upper <= r.loa_high_ci_high
    assert low <= covered / 1000 <= high


def test_bland_altman_edge_cases() -> None:
    empty = bland_altman_from_sums(0, 0.0, 0.0)
    assert empty.n == 0 and np.isnan(empty.bias)
    one = bland_altman_from_sums(1, 0.2, 0.04)
    assert one.bias == pytest.approx(0.2) and np.isnan(one.sd) and np.isnan(one.loa_high)
    constant = bland_altman_from_sums(5, 0.5, 0.05)  # all differences 0.1
    assert constant.sd == pytest.approx(0.0, abs=1e-7) and constant.loa_high == pytest.approx(0.1)
    for bad in ({"n": -1, "sum_d": 0.0, "sum_d2": 0.0}, {"n": 3, "sum_d": float("nan"), "sum_d2": 1.0}):
        with pytest.raises(ValueError):
            bland_altman_from_sums(**bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        bland_altman_from_sums(3, 0.0, 1.0, method="bootstrap")  # type: ignore[arg-type]


@pytest.mark.parametrize(("k", "n", "p0"), [(9, 200, 0.02), (0, 50, 0.01), (50, 50, 0.5), (3, 1000, 0.001)])
def test_rate_excess_pvalue_is_the_exact_one_sided_binomial_test(k: int, n: int, p0: float) -> None:
    expected = stats.binomtest(k, n, p0, alternative="greater").pvalue
    assert rate_excess_pvalues(k, n, p0) == pytest.approx(expected, rel=1e-10)


def test_rate_excess_pvalues_vectorised_and_checked() -> None:
    out = rate_excess_pvalues([9, 0, 0], [200, 10, 0], [0.02, 0.02, 0.02])
    assert out[1] == 1.0 and np.isnan(out[2])
    with pytest.raises(ValueError):
        rate_excess_pvalues(3, 2, 0.1)
    with pytest.raises(ValueError):
        rate_excess_pvalues(1, 2, 1.5)
