"""Power / sample-size oracle tests (regulatory.md section 4.7)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from monitor.stats.power import (
    exact_power,
    exact_powers,
    minimal_detectable_drop,
    minimal_detectable_drops,
    required_trials,
    required_trials_normal,
)

# (Se0, alpha) -> (normal, exact); Se1 = Se0 - 0.043, one-sided, power 0.80.
TABLE_4_7 = {
    (0.85, 0.05): (458, 476),
    (0.90, 0.05): (336, 350),
    (0.92, 0.05): (283, 295),
    (0.95, 0.05): (197, 217),
    (0.85, 0.0025): (964, 1006),
    (0.90, 0.0025): (699, 746),
    (0.92, 0.0025): (583, 630),
    (0.95, 0.0025): (397, 449),
}

POWER_4_7 = {25: 0.14, 50: 0.17, 100: 0.35, 200: 0.58, 300: 0.71, 400: 0.83}


def brute_force_power(n: int, p0: float, p1: float, alpha: float) -> float:
    """Definition written out: c = largest k with P0(X <= k) <= alpha."""
    cdf0 = stats.binom.cdf(np.arange(n + 1), n, p0)
    ks = np.flatnonzero(cdf0 <= alpha)
    return 0.0 if ks.size == 0 else float(stats.binom.cdf(ks[-1], n, p1))


@pytest.mark.parametrize(("key", "expected"), TABLE_4_7.items(), ids=str)
def test_required_trials_table(key: tuple[float, float], expected: tuple[int, int]) -> None:
    se0, alpha = key
    se1 = se0 - 0.043
    normal, exact = expected
    assert required_trials_normal(se0, se1, alpha=alpha, power=0.80) == normal
    assert required_trials(se0, se1, alpha=alpha, power=0.80) == exact


@pytest.mark.parametrize(("n", "expected"), POWER_4_7.items())
def test_single_quarter_power_table(n: int, expected: float) -> None:
    assert round(exact_power(n, 0.90, 0.857, alpha=0.05), 2) == expected


def test_required_trials_is_first_n_reaching_power() -> None:
    n = required_trials(0.90, 0.857)
    assert exact_power(n, 0.90, 0.857) >= 0.80
    assert all(exact_power(m, 0.90, 0.857) < 0.80 for m in range(1, n))


def test_power_is_a_saw_tooth() -> None:
    # Exact power is not monotone in n: some n > required_trials fall below
    # target again. The "stable" n (all larger n reach 0.80) is 387 here.
    powers = exact_powers(np.arange(1, 800), 0.90, 0.857)
    n_first = required_trials(0.90, 0.857)
    below_after = np.flatnonzero(powers[n_first:] < 0.80)
    assert below_after.size > 0
    assert int(np.arange(1, 800)[n_first:][below_after[-1]]) + 1 == 387
    assert np.any(np.diff(powers) < 0)


@pytest.mark.parametrize("alpha", [0.05, 0.0025, 0.2])
@pytest.mark.parametrize(("p0", "p1"), [(0.9, 0.857), (0.5, 0.4), (0.95, 0.9), (0.3, 0.1)])
def test_vectorised_power_matches_definition(alpha: float, p0: float, p1: float) -> None:
    ns = np.array([0, 1, 2, 5, 13, 30, 77, 150, 333, 512])
    got = exact_powers(ns, p0, p1, alpha=alpha)
    expected = [brute_force_power(int(n), p0, p1, alpha) for n in ns]
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)


def test_power_at_null_does_not_exceed_alpha() -> None:
    ns = np.arange(1, 600)
    assert np.all(exact_powers(ns, 0.9, 0.9, alpha=0.05) <= 0.05 + 1e-12)


def test_zero_trials() -> None:
    assert exact_power(0, 0.9, 0.8) == 0.0
    assert math.isnan(minimal_detectable_drop(0, 0.88, 0.90))


def test_unreachable_small_n_mdd_is_nan() -> None:
    # H0: p >= 0.9: (1 - 0.9)^1 = 0.1 > 0.05, a single case can never reject.
    assert math.isnan(minimal_detectable_drop(1, 0.9, 0.92))
    assert not math.isnan(minimal_detectable_drop(2, 0.9, 0.92))


@pytest.mark.parametrize("n", [2, 10, 25, 50, 100, 350, 400, 1000, 5000])
@pytest.mark.parametrize(("goal", "claim"), [(0.83, 0.85), (0.88, 0.9), (0.93, 0.95)])
@pytest.mark.parametrize("alpha", [0.05, 0.0025])
def test_mdd_solves_exact_power_in_the_true_value(n: int, goal: float, claim: float, alpha: float) -> None:
    """Oracle: scipy's binomial cdf and a brute-force critical value; the power at claim - MDD is exactly the
    target, and the power is decreasing in the true value (so every larger drop has at least that power)."""
    d = minimal_detectable_drop(n, goal, claim, alpha=alpha)
    crit = [k for k in range(n + 1) if stats.binom.cdf(k, n, goal) <= alpha]
    if not crit:
        assert math.isnan(d)
        return
    c = max(crit)
    assert stats.binom.cdf(c, n, claim - d) == pytest.approx(0.80, abs=1e-9)
    assert exact_power(n, goal, claim - d, alpha=alpha) == pytest.approx(0.80, abs=1e-9)
    assert exact_power(n, goal, max(claim - d - 0.01, 0.0), alpha=alpha) >= 0.80
    assert d > claim - goal  # at the goal itself the power is at most alpha


def test_mdd_consistent_with_table() -> None:
    # regulatory.md 4.7: 350 positives detect 0.90 -> 0.857 at alpha 0.05 against the claim itself.
    assert minimal_detectable_drop(350, 0.90, 0.90) <= 0.043
    assert minimal_detectable_drop(349, 0.90, 0.90) > 0.043


def test_mdd_by_simulation() -> None:
    """Oracle: simulated rejections of the exact test at the reported drop (20,000 replicates)."""
    n, goal, claim, alpha = 500, 0.88, 0.90, 0.05 / 16
    d = minimal_detectable_drop(n, goal, claim, alpha=alpha)
    draws = np.random.default_rng(19).binomial(n, claim - d, size=20_000)
    rejected = stats.binom.cdf(draws, n, goal) <= alpha
    assert abs(rejected.mean() - 0.80) < 4 * math.sqrt(0.8 * 0.2 / 20_000)


def test_mdd_vectorised() -> None:
    n = np.array([0, 50, 100, 400])
    goal = np.array([0.88, 0.88, 0.83, 0.93])
    claim = goal + 0.02
    got = minimal_detectable_drops(n, goal, claim, alpha=0.0025, power=0.9)
    assert np.isnan(got[0])
    for i in range(1, 4):
        assert got[i] == minimal_detectable_drop(int(n[i]), float(goal[i]), float(claim[i]), alpha=0.0025, power=0.9)


@pytest.mark.parametrize(
    ("func", "kwargs", "message"),
    [
        (required_trials, {"p0": 0.9, "p1": 0.95}, "smaller than p0"),
        (required_trials_normal, {"p0": 0.9, "p1": 0.9}, "smaller than p0"),
        (required_trials, {"p0": 1.0, "p1": 0.9}, "p0"),
        (required_trials, {"p0": 0.9, "p1": 0.8, "power": 1.0}, "power"),
        (required_trials, {"p0": 0.9, "p1": 0.899, "max_trials": 100}, "not reached"),
        (exact_power, {"trials": -1, "p0": 0.9, "p1": 0.8}, "non-negative"),
        (exact_power, {"trials": 10, "p0": 0.9, "p1": 0.8, "alpha": 0.0}, "alpha"),
    ],
)
def test_invalid(func, kwargs, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=message):
        func(**kwargs)
