"""The review worklist endpoint (issue 17 item 3): the read model of :mod:`monitor.service.worklist`.

Read role (``Permission.READ_DATA``), as the other read endpoints (:mod:`monitor.entrypoints.api.read`): the
device id and the period are checked by pattern before any query (a wrong one is a 422), the status by its
values; the items are paged with ``limit`` / ``offset`` after the status filter, the counts cover every case.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from monitor.domain.roles import Permission
from monitor.entrypoints.api.problems import problem_responses
from monitor.entrypoints.api.read import ID_PATTERN, Limit, Offset
from monitor.entrypoints.api.security import Authenticator
from monitor.entrypoints.bootstrap import App
from monitor.service import queries as q
from monitor.service.access import Principal
from monitor.service.worklist import Worklist, WorklistItem, WorklistStatus, get_worklist

__all__ = ["worklist_router"]


class WorklistPage(BaseModel):
    """A page of a device's worklist, with the counts of every status."""

    device_id: str
    period: str
    cutoff: str = Field(description="Cases and review events ingested by then are read (UTC ISO 8601).")
    triggers: list[str]
    cases: int = Field(description="Cases of the period counted by the review rate.")
    counts: dict[str, int] = Field(description="Worklist cases by status.")
    items: list[WorklistItem]
    limit: int
    offset: int
    next_offset: int | None


def _page(worklist: Worklist, limit: int, offset: int) -> dict[str, Any]:
    items = worklist.items[offset:offset + limit]
    more = offset + limit < len(worklist.items)
    return worklist.model_dump(exclude={"items", "cutoff"}) | {
        "cutoff": worklist.cutoff.isoformat().replace("+00:00", "Z"), "items": items, "limit": limit,
        "offset": offset, "next_offset": offset + limit if more else None}


def worklist_router(app: App, auth: Authenticator) -> APIRouter:
    """``GET /v1/devices/{device_id}/worklist`` (role qa, auditor or admin)."""
    router = APIRouter(prefix="/v1", responses=problem_responses(401, 403, 404, 422, 429, 503))
    reader = Depends(auth.require(Permission.READ_DATA))

    @router.get("/devices/{device_id}/worklist", response_model=WorklistPage, tags=["analysis"])
    def get_device_worklist(
        device_id: str = Path(pattern=ID_PATTERN, max_length=128, description="Device id."),
        period: str = Query(..., pattern=q.PERIOD_PATTERN, max_length=32,
                            description="Period label: 2025Q3, 2025-07, 2025 or 2025-07-01..2025-09-30."),
        status: WorklistStatus | None = Query(None, description="Only cases whose latest review has this status."),
        limit: int = Limit, offset: int = Offset, _: Principal = reader,
    ) -> dict[str, Any]:
        """The cases the device's review triggers sent to secondary review in the period, with the status of
        their latest review (as of now)."""
        worklist = get_worklist(app.uow, device_id, period, clock=app.clock, status=status)
        return _page(worklist, limit, offset)

    return router
