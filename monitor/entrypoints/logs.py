"""Logging of the running service, configured in this one place: one JSON object per line on stderr.

Fields: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, any ``extra={...}`` fields of
the call, ``request_id`` for every record written while an HTTP request is handled
(:func:`request_context`), and ``exception`` (the stack) when one is logged. uvicorn and APScheduler log
through the same handler. Each HTTP request gives one access record on the ``monitor.access`` logger
whose items are fields, not text: ``event`` ("request"), ``method``, ``route`` (the route template, never
the concrete path or query string), ``status``, ``duration_ms``, ``request_id``, ``token_id`` (the public
id, never the secret) and ``client``. Nothing here logs patient identifiers or secrets: callers pass ids
and counts only.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timezone

__all__ = ["JsonFormatter", "configure_logging", "request_context", "stamp_request_ids"]

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message", "taskName"}
_request_id: ContextVar[str | None] = ContextVar("monitor_request_id", default=None)


@contextmanager
def request_context(request_id: str) -> Iterator[None]:
    """Records written inside (also from worker threads started inside: they copy the context) carry
    ``request_id``."""
    token = _request_id.set(request_id)
    try:
        yield
    finally:
        _request_id.reset(token)


class JsonFormatter(logging.Formatter):
    """Format a record as one line of JSON."""

    def format(self, record: logging.LogRecord) -> str:
        document = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat().replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or _request_id.get()
        if request_id is not None:
            document["request_id"] = request_id
        document.update({k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")})
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, default=str, ensure_ascii=False)


def stamp_request_ids() -> None:
    """Give each record the request id of the context it is created in (whatever thread formats it)."""
    make = logging.getLogRecordFactory()
    if getattr(make, "stamps_request_ids", False):
        return

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = make(*args, **kwargs)
        request_id = _request_id.get()
        if request_id is not None and not hasattr(record, "request_id"):
            record.request_id = request_id
        return record

    factory.stamps_request_ids = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


def configure_logging(level: str = "info") -> None:
    """Send every logger's records, as JSON lines, to standard error at ``level`` and above.

    uvicorn's own access log is not used (``samd-monitor serve`` turns it off): the API writes one access
    record per request with fields (:class:`monitor.entrypoints.api.metrics.ObserveRequests`).
    """
    stamp_request_ids()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "apscheduler"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
