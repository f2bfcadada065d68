"""Response documents of the HTTP API (pydantic models: they are the OpenAPI schemas)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from monitor.service import read_models as rm

__all__ = [
    "AuditRecord", "Batch", "BatchSummary", "Device", "DeviceDetail", "Finding", "Health", "Page", "Period",
    "Ready", "RejectedRow", "ReportFile", "ReportRevision", "Run", "RunDetail", "StratumResult", "Ticket",
    "TicketDetail",
]

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list; ask for ``offset=next_offset`` for the next one."""

    items: list[T]
    limit: int
    offset: int
    next_offset: int | None = Field(None, description="Offset of the next page; null on the last page.")


class Health(BaseModel):
    status: str = Field(..., examples=["alive"])


class Ready(BaseModel):
    status: str = Field(..., description="ready or unavailable")
    database: str = Field(..., description="ok, or why the database cannot serve")
    scheduler: str | None = Field(None, description="running, or why this process's scheduler is not running "
                                                    "(then 503); null when this process runs no scheduler.")
    scheduler_running: bool | None = Field(None, description="Whether the scheduler runs in this process "
                                                              "(null when this process runs no scheduler).")


class BatchSummary(BaseModel):
    """What became of each posted record (``schemas/batch_summary.schema.json``)."""

    model_config = ConfigDict(extra="allow")
    schema_: str = Field(..., alias="schema")
    schema_version: int
    batch_id: int
    kind: str
    source: str
    sha256: str
    rows: int
    accepted: int
    duplicates: int
    rejected: int
    reasons: dict[str, int]
    ignored_columns: list[str]
    new_model_versions: list[str]
    new_sites: list[str]


# The stored things are the read side's models (monitor/service/read_models.py), served as they are; a
# subclass only gives a model its established OpenAPI name.


class Device(rm.DeviceSummary):
    """A registered device with the number of its model versions and sites."""


class DeviceDetail(rm.Device):
    """A registered device with its current configuration document."""


class Period(rm.PeriodSummary):
    """A period of a device that has analysis runs."""


class Run(rm.RunHeader):
    """A stored analysis run without its document."""


class RunDetail(rm.Run):
    """A stored analysis run with its document."""


StratumResult = rm.StratumResult
Finding = rm.Finding
Ticket = rm.Ticket
TicketEvidence = rm.TicketEvidence
TicketTransition = rm.TicketTransition
TicketComment = rm.TicketComment
TicketDetail = rm.TicketDetail


class ReportFile(BaseModel):
    """A recorded report file, without the server's path (``rm.ReportFile.path``)."""

    id: int = Field(..., description="File id: download it at /v1/report-files/{id}/content.")
    report_id: str
    run_id: str
    device_id: str
    period: str
    format: str
    sha256: str
    created_at: datetime
    actor: str
    language: str | None


ReportRevision = rm.ReportRevision
Batch = rm.Batch
RejectedRow = rm.RejectedRow
AuditRecord = rm.AuditRecord
