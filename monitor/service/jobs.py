"""Run a scheduled job at most once at a time, and once-per-period jobs at most once ever.

:func:`run_job` wraps a job body with three guarantees, all kept in the database so that they
hold across restarts, misfires and several servers sharing one database:

* **a run record** (``job_runs``): start, end, outcome (``running``, ``succeeded``, ``failed``,
  ``skipped``), the error message (one line for user errors; the stack goes to the log only)
  and the body's details;
* **a lease** (``job_locks``) on the job key for ``lease`` seconds: a second caller is skipped
  while the lease is held; a holder that died (killed process, power loss) leaves its lease,
  which the next caller steals once it has expired, marking the dead run ``failed``;
* **a completion mark** (``completed_jobs``, primary key = job key) for ``once=True`` jobs such
  as the periodic report ``report:DEVICE:2025Q3``: once marked, every later call is skipped.

The lease must outlast the body (default one hour); a body that may run longer needs a longer
lease, or a second server could start it while the first still runs.

When the database fails under a run (an outage at fire time, or while the run is being closed), the
:class:`~monitor.errors.StorageError` propagates so that the scheduler can retry; a lease left behind
by a run of *this* process that is no longer running (its record could not be closed) is taken over
at once by the next call instead of blocking the key until the lease expires.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable, Literal, Mapping

from monitor.errors import MonitorError, StorageError
from monitor.service.ports import Clock, UnitOfWorkFactory

__all__ = ["DEFAULT_LEASE_SECONDS", "JobOutcome", "add_job_listener", "run_job"]

DEFAULT_LEASE_SECONDS = 3600.0
Outcome = Literal["succeeded", "failed", "skipped"]
log = logging.getLogger("monitor.jobs")
#: Lease holders of the runs of this process that are still running (see :func:`_orphaned`).
_active: set[str] = set()
_active_lock = threading.Lock()
#: Tells this process from an earlier one with the same host name and process id (a restarted container).
_PROCESS = uuid.uuid4().hex[:8]
#: Called with the job name and outcome of every finished :func:`run_job` call (the service's metrics).
_listeners: list[Callable[[str, "JobOutcome"], None]] = []


@dataclass(frozen=True)
class JobOutcome:
    """What became of one call of :func:`run_job`."""

    run_id: int
    outcome: Outcome
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def add_job_listener(listener: Callable[[str, JobOutcome], None]) -> Callable[[], None]:
    """Call ``listener(name, outcome)`` after every :func:`run_job` of this process (its errors are logged,
    never raised into the job); returns the function that removes it again."""
    _listeners.append(listener)
    return lambda: _listeners.remove(listener) if listener in _listeners else None


def _notify(name: str, outcome: JobOutcome) -> None:
    for listener in list(_listeners):
        try:
            listener(name, outcome)
        except Exception:  # an observer never breaks a job
            log.exception("job listener failed", extra={"job": name})


def _holder(host: str) -> str:
    """A lease holder id unique to this call: host, process (id and token) and a random token."""
    return f"{host}:{os.getpid()}:{_PROCESS}-{uuid.uuid4().hex[:12]}"


def _orphaned(holder: str | None, host: str) -> bool:
    """Whether ``holder`` is a lease of this very process whose run is no longer running."""
    if not holder or not holder.startswith(f"{host}:{os.getpid()}:{_PROCESS}-"):
        return False
    with _active_lock:
        return holder not in _active


def _claim(name: str, key: str, *, uow: UnitOfWorkFactory, clock: Clock, host: str, holder: str,
           once: bool, lease: float) -> tuple[int, dict[str, Any] | None]:
    """Take the lease and open a run; return ``(run_id, None)``, or ``(run_id, reason)`` when skipped."""
    with uow() as unit:
        now = clock()  # the lease is written first: on SQLite a transaction must not read before it writes
        expires = now + timedelta(seconds=lease)
        acquired = unit.jobs.acquire(key, holder=holder, now=now, expires=expires)
        stale = None if acquired else (unit.jobs.lease(key) or {}).get("holder")
        if stale is not None and _orphaned(stale, host):
            unit.jobs.release(key, holder=stale)  # left by a run of ours whose end could not be recorded
            acquired = unit.jobs.acquire(key, holder=holder, now=now, expires=expires)
        if acquired:
            done = unit.jobs.completion(key) if once else None
            if done is None:
                # Holding the lease, any run of this key still marked running died with its (expired) lease.
                unit.jobs.abandon_runs(key, at=now, reason="abandoned: its process stopped and its lease expired")
                return unit.jobs.start_run(name=name, key=key, host=host, at=now,
                                           details={"holder": holder}), None
            unit.jobs.release(key, holder=holder)
            reason = {"reason": "already completed", "completed_at": done["completed_at"].isoformat(),
                      "completed_run_id": done["run_id"]}
        else:
            current = unit.jobs.lease(key) or {}
            reason = {"reason": "lease held by another run", "holder": current.get("holder"),
                      "expires_at": current["expires_at"].isoformat() if current else None}
        run_id = unit.jobs.start_run(name=name, key=key, host=host, at=now, outcome="skipped", details=reason)
    return run_id, reason


def run_job(
    name: str, key: str, fn: Callable[[], Mapping[str, Any] | None], *, uow: UnitOfWorkFactory, clock: Clock,
    host: str, once: bool = False, lease: float = DEFAULT_LEASE_SECONDS,
) -> JobOutcome:
    """Run ``fn`` under the lease of ``key``, recording the run; with ``once``, only until it succeeds once.

    ``fn`` returns JSON-able details (stored with the run and, for ``once`` jobs, as the completion
    mark's result). The body's errors never propagate: a :class:`MonitorError` is recorded by its
    message, any other exception by its type and message with the stack written to the log. A
    :class:`StorageError` while claiming or closing the run (the database itself) does propagate, for
    the scheduler to retry; a run whose close failed is left ``running``, its lease taken over by the
    next call in this process or, after it expires, by any other.
    """
    holder = _holder(host)
    with _active_lock:
        _active.add(holder)
    try:
        outcome = _run(name, key, fn, uow=uow, clock=clock, host=host, holder=holder, once=once, lease=lease)
        _notify(name, outcome)
        return outcome
    finally:
        with _active_lock:
            _active.discard(holder)


def _run(name: str, key: str, fn: Callable[[], Mapping[str, Any] | None], *, uow: UnitOfWorkFactory,
         clock: Clock, host: str, holder: str, once: bool, lease: float) -> JobOutcome:
    run_id, skipped = _claim(name, key, uow=uow, clock=clock, host=host, holder=holder, once=once, lease=lease)
    if skipped is not None:
        log.info("job skipped", extra={"job": name, "job_key": key, **skipped})
        return JobOutcome(run_id, "skipped", skipped)
    outcome: Outcome = "succeeded"
    details: dict[str, Any] = {}
    error: str | None = None
    try:
        details = dict(fn() or {})
    except MonitorError as exc:
        outcome, error = "failed", str(exc)
        log.warning("job failed", extra={"job": name, "job_key": key, "error": error})
    except Exception as exc:  # a bug or an outage: recorded, logged with its stack, the scheduler goes on
        outcome, error = "failed", f"{type(exc).__name__}: {exc}"
        log.exception("job crashed", extra={"job": name, "job_key": key})
    try:
        with uow() as unit:
            now = clock()
            unit.jobs.finish_run(run_id, outcome=outcome, at=now, details=details | {"holder": holder}, error=error)
            if once and outcome == "succeeded":
                done = unit.jobs.completion(key)
                if done is None:
                    unit.jobs.complete(key, run_id=run_id, at=now, result=details)
                else:  # a run that outlived its lease: another completed the key meanwhile; keep that mark
                    log.warning("job completed twice", extra={"job": name, "job_key": key, "run_id": run_id,
                                                              "completed_run_id": done["run_id"]})
            unit.jobs.release(key, holder=holder)
    except StorageError:
        log.exception("job ran but its end could not be recorded", extra={"job": name, "job_key": key,
                                                                          "outcome": outcome, "run_id": run_id})
        raise
    log.info("job finished", extra={"job": name, "job_key": key, "outcome": outcome, "run_id": run_id})
    return JobOutcome(run_id, outcome, details, error)
