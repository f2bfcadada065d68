"""Ticket write endpoints for QA: lifecycle transitions, comments and the CAPA record (audited by the ticket service).

The CAPA record (regulatory.md section 3; docs/tickets.md) is read with the data-read role and changed with the
ticket-write role, as the other ticket endpoints. Signing it stays with people at the command line
(``samd-monitor tickets capa sign`` re-authenticates the signer), as report sign-off does."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field

from monitor.domain.roles import Permission
from monitor.entrypoints.api import models as m
from monitor.entrypoints.api.problems import problem_responses
from monitor.entrypoints.api.security import Authenticator
from monitor.entrypoints.bootstrap import App
from monitor.service.access import Principal
from monitor.service.queries import get_ticket
from monitor.service.read_models import TicketDetail
from monitor.domain.capa import CapaRecord
from monitor.service.tickets import (
    capa_record,
    comment_ticket,
    freeze_capa_acceptance,
    transition_ticket,
    update_capa,
    verify_capa,
)

__all__ = ["tickets_router"]


class TransitionIn(BaseModel):
    to_status: str = Field(..., description="triaged, in_progress, validating, closed or rejected.")
    reason: str = Field(..., min_length=1, max_length=5000)
    run_id: str | None = Field(None, description="Closing only: the analysis run of the newer model version.")


class CommentIn(BaseModel):
    body: str = Field(..., min_length=1, max_length=20000)


CapaSection = Literal["identification", "risk", "reportability", "containment", "root_cause", "modification",
                      "data_management", "acceptance", "impact", "verification", "approvals"]


class VerifyIn(BaseModel):
    run_id: str = Field(..., min_length=1, max_length=64, description="The analysis run of the newer model version.")


def tickets_router(app: App, auth: Authenticator) -> APIRouter:
    """Ticket changes (role qa)."""
    router = APIRouter(prefix="/v1/tickets/{ticket_id}", tags=["tickets"],
                       responses=problem_responses(401, 403, 404, 409, 422, 429, 503))
    writer = Depends(auth.require(Permission.WRITE_TICKETS))

    @router.post("/transitions", response_model=m.TicketDetail)
    def post_transition(ticket_id: str, change: TransitionIn, principal: Principal = writer) -> TicketDetail:
        """Move a ticket through its lifecycle (closing needs a qualifying analysis run)."""
        transition_ticket(ticket_id, change.to_status, reason=change.reason, actor=principal.name, uow=app.uow,
                          clock=app.clock, run_id=change.run_id)
        return get_ticket(app.uow, ticket_id)

    @router.post("/comments", response_model=m.TicketDetail, status_code=201)
    def post_comment(ticket_id: str, comment: CommentIn, principal: Principal = writer) -> TicketDetail:
        """Add a comment to a ticket."""
        comment_ticket(ticket_id, comment.body, actor=principal.name, uow=app.uow, clock=app.clock)
        return get_ticket(app.uow, ticket_id)

    reader = Depends(auth.require(Permission.READ_DATA))

    @router.get("/capa", response_model=CapaRecord)
    def get_capa(ticket_id: str, principal: Principal = reader) -> CapaRecord:
        """The ticket's CAPA record (the 12 items of regulatory.md section 3)."""
        return capa_record(ticket_id, uow=app.uow)

    @router.get("/capa/pdf", response_class=Response,
                responses={200: {"content": {"application/pdf": {}}, "description": "The record as PDF."}})
    def get_capa_pdf(ticket_id: str, language: Literal["en", "zh-CN"] = Query("en"),
                     principal: Principal = reader) -> Response:
        """The ticket's CAPA record as PDF (English or Chinese)."""
        from monitor.adapters.rendering.ticket_pdf import ticket_pdf
        from monitor.service.queries import get_ticket as read_ticket

        record = capa_record(ticket_id, uow=app.uow)
        pdf = ticket_pdf(record, status=read_ticket(app.uow, ticket_id).status, language=language)
        return Response(pdf, media_type="application/pdf",
                        headers={"content-disposition": f'attachment; filename="{ticket_id}-capa.pdf"'})

    @router.patch("/capa/{section}", response_model=CapaRecord)
    def patch_capa_section(ticket_id: str, section: CapaSection, values: dict[str, Any],
                           principal: Principal = writer) -> CapaRecord:
        """Set fields of one section of the CAPA record (only its settable fields; audited)."""
        return update_capa(ticket_id, section, values, actor=principal.name, uow=app.uow, clock=app.clock)

    @router.post("/capa/freeze", response_model=CapaRecord)
    def freeze_capa(ticket_id: str, principal: Principal = writer) -> CapaRecord:
        """Freeze the acceptance criteria (item 9): later edits are refused."""
        return freeze_capa_acceptance(ticket_id, actor=principal.name, uow=app.uow, clock=app.clock)

    @router.post("/capa/verify", response_model=CapaRecord)
    def verify_capa_run(ticket_id: str, body: VerifyIn, principal: Principal = writer) -> CapaRecord:
        """Record the analysis run of a newer model version that meets the frozen acceptance criteria (item 11)."""
        return verify_capa(ticket_id, body.run_id, actor=principal.name, uow=app.uow, clock=app.clock)

    return router
