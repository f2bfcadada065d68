"""Area under the ROC curve (AUC) with DeLong variance, from cases or from binned counts.

The empirical AUC is the Mann-Whitney probability
``P(X > Y) + 1/2 P(X = Y)`` for a random positive score ``X`` and a random
negative score ``Y`` (ties count one half). Higher scores must mean "more
likely positive". Its variance is the nonparametric estimate of DeLong,
DeLong & Clarke-Pearson (1988), built from the *placement values*
(structural components of Sen 1960):

* ``V10_i`` = fraction of negatives below positive ``i`` (+ 1/2 per tie),
* ``V01_j`` = fraction of positives above negative ``j`` (+ 1/2 per tie),
* ``Var(AUC) = s2(V10) / m + s2(V01) / n`` with sample variances
  (divisor ``m - 1`` and ``n - 1``), ``m`` positives and ``n`` negatives.

:func:`auc_delong` computes the placements from mid-ranks in
``O(N log N)`` (Sun & Xu 2014); :func:`auc_from_histograms` computes the same
quantities from counts per ordered score bin in ``O(bins)`` so the service can
work from database aggregates; :func:`paired_delong` compares two models
scored on the same cases with the DeLong covariance.

Conventions: no positives or no negatives give NaN results (no exception);
fewer than two positives or two negatives give a finite AUC but NaN standard
error and interval (the DeLong variance is not estimable).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, get_args

import numpy as np
from numpy.typing import ArrayLike
from scipy import special, stats

from monitor.stats._checks import check_confidence as _check_confidence
from monitor.stats.metrics import _as_count_array

__all__ = [
    "AucCiMethod",
    "AUC_CI_METHODS",
    "AucResult",
    "PairedAucResult",
    "auc_delong",
    "auc_from_histograms",
    "paired_auc_result",
    "paired_delong",
]

AucCiMethod = Literal["wald", "logit"]
AUC_CI_METHODS: Final[tuple[str, ...]] = get_args(AucCiMethod)


@dataclass(frozen=True)
class AucResult:
    """AUC with its DeLong standard error and confidence interval.

    Attributes
    ----------
    auc : float
        Empirical (Mann-Whitney) AUC, ties counted one half.
    se : float
        DeLong standard error.
    ci_low, ci_high : float
        Two-sided confidence limits (see ``method`` of :func:`auc_delong`).
    n_positive, n_negative : int
        Numbers of positive and negative cases.
    """

    auc: float
    se: float
    ci_low: float
    ci_high: float
    n_positive: int
    n_negative: int


@dataclass(frozen=True)
class PairedAucResult:
    """DeLong comparison of two AUCs measured on the same cases.

    Attributes
    ----------
    auc_a, auc_b : float
        AUC of model A and model B.
    difference : float
        ``auc_a - auc_b``.
    se : float
        DeLong standard error of the difference (accounts for the correlation).
    z : float
        ``difference / se``.
    p_value : float
        Two-sided p-value of H0: AUC_A = AUC_B, ``2 * (1 - Phi(|z|))``.
    ci_low, ci_high : float
        Wald interval ``difference -/+ z_{1-alpha/2} * se``, clipped to [-1, 1].
    """

    auc_a: float
    auc_b: float
    difference: float
    se: float
    z: float
    p_value: float
    ci_low: float
    ci_high: float


# --------------------------------------------------------------------------- validation



def _check_method(method: str) -> None:
    if method not in AUC_CI_METHODS:
        raise ValueError(f"unknown AUC interval method {method!r}; expected one of {AUC_CI_METHODS}")


def _as_scores(values: ArrayLike, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name} must be numeric scores") from exc
    arr = arr.astype(np.float64, copy=False)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite (NaN or infinity found)")
    return arr


def _as_labels(values: ArrayLike) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"labels must be one-dimensional, got shape {arr.shape}")
    try:
        as_float = arr.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError("labels must be 0/1 (or boolean)") from exc
    if not np.all((as_float == 0.0) | (as_float == 1.0)):
        raise ValueError("labels must be 0/1 (or boolean); other values or NaN found")
    return as_float == 1.0


# --------------------------------------------------------------------------- core


def _placements(pos: np.ndarray, neg: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """AUC and DeLong placement values by the mid-rank algorithm of Sun & Xu (2014).

    ``V10 = (rank of x_i among all - rank of x_i among positives) / n`` and
    ``V01 = 1 - (rank of y_j among all - rank of y_j among negatives) / m``,
    with mid-ranks (average ranks for ties), which gives ties a weight of 1/2.
    """
    m, n = pos.size, neg.size
    tz = stats.rankdata(np.concatenate([pos, neg]), method="average")
    tx = stats.rankdata(pos, method="average")
    ty = stats.rankdata(neg, method="average")
    v10 = (tz[:m] - tx) / n
    v01 = 1.0 - (tz[m:] - ty) / m
    auc = float((tz[:m].sum() - m * (m + 1) / 2.0) / (m * n))
    return auc, v10, v01


def _interval(auc: float, se: float, confidence: float, method: str) -> tuple[float, float]:
    if not np.isfinite(se):
        return float("nan"), float("nan")
    z = float(stats.norm.ppf(0.5 + confidence / 2.0))
    if method == "logit" and 0.0 < auc < 1.0:
        # Delta method on logit(AUC): se(logit) = se / (AUC (1 - AUC)).
        centre = float(special.logit(auc))
        half = z * se / (auc * (1.0 - auc))
        return float(special.expit(centre - half)), float(special.expit(centre + half))
    # Wald (also the logit fallback at AUC in {0, 1}, where se is 0).
    return max(0.0, auc - z * se), min(1.0, auc + z * se)


def _result(auc: float, var: float, m: int, n: int, confidence: float, method: str) -> AucResult:
    se = float(np.sqrt(max(var, 0.0))) if np.isfinite(var) else float("nan")
    low, high = _interval(auc, se, confidence, method)
    return AucResult(auc=auc, se=se, ci_low=low, ci_high=high, n_positive=m, n_negative=n)


def _empty(m: int, n: int) -> AucResult:
    nan = float("nan")
    return AucResult(auc=nan, se=nan, ci_low=nan, ci_high=nan, n_positive=m, n_negative=n)


# --------------------------------------------------------------------------- public


def auc_delong(
    positive_scores: ArrayLike,
    negative_scores: ArrayLike,
    *,
    confidence: float = 0.95,
    method: AucCiMethod = "wald",
) -> AucResult:
    """Empirical AUC with DeLong standard error and confidence interval.

    Parameters
    ----------
    positive_scores : array_like of float
        Scores of the reference-positive cases (higher = more likely positive).
    negative_scores : array_like of float
        Scores of the reference-negative cases.
    confidence : float, default 0.95
        Two-sided confidence level.
    method : {"wald", "logit"}, default "wald"
        ``"wald"``: ``AUC -/+ z * se`` clipped to [0, 1] (pROC ``ci.auc``
        DeLong default, Stata ``roctab``). ``"logit"``: Wald interval on
        ``logit(AUC)`` with delta-method SE ``se / (AUC (1 - AUC))``,
        back-transformed; it stays inside (0, 1) and is asymmetric near 1.

    Returns
    -------
    AucResult
        NaN AUC, SE and interval when there are no positives or no negatives;
        NaN SE and interval when there is only one positive or one negative.
        When AUC is 0 or 1 the SE is 0 and both methods give ``(AUC, AUC)``.

    Raises
    ------
    ValueError
        Non-finite or non-numeric scores, inputs that are not one-dimensional,
        unknown ``method``, or ``confidence`` outside (0, 1).

    Notes
    -----
    The placement values are computed from mid-ranks (Sun & Xu 2014), so the
    cost is ``O(N log N)`` and the memory ``O(N)``. The result equals the
    textbook ``O(m n)`` kernel computation of DeLong et al. exactly.

    References
    ----------
    DeLong ER, DeLong DM, Clarke-Pearson DL. Comparing the areas under two or
    more correlated receiver operating characteristic curves: a nonparametric
    approach. Biometrics 1988;44:837-845.
    Sun X, Xu W. Fast implementation of DeLong's algorithm for comparing the
    areas under correlated receiver operating characteristic curves. IEEE
    Signal Process Lett 2014;21:1389-1393.
    Hanley JA, McNeil BJ. The meaning and use of the area under a receiver
    operating characteristic (ROC) curve. Radiology 1982;143:29-36.

    Examples
    --------
    Hanley & McNeil (1982) rating data (5-point scale; 51 abnormal, 58 normal):

    >>> pos = np.repeat([1, 2, 3, 4, 5], [3, 2, 2, 11, 33])
    >>> neg = np.repeat([1, 2, 3, 4, 5], [33, 6, 6, 11, 2])
    >>> r = auc_delong(pos, neg)
    >>> round(r.auc, 4), round(r.se, 4), r.n_positive, r.n_negative
    (0.8932, 0.0307, 51, 58)
    >>> round(r.ci_low, 4), round(r.ci_high, 4)
    (0.833, 0.9534)
    >>> auc_delong([], [0.1, 0.2]).auc
    nan
    """
    confidence = _check_confidence(confidence)
    _check_method(method)
    pos = _as_scores(positive_scores, "positive_scores")
    neg = _as_scores(negative_scores, "negative_scores")
    m, n = int(pos.size), int(neg.size)
    if m == 0 or n == 0:
        return _empty(m, n)
    auc, v10, v01 = _placements(pos, neg)
    if m < 2 or n < 2:
        var = float("nan")
    else:
        var = float(np.var(v10, ddof=1) / m + np.var(v01, ddof=1) / n)
    return _result(auc, var, m, n, confidence, method)


def auc_from_histograms(
    positive_counts: ArrayLike,
    negative_counts: ArrayLike,
    *,
    confidence: float = 0.95,
    method: AucCiMethod = "wald",
) -> AucResult:
    """AUC and DeLong SE from counts of positives and negatives per ordered score bin.

    Bin ``k`` holds the cases whose (rounded) score is the ``k``-th smallest
    score value; cases in the same bin are ties. When every case's score is
    exactly its bin value, the result equals :func:`auc_delong` on the per-case
    scores (AUC, SE and interval), but costs ``O(bins)`` regardless of the
    number of cases, so it can be computed from database counts (e.g. scores
    rounded to 4 decimals give 10,001 bins).

    Parameters
    ----------
    positive_counts, negative_counts : array_like of int
        One-dimensional counts of the same length, ordered by increasing score.
        Empty bins (both counts zero) are allowed.
    confidence : float, default 0.95
        Two-sided confidence level.
    method : {"wald", "logit"}, default "wald"
        Interval method; see :func:`auc_delong`.

    Returns
    -------
    AucResult
        As :func:`auc_delong`; NaN when there are no positives or no negatives.

    Raises
    ------
    ValueError
        Negative, non-integral or non-finite counts, counts that are not
        one-dimensional or have different lengths, unknown ``method``, or
        ``confidence`` outside (0, 1).

    Notes
    -----
    With ``P_k``, ``N_k`` the counts in bin ``k``, ``m = sum P``,
    ``n = sum N``, every positive in bin ``k`` has placement
    ``V10_k = (N_<k + N_k / 2) / n`` and every negative has
    ``V01_k = (P_>k + P_k / 2) / m``. Then ``AUC = sum_k P_k V10_k / m`` and the
    DeLong variance is ``sum_k P_k (V10_k - AUC)^2 / (m (m - 1)) +
    sum_k N_k (V01_k - AUC)^2 / (n (n - 1))``.

    References
    ----------
    DeLong ER, DeLong DM, Clarke-Pearson DL. Biometrics 1988;44:837-845.
    Hanley JA, McNeil BJ. Radiology 1982;143:29-36 (rating-scale data).

    Examples
    --------
    The Hanley & McNeil (1982) 5-point rating table, from counts only:

    >>> r = auc_from_histograms([3, 2, 2, 11, 33], [33, 6, 6, 11, 2])
    >>> round(r.auc, 4), round(r.se, 4), r.n_positive, r.n_negative
    (0.8932, 0.0307, 51, 58)
    >>> auc_from_histograms([0, 0], [1, 4]).se
    nan
    """
    confidence = _check_confidence(confidence)
    _check_method(method)
    p = _as_count_array(positive_counts, "positive_counts")
    q = _as_count_array(negative_counts, "negative_counts")
    if p.ndim != 1 or q.ndim != 1:
        raise ValueError("positive_counts and negative_counts must be one-dimensional")
    if p.shape != q.shape:
        raise ValueError(
            f"positive_counts and negative_counts must have the same length, got {p.size} and {q.size}"
        )
    m, n = int(p.sum()), int(q.sum())
    if m == 0 or n == 0:
        return _empty(m, n)
    neg_below = np.cumsum(q) - q  # exact int64
    pos_above = m - np.cumsum(p)
    v10 = (neg_below + 0.5 * q) / n
    v01 = (pos_above + 0.5 * p) / m
    pf = p.astype(np.float64)
    qf = q.astype(np.float64)
    auc = float(np.dot(pf, v10) / m)
    if m < 2 or n < 2:
        var = float("nan")
    else:
        s10 = float(np.dot(pf, (v10 - auc) ** 2) / (m - 1))
        s01 = float(np.dot(qf, (v01 - auc) ** 2) / (n - 1))
        var = s10 / m + s01 / n
    return _result(auc, var, m, n, confidence, method)


def paired_delong(
    labels: ArrayLike,
    scores_a: ArrayLike,
    scores_b: ArrayLike,
    *,
    confidence: float = 0.95,
) -> PairedAucResult:
    """DeLong test and interval for the difference of two correlated AUCs.

    Two models (e.g. the current and a candidate model version) scored on the
    same cases. The covariance of the two AUCs is estimated from the placement
    values (DeLong et al. 1988, section 2), so the correlation induced by the
    shared cases is accounted for.

    Parameters
    ----------
    labels : array_like of {0, 1} or bool
        Reference standard per case (1 = positive).
    scores_a, scores_b : array_like of float
        Scores of model A and model B for the same cases, in the same order.
    confidence : float, default 0.95
        Two-sided confidence level of the interval for ``auc_a - auc_b``.

    Returns
    -------
    PairedAucResult
        ``difference = auc_a - auc_b``; ``z = difference / se``; two-sided
        ``p_value``. All fields are NaN when there are no positives or no
        negatives; ``se``, ``z``, ``p_value`` and the interval are NaN when
        there is only one positive or one negative. When the variance of the
        difference is 0 (e.g. the two models rank the cases identically) and
        the difference is 0, ``z = 0`` and ``p_value = 1``.

    Raises
    ------
    ValueError
        Labels other than 0/1, non-finite scores, inputs of different lengths
        or not one-dimensional, or ``confidence`` outside (0, 1).

    References
    ----------
    DeLong ER, DeLong DM, Clarke-Pearson DL. Biometrics 1988;44:837-845.
    Sun X, Xu W. IEEE Signal Process Lett 2014;21:1389-1393.

    Examples
    --------
    >>> y = [0, 0, 0, 0, 1, 1, 1, 1]
    >>> a = [0.1, 0.2, 0.3, 0.6, 0.4, 0.7, 0.8, 0.9]
    >>> b = [0.2, 0.5, 0.1, 0.7, 0.3, 0.6, 0.4, 0.9]
    >>> r = paired_delong(y, a, b)
    >>> round(r.auc_a, 4), round(r.auc_b, 4), round(r.difference, 4)
    (0.9375, 0.6875, 0.25)
    >>> round(r.se, 4), round(r.z, 4), round(r.p_value, 4)
    (0.1768, 1.4142, 0.1573)
    """
    confidence = _check_confidence(confidence)
    y = _as_labels(labels)
    sa = _as_scores(scores_a, "scores_a")
    sb = _as_scores(scores_b, "scores_b")
    if not (y.size == sa.size == sb.size):
        raise ValueError(
            f"labels, scores_a and scores_b must have the same length, got {y.size}, {sa.size}, {sb.size}"
        )
    m, n = int(y.sum()), int((~y).sum())
    nan = float("nan")
    if m == 0 or n == 0:
        return PairedAucResult(nan, nan, nan, nan, nan, nan, nan, nan)
    auc_a, v10_a, v01_a = _placements(sa[y], sa[~y])
    auc_b, v10_b, v01_b = _placements(sb[y], sb[~y])
    diff = auc_a - auc_b
    if m < 2 or n < 2:
        return PairedAucResult(auc_a, auc_b, diff, nan, nan, nan, nan, nan)
    # Var(A - B) = s2(V10_A - V10_B)/m + s2(V01_A - V01_B)/n, which equals
    # L S L' with L = (1, -1) and S the DeLong covariance matrix.
    var = float(np.var(v10_a - v10_b, ddof=1) / m + np.var(v01_a - v01_b, ddof=1) / n)
    return paired_auc_result(auc_a, auc_b, var, confidence)


def paired_auc_result(auc_a: float, auc_b: float, var: float, confidence: float) -> PairedAucResult:
    """Two-sided z test and Wald interval (clipped to [-1, 1]) of ``auc_a - auc_b`` with variance ``var``
    (DeLong et al. 1988)."""
    diff = auc_a - auc_b
    se = float(np.sqrt(max(var, 0.0)))
    if se > 0.0:
        z = diff / se
        p_value = float(2.0 * stats.norm.sf(abs(z)))
    elif diff == 0.0:
        z, p_value = 0.0, 1.0
    else:
        z, p_value = float(np.copysign(np.inf, diff)), 0.0
    zc = float(stats.norm.ppf(0.5 + confidence / 2.0))
    return PairedAucResult(auc_a=auc_a, auc_b=auc_b, difference=diff, se=se, z=float(z), p_value=p_value,
                           ci_low=max(-1.0, diff - zc * se), ci_high=min(1.0, diff + zc * se))
