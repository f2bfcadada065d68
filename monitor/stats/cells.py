"""Count algebra on *cell tables*.

A cell table is a :class:`pandas.DataFrame` with some key columns (stratum
variables such as site, vendor, age band) and the four confusion counts
``tp, fp, fn, tn`` (:data:`COUNT_COLUMNS`). Counts are additive, so every
stratum-level metric can be derived by summing cells:

* :func:`confusion_cells` - per-case frame -> cell table (pure-pandas reference);
* :func:`marginal_counts` - sum cells over all keys not in ``by``;
* :func:`add_cells` - combine two cell tables (e.g. two periods or batches).

Key columns are expected to be free of NaN: the caller maps missing values to
an explicit level such as ``"unknown"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
import pandas as pd

__all__ = ["COUNT_COLUMNS", "marginal_counts", "add_cells", "confusion_cells"]

COUNT_COLUMNS: Final[tuple[str, ...]] = ("tp", "fp", "fn", "tn")


def _check_keys(frame: pd.DataFrame, keys: Sequence[str], what: str) -> list[str]:
    if isinstance(keys, str):
        raise TypeError(f"{what} must be a sequence of column names, not a string")
    key_list = list(keys)
    if len(set(key_list)) != len(key_list):
        raise ValueError(f"{what} contains duplicate column names: {key_list}")
    clash = [k for k in key_list if k in COUNT_COLUMNS]
    if clash:
        raise ValueError(f"{what} must not include count columns: {clash}")
    missing = [k for k in key_list if k not in frame.columns]
    if missing:
        raise ValueError(f"{what} columns not in frame: {missing}")
    return key_list


def _check_counts(cells: pd.DataFrame) -> None:
    missing = [c for c in COUNT_COLUMNS if c not in cells.columns]
    if missing:
        raise ValueError(f"cell table lacks count columns: {missing}")


def marginal_counts(cells: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Sum ``tp, fp, fn, tn`` over all other columns, grouped by ``by``.

    Parameters
    ----------
    cells : pandas.DataFrame
        Cell table with the count columns and (at least) the ``by`` columns.
    by : sequence of str
        Key columns to keep; empty gives one overall row.

    Returns
    -------
    pandas.DataFrame
        Columns ``list(by) + ["tp", "fp", "fn", "tn"]`` (counts int64), one row
        per combination of ``by`` present in ``cells`` (observed groups only;
        groups whose counts sum to zero are kept if present), sorted by ``by``,
        with a fresh RangeIndex.

    Raises
    ------
    ValueError
        If a ``by`` column or a count column is missing, or ``by`` names a
        count column.

    References
    ----------
    Marginalisation of a contingency table by summation (Agresti A.
    Categorical Data Analysis, 3rd ed. Wiley 2013, section 2.1).

    Examples
    --------
    >>> cells = pd.DataFrame({"site": ["a", "a", "b"], "sex": ["F", "M", "F"],
    ...                       "tp": [1, 2, 3], "fp": [0, 1, 0], "fn": [1, 0, 0], "tn": [5, 5, 5]})
    >>> marginal_counts(cells, ["site"])
      site  tp  fp  fn  tn
    0    a   3   1   1  10
    1    b   3   0   0   5
    >>> marginal_counts(cells, [])
       tp  fp  fn  tn
    0   6   1   1  15
    """
    _check_counts(cells)
    by_list = _check_keys(cells, by, "by")
    counts = list(COUNT_COLUMNS)
    if not by_list:
        totals = cells[counts].to_numpy(dtype=np.int64).sum(axis=0)
        return pd.DataFrame([totals], columns=counts).astype(np.int64)
    grouped = (
        cells.groupby(by_list, observed=True, dropna=False, sort=True)[counts]
        .sum()
        .reset_index()
    )
    grouped[counts] = grouped[counts].astype(np.int64)
    return grouped[by_list + counts].reset_index(drop=True)


def add_cells(a: pd.DataFrame, b: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Add two cell tables key-wise (outer join on ``keys``, counts summed).

    Parameters
    ----------
    a, b : pandas.DataFrame
        Cell tables holding ``keys`` and the count columns. Columns not in
        ``keys`` are summed over.
    keys : sequence of str
        Key columns identifying a cell.

    Returns
    -------
    pandas.DataFrame
        Columns ``list(keys) + ["tp", "fp", "fn", "tn"]``; a key combination
        present in only one table keeps its counts; sorted by ``keys``.

    References
    ----------
    Additivity of multinomial cell counts over disjoint case sets (Agresti A.
    Categorical Data Analysis, 3rd ed. Wiley 2013).

    Examples
    --------
    >>> a = pd.DataFrame({"site": ["a"], "tp": [1], "fp": [0], "fn": [1], "tn": [3]})
    >>> b = pd.DataFrame({"site": ["a", "b"], "tp": [2, 1], "fp": [1, 0], "fn": [0, 0], "tn": [4, 2]})
    >>> add_cells(a, b, ["site"])
      site  tp  fp  fn  tn
    0    a   3   1   1   7
    1    b   1   0   0   2
    """
    for frame, name in ((a, "a"), (b, "b")):
        _check_counts(frame)
        _check_keys(frame, keys, f"keys (table {name})")
    key_list = list(keys)
    cols = key_list + list(COUNT_COLUMNS)
    parts = [frame[cols] for frame in (a, b) if len(frame)]
    if not parts:
        return marginal_counts(a[cols], key_list)
    return marginal_counts(pd.concat(parts, ignore_index=True), key_list)


def _binary(series: pd.Series, name: str) -> np.ndarray:
    values = series.to_numpy()
    if values.dtype.kind == "b":
        return np.asarray(values, dtype=bool)
    try:
        numeric = pd.to_numeric(series, errors="raise").to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"column {name!r} must be binary (0/1 or bool)") from exc
    if not np.all(np.isin(numeric, (0.0, 1.0))):
        raise ValueError(
            f"column {name!r} must be binary (0/1 or bool) without missing values; "
            "filter unlabelled cases before building cells"
        )
    return np.asarray(numeric == 1.0, dtype=bool)


def confusion_cells(
    frame: pd.DataFrame,
    *,
    keys: Sequence[str],
    label: str = "label",
    call: str = "predicted_label",
) -> pd.DataFrame:
    """Build a cell table from a per-case frame (pure-pandas reference).

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per case with the ``keys`` columns, the reference-standard
        ``label`` column and the device ``call`` column (both 0/1 or bool).
    keys : sequence of str
        Stratum columns to keep (empty gives one overall row).
    label : str, default "label"
        Reference-standard column (1 = condition present).
    call : str, default "predicted_label"
        Device output column (1 = device positive).

    Returns
    -------
    pandas.DataFrame
        Columns ``list(keys) + ["tp", "fp", "fn", "tn"]`` (int64), one row per
        key combination present in ``frame``, sorted by ``keys``.

    Raises
    ------
    ValueError
        If a column is missing or ``label`` / ``call`` is not binary (NaN
        labels are rejected: drop pending cases first).

    References
    ----------
    2x2 classification table of a diagnostic test against a reference
    standard (FDA. Statistical Guidance on Reporting Results from Studies
    Evaluating Diagnostic Tests, 2007).

    Examples
    --------
    >>> cases = pd.DataFrame({"site": ["a", "a", "b", "b"],
    ...                       "label": [1, 0, 1, 1], "predicted_label": [1, 1, 0, 1]})
    >>> confusion_cells(cases, keys=["site"])
      site  tp  fp  fn  tn
    0    a   1   1   0   0
    1    b   1   0   1   0
    """
    key_list = _check_keys(frame, keys, "keys")
    for col in (label, call):
        if col not in frame.columns:
            raise ValueError(f"column {col!r} not in frame")
    y = _binary(frame[label], label)
    yhat = _binary(frame[call], call)
    indicators = pd.DataFrame(
        {
            "tp": (y & yhat).astype(np.int64),
            "fp": (~y & yhat).astype(np.int64),
            "fn": (y & ~yhat).astype(np.int64),
            "tn": (~y & ~yhat).astype(np.int64),
        },
        index=frame.index,
    )
    cells = pd.concat([frame[key_list], indicators], axis=1)
    return marginal_counts(cells, key_list)
