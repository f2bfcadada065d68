"""Bland-Altman agreement of two measurements from streamed sums.

The paired differences ``d_i`` (for segmentation volumes: ``log(AI volume / reviewed volume)``,
Bland & Altman 1999 section 3, so that the limits become ratios) enter only through
``n``, ``sum d`` and ``sum d^2``, which a database computes with one GROUP BY:

* bias ``d_bar`` with the t interval ``d_bar -/+ t_{n-1} s / sqrt(n)``;
* 95% limits of agreement ``d_bar -/+ z_{0.975} s`` (the ``coverage`` of the differences they
  are meant to contain is configurable);
* confidence intervals for each limit, either **exact** (Carkeet 2015: ``sqrt(n) (LoA - d_bar) / s``
  follows a noncentral t distribution with ``n - 1`` degrees of freedom and noncentrality
  ``z sqrt(n)``, so the limits of the interval are ``d_bar + s t'_q / sqrt(n)`` with the
  noncentral-t quantiles ``t'_q``), or the classic **approximate** interval of Bland & Altman
  (1986) ``LoA -/+ t_{n-1} sqrt(3 s^2 / n)``.

The sample variance from sums, ``(sum d^2 - (sum d)^2 / n) / (n - 1)``, loses precision when the
mean is large against the spread; log ratios of volumes are close to 0, where it is accurate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, get_args

import numpy as np
from scipy import stats

from monitor.stats._checks import check_confidence

__all__ = ["LOA_CI_METHODS", "BlandAltmanResult", "LoaCiMethod", "bland_altman_from_sums"]

LoaCiMethod = Literal["exact", "approximate"]
LOA_CI_METHODS: Final[tuple[str, ...]] = get_args(LoaCiMethod)


@dataclass(frozen=True)
class BlandAltmanResult:
    """Bias and limits of agreement of paired differences, with confidence intervals.

    Attributes
    ----------
    n : int
        Pairs.
    bias, sd : float
        Mean and sample standard deviation (divisor ``n - 1``) of the differences.
    bias_ci_low, bias_ci_high : float
        t interval of the bias.
    loa_low, loa_high : float
        ``bias -/+ z s`` with ``z`` the normal quantile of the configured coverage.
    loa_low_ci_low, loa_low_ci_high, loa_high_ci_low, loa_high_ci_high : float
        Confidence intervals of the two limits.
    method : str
        ``"exact"`` or ``"approximate"``.
    """

    n: int
    bias: float
    sd: float
    bias_ci_low: float
    bias_ci_high: float
    loa_low: float
    loa_high: float
    loa_low_ci_low: float
    loa_low_ci_high: float
    loa_high_ci_low: float
    loa_high_ci_high: float
    method: str


def bland_altman_from_sums(n: int, sum_d: float, sum_d2: float, *, confidence: float = 0.95,
                           coverage: float = 0.95, method: LoaCiMethod = "exact") -> BlandAltmanResult:
    """Bland-Altman bias and limits of agreement, with intervals, from ``n``, ``sum d``, ``sum d^2``.

    Parameters
    ----------
    n : int
        Number of pairs.
    sum_d, sum_d2 : float
        Sum of the differences and of their squares.
    confidence : float, default 0.95
        Two-sided confidence level of the intervals of the bias and of each limit.
    coverage : float, default 0.95
        Share of differences the limits of agreement are meant to contain (1.96 SD for 0.95).
    method : {"exact", "approximate"}, default "exact"
        Interval of the limits: Carkeet's exact noncentral-t interval or the Bland-Altman (1986)
        approximation with ``SE(LoA) = sqrt(3 s^2 / n)``.

    Returns
    -------
    BlandAltmanResult
        All NaN for ``n == 0``; the bias only (NaN SD and intervals) for ``n == 1``.

    Raises
    ------
    ValueError
        Negative ``n``, non-finite sums, unknown ``method``, or ``confidence``/``coverage``
        outside (0, 1).

    References
    ----------
    Bland JM, Altman DG. Statistical methods for assessing agreement between two methods of
    clinical measurement. Lancet 1986;i:307-310.
    Bland JM, Altman DG. Measuring agreement in method comparison studies. Stat Methods Med Res
    1999;8:135-160.
    Carkeet A. Exact parametric confidence intervals for Bland-Altman limits of agreement. Optom
    Vis Sci 2015;92:e71-e80.

    Examples
    --------
    >>> d = np.array([-0.1, 0.05, 0.2, 0.0, -0.05, 0.1, 0.15, -0.2, 0.05, 0.1])
    >>> r = bland_altman_from_sums(d.size, d.sum(), (d ** 2).sum())
    >>> round(r.bias, 4), round(r.sd, 4), round(r.loa_low, 4), round(r.loa_high, 4)
    (0.03, 0.1206, -0.2065, 0.2665)
    >>> round(r.loa_high_ci_low, 4), round(r.loa_high_ci_high, 4)
    (0.1703, 0.4886)
    """
    confidence = check_confidence(confidence)
    coverage = check_confidence(coverage)
    if method not in LOA_CI_METHODS:
        raise ValueError(f"unknown limits-of-agreement interval method {method!r}; expected one of {LOA_CI_METHODS}")
    if int(n) != n or n < 0:
        raise ValueError(f"n must be a non-negative whole number, got {n!r}")
    if not (np.isfinite(sum_d) and np.isfinite(sum_d2)):
        raise ValueError("the sums must be finite")
    n = int(n)
    nan = float("nan")
    if n == 0:
        return BlandAltmanResult(0, *([nan] * 10), method)
    bias = float(sum_d) / n
    if n == 1:
        return BlandAltmanResult(1, bias, *([nan] * 9), method)
    var = max((float(sum_d2) - float(sum_d) ** 2 / n) / (n - 1), 0.0)
    sd = float(np.sqrt(var))
    z = float(stats.norm.ppf(0.5 + coverage / 2.0))
    tail = (1.0 - confidence) / 2.0
    t = float(stats.t.ppf(1.0 - tail, n - 1))
    bias_half = t * sd / np.sqrt(n)
    loa_low, loa_high = bias - z * sd, bias + z * sd
    if method == "exact":
        # sqrt(n) (upper LoA - d_bar) / s ~ noncentral t(n - 1, z sqrt(n)) (Carkeet 2015).
        q_low, q_high = stats.nct.ppf([tail, 1.0 - tail], n - 1, z * np.sqrt(n))
        scale = sd / np.sqrt(n)
        high_ci = (bias + scale * q_low, bias + scale * q_high)
        low_ci = (bias - scale * q_high, bias - scale * q_low)
    else:
        half = t * np.sqrt(3.0 * var / n)
        high_ci = (loa_high - half, loa_high + half)
        low_ci = (loa_low - half, loa_low + half)
    return BlandAltmanResult(
        n=n, bias=bias, sd=sd, bias_ci_low=float(bias - bias_half), bias_ci_high=float(bias + bias_half),
        loa_low=loa_low, loa_high=loa_high, loa_low_ci_low=float(low_ci[0]), loa_low_ci_high=float(low_ci[1]),
        loa_high_ci_low=float(high_ci[0]), loa_high_ci_high=float(high_ci[1]), method=method)
