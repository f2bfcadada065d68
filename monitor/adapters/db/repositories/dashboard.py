"""Read-only queries of the dashboard: stored runs, stratum results, findings, ticket counts, report files.

Nothing here computes statistics: every number comes from what an analysis run stored. The same
SQLAlchemy Core queries run on SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any, Sequence

from sqlalchemy import Connection, func, select

from monitor.adapters.db.tables import (
    analysis_runs,
    devices,
    findings,
    reports,
    stratum_results,
    tickets,
)

__all__ = ["DashboardRepository"]

_RUN_COLUMNS = [c for c in analysis_runs.c if c.name != "document"]


class DashboardRepository:
    """Queries behind the dashboard's pages."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def newest_run_id(self) -> str | None:
        """Id of the most recently created analysis run of any device (the dashboard's cache key)."""
        return self._conn.execute(select(analysis_runs.c.run_id).order_by(
            analysis_runs.c.created_at.desc(), analysis_runs.c.run_id.desc()).limit(1)).scalar()

    def devices(self) -> list[dict[str, Any]]:
        """Registered devices with their configuration."""
        rows = self._conn.execute(select(devices.c.device_id, devices.c.name, devices.c.config)
                                  .order_by(devices.c.device_id))
        return [dict(r._mapping) for r in rows]

    def latest_runs(self, device_id: str) -> list[dict[str, Any]]:
        """The newest run of each analysed period of a device (without documents), oldest period first."""
        rows = self._conn.execute(select(*_RUN_COLUMNS).where(analysis_runs.c.device_id == device_id)
                                  .order_by(analysis_runs.c.period_start, analysis_runs.c.created_at,
                                            analysis_runs.c.run_id))
        newest: dict[str, dict[str, Any]] = {}
        for row in rows:
            newest[row.period] = dict(row._mapping)
        return list(newest.values())

    def document(self, run_id: str) -> dict[str, Any]:
        """The stored analysis document of a run."""
        return dict(self._conn.execute(select(analysis_runs.c.document)
                                       .where(analysis_runs.c.run_id == run_id)).scalar_one())

    def stratum_results(self, run_ids: Sequence[str], *, metric: str | None = None,
                        stratum: str | None = None, level: int | None = None) -> list[dict[str, Any]]:
        """Stored stratum results of the given runs, optionally of one metric, stratum or level."""
        if not run_ids:
            return []
        query = select(stratum_results).where(stratum_results.c.run_id.in_(list(run_ids)))
        if metric is not None:
            query = query.where(stratum_results.c.metric == metric)
        if stratum is not None:
            query = query.where(stratum_results.c.stratum == stratum)
        if level is not None:
            query = query.where(stratum_results.c.level == level)
        return [dict(r._mapping) for r in self._conn.execute(query.order_by(stratum_results.c.id))]

    def findings(self, run_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Findings of the given runs, oldest first."""
        if not run_ids:
            return []
        query = (select(findings).where(findings.c.run_id.in_(list(run_ids)))
                 .order_by(findings.c.created_at, findings.c.finding_id))
        return [dict(r._mapping) for r in self._conn.execute(query)]

    def ticket_counts(self, device_id: str) -> dict[str, int]:
        """Number of tickets of a device by status."""
        rows = self._conn.execute(select(tickets.c.status, func.count()).where(tickets.c.device_id == device_id)
                                  .group_by(tickets.c.status))
        return {status: int(n) for status, n in rows}

    def report_files(self, device_id: str) -> list[dict[str, Any]]:
        """Report files recorded for a device, newest first."""
        query = (select(reports).where(reports.c.device_id == device_id)
                 .order_by(reports.c.created_at.desc(), reports.c.id.desc()))
        return [dict(r._mapping) for r in self._conn.execute(query)]
