"""Writers for generated frames: CSV with ISO-8601 offsets and Parquet with tz-aware timestamps."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

__all__ = ["format_timestamps", "write_csv", "write_parquet"]

_NS = 1_000_000_000


def _offset_bytes(seconds: int) -> bytes:
    sign = "+" if seconds >= 0 else "-"
    minutes = abs(int(seconds)) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}".encode("ascii")


def _iso_bytes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """ISO-8601 text of a datetime column as fixed-width ASCII bytes, and its missing mask."""
    aware = isinstance(values.dtype, pd.DatetimeTZDtype)
    wall = (values.dt.tz_localize(None) if aware else values).astype("datetime64[ns]").to_numpy()
    missing = np.isnat(wall)
    wall_ns = wall.astype(np.int64)
    present = wall_ns[~missing]
    if present.size == 0 or not (present % _NS).any():
        unit = "s"
    elif not (present % 1_000).any():
        unit = "us"
    else:
        unit = "ns"
    wide = np.datetime_as_string(wall.astype(f"datetime64[{unit}]"), unit=unit)
    lengths = np.strings.str_len(wide)
    width = int(lengths[~missing].max()) if (~missing).any() else 1
    text = wide.astype(f"S{width}")
    if aware and values.size:
        utc = values.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[ns]")
        utc_ns = utc.to_numpy().astype(np.int64)
        offset_s = np.where(missing, 0, (wall_ns - utc_ns) // _NS)
        offsets, inverse = np.unique(offset_s, return_inverse=True)
        suffix = np.array([_offset_bytes(o) for o in offsets], dtype="S6")[inverse.ravel()]
        if (lengths[~missing] == width).all():  # fixed width: append the offset bytes in place
            buf = np.empty((values.size, width + 6), dtype=np.uint8)
            buf[:, :width] = text.view(np.uint8).reshape(values.size, width)
            buf[:, width:] = suffix.view(np.uint8).reshape(values.size, 6)
            text = buf.view(f"S{width + 6}").ravel()
        else:  # e.g. years beyond 9999
            text = np.array([a + b for a, b in zip(text.tolist(), suffix.tolist(), strict=True)], dtype="S")
    return text, missing


def format_timestamps(values: pd.Series) -> pd.Series:
    """Format a datetime column as ISO-8601 text, with the UTC offset when tz-aware.

    Whole seconds are written as ``2025-08-01T09:15:00+08:00``; sub-second
    values get microseconds (or nanoseconds when needed). Missing values
    become the empty string.

    Parameters
    ----------
    values : pandas.Series
        A ``datetime64`` column, naive or timezone-aware.

    Returns
    -------
    pandas.Series
        Object column of strings with the same index.
    """
    text, missing = _iso_bytes(values)
    out = text.astype(f"U{max(text.dtype.itemsize, 1)}").astype(object)
    out[missing] = ""
    return pd.Series(out, index=values.index, name=values.name, dtype=object)


def _arrow_column(values: pd.Series) -> pa.Array | None:
    """Arrow array for the fast CSV path, or ``None`` when the column needs pandas' writer."""
    dtype = values.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        text, missing = _iso_bytes(values)
        return pa.array(text, type=pa.binary(), mask=missing).cast(pa.string())
    if isinstance(dtype, np.dtype) and dtype.kind in "iuf":
        return pa.array(values.to_numpy(), from_pandas=True)
    if isinstance(dtype, np.dtype) and dtype.kind == "O":
        try:
            array = pa.array(values.to_numpy(), from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return None
        return array if pa.types.is_string(array.type) or pa.types.is_null(array.type) else None
    return None


def write_csv(frame: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write ``frame`` as CSV (no index) with ISO-8601 timestamps including their offset.

    Datetime columns are written as by :func:`format_timestamps` (e.g.
    ``2025-08-01T09:15:00+08:00``); missing values are empty fields. Frames of
    numbers, strings and timestamps take a fast pyarrow path; anything else
    (booleans, categoricals, text needing quotes) is written by pandas.

    Parameters
    ----------
    frame : pandas.DataFrame
        Frame to write.
    path : str or path-like
        Destination file; parent directories are created.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    columns = [str(c) for c in frame.columns]
    arrays = [_arrow_column(frame.iloc[:, i]) for i in range(frame.shape[1])]
    if len(set(columns)) == len(columns) and all(a is not None for a in arrays):
        header = io.StringIO()
        csv.writer(header, lineterminator="\n").writerow(columns)
        table = pa.Table.from_arrays(arrays, names=columns)
        try:
            with out.open("wb") as fh:
                fh.write(header.getvalue().encode("utf-8"))
                pa_csv.write_csv(
                    table, fh, write_options=pa_csv.WriteOptions(include_header=False, quoting_style="none")
                )
            return out
        except pa.ArrowInvalid:  # a value needs quoting: fall back to pandas
            pass
    _formatted(frame).to_csv(out, index=False, na_rep="", lineterminator="\n")
    return out


def _formatted(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its datetime columns replaced by :func:`format_timestamps` text."""
    parts = {}
    for i in range(frame.shape[1]):
        col = frame.iloc[:, i]
        parts[i] = format_timestamps(col) if pd.api.types.is_datetime64_any_dtype(col.dtype) else col
    out = pd.DataFrame(parts, index=frame.index)
    out.columns = frame.columns
    return out


def write_parquet(frame: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write ``frame`` as Parquet (pyarrow, no index); tz-aware columns stay tz-aware timestamps.

    Parameters
    ----------
    frame : pandas.DataFrame
        Frame to write.
    path : str or path-like
        Destination file; parent directories are created.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(out, index=False, engine="pyarrow")
    return out
