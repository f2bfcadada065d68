"""Read endpoints: devices, runs, results, findings, tickets, reports, batches, rejected rows, audit.

Every endpoint reads through the one read side, :mod:`monitor.service.queries` (which the dashboard and
the report use too). Query values are checked before any query: identifiers and free text by pattern and
length, periods by the period-label pattern and enumerated filters (statuses, batch kind, metric) by their
values, so a wrong one is a 422 problem document, never a silently empty list.
"""

from __future__ import annotations

import hashlib
import mimetypes
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Path as PathParam, Query, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from pydantic import AwareDatetime, TypeAdapter

from monitor.domain.roles import Permission
from monitor.entrypoints.api import models as m
from monitor.entrypoints.api.pages import PageCache
from monitor.entrypoints.api.problems import problem_responses
from monitor.entrypoints.api.security import Authenticator
from monitor.entrypoints.bootstrap import App
from monitor.errors import IntegrityError, NotFoundError
from monitor.service import queries as q
from monitor.service.access import Principal
from monitor.service.read_models import Page
from monitor.service.submission import record_export

__all__ = ["read_router"]

MAX_LIMIT = 1000
Limit = Query(100, ge=1, le=MAX_LIMIT, description="Page size.")
Offset = Query(0, ge=0, le=2**31 - 1, description="Rows to skip.")
#: Identifiers in paths and filters: a device id's form (monitor/domain/device.py) or a UUID, so that a
#: malformed one is refused (422) before any query and never quoted back; free-text filters are bounded
#: and hold no control character (PostgreSQL refuses NUL in text: it must be a 422, not a server error).
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"
TEXT_PATTERN = r"^[^\x00-\x1f\x7f]*$"
MAX_TEXT = 200
MAX_INT = 2**63 - 1


def _id(description: str) -> Any:
    return Query(None, pattern=ID_PATTERN, max_length=128, description=description)


def _text(description: str) -> Any:
    return Query(None, pattern=TEXT_PATTERN, max_length=MAX_TEXT, description=description)


def _period() -> Any:
    return Query(None, pattern=q.PERIOD_PATTERN, max_length=32,
                 description="Period label: a quarter (2025Q3), a month (2025-07), a year (2025) or a window "
                             "(2025-07-01..2025-09-30).")


def _path_id(description: str) -> Any:
    return PathParam(pattern=ID_PATTERN, max_length=128, description=description)


def _path_int(description: str) -> Any:
    return PathParam(ge=1, le=MAX_INT, description=description)
_MEDIA = {"pdf": "application/pdf", "html": "text/html; charset=utf-8", "json": "application/json",
          "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "csv": "text/csv; charset=utf-8",
          "md": "text/markdown; charset=utf-8"}


def _page(page: Page[Any]) -> dict[str, Any]:
    return {"items": page.items, "limit": page.limit, "offset": page.offset, "next_offset": page.next_offset}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_router(app: App, auth: Authenticator, results_cache: PageCache | None = None
                ) -> APIRouter:  # noqa: C901  (one route per resource)
    """The read-only endpoints (role qa, auditor or admin).

    Pages of a run's stratum results are served from ``results_cache`` (a new :class:`PageCache` by
    default) once read: a stored run's results never change (:mod:`monitor.entrypoints.api.pages`).
    """
    router = APIRouter(prefix="/v1", responses=problem_responses(401, 403, 422, 429, 503))
    results_pages = results_cache if results_cache is not None else PageCache()
    results_page = TypeAdapter(m.Page[m.StratumResult])
    reader = Depends(auth.require(Permission.READ_DATA))
    audit_reader = Depends(auth.require(Permission.READ_AUDIT))
    not_found = problem_responses(404)

    @router.get("/devices", response_model=m.Page[m.Device], tags=["devices"])
    def list_devices(limit: int = Limit, offset: int = Offset, _: Principal = reader) -> dict[str, Any]:
        """Registered devices."""
        return _page(q.list_devices(app.uow, limit=limit, offset=offset))

    @router.get("/devices/{device_id}", response_model=m.DeviceDetail, responses=not_found, tags=["devices"])
    def get_device(device_id: str = _path_id("Device id."), _: Principal = reader) -> Any:
        """One device with its current configuration."""
        return q.get_device(app.uow, device_id)

    @router.get("/devices/{device_id}/periods", response_model=m.Page[m.Period], responses=not_found,
                tags=["analysis"])
    def list_periods(device_id: str = _path_id("Device id."), limit: int = Limit, offset: int = Offset,
                     _: Principal = reader) -> dict[str, Any]:
        """Reporting periods of a device that have analysis runs, newest first."""
        return _page(q.list_periods(app.uow, device_id, limit=limit, offset=offset))

    @router.get("/runs", response_model=m.Page[m.Run], tags=["analysis"])
    def list_runs(device_id: str | None = _id("Device id."), period: str | None = _period(), limit: int = Limit,
                  offset: int = Offset, _: Principal = reader) -> dict[str, Any]:
        """Analysis runs, newest first."""
        return _page(q.list_runs(app.uow, device_id=device_id, period=period, limit=limit, offset=offset))

    @router.get("/runs/{run_id}", response_model=m.RunDetail, responses=not_found, tags=["analysis"])
    def get_run(run_id: str = _path_id("Run id."), _: Principal = reader) -> Any:
        """One analysis run with its document."""
        return q.get_run(app.uow, run_id)

    @router.get("/runs/{run_id}/results", response_model=m.Page[m.StratumResult], responses=not_found,
                tags=["analysis"])
    async def list_results(run_id: str = _path_id("Run id."), model_version: str | None = _text("Model version."),
                     metric: q.Metric | None = Query(None, description="Metric."),
                     status: q.ResultStatus | None = Query(None, description="Status of the result."),
                     stratum_prefix: str | None = Query(None, pattern=TEXT_PATTERN, max_length=MAX_TEXT,
                                                         description="Strata starting with this text."),
                     limit: int = Limit, offset: int = Offset, _: Principal = reader) -> Response:
        """A run's stratum results, filtered."""
        key = (run_id, model_version, metric, status, stratum_prefix, limit, offset)
        body = results_pages.get(key)
        if body is None:  # read in the thread pool; a cached page needs no thread
            body = await run_in_threadpool(_results_body, run_id, model_version, metric, status, stratum_prefix,
                                           limit, offset)
            results_pages.put(key, body)
        return Response(body, media_type="application/json")

    def _results_body(run_id: str, model_version: str | None, metric: q.Metric | None,
                      status: q.ResultStatus | None, stratum_prefix: str | None, limit: int, offset: int) -> bytes:
        """A page of a run's results as the bytes FastAPI makes of the response model (its dump_json path)."""
        page = _page(q.list_results(app.uow, run_id, model_version=model_version, metric=metric, status=status,
                                    stratum_prefix=stratum_prefix, limit=limit, offset=offset))
        return results_page.dump_json(results_page.validate_python(page), by_alias=True)

    @router.get("/findings", response_model=m.Page[m.Finding], tags=["analysis"])
    def list_findings(device_id: str | None = _id("Device id."), run_id: str | None = _id("Run id."),
                      metric: q.Metric | None = Query(None, description="Metric."),
                      limit: int = Limit, offset: int = Offset, _: Principal = reader) -> dict[str, Any]:
        """Findings (flagged results), newest first."""
        return _page(q.list_findings(app.uow, device_id=device_id, run_id=run_id, metric=metric, limit=limit,
                                     offset=offset))

    @router.get("/tickets", response_model=m.Page[m.Ticket], tags=["tickets"])
    def list_tickets(device_id: str | None = _id("Device id."),
                     status: q.TicketStatus | None = Query(None, description="Ticket status."), limit: int = Limit,
                     offset: int = Offset, _: Principal = reader) -> dict[str, Any]:
        """Corrective-action tickets, oldest first."""
        return _page(q.list_tickets(app.uow, device_id=device_id, status=status, limit=limit, offset=offset))

    @router.get("/tickets/{ticket_id}", response_model=m.TicketDetail, responses=not_found, tags=["tickets"])
    def get_ticket(ticket_id: str = _path_id("Ticket id."), _: Principal = reader) -> Any:
        """One ticket with its evidence, transitions and comments."""
        return q.get_ticket(app.uow, ticket_id)

    @router.get("/report-files", response_model=m.Page[m.ReportFile], tags=["reports"])
    def list_report_files(device_id: str | None = _id("Device id."), period: str | None = _period(),
                          limit: int = Limit, offset: int = Offset, _: Principal = reader) -> dict[str, Any]:
        """Written report files, newest first."""
        return _page(q.list_report_files(app.uow, device_id=device_id, period=period, limit=limit, offset=offset))

    @router.get("/report-files/{file_id}/content", tags=["reports"], response_class=FileResponse,
                responses={200: {"description": "The file, as recorded (its SHA-256 is checked first).",
                                 "content": {media.split(";")[0]: {} for media in _MEDIA.values()}},
                           **problem_responses(404, 500)})
    def download_report_file(file_id: int = _path_int("Report file id."), principal: Principal = reader
                             ) -> FileResponse:
        """Download a recorded report file. Only files recorded in the reports table are served, and only
        when their content still has the recorded SHA-256. Each download is audited (``report.export``)."""
        record = q.get_report_file(app.uow, file_id)
        path = Path(record.path)
        if not path.is_file():
            raise NotFoundError(f"report file {file_id} is recorded but no longer on the server")
        if _sha256(path) != record.sha256:
            raise IntegrityError(f"report file {file_id} no longer matches its recorded SHA-256")
        suffix = record.format if record.format in _MEDIA else path.suffix.lstrip(".")
        media = _MEDIA.get(suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        language = f"-{record.language}" if record.language else ""
        edition = ".signed" if record.format.startswith("signed-") else ""
        record_export(uow=app.uow, clock=app.clock, actor=principal.name, kind="api-download",
                      report_id=record.report_id, file=path.name, sha256=record.sha256, size=path.stat().st_size,
                      extra={"file_id": file_id, "format": record.format})
        return FileResponse(path, media_type=media, filename=f"{record.report_id}{language}{edition}.{suffix}")

    @router.get("/report-revisions", response_model=m.Page[m.ReportRevision], tags=["reports"])
    def list_report_revisions(device_id: str | None = _id("Device id."), period: str | None = _period(),
                              status: q.RevisionStatus | None = Query(None, description="Revision status."),
                              limit: int = Limit, offset: int = Offset, _: Principal = reader) -> dict[str, Any]:
        """Report revisions and their state, newest first."""
        return _page(q.list_report_revisions(app.uow, device_id=device_id, period=period, status=status,
                                             limit=limit, offset=offset))

    @router.get("/batches", response_model=m.Page[m.Batch], tags=["ingest"])
    def list_batches(kind: q.BatchKind | None = Query(None, description="Batch kind."), limit: int = Limit,
                     offset: int = Offset, _: Principal = reader) -> dict[str, Any]:
        """Ingestion batches, newest first."""
        return _page(q.list_batches(app.uow, kind=kind, limit=limit, offset=offset))

    @router.get("/batches/{batch_id}", response_model=m.Batch, responses=not_found, tags=["ingest"])
    def get_batch(batch_id: int = _path_int("Batch id."), _: Principal = reader) -> Any:
        """One ingestion batch."""
        return q.get_batch(app.uow, batch_id)

    @router.get("/rejected-rows", response_model=m.Page[m.RejectedRow], tags=["ingest"])
    def list_rejected_rows(batch_id: int | None = Query(None, ge=1, le=MAX_INT, description="Batch id."),
                           reason_code: str | None = _text("Reason code."),
                           status: q.RejectionStatus | None = Query(None, description="Quarantine status."),
                           limit: int = Limit, offset: int = Offset, _: Principal = reader) -> dict[str, Any]:
        """Rejected rows with their reasons (patient ids only as keyed hashes)."""
        return _page(q.list_rejected_rows(app.uow, batch_id=batch_id, reason_code=reason_code, status=status,
                                          limit=limit, offset=offset))

    @router.get("/audit", response_model=m.Page[m.AuditRecord], tags=["audit"])
    def list_audit(action: str | None = _text("Action."), entity: str | None = _text("Entity."),
                   entity_id: str | None = _text("Entity id."), actor: str | None = _text("Actor."),
                   since: AwareDatetime | None = None, limit: int = Limit, offset: int = Offset,
                   _: Principal = audit_reader) -> dict[str, Any]:
        """The audit trail, newest first."""
        return _page(q.list_audit(app.uow, action=action, entity=entity, entity_id=entity_id, actor=actor,
                                  since=since, limit=limit, offset=offset))

    return router
