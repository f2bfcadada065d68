"""JSON records (a JSON array body, or records already parsed) as a log source of text values,
and the limits every record-shaped reader (JSON array, NDJSON, FHIR) shares.

Values become text the way a CSV file carries them: strings as they are, integers in
decimal, floats in their shortest round-trip form (``1.0`` as ``1``), booleans as ``1`` /
``0``, ``null`` as missing. A record that is not an object, or that holds an object or an
array as a value, is rejected with its 1-based position and the reason; it never stops the
file.

Limits (one definition, used by every record-shaped reader; docs/reliability.md):

* :data:`MAX_FIELDS` fields in one record and :data:`MAX_COLUMNS` distinct field names in one
  source (file or request body, FHIR-derived columns included). A record that would bring the
  source above :data:`MAX_COLUMNS` is rejected with its number (``too_many_fields``); the
  others are read.
* Frames handed to the service hold at most :data:`MAX_CHUNK_CELLS` cells (rows x columns), so
  the work per chunk never grows with the product of a body's records and its field names.
* One HTTP request (:class:`RequestBudget`) holds at most :data:`REQUEST_MAX_RECORDS` records
  and :data:`REQUEST_MAX_CELLS` cells (the sum of the records' field counts); past either the
  whole request is refused (413, ``PayloadTooLargeError``) and nothing is stored.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from json.decoder import WHITESPACE  # type: ignore[attr-defined]
from typing import Any

import pandas as pd

from monitor.domain.logs import Rejection
from monitor.errors import PayloadTooLargeError

__all__ = ["DEFAULT_CHUNK_ROWS", "MAX_CHUNK_CELLS", "MAX_COLUMNS", "MAX_FIELDS", "REQUEST_MAX_CELLS",
           "REQUEST_MAX_RECORDS", "ColumnUnion", "RecordsLog", "RequestBudget", "frames", "json_array",
           "json_value_bound", "record_row", "text_value"]

DEFAULT_CHUNK_ROWS = 50_000
MAX_FIELDS = 256
MAX_COLUMNS = 1024
MAX_CHUNK_CELLS = 1_000_000
REQUEST_MAX_RECORDS = 100_000
REQUEST_MAX_CELLS = 2_000_000


class ColumnUnion:
    """The distinct field names of one source in order of first appearance, at most :data:`MAX_COLUMNS`
    (``base`` columns, such as a FHIR mapping's own, count too)."""

    def __init__(self, base: Iterable[str] = ()) -> None:
        self._seen: dict[str, None] = dict.fromkeys(base)

    def add(self, row: Mapping[str, Any], number: int, *, unit: str = "record",
            record_id: str | None = None) -> Rejection | None:
        """Take ``row``'s names into the union, or its rejection when they would bring it above the limit."""
        new = [c for c in row if c not in self._seen]
        if new and len(self._seen) + len(new) > MAX_COLUMNS:
            return Rejection(number, record_id, "too_many_fields",
                             f"{unit} {number} brings the number of distinct field names above {MAX_COLUMNS} "
                             "(the limit per file or request)", {})
        self._seen.update(dict.fromkeys(new))
        return None

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self._seen)


class RequestBudget:
    """Records and cells of one HTTP request body, refused (``PayloadTooLargeError``, 413) past
    :data:`REQUEST_MAX_RECORDS` records or :data:`REQUEST_MAX_CELLS` cells; the message names the limit only."""

    def __init__(self, max_records: int = REQUEST_MAX_RECORDS, max_cells: int = REQUEST_MAX_CELLS) -> None:
        self.max_records = max_records
        self.max_cells = max_cells
        self.records = 0
        self.cells = 0

    def admit_document(self, data: bytes) -> None:
        """Refuse, before parsing, a JSON document that could build more than :data:`REQUEST_MAX_CELLS`
        values (for formats parsed whole, such as a FHIR Bundle whose references need the whole document):
        parsing ``{}`` or ``0.1`` costs some 30 times its bytes, before any record is counted."""
        if json_value_bound(data) > self.max_cells:
            raise PayloadTooLargeError(f"the body may hold more than {self.max_cells:,} JSON values, the limit per "
                                       "request (split it into several requests)")

    def charge(self, fields: int, records: int = 1) -> None:
        """Count ``records`` more records holding ``fields`` cells in all."""
        self.records += records
        self.cells += fields
        if self.records > self.max_records:
            raise PayloadTooLargeError(f"the body holds more than {self.max_records:,} records, the limit per "
                                       "request (split it into several requests)")
        if self.cells > self.max_cells:
            raise PayloadTooLargeError(f"the body holds more than {self.max_cells:,} field values, the limit per "
                                       "request (split it into several requests)")


def json_value_bound(data: bytes) -> int:
    """At most how many values and member names a JSON text builds (RFC 8259): each one is the whole text or
    follows a ``[``, ``{``, ``,`` or ``:``, so one more than their count bounds them (those bytes inside
    strings only raise the bound). Counted in C over the bytes, without parsing."""
    return 1 + sum(data.count(token) for token in (b"[", b"{", b",", b":"))


def json_array(text: str) -> Iterator[Any]:
    """The elements of a JSON array document one at a time (RFC 8259), so that a whole array is never held
    parsed; ``json.JSONDecodeError`` where the text is not one JSON array, ``RecursionError`` when nested too deep."""
    decoder = json.JSONDecoder()
    at = WHITESPACE.match(text, 0).end()
    if not text.startswith("[", at):
        raise json.JSONDecodeError("Expecting a JSON array", text, at)
    at = WHITESPACE.match(text, at + 1).end()
    if text.startswith("]", at):
        at += 1
    else:
        while True:
            element, at = decoder.raw_decode(text, at)
            yield element
            at = WHITESPACE.match(text, at).end()
            if text.startswith("]", at):
                at += 1
                break
            if not text.startswith(",", at):
                raise json.JSONDecodeError("Expecting ',' delimiter", text, at)
            at = WHITESPACE.match(text, at + 1).end()
    if WHITESPACE.match(text, at).end() != len(text):
        raise json.JSONDecodeError("Extra data", text, at)


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
    # Reasons name a field by its position, never by its name: keys are caller-chosen text.
    for position, (key, value) in enumerate(record.items(), start=1):
        name = str(key).strip().lower()
        if name in row:
            return Rejection(number, record_id, "duplicate_field",
                             f"{unit} {number}: field {position} repeats an earlier field's name "
                             "(names are case-insensitive)", {})
        try:
            row[name] = text_value(value)
        except _NotText as exc:
            return Rejection(number, record_id, "invalid_value", f"{unit} {number}: field {position} {exc}", {})
    if len(row) > MAX_FIELDS:
        return Rejection(number, record_id, "too_many_fields",
                         f"{unit} {number} has {len(row)} fields (at most {MAX_FIELDS})", {})
    return row


def frames(rows: Iterable[tuple[int, Mapping[str, str | None]]], columns: Sequence[str],
           chunk_rows: int) -> Iterator[tuple[int, pd.DataFrame]]:
    """Group numbered rows into ``(first_row, frame)`` chunks of consecutive numbers (a gap starts a chunk),
    each of at most ``chunk_rows`` rows and :data:`MAX_CHUNK_CELLS` cells (rows x columns)."""
    chunk_rows = max(1, min(chunk_rows, MAX_CHUNK_CELLS // max(1, len(columns))))
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
    """A log source over JSON records: a sequence of parsed records, or a function giving a fresh iterator over
    them (such as :func:`json_array` over a request body), which is read twice and never held whole.

    ``columns`` are the field names of the accepted records in order of first appearance. With a
    ``budget`` every record is charged to it while the records are first read.
    """

    def __init__(self, records: Sequence[Any] | Callable[[], Iterable[Any]], *, format: str, name: str,
                 sha256: str, budget: RequestBudget | None = None) -> None:
        self.format = format
        self.name = name
        self.sha256 = sha256
        self._records: Callable[[], Iterable[Any]] = records if callable(records) else lambda: records
        self._rejections: list[Rejection] = []
        self._rows = 0
        union = ColumnUnion()
        for number, record in enumerate(self._records(), start=1):
            row = record_row(record, number)
            if budget is not None:
                budget.charge(1 if isinstance(row, Rejection) else len(row))
            if not isinstance(row, Rejection):
                row = union.add(row, number, record_id=_record_id(record)) or row
            if isinstance(row, Rejection):
                self._rejections.append(row)
            else:
                self._rows += 1
        self.columns: tuple[str, ...] = union.columns
        self._rejected = {r.row_number for r in self._rejections}

    def _numbered_rows(self) -> Iterator[tuple[int, dict[str, str | None]]]:
        for number, record in enumerate(self._records(), start=1):
            if number not in self._rejected:
                row = record_row(record, number)
                if not isinstance(row, Rejection):
                    yield number, row

    def chunks(self, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[tuple[int, pd.DataFrame]]:
        """Yield ``(first_row, frame_of_text)`` chunks; row numbers are the records' 1-based positions."""
        yield from frames(self._numbered_rows(), self.columns, chunk_rows)

    def rejections(self) -> list[Rejection]:
        """Records that could not become a row."""
        return list(self._rejections)

    def count_rows(self) -> int:
        """Number of records that became rows."""
        return self._rows


def _record_id(record: Any) -> str | None:
    value = record.get("prediction_id") if isinstance(record, Mapping) else None
    return value if isinstance(value, str) else None
