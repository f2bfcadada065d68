"""A unit of work: one transaction on one connection, repositories bound to it.

The unit of work is also where storage failures become :class:`~monitor.errors.StorageError`, whatever
path met them (:func:`monitor.adapters.db.engine.storage_error`): SQLAlchemy statements and the commit
(wrapped in ``DBAPIError``), the repositories' direct driver calls, which SQLAlchemy never sees (SQLite
``executemany``, PostgreSQL ``COPY``; raised as the driver's PEP 249 ``Error``), and an ``OSError`` of a
full or read-only file system.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from monitor.adapters.db.engine import storage_condition, storage_error
from monitor.adapters.db.repositories.access import AccessRepository
from monitor.adapters.db.repositories.aggregates import AggregateRepository
from monitor.adapters.audit_key import key_source_for
from monitor.adapters.db.repositories.audit import AuditKeySource, AuditRepository
from monitor.adapters.db.repositories.clinical import ClinicalRepository
from monitor.adapters.db.repositories.comparator import ComparatorRepository
from monitor.adapters.db.repositories.cusum_checkpoints import CusumCheckpointRepository
from monitor.adapters.db.repositories.devices import DeviceRepository
from monitor.adapters.db.repositories.drift_sample import DriftSampleRepository
from monitor.adapters.db.repositories.jobs import JobRepository
from monitor.adapters.db.repositories.label_arrival import LabelArrivalRepository
from monitor.adapters.db.repositories.case_stream import CaseStreamRepository
from monitor.adapters.db.repositories.cells import CellRepository
from monitor.adapters.db.repositories.lesions import LesionRepository
from monitor.adapters.db.repositories.logs import LogRepository
from monitor.adapters.db.repositories.low_confidence import LowConfidenceRepository
from monitor.adapters.db.repositories.month_aggregates import MonthAggregateRepository
from monitor.adapters.db.repositories.ordinal import OrdinalRepository
from monitor.adapters.db.repositories.patient_clusters import PatientClusterRepository
from monitor.adapters.db.repositories.queries import ReadRepository
from monitor.adapters.db.repositories.reports import ReportRepository
from monitor.adapters.db.repositories.results import ResultRepository
from monitor.adapters.db.repositories.review import ReviewRepository
from monitor.adapters.db.repositories.revisions import RevisionRepository
from monitor.adapters.db.repositories.safety_events import SafetyEventRepository
from monitor.adapters.db.repositories.summaries import SummaryRepository
from monitor.adapters.db.repositories.tickets import TicketRepository

__all__ = ["SqlUnitOfWork", "unit_of_work_factory"]


class SqlUnitOfWork:
    """Repositories sharing one connection inside one transaction."""

    def __init__(self, connection, audit_keys: AuditKeySource | None = None) -> None:  # type: ignore[no-untyped-def]
        self.connection = connection
        self.devices = DeviceRepository(connection)
        self.logs = LogRepository(connection)
        self.cells = CellRepository(connection)
        self.results = ResultRepository(connection)
        self.aggregates = AggregateRepository(connection)
        self.month_aggregates = MonthAggregateRepository(connection)  # the months' window aggregates
        self.case_stream = CaseStreamRepository(connection)  # the CUSUM charts' cases in known-at order
        self.cusum_checkpoints = CusumCheckpointRepository(connection)
        self.drift_samples = DriftSampleRepository(connection)
        self.clinical = ClinicalRepository(connection)
        self.comparator = ComparatorRepository(connection)  # the AI beside its comparator, paired counts
        self.tickets = TicketRepository(connection)
        self.reports = ReportRepository(connection)
        self.revisions = RevisionRepository(connection)
        self.jobs = JobRepository(connection)
        self.audit = AuditRepository(connection, audit_keys)  # keyed chain: the key is outside the database
        self.access = AccessRepository(connection)
        self.queries = ReadRepository(connection)  # the one read side (monitor.service.queries)
        self.summaries = SummaryRepository(connection)
        self.patient_clusters = PatientClusterRepository(connection)
        self.label_arrival = LabelArrivalRepository(connection)
        self.ordinal = OrdinalRepository(connection)  # the ordinal section's counts (issue 17)
        self.safety_events = SafetyEventRepository(connection)  # the complaints / adverse-event log
        self.lesions = LesionRepository(connection)  # lesion findings and reference lesions (issue 17)
        self.review = ReviewRepository(connection)  # the review log and the review worklist's cases
        self.low_confidence = LowConfidenceRepository(connection)  # the low-confidence section's counts


def unit_of_work_factory(engine: Engine, audit_keys: AuditKeySource | None = None):  # type: ignore[no-untyped-def]
    """Return a callable opening a :class:`SqlUnitOfWork` that commits on success, rolls back on error
    (``autocommit=True`` on PostgreSQL: each statement commits on its own, :class:`UnitOfWorkFactory`).

    ``audit_keys``: the audit chain's key (default: the database's default key file,
    :func:`monitor.adapters.audit_key.key_source_for`)."""
    audit_keys = audit_keys if audit_keys is not None else key_source_for(engine.url)

    where = engine.url.render_as_string(hide_password=True)
    driver_error: type[BaseException] = getattr(engine.dialect.dbapi, "Error", DBAPIError)

    postgresql = engine.dialect.name == "postgresql"

    @contextmanager
    def open_unit(*, autocommit: bool = False) -> Iterator[SqlUnitOfWork]:
        try:
            if autocommit and postgresql:  # SQLite's BEGIN and COMMIT cost no round trip: a transaction there
                with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                    yield SqlUnitOfWork(connection, audit_keys)
                return
            with engine.begin() as connection:
                yield SqlUnitOfWork(connection, audit_keys)
        except (SQLAlchemyError, driver_error) as exc:
            raise storage_error(exc, where) from exc
        except OSError as exc:
            if storage_condition(exc) is None:
                raise
            raise storage_error(exc, where) from exc

    return open_unit
