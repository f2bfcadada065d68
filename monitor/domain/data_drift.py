"""Data drift of the inputs that define strata, of acquisition metadata, of the score and of rates.

Each input's current-period histogram is compared with a reference window's, from counts aggregated
by the database: a distance with an effect-size threshold by type (Wasserstein for numeric inputs,
Jensen-Shannon for categorical ones; see ``monitor.stats.drift``), and two-proportion tests with an
effect-size floor for the positive-call rate and the confirmed prevalence. Results are leading
indicators to investigate, not proof of a performance loss.

Two references are compared (:func:`drift_comparison`):

* ``preceding`` - the ``monitoring.drift_reference_periods`` periods just before the period: a shift
  is reported in the period it happens, and no longer once the preceding window has shifted too;
* ``baseline`` - a fixed window (``monitoring.drift_baseline``: a period label, or
  ``model_version_start``, the first period of each model version with cases in the period;
  :func:`baseline_windows`): a shift that persists keeps being reported.

A row without a reference (an empty reference window: the first period, a baseline without cases,
a baseline that is not before the period) is *not compared* (``drifted`` null, reason
``no_reference``), never "not drifted". Every compared row carries the effect-size floor that decided
it (``effect_floor``) and the reason of its verdict (:data:`REASONS`).

References
----------
Rabanser S, Günnemann S, Lipton Z. NeurIPS 2019 ("Failing loudly"). Evidently AI data-drift defaults
(Wasserstein / Jensen-Shannon at 0.1 for large samples).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

import numpy as np
import pandas as pd

from monitor.domain.numbers import finite_or_none
from monitor.domain.periods import Period
from monitor.errors import ConfigError, PeriodError
from monitor.stats.drift import CHISQUARE_MIN_EFFECT, RATE_SHIFT_MIN_EFFECT, DriftResult, drift_from_counts, rate_shift

__all__ = [
    "MODEL_VERSION_START", "REASONS", "BaselineWindow", "baseline_period", "baseline_windows", "drift_comparison",
    "drift_of_feature", "drift_of_rate", "effect_floor", "period_containing",
]

#: ``monitoring.drift_baseline`` value meaning "each model version's first period".
MODEL_VERSION_START: Final[str] = "model_version_start"

#: The reason of a row's verdict, and the verdict it gives (None: not compared).
REASONS: Final[Mapping[str, bool | None]] = {
    "no_reference": None,                      # the reference window has no cases
    "no_current_cases": None,                  # the period has no cases
    "distance_reached_threshold": True,        # distance >= threshold (the threshold is the floor)
    "distance_below_threshold": False,
    "significant_effect_reached_floor": True,  # p < threshold and |effect| >= floor
    "significant_effect_below_floor": False,   # p < threshold, |effect| < floor
    "not_significant": False,                  # p >= threshold
}

_P_VALUE_METHODS: Final[frozenset[str]] = frozenset({"chisquare", "two-proportion-z"})
_QUARTER_SPELLING = re.compile(r"^(\d{4})-Q([1-4])$", re.IGNORECASE)


def effect_floor(method: str, threshold: float) -> float:
    """The effect-size floor a row of ``method`` must reach to count as drift.

    The distances are their own effect size, so their floor is the threshold; the chi-square test needs
    a Jensen-Shannon distance of :data:`~monitor.stats.drift.CHISQUARE_MIN_EFFECT`, the rate test an
    absolute difference of :data:`~monitor.stats.drift.RATE_SHIFT_MIN_EFFECT`.

    Examples
    --------
    >>> effect_floor("wasserstein", 0.1), effect_floor("chisquare", 0.05), effect_floor("two-proportion-z", 0.05)
    (0.1, 0.05, 0.02)
    """
    if method == "chisquare":
        return CHISQUARE_MIN_EFFECT
    if method == "two-proportion-z":
        return RATE_SHIFT_MIN_EFFECT
    return float(threshold)


def _reason(result: DriftResult) -> str:
    floor = effect_floor(result.method, result.threshold)
    if result.method not in _P_VALUE_METHODS:
        return "distance_reached_threshold" if result.value >= result.threshold else "distance_below_threshold"
    if not result.value < result.threshold:
        return "not_significant"
    reached = abs(result.effect_size) >= floor
    return "significant_effect_reached_floor" if reached else "significant_effect_below_floor"


def _compared(result: DriftResult, kind: str, reference_n: int, current_n: int) -> dict[str, Any]:
    reason = _reason(result)
    if REASONS[reason] is not result.drifted:  # the stats' verdict and its stated reason must agree
        raise AssertionError(f"drift verdict of {result.feature!r} disagrees with its reason {reason!r}")
    return {"feature": result.feature, "kind": kind, "method": result.method, "value": finite_or_none(result.value),
            "threshold": result.threshold, "effect_size": finite_or_none(result.effect_size),
            "effect_floor": effect_floor(result.method, result.threshold), "drifted": result.drifted,
            "reason": reason, "reference_n": reference_n, "current_n": current_n}


def _not_compared(feature: str, kind: str, reference_n: int, current_n: int) -> dict[str, Any]:
    reason = "no_reference" if not reference_n else "no_current_cases"
    return {"feature": feature, "kind": kind, "method": None, "value": None, "threshold": None, "effect_size": None,
            "effect_floor": None, "drifted": None, "reason": reason, "reference_n": reference_n,
            "current_n": current_n}


def drift_of_feature(feature: str, kind: str, reference: pd.DataFrame, current: pd.DataFrame) -> dict[str, Any]:
    """Drift of one input from two histograms with columns ``value`` and ``n``.

    Examples
    --------
    >>> ref = pd.DataFrame({"value": ["a", "b"], "n": [50, 50]})
    >>> row = drift_of_feature("site_id", "categorical", ref, ref.assign(n=[90, 10]))
    >>> row["drifted"], row["reason"], row["effect_floor"]
    (True, 'distance_reached_threshold', 0.1)
    >>> drift_of_feature("site_id", "categorical", ref.iloc[0:0], ref)["drifted"]  # no reference: not compared
    """
    values = sorted(set(reference["value"].dropna().tolist()) | set(current["value"].dropna().tolist()),
                    key=lambda v: (float(v) if kind == "numeric" else 0, str(v)))
    ref = reference.groupby("value")["n"].sum().reindex(values, fill_value=0).to_numpy()
    cur = current.groupby("value")["n"].sum().reindex(values, fill_value=0).to_numpy()
    reference_n, current_n = int(ref.sum()), int(cur.sum())
    if not reference_n or not current_n:
        return _not_compared(feature, kind, reference_n, current_n)
    bins = np.asarray(values, dtype=float) if kind == "numeric" else np.asarray([str(v) for v in values])
    return _compared(drift_from_counts(feature, kind, bins, ref, cur), kind, reference_n, current_n)


def drift_of_rate(feature: str, reference: tuple[int, int], current: tuple[int, int]) -> dict[str, Any]:
    """Shift of a rate (``(events, cases)`` in the reference and current windows).

    Examples
    --------
    >>> row = drift_of_rate("positive_call_rate", (10_000, 100_000), (10_100, 100_000))
    >>> row["value"] < row["threshold"], row["drifted"], row["reason"], row["effect_floor"]
    (False, False, 'not_significant', 0.02)
    >>> drift_of_rate("positive_call_rate", (100_000, 1_000_000), (101_000, 1_000_000))["reason"]
    'significant_effect_below_floor'
    """
    reference_n, current_n = int(reference[1]), int(current[1])
    if not reference_n or not current_n:
        return _not_compared(feature, "rate", reference_n, current_n)
    result = rate_shift(reference[0], reference[1], current[0], current[1], feature=feature)
    return _compared(result, "rate", reference_n, current_n)


def drift_comparison(reference: str, rows: Sequence[Mapping[str, Any]], *, periods: Sequence[str],
                     start_utc: str | None, end_utc: str | None, baseline: str | None = None,
                     model_versions: Sequence[str] = ()) -> dict[str, Any]:
    """One entry of the document's ``data_drift`` list: the reference window and its rows.

    ``reference`` is ``preceding`` or ``baseline``; ``baseline`` the configured baseline (canonical
    period label or ``model_version_start``); ``model_versions`` the versions whose first period the
    window is (``model_version_start`` only); ``periods`` empty when there is no reference window.
    """
    if reference not in ("preceding", "baseline"):
        raise ValueError(f"unknown drift reference {reference!r}")
    return {"reference": reference, "baseline": baseline, "model_versions": list(model_versions),
            "periods": list(periods), "start_utc": start_utc if periods else None,
            "end_utc": end_utc if periods else None, "rows": [dict(r) for r in rows]}


# --------------------------------------------------------------------------- the fixed baseline
@dataclass(frozen=True)
class BaselineWindow:
    """A fixed drift baseline resolved for one analysis period.

    ``period`` is the baseline period, ``None`` when it is not before the analysed period (the period
    itself, or later): then there is no reference. ``model_versions`` lists, for
    ``model_version_start``, the versions whose first period it is.
    """

    baseline: str
    period: Period | None
    model_versions: tuple[str, ...] = ()


def baseline_period(text: str) -> Period:
    """The period of a configured baseline label; ``2025-Q1`` is read as ``2025Q1``.

    Examples
    --------
    >>> baseline_period("2025-Q1").label, baseline_period("2025-03").label
    ('2025Q1', '2025-03')
    """
    value = text.strip()
    if m := _QUARTER_SPELLING.match(value):
        value = f"{m.group(1)}Q{m.group(2)}"
    try:
        return Period.parse(value)
    except PeriodError as exc:
        raise ConfigError(f"monitoring.drift_baseline {text!r} is neither a period label (2025Q1, 2025-03, 2025, "
                          f"2025-01-01..2025-03-31) nor {MODEL_VERSION_START!r}") from exc


def period_containing(day: date, kind: str) -> Period:
    """The period of ``kind`` (quarter, month, year; an explicit window counts in quarters) holding ``day``.

    Examples
    --------
    >>> period_containing(date(2025, 5, 17), "quarter").label, period_containing(date(2025, 5, 17), "month").label
    ('2025Q2', '2025-05')
    """
    if kind == "month":
        return Period.parse(f"{day.year}-{day.month:02d}")
    if kind == "year":
        return Period.parse(f"{day.year}")
    return Period.parse(f"{day.year}Q{(day.month - 1) // 3 + 1}")


def _before(candidate: Period, period: Period) -> Period | None:
    return candidate if candidate.end_local <= period.start_local else None


def baseline_windows(baseline: str | None, period: Period, first_days: Mapping[str, date]) -> list[BaselineWindow]:
    """The fixed baseline windows of ``period``: none when no baseline is configured.

    ``first_days`` maps each model version with cases in the period to the local date of its first
    prediction (used by ``model_version_start``: one window per distinct first period, in time order).

    Examples
    --------
    >>> q3 = Period.parse("2025Q3")
    >>> [(w.period.label, w.model_versions) for w in baseline_windows("2025-Q1", q3, {})]
    [('2025Q1', ())]
    >>> [(w.period and w.period.label, w.model_versions)
    ...  for w in baseline_windows("model_version_start", q3, {"2": date(2025, 8, 2), "1": date(2025, 1, 9)})]
    [('2025Q1', ('1',)), (None, ('2',))]
    """
    if baseline is None:
        return []
    if baseline.strip() != MODEL_VERSION_START:
        fixed = baseline_period(baseline)
        return [BaselineWindow(fixed.label, _before(fixed, period))]
    starts: dict[Period, list[str]] = {}
    for version, day in sorted(first_days.items(), key=lambda item: (item[1], item[0])):
        starts.setdefault(period_containing(day, period.kind), []).append(version)
    return [BaselineWindow(MODEL_VERSION_START, _before(start, period), tuple(versions))
            for start, versions in starts.items()]
