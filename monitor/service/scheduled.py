"""The service's scheduled work, one function per job, each run under :func:`run_job`.

* :func:`nightly_analysis` analyses the open period of every device (key
  ``analysis:DEVICE:PERIOD:LOCAL-DATE``, once per device and local day). The analysis also
  brings the CUSUM / EWMA charts up to date: there is no separate chart job.
* :func:`periodic_reports` analyses and reports, for every device, the latest period whose
  label grace has passed (key ``report:DEVICE:PERIOD``, once ever), with the data cut-off fixed
  at the due moment (period end + grace) so that a late or repeated run reproduces it. The report
  presents the run this job made, by its id: an ad-hoc analysis of the same period that finishes
  in between is never reported in its place.
* :func:`housekeeping` prunes old job records, expired leases and old ``done/`` files;
  it never deletes evidence (logs, analysis runs, reports, tickets, the audit log).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Callable

from monitor.domain.device import DeviceConfig
from monitor.domain.periods import Period, resolve_timezone
from monitor.service.analyze import analyze_period
from monitor.service.drop_folder import prune_done
from monitor.service.jobs import DEFAULT_LEASE_SECONDS, JobOutcome, run_job
from monitor.service.ports import Clock, DropFiles, UnitOfWorkFactory

__all__ = ["due_report_period", "housekeeping", "nightly_analysis", "period_containing", "periodic_reports"]

#: ``write(device_id, period_label, run_id)`` writes the report of analysis run ``run_id``; returns its
#: report id and files (:class:`monitor.service.report.ReportFiles`).
ReportWriter = Callable[[str, str, str], Any]


def period_containing(kind: str, day: date) -> Period:
    """The quarter, month or year of ``kind`` that contains the local date ``day``."""
    labels = {"quarter": f"{day.year}Q{(day.month - 1) // 3 + 1}", "month": f"{day.year}-{day.month:02d}",
              "year": f"{day.year}"}
    return Period.parse(labels[kind])


def due_report_period(config: DeviceConfig, now: datetime, *, grace_days: int | None = None
                      ) -> tuple[Period, datetime] | None:
    """The latest period whose report is due at ``now`` and the moment it fell due (end + grace).

    ``grace_days`` overrides the device's ``monitoring.label_grace_days``.
    """
    rules = config.monitoring
    tz = resolve_timezone(rules.timezone)
    grace = timedelta(days=rules.label_grace_days if grace_days is None else grace_days)
    period = period_containing(rules.period, now.astimezone(tz).date()).previous()
    for _ in range(64):  # a grace of many periods still ends; 64 periods is far beyond any real setting
        due = period.bounds_utc(tz)[1] + grace
        if due <= now:
            return period, due
        period = period.previous()
    return None


def _predictions_in(uow: UnitOfWorkFactory, device_id: str, period: Period, tz_name: str, cutoff: datetime) -> int:
    start, end = period.bounds_utc(resolve_timezone(tz_name))
    with uow() as unit:
        rows = unit.results.completeness(device_id, start=start, end=end, cutoff=cutoff)
    return sum(int(r["predictions"]) for r in rows)


def _summary(outcome: JobOutcome, **extra: Any) -> dict[str, Any]:
    return {"run_id": outcome.run_id, "outcome": outcome.outcome, "error": outcome.error, **extra}


def nightly_analysis(*, uow: UnitOfWorkFactory, clock: Clock, host: str, actor: str,
                     lease: float = DEFAULT_LEASE_SECONDS) -> list[dict[str, Any]]:
    """Analyse the open period of every device once per local day; return one summary per device."""
    with uow() as unit:
        configs = unit.devices.configs()
    done = []
    for device_id, config in sorted(configs.items()):
        now = clock()
        today = now.astimezone(resolve_timezone(config.monitoring.timezone)).date()
        period = period_containing(config.monitoring.period, today)
        if not _predictions_in(uow, device_id, period, config.monitoring.timezone, now):
            done.append({"device_id": device_id, "period": period.label, "outcome": "nothing to analyse"})
            continue

        def body(device_id: str = device_id, period: Period = period) -> dict[str, Any]:
            result = analyze_period(device_id, period, uow=uow, clock=clock, actor=actor)
            return {"device_id": device_id, "period": period.label, "analysis_run_id": result.run_id,
                    "flagged": result.document["summary"]["flagged"], "opened_tickets": result.opened_tickets,
                    "updated_tickets": result.updated_tickets}

        outcome = run_job("nightly-analysis", f"analysis:{device_id}:{period.label}:{today.isoformat()}", body,
                          uow=uow, clock=clock, host=host, once=True, lease=lease)
        done.append(_summary(outcome, device_id=device_id, period=period.label))
    return done


def _report_body(device_id: str, period: Period, due: datetime, *, uow: UnitOfWorkFactory, clock: Clock,
                 actor: str, write: ReportWriter) -> Callable[[], dict[str, Any]]:
    def body() -> dict[str, Any]:
        with uow() as unit:
            earlier = unit.jobs.reports_with_cutoff(device_id, period.label, due)
        if earlier:  # written by an attempt that died before marking completion: do not write a second one
            return {"device_id": device_id, "period": period.label, "report_id": earlier[0]["report_id"],
                    "analysis_run_id": earlier[0]["run_id"], "data_cutoff": due.isoformat(), "recovered": True,
                    "files": {r["format"]: {"path": r["path"], "sha256": r["sha256"]} for r in earlier}}
        analysis = analyze_period(device_id, period, uow=uow, clock=clock, actor=actor, cutoff=due)
        files = write(device_id, period.label, analysis.run_id)
        return {"device_id": device_id, "period": period.label, "report_id": files.report_id,
                "analysis_run_id": analysis.run_id, "data_cutoff": due.isoformat(),
                "opened_tickets": analysis.opened_tickets,
                "files": {k: {"path": str(p), "sha256": files.sha256[k]} for k, p in files.files.items()}}
    return body


def periodic_reports(*, uow: UnitOfWorkFactory, clock: Clock, host: str, actor: str, write: ReportWriter,
                     grace_days: int | None = None, lease: float = DEFAULT_LEASE_SECONDS) -> list[dict[str, Any]]:
    """Report, once, the latest due period of every device that has predictions in it."""
    with uow() as unit:
        configs = unit.devices.configs()
    done = []
    for device_id, config in sorted(configs.items()):
        due = due_report_period(config, clock(), grace_days=grace_days)
        if due is None:
            continue
        period, cutoff = due
        if not _predictions_in(uow, device_id, period, config.monitoring.timezone, cutoff):
            done.append({"device_id": device_id, "period": period.label, "outcome": "nothing to report"})
            continue
        body = _report_body(device_id, period, cutoff, uow=uow, clock=clock, actor=actor, write=write)
        outcome = run_job("periodic-report", f"report:{device_id}:{period.label}", body, uow=uow, clock=clock,
                          host=host, once=True, lease=lease)
        done.append(_summary(outcome, device_id=device_id, period=period.label,
                             report_id=outcome.details.get("report_id")))
    return done


def housekeeping(*, uow: UnitOfWorkFactory, clock: Clock, runs_retention_days: int, drop_dir: Path | None,
                 done_retention_days: int, drop_files: DropFiles | None = None) -> dict[str, Any]:
    """Prune job records older than the retention, expired leases and old ``done/`` files; return counts.

    ``drop_files`` (the drop folder's file operations) is needed when ``drop_dir`` is given.

    Completion marks are kept: they are what prevents a second report for a period.
    """
    now = clock()
    with uow() as unit:
        runs = unit.jobs.prune_runs(before=now - timedelta(days=runs_retention_days))
        locks = unit.jobs.prune_locks(now=now)
    if drop_dir is not None and drop_files is None:
        raise TypeError("housekeeping: drop_dir needs drop_files (the drop folder's file operations)")
    files = prune_done(drop_files, drop_dir, before=now - timedelta(days=done_retention_days)) \
        if drop_dir is not None and drop_files is not None else 0
    return {"job_runs_deleted": runs, "expired_locks_deleted": locks, "done_files_deleted": files}

