"""Count cells: the confusion counts of every stratum at its finest level, merged by addition.

A cell is (device, local calendar month, model version, stratum key) with the counts
``tp, fp, fn, tn`` and ``pending`` (predictions whose ground truth has not arrived). The stratum
key holds the label of *every* configured attribute, so each single stratum and each
intersection of the device's strata is a marginal sum of cells, and a period of whole months
(a quarter, a year) is a sum over its months. Counts are additive (a commutative monoid): the
cells of a log split into parts sum to the cells of the whole, which is what lets them be kept
per month and merged, as in mergeable summaries (Agarwal et al., "Mergeable summaries",
ACM TODS 38(4), 2013) and river's ``update``/``__add__`` statistics.

Months are taken in the device's monitoring time zone, where the periods are defined
(:mod:`monitor.domain.periods`), so a period's UTC bounds are exactly a union of month bounds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Sequence
from zoneinfo import ZoneInfo

import pandas as pd

from monitor.domain.strata import AttributeSpec

__all__ = ["COUNT_COLUMNS", "MonthWindow", "cells_to_strata", "month_windows", "months_between", "stratum_key"]

COUNT_COLUMNS = ("tp", "fp", "fn", "tn", "pending")


@dataclass(frozen=True)
class MonthWindow:
    """One local calendar month: its label (``YYYY-MM``) and its bounds in UTC (end exclusive)."""

    label: str
    start_utc: datetime
    end_utc: datetime


def _month_start(year: int, month: int, tz: ZoneInfo) -> datetime:
    return datetime(year, month, 1, tzinfo=tz).astimezone(timezone.utc)


def _next(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def months_between(first: datetime, last: datetime, tz: ZoneInfo) -> list[MonthWindow]:
    """Every local month from the one holding ``first`` to the one holding ``last`` (inclusive)."""
    a, b = first.astimezone(tz), last.astimezone(tz)
    year, month = a.year, a.month
    windows = []
    while (year, month) <= (b.year, b.month):
        following = _next(year, month)
        windows.append(MonthWindow(f"{year:04d}-{month:02d}", _month_start(year, month, tz),
                                   _month_start(*following, tz)))
        year, month = following
    return windows


def month_windows(start_utc: datetime, end_utc: datetime, tz: ZoneInfo) -> list[MonthWindow] | None:
    """The local months that exactly tile ``[start_utc, end_utc)``, or ``None`` when the window does not
    start and end on local month boundaries (a week, say): such a window cannot be summed from months."""
    if end_utc <= start_utc:
        return None
    windows = months_between(start_utc, end_utc - timedelta(microseconds=1), tz)
    if windows[0].start_utc != start_utc or windows[-1].end_utc != end_utc:
        return None
    return windows


def stratum_key(labels: dict[str, str]) -> str:
    """The cell key of one combination of attribute labels: JSON with sorted keys (stable, readable)."""
    return json.dumps(labels, sort_keys=True, ensure_ascii=False)


def cells_to_strata(cells: pd.DataFrame, attributes: Sequence[AttributeSpec]) -> pd.DataFrame:
    """Sum cells (``model_version``, ``stratum_key``, counts) into the confusion-cell table the statistics
    core takes (:func:`monitor.domain.evaluation.evaluate_cells`): one row per model version and full
    combination of attribute labels, one column per attribute, ``tp, fp, fn, tn`` as int64, sorted.
    Combinations whose only predictions await ground truth are left out, as in the row-level count."""
    names = [a.name for a in attributes]
    columns = ["model_version", *names, "tp", "fp", "fn", "tn"]
    if cells.empty:
        return pd.DataFrame({c: pd.Series(dtype="int64" if c in ("tp", "fp", "fn", "tn") else object)
                             for c in columns})
    summed = cells.groupby(["model_version", "stratum_key"], sort=False, as_index=False)[
        ["tp", "fp", "fn", "tn"]].sum()
    summed = summed.loc[summed[["tp", "fp", "fn", "tn"]].sum(axis=1) > 0]
    decoded = {key: json.loads(key) for key in summed["stratum_key"].unique()}
    for name in names:
        summed[name] = summed["stratum_key"].map(lambda k, n=name: decoded[k][n])
    frame = summed[columns].copy()
    for c in ("tp", "fp", "fn", "tn"):
        frame[c] = frame[c].astype("int64")
    return frame.sort_values(columns[:-4], kind="stable").reset_index(drop=True)
