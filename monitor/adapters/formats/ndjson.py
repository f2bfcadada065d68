"""NDJSON (JSON Lines) logs: one JSON object per line, read in bounded memory whatever the file size.

Row numbers are line numbers (1-based; blank lines are skipped but counted). A line that is
not UTF-8, not JSON, not a JSON object, longer than :data:`MAX_LINE_BYTES`, or that holds an
object or array as a value, or that brings the file above the shared limit of distinct field
names (:data:`~monitor.adapters.formats.records.MAX_COLUMNS`), is rejected with its line number
and the reason; the other lines are rows. The file is read twice: once for its field names (the
columns) and the rejections, once for the rows.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pandas as pd

from monitor.adapters.formats.records import (
    DEFAULT_CHUNK_ROWS,
    MAX_COLUMNS,
    ColumnUnion,
    RequestBudget,
    frames,
    record_row,
)
from monitor.domain.logs import Rejection

__all__ = ["MAX_COLUMNS", "MAX_LINE_BYTES", "NdjsonLog"]

MAX_LINE_BYTES = 1 << 20


class NdjsonLog:
    """A log source over NDJSON text, from a file path or in-memory bytes (with a ``budget``, every line
    is charged to it while the text is first read)."""

    format = "ndjson"

    def __init__(self, source: Path | bytes, *, name: str | None = None, budget: RequestBudget | None = None) -> None:
        self._source = source
        self.name = name or (str(source) if isinstance(source, Path) else "ndjson")
        digest = hashlib.sha256()
        union = ColumnUnion()
        self._rejections: list[Rejection] = []
        self._rows = 0
        for number, row in self._lines(digest):
            if budget is not None:
                budget.charge(1 if isinstance(row, Rejection) else len(row))
            if not isinstance(row, Rejection):
                record_id = row.get("prediction_id")
                row = union.add(row, number, unit="line", record_id=record_id if isinstance(record_id, str) else None) \
                    or row
            if isinstance(row, Rejection):
                self._rejections.append(row)
                continue
            self._rows += 1
        self.sha256 = digest.hexdigest()
        self.columns: tuple[str, ...] = union.columns
        self._rejected_lines = {r.row_number for r in self._rejections}

    def _open(self) -> BinaryIO:
        return self._source.open("rb") if isinstance(self._source, Path) else io.BytesIO(self._source)

    def _lines(self, digest: Any = None) -> Iterator[tuple[int, dict[str, str | None] | Rejection]]:
        """``(line_number, row or rejection)`` for every non-blank line."""
        with self._open() as handle:
            number = 0
            while True:
                line = handle.readline(MAX_LINE_BYTES + 1)
                if not line:
                    return
                number += 1
                if digest is not None:
                    digest.update(line)
                if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
                    for rest in iter(lambda: handle.readline(MAX_LINE_BYTES), b""):  # skip the rest of the line
                        if digest is not None:
                            digest.update(rest)
                        if rest.endswith(b"\n"):
                            break
                    yield number, Rejection(number, None, "line_too_long",
                                            f"line {number} is longer than {MAX_LINE_BYTES} bytes", {})
                    continue
                yield from _parse(line, number)

    def chunks(self, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[tuple[int, pd.DataFrame]]:
        """Yield ``(first_row, frame_of_text)`` chunks; row numbers are line numbers."""
        rows = ((n, r) for n, r in self._lines()
                if not isinstance(r, Rejection) and n not in self._rejected_lines)
        yield from frames(rows, self.columns, chunk_rows)

    def rejections(self) -> list[Rejection]:
        """Lines that could not become a row."""
        return list(self._rejections)

    def count_rows(self) -> int:
        """Number of lines that are rows."""
        return self._rows


def _parse(line: bytes, number: int) -> Iterator[tuple[int, dict[str, str | None] | Rejection]]:
    if number == 1 and line.startswith(b"\xef\xbb\xbf"):
        line = line[3:]
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        yield number, Rejection(number, None, "invalid_encoding",
                                f"line {number} is not UTF-8 text (byte {exc.start + 1})", {})
        return
    if not text.strip():
        return
    try:
        record = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
        where = f" at column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        yield number, Rejection(number, None, "invalid_json", f"line {number} is not valid JSON: {reason}{where}", {})
        return
    yield number, record_row(record, number, unit="line")

