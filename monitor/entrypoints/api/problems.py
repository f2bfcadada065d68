"""Errors as RFC 9457 problem documents (``application/problem+json``), mapped to statuses in one place."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from monitor.adapters.db.engine import storage_condition
from monitor.errors import (
    AuthenticationError,
    ConfigError,
    ConflictError,
    InputError,
    IntegrityError,
    MonitorError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    ReportError,
    SchemaOutOfDateError,
    StorageError,
)

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "Problem",
    "RateLimitedError",
    "UnreadableBodyError",
    "UnsupportedMediaTypeError",
    "install_problem_handlers",
    "problem_responses",
    "status_for",
]

PROBLEM_MEDIA_TYPE = "application/problem+json"
#: ``Retry-After`` (seconds) of a 503 for a database that is unreachable, full or read-only (RFC 9110 §10.2.3).
STORAGE_RETRY_AFTER = 30
log = logging.getLogger("monitor.api")


class UnreadableBodyError(InputError):
    """A request body that its declared format cannot parse (not JSON, not an array, ...)."""


class UnsupportedMediaTypeError(InputError):
    """A request body of a media type the endpoint does not take."""


class RateLimitedError(MonitorError):
    """Too many failed authentications from one client address or for one token id."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


#: The one mapping of errors to HTTP statuses, most specific first.
STATUS_BY_ERROR: tuple[tuple[type[BaseException], int, str], ...] = (
    (PayloadTooLargeError, 413, "Payload too large"),
    (UnreadableBodyError, 400, "Unreadable request body"),
    (UnsupportedMediaTypeError, 415, "Unsupported media type"),
    (InputError, 422, "Unprocessable input"),
    (NotFoundError, 404, "Not found"),
    (ConflictError, 409, "Conflict"),
    (AuthenticationError, 401, "Authentication required"),
    (PermissionDeniedError, 403, "Forbidden"),
    (RateLimitedError, 429, "Too many failed authentications"),
    (SchemaOutOfDateError, 503, "Database schema out of date"),
    (StorageError, 503, "Database unavailable"),
    (IntegrityError, 500, "Stored evidence failed verification"),
    (ReportError, 500, "Report error"),
    (ConfigError, 500, "Server configuration error"),
    (MonitorError, 500, "Server error"),
)


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str = Field("about:blank", description="A URI naming the kind of problem.")
    title: str = Field(..., description="Short summary of the kind of problem.")
    status: int = Field(..., description="The HTTP status code.")
    detail: str = Field(..., description="What went wrong with this request.")
    errors: list[dict[str, Any]] | None = Field(None, description="Per-field errors of an invalid request.")


def status_for(exc: BaseException) -> tuple[int, str]:
    """``(status, title)`` of an error."""
    for kind, status, title in STATUS_BY_ERROR:
        if isinstance(exc, kind):
            return status, title
    return 500, "Server error"


def _slug(title: str) -> str:
    return "urn:samd-monitor:problem:" + title.lower().replace(" ", "-")


def problem_response(status: int, title: str, detail: str, *, headers: dict[str, str] | None = None,
                     errors: list[dict[str, Any]] | None = None) -> JSONResponse:
    """A problem document response."""
    body = Problem(type=_slug(title), title=title, status=status, detail=detail, errors=errors)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, headers=headers,
                        media_type=PROBLEM_MEDIA_TYPE)


def _problem_content() -> dict[str, Any]:
    return {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}


_DESCRIPTIONS = {
    400: "The body cannot be parsed in its declared format.",
    401: "No token, or a malformed, unknown, wrong, expired or revoked one.",
    403: "The token's role or device does not allow this.",
    404: "No such resource.",
    409: "The state does not allow this change.",
    413: "The body exceeds the size limit.",
    415: "The body's media type is not accepted here.",
    422: "A parameter or the content is invalid.",
    429: "Too many failed authentications from this address or for this token; see Retry-After.",
    500: "Stored evidence failed verification, or an unexpected server error.",
    503: "The database is unreachable, full or read-only (see Retry-After), or its schema is out of date.",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for problem documents of the given statuses."""
    return {status: {"model": Problem, "description": _DESCRIPTIONS[status], "content": _problem_content()}
            for status in statuses}


def _route(request: Request) -> str:
    route = request.scope.get("route")
    return getattr(route, "path", request.url.path)


def log_denial(request: Request, status: int, reason: str) -> None:
    """One structured log record per denied call: route, reason and token id (never a secret); the
    service's JSON formatter (:mod:`monitor.entrypoints.logs`) writes its fields as one JSON line."""
    log.warning("request denied", extra={
        "event": "request_denied", "status": status, "method": request.method, "route": _route(request),
        "reason": reason, "token_id": getattr(request.state, "token_id", None),
        "client": request.client.host if request.client else None,
    })


def install_problem_handlers(api: FastAPI) -> None:
    """Answer every error with a problem document; log every 401/403/429 (failed authentications are
    counted where they happen, :class:`monitor.entrypoints.api.security.Authenticator`). A database that
    is unreachable, full or read-only, and a full or read-only file system met anywhere else, is 503 with
    ``Retry-After``."""

    @api.exception_handler(MonitorError)
    async def monitor_error(request: Request, exc: MonitorError) -> JSONResponse:
        status, title = status_for(exc)
        headers: dict[str, str] = {}
        if status == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="samd-monitor"'
        if isinstance(exc, RateLimitedError):
            headers["Retry-After"] = str(exc.retry_after)
        if isinstance(exc, StorageError) and not isinstance(exc, SchemaOutOfDateError):
            headers["Retry-After"] = str(STORAGE_RETRY_AFTER)
        if status in (401, 403, 429):
            log_denial(request, status, str(exc))
        if status >= 500:
            log.error("request failed", extra={"event": "request_failed", "status": status,
                                                "route": _route(request), "error": type(exc).__name__})
        return problem_response(status, title, str(exc), headers=headers or None)

    @api.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))} for e in exc.errors()]
        detail = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors) or "invalid request"
        return problem_response(422, "Unprocessable input", detail, errors=errors)

    @api.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        titles = {404: "Not found", 405: "Method not allowed"}
        return problem_response(exc.status_code, titles.get(exc.status_code, "HTTP error"), str(exc.detail),
                                headers=getattr(exc, "headers", None))

    @api.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        condition = storage_condition(exc) if isinstance(exc, OSError) else None
        if condition is not None:  # a full or read-only file system met outside the unit of work (a spool file)
            log.error("request failed", extra={"event": "request_failed", "status": 503, "route": _route(request),
                                                "error": type(exc).__name__})
            return problem_response(503, "Storage unavailable", f"the server's storage is {condition}; retry later",
                                    headers={"Retry-After": str(STORAGE_RETRY_AFTER)})
        log.error("request failed", exc_info=exc, extra={"event": "request_failed", "status": 500,
                                                          "route": _route(request), "error": type(exc).__name__})
        return problem_response(500, "Server error", "an unexpected error occurred; see the server log")
