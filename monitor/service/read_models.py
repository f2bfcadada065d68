"""The typed rows of the one read side (:mod:`monitor.service.queries`).

What the API, the dashboard and the report read of stored data: frozen pydantic models, one per kind of
stored thing, filled by the read repository (:class:`monitor.service.ports.ReadRepo`). The HTTP API's
response models are these models (``monitor/entrypoints/api/models.py`` names them for OpenAPI and leaves
out what a client must not see, such as a report file's server path); the dashboard turns them into
frames; the report into its JSON content.
Evidence and configurations stay JSON documents (``dict``): their schemas are in ``schemas/``. A run's
analysis document is stored JSON too (``Run.document``, which the consumers read) and typed on demand
(``Run.analysis``: :class:`monitor.domain.analysis_document.AnalysisDocument`).
"""

from __future__ import annotations

from datetime import datetime
from functools import cached_property
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from monitor.domain.analysis_document import AnalysisDocument, validated

__all__ = [
    "AuditRecord", "Batch", "Device", "DeviceHeader", "DeviceSummary", "Finding", "Page", "PeriodSummary",
    "ReadModel", "RejectedRow", "RejectionCount", "ReportFile", "ReportRevision", "Run", "RunHeader",
    "StratumResult", "Ticket", "TicketComment", "TicketDetail", "TicketEvidence", "TicketTransition",
]

T = TypeVar("T")


class ReadModel(BaseModel):
    """A stored thing as read: immutable, built from a row by keyword."""

    model_config = ConfigDict(frozen=True)


class Page(ReadModel, Generic[T]):
    """One page of rows, and whether more follow (found by asking for one row more: no table is counted)."""

    items: list[T]
    limit: int
    offset: int
    has_more: bool

    @property
    def next_offset(self) -> int | None:
        """Offset of the next page, or ``None`` on the last one."""
        return self.offset + self.limit if self.has_more else None


class DeviceHeader(ReadModel):
    """A registered device: its id, name and current configuration version."""

    device_id: str
    name: str
    config_version: int
    config_hash: str
    created_at: datetime
    updated_at: datetime


class DeviceSummary(DeviceHeader):
    """A registered device with the number of its model versions and sites."""

    model_versions: int
    sites: int


class Device(DeviceHeader):
    """A registered device with its current configuration document."""

    config: dict[str, Any]


class PeriodSummary(ReadModel):
    """A period of a device that has analysis runs."""

    period: str
    period_start: datetime
    period_end: datetime
    runs: int
    latest_run_at: datetime


class RunHeader(ReadModel):
    """A stored analysis run without its document."""

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


class Run(RunHeader):
    """A stored analysis run with its document (``schemas/analysis.schema.json``): as stored JSON (``document``),
    and typed (``analysis``, validated when first read)."""

    document: dict[str, Any] = Field(..., description="The analysis document (schemas/analysis.schema.json).")

    @cached_property
    def analysis(self) -> AnalysisDocument:
        """The document as the typed model (:class:`pydantic.ValidationError` if the stored JSON breaks it, e.g. a
        run stored by a development build older than one of its required sections)."""
        return validated(self.document)


class StratumResult(ReadModel):
    """One stored stratum-metric result of a run."""

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


class Finding(ReadModel):
    """A stored finding (a flagged result or a control-chart alarm) with its evidence."""

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


class Ticket(ReadModel):
    """A corrective-action ticket without its evidence, transitions and comments."""

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


class TicketEvidence(ReadModel):
    run_id: str
    finding_id: str
    evidence: dict[str, Any]
    added_at: datetime


class TicketTransition(ReadModel):
    from_status: str | None
    to_status: str
    actor: str
    reason: str
    run_id: str | None
    at: datetime


class TicketComment(ReadModel):
    id: int
    actor: str
    body: str
    at: datetime


class TicketDetail(Ticket):
    """A ticket with its evidence, transitions and comments, each oldest first."""

    evidence: list[TicketEvidence] = Field(default_factory=list)
    transitions: list[TicketTransition] = Field(default_factory=list)
    comments: list[TicketComment] = Field(default_factory=list)

    def as_document(self) -> dict[str, Any]:
        """The ticket as ``schemas/tickets.schema.json`` writes it (comments without their row ids)."""
        document = self.model_dump()
        document["comments"] = [{k: v for k, v in c.items() if k != "id"} for c in document["comments"]]
        return document


class ReportFile(ReadModel):
    """A recorded report file. ``path`` is the server's: the HTTP API never shows it."""

    id: int
    report_id: str
    run_id: str
    device_id: str
    period: str
    format: str
    path: str
    sha256: str
    created_at: datetime
    actor: str
    language: str | None


class ReportRevision(ReadModel):
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


class Batch(ReadModel):
    """An ingestion batch."""

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


class RejectedRow(ReadModel):
    """A rejected row with its reason (its content pseudonymised at ingestion)."""

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


class RejectionCount(ReadModel):
    """Rejected rows of a batch with one reason code."""

    batch_id: int
    reason_code: str
    count: int


class AuditRecord(ReadModel):
    seq: int
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: str
    details: dict[str, Any]
    prev_hash: str
    hash: str
