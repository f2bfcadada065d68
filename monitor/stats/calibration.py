"""Calibration of predicted probabilities: Brier score, calibration-in-the-large and slope.

For predicted probabilities ``p`` and outcomes ``y`` (1 = event), with
``lp = logit(p)`` after clipping ``p`` to ``[1e-6, 1 - 1e-6]``:

* **calibration-in-the-large (CITL)** is the intercept ``a`` of the logistic
  model ``logit P(y = 1) = a + offset(lp)`` (slope fixed at 1). ``a = 0`` is
  ideal; ``a > 0`` means more events were observed than predicted (risks are
  underestimated on average), ``a < 0`` the reverse;
* the **calibration slope** is ``b`` in ``logit P(y = 1) = a + b lp``.
  ``b = 1`` is ideal; ``b < 1`` means predictions are too extreme (typical of
  overfitting or of a population shift), ``b > 1`` too moderate;
* the **Brier score** is the mean of ``(p - y)^2`` on the unclipped
  probabilities.

Both logistic models are fitted by maximum likelihood with
``statsmodels.GLM(family=Binomial())``, and their intervals are Wald
intervals from the model-based standard errors. Optional frequency weights let
the service pass binned data (one row per score bin and label, weighted by its
count); the estimates and intervals are then identical to the per-case fit.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import ArrayLike
from scipy import special
from statsmodels.genmod.families import Binomial
from statsmodels.genmod.generalized_linear_model import GLM  # not statsmodels.api: 0.3 s less to import
from statsmodels.tools.sm_exceptions import PerfectSeparationError, PerfectSeparationWarning

from monitor.stats._checks import check_confidence as _check_confidence
from monitor.stats.auc import _as_labels
from monitor.stats.metrics import _as_count_array

__all__ = ["PROBABILITY_CLIP", "CalibrationResult", "brier_score", "calibration"]

PROBABILITY_CLIP: Final[float] = 1e-6
"""Probabilities are clipped to ``[PROBABILITY_CLIP, 1 - PROBABILITY_CLIP]`` before the logit."""


@dataclass(frozen=True)
class CalibrationResult:
    """Calibration summary of predicted probabilities against observed outcomes.

    Attributes
    ----------
    brier : float
        Brier score (mean squared error of the probabilities), weighted when
        frequency weights are given.
    citl : float
        Calibration-in-the-large: intercept ``a`` of
        ``logit P(y) = a + offset(logit p)``; ideal 0.
    citl_ci : tuple of float
        Wald confidence interval of ``citl``.
    slope : float
        Calibration slope ``b`` of ``logit P(y) = a + b logit p``; ideal 1.
    slope_ci : tuple of float
        Wald confidence interval of ``slope``.
    n : int
        Number of cases (sum of the frequency weights).
    events : int
        Number of cases with ``y = 1``.
    """

    brier: float
    citl: float
    citl_ci: tuple[float, float]
    slope: float
    slope_ci: tuple[float, float]
    n: int
    events: int



def _prepare(
    labels: ArrayLike, probabilities: ArrayLike, weights: ArrayLike | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate and return ``(y as float, p, integer frequency weights)``."""
    y = _as_labels(labels)
    p = np.asarray(probabilities)
    if p.dtype == object or p.dtype.kind not in "biuf":
        try:
            p = p.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError("probabilities must be numeric") from exc
    p = p.astype(np.float64, copy=False)
    if p.ndim != 1:
        raise ValueError(f"probabilities must be one-dimensional, got shape {p.shape}")
    if p.size != y.size:
        raise ValueError(f"labels and probabilities must have the same length, got {y.size} and {p.size}")
    if not np.all((p >= 0.0) & (p <= 1.0)):
        raise ValueError("probabilities must lie in [0, 1] (NaN not allowed)")
    if weights is None:
        w = np.ones(y.size, dtype=np.int64)
    else:
        w = _as_count_array(weights, "weights")
        if w.ndim != 1 or w.size != y.size:
            raise ValueError(
                f"weights must be one-dimensional with the same length as labels ({y.size}), got shape {w.shape}"
            )
    keep = w > 0
    return y[keep].astype(np.float64), p[keep], w[keep]


def brier_score(
    labels: ArrayLike,
    probabilities: ArrayLike,
    *,
    weights: ArrayLike | None = None,
) -> float:
    """Brier score: the (weighted) mean of ``(p - y)^2``.

    Parameters
    ----------
    labels : array_like of {0, 1} or bool
        Observed outcomes (1 = event).
    probabilities : array_like of float
        Predicted event probabilities in [0, 1] (not clipped).
    weights : array_like of int, optional
        Frequency weights (counts), e.g. one row per (score bin, label).

    Returns
    -------
    float
        Brier score in [0, 1]; NaN when there are no cases (or all weights 0).

    Raises
    ------
    ValueError
        Labels other than 0/1, probabilities outside [0, 1] or NaN, inputs of
        different lengths, or negative / non-integral weights.

    References
    ----------
    Brier GW. Verification of forecasts expressed in terms of probability.
    Mon Weather Rev 1950;78:1-3.
    Steyerberg EW. Clinical Prediction Models, 2nd ed. Springer 2019,
    chapter 15.

    Examples
    --------
    >>> round(brier_score([0, 1, 1, 0], [0.1, 0.9, 0.6, 0.4]), 4)
    0.085
    >>> round(brier_score([0, 1], [0.2, 0.7], weights=[3, 1]), 4)
    0.0525
    >>> brier_score([], [])
    nan
    """
    y, p, w = _prepare(labels, probabilities, weights)
    total = int(w.sum())
    if total == 0:
        return float("nan")
    return float(np.dot(w, (p - y) ** 2) / total)


def _fit(
    y: np.ndarray,
    exog: np.ndarray,
    w: np.ndarray,
    offset: np.ndarray | None,
    alpha: float,
    index: int,
) -> tuple[float, tuple[float, float]]:
    """Fit a binomial GLM and return one coefficient with its Wald CI (NaN if no finite MLE)."""
    nan = float("nan")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            res = GLM(
                y, exog, family=Binomial(), offset=offset, freq_weights=w.astype(np.float64)
            ).fit()
        except (PerfectSeparationError, np.linalg.LinAlgError):
            return nan, (nan, nan)
    if any(issubclass(c.category, PerfectSeparationWarning) for c in caught) or not getattr(
        res, "converged", True
    ):
        return nan, (nan, nan)
    params = np.asarray(res.params, dtype=np.float64)
    ci = np.asarray(res.conf_int(alpha=alpha), dtype=np.float64)
    if not (np.all(np.isfinite(params)) and np.all(np.isfinite(ci))):
        return nan, (nan, nan)
    return float(params[index]), (float(ci[index, 0]), float(ci[index, 1]))


def calibration(
    labels: ArrayLike,
    probabilities: ArrayLike,
    *,
    confidence: float = 0.95,
    weights: ArrayLike | None = None,
) -> CalibrationResult:
    """Brier score, calibration-in-the-large and calibration slope with Wald intervals.

    Parameters
    ----------
    labels : array_like of {0, 1} or bool
        Observed outcomes (1 = event).
    probabilities : array_like of float
        Predicted event probabilities in [0, 1]; clipped to
        ``[1e-6, 1 - 1e-6]`` before the logit (the Brier score uses the raw
        values).
    confidence : float, default 0.95
        Two-sided confidence level of the Wald intervals.
    weights : array_like of int, optional
        Frequency weights (counts). Passing one row per (score bin, label) with
        its count gives exactly the per-case result for the binned scores.

    Returns
    -------
    CalibrationResult
        With no cases, every statistic is NaN and ``n = events = 0``. When the
        logistic model has no finite maximum-likelihood estimate (no events,
        no non-events, complete separation, or, for the slope, a single
        distinct probability) the affected coefficient and interval are NaN;
        the Brier score is still reported.

    Raises
    ------
    ValueError
        Invalid labels, probabilities, weights or lengths (see
        :func:`brier_score`), or ``confidence`` outside (0, 1).

    Notes
    -----
    CITL is estimated with the slope fixed at 1 (``offset(logit p)``), as
    recommended by Steyerberg (2019) and Van Calster et al. (2016); it is *not*
    the intercept of the slope model. Both models use statsmodels
    ``GLM(family=Binomial())`` with ``freq_weights``; intervals are
    ``estimate -/+ z * se`` with the model-based (inverse Fisher information)
    standard error.

    References
    ----------
    Cox DR. Two further applications of a model for binary regression.
    Biometrika 1958;45:562-565 (calibration slope).
    Steyerberg EW. Clinical Prediction Models, 2nd ed. Springer 2019,
    chapter 15.
    Van Calster B, Nieboer D, Vergouwe Y, De Cock B, Pencina MJ, Steyerberg EW.
    A calibration hierarchy for risk models was defined: from utopia to
    empirical data. J Clin Epidemiol 2016;74:167-176.

    Examples
    --------
    >>> rng = np.random.default_rng(7)
    >>> p = rng.uniform(0.05, 0.95, 2000)
    >>> y = rng.uniform(size=2000) < p
    >>> r = calibration(y, p)
    >>> r.n, r.events
    (2000, 1000)
    >>> r.citl_ci[0] < 0 < r.citl_ci[1], r.slope_ci[0] < 1 < r.slope_ci[1]
    (True, True)
    >>> round(r.brier, 4), round(r.citl, 3), round(r.slope, 3)
    (0.1843, 0.001, 0.997)
    """
    alpha = 1.0 - _check_confidence(confidence)
    y, p, w = _prepare(labels, probabilities, weights)
    n = int(w.sum())
    events = int(np.dot(w, y))
    nan = float("nan")
    if n == 0:
        return CalibrationResult(nan, nan, (nan, nan), nan, (nan, nan), 0, 0)
    brier = float(np.dot(w, (p - y) ** 2) / n)
    if events == 0 or events == n:
        return CalibrationResult(brier, nan, (nan, nan), nan, (nan, nan), n, events)
    lp = special.logit(np.clip(p, PROBABILITY_CLIP, 1.0 - PROBABILITY_CLIP))
    ones = np.ones((y.size, 1))
    citl, citl_ci = _fit(y, ones, w, lp, alpha, 0)
    if np.ptp(lp) == 0.0:
        slope, slope_ci = nan, (nan, nan)
    else:
        slope, slope_ci = _fit(y, np.column_stack([ones[:, 0], lp]), w, None, alpha, 1)
    return CalibrationResult(
        brier=brier,
        citl=citl,
        citl_ci=citl_ci,
        slope=slope,
        slope_ci=slope_ci,
        n=n,
        events=events,
    )
