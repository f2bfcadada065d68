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

__all__ = ["MaturitySummary", "maturity_summary", "mostly_pending"]


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
