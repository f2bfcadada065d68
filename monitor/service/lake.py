"""Stratified analysis of logs that stay in a data lake, counted by a cluster engine.

The engine (e.g. :mod:`monitor.adapters.spark`) reduces Parquet logs to the same cell
table the database path produces; the unchanged statistics core evaluates it. Nothing is
stored: the result is a document (``schemas/lake_analysis.schema.json``) that a QA team
can file or compare with the database path's analysis of the same data.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable, Protocol

import pandas as pd

from monitor import __version__
from monitor.domain.device import DeviceConfig
from monitor.domain.evaluation import DECISION_RULE, TESTED_STATUSES, evaluate_cells, family_summary, stratum_counts
from monitor.domain.periods import Period, resolve_timezone
from monitor.errors import InputError

__all__ = ["CountedCells", "analyze_lake"]


class CountedCells(Protocol):
    """What an engine returns: the cell table and its bookkeeping."""

    cells: pd.DataFrame
    predictions_read: int
    predictions_counted: int
    excluded: dict[str, int]


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def analyze_lake(
    config: DeviceConfig, period: Period, *, cutoff: datetime, engine: str,
    count_cells: Callable[..., CountedCells], inputs: dict[str, list[str]],
) -> dict[str, Any]:
    """Evaluate every monitored stratum of ``period`` from cells counted by ``count_cells``.

    ``count_cells(device_id=..., start=..., end=..., cutoff=..., attributes=...)`` is the engine's
    counting function with its inputs bound.
    """
    if cutoff.tzinfo is None:
        raise InputError("the data cut-off needs a UTC offset (e.g. 2026-01-31T23:59:59+08:00)")
    start, end = period.bounds_utc(resolve_timezone(config.monitoring.timezone))
    counted = count_cells(device_id=config.device.id, start=start, end=end, cutoff=cutoff,
                          attributes=config.strata.attributes)
    results = evaluate_cells(counted.cells, config)  # the lake's counts carry no evidence adjustments
    rows = [r.as_dict() for r in results]
    decided = family_summary(config, rows)
    return {
        "schema": "samd-monitor/lake_analysis",
        "schema_version": 1,
        "software_version": __version__,
        "engine": engine,
        "device_id": config.device.id,
        "config_hash": config.config_hash(),
        "period": {"label": period.label, "start_utc": _iso(start), "end_utc": _iso(end)},
        "data_cutoff": _iso(cutoff),
        "inputs": {k: sorted(v) for k, v in sorted(inputs.items())},
        "predictions_read": counted.predictions_read,
        "predictions_counted": counted.predictions_counted,
        "excluded": dict(sorted(counted.excluded.items())),
        "counts": [c.as_dict() for c in stratum_counts(counted.cells, config)],
        "decision_rule": DECISION_RULE,
        "results": rows,
        "summary": {"tests": sum(1 for r in results if r.status in TESTED_STATUSES),
                    "flagged": sum(1 for r in results if r.status == "flagged"),
                    "insufficient": sum(1 for r in results if r.status == "insufficient"),
                    "families": decided["families"], "outcomes": decided["outcomes"]},
    }
