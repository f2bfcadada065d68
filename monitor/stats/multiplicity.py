"""Multiplicity adjustment across a family of strata.

* :func:`holm` - Holm step-down adjusted p-values (family-wise error rate);
  for confirmatory strata with labelling claims (regulatory.md section 4.3).
* :func:`benjamini_hochberg` - BH step-up adjusted p-values (q-values, false
  discovery rate); for exploratory / intersectional drift signals.

Both delegate to :func:`statsmodels.stats.multitest.multipletests`. NaN
p-values (e.g. strata with no trials) stay NaN and are *excluded* from the
family, so they neither count towards ``m`` nor receive an adjustment; this
matches R's ``p.adjust`` default.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from statsmodels.stats.multitest import multipletests

__all__ = ["benjamini_hochberg", "holm"]


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
