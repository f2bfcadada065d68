"""Exact one-sided binomial test of an event rate above a claimed maximum.

For rates that must stay *low* (e.g. the share of studies for which the AI returned no result):
H0: p <= maximum versus H1: p > maximum. The exact p-value is
``P(X >= events | X ~ Binomial(trials, maximum))``, i.e.
``scipy.stats.binomtest(events, trials, maximum, alternative="greater").pvalue``, which is also R's
``binom.test(k, n, p, alternative = "greater")$p.value``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from monitor.stats.metrics import _validate_fraction

__all__ = ["rate_excess_pvalues"]


def rate_excess_pvalues(events: ArrayLike, trials: ArrayLike, maximum: ArrayLike) -> np.ndarray:
    """Vectorised exact one-sided p-values for H0: p <= maximum against H1: p > maximum.

    Parameters
    ----------
    events, trials : array_like of int
        Observed events (e.g. AI failures) and trials (predictions + failures), broadcastable.
    maximum : array_like of float
        Claimed maximum rate in [0, 1].

    Returns
    -------
    numpy.ndarray of float64
        ``scipy.stats.binom.sf(events - 1, trials, maximum)``; NaN where ``trials == 0``.

    Raises
    ------
    ValueError
        Negative or non-integral counts, ``events > trials``, or a maximum outside [0, 1].

    References
    ----------
    Clopper CJ, Pearson ES. Biometrika 1934;26:404-413 (exact binomial inference). SciPy
    ``scipy.stats.binomtest``; R ``binom.test(alternative = "greater")``.

    Examples
    --------
    >>> np.round(rate_excess_pvalues([9, 2, 0], [200, 200, 0], 0.02), 6).tolist()
    [0.020175, 0.910625, nan]
    """
    k, n = _validate_fraction(events, trials)
    p0 = np.asarray(maximum, dtype=np.float64)
    if not np.all((p0 >= 0.0) & (p0 <= 1.0)):
        raise ValueError("maximum must be a probability in [0, 1] (NaN not allowed)")
    k, n, p0 = np.broadcast_arrays(k, n, p0)
    out = np.asarray(stats.binom.sf(k - 1, n, p0), dtype=np.float64).copy()
    out[n == 0] = np.nan
    np.clip(out, 0.0, 1.0, out=out)
    return out
