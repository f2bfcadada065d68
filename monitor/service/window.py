"""The time window of one device an analysis reads, as of a data cut-off, and what one analysis reads of it once
(its materialised cases and window aggregates), for every section."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from monitor.domain.device import DeviceConfig
from monitor.domain.window_aggregates import WindowAggregates

__all__ = ["Window", "WindowReads", "materialised_cases"]


@dataclass(frozen=True)
class Window:
    """A time window of one device, read as of a data cut-off."""

    device_id: str
    start: datetime
    end: datetime
    cutoff: datetime

    def kwargs(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "cutoff": self.cutoff}


@contextmanager
def materialised_cases(unit: Any, config: DeviceConfig, window: Window) -> Iterator[Any]:
    """The window's cases materialised once for one analysis (``unit.aggregates.window_cases``, with the
    device's attributes and monitored intersections): what its evidence and sections count from, instead of
    joining the window's labels again for each. Dropped when the block ends."""
    strata = config.strata
    with unit.aggregates.window_cases(window.device_id, attributes=strata.attributes,
                                      intersections=strata.monitored_intersections(), **window.kwargs()) as cases:
        yield cases


@dataclass(frozen=True)
class WindowReads:
    """What one analysis reads of its window once, for every section that needs it: the window, its cases
    materialised for the analysis (:func:`materialised_cases`) and its window aggregates
    (:func:`monitor.service.cells.window_aggregates`, from the months or the rows)."""

    window: Window
    cases: Any
    aggregates: WindowAggregates
