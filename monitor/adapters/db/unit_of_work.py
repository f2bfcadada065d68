"""A unit of work: one transaction on one connection, repositories bound to it."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from monitor.adapters.db.repositories.access import AccessRepository
from monitor.adapters.db.repositories.aggregates import AggregateRepository
from monitor.adapters.db.repositories.audit import AuditRepository
from monitor.adapters.db.repositories.clinical import ClinicalRepository
from monitor.adapters.db.repositories.dashboard import DashboardRepository
from monitor.adapters.db.repositories.devices import DeviceRepository
from monitor.adapters.db.repositories.jobs import JobRepository
from monitor.adapters.db.repositories.cells import CellRepository
from monitor.adapters.db.repositories.logs import LogRepository
from monitor.adapters.db.repositories.queries import QueryRepository
from monitor.adapters.db.repositories.reports import ReportRepository
from monitor.adapters.db.repositories.results import ResultRepository
from monitor.adapters.db.repositories.revisions import RevisionRepository
from monitor.adapters.db.repositories.summaries import SummaryRepository
from monitor.adapters.db.repositories.tickets import TicketRepository
from monitor.errors import StorageError

__all__ = ["SqlUnitOfWork", "unit_of_work_factory"]


class SqlUnitOfWork:
    """Repositories sharing one connection inside one transaction."""

    def __init__(self, connection) -> None:  # type: ignore[no-untyped-def]
        self.connection = connection
        self.devices = DeviceRepository(connection)
        self.logs = LogRepository(connection)
        self.cells = CellRepository(connection)
        self.results = ResultRepository(connection)
        self.aggregates = AggregateRepository(connection)
        self.clinical = ClinicalRepository(connection)
        self.tickets = TicketRepository(connection)
        self.reports = ReportRepository(connection)
        self.revisions = RevisionRepository(connection)
        self.jobs = JobRepository(connection)
        self.audit = AuditRepository(connection)
        self.access = AccessRepository(connection)
        self.queries = QueryRepository(connection)
        self.dashboard = DashboardRepository(connection)
        self.summaries = SummaryRepository(connection)


def unit_of_work_factory(engine: Engine):  # type: ignore[no-untyped-def]
    """Return a callable opening a :class:`SqlUnitOfWork` that commits on success, rolls back on error."""

    @contextmanager
    def open_unit() -> Iterator[SqlUnitOfWork]:
        try:
            with engine.begin() as connection:
                yield SqlUnitOfWork(connection)
        except DBAPIError as exc:
            where = engine.url.render_as_string(hide_password=True)
            raise StorageError(f"database error on {where}: {str(exc.orig).strip().splitlines()[0]}") from exc
        except SQLAlchemyError as exc:
            cause = getattr(exc, "orig", None) or exc
            raise StorageError(f"database error: {str(cause).strip().splitlines()[0][:300]}") from exc

    return open_unit
