"""Ticket write endpoints for QA: lifecycle transitions and comments (audited by the ticket service)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from monitor.domain.roles import Permission
from monitor.entrypoints.api import models as m
from monitor.entrypoints.api.problems import problem_responses
from monitor.entrypoints.api.security import Authenticator
from monitor.entrypoints.bootstrap import App
from monitor.service.access import Principal
from monitor.service.queries import get_ticket
from monitor.service.read_models import TicketDetail
from monitor.service.tickets import comment_ticket, transition_ticket

__all__ = ["tickets_router"]


class TransitionIn(BaseModel):
    to_status: str = Field(..., description="triaged, in_progress, validating, closed or rejected.")
    reason: str = Field(..., min_length=1, max_length=5000)
    run_id: str | None = Field(None, description="Closing only: the analysis run of the newer model version.")


class CommentIn(BaseModel):
    body: str = Field(..., min_length=1, max_length=20000)


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

    return router
