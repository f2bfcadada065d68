"""Label-arrival distribution from right-truncated delays (monitor.stats.maturity.arrival_cdf): Lynden-Bell's
product-limit against statsmodels' and lifelines' Kaplan-Meier with delayed entry in reversed time, the
empirical CDF when every cohort is mature, and a simulation with a known distribution."""

from __future__ import annotations

import numpy as np
import pytest
from lifelines import KaplanMeierFitter
from statsmodels.duration.survfunc import SurvfuncRight

from monitor.stats.maturity import arrival_cdf

H = 60


def _truncated(seed: int, n: int, max_elapsed: int) -> tuple[np.ndarray, np.ndarray]:
    """Delays (gamma, whole days) seen only when within their elapsed time and the horizon."""
    rng = np.random.default_rng(seed)
    elapsed = rng.integers(0, max_elapsed, n)
    delay = np.round(rng.gamma(3.0, 8.0, n)).astype(np.int64)
    keep = (delay <= elapsed) & (delay <= H)
    return delay[keep], elapsed[keep]


def _fit(delay: np.ndarray, elapsed: np.ndarray, horizon: int = H):  # type: ignore[no-untyped-def]
    d, dn = np.unique(delay, return_counts=True)
    a, an = np.unique(np.minimum(elapsed, horizon), return_counts=True)
    return arrival_cdf(d, dn, a, an, horizon=horizon)


def test_equals_kaplan_meier_with_delayed_entry_in_reversed_time() -> None:
    delay, elapsed = _truncated(1, 4000, 120)
    fitted = _fit(delay, elapsed)
    u = (H - delay) + 0.5  # reversed time; + 0.5: a case enters the risk set on its own day (d <= s <= a)
    entry = (H - np.minimum(elapsed, H)).astype(float)
    days = np.arange(H + 1)
    sm = SurvfuncRight(u, np.ones_like(u), entry=entry)
    survival = np.array([sm.surv_prob[sm.surv_times <= x][-1] if (sm.surv_times <= x).any() else 1.0
                         for x in H - days - 0.5])
    np.testing.assert_allclose(fitted.cdf, survival, atol=1e-12)  # F(t) = P(U >= H - t) = S((H - t)-)
    km = KaplanMeierFitter().fit(u, np.ones_like(u), entry=entry)
    lifelines = km.survival_function_at_times(H - days[:-1] - 0.5).to_numpy()
    np.testing.assert_allclose(fitted.cdf[:-1], lifelines, atol=1e-12)


def test_equals_the_empirical_cdf_when_every_cohort_reached_the_horizon() -> None:
    delay, elapsed = _truncated(2, 3000, 400)
    mature = elapsed >= H
    fitted = _fit(delay[mature], elapsed[mature])
    ecdf = np.array([(delay[mature] <= t).mean() for t in range(H + 1)])
    np.testing.assert_allclose(fitted.cdf, ecdf, atol=1e-12)
    assert fitted.labels == fitted.mature_labels == int(mature.sum())


def test_recovers_the_true_distribution_under_truncation_by_simulation() -> None:
    """The naive CDF of the seen delays is biased towards short delays; the estimate is not."""
    rng = np.random.default_rng(3)
    n = 200_000
    elapsed = rng.integers(0, 90, n)
    delay = np.minimum(np.round(rng.exponential(20.0, n)), 10_000).astype(np.int64)
    keep = (delay <= elapsed) & (delay <= H)
    fitted = _fit(delay[keep], elapsed[keep])
    within = delay[delay <= H]
    truth = np.array([(within <= t).mean() for t in range(H + 1)])
    assert np.abs(fitted.cdf - truth).max() < 0.01
    naive = np.array([(delay[keep] <= t).mean() for t in range(H + 1)])
    assert np.abs(naive - truth).max() > 0.05


def test_hand_computed_example_and_quantiles() -> None:
    # cases (delay, elapsed): (1, 2), (2, 5), (3, 5), (3, 5); R(s) = #{d <= s <= a}: R(3) = 3, R(2) = 2, R(1) = 1
    f = arrival_cdf([1, 2, 3], [1, 1, 2], [2, 5], [1, 3], horizon=5)
    assert f is not None
    assert f.cdf[2] == pytest.approx(1 - 2 / 3)
    assert f.cdf[1] == pytest.approx((1 - 2 / 3) * (1 - 1 / 2))
    assert f.cdf[0] == 0.0 and f.cdf[5] == 1.0
    assert f.quantile(0.5) == 3.0 and f.at([-1, 2, 99]).tolist() == [0.0, f.cdf[2], 1.0]


def test_no_distribution_without_a_mature_cohort_or_a_delay_within_the_horizon() -> None:
    assert arrival_cdf([3], [5], [4], [5], horizon=10) is None  # nobody reached the horizon
    assert arrival_cdf([], [], [], [], horizon=10) is None
    assert arrival_cdf([20], [5], [10], [0], horizon=10) is None  # delays beyond the horizon only


@pytest.mark.parametrize("args", [
    ([5], [1], [3], [1]),  # a delay beyond its elapsed time
    ([1], [2], [5], [1]),  # the histograms count different cases
    ([-1], [1], [5], [1]),
])
def test_inconsistent_histograms_are_refused(args) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        arrival_cdf(*args, horizon=5)
