"""Count cells and window aggregates kept per month so that an analysis costs in cells, not rows.

An ingest marks the local months it touched dirty (in its own transaction). An analysis whose
period is whole months reads the months' cells when they are fresh for its cut-off, and first
recounts the months that are dirty when its cut-off is *now* (a refresh is then exactly the
count the analysis would make from the rows). A re-run with an older cut-off than a month's
refresh reads rows, so old results stay reproducible. ``samd-monitor cells refresh`` (and the
scheduler's nightly analysis) keep months fresh ahead of time.

A month keeps, besides its cells, every other window aggregate that is a sum of its months' values
(:class:`~monitor.domain.window_aggregates.WindowAggregates`): one recount materialises the month's
cases once and counts both, and both share the month's fresh/dirty state.
:func:`window_aggregates` reads a window's aggregates from the months under the same rule as
:func:`stratified_cells`, else from the rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from monitor.domain.cells import MonthWindow, cells_to_strata, month_windows, months_between
from monitor.domain.device import DeviceConfig
from monitor.domain.periods import resolve_timezone
from monitor.domain.window_aggregates import FRAMES, MONTH_ONLY, WindowAggregates, empty_aggregates, feature_rows, merge
from monitor.service.window import Window

__all__ = ["AggregateRead", "CellRead", "count_aggregates", "drift_features", "fresh_months", "mark_dirty_for_ids",
           "mark_dirty_for_times", "refresh_months", "stratified_cells", "window_aggregates"]

_NOT_WHOLE_MONTHS = "the window is not whole calendar months"
_PAST_CUTOFF = "the cut-off is in the past and a month changed since, or was never counted"


@dataclass(frozen=True)
class CellRead:
    """How an analysis got its confusion cells: from count cells (``source="cells"``, with the months
    recounted first) or from the rows (``source="rows"``, with the reason)."""

    cells: pd.DataFrame
    source: str
    refreshed: tuple[str, ...] = ()
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "refreshed_months": list(self.refreshed), "reason": self.reason}


@dataclass(frozen=True)
class AggregateRead:
    """A window's aggregates and how they were read: from the months (``source="months"``, with the
    months recounted first) or from the rows (``source="rows"``, with the reason)."""

    aggregates: WindowAggregates
    source: str
    refreshed: tuple[str, ...] = ()
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "refreshed_months": list(self.refreshed), "reason": self.reason}


def drift_features(config: DeviceConfig) -> list[tuple[str, Any, str]]:
    """The data-drift inputs: ``(name, feature, kind)`` of each stratification input (numeric ones by
    their source column), the site and the score."""
    features: list[tuple[str, Any, str]] = [(a.source_column if a.is_numeric else a.name, a,
                                             "numeric" if a.is_numeric else "categorical")
                                            for a in config.strata.attributes]
    return features + [("site_id", "site_id", "categorical"), ("score", "score", "numeric")]


def count_aggregates(unit, config: DeviceConfig, cases: Any, *,  # type: ignore[no-untyped-def]
                     month: bool = False) -> WindowAggregates:
    """The :class:`~monitor.domain.window_aggregates.WindowAggregates` frames of materialised cases
    (``unit.aggregates.window_cases``), not yet merged. ``label_delays`` only for a ``month``'s recount
    (:data:`~monitor.domain.window_aggregates.MONTH_ONLY`): a window's analysis never reads it. A unit of work
    whose aggregations cannot count label sources from cases (an in-memory double) gives none."""
    aggregates = unit.aggregates
    histograms, seen = [], set()
    for name, feature, _ in drift_features(config):
        if name not in seen:  # two numeric attributes binned from one input share its histogram
            seen.add(name)
            histograms.append(feature_rows(name, aggregates.feature_histogram(cases, feature)))
    sources = getattr(aggregates, "case_label_sources", None)
    delays = getattr(aggregates, "label_delays", None)
    empty = empty_aggregates([])
    return WindowAggregates(confusion=aggregates.confusion_cells(cases),
                            verification=aggregates.verification_cells(cases),
                            score_histogram=aggregates.score_histogram(cases),
                            features=pd.concat(histograms, ignore_index=True),
                            label_sources=sources(cases) if sources else empty.label_sources,
                            label_delays=delays(cases) if delays and month else empty.label_delays)


def mark_dirty_for_times(unit, config: DeviceConfig, times: pd.Series) -> None:  # type: ignore[no-untyped-def]
    """Mark the local months of the given prediction times dirty."""
    if times.empty:
        return
    first, last = times.min(), times.max()
    mark_dirty_range(unit, config, first.to_pydatetime(), last.to_pydatetime())


def mark_dirty_range(unit, config: DeviceConfig, first: datetime, last: datetime) -> None:  # type: ignore[no-untyped-def]
    """Mark every local month from ``first`` to ``last`` dirty (a superset is harmless: it is recounted)."""
    tz = resolve_timezone(config.monitoring.timezone)
    unit.cells.mark_dirty(config.device.id, [m.label for m in months_between(first, last, tz)])


def mark_dirty_for_ids(unit, config: DeviceConfig, prediction_ids: list[str]) -> None:  # type: ignore[no-untyped-def]
    """Mark dirty the months of the stored predictions that ground truth or retractions changed."""
    span = unit.cells.prediction_span(config.device.id, prediction_ids)
    if span is not None:
        mark_dirty_range(unit, config, *span)


def refresh_months(unit, config: DeviceConfig, months: list, *, cutoff: datetime) -> list[str]:  # type: ignore[no-untyped-def, type-arg]
    """Recount ``months`` (:class:`~monitor.domain.cells.MonthWindow`) from the rows as of ``cutoff``: each
    month's cases are materialised once (``window_cases``) and its count cells and window aggregates
    counted from them, then stored and the month marked fresh."""
    if months:
        unit.cells.lock_device(config.device.id)  # one recount of a device at a time (concurrent analyses)
    attributes = config.strata.attributes
    done = []
    for month in months:
        with unit.aggregates.window_cases(config.device.id, start=month.start_utc, end=month.end_utc,
                                          cutoff=cutoff, attributes=attributes) as cases:
            counted = unit.aggregates.month_cells(cases)
            parts = count_aggregates(unit, config, cases, month=True)
        unit.month_aggregates.replace_month(config.device.id, month.label, {k: getattr(parts, k) for k in FRAMES},
                                             config_hash=config.config_hash(), refreshed_at=cutoff)
        unit.cells.replace_month(config.device.id, month.label, counted, attributes=attributes,
                                 config_hash=config.config_hash(), refreshed_at=cutoff)
        done.append(month.label)
    return done


def fresh_months(unit, config: DeviceConfig, labels: list[str], *, cutoff: datetime,  # type: ignore[no-untyped-def]
                 aggregates: bool = True) -> set[str]:
    """The months among ``labels`` whose stored counts are exactly what their rows give as of ``cutoff``:
    fresh, counted with the device's current configuration, refreshed at or before the cut-off (no batch
    ingested since: it would have marked the month dirty) and, with ``aggregates``, holding every window
    aggregate."""
    states = unit.cells.month_states(config.device.id, labels)
    held = unit.month_aggregates.months_held(config.device.id, labels) if aggregates else set(labels)
    config_hash = config.config_hash()

    def usable(label: str) -> bool:
        state = states.get(label)
        return (state is not None and state["state"] == "fresh" and state["config_hash"] == config_hash
                and state["refreshed_at"] <= cutoff and label in held)

    return {label for label in labels if usable(label)}


def _month_plan(unit, config: DeviceConfig, *, start: datetime, end: datetime, cutoff: datetime,  # type: ignore[no-untyped-def]
                now: datetime | None, aggregates: bool = False
                ) -> tuple[list[MonthWindow], list[MonthWindow]] | str:
    """The months of ``[start, end)`` and those to recount first, or why the window is counted from rows.

    A month is usable when it is fresh, counted with the device's current configuration, refreshed at or
    before the cut-off (and, for ``aggregates``, holds every aggregate). Unusable months are recounted
    only when the cut-off is ``now`` (``None``: not known to be now)."""
    if not hasattr(unit, "cells"):  # an in-memory unit of work (test double) keeps no count cells
        return "the unit of work keeps no count cells"
    months = month_windows(start, end, resolve_timezone(config.monitoring.timezone))
    if months is None:
        return _NOT_WHOLE_MONTHS
    usable = fresh_months(unit, config, [m.label for m in months], cutoff=cutoff, aggregates=aggregates)
    stale = [m for m in months if m.label not in usable]
    if stale and (now is None or cutoff < now):
        return _PAST_CUTOFF
    return months, stale


def stratified_cells(unit, config: DeviceConfig, *, start: datetime, end: datetime,  # type: ignore[no-untyped-def]
                     cutoff: datetime, now: datetime | None) -> CellRead:
    """The confusion cells of ``[start, end)`` as of ``cutoff``: from count cells when they can give
    exactly what the rows give, else from the rows.

    Cells are used when the window is whole local months and every month is fresh, counted with the
    device's current configuration, and refreshed at or before the cut-off (no batch has been
    ingested since: it would have marked the month dirty). When the cut-off is ``now`` (the caller has
    waited for open ingests), dirty or missing months are recounted first; ``now=None``: never recounted
    here (only months already fresh for the cut-off are read).
    """
    attributes = config.strata.attributes
    device_id = config.device.id
    plan = _month_plan(unit, config, start=start, end=end, cutoff=cutoff, now=now)
    if isinstance(plan, str):
        return CellRead(unit.results.confusion_cells(device_id, start=start, end=end, cutoff=cutoff,
                                                     attributes=attributes), "rows", reason=plan)
    months, stale = plan
    refreshed = refresh_months(unit, config, stale, cutoff=cutoff) if stale else []
    cells = unit.cells.read(device_id, [m.label for m in months])
    return CellRead(cells_to_strata(cells, attributes), "cells", tuple(refreshed))


def window_aggregates(unit, config: DeviceConfig, window: Window, now: datetime | None, *,  # type: ignore[no-untyped-def]
                      cases: Any = None) -> AggregateRead:
    """The :class:`~monitor.domain.window_aggregates.WindowAggregates` of ``window``: merged from its
    months when :func:`stratified_cells` would read the months' cells (same rule, same recount first),
    else counted from the window's rows (its cases materialised once). Either way the frames are those
    of :func:`~monitor.domain.window_aggregates.merge`, so both reads give identical frames.

    ``now``: the analysis's own time, when its cut-off may be now (``None``: months are used only when
    already fresh for the cut-off). ``cases``: the window's cases, when the caller has materialised them
    (counted from instead of materialising them again)."""
    attributes = config.strata.attributes
    names = [a.name for a in attributes]
    plan = _month_plan(unit, config, start=window.start, end=window.end, cutoff=window.cutoff, now=now,
                       aggregates=True)
    if isinstance(plan, str):
        if cases is not None:
            return AggregateRead(merge([count_aggregates(unit, config, cases)]), "rows", reason=plan)
        with unit.aggregates.window_cases(window.device_id, attributes=attributes, **window.kwargs()) as cases:
            counted = count_aggregates(unit, config, cases)
        return AggregateRead(merge([counted]), "rows", reason=plan)
    months, stale = plan
    refreshed = refresh_months(unit, config, stale, cutoff=window.cutoff) if stale else []
    labels = [m.label for m in months]
    stored = unit.month_aggregates.read(window.device_id, labels, names,
                                        kinds=[k for k in FRAMES if k not in MONTH_ONLY])
    empty = empty_aggregates(names)
    whole = WindowAggregates(
        confusion=cells_to_strata(unit.cells.read(window.device_id, labels), attributes),
        **{k: pd.concat(stored[k], ignore_index=True) if stored.get(k) else getattr(empty, k) for k in FRAMES})
    return AggregateRead(merge([whole]), "months", tuple(refreshed))


def refresh_cells(device_id: str, *, uow, clock, actor: str,  # type: ignore[no-untyped-def]
                  only_dirty: bool = True) -> dict[str, Any]:
    """Recount the device's dirty months and those missing a window aggregate (one this version added), or
    every month holding predictions, as of now, in one transaction
    (after waiting for open ingests, so the counts are exactly those of an analysis with cut-off now)."""
    with uow() as unit:
        unit.logs.wait_for_ingestion()
        config = unit.devices.get(device_id)
        now = clock()
        tz = resolve_timezone(config.monitoring.timezone)
        records = {m["month"]: m for m in unit.cells.months(device_id)}
        span = unit.cells.prediction_span(device_id)
        known = {m.label: m for m in months_between(*span, tz)} if span else {}
        for label in records:  # months with a record but no prediction left (all retracted, say)
            year, month = (int(x) for x in label.split("-"))
            known.setdefault(label, months_between(datetime(year, month, 15, tzinfo=tz),
                                                   datetime(year, month, 15, tzinfo=tz), tz)[0])
        fresh = fresh_months(unit, config, list(known), cutoff=now) if only_dirty else set()
        targets = [w for label, w in sorted(known.items()) if label not in fresh]
        done = refresh_months(unit, config, targets, cutoff=now)
        unit.audit.append(at=now, actor=actor, action="cells.refresh", entity="device", entity_id=device_id,
                          details={"months": done, "cutoff": now.isoformat()})
    return {"device_id": device_id, "refreshed": done, "cutoff": now}
