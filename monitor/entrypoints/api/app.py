"""The HTTP API application factory (FastAPI)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from monitor import __version__
from monitor.adapters.db.engine import check_schema
from monitor.entrypoints.api.actions import actions_router
from monitor.entrypoints.api.bodies import RefuseContentCoding
from monitor.entrypoints.api.docs_pages import install_docs
from monitor.entrypoints.api.ingest import ingest_router
from monitor.entrypoints.api.metrics import ObserveRequests, ServiceMetrics, metrics_router
from monitor.entrypoints.api.models import Health, Ready
from monitor.entrypoints.api.problems import install_problem_handlers
from monitor.entrypoints.api.read import read_router
from monitor.entrypoints.api.security import Authenticator, AuthFailureLimiter
from monitor.entrypoints.api.tickets import tickets_router
from monitor.entrypoints.api.worklist import worklist_router
from monitor.entrypoints.bootstrap import App
from monitor.entrypoints.logs import stamp_request_ids
from monitor.errors import MonitorError

__all__ = ["DEFAULT_MAX_BODY_BYTES", "create_api", "operation_id"]

#: The default of ``MONITOR_API_MAX_BODY_BYTES`` (``Settings.api_max_body_bytes``).
DEFAULT_MAX_BODY_BYTES = 50 * 2**20
_DESCRIPTION = """Ingest prediction and ground-truth logs of AI medical devices and read what samd-monitor
found. Every call except `/health` and `/ready` needs `Authorization: Bearer <token>` (a token from
`samd-monitor token create`), and so does this document. Errors are `application/problem+json` documents
(RFC 9457). See docs/api.md."""


def operation_id(route: APIRoute) -> str:
    """The OpenAPI ``operationId`` of a route: its function's name (``list_devices``, ``post_predictions``),
    stable across FastAPI versions and readable in generated clients; tests/e2e/test_api_docs_access.py
    checks that they are unique."""
    return route.name


def create_api(app: App, *, max_body_bytes: int | None = None, limiter: AuthFailureLimiter | None = None,
               metrics: ServiceMetrics | None = None) -> FastAPI:
    """The API over the wired application ``app``.

    ``api.state.metrics`` is the :class:`ServiceMetrics` served at ``/metrics`` (``metrics`` or a new one;
    ``samd-monitor serve`` also counts its scheduler's job runs there).
    ``api.state.scheduler_status`` (set by ``samd-monitor serve`` when it runs the scheduler) is a
    callable giving ``None`` while the scheduler runs, else why not; ``/ready`` then answers 503.
    Without it (``serve --no-scheduler``, tests) ``/ready`` checks the database only.
    """
    # /openapi.json, /docs and /redoc are routes of install_docs (a token for the document, assets served here)
    api = FastAPI(title="samd-monitor API", version=__version__, description=_DESCRIPTION,
                  openapi_url=None, docs_url=None, redoc_url=None, generate_unique_id_function=operation_id)
    api.state.metrics = metrics = metrics or ServiceMetrics()
    stamp_request_ids()
    api.add_middleware(RefuseContentCoding)
    api.add_middleware(ObserveRequests, metrics=metrics)  # outermost of ours: sees every answer, 415 included
    auth = Authenticator(app, limiter or AuthFailureLimiter())
    install_problem_handlers(api)  # failed authentications are counted by ``auth`` itself
    api.include_router(ingest_router(app, auth, max_body_bytes or app.settings.api_max_body_bytes, metrics))
    api.include_router(read_router(app, auth))
    api.include_router(tickets_router(app, auth))
    api.include_router(worklist_router(app, auth))
    api.include_router(actions_router(app, auth))
    api.include_router(metrics_router(auth, metrics))
    install_docs(api, auth)

    @api.get("/health", response_model=Health, tags=["operations"])
    def health() -> dict[str, str]:
        """The process is alive (no database access)."""
        return {"status": "alive"}

    @api.get("/ready", response_model=Ready, tags=["operations"],
             responses={503: {"model": Ready, "description": "The database is unreachable or not at the schema "
                                                             "head, or this process's scheduler is not running."}})
    def ready(request: Request) -> Any:
        """The database is reachable, its schema is at the head migration and, when this process runs the
        scheduler, the scheduler is running."""
        status: Callable[[], str | None] | None = getattr(request.app.state, "scheduler_status", None)
        problem = status() if status is not None else None
        scheduler = None if status is None else problem or "running"
        running = None if status is None else problem is None
        try:
            check_schema(app.engine)
            database = "ok"
        except MonitorError as exc:
            database = str(exc)
        if database != "ok" or problem is not None:
            body = Ready(status="unavailable", database=database, scheduler=scheduler, scheduler_running=running)
            return JSONResponse(body.model_dump(), status_code=503)
        return Ready(status="ready", database=database, scheduler=scheduler, scheduler_running=running)

    return api
