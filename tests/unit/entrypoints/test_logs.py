"""The service's log lines: one JSON object per record, one field per item, the request id on every record
written while a request is handled (worker threads included), never on others."""

from __future__ import annotations

import io
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context

import pytest

from monitor.entrypoints.logs import JsonFormatter, request_context, stamp_request_ids


@pytest.fixture
def lines():  # type: ignore[no-untyped-def]
    factory = logging.getLogRecordFactory()
    stamp_request_ids()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("monitor.test-logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield logger, lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)
    logging.setLogRecordFactory(factory)


def test_items_are_fields_and_request_ids_follow_the_request(lines) -> None:  # type: ignore[no-untyped-def]
    logger, read = lines
    logger.info("before")
    with request_context("abc123"):
        logger.info("request", extra={"method": "GET", "route": "/v1/runs/{run_id}", "status": 200,
                                      "duration_ms": 1.5})
        context = copy_context()  # what Starlette's thread pool does for a sync route
        with ThreadPoolExecutor(1) as pool:
            pool.submit(context.run, logger.warning, "in a worker").result()
    logger.info("after")
    before, request, worker, after = read()
    assert "request_id" not in before and "request_id" not in after
    assert request == {"time": request["time"], "level": "info", "logger": "monitor.test-logs",
                       "message": "request", "request_id": "abc123", "method": "GET",
                       "route": "/v1/runs/{run_id}", "status": 200, "duration_ms": 1.5}
    assert request["time"].endswith("Z")
    assert worker["request_id"] == "abc123" and worker["level"] == "warning"


def test_stamping_is_installed_once() -> None:
    factory = logging.getLogRecordFactory()
    try:
        stamp_request_ids()
        once = logging.getLogRecordFactory()
        stamp_request_ids()
        assert logging.getLogRecordFactory() is once
    finally:
        logging.setLogRecordFactory(factory)
