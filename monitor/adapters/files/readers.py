"""Streaming readers for log files: CSV and Parquet, in bounded-memory chunks of text values.

:func:`open_log` also opens the formats of :mod:`monitor.adapters.formats` (NDJSON, FHIR R4
Bundles, DICOM SR), which follow the same conventions.

Each reader yields ``(first_row, frame)`` where ``frame`` holds the values as text
(``None`` when empty) and ``first_row`` is the 1-based number of the chunk's first
data row (the header is not counted). Typed Parquet values are rendered as text
the way a CSV would carry them (timestamps in ISO-8601 with their offset), so that
one validator serves every format.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from monitor.adapters.formats.dicom_sr import DicomSrLog
from monitor.adapters.formats.fhir import FhirBundleLog
from monitor.adapters.formats.ndjson import NdjsonLog
from monitor.domain.logs import (
    GROUND_TRUTH_OPTIONAL,
    GROUND_TRUTH_REQUIRED,
    PREDICTION_OPTIONAL,
    PREDICTION_REQUIRED,
    RETRACTION_REQUIRED,
)
from monitor.errors import InputError

__all__ = ["LOG_FORMATS", "LogFile", "open_log"]

DEFAULT_CHUNK_ROWS = 50_000
LOG_FORMATS = ("csv", "parquet", "ndjson", "fhir", "dicom-sr")
_FORMATS = {".csv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet", ".ndjson": "ndjson",
            ".jsonl": "ndjson", ".dcm": "dicom-sr"}
_KNOWN_COLUMNS = frozenset({*PREDICTION_REQUIRED, *PREDICTION_OPTIONAL, *GROUND_TRUTH_REQUIRED,
                            *GROUND_TRUTH_OPTIONAL, *RETRACTION_REQUIRED})


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class LogFile:
    """A log file about to be read: its path, format, checksum and column names."""

    path: Path
    format: str
    sha256: str
    columns: tuple[str, ...]

    def chunks(self, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[tuple[int, pd.DataFrame]]:
        """Yield ``(first_row, frame_of_text)`` chunks."""
        if self.format == "csv":
            yield from _csv_chunks(self.path, chunk_rows)
        else:
            yield from _parquet_chunks(self.path, chunk_rows)

    def count_rows(self) -> int | None:
        """Number of data rows when cheap to know (Parquet metadata), else ``None``."""
        if self.format == "parquet":
            return pq.ParquetFile(self.path).metadata.num_rows
        return None


def _format_of(path: Path) -> str | None:
    name = path.name.lower()
    if path.is_dir():
        return "dicom-sr"
    if name.endswith(".fhir.json"):
        return "fhir"
    return _FORMATS.get(path.suffix.lower())


def open_log(path: Path, *, format: str | None = None, kind: str | None = None,
             device_id: str | None = None) -> LogFile | NdjsonLog | FhirBundleLog | DicomSrLog:
    """Inspect ``path`` (format from the suffix unless given) and read its header.

    ``kind`` (``predictions`` or ``ground_truth``) is needed by FHIR Bundles, whose resources map
    differently for each; ``device_id`` is the registered device that FHIR ground truth and DICOM SR
    results refer to when the source does not name it.
    """
    fmt = format or _format_of(path)
    if fmt == "dicom-sr" and path.is_dir():
        return DicomSrLog(path, device_id=device_id)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if fmt not in LOG_FORMATS:
        raise InputError(f"{path}: unknown log format (use a .csv, .parquet, .ndjson, .fhir.json or .dcm file, "
                         f"or --input-format {'|'.join(LOG_FORMATS)})")
    if fmt == "ndjson":
        return NdjsonLog(path)
    if fmt == "fhir":
        if kind not in ("predictions", "ground_truth"):
            raise InputError(f"{path}: a FHIR Bundle is read as predictions or as ground truth; say which")
        return FhirBundleLog(path, kind=kind, device_id=device_id)
    if fmt == "dicom-sr":
        return DicomSrLog(path, device_id=device_id)
    columns = _csv_header(path) if fmt == "csv" else _parquet_header(path)
    normalised = tuple(c.strip().lower() for c in columns)
    duplicates = sorted({c for c in normalised if normalised.count(c) > 1})
    if duplicates:  # named only when a format column: a header-less file's "header" is a data row
        named = [c for c in duplicates if c in _KNOWN_COLUMNS]
        others = f"{len(duplicates) - len(named)} other name(s)" if len(named) < len(duplicates) else ""
        raise InputError(f"{path}: duplicate column name(s) in the header: "
                         f"{', '.join([*named, others] if others else named)}"
                         + ("; is the header row missing?" if not named else ""))
    return LogFile(path=path, format=fmt, sha256=_sha256(path), columns=normalised)


def _csv_header(path: Path) -> list[str]:
    try:
        with path.open("r", encoding="utf-8-sig", newline="") as handle:
            first = handle.readline()
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: the file is not UTF-8 text (re-export it as UTF-8)") from exc
    if not first.strip():
        raise InputError(f"{path}: the file is empty (expected a header row)")
    try:
        dialect = csv.Sniffer().sniff(first, delimiters=",;\t|")
    except csv.Error:
        dialect = None
    header = next(csv.reader([first]))
    if dialect is not None and dialect.delimiter != "," and len(header) == 1:
        raise InputError(
            f"{path}: the header is separated by {dialect.delimiter!r}; samd-monitor reads comma-separated files"
        )
    return header


def _text_lines(handle: Iterator[str], path: Path) -> Iterator[str]:
    """The file's lines, refusing NUL bytes (not text; PostgreSQL cannot store them)."""
    for line in handle:
        if "\x00" in line:
            raise InputError(f"{path}: the file contains NUL bytes; it is not a text CSV file")
        yield line


def _csv_frame(rows: list[list[str]], columns: list[str]) -> pd.DataFrame:
    width = len(columns)
    padded = [r if len(r) == width else r + [""] * (width - len(r)) for r in rows]  # short rows: missing values
    frame = pd.DataFrame(padded, columns=columns, dtype=object)
    return frame.where(frame != "", None)


def _csv_chunks(path: Path, chunk_rows: int) -> Iterator[tuple[int, pd.DataFrame]]:
    """Chunks of a CSV file: parsed by Arrow's C++ reader while the file is plain (every record as wide as
    the header, UTF-8, no NUL byte, an unquoted header of distinct names); at the first thing it does not
    read the way Python's ``csv`` module does, the rest of the file is read by :func:`_python_csv_chunks`,
    which gives the same chunks and names the data row of a malformed record. Arrow's own messages are
    never shown: they quote the row."""
    done = 0
    try:
        for first_row, frame in _arrow_csv_chunks(path, chunk_rows):
            yield first_row, frame
            done += len(frame)
        return
    except (_NotPlain, pa.ArrowException):
        pass
    yield from _python_csv_chunks(path, chunk_rows, skip=done)


#: Bytes of CSV text Arrow parses at a time (a chunk is cut from one or more such blocks).
_ARROW_BLOCK_BYTES = 8 << 20


class _NotPlain(Exception):
    """The CSV file needs the reference reader (see :func:`_csv_chunks`)."""


def _arrow_csv_chunks(path: Path, chunk_rows: int) -> Iterator[tuple[int, pd.DataFrame]]:
    """Arrow's streaming CSV reader, re-cut into chunks of ``chunk_rows`` data rows of text (``None`` for an
    empty value, as :func:`_csv_frame`)."""
    try:
        with path.open("r", encoding="utf-8-sig", newline="") as handle:
            first = handle.readline()
    except UnicodeDecodeError:
        raise _NotPlain from None
    if '"' in first or "\x00" in first:
        raise _NotPlain
    header = next(csv.reader([first]), [])
    columns = [str(c).strip().lower() for c in header]
    if len(columns) < 2 or len(set(columns)) != len(columns):  # (a one-column file's blank-looking rows)
        raise _NotPlain
    options = {"read_options": pacsv.ReadOptions(column_names=columns, skip_rows=1, block_size=_ARROW_BLOCK_BYTES),
               "parse_options": pacsv.ParseOptions(newlines_in_values=True),
               "convert_options": pacsv.ConvertOptions(column_types={c: pa.string() for c in columns}, null_values=[""],
                                                       strings_can_be_null=True, quoted_strings_can_be_null=True)}
    with path.open("rb") as handle:  # (a path Arrow cannot encode, PEP 383, is opened by Python)
        yield from _arrow_batches_as_chunks(pacsv.open_csv(handle, **options), chunk_rows)


def _arrow_batches_as_chunks(reader: pacsv.CSVStreamingReader, chunk_rows: int) -> Iterator[tuple[int, pd.DataFrame]]:
    """The reader's record batches re-cut into numbered chunks of ``chunk_rows`` rows."""
    first_row = 1
    pending: list[pa.RecordBatch] = []
    held = 0
    for batch in reader:
        limit = csv.field_size_limit()
        for column in batch.columns:
            if pc.any(pc.match_substring(column, "\x00")).as_py() or (pc.max(pc.utf8_length(column)).as_py() or 0) > limit:
                raise _NotPlain  # refused with its message by the reference reader (NUL byte, field over the limit)
        pending.append(batch)
        held += batch.num_rows
        while held >= chunk_rows:
            table = pa.Table.from_batches(pending)
            yield first_row, _arrow_frame(table.slice(0, chunk_rows))
            first_row += chunk_rows
            rest = table.slice(chunk_rows)
            pending, held = rest.to_batches(), rest.num_rows
    if held:
        yield first_row, _arrow_frame(pa.Table.from_batches(pending))


def _arrow_frame(table: pa.Table) -> pd.DataFrame:
    """A table of text columns as the object frame every reader yields (``None`` for missing)."""
    return pd.DataFrame({name: column.to_numpy() for name, column in zip(table.column_names, table.columns, strict=True)},
                        dtype=object)


def _python_csv_chunks(path: Path, chunk_rows: int, skip: int = 0) -> Iterator[tuple[int, pd.DataFrame]]:
    """The reference reader (Python's ``csv`` module), which names the data row of any malformed record;
    the chunks of the first ``skip`` data rows (a multiple of ``chunk_rows``) are parsed but not built."""
    # Python's csv module rather than pandas.read_csv(chunksize=...): pandas' C parser does not check
    # the field count of the first row of each chunk (an extra field is silently dropped) and takes a
    # first data row with one extra field as an index (shifting every column of the file).
    first_row = 1
    rows: list[list[str]] = []
    try:
        with path.open("r", encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(_text_lines(handle, path))
            header = next(reader, None)
            if header is None:
                return
            columns = [str(c).strip().lower() for c in header]
            for record in reader:
                if not record or (len(record) == 1 and not record[0].strip()):
                    continue  # blank line
                if len(record) > len(columns):
                    raise InputError(
                        f"{path}: malformed CSV at data row {first_row + len(rows)}: {len(record)} fields "
                        f"but the header has {len(columns)} (quote values that contain a comma)")
                rows.append(record)
                if len(rows) >= chunk_rows:
                    if first_row > skip:
                        yield first_row, _csv_frame(rows, columns)
                    first_row += len(rows)
                    rows = []
            if rows and first_row > skip:
                yield first_row, _csv_frame(rows, columns)
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: data row {_undecodable_row(path)} is not UTF-8 text "
                         "(re-export the file as UTF-8)") from exc
    except csv.Error as exc:
        raise InputError(f"{path}: malformed CSV near data row {first_row + len(rows)}: {exc}") from exc


def _undecodable_row(path: Path) -> int | str:
    """The data row holding the first bytes that are not UTF-8, found by a second pass that decodes line by
    line (the streaming pass decodes blocks ahead of the CSV parser, so its position is only approximate).

    Lines are split on CR, LF and CRLF as ``newline=""`` text mode does; blank lines are not data rows.
    """
    def lines() -> Iterator[str]:
        pending = b""
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                parts = (pending + block).splitlines(keepends=True)
                pending = parts.pop() if parts and not parts[-1].endswith(b"\n") else b""
                for part in parts:
                    yield part.decode("utf-8")
            if pending:
                yield pending.decode("utf-8")

    rows = 0
    source = lines()
    try:
        first = next(source, "")
        records = csv.reader(itertools.chain([first.removeprefix("\ufeff")], source))
        next(records, None)  # the header
        for record in records:
            if record and not (len(record) == 1 and not record[0].strip()):
                rows += 1
    except UnicodeDecodeError:
        return rows + 1
    except csv.Error:
        pass
    return "unknown"


_PARQUET_ERRORS = (pa.ArrowException, OSError, ValueError, IndexError)


def _parquet_header(path: Path) -> list[str]:
    try:
        return list(pq.ParquetFile(path).schema_arrow.names)
    except _PARQUET_ERRORS as exc:  # a damaged footer can also fail to decode its column names
        raise InputError(f"{path}: not a readable Parquet file ({_arrow_error_kind(exc)})") from exc


def _as_text(series: pd.Series) -> pd.Series:
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        return series.map(lambda t: None if pd.isna(t) else t.isoformat())
    if pd.api.types.is_datetime64_dtype(series.dtype):  # naive: no offset, rejected by validation
        return series.map(lambda t: None if pd.isna(t) else t.isoformat())
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.map(lambda v: None if pd.isna(v) else str(int(v)))
    if pd.api.types.is_float_dtype(series.dtype):
        return series.map(lambda v: None if pd.isna(v) else (str(int(v)) if float(v).is_integer() and abs(v) < 2**53 else repr(float(v))))
    # object columns: strings, dates, and booleans with nulls (which pandas cannot keep as a bool dtype)
    return series.map(lambda v: None if v is None or (isinstance(v, float) and pd.isna(v))
                      else str(int(v)) if isinstance(v, (bool, np.bool_)) else str(v))


def _parquet_text(column: pa.Array) -> np.ndarray:
    """A Parquet column as text values: a text column as it is (no value-by-value rendering), any other
    through :func:`_as_text`."""
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return column.to_numpy(zero_copy_only=False)
    return _as_text(column.to_pandas()).to_numpy(dtype=object)


def _parquet_chunks(path: Path, chunk_rows: int) -> Iterator[tuple[int, pd.DataFrame]]:
    first_row = 1
    try:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows):
            frame = pd.DataFrame({i: _parquet_text(column) for i, column in enumerate(batch.columns)}, dtype=object)
            frame.columns = [str(c).strip().lower() for c in batch.schema.names]
            yield first_row, frame
            first_row += len(frame)
    except _PARQUET_ERRORS as exc:
        raise InputError(f"{path}: cannot read Parquet data near row {first_row} ({_arrow_error_kind(exc)})") from exc


def _arrow_error_kind(exc: BaseException) -> str:
    """What went wrong reading Parquet, without Arrow's message: it can quote bytes of the file (a
    damaged dictionary page), so only the error's class is named."""
    return f"{type(exc).__name__}; the file is damaged or not Parquet"
