"""The aggregates an analysis reads from a window, as one mergeable value.

Every frame is a table of counts keyed by everything but its last column ``n`` (the confusion frame: by
model version and stratum labels, counts ``tp, fp, fn, tn``), so the aggregates of a window are the
key-wise sums of those of any partition of its cases: the local months of a quarter, say (mergeable
summaries, Agarwal et al. 2013, "Mergeable summaries", PODS). :func:`merge` is that exact sum; sums
of integers do not depend on the order of the parts.

Frames (``<attributes>``: one column per configured attribute, in configuration order, holding its
stratum label; object dtype, counts int64):

* ``confusion``: ``model_version, <attributes>, tp, fp, fn, tn`` of the labelled cases (the count cells
  of the claims, :func:`monitor.domain.cells.cells_to_strata`);
* ``verification``: ``model_version, <attributes>, predicted_label, verified, n``: every prediction by
  call and whether its ground truth has arrived (``verified`` 1/0);
* ``score_histogram``: ``grouping, model_version, <attributes>, score_bin, label, predicted_label, n``:
  cases by score bin (0..1000), label (-1 pending) and call, summed to the whole population and each
  single attribute (grouping sets, :mod:`monitor.domain.grouping`: attributes outside the row's grouping
  are null);
* ``features``: ``feature, value, n``: the distribution of each drift input (an attribute's raw input:
  whole numbers for numeric inputs, labels for categorical ones; ``site_id``; ``score`` in hundredths),
  ``value`` as text (null when missing), read back by :meth:`WindowAggregates.feature`;
* ``label_sources``: ``predicted_label, source, n``: labelled cases by call and ground-truth source;
* ``label_delays``: ``model_version, label, predicted_label, source, days, late, n``: labelled cases by
  the whole days from the AI result to the current label's confirmation (``late`` 1: confirmed after the
  cut-off, counted as at the cut-off, so ``days`` holds for that cut-off only): the parts of the
  label-arrival histograms of later analyses (:func:`monitor.domain.labels.arrival_from_delays`). Counted
  for months only (:data:`MONTH_ONLY`): its ``late`` marks depend on the instant of the month's count, and
  a window's analysis never reads it, so a window's aggregates, from its rows or its months, leave it empty.

Not here: counts that depend on the cut-off other than through which rows are visible (days to the
first label or to intervention, censored at the cut-off): they are not sums over months.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Sequence

import numpy as np
import pandas as pd

__all__ = ["FRAMES", "MONTH_ONLY", "WindowAggregates", "empty_aggregates", "feature_rows", "merge"]

#: The frames of :class:`WindowAggregates` other than ``confusion`` (whose month parts are the count cells).
FRAMES = ("verification", "score_histogram", "features", "label_sources", "label_delays")
#: The frames a month's recount stores that a window's aggregates leave empty.
MONTH_ONLY = ("label_delays",)
_CONFUSION_COUNTS = ("tp", "fp", "fn", "tn")
_INTEGER_KEYS = ("score_bin", "label", "predicted_label", "verified", "days", "late")


def _counts(frame: pd.DataFrame) -> list[str]:
    return [c for c in _CONFUSION_COUNTS if c in frame.columns] or ["n"]


def columns_of(kind: str, names: Sequence[str]) -> list[str]:
    """The columns of frame ``kind`` for attributes ``names``."""
    names = list(names)
    return {
        "confusion": ["model_version", *names, *_CONFUSION_COUNTS],
        "verification": ["model_version", *names, "predicted_label", "verified", "n"],
        "score_histogram": ["grouping", "model_version", *names, "score_bin", "label", "predicted_label", "n"],
        "features": ["feature", "value", "n"],
        "label_sources": ["predicted_label", "source", "n"],
        "label_delays": ["model_version", "label", "predicted_label", "source", "days", "late", "n"],
    }[kind]


def _empty(kind: str, names: Sequence[str]) -> pd.DataFrame:
    counts = {*_CONFUSION_COUNTS, "n", *_INTEGER_KEYS}
    return pd.DataFrame({c: pd.Series(dtype="int64" if c in counts else object) for c in columns_of(kind, names)})


def _sum(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Key-wise sum of count tables with the same columns, rows in key order, zero rows dropped."""
    counts = _counts(frames[0])
    keys = [c for c in frames[0].columns if c not in counts]
    filled = [f for f in frames if not f.empty]
    if not filled:
        return frames[0].astype({c: "int64" for c in frames[0].columns if c in (*counts, *_INTEGER_KEYS)})
    whole = pd.concat(filled, ignore_index=True)
    summed = whole.groupby(keys, dropna=False, sort=False, as_index=False)[counts].sum()
    summed = summed.loc[summed[counts].sum(axis=1) > 0]
    for c in [*counts, *[k for k in keys if k in _INTEGER_KEYS]]:
        summed[c] = summed[c].astype("int64")
    order = summed[keys].astype(str).where(summed[keys].notna(), "\uffff")  # nulls last, any key type
    return summed.loc[order.sort_values(keys, kind="stable").index].reset_index(drop=True)


@dataclass(frozen=True)
class WindowAggregates:
    """The window aggregates of one device and window (module docstring: frames and columns)."""

    confusion: pd.DataFrame
    verification: pd.DataFrame
    score_histogram: pd.DataFrame
    features: pd.DataFrame
    label_sources: pd.DataFrame
    label_delays: pd.DataFrame

    def feature(self, name: str, *, numeric: bool) -> pd.DataFrame:
        """The histogram of drift input ``name``: ``value`` (float for numeric inputs, text otherwise) and ``n``."""
        rows = self.features.loc[self.features["feature"] == name, ["value", "n"]].reset_index(drop=True)
        if numeric:
            rows["value"] = pd.to_numeric(rows["value"]).astype("float64")
        return rows


def _text(value: object) -> str | None:
    """A histogram value as text: whole numbers without a decimal point (a column holding a null comes
    back as floats), labels as they are, null as ``None``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) \
            and float(value).is_integer():
        return str(int(value))
    return str(value)


def feature_rows(name: str, histogram: pd.DataFrame) -> pd.DataFrame:
    """The ``features`` rows of drift input ``name`` from its histogram (``value``, ``n``)."""
    return pd.DataFrame({"feature": [name] * len(histogram), "value": [_text(v) for v in histogram["value"]],
                         "n": pd.Series(histogram["n"], dtype="int64").to_numpy()}, columns=["feature", "value", "n"])


def empty_aggregates(names: Sequence[str]) -> WindowAggregates:
    """The aggregates of a window without cases (attributes ``names``)."""
    return WindowAggregates(**{f.name: _empty(f.name, names) for f in fields(WindowAggregates)})


def merge(parts: Sequence[WindowAggregates]) -> WindowAggregates:
    """The aggregates of the union of disjoint windows: each frame summed by key (exact integer sums),
    rows in a canonical key order, so a window gives the same frames whatever its partition."""
    if not parts:
        raise ValueError("merge needs at least one part")
    return WindowAggregates(**{f.name: _sum([getattr(p, f.name) for p in parts]) for f in fields(WindowAggregates)})
