"""Multiplicity adjustment across a family of strata.

* :func:`holm` - Holm step-down adjusted p-values (family-wise error rate);
  for confirmatory strata with labelling claims (regulatory.md section 4.3).
* :func:`benjamini_hochberg` - BH step-up adjusted p-values (q-values, false
  discovery rate); for exploratory / intersectional drift signals.

Both delegate to :func:`statsmodels.stats.multitest.multipletests`. NaN
p-values (e.g. strata with no trials) stay NaN and are *excluded* from the
family, so they neither count towards ``m`` nor receive an adjustment; this
matches R's ``p.adjust`` default.

:func:`adjust_log10` is the decision rule's form: the same two procedures on log10 p-values (so that
p-values below the float range keep their order and size) over a family whose size is fixed in advance,
members without a p-value this period counting as p = 1. It is hand-written because statsmodels works on
float p-values, which underflow to 0; it equals ``multipletests`` on the padded family wherever the
p-values are representable (tests/unit/stats/test_stats_multiplicity.py).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from statsmodels.stats.multitest import multipletests

__all__ = ["adjust_log10", "benjamini_hochberg", "holm"]


def _adjust(pvalues: ArrayLike, method: str) -> np.ndarray:
    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full(p.shape, np.nan, dtype=np.float64)
    present = ~np.isnan(p)
    if np.any((p[present] < 0.0) | (p[present] > 1.0)):
        raise ValueError("p-values must lie in [0, 1] (NaN allowed for 'not tested')")
    if np.any(present):
        out[present] = multipletests(p[present], method=method)[1]
    return out


def benjamini_hochberg(pvalues: ArrayLike) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values).

    Parameters
    ----------
    pvalues : array_like of float
        Raw p-values of one family (any shape). NaN marks "not tested".

    Returns
    -------
    numpy.ndarray of float64
        Adjusted p-values, same shape; reject at FDR level q where
        ``adjusted <= q``. NaN entries stay NaN and are excluded from the
        family size.

    Raises
    ------
    ValueError
        If a non-NaN p-value lies outside [0, 1].

    References
    ----------
    Benjamini Y, Hochberg Y. Controlling the false discovery rate: a practical
    and powerful approach to multiple testing. J R Stat Soc B 1995;57:289-300.
    statsmodels ``multipletests(method="fdr_bh")``; R ``p.adjust(method="BH")``.

    Examples
    --------
    >>> benjamini_hochberg([0.01, 0.02, 0.03, 0.04, 0.05]).round(4).tolist()
    [0.05, 0.05, 0.05, 0.05, 0.05]
    >>> benjamini_hochberg([0.01, float("nan"), 0.04]).round(4).tolist()
    [0.02, nan, 0.04]
    """
    return _adjust(pvalues, "fdr_bh")


def holm(pvalues: ArrayLike) -> np.ndarray:
    """Holm step-down adjusted p-values (strong FWER control).

    Parameters
    ----------
    pvalues : array_like of float
        Raw p-values of one family (any shape). NaN marks "not tested".

    Returns
    -------
    numpy.ndarray of float64
        Adjusted p-values, same shape; reject at FWER level alpha where
        ``adjusted <= alpha``. NaN entries stay NaN and are excluded from the
        family size.

    Raises
    ------
    ValueError
        If a non-NaN p-value lies outside [0, 1].

    References
    ----------
    Holm S. A simple sequentially rejective multiple test procedure.
    Scand J Stat 1979;6:65-70. statsmodels ``multipletests(method="holm")``;
    R ``p.adjust(method="holm")``.

    Examples
    --------
    >>> holm([0.01, 0.02, 0.03, 0.04, 0.05]).round(4).tolist()
    [0.05, 0.08, 0.09, 0.09, 0.09]
    """
    return _adjust(pvalues, "holm")


def adjust_log10(log10_p: ArrayLike, method: str, family_size: int) -> np.ndarray:
    """Holm or Benjamini-Hochberg adjusted p-values, in log10, over a family of fixed size.

    Parameters
    ----------
    log10_p : array_like of float
        log10 p-values of the family members tested this period (all <= 0).
    method : {"holm", "bh"}
        Holm step-down (FWER) or Benjamini-Hochberg step-up (FDR).
    family_size : int
        Size m of the pre-specified family (at least ``len(log10_p)``); the ``m - len(log10_p)`` members
        without a p-value enter with p = 1.

    Returns
    -------
    numpy.ndarray of float64
        log10 of the adjusted p-values (at most 0), same order as ``log10_p``; equal to
        ``log10(multipletests(padded, method="holm" | "fdr_bh")[1])`` on the padded family.

    Raises
    ------
    ValueError
        Unknown method, a NaN or positive log10 p-value, or a family smaller than the p-values given.

    References
    ----------
    Holm S. Scand J Stat 1979;6:65-70. Benjamini Y, Hochberg Y. J R Stat Soc B 1995;57:289-300.

    Examples
    --------
    >>> np.round(10 ** adjust_log10(np.log10([0.01, 0.04]), "holm", 4), 4).tolist()
    [0.04, 0.12]
    >>> np.round(10 ** adjust_log10(np.log10([0.01, 0.04]), "bh", 4), 4).tolist()
    [0.04, 0.08]
    >>> adjust_log10([-400.0], "holm", 10).round(6).tolist()
    [-399.0]
    """
    if method not in ("holm", "bh"):
        raise ValueError(f"method must be 'holm' or 'bh', got {method!r}")
    lp = np.asarray(log10_p, dtype=np.float64).ravel()
    if np.any(np.isnan(lp)) or np.any(lp > 0.0):
        raise ValueError("log10 p-values must be numbers at most 0")
    m = int(family_size)
    if m < lp.size:
        raise ValueError(f"family_size {m} is smaller than the {lp.size} p-values given")
    if lp.size == 0:
        return lp.copy()
    order = np.argsort(lp, kind="mergesort")
    ranks = np.arange(1, lp.size + 1, dtype=np.float64)
    if method == "holm":
        stepped = np.maximum.accumulate(np.log10(m - ranks + 1.0) + lp[order])
    else:
        stepped = np.minimum.accumulate((np.log10(m / ranks) + lp[order])[::-1])[::-1]
    out = np.empty_like(lp)
    out[order] = np.minimum(stepped, 0.0)
    return out
