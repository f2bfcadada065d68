"""Maturity-aware evidence of a run: the final labels of every monitored stratum-metric with the share of
expected labels received (for the decision rule, :class:`monitor.domain.evidence.Adjustments`), and the
document section ``label_arrival`` (docs/maturity.md).

The reference for the label-arrival distributions is every case predicted before the analysed window
(earlier cohorts of the model version, or of the device), read as of the same cut-off: the old months'
``label_delays`` aggregates where they are exact for the cut-off (:func:`_months_read`), the rows for the
rest; identical either way (tests/integration/test_label_arrival.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from monitor.domain.cells import months_between
from monitor.domain.device import DeviceConfig
from monitor.domain.labels import LabelMaturity, add_histograms, arrival_from_delays, label_arrival
from monitor.domain.periods import resolve_timezone
from monitor.service.cells import fresh_months

__all__ = ["arrival_histograms", "assess_label_maturity"]


def _policy(config: DeviceConfig) -> dict[str, Any]:
    """When a label is final: its source provisional or not, and the maturity window (days)."""
    return {"provisional_sources": list(config.labels.provisional_sources),
            "window_days": config.monitoring.maturity_window_days}


def assess_label_maturity(unit: Any, config: DeviceConfig, window: Any, cases: Any) -> LabelMaturity:
    """Final counts and the ``label_arrival`` section of ``window`` (device_id, start, end, cutoff), whose
    cases are materialised in ``cases`` (:func:`monitor.service.window.materialised_cases`)."""
    cells = unit.label_arrival.final_cells(cases, cutoff=window.cutoff, **_policy(config))
    return label_arrival(cells, arrival_histograms(unit, config, before=window.start, cutoff=window.cutoff), config)


def arrival_histograms(unit: Any, config: DeviceConfig, *, before: datetime, cutoff: datetime) -> pd.DataFrame:
    """The label-arrival histograms of the cohorts predicted before ``before``, as of ``cutoff``
    (:meth:`LabelArrivalRepository.arrival_histograms`): the leading months read from their aggregates,
    the later cases from the rows."""
    policy = {**_policy(config), "horizon_days": config.monitoring.maturity_window_days}
    covered = _months_read(unit, config, before=before, cutoff=cutoff)
    if covered is None:
        return unit.label_arrival.arrival_histograms(config.device.id, before=before, cutoff=cutoff, **policy)
    delays, covered_until = covered
    rest = unit.label_arrival.arrival_histograms(config.device.id, before=before, cutoff=cutoff, after=covered_until,
                                                 **policy)
    return add_histograms(arrival_from_delays(delays, **policy), rest)


def _months_read(unit: Any, config: DeviceConfig, *, before: datetime, cutoff: datetime
                 ) -> tuple[pd.DataFrame, datetime] | None:
    """The ``label_delays`` of the device's leading months (from its first prediction's month on) that are
    exact for ``cutoff`` (:func:`fresh_months`), whole before ``before``, old at the cut-off (every
    prediction more than the maturity window + 1 day before it, so its elapsed time is capped and no label
    of it is provisional for being young) and hold no confirmation after their own cut-off; with the end of
    the last one. ``None``: no such month (or a unit of work without month aggregates)."""
    if not hasattr(unit, "month_aggregates"):
        return None
    span = unit.cells.prediction_span(config.device.id)
    if span is None or span[0] >= before:
        return None
    old_before = min(before, cutoff - timedelta(days=config.monitoring.maturity_window_days + 1))
    months = [m for m in months_between(span[0], before, resolve_timezone(config.monitoring.timezone))
              if m.end_utc <= old_before]
    usable = fresh_months(unit, config, [m.label for m in months], cutoff=cutoff)
    leading = []
    for month in months:
        if month.label not in usable:
            break
        leading.append(month)
    if not leading:
        return None
    frames = unit.month_aggregates.read(config.device.id, [m.label for m in leading],
                                        [a.name for a in config.strata.attributes], kinds=["label_delays"])["label_delays"]
    delays = pd.concat(frames, ignore_index=True)
    if (delays["late"] != 0).any():  # a confirmation dated after the month's count: its days hold then only
        return None
    return delays, leading[-1].end_utc
