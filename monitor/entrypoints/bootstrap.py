"""Composition root: settings -> engine -> unit of work, clock, hasher, renderers.

Entry points (CLI, demo, later the API, scheduler and dashboard) build one
:class:`App` here and call services with its parts; nothing else constructs
adapters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import Any, Callable

from sqlalchemy import Engine

from monitor.adapters.audit_key import key_source_for
from monitor.adapters.db.backup import PostgresBackup, SqliteBackup, database_backup
from monitor.adapters.db.engine import check_schema, make_engine, require_existing
from monitor.adapters.db.unit_of_work import unit_of_work_factory
from monitor.adapters.files.readers import LogFile, open_log
from monitor.adapters.rendering.html import render_html
from monitor.adapters.rendering.report import ReportRenderer
from monitor.domain.privacy import PatientHasher, make_patient_hasher
from monitor.errors import InputError, MissingSecretError
from monitor.service.actors import acting_user
from monitor.service.cell_engines import CellEngine, DatabaseCellEngine, SummaryCellEngine
from monitor.service.ports import Clock, UnitOfWorkFactory
from monitor.settings import DEMO_PATIENT_ID_KEY, Settings

__all__ = ["App", "SimulatedClock", "bootstrap", "simulated_clock", "utc_now"]


def utc_now() -> datetime:
    """The system clock, timezone-aware UTC, truncated to microseconds."""
    return datetime.now(timezone.utc)


class SimulatedClock:
    """A clock that starts at ``start``, advances one millisecond per reading and can be moved forward.

    The demo and the scenarios use it so that their world is consistent: data arrive and are analysed
    at the simulated dates (:meth:`advance_to`), not at the real date on which someone runs them.
    """

    def __init__(self, start: datetime) -> None:
        self._now = start.astimezone(timezone.utc)

    def __call__(self) -> datetime:
        self._now += timedelta(milliseconds=1)
        return self._now

    def advance_to(self, moment: datetime) -> None:
        """Move the clock to ``moment`` (never back)."""
        self._now = max(self._now, moment.astimezone(timezone.utc))


def simulated_clock(start: datetime) -> SimulatedClock:
    """A :class:`SimulatedClock` starting at ``start``."""
    return SimulatedClock(start)


@dataclass
class App:
    """The wired application."""

    settings: Settings
    engine: Engine
    uow: UnitOfWorkFactory
    clock: Clock
    open_log: Callable[[Path], LogFile]
    render_html: Callable[[dict[str, Any]], str]
    report_renderer: ReportRenderer = field(default_factory=ReportRenderer)
    demo: bool = False

    def patient_hasher(self) -> PatientHasher:
        """The keyed patient-id hash (the demo key only in demo mode)."""
        key = DEMO_PATIENT_ID_KEY if self.demo and not self.settings.patient_id_key else self.settings.patient_id_key
        return make_patient_hasher(key)

    def patient_hasher_if_configured(self) -> PatientHasher | None:
        """The keyed hash when its key is set (ground truth needs it only for rows given by accession
        number), else ``None``."""
        try:
            return self.patient_hasher()
        except MissingSecretError:
            return None

    def cell_engine(self, name: str = "database", **inputs: Any) -> CellEngine:
        """The cell engine ``name`` on this application's database (:func:`cell_engine`)."""
        return cell_engine(name, uow=self.uow, **inputs)

    @property
    def actor(self) -> str:
        """The named user acting through this application (``--user`` / ``MONITOR_USER``), checked against the
        database's users; :class:`InputError` when none is named or it is unknown or disabled
        (:func:`monitor.service.actors.acting_user`)."""
        return acting_user(self.uow, self.settings.user)

    def database_backup(self) -> SqliteBackup | PostgresBackup:
        """The backup adapter of this application's database (SQLite backup API or pg_dump)."""
        return database_backup(self.engine)


#: The engines that count confusion cells (docs/engines.md), chosen here, in the composition root.
CELL_ENGINES = ("database", "summaries", "arrow", "spark")


def cell_engine(name: str, *, uow: UnitOfWorkFactory | None = None, **inputs: Any) -> CellEngine:
    """The cell engine called ``name`` (:class:`monitor.service.cell_engines.CellEngine`).

    ``database`` (also ``sqlite``, ``postgresql``) and ``summaries`` count what ``uow``'s database holds;
    ``arrow`` and ``spark`` count Parquet logs in a data lake: ``predictions=`` and ``ground_truth=`` (paths or
    URLs), and for ``spark`` optionally ``spark=`` (a session; default a local one started at the first count).
    """
    key = "database" if name in ("sqlite", "postgresql") else name
    if key in ("database", "summaries"):
        if uow is None:
            raise InputError(f"the {key} cell engine needs a database")
        return DatabaseCellEngine(uow) if key == "database" else SummaryCellEngine(uow)
    if key == "arrow":
        from monitor.adapters.arrow.cells import ArrowCellEngine

        return ArrowCellEngine(inputs["predictions"], inputs["ground_truth"])
    if key == "spark":
        from monitor.adapters.spark.cells import SparkCellEngine

        return SparkCellEngine(inputs["predictions"], inputs["ground_truth"], inputs.get("spark"))
    raise InputError(f"no cell engine {name!r}: use one of {', '.join(CELL_ENGINES)}")


def bootstrap(settings: Settings, *, require_schema: bool = True, require_database: bool = False,
              demo: bool = False, clock: Clock = utc_now) -> App:
    """Wire the application for ``settings``; by default refuse an un-migrated database (and a missing SQLite
    file, which is then never created: docs/configuration.md). ``require_database`` (with
    ``require_schema=False``): any schema will do, but a missing SQLite file is refused, not created."""
    engine = make_engine(settings.database_url, create=not (require_schema or require_database))
    if require_schema:
        check_schema(engine)
    elif require_database:
        require_existing(engine)
    if settings.user and require_schema:  # a named user acts: checked now (App.actor checks it again when it acts)
        acting_user(unit_of_work_factory(engine), settings.user)
    audit_keys = key_source_for(settings.database_url, settings.audit_key_file)  # the audit key: outside the database
    return App(settings=settings, engine=engine, uow=unit_of_work_factory(engine, audit_keys), clock=clock,
               open_log=partial(open_log), render_html=render_html, demo=demo)
