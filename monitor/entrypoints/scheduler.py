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

Faults (tests/reliability/test_scheduler_faults.py): a job that finds the database down
(:class:`~monitor.errors.StorageError`) is retried every :data:`RETRY_SECONDS` from an in-memory job
store (which needs no database) until it runs or the misfire grace since the first failure has
passed; an error of the job store itself (the database failing while APScheduler updates a job)
is logged and retried, never ending the scheduler's thread; and the scheduler's loop never sleeps
longer than :data:`MAX_WAIT_SECONDS`, so that a wall-clock jump is noticed within that time (APScheduler
3 sleeps on a monotonic timeout computed from the wall clock: after a forward jump it would wake
late, past the misfire grace, and miss the run). A jump back never runs a job twice: the next
fire time is kept in the job store, and the once-per-day and once-per-period keys of
:mod:`monitor.service.scheduled` skip a repeat; a next run time that a jump back left more than one
period ahead is brought forward (an interval job such as the drop folder would otherwise wait for
as long as the jump).
"""

from __future__ import annotations

import functools
import logging
import socket
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers import base as _aps_base
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_PAUSED, STATE_RUNNING
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from monitor.adapters.audit_key import write_checkpoint
from monitor.adapters.files.drop_folder import LocalDropFiles
from monitor.adapters.notifications.webhook import webhook_poster
from monitor.entrypoints.bootstrap import App
from monitor.errors import ConfigError, StorageError
from monitor.service.actors import service_account
from monitor.service.audit import take_checkpoint
from monitor.service.drop_folder import DropWatcher
from monitor.service.jobs import run_job
from monitor.service.report import write_report
from monitor.service.scheduled import housekeeping, nightly_analysis, periodic_reports
from monitor.service.webhook import deliver_pending

__all__ = [
    "ACTOR",
    "JOBSTORE_TABLE",
    "JOB_IDS",
    "MAX_WAIT_SECONDS",
    "RETRY_SECONDS",
    "audit_checkpoint_job",
    "drop_folder_job",
    "housekeeping_job",
    "nightly_analysis_job",
    "periodic_reports_job",
    "register_service_accounts",
    "scheduler_problem",
    "start_scheduler",
    "stop_scheduler",
    "webhook_job",
    "write_audit_checkpoint",
]

#: The audit log's actor for everything the scheduler does: a named service account (monitor.service.actors).
ACTOR = "service:scheduler"
#: The drop folder's service account.
DROP_ACTOR = "service:drop-folder"
#: APScheduler's own table in the monitor's database (ignored by ``alembic check``).
JOBSTORE_TABLE = "apscheduler_jobs"
JOB_IDS = ("drop-folder", "nightly-analysis", "periodic-reports", "ticket-webhooks", "housekeeping", "audit-checkpoint")
#: Seconds between the retries of a job that found the database down (within the misfire grace).
RETRY_SECONDS = 60.0
#: The scheduler's loop wakes at least this often, to notice a jump of the wall clock.
MAX_WAIT_SECONDS = 30.0
#: A wall clock that went back by more than this (against the monotonic clock) is a jump back.
JUMP_BACK_SECONDS = 5.0
RETRY_STORE = "retries"
log = logging.getLogger("monitor.scheduler")


@dataclass
class _Context:
    app: App
    host: str
    watcher: DropWatcher | None
    scheduler: BackgroundScheduler | None = None
    failing_since: dict[str, datetime] = field(default_factory=dict)


_context: _Context | None = None


def _current() -> _Context:
    if _context is None:
        raise RuntimeError("no scheduler was started in this process (start_scheduler)")
    return _context


def _retry_later(job_id: str, function: Callable[[], Any], error: StorageError) -> None:
    """Run ``job_id`` again in :data:`RETRY_SECONDS`, until the misfire grace since its first failure is over."""
    ctx = _current()
    now = datetime.now(timezone.utc)
    first = ctx.failing_since.setdefault(job_id, now)
    grace = ctx.app.settings.service.misfire_grace_seconds
    if ctx.scheduler is None or (now - first).total_seconds() + RETRY_SECONDS > grace:
        ctx.failing_since.pop(job_id, None)
        log.error("job not retried: the database is still unavailable; it runs at its next fire time",
                  extra={"job": job_id, "error": str(error)})
        return
    ctx.scheduler.add_job(function, DateTrigger(run_date=now + timedelta(seconds=RETRY_SECONDS), timezone=timezone.utc),
                          id=f"{job_id}:retry", name=f"{job_id}:retry", jobstore=RETRY_STORE, replace_existing=True,
                          misfire_grace_time=grace)
    log.warning("job to be retried: the database is unavailable",
                extra={"job": job_id, "retry_in_seconds": RETRY_SECONDS, "error": str(error)})


def _retried(job_id: str) -> Callable[[Callable[[], Any]], Callable[[], Any]]:
    """A job function that, when the database is down (:class:`StorageError`), is retried (:func:`_retry_later`)."""
    def wrap(function: Callable[[], Any]) -> Callable[[], Any]:
        @functools.wraps(function)
        def job() -> Any:
            try:
                result = function()
            except StorageError as exc:
                _retry_later(job_id, job, exc)
                raise
            if _context is not None:
                _context.failing_since.pop(job_id, None)
            return result
        return job
    return wrap


class _SturdyScheduler(BackgroundScheduler):
    """A ``BackgroundScheduler`` whose loop survives job store errors, wakes at least every
    :data:`MAX_WAIT_SECONDS` (APScheduler 3 lets an error of ``update_job`` end its thread) and, after the
    wall clock went back, brings forward a job whose stored next run lies more than one period ahead
    (without that, an interval job such as the drop folder would stall for as long as the jump)."""

    _last_look: tuple[datetime, float] | None = None

    def _realign_after_a_jump_back(self) -> None:
        now = _aps_base.datetime.now(self.timezone)  # the wall clock as APScheduler reads it
        monotonic = time.monotonic()
        last, self._last_look = self._last_look, (now, monotonic)
        if last is None or (now - last[0]).total_seconds() - (monotonic - last[1]) > -JUMP_BACK_SECONDS:
            return
        log.warning("the wall clock went back; realigning the jobs' next run times",
                    extra={"seconds": round((monotonic - last[1]) - (now - last[0]).total_seconds(), 3)})
        for job in self.get_jobs():
            fresh = job.trigger.get_next_fire_time(None, now)
            if job.next_run_time is None or fresh is None:
                continue
            after = job.trigger.get_next_fire_time(fresh, fresh + timedelta(seconds=1))
            period = after - fresh if after is not None else timedelta(0)
            # An interval trigger counts from its start date, which the jump has also put in the future.
            target = fresh if fresh - now <= period else now + period
            if job.next_run_time > target + period + timedelta(seconds=1):  # a run already done is not repeated
                job.modify(next_run_time=target)

    def _process_jobs(self) -> float | None:
        try:
            if self.state == STATE_RUNNING:
                self._realign_after_a_jump_back()
            wait = super()._process_jobs()
        except Exception:  # noqa: BLE001 - the database failing under the job store: retry, never die
            log.exception("scheduler could not process its jobs; retrying")
            return min(float(self.jobstore_retry_interval), MAX_WAIT_SECONDS)
        return wait if wait is None else min(wait, MAX_WAIT_SECONDS)  # None: paused, or no job at all


# --- job functions (module level: the job store keeps only their names) -----------------------------

def drop_folder_job() -> dict[str, Any]:
    """Ingest the complete files of the drop folder."""
    ctx = _current()
    if ctx.watcher is None:
        return {}
    outcome = ctx.watcher.run(host=ctx.host, lease=ctx.app.settings.service.job_lease_seconds)
    return outcome.details


@_retried("nightly-analysis")
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
                        renderer=app.report_renderer, run_id=run_id, reason=f"scheduled re-analysis of {period}")


@_retried("periodic-reports")
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


@_retried("housekeeping")
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


def write_audit_checkpoint(app: App) -> Path:
    """Write the audit chain's authenticated head (:func:`monitor.service.audit.take_checkpoint`: the chain is
    verified first) to ``<data dir>/audit-checkpoints/checkpoint-<seq>.json``, outside the database: the periodic
    checkpoint of docs/audit.md (copy the folder to storage the database's administrators cannot write). The
    same head again is not written twice; the file of an earlier head is never overwritten."""
    checkpoint = take_checkpoint(uow=app.uow)
    path = app.settings.data_dir / "audit-checkpoints" / f"checkpoint-{checkpoint.seq:012d}.json"
    return path if path.exists() else write_checkpoint(checkpoint, path)


def audit_checkpoint_job() -> dict[str, Any]:
    """The daily audit checkpoint (:func:`write_audit_checkpoint`); a chain that fails verification fails the job
    (``/ready`` and the job records show it) and gets no checkpoint."""
    ctx = _current()
    service = ctx.app.settings.service
    return run_job("audit-checkpoint", "audit-checkpoint",
                   lambda: {"checkpoint": str(write_audit_checkpoint(ctx.app))}, uow=ctx.app.uow,
                   clock=ctx.app.clock, host=ctx.host, lease=service.job_lease_seconds).details


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
        "audit-checkpoint": _daily(service.nightly_at, minutes_later=90),
    }
    if service.drop_dir is not None:
        triggers["drop-folder"] = IntervalTrigger(seconds=service.drop_interval_seconds, timezone=timezone.utc)
    if app.settings.ticket_webhook_url:
        triggers["ticket-webhooks"] = IntervalTrigger(seconds=service.webhook_interval_seconds, timezone=timezone.utc)
    return triggers


def register_service_accounts(app: App) -> None:
    """Register the scheduler's and the drop folder's named service accounts (:data:`ACTOR`,
    :data:`DROP_ACTOR`) when they are not users yet, audited (``samd-monitor serve`` does, before
    :func:`start_scheduler`): their audit records then name users of the system."""
    for account in (ACTOR, DROP_ACTOR):
        service_account(app.uow, account, clock=app.clock)


def start_scheduler(app: App) -> BackgroundScheduler:
    """Start the scheduler for ``app`` (job store: table ``apscheduler_jobs`` of the monitor's database)."""
    global _context
    service = app.settings.service
    if service.drop_dir is not None and not service.drop_dir.is_dir():
        raise ConfigError(f"MONITOR_DROP_DIR={service.drop_dir}: no such folder")
    watcher = None if service.drop_dir is None else DropWatcher(
        service.drop_dir, uow=app.uow, open_log=app.open_log, hasher=app.patient_hasher, clock=app.clock,
        actor=DROP_ACTOR, files=LocalDropFiles())
    _context = _Context(app=app, host=socket.gethostname(), watcher=watcher)
    scheduler = _SturdyScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=app.engine, tablename=JOBSTORE_TABLE),
                   RETRY_STORE: MemoryJobStore()},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": service.misfire_grace_seconds},
        timezone=timezone.utc,
    )
    _context.scheduler = scheduler
    scheduler.start(paused=True)
    triggers = _triggers(app)
    functions = {"drop-folder": drop_folder_job, "nightly-analysis": nightly_analysis_job,
                 "periodic-reports": periodic_reports_job, "ticket-webhooks": webhook_job,
                 "housekeeping": housekeeping_job, "audit-checkpoint": audit_checkpoint_job}
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
