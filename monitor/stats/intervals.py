"""Two-sided confidence intervals for a binomial proportion.

Thin, validated wrapper around
:func:`statsmodels.stats.proportion.proportion_confint` with the three methods
recommended for SaMD performance monitoring (regulatory.md section 4.1):

* ``"wilson"`` (default) - Wilson score interval;
* ``"clopper-pearson"`` - exact interval (statsmodels method ``"beta"``),
  guaranteed coverage >= the nominal level;
* ``"jeffreys"`` - equal-tailed Jeffreys-prior interval (statsmodels
  ``"jeffreys"``) with the Brown-Cai-DasGupta boundary convention
  (lower = 0 when successes = 0, upper = 1 when successes = trials).

``trials == 0`` gives ``(nan, nan)``; ``successes > trials`` raises ValueError.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

import numpy as np
from numpy.typing import ArrayLike
from statsmodels.stats.proportion import proportion_confint

from monitor.stats.metrics import _validate_fraction

__all__ = ["IntervalMethod", "INTERVAL_METHODS", "proportion_interval", "proportion_intervals"]

IntervalMethod = Literal["wilson", "clopper-pearson", "jeffreys"]
INTERVAL_METHODS: Final[tuple[str, ...]] = get_args(IntervalMethod)

_STATSMODELS_METHOD: Final[dict[str, str]] = {
    "wilson": "wilson",
    "clopper-pearson": "beta",
    "jeffreys": "jeffreys",
}


def _check_options(confidence: float, method: str) -> None:
    if method not in _STATSMODELS_METHOD:
        raise ValueError(f"unknown interval method {method!r}; expected one of {INTERVAL_METHODS}")
    if not (isinstance(confidence, (int, float, np.floating)) and 0.0 < float(confidence) < 1.0):
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence!r}")


def proportion_intervals(
    successes: ArrayLike,
    trials: ArrayLike,
    *,
    confidence: float = 0.95,
    method: IntervalMethod = "wilson",
) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised two-sided confidence intervals for binomial proportions.

    Parameters
    ----------
    successes, trials : array_like of int
        Binomial counts, broadcastable to a common shape.
    confidence : float, default 0.95
        Two-sided confidence level; each tail has ``(1 - confidence) / 2``.
    method : {"wilson", "clopper-pearson", "jeffreys"}, default "wilson"
        Interval method (see module docstring).

    Returns
    -------
    lower, upper : numpy.ndarray of float64
        Interval limits in [0, 1], broadcast shape of the inputs (0-d for
        scalars). ``(nan, nan)`` where ``trials == 0``.

    Raises
    ------
    ValueError
        Unknown ``method``, ``confidence`` outside (0, 1), negative or
        non-integral counts, or ``successes > trials``.

    Notes
    -----
    Wilson and Jeffreys have *average* coverage close to the nominal level but
    their pointwise coverage oscillates (down to about 92% for a 95% interval
    at n >= 30, lower near p = 0 or 1 for Jeffreys). Clopper-Pearson never
    covers less than the nominal level but is wider. See ``docs/methods.md``.

    References
    ----------
    Wilson EB. Probable inference, the law of succession, and statistical
    inference. J Am Stat Assoc 1927;22:209-212.
    Clopper CJ, Pearson ES. The use of confidence or fiducial limits
    illustrated in the case of the binomial. Biometrika 1934;26:404-413.
    Brown LD, Cai TT, DasGupta A. Interval estimation for a binomial
    proportion. Stat Sci 2001;16:101-133 (Jeffreys interval, section 4.1.2).

    Examples
    --------
    >>> lo, hi = proportion_intervals([45, 0], [50, 0])
    >>> np.round(lo, 4).tolist(), np.round(hi, 4).tolist()
    ([0.7864, nan], [0.9565, nan])
    """
    _check_options(confidence, method)
    k, n = _validate_fraction(successes, trials)
    empty = n == 0
    # Call statsmodels on safe denominators, then blank the n == 0 cells.
    n_safe = np.where(empty, 1, n)
    k_safe = np.where(empty, 0, k)
    lower, upper = proportion_confint(
        k_safe,
        n_safe,
        alpha=1.0 - float(confidence),
        method=_STATSMODELS_METHOD[method],
    )
    lower = np.array(lower, dtype=np.float64, copy=True).reshape(k.shape)
    upper = np.array(upper, dtype=np.float64, copy=True).reshape(k.shape)
    if method == "jeffreys":
        # Brown, Cai & DasGupta (2001) boundary convention: L(0) = 0, U(n) = 1.
        lower[k_safe == 0] = 0.0
        upper[k_safe == n_safe] = 1.0
    lower[empty] = np.nan
    upper[empty] = np.nan
    return lower, upper


def proportion_interval(
    successes: int,
    trials: int,
    *,
    confidence: float = 0.95,
    method: IntervalMethod = "wilson",
) -> tuple[float, float]:
    """Two-sided confidence interval for one binomial proportion.

    Parameters
    ----------
    successes : int
        Number of successes (e.g. true positives for sensitivity).
    trials : int
        Number of trials (e.g. reference-positive cases).
    confidence : float, default 0.95
        Two-sided confidence level.
    method : {"wilson", "clopper-pearson", "jeffreys"}, default "wilson"
        Interval method; see :func:`proportion_intervals`.

    Returns
    -------
    tuple of float
        ``(lower, upper)``; ``(nan, nan)`` when ``trials == 0``.

    Raises
    ------
    ValueError
        Unknown ``method``, ``confidence`` outside (0, 1), negative or
        non-integral counts, non-scalar input, or ``successes > trials``.

    References
    ----------
    Wilson EB. J Am Stat Assoc 1927;22:209-212.
    Clopper CJ, Pearson ES. Biometrika 1934;26:404-413.
    Brown LD, Cai TT, DasGupta A. Stat Sci 2001;16:101-133.

    Examples
    --------
    >>> [round(x, 4) for x in proportion_interval(45, 50)]
    [0.7864, 0.9565]
    >>> [round(x, 4) for x in proportion_interval(45, 50, method="clopper-pearson")]
    [0.7819, 0.9667]
    >>> proportion_interval(0, 0)
    (nan, nan)
    """
    if np.ndim(successes) != 0 or np.ndim(trials) != 0:
        raise ValueError("proportion_interval takes scalar counts; use proportion_intervals")
    lower, upper = proportion_intervals(successes, trials, confidence=confidence, method=method)
    return float(lower), float(upper)
