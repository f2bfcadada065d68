"""Response documents of the HTTP API (pydantic models: they are the OpenAPI schemas)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

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


class Device(BaseModel):
    device_id: str
    name: str
    config_version: int
    config_hash: str
    created_at: datetime
    updated_at: datetime
    model_versions: int
    sites: int


class DeviceDetail(BaseModel):
    device_id: str
    name: str
    config_version: int
    config_hash: str
    created_at: datetime
    updated_at: datetime
    config: dict[str, Any]


class Period(BaseModel):
    period: str
    period_start: datetime
    period_end: datetime
    runs: int
    latest_run_at: datetime


class Run(BaseModel):
    run_id: str
    device_id: str
    period: str
    period_start: datetime
    period_end: datetime
    data_cutoff: datetime
    created_at: datetime
    software_version: str
    config_hash: str
    input_fingerprint: str
    actor: str


class RunDetail(Run):
    document: dict[str, Any] = Field(..., description="The analysis document (schemas/analysis.schema.json).")


class StratumResult(BaseModel):
    run_id: str
    model_version: str
    stratum: str
    level: int
    metric: str
    successes: int
    trials: int
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    claim: float | None
    margin: float | None
    p_value: float | None
    q_value: float | None
    status: str
    additional_needed: int | None


class Finding(BaseModel):
    finding_id: str
    run_id: str
    device_id: str
    model_version: str
    stratum: str
    metric: str
    kind: str
    evidence: dict[str, Any]
    ticket_id: str | None
    created_at: datetime


class Ticket(BaseModel):
    ticket_id: str
    device_id: str
    model_version: str
    stratum: str
    metric: str
    status: str
    title: str
    created_at: datetime
    updated_at: datetime
    severity: str | None = None
    containment: str | None = None
    acceptance_criteria: Any = None
    data_collection_target: int | None = None
    closed_run_id: str | None = None
    resolution: str | None = None


class TicketEvidence(BaseModel):
    run_id: str
    finding_id: str
    evidence: dict[str, Any]
    added_at: datetime


class TicketTransition(BaseModel):
    from_status: str | None
    to_status: str
    actor: str
    reason: str
    run_id: str | None
    at: datetime


class TicketComment(BaseModel):
    id: int
    actor: str
    body: str
    at: datetime


class TicketDetail(Ticket):
    evidence: list[TicketEvidence]
    transitions: list[TicketTransition]
    comments: list[TicketComment]


class ReportFile(BaseModel):
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


class ReportRevision(BaseModel):
    report_id: str
    device_id: str
    period: str
    run_id: str
    revision: int
    status: str
    supersedes: str | None
    languages: str
    content_sha256: str
    audit_head: str
    created_at: datetime
    created_by: str
    frozen_at: datetime | None


class Batch(BaseModel):
    batch_id: int
    kind: str
    source_name: str
    source_format: str
    source_sha256: str
    rows_total: int
    accepted: int
    duplicates: int
    rejected: int
    started_at: datetime
    finished_at: datetime
    actor: str


class RejectedRow(BaseModel):
    batch_id: int
    row_number: int
    record_id: str | None
    reason_code: str
    reason: str
    raw: dict[str, Any] = Field(..., description="The row as stored: patient id as its keyed hash.")
    status: str
    resolved_batch_id: int | None
    resolved_at: datetime | None
    resolved_by: str | None
    resolution_note: str | None


class AuditRecord(BaseModel):
    seq: int
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: str
    details: dict[str, Any]
    prev_hash: str
    hash: str
