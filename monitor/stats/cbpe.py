"""Confidence-based performance estimation (CBPE) without ground truth.

When reference-standard labels arrive late or never, the device's
performance can still be *estimated* from its own calibrated probabilities.
If ``p_i = P(Y_i = 1 | score_i)`` is calibrated and ``c_i`` is the device's
binary call, the expected confusion counts of a window are

* ``E[TP] = sum p_i c_i``,          ``E[FN] = sum p_i (1 - c_i)``,
* ``E[FP] = sum (1 - p_i) c_i``,    ``E[TN] = sum (1 - p_i)(1 - c_i)``,

and the metrics are estimated as ratios of these expectations (NannyML's CBPE).
The estimate is only as good as the calibration: it is valid under *covariate
shift* (the case mix changes, ``P(Y | score)`` does not) and is biased under
concept shift or a change of prevalence given the score, which labels alone
can reveal. It is therefore reported as an estimate (``is_estimate=True``) and
never replaces the labelled evaluation.

``fit_isotonic_calibration`` turns raw scores into calibrated probabilities,
fitted on a labelled reference window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from numpy.typing import ArrayLike

from monitor.stats.metrics import _as_count_array

__all__ = ["EstimatedPerformance", "cbpe_from_bins", "cbpe", "fit_isotonic_calibration"]


@dataclass(frozen=True)
class EstimatedPerformance:
    """Label-free performance estimate of one window.

    Attributes
    ----------
    sensitivity, specificity, ppv, npv : float
        Estimated metrics; NaN when the expected denominator is 0 (e.g. PPV
        with no positive call).
    n : int
        Number of cases the estimate is based on.
    is_estimate : bool, default True
        Always True: marks the figures as estimated, not measured.
    """

    sensitivity: float
    specificity: float
    ppv: float
    npv: float
    n: int
    is_estimate: bool = True


def _probabilities(values: ArrayLike, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D")
    if not np.all(np.isfinite(arr)) or np.any((arr < 0.0) | (arr > 1.0)):
        raise ValueError(f"{name} must be probabilities in [0, 1]")
    return arr


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den > 0 else float("nan")


def cbpe_from_bins(
    bin_probabilities: ArrayLike,
    positive_call_counts: ArrayLike,
    negative_call_counts: ArrayLike,
) -> EstimatedPerformance:
    """CBPE from probability bins: the form the database path aggregates.

    Cases are grouped by calibrated probability (one row per probability
    value, or per narrow probability bin represented by its mean probability)
    and counted by call.

    Parameters
    ----------
    bin_probabilities : array_like of float, shape (k,)
        Calibrated probability of the condition for the cases of each bin.
    positive_call_counts, negative_call_counts : array_like of int, shape (k,)
        Number of cases in each bin called positive and called negative.

    Returns
    -------
    EstimatedPerformance
        With ``n`` the total count.

    Raises
    ------
    ValueError
        Probabilities outside [0, 1] or not finite, invalid counts, or arrays
        of different lengths.

    Notes
    -----
    With bins that hold exactly equal probabilities this equals :func:`cbpe`
    on the cases. Binning probabilities (e.g. to 0.01) changes the estimate
    only through the within-bin spread of ``p``, provided each bin is
    represented by the mean probability of its cases.

    References
    ----------
    NannyML. Confidence-based performance estimation (CBPE). NannyML
    documentation, "How it works: performance estimation"; 2022.
    Kivimaeki J, Bialek J, Nurminen JK, Kuberski W. Confidence-based
    estimators for predictive performance in model monitoring.
    arXiv:2407.08649; 2024.
    Kivimaeki J, Bialek J, Kuberski W, Nurminen JK. Performance estimation in
    binary classification using calibrated confidence. arXiv; May 2025.

    Examples
    --------
    >>> est = cbpe_from_bins([0.1, 0.9], [10, 80], [90, 20])
    >>> round(est.sensitivity, 4), round(est.specificity, 4), round(est.ppv, 4), est.n
    (0.73, 0.83, 0.8111, 200)
    """
    p = _probabilities(bin_probabilities, "bin_probabilities")
    pos = _as_count_array(positive_call_counts, "positive_call_counts").astype(np.float64)
    neg = _as_count_array(negative_call_counts, "negative_call_counts").astype(np.float64)
    if pos.shape != p.shape or neg.shape != p.shape:
        raise ValueError(
            "bin_probabilities, positive_call_counts and negative_call_counts must have the same length"
        )
    tp = float(np.sum(p * pos))
    fp = float(np.sum((1.0 - p) * pos))
    fn = float(np.sum(p * neg))
    tn = float(np.sum((1.0 - p) * neg))
    return EstimatedPerformance(
        sensitivity=_ratio(tp, tp + fn),
        specificity=_ratio(tn, tn + fp),
        ppv=_ratio(tp, tp + fp),
        npv=_ratio(tn, tn + fn),
        n=int(pos.sum() + neg.sum()),
    )


def cbpe(probabilities: ArrayLike, calls: ArrayLike) -> EstimatedPerformance:
    """CBPE from per-case calibrated probabilities and binary calls.

    Parameters
    ----------
    probabilities : array_like of float, shape (n,)
        Calibrated probability of the condition for each case (e.g. the output
        of :func:`fit_isotonic_calibration` applied to the raw scores).
    calls : array_like of bool or {0, 1}, shape (n,)
        The device's binary call for each case (1 = positive).

    Returns
    -------
    EstimatedPerformance
        Expected-count ratios; see the module docstring.

    Raises
    ------
    ValueError
        Probabilities outside [0, 1], calls other than 0/1, or lengths that
        differ.

    References
    ----------
    NannyML. Confidence-based performance estimation (CBPE); 2022.
    Kivimaeki J, Bialek J, Nurminen JK, Kuberski W. arXiv:2407.08649; 2024.

    Examples
    --------
    >>> est = cbpe([0.9, 0.8, 0.3, 0.1], [1, 1, 0, 0])
    >>> round(est.sensitivity, 4), round(est.specificity, 4), est.n, est.is_estimate
    (0.8095, 0.8421, 4, True)
    """
    p = _probabilities(probabilities, "probabilities")
    c = _as_count_array(calls, "calls")
    if c.shape != p.shape:
        raise ValueError(f"probabilities and calls must have the same length, got {p.size} and {c.size}")
    if np.any(c > 1):
        raise ValueError("calls must be binary (0/1 or bool)")
    return cbpe_from_bins(p, c, 1 - c)


def fit_isotonic_calibration(scores: ArrayLike, labels: ArrayLike, counts: ArrayLike | None = None
                             ) -> Callable[[np.ndarray], np.ndarray]:
    """Fit an isotonic calibration map on a labelled reference window.

    Fits :class:`sklearn.isotonic.IsotonicRegression` (increasing,
    ``out_of_bounds="clip"``, bounded to [0, 1]) of the labels on the raw
    scores and returns its piecewise-linear map as a pure numpy function:
    ``np.interp`` over the fitted thresholds, which is what
    ``IsotonicRegression.predict`` computes, with scores outside the fitted
    range clipped to the end values. The returned function holds copies of the
    thresholds only, so it can be stored and applied without scikit-learn
    state.

    Parameters
    ----------
    scores : array_like of float, shape (n,)
        Raw device scores (higher = more likely positive), finite.
    labels : array_like of bool or {0, 1}, shape (n,)
        Reference-standard outcome of each case.
    counts : array_like of int, shape (n,), optional
        Cases per row (a histogram of score bin and label): passed to the fit as
        frequency weights, which gives the same map as repeating each row that
        many times (scikit-learn first merges equal scores into their weighted
        mean label, exactly, since the sums are whole numbers).

    Returns
    -------
    callable
        ``calibrate(scores) -> probabilities``, vectorised, output in [0, 1]
        with the shape of the input.

    Raises
    ------
    ValueError
        Empty input, non-finite scores, labels other than 0/1, or lengths that
        differ.

    Notes
    -----
    Isotonic regression assumes only that the probability is non-decreasing
    in the score; it needs a few hundred labelled cases per class to be stable
    (Niculescu-Mizil & Caruana 2005). scikit-learn is imported on first call.

    References
    ----------
    Zadrozny B, Elkan C. Transforming classifier scores into accurate multiclass
    probability estimates. KDD 2002:694-699.
    Niculescu-Mizil A, Caruana R. Predicting good probabilities with supervised
    learning. ICML 2005:625-632.

    Examples
    --------
    >>> calibrate = fit_isotonic_calibration([0.1, 0.2, 0.3, 0.4], [0, 1, 0, 1])
    >>> calibrate(np.array([0.0, 0.1, 0.25, 0.4, 0.9])).tolist()
    [0.0, 0.0, 0.5, 1.0, 1.0]
    """
    from sklearn.isotonic import IsotonicRegression

    x = np.asarray(scores, dtype=np.float64)
    y = _as_count_array(labels, "labels")
    if x.ndim != 1 or x.size == 0:
        raise ValueError("scores must be a non-empty 1-D array")
    if y.shape != x.shape:
        raise ValueError(f"scores and labels must have the same length, got {x.size} and {y.size}")
    if not np.all(np.isfinite(x)):
        raise ValueError("scores must be finite")
    if np.any(y > 1):
        raise ValueError("labels must be binary (0/1 or bool)")
    weights = None
    if counts is not None:
        weights = _as_count_array(counts, "counts")
        if weights.shape != x.shape:
            raise ValueError(f"scores and counts must have the same length, got {x.size} and {weights.size}")
        if not weights.any():
            raise ValueError("counts must not all be 0")
        weights = weights.astype(np.float64)
    model = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
    model.fit(x, y.astype(np.float64), sample_weight=weights)
    xp = np.array(model.X_thresholds_, dtype=np.float64, copy=True)
    fp = np.array(model.y_thresholds_, dtype=np.float64, copy=True)

    def calibrate(values: np.ndarray) -> np.ndarray:
        """Map raw scores to calibrated probabilities (isotonic, clipped)."""
        return np.interp(np.asarray(values, dtype=np.float64), xp, fp)

    return calibrate
