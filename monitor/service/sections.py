"""The analysis document's sections beyond the claims test, each gathered from the database and
computed by the pure core: discrimination and calibration, comparisons with the reference period and
with the rest of the population, label maturity, verification bias, time to intervention, sequential
charts, data drift and the label-free early warning; and the clinical sections
(:mod:`monitor.service.clinical_sections`) when the logs carry their inputs.

The current, reference and baseline windows are each read once as
:class:`~monitor.domain.window_aggregates.WindowAggregates` (:func:`monitor.service.cells.window_aggregates`:
from the months' stored aggregates when exact, else from the window's rows) and the sections compute from
those; only the day counts censored at the cut-off (label delay, time to intervention) are counted from the
current window's cases. Maturity, verification and time to intervention cover every monitored stratum (the
intersections too: pairs and triples); discrimination and the early warning read the score histograms,
summed to the whole population and single attributes only.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pandas as pd

from monitor.domain.data_drift import baseline_windows, drift_comparison, drift_of_feature, drift_of_rate
from monitor.domain.device import DeviceConfig
from monitor.domain.discrimination import discrimination_by_stratum
from monitor.domain.early_warning import estimated_performance_by_stratum
from monitor.domain.labels import maturity_by_stratum, verification_by_stratum
from monitor.domain.period_comparisons import compare_periods, compare_strata_with_rest
from monitor.domain.periods import Period
from monitor.domain.timing import time_to_intervention_by_stratum
from monitor.domain.window_aggregates import WindowAggregates
from monitor.errors import PeriodError
from monitor.service.cells import AggregateRead, drift_features, window_aggregates
from monitor.service.clinical_sections import build_clinical_sections
from monitor.service.cusum_charts import cusum_charts
from monitor.service.ewma_charts import ewma_charts
from monitor.service.window import Window

__all__ = ["Window", "build_sections"]


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _reference_window(unit: Any, config: DeviceConfig, period: Period, window: Window) -> tuple[Window, list[str]]:
    """The ``monitoring.drift_reference_periods`` periods just before ``period`` (empty for an explicit
    window, which has no predecessor)."""
    from monitor.domain.periods import resolve_timezone

    tz = resolve_timezone(config.monitoring.timezone)
    labels, first = [], period
    for _ in range(config.monitoring.drift_reference_periods):
        try:
            first = first.previous()
        except PeriodError:  # explicit windows have no predecessor
            break
        labels.append(first.label)
    start, _ = first.bounds_utc(tz)
    return Window(window.device_id, start, window.start, window.cutoff), list(reversed(labels))


def _drift(config: DeviceConfig, current: WindowAggregates, reference: WindowAggregates,
           rates: tuple[tuple[tuple[int, int], tuple[int, int]], tuple[tuple[int, int], tuple[int, int]]]
           ) -> list[dict[str, Any]]:
    """Data drift of each stratification input, the site and the score, from the two windows' histograms,
    then of the positive-call rate and the confirmed prevalence (``rates``: the current and reference
    windows' ``(calls, prevalence)`` counts, see :func:`_rates`)."""
    rows = []
    for name, _, kind in drift_features(config):
        cur = current.feature(name, numeric=kind == "numeric")
        ref = reference.feature(name, numeric=kind == "numeric")
        if name == "score":
            cur, ref = cur.assign(value=cur["value"] / 100), ref.assign(value=ref["value"] / 100)
        rows.append(drift_of_feature(name, kind, ref, cur))
    (cur_calls, cur_prev), (ref_calls, ref_prev) = rates
    rows.append(drift_of_rate("positive_call_rate", ref_calls, cur_calls))
    rows.append(drift_of_rate("confirmed_prevalence", ref_prev, cur_prev))
    return rows


def _baseline_drift(unit: Any, config: DeviceConfig, period: Period, window: Window, current: WindowAggregates,
                    current_rates: tuple[tuple[int, int], tuple[int, int]], now: datetime | None
                    ) -> list[dict[str, Any]]:
    """Data drift of the period against the fixed baseline(s) of ``monitoring.drift_baseline`` (none when
    it is not set); each baseline window is read (:func:`window_aggregates`) as of the same cut-off."""
    from monitor.domain.periods import resolve_timezone

    baseline = config.monitoring.drift_baseline
    if baseline is None:
        return []
    tz = resolve_timezone(config.monitoring.timezone)
    verification = current.verification
    first_days = {}
    for version in sorted(verification["model_version"].astype(str).unique()) if not verification.empty else []:
        first = unit.aggregates.first_prediction_at(window.device_id, version)
        if first is not None:
            first_days[version] = first.astimezone(tz).date()
    comparisons = []
    for fixed in baseline_windows(baseline, period, first_days):
        if fixed.period is None:  # the baseline is the period itself, or later: nothing to compare with
            start = end = window.start
        else:
            start, end = fixed.period.bounds_utc(tz)
        fixed_window = window_aggregates(unit, config, Window(window.device_id, start, end, window.cutoff), now)
        earlier = fixed_window.aggregates
        rows = _drift(config, current, earlier, (current_rates, _rates(earlier.verification, earlier.confusion)))
        comparisons.append(drift_comparison(
            "baseline", rows, periods=[fixed.period.label] if fixed.period else [], start_utc=_iso(start),
            end_utc=_iso(end), baseline=fixed.baseline, model_versions=fixed.model_versions))
    return comparisons


def _rates(verification: pd.DataFrame, cells: pd.DataFrame) -> tuple[tuple[int, int], tuple[int, int]]:
    positive_calls = int(verification.loc[verification["predicted_label"] == 1, "n"].sum())
    calls = int(verification["n"].sum())
    positives = int(cells[["tp", "fn"]].to_numpy().sum()) if not cells.empty else 0
    labelled = int(cells[["tp", "fp", "fn", "tn"]].to_numpy().sum()) if not cells.empty else 0
    return (positive_calls, calls), (positives, labelled)


def build_sections(unit: Any, config: DeviceConfig, period: Period, window: Window, cells: pd.DataFrame, *,
                   cases: Any, now: datetime | None = None, current: AggregateRead | None = None) -> dict[str, Any]:
    """Every additional section of the analysis document for ``period``.

    The window, the reference window and each drift baseline are read once each as window aggregates
    (:func:`monitor.service.cells.window_aggregates`; ``current``: the window's, when the caller has read
    them already); ``now`` is the analysis's own time, for recounting dirty months when the cut-off is now
    (``None``: only months already fresh for the cut-off are used). The day counts censored at the cut-off
    are counted from the window's ``cases``, materialised once for the analysis
    (:func:`monitor.service.window.materialised_cases`; counted from too when the window's aggregates are
    read from rows)."""
    reference, reference_labels = _reference_window(unit, config, period, window)
    aggregates = unit.aggregates
    delays = aggregates.label_delay_days(cases)  # day counts summed to every grouping
    intervention = aggregates.intervention_days(cases)
    now_read = current or window_aggregates(unit, config, window, now, cases=cases)
    mine, earlier = now_read.aggregates, window_aggregates(unit, config, reference, now).aggregates
    reference_cells = earlier.confusion
    histogram, reference_histogram = mine.score_histogram, earlier.score_histogram
    verification = mine.verification
    current_rates = _rates(verification, cells)
    drift = [drift_comparison(
        "preceding", _drift(config, mine, earlier, (current_rates, _rates(earlier.verification, reference_cells))),
        periods=reference_labels, start_utc=_iso(reference.start), end_utc=_iso(reference.end))]
    drift += _baseline_drift(unit, config, period, window, mine, current_rates, now)
    cusum = cusum_charts(unit, config, period, window, cells, now=now)

    return {
        "reference_window": {"periods": reference_labels, "start_utc": _iso(reference.start),
                             "end_utc": _iso(reference.end)},
        "discrimination": discrimination_by_stratum(histogram, config),
        "reference_comparison": compare_periods(cells, reference_cells, config),
        "stratum_vs_rest": compare_strata_with_rest(cells, config),
        "maturity": maturity_by_stratum(delays, config, period_end=window.end, cutoff=window.cutoff, max_level=None),
        "verification": verification_by_stratum(verification, cells, config, max_level=None),
        "time_to_intervention": time_to_intervention_by_stratum(intervention, config, max_level=None),
        "sequential": {"cusum": cusum, "ewma": ewma_charts(unit, config, period, window, cells)},
        "data_drift": drift,
        "early_warning": estimated_performance_by_stratum(histogram, reference_histogram, config),
    } | build_clinical_sections(unit, config, window)
