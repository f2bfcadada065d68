"""Request bodies of the ingest endpoints: bounded reading, parsing, and binding rows to the URL's device."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Iterator

import pandas as pd
from fastapi import Request

from monitor.adapters.formats.fhir import FhirBundleLog
from monitor.adapters.formats.ndjson import NdjsonLog
from monitor.adapters.formats.records import RecordsLog, RequestBudget, json_array
from monitor.domain.logs import Rejection
from monitor.entrypoints.api.problems import (
    UnreadableBodyError,
    UnsupportedMediaTypeError,
    problem_response,
)
from monitor.errors import PayloadTooLargeError
from monitor.service.ports import LogSource

__all__ = ["MEDIA_TYPES", "DeviceBoundLog", "RefuseContentCoding", "parse_body", "read_body"]

MEDIA_TYPES = ("application/json", "application/x-ndjson", "application/fhir+json")


class RefuseContentCoding:
    """ASGI middleware: a request whose body has a content coding (``Content-Encoding: gzip``, ``deflate``,
    ``br``, ...) is answered 415 with ``Accept-Encoding: identity`` (RFC 9110, sections 12.5.3 and 15.5.16)
    before its body is read. No request body is ever inflated, so a decompression bomb stays the size it
    was sent at, and the body-size limit counts what would be parsed."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                coding = value.decode("latin-1").strip().lower() if name == b"content-encoding" else ""
                if coding not in ("", "identity"):
                    response = problem_response(
                        415, "Unsupported media type",
                        f"request bodies with Content-Encoding {coding[:40]!r} are not accepted: send the body "
                        "uncompressed (Content-Encoding: identity or none)", headers={"Accept-Encoding": "identity"})
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) one above ``limit`` bytes before reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"the body has {int(declared):,} bytes; the limit is {limit:,} bytes "
                                   "(split it into several requests)")
    parts: list[bytes] = []
    size = 0
    async for part in request.stream():
        size += len(part)
        if size > limit:
            raise PayloadTooLargeError(f"the body exceeds the limit of {limit:,} bytes "
                                       "(split it into several requests)")
        parts.append(part)
    return b"".join(parts)


def media_type(request: Request) -> str:
    """The body's media type without parameters (``application/json`` when absent)."""
    value = request.headers.get("content-type") or "application/json"
    return value.split(";", 1)[0].strip().lower()


_JSON_KINDS = {"{": "an object", '"': "a string", "t": "a boolean", "f": "a boolean", "n": "null"}


def parse_body(body: bytes, media: str, *, kind: str, device_id: str, name: str) -> LogSource:
    """The body as a log source of ``kind`` rows; 400 when its format cannot be read at all, 413 when it holds
    more records or field values than one request may (``records.RequestBudget``).

    A JSON array is read element by element (``records.json_array``), twice, and never held parsed whole:
    the memory of a request grows with one element and one chunk of rows, not with the body's records.
    """
    if not body.strip():
        raise UnreadableBodyError("the body is empty (send at least one record)")
    budget = RequestBudget()
    if media == "application/json":
        try:
            text = body.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise UnreadableBodyError(f"the body is not valid UTF-8 JSON: {exc.reason} at byte {exc.start + 1}") \
                from exc
        start = text.lstrip()[:1]
        if start != "[" and start in _JSON_KINDS or start.isdigit() or start == "-":
            raise UnreadableBodyError("an application/json body must be a JSON array of records (got "
                                      f"{_JSON_KINDS.get(start, 'a number')})")
        try:
            log: LogSource = RecordsLog(lambda: json_array(text), format="json", name=name,
                                        sha256=hashlib.sha256(body).hexdigest(), budget=budget)
        except (json.JSONDecodeError, RecursionError) as exc:
            reason = f"{exc.msg} at line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) \
                else "nested too deeply"
            raise UnreadableBodyError(f"the body is not valid UTF-8 JSON: {reason}") from exc
    elif media == "application/x-ndjson":
        log = NdjsonLog(body, name=name, budget=budget)
    elif media == "application/fhir+json":
        log = FhirBundleLog(body, kind=kind, device_id=device_id, name=name, budget=budget)
    else:
        raise UnsupportedMediaTypeError(f"content type {media!r} is not accepted here (use one of: "
                                        f"{', '.join(MEDIA_TYPES)})")
    return DeviceBoundLog(log, device_id)


class DeviceBoundLog:
    """A log source whose rows all belong to one device: the device of the URL.

    A row without ``device_id`` gets the URL's device; a row naming another device is rejected
    (``device_mismatch``) and never stored, so a device token can only ever write its own device.
    """

    def __init__(self, inner: LogSource, device_id: str) -> None:
        self._inner = inner
        self._device_id = device_id
        self._mismatches: list[Rejection] = []
        self.format = inner.format
        self.sha256 = inner.sha256
        columns = tuple(inner.columns)
        self.columns = columns if "device_id" in columns else columns + ("device_id",)

    def chunks(self, chunk_rows: int = 50_000) -> Iterator[tuple[int, pd.DataFrame]]:
        """The inner chunks with ``device_id`` filled in; runs of consecutive own-device rows."""
        self._mismatches = []  # a second reading must not count the mismatches twice
        for first_row, frame in self._inner.chunks(chunk_rows):
            frame = frame.reindex(columns=list(self.columns))
            ids = frame["device_id"]
            frame["device_id"] = ids.where(ids.notna(), self._device_id)
            foreign = (frame["device_id"] != self._device_id).to_numpy()
            for position in foreign.nonzero()[0]:
                number = first_row + int(position)
                record = frame.iloc[position].get("prediction_id")
                self._mismatches.append(Rejection(
                    number, record if isinstance(record, str) else None, "device_mismatch",
                    f"row {number}: device_id names another device than the one it was posted to", {}))
            start = 0
            for stop in [*foreign.nonzero()[0].tolist(), len(frame)]:
                if stop > start:
                    yield first_row + start, frame.iloc[start:stop].reset_index(drop=True)
                start = stop + 1

    def rejections(self) -> list[Rejection]:
        """Units the format could not read, and rows of another device."""
        inner = self._inner.rejections() if hasattr(self._inner, "rejections") else []
        return [*inner, *self._mismatches]
