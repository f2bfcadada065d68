"""Power, sample size and minimal detectable drop for the exact one-sided binomial test.

The decision rule (:mod:`monitor.domain.evaluation`) flags a stratum when the exact test of H0: p >= goal
rejects after its family's multiplicity control; its power figures are these functions with ``p0`` the
performance goal and ``alpha`` the family's first-step level (:mod:`monitor.domain.decision_power`).

Design: H0: p >= p0 (a claim or a performance goal) against H1: p < p0, rejected at level
``alpha`` when ``X <= c`` where the critical value ``c`` is the largest ``k``
with ``binom.cdf(k, n, p0) <= alpha``. The exact power at a true value
``p1 < p0`` is ``binom.cdf(c, n, p1)`` (0 when no such ``k`` exists, i.e. the
test cannot reject at this ``n``).

Because ``c`` jumps in integer steps while ``n`` grows, the exact power is a
*saw-tooth* in ``n``: it is not monotone, so an ``n`` that reaches the target
power can be followed by larger ``n`` that do not. :func:`required_trials`
returns the **smallest n at which the exact power reaches the target**; this
is the definition that reproduces the table in regulatory.md section 4.7
(e.g. Se 0.90 -> 0.857, alpha 0.05, power 0.80: n = 350; normal approximation
336). See ``docs/methods.md`` for the "stable" n above which power never drops
below target again.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from monitor.stats.metrics import _as_count_array

__all__ = [
    "exact_power",
    "exact_powers",
    "required_trials",
    "required_trials_normal",
    "minimal_detectable_drop",
    "minimal_detectable_drops",
]

def _check_probability(value: float, name: str, *, open_interval: bool) -> float:
    v = float(value)
    ok = (0.0 < v < 1.0) if open_interval else (0.0 <= v <= 1.0)
    if not ok:
        bounds = "(0, 1)" if open_interval else "[0, 1]"
        raise ValueError(f"{name} must lie in {bounds}, got {value!r}")
    return v


def _critical_values(trials: np.ndarray, p0: float | np.ndarray, alpha: float) -> np.ndarray:
    """Largest k with ``binom.cdf(k, n, p0) <= alpha``, or -1 if none (vectorised over n)."""
    n = np.asarray(trials, dtype=np.int64)
    k = np.asarray(stats.binom.ppf(alpha, n, p0), dtype=np.float64)  # smallest k: cdf(k) >= alpha
    k = np.where(np.isnan(k), 0.0, k).astype(np.int64)
    c = np.where(stats.binom.cdf(k, n, p0) <= alpha, k, k - 1)
    # Guard against off-by-one from floating point in ppf: enforce the definition.
    for _ in range(3):
        too_high = (c >= 0) & (stats.binom.cdf(c, n, p0) > alpha)
        c = np.where(too_high, c - 1, c)
        can_grow = (c + 1 <= n) & (stats.binom.cdf(c + 1, n, p0) <= alpha)
        c = np.where(can_grow, c + 1, c)
    return np.maximum(c, -1)


def exact_powers(
    trials: ArrayLike,
    p0: float,
    p1: float,
    *,
    alpha: float = 0.05,
) -> np.ndarray:
    """Exact power of the one-sided binomial test, vectorised over ``trials``.

    Parameters
    ----------
    trials : array_like of int
        Sample sizes (e.g. reference-positive cases per stratum).
    p0 : float
        Null (claimed) proportion, H0: p >= p0; in (0, 1).
    p1 : float
        True proportion under the alternative, in [0, 1].
    alpha : float, default 0.05
        One-sided significance level, in (0, 1).

    Returns
    -------
    numpy.ndarray of float64
        ``binom.cdf(c_n, n, p1)`` for each n, 0 where no critical value exists.

    References
    ----------
    Chernick MR, Liu CY. The saw-toothed behavior of power versus sample size
    and software solutions: single binomial proportion using exact methods.
    Am Stat 2002;56:149-155.

    Examples
    --------
    >>> exact_powers([25, 100, 400], 0.90, 0.857).round(2).tolist()
    [0.14, 0.35, 0.83]
    """
    p0 = _check_probability(p0, "p0", open_interval=True)
    p1 = _check_probability(p1, "p1", open_interval=False)
    alpha = _check_probability(alpha, "alpha", open_interval=True)
    n = _as_count_array(trials, "trials")
    c = _critical_values(n, p0, alpha)
    power = np.where(c >= 0, stats.binom.cdf(np.maximum(c, 0), n, p1), 0.0)
    return np.asarray(power, dtype=np.float64)


def exact_power(trials: int, p0: float, p1: float, *, alpha: float = 0.05) -> float:
    """Exact power of the one-sided binomial test of H0: p >= p0 at true ``p1``.

    Parameters
    ----------
    trials : int
        Sample size n (e.g. reference-positive cases in the stratum).
    p0 : float
        Null (claimed) proportion, in (0, 1).
    p1 : float
        True proportion, in [0, 1]; usually ``p1 < p0``.
    alpha : float, default 0.05
        One-sided significance level.

    Returns
    -------
    float
        ``binom.cdf(c, n, p1)`` with ``c`` the largest k such that
        ``binom.cdf(k, n, p0) <= alpha``; 0.0 if no such k (including n = 0).

    References
    ----------
    Chernick MR, Liu CY. Am Stat 2002;56:149-155 (saw-tooth power of exact
    binomial tests). SciPy ``scipy.stats.binom``.

    Examples
    --------
    >>> round(exact_power(200, 0.90, 0.857), 2)
    0.58
    >>> exact_power(0, 0.90, 0.857)
    0.0
    """
    if np.ndim(trials) != 0:
        raise ValueError("exact_power takes a scalar trials; use exact_powers")
    return float(exact_powers(trials, p0, p1, alpha=alpha))


def required_trials(
    p0: float,
    p1: float,
    *,
    alpha: float = 0.05,
    power: float = 0.80,
    max_trials: int = 1_000_000,
) -> int:
    """Smallest n at which the exact one-sided binomial test reaches ``power``.

    Parameters
    ----------
    p0 : float
        Null (claimed) proportion, H0: p >= p0.
    p1 : float
        True proportion to detect, ``p1 < p0``.
    alpha : float, default 0.05
        One-sided significance level.
    power : float, default 0.80
        Target power, in (0, 1).
    max_trials : int, default 1_000_000
        Search limit.

    Returns
    -------
    int
        The smallest n with ``exact_power(n, p0, p1, alpha=alpha) >= power``.
        Because exact power is a saw-tooth in n, some larger n may fall
        slightly below ``power`` again (see ``docs/methods.md``).

    Raises
    ------
    ValueError
        If ``p1 >= p0``, a probability is out of range, or no n up to
        ``max_trials`` reaches the target.

    References
    ----------
    Chernick MR, Liu CY. Am Stat 2002;56:149-155. The values reproduce
    regulatory.md section 4.7 (computed with the same definition).

    Examples
    --------
    >>> required_trials(0.90, 0.857)
    350
    >>> required_trials(0.90, 0.857, alpha=0.0025)
    746
    """
    p0 = _check_probability(p0, "p0", open_interval=True)
    p1 = _check_probability(p1, "p1", open_interval=False)
    alpha = _check_probability(alpha, "alpha", open_interval=True)
    target = _check_probability(power, "power", open_interval=True)
    if not p1 < p0:
        raise ValueError(f"p1 must be smaller than p0 (a drop), got p0={p0}, p1={p1}")
    if int(max_trials) < 1:
        raise ValueError("max_trials must be >= 1")
    start, chunk = 1, 1024
    while start <= max_trials:
        stop = min(start + chunk, int(max_trials) + 1)
        n = np.arange(start, stop, dtype=np.int64)
        reached = np.flatnonzero(exact_powers(n, p0, p1, alpha=alpha) >= target)
        if reached.size:
            return int(n[reached[0]])
        start, chunk = stop, min(chunk * 2, 65_536)
    raise ValueError(
        f"exact power {target} not reached for n <= {max_trials} (p0={p0}, p1={p1}, alpha={alpha})"
    )


def required_trials_normal(
    p0: float,
    p1: float,
    *,
    alpha: float = 0.05,
    power: float = 0.80,
) -> int:
    """Normal-approximation sample size for the one-sided one-sample proportion test.

    ``n = ceil(((z_{1-alpha} sqrt(p0 (1-p0)) + z_{power} sqrt(p1 (1-p1))) / (p0 - p1))^2)``

    Parameters
    ----------
    p0 : float
        Null (claimed) proportion, H0: p >= p0.
    p1 : float
        True proportion to detect, ``p1 < p0``.
    alpha : float, default 0.05
        One-sided significance level.
    power : float, default 0.80
        Target power.

    Returns
    -------
    int
        Required number of trials (rounded up).

    Raises
    ------
    ValueError
        If ``p1 >= p0`` or a probability is out of range.

    References
    ----------
    Chow SC, Shao J, Wang H. Sample Size Calculations in Clinical Research,
    2nd ed. Chapman & Hall/CRC 2008, section 4.1 (one-sample proportion).

    Examples
    --------
    >>> required_trials_normal(0.90, 0.857)
    336
    >>> required_trials_normal(0.90, 0.857, alpha=0.0025)
    699
    """
    p0 = _check_probability(p0, "p0", open_interval=True)
    p1 = _check_probability(p1, "p1", open_interval=False)
    alpha = _check_probability(alpha, "alpha", open_interval=True)
    target = _check_probability(power, "power", open_interval=True)
    if not p1 < p0:
        raise ValueError(f"p1 must be smaller than p0 (a drop), got p0={p0}, p1={p1}")
    z_alpha = float(stats.norm.isf(alpha))
    z_beta = float(stats.norm.ppf(target))
    root_n = (z_alpha * math.sqrt(p0 * (1 - p0)) + z_beta * math.sqrt(p1 * (1 - p1))) / (p0 - p1)
    # Tiny tolerance so that an exact integer is not bumped up by rounding noise.
    return max(1, math.ceil(root_n**2 - 1e-9))


def minimal_detectable_drops(
    trials: ArrayLike,
    goal: ArrayLike,
    claim: ArrayLike,
    *,
    alpha: float = 0.05,
    power: float = 0.80,
) -> np.ndarray:
    """Minimal detectable drop below the claim of the exact test of H0: p >= goal (vectorised).

    The decision rule flags a stratum when the exact one-sided test of H0: p >= goal rejects; at a level
    ``alpha`` it rejects when ``X <= c`` (``c`` the largest k with ``binom.cdf(k, n, goal) <= alpha``). Its
    power at a true value ``p1`` is ``binom.cdf(c, n, p1)``, continuous and decreasing in ``p1``, so the
    true value at which the power is exactly ``power`` solves ``binom.cdf(c, n, p1*) = power``, i.e.
    ``p1* = beta.ppf(1 - power, c + 1, n - c)`` (binomial-beta identity). The minimal detectable drop is
    ``claim - p1*``: below the claim by at least this much, the rule flags with probability >= ``power``.

    Parameters
    ----------
    trials : array_like of int
        Sample size per stratum (whole numbers; round effective counts down before).
    goal : array_like of float
        Performance goal (the null value of the test), in (0, 1).
    claim : array_like of float
        The claim the drop is measured from (the goal plus the margin).
    alpha : float, default 0.05
        Level of the test (for a family: the level of its first step, e.g. alpha / m for Holm).
    power : float, default 0.80
        Target power.

    Returns
    -------
    numpy.ndarray of float64
        ``claim - p1*``, exact (no grid); NaN where the test cannot reject at this n (``n == 0`` or
        ``goal**n > alpha``).

    References
    ----------
    Chernick MR, Liu CY. Am Stat 2002;56:149-155. Johnson, Kemp & Kotz, Univariate Discrete
    Distributions, 3rd ed. 2005, section 3.6 (``P(X <= c) = 1 - I_p(c + 1, n - c)``). Oracle:
    ``scipy.stats.binom`` and a simulation (tests/unit/stats/test_stats_power.py, bench/bench_decision_rule.py).

    Examples
    --------
    >>> minimal_detectable_drops([0, 400, 2000], 0.88, 0.90, alpha=0.05).round(4).tolist()
    [nan, 0.0644, 0.0388]
    """
    alpha = _check_probability(alpha, "alpha", open_interval=True)
    target = _check_probability(power, "power", open_interval=True)
    n = _as_count_array(trials, "trials")
    goal_arr = np.asarray(goal, dtype=np.float64)
    if not np.all((goal_arr > 0.0) & (goal_arr < 1.0)):
        raise ValueError("goal must lie in (0, 1)")
    claim_arr = np.asarray(claim, dtype=np.float64)
    n, goal_arr, claim_arr = np.broadcast_arrays(n, goal_arr, claim_arr)
    c = _critical_values(n, goal_arr, alpha)
    ok = c >= 0
    c_ok = np.where(ok, c, 0)
    p1_star = stats.beta.ppf(1.0 - target, c_ok + 1, np.maximum(n - c_ok, 1))
    return np.where(ok, claim_arr - p1_star, np.nan).astype(np.float64)


def minimal_detectable_drop(
    trials: int,
    goal: float,
    claim: float,
    *,
    alpha: float = 0.05,
    power: float = 0.80,
) -> float:
    """Minimal detectable drop below ``claim`` of the exact test of H0: p >= ``goal`` at ``trials``.

    Parameters
    ----------
    trials : int
        Sample size (e.g. reference-positive cases in the stratum).
    goal : float
        Performance goal, the null value of the test.
    claim : float
        The claim the drop is measured from.
    alpha : float, default 0.05
        Level of the test.
    power : float, default 0.80
        Target power.

    Returns
    -------
    float
        ``claim - p1*`` with ``exact_power(trials, goal, p1*, alpha=alpha) == power`` (see
        :func:`minimal_detectable_drops`); NaN when the test can never reject at this ``trials``.

    References
    ----------
    Chernick MR, Liu CY. Am Stat 2002;56:149-155.

    Examples
    --------
    >>> round(minimal_detectable_drop(350, 0.90, 0.90), 4)
    0.043
    >>> minimal_detectable_drop(0, 0.88, 0.90)
    nan
    """
    if np.ndim(trials) != 0 or np.ndim(goal) != 0 or np.ndim(claim) != 0:
        raise ValueError("minimal_detectable_drop takes scalars; use minimal_detectable_drops")
    return float(minimal_detectable_drops(trials, goal, claim, alpha=alpha, power=power)[()])
