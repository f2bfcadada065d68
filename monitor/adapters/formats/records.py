"""JSON records (a JSON array or NDJSON body, already parsed) as a log source of text values.

Values become text the way a CSV file carries them: strings as they are, integers in
decimal, floats in their shortest round-trip form (``1.0`` as ``1``), booleans as ``1`` /
``0``, ``null`` as missing. A record that is not an object, or that holds an object or an
array as a value, is rejected with its 1-based position and the reason; it never stops the
file.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import pandas as pd

from monitor.domain.logs import Rejection

__all__ = ["DEFAULT_CHUNK_ROWS", "RecordsLog", "frames", "record_row", "text_value"]

DEFAULT_CHUNK_ROWS = 50_000
MAX_FIELDS = 256


class _NotText(ValueError):
    """A value that has no text form in a log row."""


def text_value(value: Any) -> str | None:
    """The CSV-like text of one JSON value; ``_NotText`` for an object, an array or a NUL character."""
    if type(value) is str and "\x00" not in value:  # the common case first
        return value
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 2**53:
            return str(int(value))
        return repr(value)
    if isinstance(value, str):
        if "\x00" in value:
            raise _NotText("contains a NUL character")
        return value
    kind = "an object" if isinstance(value, Mapping) else "an array" if isinstance(value, (list, tuple)) else \
        type(value).__name__
    raise _NotText(f"holds {kind}; a log value must be text, a number, a boolean or null")


def record_row(record: Any, number: int, *, unit: str = "record") -> dict[str, str | None] | Rejection:
    """One JSON record as a row of text values keyed by normalised column name, or its rejection."""
    if not isinstance(record, Mapping):
        kind = "an array" if isinstance(record, (list, tuple)) else "null" if record is None else \
            type(record).__name__
        return Rejection(number, None, "not_an_object", f"{unit} {number} is {kind}, not a JSON object", {})
    row: dict[str, str | None] = {}
    record_id = record.get("prediction_id")
    record_id = record_id if isinstance(record_id, str) else None
    for key, value in record.items():
        name = str(key).strip().lower()
        if name in row:
            return Rejection(number, record_id, "duplicate_field",
                             f"{unit} {number} names the field {name!r} twice (names are case-insensitive)", {})
        try:
            row[name] = text_value(value)
        except _NotText as exc:
            return Rejection(number, record_id, "invalid_value", f"{unit} {number}: field {name!r} {exc}", {})
    if len(row) > MAX_FIELDS:
        return Rejection(number, record_id, "too_many_fields",
                         f"{unit} {number} has {len(row)} fields (at most {MAX_FIELDS})", {})
    return row


def frames(rows: Iterable[tuple[int, Mapping[str, str | None]]], columns: Sequence[str],
           chunk_rows: int) -> Iterator[tuple[int, pd.DataFrame]]:
    """Group numbered rows into ``(first_row, frame)`` chunks of consecutive numbers (a gap starts a chunk)."""
    pending: list[Mapping[str, str | None]] = []
    first = next_number = 0
    for number, row in rows:
        if pending and (number != next_number or len(pending) >= chunk_rows):
            yield first, _frame(pending, columns)
            pending = []
        if not pending:
            first = number
        pending.append(row)
        next_number = number + 1
    if pending:
        yield first, _frame(pending, columns)


def _frame(rows: list[Mapping[str, str | None]], columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame({c: [r.get(c) for r in rows] for c in columns}, index=pd.RangeIndex(len(rows)),
                        columns=list(columns), dtype=object)


class RecordsLog:
    """A log source over in-memory JSON records (e.g. the parsed body of an HTTP request).

    ``columns`` are the field names of the accepted records in order of first appearance.
    """

    def __init__(self, records: Sequence[Mapping[str, Any]], *, format: str, name: str, sha256: str) -> None:
        self.format = format
        self.name = name
        self.sha256 = sha256
        self._rows: list[tuple[int, dict[str, str | None]]] = []
        self._rejections: list[Rejection] = []
        seen: dict[str, None] = {}
        for number, record in enumerate(records, start=1):
            row = record_row(record, number)
            if isinstance(row, Rejection):
                self._rejections.append(row)
            else:
                self._rows.append((number, row))
                seen.update(dict.fromkeys(row))
        self.columns: tuple[str, ...] = tuple(seen)

    def chunks(self, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[tuple[int, pd.DataFrame]]:
        """Yield ``(first_row, frame_of_text)`` chunks; row numbers are the records' 1-based positions."""
        yield from frames(iter(self._rows), self.columns, chunk_rows)

    def rejections(self) -> list[Rejection]:
        """Records that could not become a row."""
        return list(self._rejections)

    def count_rows(self) -> int:
        """Number of records that became rows."""
        return len(self._rows)
