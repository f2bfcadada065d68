"""Exact one-sided binomial test of a shortfall against a premarket claim.

H0: p >= claim  versus  H1: p < claim.  The exact p-value is
``P(X <= successes | X ~ Binomial(trials, claim))``, i.e.
``scipy.stats.binomtest(successes, trials, claim, alternative="less").pvalue``,
which is also R's ``binom.test(k, n, p, alternative = "less")$p.value``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from monitor.stats.metrics import _validate_fraction

__all__ = ["claim_shortfall_pvalue", "claim_shortfall_pvalues"]


def _as_claims(claims: ArrayLike) -> np.ndarray:
    arr = np.asarray(claims, dtype=np.float64)
    if not np.all((arr >= 0.0) & (arr <= 1.0)):
        raise ValueError("claim must be a probability in [0, 1] (NaN not allowed)")
    return arr


def claim_shortfall_pvalue(successes: int, trials: int, claim: float) -> float:
    """Exact one-sided p-value for H0: p >= claim against H1: p < claim.

    Parameters
    ----------
    successes : int
        Observed successes (e.g. true positives).
    trials : int
        Number of trials (e.g. reference-positive cases).
    claim : float
        Claimed (premarket) proportion or performance goal, in [0, 1].

    Returns
    -------
    float
        ``P(X <= successes)`` for ``X ~ Binomial(trials, claim)``; NaN when
        ``trials == 0``.

    Raises
    ------
    ValueError
        Negative or non-integral counts, ``successes > trials``, or ``claim``
        outside [0, 1].

    References
    ----------
    Clopper CJ, Pearson ES. Biometrika 1934;26:404-413 (exact binomial
    inference). SciPy ``scipy.stats.binomtest``; R ``binom.test``.

    Examples
    --------
    >>> round(claim_shortfall_pvalue(40, 50, 0.9), 6)
    0.024538
    >>> claim_shortfall_pvalue(0, 0, 0.9)
    nan
    """
    if np.ndim(successes) != 0 or np.ndim(trials) != 0 or np.ndim(claim) != 0:
        raise ValueError("claim_shortfall_pvalue takes scalars; use claim_shortfall_pvalues")
    k, n = _validate_fraction(successes, trials)
    p0 = float(_as_claims(claim))
    if int(n) == 0:
        return float("nan")
    return float(stats.binomtest(int(k), int(n), p0, alternative="less").pvalue)


def claim_shortfall_pvalues(
    successes: ArrayLike,
    trials: ArrayLike,
    claims: ArrayLike,
) -> np.ndarray:
    """Vectorised exact one-sided p-values for H0: p >= claim vs H1: p < claim.

    Parameters
    ----------
    successes, trials : array_like of int
        Binomial counts, broadcastable to a common shape.
    claims : array_like of float
        Claimed proportions in [0, 1], broadcastable with the counts.

    Returns
    -------
    numpy.ndarray of float64
        ``scipy.stats.binom.cdf(successes, trials, claims)`` (identical to the
        exact one-sided ``binomtest`` p-value), NaN where ``trials == 0``.

    Raises
    ------
    ValueError
        Negative or non-integral counts, ``successes > trials``, or a claim
        outside [0, 1].

    References
    ----------
    Clopper CJ, Pearson ES. Biometrika 1934;26:404-413. SciPy
    ``scipy.stats.binom``; R ``binom.test(alternative = "less")``.

    Examples
    --------
    >>> np.round(claim_shortfall_pvalues([40, 45, 0], [50, 50, 0], 0.9), 6).tolist()
    [0.024538, 0.568802, nan]
    """
    k, n = _validate_fraction(successes, trials)
    p0 = _as_claims(claims)
    k, n, p0 = np.broadcast_arrays(k, n, p0)
    out = np.asarray(stats.binom.cdf(k, n, p0), dtype=np.float64).copy()
    out[n == 0] = np.nan
    np.minimum(out, 1.0, out=out)
    return out
