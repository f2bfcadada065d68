"""Read-model queries for the HTTP API: filtered and paginated in SQL, one page at a time.

Every list method takes ``limit`` and ``offset`` and returns a :class:`Page`: the rows of the page
and whether more follow (found by asking for one row more than the page, so no table is counted).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Sequence

from sqlalchemy import Connection, Select, func, select
from sqlalchemy.sql.elements import ColumnElement

from monitor.adapters.db.tables import (
    analysis_runs,
    audit_log,
    devices,
    findings,
    ingestion_batches,
    model_versions,
    rejected_rows,
    report_revisions,
    reports,
    sites,
    stratum_results,
    ticket_comments,
    ticket_evidence,
    ticket_transitions,
    tickets,
)
from monitor.errors import NotFoundError

__all__ = ["Page", "QueryRepository"]


@dataclass(frozen=True)
class Page:
    """One page of rows."""

    items: list[dict[str, Any]]
    limit: int
    offset: int
    has_more: bool

    @property
    def next_offset(self) -> int | None:
        """Offset of the next page, or ``None`` on the last one."""
        return self.offset + self.limit if self.has_more else None


def _like_prefix(prefix: str) -> str:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


class QueryRepository:
    """Paginated, filtered reads of what the service stored."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def _page(self, query: Select[Any], limit: int, offset: int) -> Page:
        rows = [dict(r._mapping) for r in self._conn.execute(query.limit(limit + 1).offset(offset))]
        return Page(rows[:limit], limit, offset, len(rows) > limit)

    @staticmethod
    def _where(query: Select[Any], conditions: Sequence[ColumnElement[bool]]) -> Select[Any]:
        return query.where(*conditions) if conditions else query

    # devices and runs ------------------------------------------------------------------------
    def devices(self, *, limit: int, offset: int) -> Page:
        """Registered devices with configuration version and counts of model versions and sites."""
        mv = select(model_versions.c.device_id, func.count().label("n")).group_by(model_versions.c.device_id).subquery()
        st = select(sites.c.device_id, func.count().label("n")).group_by(sites.c.device_id).subquery()
        query = (select(devices.c.device_id, devices.c.name, devices.c.config_version, devices.c.config_hash,
                        devices.c.created_at, devices.c.updated_at,
                        func.coalesce(mv.c.n, 0).label("model_versions"), func.coalesce(st.c.n, 0).label("sites"))
                 .outerjoin(mv, mv.c.device_id == devices.c.device_id)
                 .outerjoin(st, st.c.device_id == devices.c.device_id)
                 .order_by(devices.c.device_id))
        return self._page(query, limit, offset)

    def device_exists(self, device_id: str) -> bool:
        """Whether ``device_id`` is registered."""
        query = select(devices.c.device_id).where(devices.c.device_id == device_id)
        return self._conn.execute(query).first() is not None

    def device(self, device_id: str) -> dict[str, Any]:
        """One device with its current configuration document."""
        row = self._conn.execute(select(devices).where(devices.c.device_id == device_id)).first()
        if row is None:
            raise NotFoundError(f"device {device_id!r} is not registered")
        return dict(row._mapping)

    def periods(self, device_id: str, *, limit: int, offset: int) -> Page:
        """Periods of a device that have analysis runs, newest period first, with run counts."""
        query = (select(analysis_runs.c.period, func.min(analysis_runs.c.period_start).label("period_start"),
                        func.max(analysis_runs.c.period_end).label("period_end"),
                        func.count().label("runs"), func.max(analysis_runs.c.created_at).label("latest_run_at"))
                 .where(analysis_runs.c.device_id == device_id)
                 .group_by(analysis_runs.c.period)
                 .order_by(func.min(analysis_runs.c.period_start).desc(), analysis_runs.c.period))
        return self._page(query, limit, offset)

    def runs(self, *, device_id: str | None, period: str | None, limit: int, offset: int) -> Page:
        """Analysis runs without their documents, newest first."""
        conditions = []
        if device_id is not None:
            conditions.append(analysis_runs.c.device_id == device_id)
        if period is not None:
            conditions.append(analysis_runs.c.period == period)
        query = self._where(select(*[c for c in analysis_runs.c if c.name != "document"]), conditions)
        return self._page(query.order_by(analysis_runs.c.created_at.desc(), analysis_runs.c.run_id), limit, offset)

    def run(self, run_id: str) -> dict[str, Any]:
        """One run with its analysis document."""
        row = self._conn.execute(select(analysis_runs).where(analysis_runs.c.run_id == run_id)).first()
        if row is None:
            raise NotFoundError(f"analysis run {run_id!r} does not exist")
        return dict(row._mapping)

    def stratum_results(self, run_id: str, *, model_version: str | None, metric: str | None, status: str | None,
                        stratum_prefix: str | None, limit: int, offset: int) -> Page:
        """A run's stratum results, filtered, in stored order."""
        self.run_header(run_id)
        conditions: list[ColumnElement[bool]] = [stratum_results.c.run_id == run_id]
        if model_version is not None:
            conditions.append(stratum_results.c.model_version == model_version)
        if metric is not None:
            conditions.append(stratum_results.c.metric == metric)
        if status is not None:
            conditions.append(stratum_results.c.status == status)
        if stratum_prefix:
            conditions.append(stratum_results.c.stratum.like(_like_prefix(stratum_prefix), escape="\\"))
        query = select(*[c for c in stratum_results.c if c.name != "id"]).where(*conditions)
        return self._page(query.order_by(stratum_results.c.id), limit, offset)

    def run_header(self, run_id: str) -> dict[str, Any]:
        """A run's identifying columns (no document); :class:`NotFoundError` when absent."""
        row = self._conn.execute(select(analysis_runs.c.run_id, analysis_runs.c.device_id, analysis_runs.c.period)
                                 .where(analysis_runs.c.run_id == run_id)).first()
        if row is None:
            raise NotFoundError(f"analysis run {run_id!r} does not exist")
        return dict(row._mapping)

    def findings(self, *, device_id: str | None, run_id: str | None, metric: str | None, limit: int,
                 offset: int) -> Page:
        """Findings, newest first."""
        conditions = []
        if device_id is not None:
            conditions.append(findings.c.device_id == device_id)
        if run_id is not None:
            conditions.append(findings.c.run_id == run_id)
        if metric is not None:
            conditions.append(findings.c.metric == metric)
        query = self._where(select(findings), conditions)
        return self._page(query.order_by(findings.c.created_at.desc(), findings.c.finding_id), limit, offset)

    # tickets -----------------------------------------------------------------------------------
    def tickets(self, *, device_id: str | None, status: str | None, limit: int, offset: int) -> Page:
        """Tickets (without evidence), oldest first."""
        conditions = []
        if device_id is not None:
            conditions.append(tickets.c.device_id == device_id)
        if status is not None:
            conditions.append(tickets.c.status == status)
        query = self._where(select(*[c for c in tickets.c if c.name not in ("open_key", "seq")]), conditions)
        return self._page(query.order_by(tickets.c.seq), limit, offset)

    def ticket(self, ticket_id: str) -> dict[str, Any]:
        """One ticket with its evidence, transitions and comments."""
        row = self._conn.execute(select(*[c for c in tickets.c if c.name not in ("open_key", "seq")])
                                 .where(tickets.c.ticket_id == ticket_id)).first()
        if row is None:
            raise NotFoundError(f"ticket {ticket_id!r} does not exist")
        item = dict(row._mapping)
        item["evidence"] = [dict(r._mapping) for r in self._conn.execute(
            select(ticket_evidence.c.run_id, ticket_evidence.c.finding_id, ticket_evidence.c.evidence,
                   ticket_evidence.c.added_at).where(ticket_evidence.c.ticket_id == ticket_id)
            .order_by(ticket_evidence.c.id))]
        item["transitions"] = [dict(r._mapping) for r in self._conn.execute(
            select(*[c for c in ticket_transitions.c if c.name not in ("id", "ticket_id")])
            .where(ticket_transitions.c.ticket_id == ticket_id).order_by(ticket_transitions.c.id))]
        item["comments"] = [dict(r._mapping) for r in self._conn.execute(
            select(*[c for c in ticket_comments.c if c.name != "ticket_id"])
            .where(ticket_comments.c.ticket_id == ticket_id).order_by(ticket_comments.c.id))]
        return item

    # reports -----------------------------------------------------------------------------------
    def report_files(self, *, device_id: str | None, period: str | None, limit: int, offset: int) -> Page:
        """Recorded report files (without their server paths), newest first."""
        conditions = []
        if device_id is not None:
            conditions.append(reports.c.device_id == device_id)
        if period is not None:
            conditions.append(reports.c.period == period)
        query = self._where(select(*[c for c in reports.c if c.name != "path"]), conditions)
        return self._page(query.order_by(reports.c.created_at.desc(), reports.c.id.desc()), limit, offset)

    def report_file(self, file_id: int) -> dict[str, Any]:
        """One recorded report file, with its stored path (for the server's use only)."""
        row = self._conn.execute(select(reports).where(reports.c.id == file_id)).first()
        if row is None:
            raise NotFoundError(f"report file {file_id} does not exist")
        return dict(row._mapping)

    def report_revisions(self, *, device_id: str | None, period: str | None, status: str | None, limit: int,
                         offset: int) -> Page:
        """Report revisions (draft, signed, superseded), newest first."""
        conditions = []
        if device_id is not None:
            conditions.append(report_revisions.c.device_id == device_id)
        if period is not None:
            conditions.append(report_revisions.c.period == period)
        if status is not None:
            conditions.append(report_revisions.c.status == status)
        query = self._where(select(report_revisions), conditions)
        return self._page(query.order_by(report_revisions.c.created_at.desc(), report_revisions.c.report_id),
                          limit, offset)

    # ingestion -----------------------------------------------------------------------------------
    def batches(self, *, kind: str | None, limit: int, offset: int) -> Page:
        """Ingestion batches, newest first."""
        query = select(ingestion_batches)
        if kind is not None:
            query = query.where(ingestion_batches.c.kind == kind)
        return self._page(query.order_by(ingestion_batches.c.batch_id.desc()), limit, offset)

    def batch(self, batch_id: int) -> dict[str, Any]:
        """One ingestion batch."""
        row = self._conn.execute(select(ingestion_batches).where(ingestion_batches.c.batch_id == batch_id)).first()
        if row is None:
            raise NotFoundError(f"ingestion batch {batch_id} does not exist")
        return dict(row._mapping)

    def rejected_rows(self, *, batch_id: int | None, reason_code: str | None, status: str | None, limit: int,
                      offset: int) -> Page:
        """Rejected rows (content pseudonymised at ingestion), by batch and row number."""
        conditions = []
        if batch_id is not None:
            conditions.append(rejected_rows.c.batch_id == batch_id)
        if reason_code is not None:
            conditions.append(rejected_rows.c.reason_code == reason_code)
        if status is not None:
            conditions.append(rejected_rows.c.status == status)
        query = self._where(select(*[c for c in rejected_rows.c if c.name != "id"]), conditions)
        return self._page(query.order_by(rejected_rows.c.batch_id, rejected_rows.c.row_number), limit, offset)

    # audit ---------------------------------------------------------------------------------------
    def audit_records(self, *, action: str | None, entity: str | None, entity_id: str | None, actor: str | None,
                      since: datetime | None, limit: int, offset: int) -> Page:
        """Audit records, newest first."""
        conditions = []
        if action is not None:
            conditions.append(audit_log.c.action == action)
        if entity is not None:
            conditions.append(audit_log.c.entity == entity)
        if entity_id is not None:
            conditions.append(audit_log.c.entity_id == entity_id)
        if actor is not None:
            conditions.append(audit_log.c.actor == actor)
        if since is not None:
            conditions.append(audit_log.c.at >= since)
        query = self._where(select(audit_log), conditions)
        return self._page(query.order_by(audit_log.c.seq.desc()), limit, offset)
