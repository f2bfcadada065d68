"""Comparison of two independent binomial proportions.

Used for the NMPA-style "significant difference from the registered
performance" check (current period vs reference period) and for the equity /
subgroup signal (a stratum vs the rest of the population), regulatory.md 4.2.

* The interval for ``p_a - p_b`` is always the **Newcombe hybrid score**
  interval (Newcombe 1998, method 10), built from the two Wilson intervals:
  ``L = d - sqrt((p_a - l_a)^2 + (u_b - p_b)^2)`` and
  ``U = d + sqrt((u_a - p_a)^2 + (p_b - l_b)^2)``; this is statsmodels
  ``confint_proportions_2indep(method="newcomb")``.
* The p-value is either **Fisher's exact test** on the 2x2 table
  (``scipy.stats.fisher_exact``, conditional on both margins) or the pooled
  **two-proportion z test** (``statsmodels.stats.proportion.proportions_ztest``,
  identical to Pearson's chi-square test without continuity correction).

``alternative="less"`` means H1: ``p_a < p_b`` (e.g. the current sensitivity is
below the reference); ``"greater"`` means H1: ``p_a > p_b``. An empty group
(``trials == 0``) gives NaN results rather than an exception.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from monitor.stats._checks import check_confidence as _check_confidence
from monitor.stats.metrics import _validate_fraction

__all__ = [
    "Alternative",
    "ALTERNATIVES",
    "ProportionTest",
    "PROPORTION_TESTS",
    "ProportionComparison",
    "newcombe_difference",
    "newcombe_differences",
    "compare_proportions",
    "compare_to_reference",
    "stratum_vs_rest",
]

Alternative = Literal["two-sided", "less", "greater"]
ALTERNATIVES: Final[tuple[str, ...]] = get_args(Alternative)
ProportionTest = Literal["fisher", "z"]
PROPORTION_TESTS: Final[tuple[str, ...]] = get_args(ProportionTest)

_STATSMODELS_ALTERNATIVE: Final[dict[str, str]] = {
    "two-sided": "two-sided",
    "less": "smaller",
    "greater": "larger",
}


@dataclass(frozen=True)
class ProportionComparison:
    """Comparison of proportion ``a`` with proportion ``b``.

    Attributes
    ----------
    estimate_a, estimate_b : float
        Observed proportions (NaN for an empty group).
    difference : float
        ``estimate_a - estimate_b``.
    ci_low, ci_high : float
        Two-sided Newcombe hybrid score interval for ``p_a - p_b``.
    p_value : float
        P-value of the chosen test and alternative.
    method : str
        The test that produced ``p_value``: ``"fisher"`` or ``"z"``.
    """

    estimate_a: float
    estimate_b: float
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    method: str



def newcombe_differences(
    successes_a: ArrayLike,
    trials_a: ArrayLike,
    successes_b: ArrayLike,
    trials_b: ArrayLike,
    *,
    confidence: float = 0.95,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised Newcombe hybrid score intervals for ``p_a - p_b``.

    Parameters
    ----------
    successes_a, trials_a, successes_b, trials_b : array_like of int
        Binomial counts of the two independent groups, broadcastable to a
        common shape.
    confidence : float, default 0.95
        Two-sided confidence level.

    Returns
    -------
    difference, lower, upper : numpy.ndarray of float64
        Observed difference and interval limits (in [-1, 1]), broadcast shape
        of the inputs; NaN where either group has ``trials == 0``.

    Raises
    ------
    ValueError
        Negative or non-integral counts, ``successes > trials``, incompatible
        shapes, or ``confidence`` outside (0, 1).

    References
    ----------
    Newcombe RG. Interval estimation for the difference between independent
    proportions: comparison of eleven methods. Stat Med 1998;17:873-890
    (method 10). statsmodels ``confint_proportions_2indep(method="newcomb")``.

    Examples
    --------
    >>> d, lo, hi = newcombe_differences([56, 9, 0], [70, 10, 0], [48, 3, 1], [80, 10, 4])
    >>> np.round(d, 4).tolist(), np.round(lo, 4).tolist(), np.round(hi, 4).tolist()
    ([0.2, 0.6, nan], [0.0524, 0.1705, nan], [0.3339, 0.809, nan])
    """
    alpha = 1.0 - _check_confidence(confidence)
    ka, na = _validate_fraction(successes_a, trials_a)
    kb, nb = _validate_fraction(successes_b, trials_b)
    try:
        ka, na, kb, nb = np.broadcast_arrays(ka, na, kb, nb)
    except ValueError as exc:
        raise ValueError("the counts of group a and group b have incompatible shapes") from exc
    empty = (na == 0) | (nb == 0)
    # statsmodels on safe denominators, then blank the empty cells.
    na_safe = np.where(empty, 1, na)
    nb_safe = np.where(empty, 1, nb)
    ka_safe = np.where(empty, 0, ka)
    kb_safe = np.where(empty, 0, kb)
    low, upp = confint_proportions_2indep(
        ka_safe, na_safe, kb_safe, nb_safe, method="newcomb", compare="diff", alpha=alpha
    )
    diff = ka_safe / na_safe - kb_safe / nb_safe
    diff = np.array(diff, dtype=np.float64, copy=True).reshape(ka.shape)
    low = np.array(low, dtype=np.float64, copy=True).reshape(ka.shape)
    upp = np.array(upp, dtype=np.float64, copy=True).reshape(ka.shape)
    for arr in (diff, low, upp):
        arr[empty] = np.nan
    np.clip(low, -1.0, 1.0, out=low)
    np.clip(upp, -1.0, 1.0, out=upp)
    return diff, low, upp


def newcombe_difference(
    successes_a: int,
    trials_a: int,
    successes_b: int,
    trials_b: int,
    *,
    confidence: float = 0.95,
) -> tuple[float, float, float]:
    """Newcombe hybrid score interval (method 10) for the difference ``p_a - p_b``.

    Parameters
    ----------
    successes_a, trials_a : int
        Counts of group a (e.g. the current period or the stratum).
    successes_b, trials_b : int
        Counts of group b (e.g. the reference period or the rest).
    confidence : float, default 0.95
        Two-sided confidence level; for a one-sided 97.5% bound use the
        matching limit of the two-sided 95% interval.

    Returns
    -------
    tuple of float
        ``(difference, lower, upper)``; all NaN when either group is empty.

    Raises
    ------
    ValueError
        Negative or non-integral counts, ``successes > trials``, non-scalar
        input, or ``confidence`` outside (0, 1).

    References
    ----------
    Newcombe RG. Stat Med 1998;17:873-890 (method 10, Table II).
    Wilson EB. J Am Stat Assoc 1927;22:209-212.

    Examples
    --------
    Newcombe (1998), Table II, example (a): 56/70 vs 48/80.

    >>> [round(x, 4) for x in newcombe_difference(56, 70, 48, 80)]
    [0.2, 0.0524, 0.3339]
    >>> newcombe_difference(3, 10, 0, 0)
    (nan, nan, nan)
    """
    if any(np.ndim(x) != 0 for x in (successes_a, trials_a, successes_b, trials_b)):
        raise ValueError("newcombe_difference takes scalar counts; use newcombe_differences")
    d, lo, hi = newcombe_differences(successes_a, trials_a, successes_b, trials_b, confidence=confidence)
    return float(d), float(lo), float(hi)


def _z_pvalue(ka: int, na: int, kb: int, nb: int, alternative: str) -> float:
    pooled = (ka + kb) / (na + nb)
    if pooled in (0.0, 1.0):
        # Both groups all failures (or all successes): the observed difference
        # is 0 and the pooled variance is 0; there is no evidence of a difference.
        return 1.0
    _, p = proportions_ztest(
        np.array([ka, kb]), np.array([na, nb]), value=0, alternative=_STATSMODELS_ALTERNATIVE[alternative]
    )
    return float(p)


def compare_proportions(
    successes_a: int,
    trials_a: int,
    successes_b: int,
    trials_b: int,
    *,
    alternative: Alternative = "two-sided",
    test: ProportionTest = "fisher",
    confidence: float = 0.95,
) -> ProportionComparison:
    """Compare two independent proportions: test, difference and Newcombe interval.

    Parameters
    ----------
    successes_a, trials_a : int
        Counts of group a.
    successes_b, trials_b : int
        Counts of group b.
    alternative : {"two-sided", "less", "greater"}, default "two-sided"
        H1 of the test: ``p_a != p_b``, ``p_a < p_b`` or ``p_a > p_b``.
    test : {"fisher", "z"}, default "fisher"
        ``"fisher"``: Fisher's exact test on the 2x2 table
        ``[[k_a, n_a - k_a], [k_b, n_b - k_b]]`` (``scipy.stats.fisher_exact``;
        the two-sided p-value sums the tables no more likely than the observed
        one). ``"z"``: pooled two-proportion z test
        (``statsmodels proportions_ztest``); when the pooled proportion is 0 or 1
        the p-value is 1.
    confidence : float, default 0.95
        Two-sided level of the Newcombe interval. The interval is two-sided for
        every ``alternative``.

    Returns
    -------
    ProportionComparison
        When either group is empty, its estimate, the difference, the interval
        and the p-value are NaN.

    Raises
    ------
    ValueError
        Invalid counts, unknown ``alternative`` or ``test``, or ``confidence``
        outside (0, 1).

    References
    ----------
    Fisher RA. On the interpretation of chi-square from contingency tables,
    and the calculation of P. J R Stat Soc 1922;85:87-94.
    Agresti A. Categorical Data Analysis, 3rd ed. Wiley 2013, sections 3.5
    (Fisher) and 2.3 / 3.1 (two-proportion z test).
    Newcombe RG. Stat Med 1998;17:873-890.

    Examples
    --------
    >>> r = compare_proportions(56, 70, 48, 80)
    >>> round(r.difference, 4), round(r.ci_low, 4), round(r.ci_high, 4), r.method
    (0.2, 0.0524, 0.3339, 'fisher')
    >>> round(r.p_value, 4)
    0.0125
    >>> round(compare_proportions(56, 70, 48, 80, test="z", alternative="greater").p_value, 4)
    0.004
    """
    if alternative not in ALTERNATIVES:
        raise ValueError(f"unknown alternative {alternative!r}; expected one of {ALTERNATIVES}")
    if test not in PROPORTION_TESTS:
        raise ValueError(f"unknown test {test!r}; expected one of {PROPORTION_TESTS}")
    if any(np.ndim(x) != 0 for x in (successes_a, trials_a, successes_b, trials_b)):
        raise ValueError("compare_proportions takes scalar counts")
    diff, low, high = newcombe_difference(successes_a, trials_a, successes_b, trials_b, confidence=confidence)
    ka, na = (int(x) for x in _validate_fraction(successes_a, trials_a))
    kb, nb = (int(x) for x in _validate_fraction(successes_b, trials_b))
    est_a = ka / na if na > 0 else float("nan")
    est_b = kb / nb if nb > 0 else float("nan")
    if na == 0 or nb == 0:
        p_value = float("nan")
    elif test == "fisher":
        table = np.array([[ka, na - ka], [kb, nb - kb]])
        p_value = float(stats.fisher_exact(table, alternative=alternative).pvalue)
    else:
        p_value = _z_pvalue(ka, na, kb, nb, alternative)
    return ProportionComparison(
        estimate_a=float(est_a),
        estimate_b=float(est_b),
        difference=diff,
        ci_low=low,
        ci_high=high,
        p_value=min(p_value, 1.0) if np.isfinite(p_value) else p_value,
        method=test,
    )


def compare_to_reference(
    successes: int,
    trials: int,
    reference_successes: int,
    reference_trials: int,
    **kw: Any,
) -> ProportionComparison:
    """Compare the current period (a) with a reference period (b).

    For the "statistically significant difference from the registered
    performance" check (regulatory.md 4.2): the current period's counts against
    the counts of the reference (e.g. registration or baseline) period, on the
    same reference standard and a comparable population.

    Parameters
    ----------
    successes, trials : int
        Counts of the current period (group a).
    reference_successes, reference_trials : int
        Counts of the reference period (group b).
    **kw
        ``alternative``, ``test`` and ``confidence`` of
        :func:`compare_proportions`. ``alternative="less"`` tests whether the
        current proportion is below the reference.

    Returns
    -------
    ProportionComparison
        ``difference = current - reference``.

    Raises
    ------
    ValueError
        As :func:`compare_proportions`.

    References
    ----------
    Newcombe RG. Stat Med 1998;17:873-890. Fisher RA. J R Stat Soc
    1922;85:87-94.

    Examples
    --------
    >>> r = compare_to_reference(160, 200, 450, 500, alternative="less")
    >>> round(r.difference, 2), round(r.ci_low, 4), round(r.ci_high, 4)
    (-0.1, -0.1652, -0.0424)
    >>> r.p_value < 0.001
    True
    """
    return compare_proportions(successes, trials, reference_successes, reference_trials, **kw)


def stratum_vs_rest(
    successes: int,
    trials: int,
    total_successes: int,
    total_trials: int,
    **kw: Any,
) -> ProportionComparison:
    """Compare a stratum (a) with the rest of the population (b = total minus stratum).

    Parameters
    ----------
    successes, trials : int
        Counts of the stratum.
    total_successes, total_trials : int
        Counts of the whole population, *including* the stratum.
    **kw
        ``alternative``, ``test`` and ``confidence`` of
        :func:`compare_proportions`. ``alternative="less"`` tests whether the
        stratum is below the rest.

    Returns
    -------
    ProportionComparison
        ``difference = stratum - rest``; NaN results when the stratum or the
        rest is empty.

    Raises
    ------
    ValueError
        As :func:`compare_proportions`, or when the stratum is not contained in
        the total (more successes, trials or failures than the total).

    References
    ----------
    Newcombe RG. Stat Med 1998;17:873-890. Fisher RA. J R Stat Soc
    1922;85:87-94.

    Examples
    --------
    >>> r = stratum_vs_rest(30, 40, 530, 600)
    >>> round(r.estimate_a, 4), round(r.estimate_b, 4), round(r.difference, 4)
    (0.75, 0.8929, -0.1429)
    >>> round(r.ci_low, 4), round(r.ci_high, 4)
    (-0.2965, -0.0311)
    """
    if any(np.ndim(x) != 0 for x in (successes, trials, total_successes, total_trials)):
        raise ValueError("stratum_vs_rest takes scalar counts")
    k, n = (int(x) for x in _validate_fraction(successes, trials))
    tk, tn = (int(x) for x in _validate_fraction(total_successes, total_trials))
    if k > tk or n > tn or (n - k) > (tn - tk):
        raise ValueError(
            "the stratum must be part of the total: got stratum "
            f"{k}/{n} and total {tk}/{tn} (successes, trials and failures must not exceed the total's)"
        )
    return compare_proportions(k, n, tk - k, tn - n, **kw)
