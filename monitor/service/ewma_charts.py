"""The EWMA charts of an analysis (docs/sequential.md): per-period rates since the model version's first
prediction, centred on the reference level."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd

from monitor.domain.device import DeviceConfig
from monitor.domain.periods import Period
from monitor.domain.sequential_monitoring import PERIODS_PER_YEAR, ewma_by_stratum, reference_periods
from monitor.errors import PeriodError
from monitor.service.cells import stratified_cells
from monitor.service.window import Window

__all__ = ["MAX_EWMA_PERIODS", "ewma_charts"]

MAX_EWMA_PERIODS = 12

def _period_cells(unit: Any, config: DeviceConfig, window: Window, start: datetime, end: datetime) -> pd.DataFrame:
    """The confusion cells of ``[start, end)`` as of the analysis's cut-off: from the months' count cells when
    they are fresh for it (docs/count-cells.md), else counted from the rows; identical either way. Months are
    never recounted here, only by their own period's analysis, the scheduler or ``samd-monitor cells refresh``."""
    return stratified_cells(unit, config, start=start, end=end, cutoff=window.cutoff, now=None).cells


def _established_levels(unit: Any, config: DeviceConfig, period: Period, window: Window, versions: list[str]
                        ) -> dict[str, tuple[list[str], pd.DataFrame]]:
    """Per model version whose first ``monitoring.ewma_reference_periods`` periods (from the period of its
    first prediction) have ended by the analysed period's start: their labels and their cells pooled, as
    of the cut-off (the model version's established level). A model version still in its reference
    periods has none (its EWMA is centred on the claim)."""
    from monitor.domain.periods import resolve_timezone

    rules = config.monitoring
    if rules.ewma_reference is not None:
        return {}
    tz = resolve_timezone(rules.timezone)
    kind = period.kind if period.kind in PERIODS_PER_YEAR else rules.period
    levels: dict[str, tuple[list[str], pd.DataFrame]] = {}
    for version in versions:
        first = unit.aggregates.first_prediction_at(window.device_id, version)
        if first is None:
            continue
        periods = reference_periods(first.astimezone(tz).date(), kind, rules.ewma_reference_periods)
        start, _ = periods[0].bounds_utc(tz)
        _, end = periods[-1].bounds_utc(tz)
        if end > window.start:
            continue
        pooled = _period_cells(unit, config, window, start, end)
        levels[version] = ([p.label for p in periods],
                           pooled.loc[pooled["model_version"].astype(str) == version] if not pooled.empty else pooled)
    return levels


def ewma_charts(unit: Any, config: DeviceConfig, period: Period, window: Window, cells: pd.DataFrame
                ) -> list[dict[str, Any]]:
    """EWMA charts of per-period rates, over the periods since the model version's first prediction
    (at most :data:`MAX_EWMA_PERIODS`, back to the first empty one), centred on the reference level
    (``monitoring.ewma_reference``, else each model version's established level, else the claim).

    The current period's rates come from ``cells``, the analysis's own confusion cells (not counted
    again); the earlier periods' are read as of the same cut-off from their count cells when fresh, else
    counted from the rows (:func:`_period_cells`)."""
    from monitor.domain.periods import resolve_timezone

    tz = resolve_timezone(config.monitoring.timezone)
    history: list[tuple[str, pd.DataFrame]] = [(period.label, cells)]
    current = period
    for _ in range(MAX_EWMA_PERIODS - 1):
        try:
            current = current.previous()
        except PeriodError:  # explicit windows have no predecessor
            break
        start, end = current.bounds_utc(tz)
        earlier = _period_cells(unit, config, window, start, end)
        if earlier.empty:
            break
        history.append((current.label, earlier))
    versions = sorted({str(v) for _, c in history if not c.empty for v in c["model_version"].unique()})
    established = _established_levels(unit, config, period, window, versions)
    return ewma_by_stratum(list(reversed(history)), config, established)
