"""The stratum binning rule, written once: an engine-neutral description and its numpy evaluation.

Every engine that counts confusion cells labels each case by the same rule, described here by a
:class:`BinningRule` and evaluated here for pandas/numpy; the other engines *compile* the same
description (SQL: ``monitor.adapters.db.repositories.results.attribute_expression``, Arrow:
``monitor.adapters.arrow.cells``, Spark: ``monitor.adapters.spark.cells``):

* a **numeric** attribute is read as a number (text that is not a number counts as missing), top-coded
  when its column is top-coded (ages of :data:`AGE_CAP` and above become :data:`AGE_CAP`, HIPAA Safe
  Harbor, 45 CFR 164.514(b)(2)(i)(C)), then cut with *left-closed* edges: the label of ``value`` is
  the first label whose upper edge is above it (``value < edge``), else the last;
* a **categorical** attribute is its value as text;
* a missing value (null, NaN, empty text) has the label :data:`MISSING_LABEL`.

Examples
--------
>>> rule = BinningRule.numeric("age_band", "age", [45, 65, 75])
>>> rule.labels
('<45', '45-64', '65-74', '>=75')
>>> [rule.label(v) for v in (44.9, 45, 74.99, 75, 96, None, "", "n/a")]
['<45', '45-64', '65-74', '>=75', '>=75', 'unknown', 'unknown', 'unknown']
>>> BinningRule.numeric("old", "age", [90, 95]).label(97)   # top-coded to 90
'90-94'
>>> BinningRule.categorical("sex", "sex").evaluate(["F", None, "", "M"]).tolist()
['F', 'unknown', 'unknown', 'M']
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

__all__ = ["AGE_CAP", "MISSING_LABEL", "TOP_CODES", "BinningRule", "default_labels"]

#: Ages at or above this are one category, coded as this value (">= 90"): ingestion stores them so
#: (unless exact ages are allowed) and every engine top-codes them before binning.
AGE_CAP = 90
#: The label of a missing value.
MISSING_LABEL = "unknown"
#: Source columns whose values are top-coded before binning: column -> cap.
TOP_CODES: dict[str, float] = {"age": float(AGE_CAP)}


def _fmt(edge: float) -> str:
    return str(int(edge)) if float(edge).is_integer() else f"{edge:g}"


def default_labels(edges: Sequence[float]) -> list[str]:
    """Labels of the ``len(edges) + 1`` left-closed bins: ``<a``, ``a-(b-1)`` (integer edges) or ``[a, b)``, ``>=z``.

    >>> default_labels([45, 65, 75]), default_labels([0.5, 1])
    (['<45', '45-64', '65-74', '>=75'], ['<0.5', '[0.5, 1)', '>=1'])
    """
    inner = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        if float(lo).is_integer() and float(hi).is_integer():
            inner.append(f"{int(lo)}-{int(hi) - 1}")
        else:
            inner.append(f"[{_fmt(lo)}, {_fmt(hi)})")
    return [f"<{_fmt(edges[0])}", *inner, f">={_fmt(edges[-1])}"]


@dataclass(frozen=True)
class BinningRule:
    """How one attribute labels a case: what the engines compile and what :meth:`evaluate` computes.

    ``edges`` is ``None`` for a categorical attribute; for a numeric one ``labels`` has
    ``len(edges) + 1`` entries and ``top_code`` (when set) caps the values before binning.
    """

    name: str
    column: str
    edges: tuple[float, ...] | None = None
    labels: tuple[str, ...] = ()
    missing: str = MISSING_LABEL
    top_code: float | None = None

    def __post_init__(self) -> None:
        if self.edges is not None:
            if not self.edges or any(not math.isfinite(e) for e in self.edges) or any(
                    b <= a for a, b in zip(self.edges, self.edges[1:])):
                raise ValueError("bin edges must be finite and strictly increasing")
            if len(self.labels) != len(self.edges) + 1:
                raise ValueError(f"{len(self.edges)} edges need {len(self.edges) + 1} labels")

    @classmethod
    def numeric(cls, name: str, column: str, edges: Iterable[float], labels: Sequence[str] | None = None
                ) -> BinningRule:
        """A binned attribute; the column's top-code (:data:`TOP_CODES`) applies."""
        edges = tuple(float(e) for e in edges)
        return cls(name, column, edges, tuple(labels if labels is not None else default_labels(edges)),
                   top_code=TOP_CODES.get(column))

    @classmethod
    def categorical(cls, name: str, column: str) -> BinningRule:
        """An attribute labelled by its text."""
        return cls(name, column)

    @property
    def is_numeric(self) -> bool:
        """Whether the values are binned numbers."""
        return self.edges is not None

    def cases(self) -> tuple[list[tuple[float, str]], str]:
        """The numeric rule as a ``CASE`` chain for compilers: ``([(edge, label), ...], otherwise)``.

        For a non-missing value the first pair with ``value < edge`` gives its label, else ``otherwise``.
        The top-code is compiled in: an edge above it is never reached (every capped value lies below it),
        so the chain stops there and that bin's label is ``otherwise``. Missing values (null, NaN) are
        tested first by the compiler and get :attr:`missing`.

        >>> BinningRule.numeric("b", "age", [45, 90, 95]).cases()
        ([(45.0, '<45'), (90.0, '45-89')], '90-94')
        """
        assert self.edges is not None
        pairs: list[tuple[float, str]] = []
        for edge, label in zip(self.edges, self.labels[:-1], strict=True):
            if self.top_code is not None and edge > self.top_code:
                return pairs, label
            pairs.append((edge, label))
        return pairs, self.labels[-1]

    # ------------------------------------------------------------------ evaluation (pandas / numpy)
    def bin_index(self, numbers: np.ndarray) -> np.ndarray:
        """Index into ``labels`` of each float value, ``len(labels)`` for NaN (missing): the numeric rule."""
        assert self.edges is not None
        values = np.asarray(numbers, dtype=float)
        if self.top_code is not None:
            values = np.where(values >= self.top_code, self.top_code, values)
        index = np.searchsorted(np.asarray(self.edges, dtype=float), values, side="right")
        index[np.isnan(values)] = len(self.labels)
        return index

    def evaluate(self, values: Any) -> np.ndarray:
        """The label (object array) of each raw value of a column (a pandas Series, array or list)."""
        series = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
        if self.is_numeric:
            numbers = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
            return np.asarray([*self.labels, self.missing], dtype=object)[self.bin_index(numbers)]
        text = series.astype(object)
        return text.where(text.notna() & (text != ""), self.missing).astype(str).to_numpy(dtype=object)

    def label(self, value: float | str | None) -> str:
        """The label of one raw value."""
        if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
            return self.missing
        if not self.is_numeric:
            return str(value)
        assert self.edges is not None
        try:
            number = float(value)
        except (TypeError, ValueError):
            return self.missing
        if math.isnan(number):
            return self.missing
        if self.top_code is not None and number >= self.top_code:
            number = self.top_code
        return self.labels[bisect_right(self.edges, number)]
