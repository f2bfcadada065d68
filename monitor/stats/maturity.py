"""Label maturity of a prediction cohort (delayed ground truth).

Ground truth for a lung-nodule CT finding arrives months after the scan
(follow-up CT, biopsy, MDT; regulatory.md section 4.5). Performance figures for
a recent scan-date cohort are therefore provisional. :func:`maturity_summary`
counts labelled and pending cases at the data cut-off, estimates the label
delay treating pending cases as right-censored (Kaplan-Meier, via
:mod:`monitor.stats.survival`), and applies an explicit maturity rule:

* **window rule**: the cohort is mature once its *youngest* case has had at
  least ``window_days`` of follow-up (cohort age = cut-off minus the latest
  ``predicted_at``), i.e. every case had the full labelling window; or
* **completeness rule**: at least ``completeness_threshold`` of the cohort's
  predictions have a label by the cut-off.

:func:`arrival_cdf` estimates the distribution of the delay until a label is *final*, for one
outcome, from earlier cohorts: the outcome of a case is known only once its label arrived, so the
pending cases cannot be censored per outcome; instead every labelled case is *right-truncated* at its
elapsed time (it is seen only because its delay did not exceed the time from its prediction to the
cut-off). The product-limit estimator for right-truncated data is Lynden-Bell's (KM in reversed time
with delayed entry); :mod:`monitor.domain.labels` turns it into the share of a cohort's expected labels
that are final by the cut-off (docs/maturity.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from monitor.stats.survival import (
    _DAY,
    _as_datetime64,
    _as_timestamp,
    _fit,
    _km_quantile,
    durations_from_timestamps,
)

__all__ = ["ArrivalCDF", "MaturitySummary", "arrival_cdf", "maturity_summary", "mostly_pending"]


@dataclass(frozen=True)
class MaturitySummary:
    """Label status of one prediction cohort at the data cut-off.

    Attributes
    ----------
    predictions, labelled, pending : int
        Cases, cases with a label by the cut-off, cases still without one.
    completeness : float
        ``labelled / predictions`` (NaN with no predictions).
    median_delay_days, p90_delay_days : float
        Kaplan-Meier median and 90th percentile of the delay from prediction
        to label, pending cases right-censored at the cut-off. NaN while the
        curve has not reached 50% / 90% labelled (the delay is not yet known).
    mature : bool
        Whether the window rule or the completeness rule holds.
    reason : str
        Human-readable statement of the rule that decided ``mature``.
    """

    predictions: int
    labelled: int
    pending: int
    completeness: float
    median_delay_days: float
    p90_delay_days: float
    mature: bool
    reason: str


def _check_fraction(value: float, name: str, *, allow_zero: bool) -> float:
    v = float(value)
    ok = (0.0 <= v <= 1.0) if allow_zero else (0.0 < v <= 1.0)
    if not ok:
        raise ValueError(f"{name} must lie in {'[0, 1]' if allow_zero else '(0, 1]'}, got {value!r}")
    return v


def maturity_summary(
    predicted_at: Any,
    confirmed_at: Any,
    cutoff: Any,
    *,
    window_days: int,
    completeness_threshold: float = 0.95,
) -> MaturitySummary:
    """Labelled / pending counts, label delay and the maturity verdict of a cohort.

    Parameters
    ----------
    predicted_at : array_like of timestamps
        When each prediction was made (numpy ``datetime64``, pandas, Python
        datetimes or ISO strings); none missing, none after ``cutoff``.
    confirmed_at : array_like of timestamps
        When the ground truth arrived; NaT / None while pending. A label
        dated after ``cutoff`` counts as pending (unknown at the cut-off).
    cutoff : timestamp
        Data cut-off.
    window_days : int
        Labelling window in days (e.g. 365 for 12-month Lung-RADS follow-up).
    completeness_threshold : float, default 0.95
        Share of labelled predictions that makes the cohort mature early.

    Returns
    -------
    MaturitySummary

    Raises
    ------
    ValueError
        Invalid timestamps (see
        :func:`monitor.stats.survival.durations_from_timestamps`),
        ``window_days < 0`` or a threshold outside (0, 1].

    Notes
    -----
    The delay quantiles are Kaplan-Meier estimates with pending cases
    censored at the cut-off (same quantile rule as
    :func:`monitor.stats.survival.time_to_event_summary`), **not** quantiles
    among labelled cases only: the labelled cases of a young cohort are the
    fast ones, so the naive quantiles understate the delay. The KM estimate
    assumes that cases still pending would be labelled eventually, and that
    pending status does not depend on the (unknown) label. Both rules use
    ``>=``. An empty cohort is not mature (``reason = "no predictions"``).

    References
    ----------
    Kaplan EL, Meier P. J Am Stat Assoc 1958;53:457-481.
    American College of Radiology. Lung-RADS v1.1 (2019): follow-up intervals
    of 3, 6 and 12 months (motivation for a 12-month window).

    Examples
    --------
    >>> import numpy as np
    >>> pred = np.array(["2024-01-01", "2024-01-05", "2024-01-10", "2024-01-20"], dtype="datetime64[ns]")
    >>> conf = np.array(["2024-02-01", "NaT", "2024-01-30", "NaT"], dtype="datetime64[ns]")
    >>> s = maturity_summary(pred, conf, "2024-03-01", window_days=90)
    >>> s.predictions, s.labelled, s.pending, s.completeness
    (4, 2, 2, 0.5)
    >>> s.mature, s.reason
    (False, 'provisional: age 41.0 d < window 90 d and completeness 0.500 < 0.950')
    >>> maturity_summary(pred, conf, "2024-06-01", window_days=90).reason
    'mature: age 133.0 d >= window 90 d'
    """
    if isinstance(window_days, bool) or not isinstance(window_days, (int, np.integer)) or window_days < 0:
        raise ValueError(f"window_days must be a non-negative integer, got {window_days!r}")
    threshold = _check_fraction(completeness_threshold, "completeness_threshold", allow_zero=False)
    durations, observed = durations_from_timestamps(predicted_at, confirmed_at, cutoff)
    n = int(durations.size)
    labelled = int(observed.sum())
    if n == 0:
        return MaturitySummary(0, 0, 0, math.nan, math.nan, math.nan, False, "no predictions")
    completeness = labelled / n
    sf = _fit(durations, observed)
    last = float(durations.max())
    median = _km_quantile(sf, 0.5, last)
    p90 = _km_quantile(sf, 0.9, last)

    start = _as_datetime64(predicted_at, "predicted_at")
    age_days = float((_as_timestamp(cutoff, "cutoff") - start.max()) / _DAY)
    by_window = age_days >= window_days
    by_completeness = completeness >= threshold
    age_text = f"age {age_days:.1f} d"
    comp_text = f"completeness {completeness:.3f}"
    if by_window:
        reason = f"mature: {age_text} >= window {window_days} d"
    elif by_completeness:
        reason = f"mature: {comp_text} >= {threshold:.3f}"
    else:
        reason = (
            f"provisional: {age_text} < window {window_days} d and {comp_text} < {threshold:.3f}"
        )
    return MaturitySummary(
        predictions=n,
        labelled=labelled,
        pending=n - labelled,
        completeness=completeness,
        median_delay_days=median,
        p90_delay_days=p90,
        mature=bool(by_window or by_completeness),
        reason=reason,
    )


def mostly_pending(summary: MaturitySummary, *, threshold: float = 0.5) -> bool:
    """Whether more than ``threshold`` of a stratum's predictions still lack a label.

    Parameters
    ----------
    summary : MaturitySummary
        Result of :func:`maturity_summary` for the stratum.
    threshold : float, default 0.5
        Pending share above which the stratum is marked "mostly pending".

    Returns
    -------
    bool
        ``pending / predictions > threshold``; False for an empty stratum
        (nothing is pending; the report shows it as having no data).

    Raises
    ------
    ValueError
        ``threshold`` outside [0, 1].

    References
    ----------
    regulatory.md section 4.5: report provisional figures separately and
    treat time-to-label as censored data rather than dropping pending cases.

    Examples
    --------
    >>> s = MaturitySummary(10, 3, 7, 0.3, float("nan"), float("nan"), False, "provisional")
    >>> mostly_pending(s), mostly_pending(s, threshold=0.8)
    (True, False)
    """
    t = _check_fraction(threshold, "threshold", allow_zero=True)
    if summary.predictions == 0:
        return False
    return summary.pending / summary.predictions > t


@dataclass(frozen=True)
class ArrivalCDF:
    """Distribution of the delay (whole days) until a label is final, given that it is final within
    ``horizon`` days: ``cdf[t]`` = P(D <= t | D <= horizon) for t = 0..horizon (``cdf[horizon]`` = 1).

    ``labels`` is the number of labelled reference cases it rests on, ``mature_labels`` those whose
    cohort had reached the horizon (elapsed >= horizon) at the cut-off."""

    cdf: np.ndarray
    labels: int
    mature_labels: int

    @property
    def horizon(self) -> int:
        return int(self.cdf.size - 1)

    def at(self, elapsed_days: Any) -> np.ndarray:
        """F(min(elapsed, horizon)) for whole days elapsed (negative treated as 0)."""
        days = np.clip(np.asarray(elapsed_days, dtype=np.int64), 0, self.horizon)
        return self.cdf[days]

    def quantile(self, q: float) -> float:
        """Smallest whole day t with F(t) >= q."""
        return float(np.searchsorted(self.cdf, q - 1e-12, side="left"))


def arrival_cdf(delay_days: Any, delay_counts: Any, elapsed_days: Any, elapsed_counts: Any, *,
                horizon: int) -> ArrivalCDF | None:
    """Lynden-Bell's product-limit estimate of the label-arrival distribution from right-truncated delays.

    Parameters
    ----------
    delay_days, delay_counts : array_like of int
        Histogram of the delays (whole days from prediction until the label was final) of the
        reference cases whose label is final by the cut-off; delays above ``horizon`` are ignored.
    elapsed_days, elapsed_counts : array_like of int
        Histogram of the same cases' elapsed times (whole days from prediction to the cut-off); each
        case's delay is at most its elapsed time (that is the truncation). Values above ``horizon``
        may be given as ``horizon``.
    horizon : int
        Days within which labels are expected (the maturity window): the estimate is conditional on
        the delay being at most ``horizon``.

    Returns
    -------
    ArrivalCDF or None
        None when no reference case has a delay within the horizon, or none of them comes from a
        cohort that reached the horizon (the distribution's upper part is then not identified).

    Notes
    -----
    With dN(s) the number of delays equal to s and R(s) = #{i : d_i <= s <= a_i} the cases whose delay
    and elapsed time bracket s (both among cases with d_i <= horizon),
    ``F(t) = prod_{t < s <= horizon} (1 - dN(s) / R(s))``. R(s) needs only the two marginal histograms:
    R(s) = #{d <= s} - #{a < s} (a case with a < s has d <= a < s). When every reference case comes from
    a mature cohort (a_i >= horizon) the estimate is the empirical CDF of the delays. Written by hand
    because the library fitters (lifelines, statsmodels) need the joint per-case (delay, elapsed) rows,
    which the database summarises into these two histograms; the test checks it against lifelines'
    Kaplan-Meier with delayed entry in reversed time (u = horizon - d, entry = horizon - a).

    References
    ----------
    Lynden-Bell D. A method of allowing for known observational selection in small samples applied to
    3CR quasars. Mon Not R Astron Soc 1971;155:95-118. Lagakos SW, Barraj LM, De Gruttola V. Nonparametric
    analysis of truncated survival data, with application to AIDS. Biometrika 1988;75:515-523.

    Examples
    --------
    >>> f = arrival_cdf([1, 2, 3], [1, 1, 2], [5], [4], horizon=5)
    >>> f.cdf.round(2).tolist()
    [0.0, 0.25, 0.5, 1.0, 1.0, 1.0]
    """
    if isinstance(horizon, bool) or int(horizon) != horizon or horizon < 0:
        raise ValueError(f"horizon must be a non-negative whole number of days, got {horizon!r}")
    h = int(horizon)
    d = np.asarray(delay_days, dtype=np.int64)
    dn = np.asarray(delay_counts, dtype=np.float64)
    a = np.minimum(np.asarray(elapsed_days, dtype=np.int64), h)
    an = np.asarray(elapsed_counts, dtype=np.float64)
    if d.shape != dn.shape or a.shape != an.shape:
        raise ValueError("each histogram needs one count per day")
    if (d < 0).any() or (a < 0).any() or (dn < 0).any() or (an < 0).any():
        raise ValueError("days and counts must not be negative")
    within = d <= h
    events = np.bincount(d[within], weights=dn[within], minlength=h + 1)
    entries = np.bincount(a, weights=an, minlength=h + 1)
    labels = float(events.sum())
    if labels <= 0:
        return None
    if not np.isclose(entries.sum(), labels):
        raise ValueError("the elapsed histogram must count the same cases as the delays within the horizon")
    at_risk = np.cumsum(events) - np.concatenate(([0.0], np.cumsum(entries)[:-1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(events > 0, 1.0 - events / at_risk, 1.0)
    if (factor < -1e-9).any():
        raise ValueError("a delay exceeds its elapsed time: the histograms are not of right-truncated delays")
    if entries[h] <= 0:
        return None
    factor = np.clip(factor, 0.0, 1.0)
    # F(t) = prod over s in (t, h]: reversed cumulative product, shifted by one day
    tail = np.cumprod(factor[::-1])[::-1]
    cdf = np.append(tail[1:], 1.0)
    return ArrivalCDF(cdf=cdf, labels=int(round(labels)), mature_labels=int(round(entries[h])))

