"""Scheduled-job bookkeeping: run records, leases and once-per-key completion marks.

A lease (``job_locks``) is taken by an insert that does nothing on conflict, or by stealing
an expired row with a conditional update; both are single statements, so two servers racing
for the same key cannot both win on SQLite (one writer at a time) or PostgreSQL (the losing
``UPDATE`` re-checks its ``WHERE`` on the committed row; the losing ``INSERT ... ON CONFLICT``
does nothing).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from monitor.adapters.db.tables import (
    analysis_runs,
    completed_jobs,
    job_locks,
    job_runs,
    reports,
)

__all__ = ["JobRepository"]


class JobRepository:
    """Leases, run records and completion marks of scheduled jobs."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    # --- leases ------------------------------------------------------------------------------
    def acquire(self, key: str, *, holder: str, now: datetime, expires: datetime) -> bool:
        """Take the lease on ``key`` (new, or stolen when expired); True when ``holder`` now holds it."""
        stolen = self._conn.execute(
            update(job_locks)
            .where(job_locks.c.job_key == key, job_locks.c.expires_at <= now)
            .values(holder=holder, acquired_at=now, expires_at=expires))
        if stolen.rowcount == 1:
            return True
        dialect = postgresql if self._conn.dialect.name == "postgresql" else sqlite
        inserted = self._conn.execute(
            dialect.insert(job_locks).values(job_key=key, holder=holder, acquired_at=now, expires_at=expires)
            .on_conflict_do_nothing(index_elements=[job_locks.c.job_key])
            .returning(job_locks.c.job_key))  # rowcount is not reliable here on psycopg; RETURNING is
        return inserted.first() is not None

    def lease(self, key: str) -> dict[str, Any] | None:
        """The current lease row of ``key``, if any."""
        row = self._conn.execute(select(job_locks).where(job_locks.c.job_key == key)).first()
        return None if row is None else dict(row._mapping)

    def release(self, key: str, *, holder: str) -> None:
        """Give the lease back (only if ``holder`` still holds it)."""
        self._conn.execute(delete(job_locks).where(job_locks.c.job_key == key, job_locks.c.holder == holder))

    def prune_locks(self, *, now: datetime) -> int:
        """Delete expired leases; return how many."""
        return int(self._conn.execute(delete(job_locks).where(job_locks.c.expires_at <= now)).rowcount)

    # --- run records -------------------------------------------------------------------------
    def start_run(self, *, name: str, key: str, host: str, at: datetime, outcome: str = "running",
                  details: dict[str, Any] | None = None) -> int:
        """Record a run; return its id."""
        return int(self._conn.execute(job_runs.insert().values(
            job_name=name, job_key=key, host=host, started_at=at, outcome=outcome, details=details or {},
            finished_at=None if outcome == "running" else at,
        )).inserted_primary_key[0])

    def finish_run(self, run_id: int, *, outcome: str, at: datetime, details: dict[str, Any],
                   error: str | None = None) -> None:
        """Close a run record."""
        self._conn.execute(update(job_runs).where(job_runs.c.id == run_id).values(
            outcome=outcome, finished_at=at, details=details, error=error))

    def abandon_runs(self, key: str, *, at: datetime, reason: str) -> int:
        """Mark runs of ``key`` still 'running' as failed (their holder died; its lease expired)."""
        return int(self._conn.execute(
            update(job_runs).where(job_runs.c.job_key == key, job_runs.c.outcome == "running")
            .values(outcome="failed", finished_at=at, error=reason)).rowcount)

    def runs(self, *, key: str | None = None, name: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Run records, newest first."""
        query = select(job_runs).order_by(job_runs.c.id.desc()).limit(limit)
        if key is not None:
            query = query.where(job_runs.c.job_key == key)
        if name is not None:
            query = query.where(job_runs.c.job_name == name)
        return [dict(r._mapping) for r in self._conn.execute(query)]

    def prune_runs(self, *, before: datetime) -> int:
        """Delete finished run records that started before ``before``; return how many."""
        return int(self._conn.execute(delete(job_runs).where(
            job_runs.c.started_at < before, job_runs.c.outcome != "running")).rowcount)

    # --- completion marks --------------------------------------------------------------------
    def completion(self, key: str) -> dict[str, Any] | None:
        """The completion mark of a once-only job key, if it completed."""
        row = self._conn.execute(select(completed_jobs).where(completed_jobs.c.job_key == key)).first()
        return None if row is None else dict(row._mapping)

    def complete(self, key: str, *, run_id: int, at: datetime, result: dict[str, Any]) -> None:
        """Mark ``key`` done for good (a second mark violates the primary key)."""
        self._conn.execute(completed_jobs.insert().values(job_key=key, completed_at=at, run_id=run_id,
                                                          result=result))

    def completions(self, prefix: str = "") -> list[dict[str, Any]]:
        """Completion marks whose key starts with ``prefix``, oldest first."""
        query = select(completed_jobs).order_by(completed_jobs.c.completed_at)
        if prefix:
            query = query.where(completed_jobs.c.job_key.startswith(prefix, autoescape=True))
        return [dict(r._mapping) for r in self._conn.execute(query)]

    # --- the periodic report's recovery check ------------------------------------------------
    def reports_with_cutoff(self, device_id: str, period: str, cutoff: datetime) -> list[dict[str, Any]]:
        """Report files of ``device_id``/``period`` built from a run with data cut-off ``cutoff``.

        A periodic report job that wrote its report but died before marking itself complete finds
        its report here on the next attempt, and marks completion instead of writing a second one.
        """
        query = (select(reports.c.report_id, reports.c.run_id, reports.c.format, reports.c.path, reports.c.sha256)
                 .join(analysis_runs, analysis_runs.c.run_id == reports.c.run_id)
                 .where(reports.c.device_id == device_id, reports.c.period == period,
                        analysis_runs.c.data_cutoff == cutoff)
                 .order_by(reports.c.id))
        return [dict(r._mapping) for r in self._conn.execute(query)]
