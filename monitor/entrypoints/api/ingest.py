"""``POST /v1/devices/{device_id}/predictions`` and ``/ground-truth``: log records over HTTP."""

from __future__ import annotations

from typing import Any, Callable

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool

from monitor.domain.roles import Permission
from monitor.entrypoints.api.bodies import media_type, parse_body, read_body
from monitor.entrypoints.api.metrics import ServiceMetrics
from monitor.entrypoints.api.models import BatchSummary
from monitor.entrypoints.api.problems import problem_responses
from monitor.entrypoints.api.security import Authenticator
from monitor.entrypoints.bootstrap import App
from monitor.service.access import Principal
from monitor.service.ingest import ingest_ground_truth, ingest_predictions
from monitor.service.queries import require_device

__all__ = ["ingest_router"]

_EXAMPLE = [{"prediction_id": "p-0001", "model_version": "2.1.0", "site_id": "site-a",
             "predicted_at": "2026-01-15T09:30:00Z", "score": 0.87, "predicted_label": 1, "patient_id": "MRN-123",
             "age": 61, "sex": "F"}]


def _request_body(kind: str) -> dict[str, Any]:
    record = {"type": "object", "additionalProperties": True,
              "description": f"One {kind} record (schemas/{'prediction' if kind == 'predictions' else kind}_log."
                             "schema.json); device_id may be left out (the URL's device)."}
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"type": "array", "items": record}, "example": _EXAMPLE},
        "application/x-ndjson": {"schema": {"type": "string", "description": "One JSON record per line."}},
        "application/fhir+json": {"schema": {"type": "object", "description": "A FHIR R4 Bundle "
                                             "(docs/fhir-mapping.md)."}},
    }}}


def ingest_router(app: App, auth: Authenticator, max_body_bytes: int, metrics: ServiceMetrics | None = None
                  ) -> APIRouter:
    """The ingest endpoints; each posted body is one batch, stored in one transaction (its rows counted in
    ``metrics``).

    The database serialises ingest transactions (``LogRepository.lock_ingestion``); the posts of this
    process also queue for their turn *here*, first come first served, after reading and parsing their
    body. A waiting post then holds neither a worker thread nor a pooled connection: with 20 concurrent
    posts each transaction held a connection while waiting for the lock, which emptied the pool (5 + 10
    overflow) so that token checks and reads waited for a connection (bench/bench_api.py --push --phases).
    """
    router = APIRouter(prefix="/v1/devices/{device_id}", tags=["ingest"])
    errors = problem_responses(400, 401, 403, 404, 413, 415, 422, 429, 503)
    turn = anyio.Lock()  # one ingest transaction of this process at a time (FIFO)

    async def ingest(kind: str, device_id: str, request: Request, principal: Principal,
                     run: Callable[..., Any]) -> dict[str, Any]:
        principal.require(Permission.WRITE_LOGS, device_id)
        await run_in_threadpool(require_device, app.uow, device_id)  # a database read: not on the event loop
        body = await read_body(request, max_body_bytes)
        source = f"api:{request.url.path}"
        log = await run_in_threadpool(parse_body, body, media_type(request), kind=kind, device_id=device_id,
                                      name=source)
        async with turn:
            summary = await run_in_threadpool(run, log, source=source, uow=app.uow, clock=app.clock,
                                              actor=principal.name)
        batch: dict[str, Any] = summary.as_dict()
        if metrics is not None:
            metrics.observe_batch(batch, kind=kind, source="api")
        return batch

    def predictions(log, **kwargs):  # type: ignore[no-untyped-def]
        return ingest_predictions(log, hash_patient=app.patient_hasher(), **kwargs)

    def ground_truth(log, **kwargs):  # type: ignore[no-untyped-def]
        return ingest_ground_truth(log, hash_patient=app.patient_hasher_if_configured(), **kwargs)

    @router.post("/predictions", response_model=BatchSummary, response_model_by_alias=True, responses=errors,
                 openapi_extra=_request_body("predictions"), summary="Post prediction records")
    async def post_predictions(device_id: str, request: Request,
                               principal: Principal = Depends(auth.require(Permission.WRITE_LOGS))) -> dict[str, Any]:
        """Ingest prediction records of the device (a JSON array, NDJSON, or a FHIR Bundle), in one
        transaction: the answer says what became of each (accepted, duplicate, rejected with reasons)."""
        return await ingest("predictions", device_id, request, principal, predictions)

    @router.post("/ground-truth", response_model=BatchSummary, response_model_by_alias=True, responses=errors,
                 openapi_extra=_request_body("ground_truth"), summary="Post ground-truth records")
    async def post_ground_truth(device_id: str, request: Request,
                                principal: Principal = Depends(auth.require(Permission.WRITE_LOGS))) -> dict[str, Any]:
        """Ingest ground-truth records of the device; rows with correction_reason add a label version."""
        return await ingest("ground_truth", device_id, request, principal, ground_truth)

    return router

