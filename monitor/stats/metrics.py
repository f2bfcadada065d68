"""Diagnostic-accuracy metrics as binomial fractions of confusion counts.

Every monitored metric (sensitivity, specificity, PPV, NPV) is a proportion
``successes / trials`` built from the four confusion counts ``tp, fp, fn, tn``.
Keeping the metric as a *fraction* (rather than a float) lets the interval,
test and power modules work on the underlying binomial counts.

This module also holds the shared count validation used by the other
``monitor.stats`` modules.
"""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["METRIC_NAMES", "metric_fraction", "estimate"]

METRIC_NAMES: Final[tuple[str, ...]] = ("sensitivity", "specificity", "ppv", "npv")


def _as_count_array(values: ArrayLike, name: str) -> np.ndarray:
    """Return ``values`` as an int64 array of non-negative whole numbers.

    Accepts Python/NumPy integers, booleans and integral floats (e.g. counts that
    went through a float column). Raises ``ValueError`` for NaN, infinities,
    negative or non-integral values.
    """
    arr = np.asarray(values)
    if arr.dtype == object:
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name} must be numeric counts") from exc
    if arr.dtype.kind == "b":
        return arr.astype(np.int64)
    if arr.dtype.kind in "iu":
        out = arr.astype(np.int64)
    elif arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} must be finite counts, got NaN or infinity")
        if np.any(arr != np.floor(arr)):
            raise ValueError(f"{name} must be whole numbers (counts)")
        out = arr.astype(np.int64)
    else:
        raise ValueError(f"{name} must be numeric counts, got dtype {arr.dtype}")
    if np.any(out < 0):
        raise ValueError(f"{name} must be non-negative")
    return out


def _validate_fraction(successes: ArrayLike, trials: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Validate and broadcast a binomial fraction ``successes / trials``.

    Returns int64 arrays of the broadcast shape. Raises ``ValueError`` when a
    count is negative, non-integral or not finite, or when
    ``successes > trials`` anywhere.
    """
    k = _as_count_array(successes, "successes")
    n = _as_count_array(trials, "trials")
    try:
        k, n = np.broadcast_arrays(k, n)
    except ValueError as exc:
        raise ValueError(
            f"successes and trials have incompatible shapes {k.shape} and {n.shape}"
        ) from exc
    if np.any(k > n):
        bad = np.flatnonzero(k > n)[0]
        raise ValueError(
            "successes must not exceed trials: got successes="
            f"{k.flat[bad]} > trials={n.flat[bad]}"
        )
    return k, n


def metric_fraction(
    metric: str,
    tp: ArrayLike,
    fp: ArrayLike,
    fn: ArrayLike,
    tn: ArrayLike,
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(successes, trials)`` of a diagnostic metric from confusion counts.

    Parameters
    ----------
    metric : str
        One of :data:`METRIC_NAMES`:

        * ``"sensitivity"`` = tp / (tp + fn)  (reference-positive cases)
        * ``"specificity"`` = tn / (tn + fp)  (reference-negative cases)
        * ``"ppv"`` = tp / (tp + fp)  (device-positive calls)
        * ``"npv"`` = tn / (tn + fn)  (device-negative calls)
    tp, fp, fn, tn : array_like of int
        Confusion counts, scalars or arrays broadcastable to a common shape.

    Returns
    -------
    successes, trials : numpy.ndarray of int64
        Numerator and denominator of the metric, broadcast to a common shape
        (0-d arrays for scalar input).

    Raises
    ------
    ValueError
        If ``metric`` is unknown or a count is negative / non-integral.

    References
    ----------
    Altman DG, Bland JM. Diagnostic tests 1: sensitivity and specificity.
    BMJ 1994;308:1552. Altman DG, Bland JM. Diagnostic tests 2: predictive
    values. BMJ 1994;309:102.

    Examples
    --------
    >>> k, n = metric_fraction("sensitivity", tp=45, fp=3, fn=5, tn=100)
    >>> int(k), int(n)
    (45, 50)
    >>> k, n = metric_fraction("ppv", [45, 10], [3, 0], [5, 1], [100, 7])
    >>> k.tolist(), n.tolist()
    ([45, 10], [48, 10])
    """
    if metric not in METRIC_NAMES:
        raise ValueError(f"unknown metric {metric!r}; expected one of {METRIC_NAMES}")
    tp_a = _as_count_array(tp, "tp")
    fp_a = _as_count_array(fp, "fp")
    fn_a = _as_count_array(fn, "fn")
    tn_a = _as_count_array(tn, "tn")
    tp_a, fp_a, fn_a, tn_a = np.broadcast_arrays(tp_a, fp_a, fn_a, tn_a)
    if metric == "sensitivity":
        successes, failures = tp_a, fn_a
    elif metric == "specificity":
        successes, failures = tn_a, fp_a
    elif metric == "ppv":
        successes, failures = tp_a, fp_a
    else:  # npv
        successes, failures = tn_a, fn_a
    return successes.copy(), successes + failures


def estimate(successes: ArrayLike, trials: ArrayLike) -> np.ndarray:
    """Return the point estimate ``successes / trials``, NaN where ``trials == 0``.

    Parameters
    ----------
    successes, trials : array_like of int
        Binomial counts (scalars or broadcastable arrays).

    Returns
    -------
    numpy.ndarray of float64
        The observed proportion; NaN (no warning) where ``trials == 0``.
        A 0-d array for scalar input.

    Raises
    ------
    ValueError
        If a count is negative or non-integral, or ``successes > trials``.

    References
    ----------
    Maximum-likelihood estimate of a binomial proportion; see e.g. Brown LD,
    Cai TT, DasGupta A. Interval estimation for a binomial proportion.
    Stat Sci 2001;16:101-133.

    Examples
    --------
    >>> float(estimate(45, 50))
    0.9
    >>> estimate([45, 0], [50, 0]).tolist()
    [0.9, nan]
    """
    k, n = _validate_fraction(successes, trials)
    out = np.full(k.shape, np.nan, dtype=np.float64)
    np.divide(k, n, out=out, where=n > 0)
    return out
