"""Data-drift measures computed from binned counts.

Every measure here takes *histograms* - the counts of a feature's values in a
fixed set of bins (numeric features) or categories (categorical features), one
array for the reference window and one for the current window, over the same
bins. The service aggregates these counts in the database (``GROUP BY bin``), so
drift on ten million rows costs a scan, not a data transfer.

The measures reproduce the drift scores of Evidently 0.7 (``ValueDrift``;
``evidently.legacy.calculations.stattests``) on the same bins, so the
Evidently adapter (``monitor.adapters.drift_evidently``) serves as their test
oracle:

* ``psi`` - population stability index, Evidently's ``"psi"`` (natural log,
  Evidently's smoothing of empty bins);
* ``jensen_shannon_distance`` - Evidently's ``"jensenshannon"``
  (:func:`scipy.spatial.distance.jensenshannon`, natural log, so the distance
  lies in [0, sqrt(ln 2)] = [0, 0.8326]);
* ``wasserstein_binned`` - Evidently's ``"wasserstein"``: the first
  Wasserstein distance divided by the reference standard deviation;
* ``chi_square_test`` - a chi-square test of *homogeneity* of the 2 x k table.
  This deliberately differs from Evidently's ``"chisquare"``, a goodness-of-fit
  test that treats the reference proportions as known (see the function).

``drift_from_counts`` applies one measure and its threshold and returns a
:class:`DriftResult`; ``rate_shift`` does the same for a rate (positive-call
rate, prevalence). The two p-value methods carry an effect-size floor, so a
huge sample does not flag a trivial shift.

Bins that are empty in *both* windows carry no information and are dropped by
every measure: the result does not depend on how many empty bins the
histogram grid happens to have.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats
from scipy.spatial import distance

from monitor.stats.metrics import _as_count_array, _validate_fraction

__all__ = [
    "DRIFT_KINDS",
    "DRIFT_METHODS",
    "DEFAULT_METHODS",
    "DEFAULT_THRESHOLDS",
    "CHISQUARE_MIN_EFFECT",
    "RATE_SHIFT_ALPHA",
    "RATE_SHIFT_MIN_EFFECT",
    "DriftResult",
    "psi",
    "jensen_shannon_distance",
    "wasserstein_binned",
    "chi_square_test",
    "drift_from_counts",
    "rate_shift",
]

DRIFT_KINDS: Final[tuple[str, ...]] = ("numeric", "categorical")
DRIFT_METHODS: Final[tuple[str, ...]] = ("psi", "jensenshannon", "wasserstein", "chisquare")

#: Method and threshold by feature kind when none is given: the distance
#: methods Evidently picks for reference windows of more than 1,000 rows.
DEFAULT_METHODS: Final[Mapping[str, tuple[str, float]]] = MappingProxyType(
    {"numeric": ("wasserstein", 0.1), "categorical": ("jensenshannon", 0.1)}
)

#: Default threshold of each method (Evidently's defaults). The distances
#: drift when ``value >= threshold``; ``chisquare`` is a p-value and drifts
#: when ``value < threshold`` (and the effect-size floor is reached).
DEFAULT_THRESHOLDS: Final[Mapping[str, float]] = MappingProxyType(
    {"psi": 0.1, "jensenshannon": 0.1, "wasserstein": 0.1, "chisquare": 0.05}
)

#: Effect-size floor of the chi-square method: the Jensen-Shannon distance
#: (natural log) must reach this value for a significant test to count as drift.
CHISQUARE_MIN_EFFECT: Final[float] = 0.05

#: Significance level and absolute effect-size floor of :func:`rate_shift`.
RATE_SHIFT_ALPHA: Final[float] = 0.05
RATE_SHIFT_MIN_EFFECT: Final[float] = 0.02

# Evidently's "wasserstein" divides by max(std(reference), 0.001).
_MIN_NORM: Final[float] = 0.001
# Evidently's PSI smoothing: empty bins get epsilon, or min_nonzero * 1e-6 when
# the smallest non-empty proportion is itself <= epsilon.
_SMALL_FILL_FACTOR: Final[float] = 1e-6


@dataclass(frozen=True)
class DriftResult:
    """Outcome of one drift check on one feature.

    Attributes
    ----------
    feature : str
        Feature (column) name.
    kind : {"numeric", "categorical"}
        Feature kind.
    method : str
        ``"psi"``, ``"jensenshannon"``, ``"wasserstein"``, ``"chisquare"`` or
        ``"two-proportion-z"`` (:func:`rate_shift`); other Evidently method
        names when produced by the Evidently adapter.
    value : float
        The method's score: a distance, or a p-value for the test methods.
    threshold : float
        Threshold applied to ``value``.
    drifted : bool
        The verdict (see :func:`drift_from_counts`).
    effect_size : float
        The distance itself for distance methods; the Jensen-Shannon distance
        for ``"chisquare"``; the signed rate difference (current - reference)
        for ``"two-proportion-z"``; NaN when not available.
    """

    feature: str
    kind: str
    method: str
    value: float
    threshold: float
    drifted: bool
    effect_size: float


def _count_pair(reference_counts: ArrayLike, current_counts: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Validate two histograms over the same bins; return them as float64 arrays.

    Counts must be non-negative whole numbers, 1-D, of equal length, and each
    window must have at least one case.
    """
    ref = _as_count_array(reference_counts, "reference_counts")
    cur = _as_count_array(current_counts, "current_counts")
    if ref.ndim != 1 or cur.ndim != 1:
        raise ValueError("reference_counts and current_counts must be 1-D histograms")
    if ref.shape != cur.shape:
        raise ValueError(
            f"reference_counts and current_counts must have the same bins, got {ref.size} and {cur.size}"
        )
    if ref.sum() == 0 or cur.sum() == 0:
        raise ValueError("each window needs at least one case (histogram sums must be > 0)")
    return ref.astype(np.float64), cur.astype(np.float64)


def _occupied(*arrays: np.ndarray, ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, ...]:
    """Restrict ``arrays`` (aligned with the bins) to bins non-empty in either window."""
    keep = (ref > 0) | (cur > 0)
    return tuple(a[keep] for a in arrays)


def _fill_empty(proportions: np.ndarray, epsilon: float) -> np.ndarray:
    """Evidently's smoothing: replace zero proportions, without renormalising."""
    nonzero = proportions[proportions > 0]
    smallest = float(nonzero.min())
    fill = smallest * _SMALL_FILL_FACTOR if smallest <= epsilon else epsilon
    return np.where(proportions == 0, fill, proportions)


def psi(reference_counts: ArrayLike, current_counts: ArrayLike, *, epsilon: float = 1e-4) -> float:
    """Population stability index between two histograms over the same bins.

    ``PSI = sum_b (r_b - c_b) * ln(r_b / c_b)`` with ``r_b``, ``c_b`` the
    reference and current proportions of bin ``b``.

    Parameters
    ----------
    reference_counts, current_counts : array_like of int, shape (k,)
        Counts per bin (or category) in the reference and current windows.
    epsilon : float, default 1e-4
        Smoothing of empty bins, as Evidently 0.7 does it
        (``get_binned_data(..., feel_zeroes=True)``): in each window
        separately, a zero proportion becomes ``epsilon``, or
        ``1e-6 * m`` when the smallest non-zero proportion ``m`` of that window
        is itself ``<= epsilon``; proportions are not renormalised afterwards.

    Returns
    -------
    float
        PSI >= 0 (natural log). Conventional reading (Siddiqi 2006): < 0.1 no
        significant shift, 0.1-0.25 moderate, > 0.25 major.

    Raises
    ------
    ValueError
        Negative or non-integral counts, bins of different lengths, an empty
        window, or ``epsilon`` not in (0, 1).

    Notes
    -----
    Bins empty in both windows are dropped before smoothing. Evidently keeps
    them (its numeric path bins on Sturges edges of the pooled data); they add
    nothing when both windows receive the same fill (``epsilon``), which is
    always the case unless a window has a non-empty bin with proportion
    ``<= epsilon``. PSI is the symmetrised Kullback-Leibler divergence
    ``KL(r||c) + KL(c||r)``.

    References
    ----------
    Siddiqi N. Credit Risk Scorecards: Developing and Implementing Intelligent
    Credit Scoring. Hoboken: Wiley; 2006 (chapter 8, system stability report).
    Yurdakul B. Statistical properties of population stability index. PhD
    thesis, Western Michigan University; 2018.
    Evidently 0.7, ``evidently/legacy/calculations/stattests/psi.py``.

    Examples
    --------
    >>> round(psi([50, 30, 20], [40, 30, 30]), 6)
    0.062861
    >>> psi([10, 10], [20, 20])
    0.0
    >>> round(psi([100, 0], [90, 10]), 4)  # the empty reference bin gets 1e-4
    0.7006
    """
    if not (isinstance(epsilon, (int, float, np.floating)) and 0.0 < float(epsilon) < 1.0):
        raise ValueError(f"epsilon must be strictly between 0 and 1, got {epsilon!r}")
    ref, cur = _count_pair(reference_counts, current_counts)
    ref, cur = _occupied(ref, cur, ref=ref, cur=cur)
    r = _fill_empty(ref / ref.sum(), float(epsilon))
    c = _fill_empty(cur / cur.sum(), float(epsilon))
    return float(np.sum((r - c) * np.log(r / c)))


def jensen_shannon_distance(reference_counts: ArrayLike, current_counts: ArrayLike) -> float:
    """Jensen-Shannon distance (natural log) between two histograms.

    The square root of the Jensen-Shannon divergence
    ``JSD = KL(r||m)/2 + KL(c||m)/2`` with ``m = (r + c)/2``, computed by
    :func:`scipy.spatial.distance.jensenshannon` with ``base=None`` (natural
    log), as Evidently 0.7 does (``"jensenshannon"``; no smoothing of empty
    bins). The distance is a metric, symmetric, and lies in
    ``[0, sqrt(ln 2)] = [0, 0.8326]``; in base 2 it would be this value divided
    by ``sqrt(ln 2)``.

    Parameters
    ----------
    reference_counts, current_counts : array_like of int, shape (k,)
        Counts per bin in the reference and current windows.

    Returns
    -------
    float
        The distance; 0 for identical distributions.

    Raises
    ------
    ValueError
        Negative or non-integral counts, bins of different lengths or an empty
        window.

    References
    ----------
    Lin J. Divergence measures based on the Shannon entropy. IEEE Trans Inf
    Theory 1991;37:145-151.
    Endres DM, Schindelin JE. A new metric for probability distributions. IEEE
    Trans Inf Theory 2003;49:1858-1860.

    Examples
    --------
    >>> round(jensen_shannon_distance([50, 30, 20], [40, 30, 30]), 6)
    0.088416
    >>> round(jensen_shannon_distance([1, 0], [0, 1]), 6)  # disjoint: sqrt(ln 2)
    0.832555
    """
    ref, cur = _count_pair(reference_counts, current_counts)
    value = float(distance.jensenshannon(ref / ref.sum(), cur / cur.sum()))
    # Rounding can leave sqrt of a -0.0 or a NaN for identical inputs.
    return 0.0 if not np.isfinite(value) else max(value, 0.0)


def wasserstein_binned(
    bin_values: ArrayLike,
    reference_counts: ArrayLike,
    current_counts: ArrayLike,
    *,
    normed: bool = True,
) -> float:
    """First Wasserstein (earth mover's) distance between two histograms.

    Each bin is represented by one value (its centre, or the value itself for a
    discrete feature); the distance is
    :func:`scipy.stats.wasserstein_distance` of the bin values weighted by the
    reference and by the current counts - the exact distance between the two
    samples with every value moved to its bin's representative value.

    Parameters
    ----------
    bin_values : array_like of float, shape (k,)
        Representative value of each bin (finite, any order).
    reference_counts, current_counts : array_like of int, shape (k,)
        Counts per bin in the reference and current windows.
    normed : bool, default True
        Divide by the reference standard deviation (population, ``ddof=0``,
        computed from the binned reference, floored at 0.001): Evidently's
        ``"wasserstein"`` "normed" distance, in units of reference standard
        deviations. ``False`` gives the distance in the feature's units.

    Returns
    -------
    float
        The distance (>= 0).

    Raises
    ------
    ValueError
        Non-finite bin values, mismatched lengths, invalid counts or an empty
        window.

    Notes
    -----
    On the per-row data ``np.repeat(bin_values, counts)`` this equals
    Evidently's value exactly. Against the raw (unbinned) values the binned
    distance differs by at most half the widest bin width, divided by the norm
    when ``normed``.

    References
    ----------
    Vaserstein LN. Markov processes over denumerable products of spaces,
    describing large systems of automata. Probl Inf Transm 1969;5:47-52.
    Ramdas A, Garcia Trillos N, Cuturi M. On Wasserstein two-sample testing and
    related families of nonparametric tests. Entropy 2017;19:47.

    Examples
    --------
    >>> wasserstein_binned([0.0, 1.0], [1, 1], [0, 2], normed=False)
    0.5
    >>> wasserstein_binned([0.0, 1.0], [1, 1], [0, 2])  # reference std is 0.5
    1.0
    """
    ref, cur = _count_pair(reference_counts, current_counts)
    values = np.asarray(bin_values, dtype=np.float64)
    if values.shape != ref.shape:
        raise ValueError(f"bin_values must have one value per bin ({ref.size}), got shape {values.shape}")
    if not np.all(np.isfinite(values)):
        raise ValueError("bin_values must be finite")
    values, ref, cur = _occupied(values, ref, cur, ref=ref, cur=cur)
    dist = float(stats.wasserstein_distance(values, values, u_weights=ref, v_weights=cur))
    if not normed:
        return dist
    mean = np.sum(ref * values) / ref.sum()
    std = float(np.sqrt(np.sum(ref * (values - mean) ** 2) / ref.sum()))
    return dist / max(std, _MIN_NORM)


def chi_square_test(reference_counts: ArrayLike, current_counts: ArrayLike) -> float:
    """P-value of Pearson's chi-square test of homogeneity of two histograms.

    The 2 x k contingency table (reference and current counts per bin) is
    tested by :func:`scipy.stats.chi2_contingency` without the Yates
    continuity correction (so that k = 2 gives the two-proportion z test), on
    ``k - 1`` degrees of freedom, over the bins non-empty in either window.

    Parameters
    ----------
    reference_counts, current_counts : array_like of int, shape (k,)
        Counts per bin in the reference and current windows.

    Returns
    -------
    float
        Two-sample p-value; 1.0 when fewer than two bins are occupied.

    Raises
    ------
    ValueError
        Negative or non-integral counts, bins of different lengths or an empty
        window.

    Notes
    -----
    Evidently 0.7's ``"chisquare"`` is a *goodness-of-fit* test instead:
    ``scipy.stats.chisquare(current, reference * n_cur / n_ref)``, which treats
    the reference proportions as known and ignores their sampling error. Its
    statistic is larger (for equal window sizes ``sum (c-r)^2/r`` against the
    homogeneity ``sum (c-r)^2/(c+r)``), so its p-values are smaller
    (anti-conservative), and a category absent from the reference gives an
    infinite statistic (p = 0). The two agree as ``n_ref / n_cur`` grows. The
    test assumes expected counts of about 5 or more per cell.

    References
    ----------
    Pearson K. On the criterion that a given system of deviations from the
    probable in the case of a correlated system of variables is such that it
    can be reasonably supposed to have arisen from random sampling. Philos Mag
    1900;50:157-175.
    Agresti A. Categorical Data Analysis. 3rd ed. Hoboken: Wiley; 2013
    (section 3.2).

    Examples
    --------
    >>> round(chi_square_test([50, 30, 20], [40, 30, 30]), 4)
    0.2111
    >>> chi_square_test([10, 0], [20, 0])
    1.0
    """
    ref, cur = _count_pair(reference_counts, current_counts)
    ref, cur = _occupied(ref, cur, ref=ref, cur=cur)
    if ref.size < 2:
        return 1.0
    result = stats.chi2_contingency(np.vstack([ref, cur]), correction=False)
    return float(result.pvalue)


def drift_from_counts(
    feature: str,
    kind: str,
    bins: ArrayLike,
    reference_counts: ArrayLike,
    current_counts: ArrayLike,
    *,
    method: str | None = None,
    threshold: float | None = None,
) -> DriftResult:
    """Drift check of one feature from its reference and current histograms.

    Parameters
    ----------
    feature : str
        Feature name (reported).
    kind : {"numeric", "categorical"}
        Feature kind; picks the default method from :data:`DEFAULT_METHODS`.
    bins : array_like, shape (k,)
        Bin labels: category labels, or the representative value (centre) of
        each numeric bin. ``"wasserstein"`` uses them as the bin values; the
        other methods only check their length.
    reference_counts, current_counts : array_like of int, shape (k,)
        Counts per bin in the reference and current windows.
    method : {"psi", "jensenshannon", "wasserstein", "chisquare"}, optional
        Defaults to ``"wasserstein"`` (numeric) or ``"jensenshannon"``
        (categorical).
    threshold : float, optional
        Defaults to :data:`DEFAULT_THRESHOLDS` (0.1 for the distances, 0.05
        for the chi-square p-value).

    Returns
    -------
    DriftResult
        For a distance method ``value`` is the distance, ``effect_size`` the
        same distance and ``drifted = value >= threshold`` (Evidently's rule).
        For ``"chisquare"``, ``value`` is the homogeneity p-value
        (:func:`chi_square_test`), ``effect_size`` the Jensen-Shannon distance
        and ``drifted = value < threshold and effect_size >=``
        :data:`CHISQUARE_MIN_EFFECT` (0.05): an effect-size floor, so that a
        huge sample does not flag a statistically significant but trivial
        shift.

    Raises
    ------
    ValueError
        Unknown ``kind`` or ``method``, ``"wasserstein"`` on a categorical
        feature or with non-numeric bins, a non-positive threshold, or invalid
        counts.

    References
    ----------
    Evidently 0.7 drift methods, ``evidently/legacy/calculations/stattests``.
    Rabanser S, Guennemann S, Lipton ZC. Failing loudly: an empirical study of
    methods for detecting dataset shift. NeurIPS 2019.

    Examples
    --------
    >>> r = drift_from_counts("site", "categorical", ["a", "b", "c"], [50, 30, 20], [40, 30, 30])
    >>> r.method, round(r.value, 4), r.drifted
    ('jensenshannon', 0.0884, False)
    >>> r = drift_from_counts("age", "numeric", [30.0, 50.0, 70.0], [50, 30, 20], [20, 30, 50])
    >>> r.method, round(r.value, 4), r.drifted
    ('wasserstein', 0.7682, True)
    >>> r = drift_from_counts("site", "categorical", ["a", "b"], [500, 500], [450, 550], method="chisquare")
    >>> round(r.value, 4), round(r.effect_size, 4), r.drifted
    (0.0252, 0.0354, False)
    """
    if kind not in DRIFT_KINDS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {DRIFT_KINDS}")
    method = DEFAULT_METHODS[kind][0] if method is None else method
    if method not in DRIFT_METHODS:
        raise ValueError(f"unknown drift method {method!r}; expected one of {DRIFT_METHODS}")
    threshold = DEFAULT_THRESHOLDS[method] if threshold is None else threshold
    if not (isinstance(threshold, (int, float, np.floating)) and np.isfinite(threshold) and threshold > 0):
        raise ValueError(f"threshold must be a positive number, got {threshold!r}")
    threshold = float(threshold)
    labels = np.asarray(bins)
    ref, cur = _count_pair(reference_counts, current_counts)
    if labels.shape != ref.shape:
        raise ValueError(f"bins must have one label per count ({ref.size}), got shape {labels.shape}")

    if method == "chisquare":
        value = chi_square_test(ref, cur)
        effect = jensen_shannon_distance(ref, cur)
        drifted = value < threshold and effect >= CHISQUARE_MIN_EFFECT
    else:
        if method == "psi":
            value = psi(ref, cur)
        elif method == "jensenshannon":
            value = jensen_shannon_distance(ref, cur)
        else:  # wasserstein
            if kind != "numeric":
                raise ValueError("the wasserstein method needs a numeric feature")
            if labels.dtype.kind not in "iuf":
                raise ValueError("the wasserstein method needs numeric bin values")
            value = wasserstein_binned(labels, ref, cur)
        effect = value
        drifted = value >= threshold
    return DriftResult(
        feature=feature,
        kind=kind,
        method=method,
        value=float(value),
        threshold=threshold,
        drifted=bool(drifted),
        effect_size=float(effect),
    )


def rate_shift(
    reference_successes: int,
    reference_trials: int,
    current_successes: int,
    current_trials: int,
    *,
    feature: str = "rate",
) -> DriftResult:
    """Drift of a rate (positive-call rate, prevalence) between two windows.

    Two-sided two-proportion z test with pooled variance,
    ``z = (p_c - p_r) / sqrt(p (1 - p) (1/n_r + 1/n_c))``, ``p`` the pooled
    rate; equivalent to :func:`chi_square_test` on the 2 x 2 table.

    Parameters
    ----------
    reference_successes, reference_trials : int
        Reference window: cases with the event (e.g. positive calls) and cases.
    current_successes, current_trials : int
        Current window, likewise.
    feature : str, default "rate"
        Name reported in the result (e.g. ``"positive_call_rate"``,
        ``"prevalence"``).

    Returns
    -------
    DriftResult
        ``kind="categorical"``, ``method="two-proportion-z"``, ``value`` the
        p-value, ``threshold`` :data:`RATE_SHIFT_ALPHA` (0.05),
        ``effect_size = p_c - p_r`` (signed, absolute scale), and
        ``drifted = value < 0.05 and |effect_size| >=``
        :data:`RATE_SHIFT_MIN_EFFECT` (0.02 absolute): the effect-size floor
        keeps a huge window from flagging a clinically trivial change. When a
        window has no trials, ``value`` and ``effect_size`` are NaN and
        ``drifted`` is False.

    Raises
    ------
    ValueError
        Negative or non-integral counts, non-scalar input, or successes
        exceeding trials.

    Notes
    -----
    A pooled rate of 0 or 1 (no variation) gives p = 1. For a confidence
    interval of the difference use Newcombe's hybrid score interval (method 10
    of Newcombe 1998).

    References
    ----------
    Fleiss JL, Levin B, Paik MC. Statistical Methods for Rates and
    Proportions. 3rd ed. Hoboken: Wiley; 2003 (section 2.6).
    Newcombe RG. Interval estimation for the difference between independent
    proportions: comparison of eleven methods. Stat Med 1998;17:873-890.

    Examples
    --------
    >>> r = rate_shift(100, 1000, 150, 1000, feature="positive_call_rate")
    >>> round(r.value, 5), round(r.effect_size, 3), r.drifted
    (0.00072, 0.05, True)
    >>> r = rate_shift(100_000, 1_000_000, 101_000, 1_000_000)
    >>> r.value < 0.05, r.drifted  # significant, below the 0.02 floor
    (True, False)
    """
    for v in (reference_successes, reference_trials, current_successes, current_trials):
        if np.ndim(v) != 0:
            raise ValueError("rate_shift takes scalar counts")
    k, n = _validate_fraction([reference_successes, current_successes], [reference_trials, current_trials])
    if np.any(n == 0):
        nan = float("nan")
        return DriftResult(feature, "categorical", "two-proportion-z", nan, RATE_SHIFT_ALPHA, False, nan)
    k_f, n_f = k.astype(np.float64), n.astype(np.float64)
    p_ref, p_cur = k_f / n_f
    diff = float(p_cur - p_ref)
    pooled = k_f.sum() / n_f.sum()
    se = float(np.sqrt(pooled * (1.0 - pooled) * (1.0 / n_f[0] + 1.0 / n_f[1])))
    p_value = 1.0 if se == 0.0 else float(2.0 * stats.norm.sf(abs(diff) / se))
    drifted = p_value < RATE_SHIFT_ALPHA and abs(diff) >= RATE_SHIFT_MIN_EFFECT
    return DriftResult(
        feature=feature,
        kind="categorical",
        method="two-proportion-z",
        value=p_value,
        threshold=RATE_SHIFT_ALPHA,
        drifted=bool(drifted),
        effect_size=diff,
    )
