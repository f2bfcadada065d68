"""Patient-level (cluster-robust) variance of a proportion when patients contribute several cases.

A stratum-metric is a ratio ``p = Y / N`` of successes over trials; when patient ``i`` contributes
``n_i`` trials with ``y_i`` successes, the cases of one patient are not independent and the binomial
variance ``p(1-p)/N`` is too small. The cluster-robust (sandwich) variance of the ratio estimator,
which is the GEE robust variance of an intercept-only model with an independence working correlation,
is

    V = G/(G-1) * S / N^2,    S = sum_i (y_i - p n_i)^2,

over the ``G`` patients with at least one trial (Liang & Zeger 1986), with the usual small-sample
factor ``G/(G-1)``. The **design effect** is ``V`` over the same estimator with every case its own
cluster, ``N/(N-1) * p(1-p)/N`` (Kish's deff; Rao & Scott 1992): exactly 1 when no patient has two
trials in the stratum-metric, above 1 when a patient's cases agree more than independent cases would.

The sums need no per-case data. A patient with a single trial adds ``(y_i - p)^2`` to ``S``; summed over
all patients as if every trial were its own patient, ``S`` is ``N p (1-p)``. A patient with ``n_i >= 2``
trials adds, beyond that binomial part,

    (y_i - p n_i)^2 - sum over its trials of (y_ij - p)^2  =  y_i(y_i - 1) - 2p y_i(n_i - 1) + p^2 n_i(n_i - 1),

which is zero for ``n_i <= 1``. So with ``A = sum y_i(y_i-1)``, ``B = sum y_i(n_i-1)``,
``C = sum n_i(n_i-1)`` and ``E = sum (n_i - 1)`` over the patients with ``n_i >= 2`` (sums that do not
depend on ``p``):

    S = N p(1-p) + A - 2pB + p^2 C,    G = N - E.

Only the patients with several trials need reading (:func:`repeat_terms`); the stratum's counts give
the rest (:func:`clustered_variance`). A hand-written formula: statsmodels' GEE computes the same
variance but from one row per case, which is what this algebra avoids; the tests check both against
it.

References
----------
Liang KY, Zeger SL. Longitudinal data analysis using generalized linear models. Biometrika
1986;73:13-22. Rao JNK, Scott AJ. A simple method for the analysis of clustered binary data.
Biometrics 1992;48:577-585. Obuchowski NA. On the comparison of correlated proportions for clustered
data. Statistics in Medicine 1998;17:1495-1507. Kish L. Survey Sampling. Wiley, 1965.

Examples
--------
Two patients with two concordant trials each, and four patients with one: ``p = 4/8``.

>>> import numpy as np
>>> terms = repeat_terms(np.array([2, 0]), np.array([2, 2]))
>>> variance, deff = clustered_variance(4, 8, *(terms.sum(axis=0)))
>>> round(float(variance), 5), round(float(deff), 4)
(0.05625, 1.575)
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["clustered_variance", "repeat_terms", "robust_variance"]


def repeat_terms(y: ArrayLike, n: ArrayLike) -> np.ndarray:
    """The sums' terms of each patient: columns ``y(y-1)``, ``y(n-1)``, ``n(n-1)`` and ``(n-1)`` (the
    last 0 where ``n`` is 0), one row per patient; every column is 0 for a patient with at most one trial.

    ``y`` and ``n`` are a patient's successes and trials in one stratum-metric (``0 <= y <= n``).
    """
    y_arr, n_arr = np.asarray(y, dtype=np.float64), np.asarray(n, dtype=np.float64)
    if y_arr.shape != n_arr.shape:
        raise ValueError("successes and trials per patient must have the same shape")
    if np.any(y_arr < 0) or np.any(y_arr > n_arr):
        raise ValueError("a patient's successes must lie between 0 and its trials")
    return np.column_stack([y_arr * (y_arr - 1.0), y_arr * (n_arr - 1.0), n_arr * (n_arr - 1.0),
                            np.maximum(n_arr - 1.0, 0.0)])


def clustered_variance(successes: ArrayLike, trials: ArrayLike, a: ArrayLike, b: ArrayLike, c: ArrayLike,
                       e: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """The cluster-robust variance of ``successes / trials`` and its design effect, element-wise.

    ``a, b, c, e`` are the sums of :func:`repeat_terms` over the stratum's patients with several trials
    (0 when there is none). Both results are NaN where they are undefined: no trial, a single patient
    (``G = 1``), or an estimate of 0 or 1 for the design effect (no binomial variance to compare with);
    the variance is 0 at an estimate of 0 or 1.
    """
    y, n = np.asarray(successes, dtype=np.float64), np.asarray(trials, dtype=np.float64)
    a, b, c, e = (np.asarray(v, dtype=np.float64) for v in (a, b, c, e))
    with np.errstate(divide="ignore", invalid="ignore"):
        p = y / n
        binomial_part = n * p * (1.0 - p)
        s = np.maximum(binomial_part + a - 2.0 * p * b + p * p * c, 0.0)  # >= 0; clip rounding only
        g = n - e
        variance = np.where((n > 0) & (g > 1), g / (g - 1.0) * s / (n * n), np.nan)
        reference = n / (n - 1.0) * p * (1.0 - p) / n
        deff = np.where(binomial_part > 0, variance / reference, np.nan)
    return variance, deff


def robust_variance(y: ArrayLike, n: ArrayLike) -> tuple[float, float]:
    """``(p, V)`` from every patient's successes ``y`` and trials ``n`` in one stratum-metric: the direct
    definition (module docstring), for checking :func:`clustered_variance`; patients with no trial are
    ignored. ``V`` is NaN with fewer than two patients."""
    y_arr, n_arr = np.asarray(y, dtype=np.float64), np.asarray(n, dtype=np.float64)
    kept = n_arr > 0
    y_arr, n_arr = y_arr[kept], n_arr[kept]
    total = float(n_arr.sum())
    if total == 0:
        return float("nan"), float("nan")
    p = float(y_arr.sum()) / total
    g = len(n_arr)
    if g < 2:
        return p, float("nan")
    return p, g / (g - 1.0) * float(((y_arr - p * n_arr) ** 2).sum()) / total ** 2
