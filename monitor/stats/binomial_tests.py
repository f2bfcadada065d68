"""Exact one-sided binomial tests against a premarket claim or a performance goal.

* :func:`claim_shortfall_pvalue(s)`: H0: p >= claim versus H1: p < claim on integer counts,
  ``P(X <= successes | X ~ Binomial(trials, claim))``, i.e.
  ``scipy.stats.binomtest(successes, trials, claim, alternative="less").pvalue`` (R's
  ``binom.test(k, n, p, alternative = "less")``).
* :func:`goal_tests`: both one-sided exact tests against a goal g on counts that may be *fractional*
  (effective counts of adjusted evidence), with their log10 p-values, through the regularized incomplete
  beta function: ``P(X <= x) = I_{1-g}(n - x, x + 1)`` and ``P(X >= x) = I_g(x, n - x + 1)``. For whole
  counts these are the binomial tail probabilities (``scipy.stats.binomtest``); the test of H0: p >= g
  rejects at level a exactly when the one-sided Clopper-Pearson upper bound at confidence 1 - a lies
  below g (the duality the decision rule is stated in). For fractional counts they are the
  Korn-Graubard effective-sample-size version of the same test.
* :func:`log_betainc`: the natural log of the regularized incomplete beta function, exact into the
  range where the function itself underflows (p-values below 1e-300 are kept as log10 values).
* :func:`exact_interval`: the two-sided Clopper-Pearson interval on (possibly fractional) counts.

References
----------
Clopper CJ, Pearson ES. Biometrika 1934;26:404-413. Korn EL, Graubard BI. Survey Methodology
1998;24:193-201. Press WH et al. Numerical Recipes, 3rd ed. 2007, section 6.4 (continued fraction of the
incomplete beta function, modified Lentz evaluation). Johnson, Kemp & Kotz, Univariate Discrete
Distributions, 3rd ed. 2005, section 3.6 (binomial-beta identity).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import special, stats

from monitor.stats.metrics import _validate_fraction

__all__ = ["GoalTests", "claim_shortfall_pvalue", "claim_shortfall_pvalues", "exact_interval", "goal_tests",
           "log_betainc"]

_LN10 = float(np.log(10.0))
#: below this, ``scipy.special.betainc`` is taken to have lost its relative precision (subnormal range)
_DIRECT_FLOOR = 1e-290
_CF_EPS = 1e-15
_CF_TINY = 1e-300
_CF_MAX_ITERATIONS = 20_000


def _as_claims(claims: ArrayLike) -> np.ndarray:
    arr = np.asarray(claims, dtype=np.float64)
    if not np.all((arr >= 0.0) & (arr <= 1.0)):
        raise ValueError("claim must be a probability in [0, 1] (NaN not allowed)")
    return arr


def claim_shortfall_pvalue(successes: int, trials: int, claim: float) -> float:
    """Exact one-sided p-value for H0: p >= claim against H1: p < claim.

    Parameters
    ----------
    successes : int
        Observed successes (e.g. true positives).
    trials : int
        Number of trials (e.g. reference-positive cases).
    claim : float
        Claimed (premarket) proportion or performance goal, in [0, 1].

    Returns
    -------
    float
        ``P(X <= successes)`` for ``X ~ Binomial(trials, claim)``; NaN when
        ``trials == 0``.

    Raises
    ------
    ValueError
        Negative or non-integral counts, ``successes > trials``, or ``claim``
        outside [0, 1].

    References
    ----------
    Clopper CJ, Pearson ES. Biometrika 1934;26:404-413 (exact binomial
    inference). SciPy ``scipy.stats.binomtest``; R ``binom.test``.

    Examples
    --------
    >>> round(claim_shortfall_pvalue(40, 50, 0.9), 6)
    0.024538
    >>> claim_shortfall_pvalue(0, 0, 0.9)
    nan
    """
    if np.ndim(successes) != 0 or np.ndim(trials) != 0 or np.ndim(claim) != 0:
        raise ValueError("claim_shortfall_pvalue takes scalars; use claim_shortfall_pvalues")
    k, n = _validate_fraction(successes, trials)
    p0 = float(_as_claims(claim))
    if int(n) == 0:
        return float("nan")
    return float(stats.binomtest(int(k), int(n), p0, alternative="less").pvalue)


def claim_shortfall_pvalues(
    successes: ArrayLike,
    trials: ArrayLike,
    claims: ArrayLike,
) -> np.ndarray:
    """Vectorised exact one-sided p-values for H0: p >= claim vs H1: p < claim.

    Parameters
    ----------
    successes, trials : array_like of int
        Binomial counts, broadcastable to a common shape.
    claims : array_like of float
        Claimed proportions in [0, 1], broadcastable with the counts.

    Returns
    -------
    numpy.ndarray of float64
        ``scipy.stats.binom.cdf(successes, trials, claims)`` (identical to the
        exact one-sided ``binomtest`` p-value), NaN where ``trials == 0``.

    Raises
    ------
    ValueError
        Negative or non-integral counts, ``successes > trials``, or a claim
        outside [0, 1].

    References
    ----------
    Clopper CJ, Pearson ES. Biometrika 1934;26:404-413. SciPy
    ``scipy.stats.binom``; R ``binom.test(alternative = "less")``.

    Examples
    --------
    >>> np.round(claim_shortfall_pvalues([40, 45, 0], [50, 50, 0], 0.9), 6).tolist()
    [0.024538, 0.568802, nan]
    """
    k, n = _validate_fraction(successes, trials)
    p0 = _as_claims(claims)
    k, n, p0 = np.broadcast_arrays(k, n, p0)
    out = np.asarray(stats.binom.cdf(k, n, p0), dtype=np.float64).copy()
    out[n == 0] = np.nan
    np.minimum(out, 1.0, out=out)
    return out


def _log_beta_continued_fraction(a: np.ndarray, b: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``log I_x(a, b)`` by the continued fraction (Numerical Recipes 6.4, modified Lentz), for
    ``x < (a + 1) / (a + b + 2)``, where it converges; vectorised, iterating until every element has."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = np.ones_like(x)
    d = 1.0 - qab * x / qap
    d = 1.0 / np.where(np.abs(d) < _CF_TINY, _CF_TINY, d)
    h = d.copy()
    done = np.zeros(x.shape, dtype=bool)
    for m in range(1, _CF_MAX_ITERATIONS + 1):
        m2 = 2.0 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + aa * d
            d = 1.0 / np.where(np.abs(d) < _CF_TINY, _CF_TINY, d)
            c = 1.0 + aa / c
            c = np.where(np.abs(c) < _CF_TINY, _CF_TINY, c)
            step = d * c
            h = np.where(done, h, h * step)
        done |= np.abs(step - 1.0) < _CF_EPS
        if done.all():
            break
    front = a * np.log(x) + b * np.log1p(-x) - special.betaln(a, b) - np.log(a)
    return front + np.log(h)


def log_betainc(a: ArrayLike, b: ArrayLike, x: ArrayLike) -> np.ndarray:
    """Natural log of the regularized incomplete beta function ``I_x(a, b)``, exact where it underflows.

    Parameters
    ----------
    a, b : array_like of float
        Positive shape parameters.
    x : array_like of float
        Points in [0, 1].

    Returns
    -------
    numpy.ndarray of float64
        (at least 1-d) ``log(scipy.special.betainc(a, b, x))`` where that is at least 1e-290; below it (where the float
        result loses precision or underflows to 0) the continued fraction of Numerical Recipes 6.4 in
        log space. ``-inf`` at ``x == 0``, 0 at ``x == 1``.

    References
    ----------
    Press WH, Teukolsky SA, Vetterling WT, Flannery BP. Numerical Recipes, 3rd ed. 2007, section 6.4.
    SciPy ``scipy.special.betainc``.

    Examples
    --------
    >>> float(np.round(log_betainc(2.0, 3.0, 0.4)[0] - np.log(special.betainc(2.0, 3.0, 0.4)), 12))
    0.0
    >>> round(float(log_betainc(10_000.0, 1.0, 0.5)[0] / np.log(10)), 2)  # 0.5**10000
    -3010.3
    """
    a_arr, b_arr, x_arr = (np.array(v, dtype=np.float64) for v in
                           np.broadcast_arrays(*(np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in (a, b, x))))
    if np.any(~(a_arr > 0)) or np.any(~(b_arr > 0)):
        raise ValueError("log_betainc needs positive shape parameters")
    if np.any(~((x_arr >= 0.0) & (x_arr <= 1.0))):
        raise ValueError("log_betainc needs x in [0, 1]")
    direct = special.betainc(a_arr, b_arr, x_arr)
    with np.errstate(divide="ignore"):
        out = np.log(direct)
    tail = (direct < _DIRECT_FLOOR) & (x_arr > 0.0)
    if np.any(tail):
        out[tail] = _log_beta_continued_fraction(a_arr[tail], b_arr[tail], x_arr[tail])
    return out


@dataclass(frozen=True)
class GoalTests:
    """Both exact one-sided tests of a proportion against a goal (arrays, NaN where ``trials == 0``).

    ``p_shortfall``: H0: p >= goal (small when the proportion is shown to be below the goal);
    ``p_conformity``: H0: p <= goal (small when it is shown to be above it); ``log10_*``: their
    base-10 logs, finite even where the float p-value underflows to 0.
    """

    p_shortfall: np.ndarray
    log10_p_shortfall: np.ndarray
    p_conformity: np.ndarray
    log10_p_conformity: np.ndarray


def _as_evidence(successes: ArrayLike, trials: ArrayLike, goals: ArrayLike) -> tuple[np.ndarray, ...]:
    x, n, g = (np.array(v, dtype=np.float64) for v in
               np.broadcast_arrays(*(np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in (successes, trials, goals))))
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(n)) and np.all(np.isfinite(g))):
        raise ValueError("successes, trials and goals must be finite numbers")
    if np.any(x < 0) or np.any(n < 0) or np.any(x > n * (1 + 1e-12)):
        raise ValueError("counts must satisfy 0 <= successes <= trials")
    return np.minimum(x, n), n, np.clip(g, 0.0, 1.0)


def goal_tests(successes: ArrayLike, trials: ArrayLike, goals: ArrayLike) -> GoalTests:
    """Exact one-sided tests of H0: p >= goal and of H0: p <= goal, on possibly fractional counts.

    Parameters
    ----------
    successes, trials : array_like of float
        Counts, whole or effective (Korn-Graubard); ``0 <= successes <= trials``.
    goals : array_like of float
        Performance goals (clipped to [0, 1]), broadcast with the counts.

    Returns
    -------
    GoalTests
        ``p_shortfall = I_{1-g}(n - x, x + 1)`` (``= P(X <= x)`` for whole counts; 1 when ``x == n``) and
        ``p_conformity = I_g(x, n - x + 1)`` (``= P(X >= x)``; 1 when ``x == 0``), with their log10 values.

    References
    ----------
    Clopper CJ, Pearson ES. Biometrika 1934;26:404-413. Korn EL, Graubard BI. Survey Methodology
    1998;24:193-201. Oracle: ``scipy.stats.binomtest`` (tests/unit/stats/test_stats_binomial_tests.py).

    Examples
    --------
    >>> t = goal_tests([40, 49], [50, 50], 0.88)
    >>> np.round(t.p_shortfall, 4).tolist(), np.round(t.p_conformity, 4).tolist()
    ([0.0708, 0.9983], [0.9675, 0.0131])
    """
    x, n, g = _as_evidence(successes, trials, goals)
    empty = n <= 0
    log_short = np.zeros(x.shape)
    log_conf = np.zeros(x.shape)
    below = (x < n) & ~empty  # p_shortfall < 1
    if np.any(below):
        log_short[below] = log_betainc(n[below] - x[below], x[below] + 1.0, 1.0 - g[below])
    above = (x > 0) & ~empty  # p_conformity < 1
    if np.any(above):
        log_conf[above] = log_betainc(x[above], n[above] - x[above] + 1.0, g[above])
    log10_short, log10_conf = np.asarray(log_short / _LN10), np.asarray(log_conf / _LN10)
    log10_short[empty] = np.nan
    log10_conf[empty] = np.nan
    return GoalTests(p_shortfall=np.power(10.0, log10_short), log10_p_shortfall=log10_short,
                     p_conformity=np.power(10.0, log10_conf), log10_p_conformity=log10_conf)


def exact_interval(successes: ArrayLike, trials: ArrayLike, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided Clopper-Pearson interval on possibly fractional counts (Korn-Graubard for effective counts).

    Parameters
    ----------
    successes, trials : array_like of float
        Counts, whole or effective.
    confidence : float
        Two-sided confidence level in (0, 1).

    Returns
    -------
    tuple of numpy.ndarray
        ``(beta.ppf(a/2, x, n - x + 1), beta.ppf(1 - a/2, x + 1, n - x))`` with 0 / 1 at the edges and NaN
        where ``trials == 0``; equal to ``statsmodels proportion_confint(method="beta")`` for whole counts.

    References
    ----------
    Clopper CJ, Pearson ES. Biometrika 1934;26:404-413. Korn EL, Graubard BI. Survey Methodology
    1998;24:193-201.

    Examples
    --------
    >>> low, high = exact_interval([45], [50], 0.95)
    >>> round(float(low[0]), 4), round(float(high[0]), 4)
    (0.7819, 0.9667)
    """
    if not 0.0 < float(confidence) < 1.0:
        raise ValueError("confidence must lie in (0, 1)")
    x, n, _ = _as_evidence(successes, trials, 0.5)
    tail = (1.0 - float(confidence)) / 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        low = np.where(x > 0, stats.beta.ppf(tail, np.maximum(x, 1e-300), n - x + 1.0), 0.0)
        high = np.where(x < n, stats.beta.ppf(1.0 - tail, x + 1.0, np.maximum(n - x, 1e-300)), 1.0)
    empty = n <= 0
    low, high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
    low[empty] = np.nan
    high[empty] = np.nan
    return low, high
