"""Statistics of an ordered (ordinal) output against an ordinal reference grade: weighted kappa with its
large-sample variance, and any ratio of confusion cells, under complete verification or under a two-phase
design that verifies each binary call at its own rate.

A confusion matrix ``m`` has the AI level in rows and the reference grade in columns (``K x K``, level 0 the
lowest). The binary call of a row is ``level >= positive_from``.

* :func:`kappa_weights` and :func:`weighted_kappa`: Cohen's (1968) weighted kappa on cell proportions and its
  gradient, whose multinomial delta-method variance is the large-sample variance of Fleiss, Cohen & Everitt
  (1969);
* :func:`design_proportions`: the cell proportions of a call-stratified two-phase sample (all calls counted,
  a random sample of each call verified): each verified case weighted by ``N_c / n_c`` of its call ``c``
  (the calibrated inverse sampling fraction, the Hajek estimator; Begg & Greenes 1983);
* :func:`two_phase_variance`: the delta-method variance of a smooth function of those proportions, with the
  call share binomial over all calls and each call's cells multinomial over its verified cases (Begg &
  Greenes 1983; Zhou 1998); with every case verified it is the plain multinomial delta method;
* :func:`design_ratio`: the verification-corrected ratio of two sets of cells (sensitivity and specificity at
  any cut, the false-negative rate of the lowest level) with its variance, and the zero-cell rule of
  :func:`monitor.stats.verification.design_corrected` (0.5 added when a group it divides by is empty).

References
----------
Cohen J. Weighted kappa. Psychol Bull 1968;70:213-220. Fleiss JL, Cohen J, Everitt BS. Large sample standard
errors of kappa and weighted kappa. Psychol Bull 1969;72:323-327. Begg CB, Greenes RA. Biometrics
1983;39:207-215. Zhou XH. Stat Methods Med Res 1998;7:337-353. Haldane JBS. Ann Hum Genet 1956;20:309-311.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["KappaWeights", "call_of_levels", "design_proportions", "design_ratio", "kappa_weights",
           "multinomial_variance", "two_phase_variance", "weighted_kappa"]

KappaWeights = Literal["linear", "quadratic"]
#: Added to every verified group of a ratio when a group it divides by is empty (as design_corrected does).
_ZERO_CELL_CORRECTION = 0.5


def kappa_weights(levels: int, kind: KappaWeights) -> np.ndarray:
    """Agreement weights ``w_ij = 1 - |i - j| / (K - 1)`` (linear) or ``1 - (i - j)^2 / (K - 1)^2`` (quadratic).

    Examples
    --------
    >>> kappa_weights(3, "linear").tolist()
    [[1.0, 0.5, 0.0], [0.5, 1.0, 0.5], [0.0, 0.5, 1.0]]
    """
    if levels < 2:
        raise ValueError("kappa needs at least 2 levels")
    i, j = np.indices((levels, levels))
    distance = np.abs(i - j) / (levels - 1)
    return 1.0 - (distance if kind == "linear" else distance ** 2)


def weighted_kappa(proportions: ArrayLike, weights: np.ndarray) -> tuple[float, np.ndarray]:
    """Weighted kappa of a matrix of cell proportions (summing to 1) and its gradient with respect to them.

    ``kappa = (Po - Pe) / (1 - Pe)`` with ``Po = sum w_ij p_ij`` and ``Pe = sum w_ij p_i. p_.j`` (Cohen 1968);
    ``d kappa / d p_ij = [w_ij (1 - Pe) - (wbar_i. + wbar_.j)(1 - Po)] / (1 - Pe)^2`` with
    ``wbar_i. = sum_j w_ij p_.j`` and ``wbar_.j = sum_i w_ij p_i.`` (Fleiss, Cohen & Everitt 1969). NaN
    (and a NaN gradient) when ``Pe = 1`` (a single level in both margins).

    Examples
    --------
    >>> k, _ = weighted_kappa(np.array([[40, 5, 1], [4, 30, 3], [1, 2, 14]]) / 100, kappa_weights(3, "linear"))
    >>> round(k, 4)
    0.7706
    """
    p = np.asarray(proportions, dtype=np.float64)
    rows, cols = p.sum(axis=1), p.sum(axis=0)
    observed = float((weights * p).sum())
    expected = float((weights * np.outer(rows, cols)).sum())
    if not expected < 1.0 - 1e-12:
        return math.nan, np.full(p.shape, np.nan)
    kappa = (observed - expected) / (1.0 - expected)
    row_bar, col_bar = weights @ cols, weights.T @ rows
    gradient = (weights * (1.0 - expected) - (row_bar[:, None] + col_bar[None, :]) * (1.0 - observed)) \
        / (1.0 - expected) ** 2
    return kappa, gradient


def multinomial_variance(proportions: ArrayLike, gradient: np.ndarray, n: float) -> float:
    """Delta-method variance ``[sum p g^2 - (sum p g)^2] / n`` of a function of multinomial proportions."""
    p = np.asarray(proportions, dtype=np.float64)
    if n <= 0:
        return math.nan
    return float(max((p * gradient ** 2).sum() - (p * gradient).sum() ** 2, 0.0) / n)


def call_of_levels(levels: int, positive_from: int) -> np.ndarray:
    """The binary call (0 / 1) of each AI level: ``level >= positive_from``."""
    if not 0 < positive_from < levels:
        raise ValueError("positive_from must be a level above the lowest")
    return (np.arange(levels) >= positive_from).astype(np.int64)


def _check(verified: ArrayLike, calls: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    m = np.asarray(verified, dtype=np.float64)
    n = np.asarray(calls, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or n.shape != (m.shape[0],):
        raise ValueError("verified must be K x K and calls of length K")
    if (m < 0).any() or (n < 0).any():
        raise ValueError("counts must be non-negative")
    if (m.sum(axis=1) > n + 1e-9).any():
        raise ValueError("verified cases of a level must not exceed its calls")
    return m, n


def design_proportions(verified: ArrayLike, calls: ArrayLike, positive_from: int) -> np.ndarray:
    """Estimated population cell proportions of a call-stratified two-phase sample.

    ``verified``: K x K verified counts (AI level x reference grade); ``calls``: all calls by AI level
    (verified or not). Each verified case of call ``c`` weighs ``N_c / n_c`` (``N_c`` calls, ``n_c`` verified);
    the proportions are the weighted counts over ``N``. NaN when a call with calls has no verified case.
    """
    m, n = _check(verified, calls)
    call = call_of_levels(m.shape[0], positive_from)
    weighted = np.zeros_like(m)
    for c in (0, 1):
        rows = call == c
        total, sampled = n[rows].sum(), m[rows].sum()
        if total > 0 and sampled == 0:
            return np.full(m.shape, np.nan)
        if total > 0:
            weighted[rows] = m[rows] * total / sampled
    everyone = n.sum()
    return weighted / everyone if everyone > 0 else np.full(m.shape, np.nan)


def two_phase_variance(verified: ArrayLike, calls: ArrayLike, positive_from: int, gradient: np.ndarray) -> float:
    """Delta-method variance of ``f(p)``, ``p`` the :func:`design_proportions`, with ``gradient`` = df/dp.

    With ``pi = N_1 / N`` (binomial over the ``N`` calls) and ``theta_c`` the verified cells of call ``c``
    over ``n_c`` (multinomial, independent of ``pi`` and of the other call), ``p_ij = pi_c(i) theta_ij``:

    ``Var = (sum_call1 g theta_1 - sum_call0 g theta_0)^2 pi (1 - pi) / N
    + sum_c pi_c^2 [sum theta_c g^2 - (sum theta_c g)^2] / n_c``.

    With every call verified (``n_c = N_c``) it equals :func:`multinomial_variance` over ``N`` (the delta
    method is invariant to the parametrisation of the one multinomial).
    """
    m, n = _check(verified, calls)
    call = call_of_levels(m.shape[0], positive_from)
    everyone = n.sum()
    if everyone <= 0:
        return math.nan
    share_positive = n[call == 1].sum() / everyone
    variance, tilt = 0.0, 0.0
    for c, share in ((0, 1.0 - share_positive), (1, share_positive)):
        rows = call == c
        sampled = m[rows].sum()
        if n[rows].sum() == 0:
            continue
        if sampled == 0:
            return math.nan
        theta, g = m[rows] / sampled, gradient[rows]
        mean = float((theta * g).sum())
        tilt += mean if c == 1 else -mean
        variance += share ** 2 * max(float((theta * g ** 2).sum()) - mean ** 2, 0.0) / sampled
    return float(variance + tilt ** 2 * share_positive * (1.0 - share_positive) / everyone)


def design_ratio(verified: ArrayLike, calls: ArrayLike, positive_from: int, numerator: np.ndarray,
                 denominator: np.ndarray) -> tuple[float, float]:
    """Verification-corrected ``P(numerator | denominator)`` of two cell sets (numerator within denominator)
    and its :func:`two_phase_variance`.

    Within each call the verified cases fall in three groups: numerator ``A``, denominator outside it ``B\\A``
    and the rest; the ratio depends only on the groups' counts. When a group ``A`` or ``B\\A`` that the call
    can hold has no verified case (the cells the variance divides by; also a call with no verified case),
    0.5 is added to each group the call can hold, in every call (Haldane 1956; the zero-cell rule of
    :func:`monitor.stats.verification.design_corrected`, which this equals at the primary cut). Returns
    ``(nan, nan)`` when the denominator has no weight.

    Examples
    --------
    Three levels, calls from level 1; 300 positive calls all verified, 170 of 1,700 low-risk calls audited:

    >>> verified = np.array([[160, 6, 4], [20, 90, 10], [10, 30, 140]])
    >>> a = np.zeros((3, 3), bool); a[1:, 1:] = True
    >>> b = np.zeros((3, 3), bool); b[:, 1:] = True
    >>> [round(x, 4) for x in design_ratio(verified, [1700, 120, 180], 1, a, b)]  # sensitivity, variance
    [0.7297, 0.0038]
    """
    m, n = _check(verified, calls)
    a = np.asarray(numerator, dtype=bool)
    b = np.asarray(denominator, dtype=bool)
    if (a & ~b).any():
        raise ValueError("the numerator cells must lie within the denominator cells")
    call = call_of_levels(m.shape[0], positive_from)
    masks = (a, b & ~a, ~b)
    groups = np.zeros((2, 3))  # per call: verified cases in A, B\A, rest
    possible = np.zeros((2, 3), dtype=bool)
    for c in (0, 1):
        rows = call == c
        for g, mask in enumerate(masks):
            possible[c, g] = bool(mask[rows].any()) and n[rows].sum() > 0
            groups[c, g] = m[rows][mask[rows]].sum()
    if (possible[:, :2] & (groups[:, :2] == 0)).any():
        groups = groups + np.where(possible, _ZERO_CELL_CORRECTION, 0.0)
    totals = np.array([n[call == c].sum() for c in (0, 1)])
    everyone = totals.sum()
    if everyone <= 0:
        return math.nan, math.nan
    share = totals / everyone
    sampled = groups.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        a_c = np.where(sampled > 0, groups[:, 0] / sampled, 0.0)
        b_c = np.where(sampled > 0, (groups[:, 0] + groups[:, 1]) / sampled, 0.0)
    weight = float((share * b_c).sum())
    if weight <= 0:
        return math.nan, math.nan
    ratio = float((share * a_c).sum()) / weight
    variance = ((a_c[1] - a_c[0]) - ratio * (b_c[1] - b_c[0])) ** 2 / weight ** 2 \
        * share[1] * share[0] / everyone
    for c in (0, 1):
        if sampled[c] > 0 and totals[c] > 0:
            inner = (1 - ratio) ** 2 * a_c[c] + ratio ** 2 * (b_c[c] - a_c[c]) - (a_c[c] - ratio * b_c[c]) ** 2
            variance += share[c] ** 2 / weight ** 2 * max(inner, 0.0) / sampled[c]
    return ratio, float(variance)
