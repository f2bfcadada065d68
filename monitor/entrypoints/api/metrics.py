"""Prometheus metrics of the service, and the one place that observes every HTTP request.

:class:`ServiceMetrics` keeps its own ``prometheus_client`` registry (one per API, so several APIs in one
process, as in the tests, never share or double-register series). :class:`ObserveRequests`, an ASGI
middleware, measures each request, counts it by route *template* (``/v1/runs/{run_id}``, never the
concrete path: bounded label values, no identifier in a label), writes the access log as fields
(:mod:`monitor.entrypoints.logs`) and gives each request an id (``X-Request-ID``). ``GET /metrics`` is
the text exposition format; it needs a token with the ``metrics:read`` permission (roles ``operations``
and ``admin``; docs/api.md).

Series (counters carry the ``_total`` suffix on the wire):

=============================================  ===========================  ========================================
``samd_monitor_http_requests_total``           method, route, status        requests answered
``samd_monitor_http_request_duration_seconds``  method, route                latency histogram (to the last byte)
``samd_monitor_ingested_rows_total``           kind, outcome, source        rows accepted / duplicate / rejected
``samd_monitor_job_runs_total``                job, outcome                 scheduler job runs (succeeded, failed,
                                                                            skipped)
``samd_monitor_build_info``                    version                      always 1
=============================================  ===========================  ========================================

and prometheus_client's standard ``process_*`` (CPU, memory, open files; Linux) and ``python_info`` series.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping
from typing import Any, Callable

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from monitor import __version__
from monitor.domain.roles import Permission
from monitor.entrypoints.api.problems import problem_responses
from monitor.entrypoints.api.security import Authenticator
from monitor.entrypoints.logs import request_context
from monitor.service.access import Principal
from monitor.service.jobs import JobOutcome, add_job_listener

__all__ = ["REQUEST_ID_HEADER", "ObserveRequests", "ServiceMetrics", "metrics_router"]

REQUEST_ID_HEADER = "X-Request-ID"
#: The route label of a request that matched no route (a 404 or 405 of the router): one value, so that
#: scanning arbitrary paths cannot grow the number of series.
UNMATCHED = "<unmatched>"
#: Latency buckets (seconds): from a cached read (a few ms) to a large ingest or an analysis (minutes).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
ROW_OUTCOMES = (("accepted", "accepted"), ("duplicates", "duplicate"), ("rejected", "rejected"))
access_log = logging.getLogger("monitor.access")


class ServiceMetrics:
    """The service's Prometheus series, in a registry of their own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.requests = Counter("samd_monitor_http_requests", "HTTP requests answered, by method, route template "
                                "and status code.", ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("samd_monitor_http_request_duration_seconds", "Time to answer an HTTP request "
                                 "(until its last byte is sent), by method and route template.", ["method", "route"],
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.ingested_rows = Counter("samd_monitor_ingested_rows", "Rows of ingested batches by what became of them "
                                     "(accepted, duplicate, rejected), record kind (predictions, ground_truth) and "
                                     "source (api, drop_folder).", ["kind", "outcome", "source"],
                                     registry=self.registry)
        self.job_runs = Counter("samd_monitor_job_runs", "Runs of scheduled jobs in this process by job and outcome "
                                "(succeeded, failed, skipped).", ["job", "outcome"], registry=self.registry)
        Info("samd_monitor_build", "The running samd-monitor version.", registry=self.registry).info(
            {"version": __version__})
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        for kind in ("predictions", "ground_truth"):  # present (at 0) before the first batch, for rate()
            for source in ("api", "drop_folder"):
                for _, outcome in ROW_OUTCOMES:
                    self.ingested_rows.labels(kind, outcome, source)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def observe_batch(self, batch: Mapping[str, Any], *, kind: str, source: str) -> None:
        """Count the rows of one ingested batch (a batch summary, or a drop-folder file's counts)."""
        for field, outcome in ROW_OUTCOMES:
            count = batch.get(field) or 0
            if isinstance(count, int) and count > 0:
                self.ingested_rows.labels(kind, outcome, source).inc(count)

    def observe_job(self, name: str, outcome: JobOutcome) -> None:
        """Count one job run; a drop-folder scan also counts the rows of the files it ingested."""
        self.job_runs.labels(name, outcome.outcome).inc()
        if name == "drop-folder":
            for result in outcome.details.get("files") or []:
                if isinstance(result, Mapping) and result.get("outcome") == "done":
                    self.observe_batch(result, kind=str(result.get("kind")), source="drop_folder")

    def watch_jobs(self) -> Callable[[], None]:
        """Count every job run of this process from now on; returns the function that stops it."""
        return add_job_listener(self.observe_job)

    def exposition(self) -> bytes:
        """The registry in Prometheus' text format."""
        return generate_latest(self.registry)


def _route(scope: Scope) -> str:
    """The template of the route that answered (``/v1/runs/{run_id}``; ``/static/{path}`` for a file of a
    mounted application), or :data:`UNMATCHED`."""
    path = getattr(scope.get("route"), "path", None)
    if isinstance(path, str) and path:
        return path
    mounted, parent = str(scope.get("root_path", "")), str(scope.get("app_root_path", ""))
    if "endpoint" in scope and mounted.startswith(parent) and len(mounted) > len(parent):  # a Mount matched
        return mounted[len(parent):] + "/{path}"
    return UNMATCHED


class ObserveRequests:
    """ASGI middleware: request id, access log record (fields, no free text) and metrics of every request.

    The request id is generated here (a client's own ``X-Request-ID`` is not trusted into the log: it could
    carry anything) and returned in the ``X-Request-ID`` header; every log record written while the request is
    handled carries it (:func:`monitor.entrypoints.logs.request_context`).
    """

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500  # what the server answers when the application raises before it starts a response

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                MutableHeaders(scope=message).append(REQUEST_ID_HEADER, request_id)
            await send(message)

        with request_context(request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                seconds = time.perf_counter() - started
                route = _route(scope)
                method = str(scope.get("method", ""))
                self.metrics.observe_request(method, route, status, seconds)
                state = scope.get("state") or {}
                client = scope.get("client")
                access_log.info("request", extra={
                    "event": "request", "method": method, "route": route, "status": status,
                    "duration_ms": round(seconds * 1000, 3), "token_id": state.get("token_id"),
                    "client": client[0] if client else None,
                })


def metrics_router(auth: Authenticator, metrics: ServiceMetrics) -> APIRouter:
    """``GET /metrics`` (permission ``metrics:read``: roles operations and admin)."""
    router = APIRouter(tags=["operations"])

    @router.get("/metrics", response_class=Response, summary="Prometheus metrics",
                responses={200: {"description": "The Prometheus text exposition format.",
                                 "content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}}},
                           **problem_responses(401, 403, 429)})
    def get_metrics(_: Principal = Depends(auth.require(Permission.READ_METRICS))) -> Response:
        """Request counts and latencies by route, ingested rows and scheduler job runs of this process
        (Prometheus text format; scrape with a token of role operations)."""
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return router
