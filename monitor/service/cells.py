"""Count cells kept per month so that an analysis costs in cells, not rows.

An ingest marks the local months it touched dirty (in its own transaction). An analysis whose
period is whole months reads the months' cells when they are fresh for its cut-off, and first
recounts the months that are dirty when its cut-off is *now* (a refresh is then exactly the
count the analysis would make from the rows). A re-run with an older cut-off than a month's
refresh reads rows, so old results stay reproducible. ``samd-monitor cells refresh`` (and the
scheduler's nightly analysis) keep months fresh ahead of time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from monitor.domain.cells import cells_to_strata, month_windows, months_between
from monitor.domain.device import DeviceConfig
from monitor.domain.periods import resolve_timezone

__all__ = ["CellRead", "mark_dirty_for_ids", "mark_dirty_for_times", "refresh_months", "stratified_cells"]


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
    """Recount ``months`` (:class:`~monitor.domain.cells.MonthWindow`) from the rows as of ``cutoff``."""
    if months:
        unit.cells.lock_device(config.device.id)  # one recount of a device at a time (concurrent analyses)
    done = []
    for month in months:
        counted = unit.results.stratum_counts(config.device.id, start=month.start_utc, end=month.end_utc,
                                              cutoff=cutoff, attributes=config.strata.attributes, pending=True)
        unit.cells.replace_month(config.device.id, month.label, counted, attributes=config.strata.attributes,
                                 config_hash=config.config_hash(), refreshed_at=cutoff)
        done.append(month.label)
    return done


def stratified_cells(unit, config: DeviceConfig, *, start: datetime, end: datetime,  # type: ignore[no-untyped-def]
                     cutoff: datetime, now: datetime) -> CellRead:
    """The confusion cells of ``[start, end)`` as of ``cutoff``: from count cells when they can give
    exactly what the rows give, else from the rows.

    Cells are used when the window is whole local months and every month is fresh, counted with the
    device's current configuration, and refreshed at or before the cut-off (no batch has been
    ingested since: it would have marked the month dirty). When the cut-off is ``now`` (the caller has
    waited for open ingests), dirty or missing months are recounted first.
    """
    attributes = config.strata.attributes
    device_id = config.device.id

    def rows(reason: str) -> CellRead:
        return CellRead(unit.results.confusion_cells(device_id, start=start, end=end, cutoff=cutoff,
                                                     attributes=attributes), "rows", reason=reason)

    months = month_windows(start, end, resolve_timezone(config.monitoring.timezone))
    if months is None:
        return rows("the window is not whole calendar months")
    states = unit.cells.month_states(device_id, [m.label for m in months])
    config_hash = config.config_hash()

    def usable(label: str) -> bool:
        state = states.get(label)
        return (state is not None and state["state"] == "fresh" and state["config_hash"] == config_hash
                and state["refreshed_at"] <= cutoff)

    stale = [m for m in months if not usable(m.label)]
    if stale and cutoff < now:
        return rows("the cut-off is in the past and a month changed since, or was never counted")
    refreshed = refresh_months(unit, config, stale, cutoff=cutoff) if stale else []
    cells = unit.cells.read(device_id, [m.label for m in months])
    return CellRead(cells_to_strata(cells, attributes), "cells", tuple(refreshed))


def refresh_cells(device_id: str, *, uow, clock, actor: str,  # type: ignore[no-untyped-def]
                  only_dirty: bool = True) -> dict[str, Any]:
    """Recount the device's dirty months (or every month holding predictions) as of now, in one transaction
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
        targets = [w for label, w in sorted(known.items())
                   if not only_dirty or records.get(label, {}).get("state") != "fresh"
                   or records[label]["config_hash"] != config.config_hash()]
        done = refresh_months(unit, config, targets, cutoff=now)
        unit.audit.append(at=now, actor=actor, action="cells.refresh", entity="device", entity_id=device_id,
                          details={"months": done, "cutoff": now.isoformat()})
    return {"device_id": device_id, "refreshed": done, "cutoff": now}
