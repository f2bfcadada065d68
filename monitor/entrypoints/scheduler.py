"""The service's scheduler: APScheduler 3 ``BackgroundScheduler`` with its job store in the monitor's database.

Jobs are module-level functions referenced by name (``monitor.entrypoints.scheduler:drop_folder_job``),
so the persisted job store holds no pickled application state; they run against the application
given to :func:`start_scheduler` in this process. Every job body runs under
:func:`monitor.service.jobs.run_job` (lease, run record, completion mark), which is what makes a
restart, a misfire or a second server on the same database harmless. See ``docs/service.md``.

=====================  ==============================================  =================================
job id                 what                                            when (UTC)
=====================  ==============================================  =================================
``drop-folder``        ingest complete files of ``MONITOR_DROP_DIR``   every ``MONITOR_DROP_INTERVAL_SECONDS``
``nightly-analysis``   analyse each device's open period               daily at ``MONITOR_NIGHTLY_AT``
``periodic-reports``   analyse and report each due closed period       30 min after the nightly analysis
``ticket-webhooks``    deliver queued ticket events (with retries)     every ``MONITOR_WEBHOOK_INTERVAL_SECONDS``
``housekeeping``       prune job records, expired leases, old done/    60 min after the nightly analysis
=====================  ==============================================  =================================
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_PAUSED, STATE_RUNNING
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from monitor.adapters.files.drop_folder import LocalDropFiles
from monitor.adapters.notifications.webhook import webhook_poster
from monitor.entrypoints.bootstrap import App
from monitor.errors import ConfigError
from monitor.service.drop_folder import DropWatcher
from monitor.service.jobs import run_job
from monitor.service.report import write_report
from monitor.service.scheduled import housekeeping, nightly_analysis, periodic_reports
from monitor.service.webhook import deliver_pending

__all__ = [
    "ACTOR",
    "JOBSTORE_TABLE",
    "JOB_IDS",
    "drop_folder_job",
    "housekeeping_job",
    "nightly_analysis_job",
    "periodic_reports_job",
    "scheduler_problem",
    "start_scheduler",
    "stop_scheduler",
    "webhook_job",
]

#: The audit log's actor for everything the scheduler does.
ACTOR = "system:scheduler"
#: APScheduler's own table in the monitor's database (ignored by ``alembic check``).
JOBSTORE_TABLE = "apscheduler_jobs"
JOB_IDS = ("drop-folder", "nightly-analysis", "periodic-reports", "ticket-webhooks", "housekeeping")
log = logging.getLogger("monitor.scheduler")


@dataclass
class _Context:
    app: App
    host: str
    watcher: DropWatcher | None


_context: _Context | None = None


def _current() -> _Context:
    if _context is None:
        raise RuntimeError("no scheduler was started in this process (start_scheduler)")
    return _context


# --- job functions (module level: the job store keeps only their names) -----------------------------

def drop_folder_job() -> dict[str, Any]:
    """Ingest the complete files of the drop folder."""
    ctx = _current()
    if ctx.watcher is None:
        return {}
    outcome = ctx.watcher.run(host=ctx.host, lease=ctx.app.settings.service.job_lease_seconds)
    return outcome.details


def nightly_analysis_job() -> list[dict[str, Any]]:
    """Analyse each device's open period (once per device and local day)."""
    ctx = _current()
    return nightly_analysis(uow=ctx.app.uow, clock=ctx.app.clock, host=ctx.host, actor=ACTOR,
                            lease=ctx.app.settings.service.job_lease_seconds)


def _write_report(device_id: str, period: str, run_id: str) -> Any:
    """Write the report of the analysis run ``run_id`` that the periodic-report job has just made."""
    app = _current().app
    service = app.settings.service
    return write_report(device_id, period, formats=service.report_formats, languages=service.report_languages,
                        out_dir=app.settings.data_dir / "reports", uow=app.uow, clock=app.clock, actor=ACTOR,
                        renderer=app.report_renderer, run_id=run_id)


def periodic_reports_job() -> list[dict[str, Any]]:
    """Analyse and report each device's latest due period (once per device and period)."""
    ctx = _current()
    service = ctx.app.settings.service
    return periodic_reports(uow=ctx.app.uow, clock=ctx.app.clock, host=ctx.host, actor=ACTOR, write=_write_report,
                            grace_days=service.report_grace_days, lease=service.job_lease_seconds)


def webhook_job() -> dict[str, Any]:
    """Deliver due ticket events to the ticket webhook (failed ones back off and retry)."""
    ctx = _current()
    settings = ctx.app.settings
    if not settings.ticket_webhook_url:
        return {}
    post = webhook_poster(settings.ticket_webhook_url, secret=settings.ticket_webhook_secret)

    def body() -> dict[str, Any]:
        summary = deliver_pending(ctx.app.uow, post=post, clock=ctx.app.clock)
        return {"delivered": summary.delivered, "failed": {str(k): v for k, v in summary.failed.items()}}

    return run_job("ticket-webhooks", "ticket-webhooks", body, uow=ctx.app.uow, clock=ctx.app.clock, host=ctx.host,
                   lease=settings.service.job_lease_seconds).details


def housekeeping_job() -> dict[str, Any]:
    """Prune old job records, expired leases and old drop-folder ``done/`` files."""
    ctx = _current()
    service = ctx.app.settings.service

    def body() -> dict[str, Any]:
        return housekeeping(uow=ctx.app.uow, clock=ctx.app.clock, runs_retention_days=service.job_runs_retention_days,
                            drop_dir=service.drop_dir, done_retention_days=service.drop_done_retention_days,
                            drop_files=LocalDropFiles())

    return run_job("housekeeping", "housekeeping", body, uow=ctx.app.uow, clock=ctx.app.clock, host=ctx.host,
                   lease=service.job_lease_seconds).details


# --- the scheduler ------------------------------------------------------------------------------------

def _daily(at: str, *, minutes_later: int) -> CronTrigger:
    moment = datetime.strptime(at, "%H:%M") + timedelta(minutes=minutes_later)
    return CronTrigger(hour=moment.hour, minute=moment.minute, timezone=timezone.utc)


def _triggers(app: App) -> dict[str, Any]:
    """The trigger of every job this configuration runs."""
    service = app.settings.service
    triggers: dict[str, Any] = {
        "nightly-analysis": _daily(service.nightly_at, minutes_later=0),
        "periodic-reports": _daily(service.nightly_at, minutes_later=30),
        "housekeeping": _daily(service.nightly_at, minutes_later=60),
    }
    if service.drop_dir is not None:
        triggers["drop-folder"] = IntervalTrigger(seconds=service.drop_interval_seconds, timezone=timezone.utc)
    if app.settings.ticket_webhook_url:
        triggers["ticket-webhooks"] = IntervalTrigger(seconds=service.webhook_interval_seconds, timezone=timezone.utc)
    return triggers


def start_scheduler(app: App) -> BackgroundScheduler:
    """Start the scheduler for ``app`` (job store: table ``apscheduler_jobs`` of the monitor's database)."""
    global _context
    service = app.settings.service
    if service.drop_dir is not None and not service.drop_dir.is_dir():
        raise ConfigError(f"MONITOR_DROP_DIR={service.drop_dir}: no such folder")
    watcher = None if service.drop_dir is None else DropWatcher(
        service.drop_dir, uow=app.uow, open_log=app.open_log, hasher=app.patient_hasher, clock=app.clock,
        actor="system:drop-folder", files=LocalDropFiles())
    _context = _Context(app=app, host=socket.gethostname(), watcher=watcher)
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=app.engine, tablename=JOBSTORE_TABLE)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": service.misfire_grace_seconds},
        timezone=timezone.utc,
    )
    scheduler.start(paused=True)
    triggers = _triggers(app)
    functions = {"drop-folder": drop_folder_job, "nightly-analysis": nightly_analysis_job,
                 "periodic-reports": periodic_reports_job, "ticket-webhooks": webhook_job,
                 "housekeeping": housekeeping_job}
    for job_id in JOB_IDS:
        if job_id in triggers:
            scheduler.add_job(f"{__name__}:{functions[job_id].__name__}", triggers[job_id], id=job_id,
                              name=job_id, replace_existing=True)
        else:
            try:
                scheduler.remove_job(job_id)  # configured away since the job store last saw it
            except JobLookupError:
                pass
    scheduler.resume()
    log.info("scheduler started", extra={"jobs": sorted(triggers), "host": _context.host})
    return scheduler


def scheduler_problem(scheduler: BackgroundScheduler) -> str | None:
    """``None`` while ``scheduler`` runs its jobs; otherwise why it does not (stopped, paused, or its thread
    has died: an unexpected error in APScheduler's loop ends the thread but leaves the state "running")."""
    if scheduler.state == STATE_PAUSED:
        return "the scheduler is paused"
    if scheduler.state != STATE_RUNNING:
        return "the scheduler is stopped"
    thread = getattr(scheduler, "_thread", None)  # BackgroundScheduler's loop thread
    if thread is None or not thread.is_alive():
        return "the scheduler's thread has died"
    return None


def stop_scheduler(scheduler: BackgroundScheduler) -> None:
    """Stop taking new jobs, wait for running ones to finish, and forget the application."""
    global _context
    if scheduler.running:
        scheduler.shutdown(wait=True)
    _context = None
    log.info("scheduler stopped")
