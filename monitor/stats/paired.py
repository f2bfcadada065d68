"""Paired comparison of two models scored on the same cases, from count tables.

* :func:`compare_paired_proportions`: two correlated proportions (e.g. the sensitivity of model A
  and of model B on the same reference-positive studies) from the paired 2x2 table
  ``[[both right, A only], [B only, neither]]``: the difference ``p_A - p_B = (A only - B only) / n``,
  Newcombe's hybrid score interval for paired data (Newcombe 1998b, method 10: Wilson intervals of
  the two marginal proportions combined with Newcombe's corrected phi correlation of the table) and McNemar's exact test (:func:`monitor.stats.agreement.mcnemar_exact`);
* :func:`paired_auc_from_histogram`: the DeLong et al. (1988) comparison of two correlated AUCs
  from a joint histogram ``(score bin of A, score bin of B, label) -> count``. The placement values
  of a case depend only on its own bin and on the marginal histograms, so the variance of the
  difference is a weighted sum over the cells; the result equals
  :func:`monitor.stats.auc.paired_delong` on the per-case binned scores exactly, at a cost that
  depends on the number of occupied cells, not of cases.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from monitor.stats._checks import check_confidence
from monitor.stats.agreement import mcnemar_exact
from monitor.stats.auc import PairedAucResult, paired_auc_result
from monitor.stats.intervals import proportion_interval
from monitor.stats.metrics import _as_count_array

__all__ = ["PairedProportionComparison", "compare_paired_proportions", "newcombe_paired_difference",
           "paired_auc_from_histogram"]


@dataclass(frozen=True)
class PairedProportionComparison:
    """Two proportions measured on the same ``n`` cases.

    Attributes
    ----------
    n : int
        Paired cases.
    estimate_a, estimate_b : float
        ``(both + a_only) / n`` and ``(both + b_only) / n``.
    difference, ci_low, ci_high : float
        ``estimate_a - estimate_b`` and its Newcombe (1998b, method 10) interval.
    a_only, b_only : int
        Discordant cases: A right and B wrong, and the reverse.
    p_value : float
        Two-sided exact McNemar p-value; NaN without discordant cases.
    """

    n: int
    estimate_a: float
    estimate_b: float
    difference: float
    ci_low: float
    ci_high: float
    a_only: int
    b_only: int
    p_value: float


def newcombe_paired_difference(both: int, a_only: int, b_only: int, neither: int, *,
                               confidence: float = 0.95) -> tuple[float, float, float]:
    """Newcombe's hybrid score interval (method 10) for the difference of two paired proportions.

    With ``p_A = (both + a_only) / n``, ``p_B = (both + b_only) / n``, Wilson limits
    ``(l_A, u_A)``, ``(l_B, u_B)`` and Newcombe's corrected phi coefficient of the 2x2 table
    ``phi = C / sqrt(product of the four margins)`` (0 when a margin is 0), where
    ``A = both * neither - a_only * b_only`` and ``C = A - n/2`` if ``A > n/2``, ``0`` if
    ``0 <= A <= n/2``, ``A`` if ``A < 0``::

        L = d - sqrt((p_A - l_A)^2 - 2 phi (p_A - l_A)(u_B - p_B) + (u_B - p_B)^2)
        U = d + sqrt((u_A - p_A)^2 - 2 phi (u_A - p_A)(p_B - l_B) + (p_B - l_B)^2)

    With ``phi = 0`` it reduces to the interval for independent proportions (Newcombe 1998a,
    method 10). This is the "Newcombe square-and-add" interval of Fagerland, Lydersen & Laake
    (2014), e.g. R ``contingencytables::Newcombe_square_and_add_CI_paired_2x2``.

    Returns
    -------
    tuple of float
        ``(difference, lower, upper)``, NaN when ``n == 0``; limits clipped to [-1, 1].

    References
    ----------
    Newcombe RG. Improved confidence intervals for the difference between binomial proportions
    based on paired data. Stat Med 1998;17:2635-2650 (method 10).
    Fagerland MW, Lydersen S, Laake P. Recommended tests and confidence intervals for paired
    binomial proportions. Stat Med 2014;33:2850-2875 (recommend it, with Tango's score interval).

    Examples
    --------
    >>> [round(x, 4) for x in newcombe_paired_difference(40, 10, 2, 48)]
    [0.08, 0.0113, 0.1467]
    """
    confidence = check_confidence(confidence)
    counts = _as_count_array([both, a_only, b_only, neither], "paired 2x2 table")
    if counts.ndim != 1:
        raise ValueError("the paired 2x2 table takes four scalar counts")
    a, b, c, d = (int(x) for x in counts)
    n = a + b + c + d
    nan = float("nan")
    if n == 0:
        return nan, nan, nan
    p1, p2 = (a + b) / n, (a + c) / n
    l1, u1 = proportion_interval(a + b, n, confidence=confidence)
    l2, u2 = proportion_interval(a + c, n, confidence=confidence)
    margins = float(a + b) * float(c + d) * float(a + c) * float(b + d)
    cross = float(a) * d - float(b) * c
    # Newcombe's correction of phi: shrink a positive cross product by n / 2 (not below 0).
    cross = cross - n / 2 if cross > n / 2 else min(cross, 0.0)
    phi = cross / np.sqrt(margins) if margins > 0 else 0.0
    diff = p1 - p2
    delta = np.sqrt(max((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2, 0.0))
    eps = np.sqrt(max((u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2, 0.0))
    return float(diff), float(max(-1.0, diff - delta)), float(min(1.0, diff + eps))


def compare_paired_proportions(both: int, a_only: int, b_only: int, neither: int, *,
                               confidence: float = 0.95) -> PairedProportionComparison:
    """Difference of two paired proportions: Newcombe interval and exact McNemar test.

    Parameters
    ----------
    both, a_only, b_only, neither : int
        Cases where both models are right, only A, only B, neither.
    confidence : float, default 0.95
        Two-sided confidence level of the interval.

    References
    ----------
    Newcombe RG. Stat Med 1998;17:2635-2650. McNemar Q. Psychometrika 1947;12:153-157.

    Examples
    --------
    >>> r = compare_paired_proportions(40, 10, 2, 48)
    >>> round(r.estimate_a, 2), round(r.estimate_b, 2), round(r.p_value, 4)
    (0.5, 0.42, 0.0386)
    """
    diff, low, high = newcombe_paired_difference(both, a_only, b_only, neither, confidence=confidence)
    n = int(both) + int(a_only) + int(b_only) + int(neither)
    nan = float("nan")
    return PairedProportionComparison(
        n=n, estimate_a=(int(both) + int(a_only)) / n if n else nan,
        estimate_b=(int(both) + int(b_only)) / n if n else nan, difference=diff, ci_low=low, ci_high=high,
        a_only=int(a_only), b_only=int(b_only), p_value=mcnemar_exact(a_only, b_only))


def _placements(bins: np.ndarray, positive: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, float]:
    """Per-cell DeLong placement (V10 for positive cells, V01 for negative ones) and the AUC."""
    values, index = np.unique(bins, return_inverse=True)
    pos = np.bincount(index, weights=counts * positive, minlength=values.size)
    neg = np.bincount(index, weights=counts * ~positive, minlength=values.size)
    m, n = pos.sum(), neg.sum()
    v10 = (np.cumsum(neg) - neg + 0.5 * neg) / n  # negatives below (+ 1/2 ties)
    v01 = (m - np.cumsum(pos) + 0.5 * pos) / m  # positives above (+ 1/2 ties)
    auc = float(pos @ v10 / m)
    return np.where(positive, v10[index], v01[index]), auc


def paired_auc_from_histogram(bins_a: ArrayLike, bins_b: ArrayLike, labels: ArrayLike, counts: ArrayLike, *,
                              confidence: float = 0.95) -> PairedAucResult:
    """DeLong comparison of two correlated AUCs from a joint score histogram.

    Parameters
    ----------
    bins_a, bins_b : array_like of float
        Score (bin value) of model A and of model B of the cases in each cell; higher means more
        likely positive. Equal values are ties (counted 1/2).
    labels : array_like of {0, 1}
        Reference standard of the cell's cases.
    counts : array_like of int
        Number of cases in each cell (cells may repeat; zero counts are allowed).
    confidence : float, default 0.95
        Two-sided confidence level of the interval for ``auc_a - auc_b``.

    Returns
    -------
    PairedAucResult
        As :func:`monitor.stats.auc.paired_delong`, whose conventions it follows (NaN without
        positives or negatives; NaN SE with fewer than two of either).

    Notes
    -----
    ``Var(AUC_A - AUC_B) = s2(V10_A - V10_B) / m + s2(V01_A - V01_B) / n`` with count-weighted
    sample variances (divisors ``m - 1``, ``n - 1``), as in DeLong et al. (1988) section 2.

    References
    ----------
    DeLong ER, DeLong DM, Clarke-Pearson DL. Biometrics 1988;44:837-845.
    Sun X, Xu W. IEEE Signal Process Lett 2014;21:1389-1393.

    Examples
    --------
    >>> r = paired_auc_from_histogram([0.1, 0.2, 0.3, 0.6, 0.4, 0.7, 0.8, 0.9],
    ...                               [0.2, 0.5, 0.1, 0.7, 0.3, 0.6, 0.4, 0.9], [0, 0, 0, 0, 1, 1, 1, 1], [1] * 8)
    >>> round(r.difference, 4), round(r.se, 4), round(r.p_value, 4)
    (0.25, 0.1768, 0.1573)
    """
    confidence = check_confidence(confidence)
    a = np.asarray(bins_a, dtype=np.float64)
    b = np.asarray(bins_b, dtype=np.float64)
    y = np.asarray(labels)
    w = _as_count_array(counts, "counts").astype(np.float64)
    if not (a.ndim == b.ndim == y.ndim == w.ndim == 1 and a.size == b.size == y.size == w.size):
        raise ValueError("bins_a, bins_b, labels and counts must be one-dimensional of the same length")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("bins must be finite")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("labels must be 0 or 1")
    positive = y == 1
    m, n = float(w[positive].sum()), float(w[~positive].sum())
    nan = float("nan")
    if m == 0 or n == 0:
        return PairedAucResult(nan, nan, nan, nan, nan, nan, nan, nan)
    place_a, auc_a = _placements(a, positive, w)
    place_b, auc_b = _placements(b, positive, w)
    diff = auc_a - auc_b
    if m < 2 or n < 2:
        return PairedAucResult(auc_a, auc_b, diff, nan, nan, nan, nan, nan)
    delta = place_a - place_b
    var = 0.0
    for mask, total in ((positive, m), (~positive, n)):
        mean = float(w[mask] @ delta[mask]) / total
        var += float(w[mask] @ (delta[mask] - mean) ** 2) / (total - 1) / total
    return paired_auc_result(auc_a, auc_b, var, confidence)
