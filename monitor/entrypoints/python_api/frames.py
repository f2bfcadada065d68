"""In-memory tables (pandas DataFrames, pyarrow Tables) as log sources of the ingest services.

A frame is read as a log file would be: column names stripped and lower-cased, every value handed to the
validators as the text a CSV file would carry (timestamps in ISO-8601 with their offset, integers in
decimal, booleans as ``1`` / ``0``, missing values as ``None``), so a DataFrame is validated by exactly
the rules that validate a CSV or Parquet log (:mod:`monitor.domain.logs`). Row numbers are 1-based
positions in the frame, as a file's data rows.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from monitor.domain.logs import (
    GROUND_TRUTH_OPTIONAL,
    GROUND_TRUTH_REQUIRED,
    PREDICTION_OPTIONAL,
    PREDICTION_REQUIRED,
    RETRACTION_REQUIRED,
)
from monitor.errors import InputError

__all__ = ["FrameLog", "as_pandas"]

DEFAULT_CHUNK_ROWS = 50_000
_KNOWN_COLUMNS = frozenset({*PREDICTION_REQUIRED, *PREDICTION_OPTIONAL, *GROUND_TRUTH_REQUIRED,
                            *GROUND_TRUTH_OPTIONAL, *RETRACTION_REQUIRED})


def as_pandas(data: Any, what: str) -> pd.DataFrame:
    """``data`` (a pandas DataFrame, a pyarrow Table or RecordBatch, or any object exporting the Arrow
    C stream interface such as a polars DataFrame) as a pandas DataFrame; ``InputError`` otherwise."""
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, (pa.Table, pa.RecordBatch)):
        return data.to_pandas()
    if hasattr(data, "__arrow_c_stream__"):
        try:
            return pa.table(data).to_pandas()
        except (pa.ArrowException, TypeError, ValueError) as exc:
            raise InputError(f"{what}: cannot read it as an Arrow table ({type(exc).__name__})") from exc
    raise InputError(f"{what}: expected a pandas DataFrame or a pyarrow Table, got {type(data).__name__}")


def _scalar_text(value: Any) -> str | None:
    """One cell as the text a CSV file would carry."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (bool, np.bool_)):
        return "1" if value else "0"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if math.isnan(number):
            return None
        return str(int(number)) if number.is_integer() and abs(number) < 2**53 else repr(number)
    if isinstance(value, pd.Timestamp):
        return value.isoformat()  # a naive timestamp keeps no offset: validation rejects it, as in a file
    if hasattr(value, "isoformat"):  # datetime.datetime, datetime.date
        return str(value.isoformat())
    return str(value)


def _text_column(series: pd.Series) -> np.ndarray:
    """A column as text values (``None`` when missing), whatever its dtype (nullable, categorical, Arrow-backed):
    vectorised for the common NumPy dtypes, cell by cell (:func:`_scalar_text`) for the others."""
    dtype = series.dtype
    if isinstance(dtype, np.dtype) and dtype.kind == "b":
        return np.where(series.to_numpy(), "1", "0").astype(object)
    if isinstance(dtype, np.dtype) and dtype.kind in "iu":
        return series.to_numpy().astype(str).astype(object)
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        values = series.to_numpy(dtype=np.float64)
        missing = np.isnan(values)
        whole = ~missing & (np.mod(values, 1) == 0) & (np.abs(values) < 2**53)
        text = values.astype(str).astype(object)  # NumPy's shortest round-trip form, as repr()
        text[whole] = values[whole].astype(np.int64).astype(str)
        text[missing] = None
        return text
    if isinstance(dtype, pd.DatetimeTZDtype):
        instants = series.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
        text = np.char.add(np.datetime_as_string(instants, unit="us"), "Z").astype(object)  # the instant in UTC
        text[series.isna().to_numpy()] = None
        return text
    if dtype == object and pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty"):
        values = series.to_numpy(dtype=object)
        values = values.copy()
        values[pd.isna(values)] = None
        return values
    return np.array([_scalar_text(v) for v in series.to_numpy(dtype=object, na_value=None)], dtype=object)


def _fingerprint(frame: pd.DataFrame) -> str:
    """SHA-256 identifying the frame's content (column names and values), recorded as its batch's checksum."""
    digest = hashlib.sha256("\x1f".join(map(str, frame.columns)).encode("utf-8"))
    try:
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    except (TypeError, ValueError):  # unhashable cells (lists, dicts): hash their text instead
        digest.update(frame.astype(str).to_csv(index=False).encode("utf-8"))
    return digest.hexdigest()


class FrameLog:
    """A pandas DataFrame (or Arrow table) read as a log of ``kind`` rows (``LogSource``).

    ``name`` is how the frame is named in batch records and messages (e.g. ``predictions (frame)``). A frame
    without a ``device_id`` column is read as if every row named ``device_id`` (when given).
    """

    def __init__(self, data: Any, *, name: str, device_id: str | None = None) -> None:
        frame = as_pandas(data, name)
        columns = tuple(str(c).strip().lower() for c in frame.columns)
        duplicates = sorted({c for c in columns if columns.count(c) > 1})
        if duplicates:  # named only when a format column (a header cell may be anything)
            named = [c for c in duplicates if c in _KNOWN_COLUMNS]
            others = len(duplicates) - len(named)
            listed = [*named, f"{others} other name(s)"] if others else named
            raise InputError(f"{name}: duplicate column name(s) (names are case-insensitive): {', '.join(listed)}")
        if len(frame) == 0:
            raise InputError(f"{name}: the frame has no rows")
        self.name = name
        self.format = "dataframe" if isinstance(data, pd.DataFrame) else "arrow"
        self._fill = device_id if device_id is not None and "device_id" not in columns else None
        self.columns = columns + (("device_id",) if self._fill is not None else ())
        self._frame = frame
        self.sha256 = _fingerprint(frame)

    def chunks(self, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[tuple[int, pd.DataFrame]]:
        """Yield ``(first_row, frame_of_text)`` chunks of at most ``chunk_rows`` rows."""
        for start in range(0, len(self._frame), max(1, chunk_rows)):
            part = self._frame.iloc[start:start + chunk_rows]
            values = {column: _text_column(part.iloc[:, i]) for i, column in enumerate(self.columns)
                      if i < part.shape[1]}
            if self._fill is not None:
                values["device_id"] = [self._fill] * len(part)
            yield start + 1, pd.DataFrame(values, index=pd.RangeIndex(len(part)), columns=list(self.columns),
                                          dtype=object)

    def count_rows(self) -> int:
        """Number of rows."""
        return len(self._frame)
