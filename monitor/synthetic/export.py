"""Writers for generated frames: CSV with ISO-8601 offsets and Parquet with tz-aware timestamps."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["format_timestamps", "write_csv", "write_parquet"]


def _offset_text(seconds: int) -> str:
    sign = "+" if seconds >= 0 else "-"
    minutes = abs(int(seconds)) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


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
    aware = isinstance(values.dtype, pd.DatetimeTZDtype)
    wall = (values.dt.tz_localize(None) if aware else values).astype("datetime64[ns]")
    wall_ns = wall.to_numpy().astype(np.int64)
    missing = values.isna().to_numpy()
    present = wall_ns[~missing]
    if present.size == 0 or not (present % 1_000_000_000).any():
        unit = "s"
    elif not (present % 1_000).any():
        unit = "us"
    else:
        unit = "ns"
    text = np.datetime_as_string(wall.to_numpy().astype(f"datetime64[{unit}]"), unit=unit).astype(object)
    if aware:
        utc_ns = values.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[ns]").to_numpy().astype(np.int64)
        offset_s = (wall_ns - utc_ns) // 1_000_000_000
        offsets, inverse = np.unique(offset_s[~missing], return_inverse=True)
        suffix = np.full(values.size, "", dtype=object)
        suffix[~missing] = np.asarray([_offset_text(o) for o in offsets], dtype=object)[inverse]
        text = text + suffix
    text[missing] = ""
    return pd.Series(text, index=values.index, name=values.name, dtype=object)


def write_csv(frame: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write ``frame`` as CSV (no index) with ISO-8601 timestamps including their offset.

    Parameters
    ----------
    frame : pandas.DataFrame
        Frame to write; datetime columns are formatted by :func:`format_timestamps`.
    path : str or path-like
        Destination file; parent directories are created.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    formatted = frame.copy(deep=False)
    for column in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[column].dtype):
            formatted[column] = format_timestamps(frame[column])
    formatted.to_csv(out, index=False, na_rep="")
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
