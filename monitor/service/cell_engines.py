"""One port for counting confusion cells, whatever engine counts them (docs/engines.md).

Every engine reduces a device's predictions of ``[start, end)`` and the ground truth known by
``cutoff`` to the same *cell table*: columns ``model_version``, one per stratification attribute
(the labels of the domain's binning rule, :mod:`monitor.domain.binning`) and ``tp, fp, fn, tn``
(int64), one row per cell with at least one labelled case, sorted by the keys (as
:func:`monitor.adapters.db.repositories.results.sorted_cells` sorts). The unchanged statistics core
(:func:`monitor.domain.evaluation.evaluate_cells`) evaluates any of them.

Engines:

``database``
    :class:`DatabaseCellEngine`: the SQL ``GROUP BY`` of ingested logs (SQLite or PostgreSQL; the
    cut-off applies to the time of ingestion);
``summaries``
    :class:`SummaryCellEngine`: merged signed site bundles (whole calendar months; the cut-off applies
    to the time a bundle was received);
``arrow``, ``spark``
    Parquet logs in a data lake (the cut-off applies to ``predicted_at`` and ``confirmed_at``):
    :class:`monitor.adapters.arrow.cells.ArrowCellEngine`, :class:`monitor.adapters.spark.cells.SparkCellEngine`.

The composition root chooses the engine by name (:func:`monitor.entrypoints.bootstrap.cell_engine`). The conformance test
(``tests/conformance/test_cell_engines.py``) runs one deployment's logs through every engine and
requires identical tables.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol, Sequence

import pandas as pd

from monitor.domain.periods import resolve_timezone
from monitor.domain.site_summary import evaluation_cells, month_range, months_period
from monitor.domain.strata import AttributeSpec
from monitor.errors import InputError
from monitor.service.federation import merged_cells
from monitor.service.ports import UnitOfWorkFactory

__all__ = ["CellEngine", "DatabaseCellEngine", "SummaryCellEngine"]


class CellEngine(Protocol):
    """Counts a device's confusion cells over ``[start, end)`` with ground truth known by ``cutoff``."""

    def confusion_cells(self, device_id: str, *, start: datetime, end: datetime, cutoff: datetime,
                        attributes: Sequence[AttributeSpec]) -> pd.DataFrame:
        """Columns ``model_version``, the attribute names, ``tp, fp, fn, tn``; sorted by the keys."""
        ...


class DatabaseCellEngine:
    """The SQL engine: :meth:`ResultRepository.confusion_cells` in a unit of work (SQLite or PostgreSQL)."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    def confusion_cells(self, device_id: str, *, start: datetime, end: datetime, cutoff: datetime,
                        attributes: Sequence[AttributeSpec]) -> pd.DataFrame:
        """The database's cells (see :class:`CellEngine`)."""
        with self._uow() as unit:
            cells: pd.DataFrame = unit.results.confusion_cells(device_id, start=start, end=end, cutoff=cutoff,
                                                                attributes=attributes)
        return cells


class SummaryCellEngine:
    """Merged site bundles: the newest bundle of each site and month received by the cut-off, summed
    (:func:`monitor.service.federation.merged_cells`).

    Bundles hold whole calendar months of the device's time zone, counted with the device's
    configured attributes: ``[start, end)`` must be whole months, and ``attributes`` some of the
    configured ones (cells of the others are added up).
    """

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    def confusion_cells(self, device_id: str, *, start: datetime, end: datetime, cutoff: datetime,
                        attributes: Sequence[AttributeSpec]) -> pd.DataFrame:
        """The merged bundles' cells (see :class:`CellEngine`)."""
        with self._uow() as unit:
            config = unit.devices.get(device_id)
            tz = resolve_timezone(config.monitoring.timezone)
            first = start.astimezone(tz).strftime("%Y-%m")
            last = (end - timedelta(microseconds=1)).astimezone(tz).strftime("%Y-%m")
            if months_period(first, last).bounds_utc(tz) != (start, end):
                raise InputError("site bundles hold whole calendar months: the period must start on the first "
                                 "of a month and end after the last day of a month (device time zone)")
            configured = {a.name: a for a in config.strata.attributes}
            unknown = [a.name for a in attributes if configured.get(a.name) != a]
            if unknown:
                raise InputError(f"site bundles are counted with the device's configured attributes; "
                                 f"not configured so: {', '.join(unknown)}")
            merged = merged_cells(unit, config, month_range(first, last), cutoff=cutoff)
        return evaluation_cells(merged.cells, [a.name for a in attributes])
