"""The read repository: every read of stored results, tickets, reports, batches and the audit trail that
the API, the dashboard and the report make (:class:`monitor.service.ports.ReadRepo`).

Lists are filtered and paginated in SQL, one page at a time (a :class:`~monitor.service.read_models.Page`
knows whether more rows follow by asking for one row more than the page, so no table is counted). Rows
come back as the typed rows of :mod:`monitor.service.read_models`; nothing here computes a statistic.
The same SQLAlchemy Core queries run on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any, Callable, Sequence, TypeVar

from sqlalchemy import Connection, Select, Table, func, select
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
from monitor.service.read_models import (
    AuditRecord,
    Batch,
    Device,
    DeviceSummary,
    Finding,
    Page,
    PeriodSummary,
    RejectedRow,
    RejectionCount,
    ReportFile,
    ReportRevision,
    Run,
    RunHeader,
    StratumResult,
    Ticket,
    TicketComment,
    TicketDetail,
    TicketEvidence,
    TicketTransition,
)

__all__ = ["ReadRepository"]

R = TypeVar("R")


def _columns(table: Table, row_type: type[Any]) -> list[Any]:
    """The columns of ``table`` that ``row_type`` holds, in its field order."""
    return [table.c[name] for name in row_type.model_fields]


def _like_prefix(prefix: str) -> str:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def _equal(pairs: Sequence[tuple[Any, Any]]) -> list[ColumnElement[bool]]:
    """``column == value`` for each pair whose value is given."""
    return [column == value for column, value in pairs if value is not None]


class ReadRepository:
    """Reads of what the service stored, as typed rows."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    # helpers -------------------------------------------------------------------------------------
    def _rows(self, query: Select[Any], make: Callable[..., R]) -> list[R]:
        return [make(**r._mapping) for r in self._conn.execute(query)]

    def _one(self, query: Select[Any], make: Callable[..., R], missing: str) -> R:
        row = self._conn.execute(query).first()
        if row is None:
            raise NotFoundError(missing)
        return make(**row._mapping)

    def _page(self, query: Select[Any], make: Callable[..., R], limit: int, offset: int) -> Page[R]:
        rows = self._rows(query.limit(limit + 1).offset(offset), make)
        return Page(items=rows[:limit], limit=limit, offset=offset, has_more=len(rows) > limit)

    # devices -------------------------------------------------------------------------------------
    def devices(self, *, limit: int, offset: int) -> Page[DeviceSummary]:
        """Registered devices with configuration version and counts of model versions and sites."""
        mv = select(model_versions.c.device_id, func.count().label("n")).group_by(model_versions.c.device_id).subquery()
        st = select(sites.c.device_id, func.count().label("n")).group_by(sites.c.device_id).subquery()
        query = (select(devices.c.device_id, devices.c.name, devices.c.config_version, devices.c.config_hash,
                        devices.c.created_at, devices.c.updated_at,
                        func.coalesce(mv.c.n, 0).label("model_versions"), func.coalesce(st.c.n, 0).label("sites"))
                 .outerjoin(mv, mv.c.device_id == devices.c.device_id)
                 .outerjoin(st, st.c.device_id == devices.c.device_id)
                 .order_by(devices.c.device_id))
        return self._page(query, DeviceSummary, limit, offset)

    def all_devices(self) -> list[Device]:
        """Every registered device with its configuration, by id."""
        return self._rows(select(*_columns(devices, Device)).order_by(devices.c.device_id), Device)

    def device_exists(self, device_id: str) -> bool:
        """Whether ``device_id`` is registered."""
        query = select(devices.c.device_id).where(devices.c.device_id == device_id)
        return self._conn.execute(query).first() is not None

    def device(self, device_id: str) -> Device:
        """One device with its current configuration document."""
        return self._one(select(*_columns(devices, Device)).where(devices.c.device_id == device_id), Device,
                         f"device {device_id!r} is not registered")

    # runs ----------------------------------------------------------------------------------------
    def periods(self, device_id: str, *, limit: int, offset: int) -> Page[PeriodSummary]:
        """Periods of a device that have analysis runs, newest period first, with run counts."""
        query = (select(analysis_runs.c.period, func.min(analysis_runs.c.period_start).label("period_start"),
                        func.max(analysis_runs.c.period_end).label("period_end"),
                        func.count().label("runs"), func.max(analysis_runs.c.created_at).label("latest_run_at"))
                 .where(analysis_runs.c.device_id == device_id)
                 .group_by(analysis_runs.c.period)
                 .order_by(func.min(analysis_runs.c.period_start).desc(), analysis_runs.c.period))
        return self._page(query, PeriodSummary, limit, offset)

    def runs(self, *, device_id: str | None, period: str | None, limit: int, offset: int) -> Page[RunHeader]:
        """Analysis runs without their documents, newest first."""
        query = (select(*_columns(analysis_runs, RunHeader))
                 .where(*_equal([(analysis_runs.c.device_id, device_id), (analysis_runs.c.period, period)]))
                 .order_by(analysis_runs.c.created_at.desc(), analysis_runs.c.run_id))
        return self._page(query, RunHeader, limit, offset)

    def run(self, run_id: str) -> Run:
        """One run with its analysis document."""
        return self._one(select(*_columns(analysis_runs, Run)).where(analysis_runs.c.run_id == run_id), Run,
                         f"analysis run {run_id!r} does not exist")

    def run_exists(self, run_id: str) -> bool:
        """Whether the analysis run ``run_id`` is stored."""
        query = select(analysis_runs.c.run_id).where(analysis_runs.c.run_id == run_id)
        return self._conn.execute(query).first() is not None

    def latest_run(self, device_id: str, period: str) -> Run:
        """The newest stored run (with its document) of a device and period."""
        query = (select(*_columns(analysis_runs, Run))
                 .where(analysis_runs.c.device_id == device_id, analysis_runs.c.period == period)
                 .order_by(analysis_runs.c.created_at.desc(), analysis_runs.c.run_id.desc()).limit(1))
        return self._one(query, Run, f"no analysis of device {device_id!r} for period {period}: "
                                     f"run `samd-monitor analyze --device {device_id} --period {period}` first")

    def latest_runs(self, device_id: str) -> list[RunHeader]:
        """The newest run of each analysed period of a device (without documents), oldest period first."""
        rows = self._rows(select(*_columns(analysis_runs, RunHeader)).where(analysis_runs.c.device_id == device_id)
                          .order_by(analysis_runs.c.period_start, analysis_runs.c.created_at, analysis_runs.c.run_id),
                          RunHeader)
        return list({r.period: r for r in rows}.values())

    def previous_run(self, device_id: str, before: datetime) -> Run | None:
        """The newest analysis run (with document) of a period ending at or before ``before``."""
        query = (select(*_columns(analysis_runs, Run))
                 .where(analysis_runs.c.device_id == device_id, analysis_runs.c.period_end <= before)
                 .order_by(analysis_runs.c.period_end.desc(), analysis_runs.c.created_at.desc(),
                           analysis_runs.c.run_id.desc()).limit(1))
        found = self._rows(query, Run)
        return found[0] if found else None

    def newest_run_id(self) -> str | None:
        """Id of the most recently created analysis run of any device."""
        return self._conn.execute(select(analysis_runs.c.run_id).order_by(
            analysis_runs.c.created_at.desc(), analysis_runs.c.run_id.desc()).limit(1)).scalar()

    def document(self, run_id: str) -> dict[str, Any]:
        """The stored analysis document of a run."""
        value = self._conn.execute(select(analysis_runs.c.document).where(analysis_runs.c.run_id == run_id)).first()
        if value is None:
            raise NotFoundError(f"analysis run {run_id!r} does not exist")
        return dict(value[0])

    # results and findings --------------------------------------------------------------------------
    def stratum_results(self, run_id: str, *, model_version: str | None, metric: str | None, status: str | None,
                        stratum_prefix: str | None, limit: int, offset: int) -> Page[StratumResult]:
        """A run's stratum results, filtered, in stored order."""
        conditions = [stratum_results.c.run_id == run_id,
                      *_equal([(stratum_results.c.model_version, model_version), (stratum_results.c.metric, metric),
                               (stratum_results.c.status, status)])]
        if stratum_prefix:
            conditions.append(stratum_results.c.stratum.like(_like_prefix(stratum_prefix), escape="\\"))
        query = select(*_columns(stratum_results, StratumResult)).where(*conditions).order_by(stratum_results.c.id)
        return self._page(query, StratumResult, limit, offset)

    def results_of_runs(self, run_ids: Sequence[str], *, metric: str | None = None, stratum: str | None = None,
                        level: int | None = None) -> list[StratumResult]:
        """Stored stratum results of the given runs, optionally of one metric, stratum or level, in stored order."""
        if not run_ids:
            return []
        query = (select(*_columns(stratum_results, StratumResult))
                 .where(stratum_results.c.run_id.in_(list(run_ids)),
                        *_equal([(stratum_results.c.metric, metric), (stratum_results.c.stratum, stratum),
                                 (stratum_results.c.level, level)]))
                 .order_by(stratum_results.c.id))
        return self._rows(query, StratumResult)

    def findings(self, *, device_id: str | None, run_id: str | None, metric: str | None, limit: int,
                 offset: int) -> Page[Finding]:
        """Findings, newest first."""
        query = (select(*_columns(findings, Finding))
                 .where(*_equal([(findings.c.device_id, device_id), (findings.c.run_id, run_id),
                                 (findings.c.metric, metric)]))
                 .order_by(findings.c.created_at.desc(), findings.c.finding_id))
        return self._page(query, Finding, limit, offset)

    def findings_of_runs(self, run_ids: Sequence[str]) -> list[Finding]:
        """Findings of the given runs, oldest first."""
        if not run_ids:
            return []
        query = (select(*_columns(findings, Finding)).where(findings.c.run_id.in_(list(run_ids)))
                 .order_by(findings.c.created_at, findings.c.finding_id))
        return self._rows(query, Finding)

    # tickets ---------------------------------------------------------------------------------------
    def tickets(self, *, device_id: str | None, status: str | None, limit: int, offset: int) -> Page[Ticket]:
        """Tickets (without evidence), oldest first."""
        query = (select(*_columns(tickets, Ticket))
                 .where(*_equal([(tickets.c.device_id, device_id), (tickets.c.status, status)]))
                 .order_by(tickets.c.seq))
        return self._page(query, Ticket, limit, offset)

    def ticket_details(self, *, device_id: str | None = None, ticket_id: str | None = None) -> list[TicketDetail]:
        """Tickets with their evidence, transitions and comments, oldest first (four queries in all)."""
        heads = self._rows(select(*_columns(tickets, Ticket))
                           .where(*_equal([(tickets.c.device_id, device_id), (tickets.c.ticket_id, ticket_id)]))
                           .order_by(tickets.c.seq), Ticket)
        if not heads:
            return []
        ids = [t.ticket_id for t in heads]
        children: dict[str, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
        for name, table, row_type in (("evidence", ticket_evidence, TicketEvidence),
                                      ("transitions", ticket_transitions, TicketTransition),
                                      ("comments", ticket_comments, TicketComment)):
            query = (select(table.c.ticket_id, *_columns(table, row_type)).where(table.c.ticket_id.in_(ids))
                     .order_by(table.c.id))
            for row in self._conn.execute(query):
                values = dict(row._mapping)
                children[values.pop("ticket_id")][name].append(row_type(**values))
        return [TicketDetail(**t.model_dump(), **children[t.ticket_id])
                for t in heads]

    def ticket(self, ticket_id: str) -> TicketDetail:
        """One ticket with its evidence, transitions and comments."""
        found = self.ticket_details(ticket_id=ticket_id)
        if not found:
            raise NotFoundError(f"ticket {ticket_id!r} does not exist")
        return found[0]

    def ticket_counts(self, device_id: str) -> dict[str, int]:
        """Number of tickets of a device by status."""
        rows = self._conn.execute(select(tickets.c.status, func.count()).where(tickets.c.device_id == device_id)
                                  .group_by(tickets.c.status))
        return {status: int(n) for status, n in rows}

    # reports ---------------------------------------------------------------------------------------
    def report_files(self, *, device_id: str | None, period: str | None, limit: int, offset: int) -> Page[ReportFile]:
        """Recorded report files, newest first."""
        query = (select(*_columns(reports, ReportFile))
                 .where(*_equal([(reports.c.device_id, device_id), (reports.c.period, period)]))
                 .order_by(reports.c.created_at.desc(), reports.c.id.desc()))
        return self._page(query, ReportFile, limit, offset)

    def report_file(self, file_id: int) -> ReportFile:
        """One recorded report file."""
        return self._one(select(*_columns(reports, ReportFile)).where(reports.c.id == file_id), ReportFile,
                         f"report file {file_id} does not exist")

    def report_revisions(self, *, device_id: str | None, period: str | None, status: str | None, limit: int,
                         offset: int) -> Page[ReportRevision]:
        """Report revisions (draft, signed, superseded), newest first."""
        query = (select(*_columns(report_revisions, ReportRevision))
                 .where(*_equal([(report_revisions.c.device_id, device_id), (report_revisions.c.period, period),
                                 (report_revisions.c.status, status)]))
                 .order_by(report_revisions.c.created_at.desc(), report_revisions.c.report_id))
        return self._page(query, ReportRevision, limit, offset)

    def latest_revision_of_run(self, run_id: str) -> ReportRevision | None:
        """The highest report revision generated from an analysis run, if any."""
        found = self._rows(select(*_columns(report_revisions, ReportRevision))
                           .where(report_revisions.c.run_id == run_id)
                           .order_by(report_revisions.c.revision.desc()).limit(1), ReportRevision)
        return found[0] if found else None

    # ingestion -------------------------------------------------------------------------------------
    def batches(self, *, kind: str | None, limit: int, offset: int) -> Page[Batch]:
        """Ingestion batches, newest first."""
        query = (select(*_columns(ingestion_batches, Batch)).where(*_equal([(ingestion_batches.c.kind, kind)]))
                 .order_by(ingestion_batches.c.batch_id.desc()))
        return self._page(query, Batch, limit, offset)

    def batch(self, batch_id: int) -> Batch:
        """One ingestion batch."""
        return self._one(select(*_columns(ingestion_batches, Batch)).where(ingestion_batches.c.batch_id == batch_id),
                         Batch, f"ingestion batch {batch_id} does not exist")

    def batches_by_id(self, batch_ids: Sequence[int]) -> list[Batch]:
        """Ingestion batches by id, in id order."""
        if not batch_ids:
            return []
        return self._rows(select(*_columns(ingestion_batches, Batch))
                          .where(ingestion_batches.c.batch_id.in_(list(batch_ids)))
                          .order_by(ingestion_batches.c.batch_id), Batch)

    def rejected_rows(self, *, batch_id: int | None, reason_code: str | None, status: str | None, limit: int,
                      offset: int) -> Page[RejectedRow]:
        """Rejected rows (content pseudonymised at ingestion), by batch and row number."""
        query = (select(*_columns(rejected_rows, RejectedRow))
                 .where(*_equal([(rejected_rows.c.batch_id, batch_id), (rejected_rows.c.reason_code, reason_code),
                                 (rejected_rows.c.status, status)]))
                 .order_by(rejected_rows.c.batch_id, rejected_rows.c.row_number))
        return self._page(query, RejectedRow, limit, offset)

    def rejections_by_reason(self, batch_ids: Sequence[int]) -> list[RejectionCount]:
        """Rejected rows of these batches counted by batch and reason code."""
        if not batch_ids:
            return []
        rows = self._conn.execute(
            select(rejected_rows.c.batch_id, rejected_rows.c.reason_code, func.count().label("count"))
            .where(rejected_rows.c.batch_id.in_(list(batch_ids)))
            .group_by(rejected_rows.c.batch_id, rejected_rows.c.reason_code)
            .order_by(rejected_rows.c.batch_id, rejected_rows.c.reason_code))
        return [RejectionCount(batch_id=int(r.batch_id), reason_code=r.reason_code, count=int(r.count)) for r in rows]

    # audit -----------------------------------------------------------------------------------------
    def audit_records(self, *, action: str | None, entity: str | None, entity_id: str | None, actor: str | None,
                      since: datetime | None, limit: int, offset: int) -> Page[AuditRecord]:
        """Audit records, newest first."""
        conditions = _equal([(audit_log.c.action, action), (audit_log.c.entity, entity),
                             (audit_log.c.entity_id, entity_id), (audit_log.c.actor, actor)])
        if since is not None:
            conditions.append(audit_log.c.at >= since)
        query = select(*_columns(audit_log, AuditRecord)).where(*conditions).order_by(audit_log.c.seq.desc())
        return self._page(query, AuditRecord, limit, offset)
