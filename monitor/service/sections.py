"""The analysis document's sections beyond the claims test, each gathered from the database and
computed by the pure core: discrimination and calibration, comparisons with the reference period and
with the rest of the population, label maturity, verification bias, time to intervention, sequential
charts, data drift and the label-free early warning; and the clinical sections
(:mod:`monitor.service.clinical_sections`) when the logs carry their inputs.
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
from monitor.errors import PeriodError
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


def _drift(unit: Any, config: DeviceConfig, current: Any, reference: Any,
           rates: tuple[tuple[tuple[int, int], tuple[int, int]], tuple[tuple[int, int], tuple[int, int]]]
           ) -> list[dict[str, Any]]:
    """Data drift of each stratification input, the site and the score, from the two windows' cases, then
    of the positive-call rate and the confirmed prevalence (``rates``: the current and reference windows'
    ``(calls, prevalence)`` counts, see :func:`_rates`)."""
    rows = []
    features: list[tuple[str, Any, str]] = [(a.source_column if a.is_numeric else a.name, a,
                                             "numeric" if a.is_numeric else "categorical")
                                            for a in config.strata.attributes]
    features += [("site_id", "site_id", "categorical"), ("score", "score", "numeric")]
    for name, feature, kind in features:
        cur = unit.aggregates.feature_histogram(current, feature)
        ref = unit.aggregates.feature_histogram(reference, feature)
        if name == "score":
            cur, ref = cur.assign(value=cur["value"] / 100), ref.assign(value=ref["value"] / 100)
        rows.append(drift_of_feature(name, kind, ref, cur))
    (cur_calls, cur_prev), (ref_calls, ref_prev) = rates
    rows.append(drift_of_rate("positive_call_rate", ref_calls, cur_calls))
    rows.append(drift_of_rate("confirmed_prevalence", ref_prev, cur_prev))
    return rows


def _baseline_drift(unit: Any, config: DeviceConfig, period: Period, window: Window, current: Any,
                    current_rates: tuple[tuple[int, int], tuple[int, int]], verification: pd.DataFrame
                    ) -> list[dict[str, Any]]:
    """Data drift of the period against the fixed baseline(s) of ``monitoring.drift_baseline`` (none when
    it is not set); each baseline window's cases are materialised in turn, as of the same cut-off."""
    from monitor.domain.periods import resolve_timezone

    baseline = config.monitoring.drift_baseline
    if baseline is None:
        return []
    tz = resolve_timezone(config.monitoring.timezone)
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
        with unit.aggregates.window_cases(window.device_id, attributes=config.strata.attributes, start=start,
                                          end=end, cutoff=window.cutoff) as cases:
            rates = current_rates, _rates(unit.aggregates.verification_cells(cases),
                                          unit.aggregates.confusion_cells(cases))
            rows = _drift(unit, config, current, cases, rates)
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


def build_sections(unit: Any, config: DeviceConfig, period: Period, window: Window,
                   cells: pd.DataFrame) -> dict[str, Any]:
    """Every additional section of the analysis document for ``period``.

    The cases of the window and of the reference window are each materialised once
    (``unit.aggregates.window_cases``) and every section aggregates them."""
    attributes = config.strata.attributes
    reference, reference_labels = _reference_window(unit, config, period, window)
    aggregates = unit.aggregates
    with aggregates.window_cases(window.device_id, attributes=attributes, **window.kwargs()) as current, \
            aggregates.window_cases(window.device_id, attributes=attributes, **reference.kwargs()) as earlier:
        reference_cells = aggregates.confusion_cells(earlier)
        histogram = aggregates.score_histogram(current)
        reference_histogram = aggregates.score_histogram(earlier)
        verification = aggregates.verification_cells(current)
        reference_verification = aggregates.verification_cells(earlier)
        delays = aggregates.label_delay_days(current)
        intervention = aggregates.intervention_days(current)
        current_rates = _rates(verification, cells)
        drift = [drift_comparison(
            "preceding", _drift(unit, config, current, earlier,
                                (current_rates, _rates(reference_verification, reference_cells))),
            periods=reference_labels, start_utc=_iso(reference.start), end_utc=_iso(reference.end))]
        drift += _baseline_drift(unit, config, period, window, current, current_rates, verification)
        cusum = cusum_charts(unit, config, period, window, cells)

    return {
        "reference_window": {"periods": reference_labels, "start_utc": _iso(reference.start),
                             "end_utc": _iso(reference.end)},
        "discrimination": discrimination_by_stratum(histogram, config),
        "reference_comparison": compare_periods(cells, reference_cells, config),
        "stratum_vs_rest": compare_strata_with_rest(cells, config),
        "maturity": maturity_by_stratum(delays, config, period_end=window.end, cutoff=window.cutoff),
        "verification": verification_by_stratum(verification, cells, config),
        "time_to_intervention": time_to_intervention_by_stratum(intervention, config),
        "sequential": {"cusum": cusum, "ewma": ewma_charts(unit, config, period, window, cells)},
        "data_drift": drift,
        "early_warning": estimated_performance_by_stratum(histogram, reference_histogram, config),
    } | build_clinical_sections(unit, config, window)
