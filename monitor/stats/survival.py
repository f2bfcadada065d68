"""Time-to-event summaries with right censoring (Kaplan-Meier).

Used for time from the AI result (``predicted_at``) to the clinical
intervention (``intervention_at``; regulatory.md section 4.6) and for the delay
until ground truth arrives (:mod:`monitor.stats.maturity`). A case without the
event by the data cut-off is **right-censored** at the cut-off, never dropped.

Estimation is delegated to :class:`statsmodels.duration.survfunc.SurvfuncRight`
(Kaplan-Meier survival curve with Greenwood standard errors):

* **quantiles** (median, 90th percentile) of the time to event: the time at
  which the KM curve ``S(t) = P(T > t)`` falls to ``1 - p``. Where the curve
  has a horizontal segment *exactly* at ``1 - p`` the midpoint of the segment
  is returned, as in R ``survival::quantile.survfit`` and SAS PROC LIFETEST
  (for uncensored data this is the ordinary sample median). "Exactly" uses a
  tolerance of ``sqrt(machine epsilon)`` (R's default), because the KM product
  is computed in floating point. A quantile that the curve never reaches is
  ``nan``;
* **quantile confidence intervals**: Brookmeyer-Crowley test inversion,
  :meth:`SurvfuncRight.quantile_ci` with its default ``method="cloglog"``
  (``g(S) = log(-log S)``, called "log-log" in R and SAS). The interval is the
  set of event times whose pointwise test of ``S(t) = 1 - p`` is not rejected;
  its limits are event times, and the upper limit is ``inf`` when the set runs
  to the last event time (statsmodels' convention; R prints ``NA``);
* **proportion within the SLA**: ``F(sla) = 1 - S(sla)`` with the log-log
  (exponential Greenwood) pointwise interval for ``S(sla)``, the same interval
  as R ``survfit(conf.type = "log-log")`` and lifelines ``KaplanMeierFitter``.

Empty input gives NaN estimates and ``(nan, nan)`` intervals, never an
exception.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats
from statsmodels.duration.survfunc import SurvfuncRight

from monitor.stats._checks import check_confidence as _check_confidence

__all__ = ["TimeToEventSummary", "time_to_event_summary", "durations_from_timestamps"]

#: Tolerance for "the KM curve sits exactly on the quantile level" (R's default).
_TIE_TOLERANCE: Final[float] = math.sqrt(np.finfo(np.float64).eps)
_NAN_PAIR: Final[tuple[float, float]] = (math.nan, math.nan)
_DAY: Final[np.timedelta64] = np.timedelta64(1, "D")


@dataclass(frozen=True)
class TimeToEventSummary:
    """Kaplan-Meier summary of a time-to-event sample (days).

    Attributes
    ----------
    n, events, censored : int
        Number of cases, observed events and right-censored cases.
    median, median_ci : float, tuple of float
        KM median time to event and its Brookmeyer-Crowley interval (log-log).
    p90, p90_ci : float, tuple of float
        KM 90th percentile (time by which 90% had the event) and its interval.
    within_sla, within_sla_ci : float, tuple of float
        KM estimate of ``P(T <= sla)`` and its log-log pointwise interval;
        NaN when ``sla`` is None or not estimable.
    sla : float or None
        The service-level threshold in days, as given.
    """

    n: int
    events: int
    censored: int
    median: float
    median_ci: tuple[float, float]
    p90: float
    p90_ci: tuple[float, float]
    within_sla: float
    within_sla_ci: tuple[float, float]
    sla: float | None



def _validate_survival_data(durations: ArrayLike, observed: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Return float64 durations and int64 0/1 event flags of one common 1-d shape."""
    t = np.asarray(durations, dtype=np.float64).reshape(-1)
    e_raw = np.asarray(observed)
    if e_raw.dtype == object:
        try:
            e_raw = e_raw.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError("observed must be 0/1 event flags") from exc
    e_raw = e_raw.reshape(-1)
    if t.shape != e_raw.shape:
        raise ValueError(f"durations and observed must have the same length, got {t.size} and {e_raw.size}")
    if not np.all(np.isfinite(t)):
        raise ValueError("durations must be finite (no NaN or infinity)")
    if np.any(t < 0):
        raise ValueError("durations must be non-negative")
    if e_raw.dtype.kind not in "biuf" or not np.all(np.isin(e_raw, (0, 1))):
        raise ValueError("observed must contain only 0 (censored) and 1 (event)")
    return t, e_raw.astype(np.int64)


def _fit(t: np.ndarray, e: np.ndarray) -> SurvfuncRight:
    return SurvfuncRight(t, e)


@dataclass(frozen=True)
class _CountedFit:
    """A Kaplan-Meier curve with Greenwood standard errors (the attributes :class:`SurvfuncRight` has)
    and its Brookmeyer-Crowley quantile interval (:meth:`SurvfuncRight.quantile_ci`, log-log)."""

    surv_times: np.ndarray
    surv_prob: np.ndarray
    surv_prob_se: np.ndarray
    n_risk: np.ndarray
    n_events: np.ndarray

    def quantile_ci(self, p: float, alpha: float = 0.05) -> tuple[float, float]:
        """The event times whose pointwise test of ``S(t) = 1 - p`` on the log-log scale is not
        rejected at ``alpha`` (the test inversion of ``SurvfuncRight.quantile_ci(p, alpha)`` with
        ``method="cloglog"``, in the same floating-point operations): from the first such time to
        the event time after the last one (``inf`` when that is the last event time)."""
        tr = stats.norm.ppf(1 - alpha / 2)
        sp = self.surv_prob
        r = np.log(-np.log(sp)) - np.log(-np.log(1 - p))
        r /= (-1 / (sp * np.log(sp))) * self.surv_prob_se
        ii = np.flatnonzero(np.abs(r) <= tr)
        if len(ii) == 0:
            return math.nan, math.nan
        upper = np.inf if ii[-1] == len(self.surv_times) - 1 else self.surv_times[ii[-1] + 1]
        return self.surv_times[ii[0]], upper


def _fit_counts(t: np.ndarray, e: np.ndarray, w: np.ndarray) -> _CountedFit:
    """The Kaplan-Meier fit of the sample in which row ``i`` stands for ``w[i]`` cases, identical to
    ``SurvfuncRight(np.repeat(t, w), np.repeat(e, w))`` without expanding the cases.

    The curve, risk sets and event counts come from ``SurvfuncRight(t, e, freq_weights=w)``; with
    frequency weights statsmodels switches the standard error to Tsiatis' formula, so the Greenwood
    error of the unweighted fit is computed here from the risk sets and event counts (the formula
    and operations of statsmodels' unweighted ``_calc_survfunc_right``: whole-number counts below
    2**53 are exact in float64, so every number equals the repeated sample's)."""
    kept = w > 0
    sf = SurvfuncRight(t[kept], e[kept], freq_weights=w[kept])
    n = np.asarray(sf.n_risk, dtype=np.float64)
    d = np.asarray(sf.n_events, dtype=np.float64)
    sp = np.asarray(sf.surv_prob, dtype=np.float64)
    se = d / np.clip(n * (n - d), 1e-12, np.inf)
    se[(n == d) | (n == 0)] = np.nan
    se = np.sqrt(np.cumsum(se))
    locs = np.isfinite(se) | (sp != 0)
    se[locs] *= sp[locs]
    se[~locs] = np.nan
    return _CountedFit(np.asarray(sf.surv_times), sp, se, n, d)


def _km_quantile(sf: SurvfuncRight | _CountedFit, p: float, last_time: float) -> float:
    """Time at which the KM curve falls to ``1 - p`` (R / SAS midpoint rule on a flat at ``1 - p``)."""
    surv = np.asarray(sf.surv_prob, dtype=np.float64)
    times = np.asarray(sf.surv_times, dtype=np.float64)
    level = 1.0 - p
    below = np.flatnonzero(surv <= level + _TIE_TOLERANCE)
    if below.size == 0:
        return math.nan
    j = int(below[0])
    if abs(surv[j] - level) > _TIE_TOLERANCE:
        return float(times[j])
    # The curve is flat exactly at the level from times[j] until the next drop
    # (or, on the last step, until the end of follow-up): take the midpoint.
    end = float(times[j + 1]) if j + 1 < times.size else float(last_time)
    return 0.5 * (float(times[j]) + end)


def _km_quantile_ci(sf: SurvfuncRight | _CountedFit, p: float, confidence: float) -> tuple[float, float]:
    """Brookmeyer-Crowley interval, statsmodels ``quantile_ci`` default (cloglog) transform."""
    if len(sf.surv_times) == 0:
        return _NAN_PAIR
    with np.errstate(all="ignore"):
        lo, hi = sf.quantile_ci(p, alpha=1.0 - confidence)
    return float(lo), float(hi)


def _km_cdf_at(
    sf: SurvfuncRight | _CountedFit, when: float, last_time: float, confidence: float
) -> tuple[float, tuple[float, float]]:
    """``F(when) = 1 - S(when)`` with the log-log (exponential Greenwood) interval."""
    surv = np.asarray(sf.surv_prob, dtype=np.float64)
    se = np.asarray(sf.surv_prob_se, dtype=np.float64)
    times = np.asarray(sf.surv_times, dtype=np.float64)
    j = int(np.searchsorted(times, when, side="right")) - 1
    s = 1.0 if j < 0 else float(surv[j])
    if when > last_time and s > 0.0:
        # Beyond the end of follow-up the KM curve is not identified.
        return math.nan, _NAN_PAIR
    if s >= 1.0:
        return 0.0, (0.0, 0.0)  # no event yet: Greenwood variance 0 (as R and lifelines)
    if s <= 0.0:
        return 1.0, (1.0, 1.0)  # curve at 0: degenerate interval (as R and lifelines)
    z = float(stats.norm.ppf(0.5 + confidence / 2.0))
    log_s = math.log(s)
    sd_log_s = float(se[j]) / s  # sqrt(sum d / (n (n - d))), Greenwood
    shift = z * sd_log_s / abs(log_s)
    s_low = math.exp(-math.exp(math.log(-log_s) + shift))
    s_high = math.exp(-math.exp(math.log(-log_s) - shift))
    return 1.0 - s, (1.0 - s_high, 1.0 - s_low)


def time_to_event_summary(
    durations: ArrayLike,
    observed: ArrayLike,
    *,
    sla: float | None = None,
    confidence: float = 0.95,
    counts: ArrayLike | None = None,
) -> TimeToEventSummary:
    """Kaplan-Meier median, 90th percentile and share within an SLA, with CIs.

    Parameters
    ----------
    durations : array_like of float
        Time from start (AI result) to event or censoring, in days; >= 0.
    observed : array_like of {0, 1}
        1 = event seen (intervention happened), 0 = right-censored (no
        intervention by the data cut-off). Booleans are accepted.
    sla : float, optional
        Service-level threshold in days; ``within_sla`` estimates
        ``P(T <= sla)``.
    confidence : float, default 0.95
        Two-sided confidence level of every interval.
    counts : array_like of int, optional
        Cases per row (e.g. a table of whole days, event flag and count from
        the database): the result is identical to repeating each row that many
        times, without building the per-case arrays.

    Returns
    -------
    TimeToEventSummary
        Counts, quantiles with Brookmeyer-Crowley intervals, and the share
        within the SLA with its pointwise interval.

    Raises
    ------
    ValueError
        Negative or non-finite durations, flags other than 0/1, length
        mismatch, or ``confidence`` outside (0, 1).

    Notes
    -----
    * Quantiles: see the module docstring (midpoint rule on an exact flat).
      A quantile the curve never reaches (fewer than half / 90% of cases
      with an observed event, after censoring) is ``nan``; its interval keeps
      the lower limit statsmodels finds and an upper limit of ``inf``, or is
      ``(nan, nan)`` when no event time is compatible with the level.
    * Quantile intervals: Brookmeyer & Crowley (1982) test inversion with the
      log-log transform (statsmodels ``SurvfuncRight.quantile_ci`` default,
      ``method="cloglog"``), as SAS PROC LIFETEST (default CONFTYPE=LOGLOG)
      and R ``quantile(survfit(..., conf.type = "log-log"))``.
    * ``within_sla``: ``1 - S(sla)`` with the interval
      ``S^exp(+-z se(log S) / log S)`` mapped to ``1 - S``. At ``S(sla) = 1``
      (no event by the SLA) the Greenwood variance is 0 and the interval is
      ``(0, 0)``; at ``S(sla) = 0`` it is ``(1, 1)`` (R and lifelines give the
      same degenerate limits). ``nan`` when ``sla`` exceeds the longest
      follow-up and the curve has not reached 0 (not identified), or when
      ``sla`` is None.
    * Censoring is assumed independent of the time to event (non-informative).

    References
    ----------
    Kaplan EL, Meier P. Nonparametric estimation from incomplete observations.
    J Am Stat Assoc 1958;53:457-481.
    Brookmeyer R, Crowley J. A confidence interval for the median survival
    time. Biometrics 1982;38:29-41.
    Kalbfleisch JD, Prentice RL. The Statistical Analysis of Failure Time
    Data. Wiley 1980 (log-log interval for S(t)).
    Klein JP, Moeschberger ML. Survival Analysis, 2nd ed. Springer 2003,
    sections 4.3-4.5.

    Examples
    --------
    >>> s = time_to_event_summary(
    ...     [2, 3, 3, 5, 8, 10, 12, 15, 20, 30], [1, 1, 0, 1, 1, 0, 1, 1, 0, 1], sla=14
    ... )
    >>> s.n, s.events, s.censored
    (10, 7, 3)
    >>> s.median, s.median_ci
    (12.0, (2.0, 30.0))
    >>> round(s.within_sla, 4), [round(x, 4) for x in s.within_sla_ci]
    (0.5714, [0.2815, 0.886])
    >>> time_to_event_summary([], []).median
    nan
    """
    confidence = _check_confidence(confidence)
    sla_value = None if sla is None else float(sla)
    if sla_value is not None and not math.isfinite(sla_value):
        raise ValueError(f"sla must be a finite number of days, got {sla!r}")
    t, e = _validate_survival_data(durations, observed)
    if counts is None:
        n, events = int(t.size), int(e.sum())
    else:
        w = np.asarray(counts).reshape(-1)
        if w.shape != t.shape or w.dtype.kind not in "biu" or np.any(w < 0):
            raise ValueError("counts must be non-negative whole numbers, one per duration")
        w = w.astype(np.int64)
        t, e, w = t[w > 0], e[w > 0], w[w > 0]
        n, events = int(w.sum()), int((e * w).sum())
    if n == 0:
        nan, pair = math.nan, _NAN_PAIR
        return TimeToEventSummary(0, 0, 0, nan, pair, nan, pair, nan, pair, sla_value)
    sf = _fit(t, e) if counts is None else _fit_counts(t, e, w)
    last_time = float(t.max())
    median = _km_quantile(sf, 0.5, last_time)
    p90 = _km_quantile(sf, 0.9, last_time)
    median_ci = _km_quantile_ci(sf, 0.5, confidence)
    p90_ci = _km_quantile_ci(sf, 0.9, confidence)
    if sla_value is None:
        within, within_ci = math.nan, _NAN_PAIR
    else:
        within, within_ci = _km_cdf_at(sf, sla_value, last_time, confidence)
    return TimeToEventSummary(
        n=n,
        events=events,
        censored=n - events,
        median=median,
        median_ci=median_ci,
        p90=p90,
        p90_ci=p90_ci,
        within_sla=within,
        within_sla_ci=within_ci,
        sla=sla_value,
    )


def _as_datetime64(values: Any, name: str) -> np.ndarray:
    """Timestamps as naive UTC ``datetime64[ns]`` (tz-aware input converted to UTC); NaT kept."""
    try:
        if isinstance(values, (pd.Series, pd.Index)) and values.dtype.kind == "M":
            idx = pd.DatetimeIndex(values)
        elif isinstance(values, np.ndarray) and values.dtype.kind == "M":
            idx = pd.DatetimeIndex(values.reshape(-1))
        else:
            raw = np.asarray(values, dtype=object).reshape(-1)
            idx = pd.DatetimeIndex(pd.to_datetime(raw, format="mixed"))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be timestamps (datetime64, pandas or ISO strings)") from exc
    if idx.tz is not None:
        idx = idx.tz_convert("UTC").tz_localize(None)
    return idx.to_numpy(dtype="datetime64[ns]")


def _as_timestamp(value: Any, name: str) -> np.datetime64:
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a timestamp") from exc
    if ts is pd.NaT or pd.isna(ts):
        raise ValueError(f"{name} must not be missing")
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return np.datetime64(ts.to_datetime64(), "ns")


def durations_from_timestamps(start: Any, end: Any, cutoff: Any) -> tuple[np.ndarray, np.ndarray]:
    """Durations in days and event flags from start / end timestamps and a data cut-off.

    Parameters
    ----------
    start : array_like of timestamps
        Start of follow-up for each case (e.g. ``predicted_at``); no missing
        values, none after ``cutoff``.
    end : array_like of timestamps
        Event time (e.g. ``intervention_at``), NaT / None when not (yet) seen.
    cutoff : timestamp
        Data cut-off. Events after it are not yet known at the cut-off.

    Returns
    -------
    durations : numpy.ndarray of float64
        Days from ``start`` to ``end`` for observed events, from ``start`` to
        ``cutoff`` for censored cases (fractional days, 86,400 s each).
    observed : numpy.ndarray of int64
        1 when ``end`` is present and ``<= cutoff``, else 0 (right-censored at
        the cut-off).

    Raises
    ------
    ValueError
        Missing ``start``, ``start`` after ``cutoff``, ``end`` before
        ``start``, length mismatch, or values that are not timestamps.

    Notes
    -----
    Timezone-aware inputs are converted to UTC; naive inputs are taken as
    they are. Do not mix naive and aware timestamps.

    References
    ----------
    Klein JP, Moeschberger ML. Survival Analysis, 2nd ed. Springer 2003,
    section 3.2 (right censoring, type I censoring at a fixed calendar date).

    Examples
    --------
    >>> d, e = durations_from_timestamps(
    ...     ["2024-01-01", "2024-01-01", "2024-01-10"],
    ...     ["2024-01-03 12:00", None, "2024-03-01"],
    ...     "2024-02-01",
    ... )
    >>> d.tolist(), e.tolist()
    ([2.5, 31.0, 22.0], [1, 0, 0])
    """
    s = _as_datetime64(start, "start")
    en = _as_datetime64(end, "end")
    c = _as_timestamp(cutoff, "cutoff")
    if s.shape != en.shape:
        raise ValueError(f"start and end must have the same length, got {s.size} and {en.size}")
    if np.any(np.isnat(s)):
        raise ValueError("start must not contain missing timestamps")
    if np.any(s > c):
        raise ValueError("start must not be after cutoff (such cases do not exist at the cut-off)")
    seen = ~np.isnat(en) & (en <= c)
    if np.any(seen & (en < s)):
        raise ValueError("end must not be before start")
    stop = np.where(seen, en, c)
    durations = ((stop - s) / _DAY).astype(np.float64)
    return durations, seen.astype(np.int64)
