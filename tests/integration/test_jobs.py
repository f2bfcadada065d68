"""Scheduled jobs on SQLite and PostgreSQL: leases, run records, once-only completion, the periodic report
at the quarter's due moment, a job killed mid-run, and two schedulers racing on one database."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from monitor.adapters.db.tables import completed_jobs, job_locks, job_runs, reports
from monitor.domain.periods import Period
from monitor.entrypoints.bootstrap import App, bootstrap
from monitor.errors import InputError
from monitor.service.analyze import analyze_period
from monitor.service.jobs import run_job
from monitor.service.report import write_report
from monitor.service.scheduled import (
    due_report_period,
    housekeeping,
    nightly_analysis,
    periodic_reports,
)
from monitor.synthetic import DemoScenario

ROOT = Path(__file__).resolve().parents[2]
UTC = timezone.utc
# One quarter of data, extracted before the due moment of its report (2025Q3 + 90 days' label grace).
SCENARIO = DemoScenario(seed=5, scale=0.01, quarters=("2025Q3",), drift_quarter=None,
                        as_of="2025-11-30T23:59:59+08:00")
INGESTED = datetime(2025, 12, 1, tzinfo=UTC)
Q3_DUE = datetime(2025, 9, 30, 16, tzinfo=UTC) + timedelta(days=90)  # 2025-10-01 00:00 Asia/Shanghai + grace


class SetClock:
    """A clock the test moves; each reading advances one millisecond (distinct, ordered timestamps)."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            self.now += timedelta(milliseconds=1)
            return self.now


def _count(app: App, table: Any, *where: Any) -> int:
    with app.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def _writer(app: App, out: Path, clock: Any) -> Any:
    return lambda device, period, run_id: write_report(device, period, formats=["json"], out_dir=out, uow=app.uow,
                                                       clock=clock, actor="system:scheduler",
                                                       renderer=app.report_renderer, run_id=run_id)


@pytest.fixture
def loaded(app, ingest_scenario, clock):  # type: ignore[no-untyped-def]
    """The example device with one quarter (2025Q3) of predictions and ground truth, ingested on 2025-12-01."""
    clock.now = INGESTED
    ingest_scenario(SCENARIO)
    return app


# --- leases and run records ---------------------------------------------------------------------

def test_lease_is_exclusive_until_it_expires(app) -> None:  # type: ignore[no-untyped-def]
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    with app.uow() as unit:
        assert unit.jobs.acquire("k", holder="a", now=t0, expires=t0 + timedelta(minutes=5))
    with app.uow() as unit:
        assert not unit.jobs.acquire("k", holder="b", now=t0 + timedelta(minutes=4), expires=t0 + timedelta(hours=1))
        assert unit.jobs.lease("k")["holder"] == "a"
    with app.uow() as unit:
        assert unit.jobs.acquire("k", holder="b", now=t0 + timedelta(minutes=5), expires=t0 + timedelta(hours=1))
        assert unit.jobs.lease("k")["holder"] == "b"
        unit.jobs.release("k", holder="a")  # not the holder: nothing happens
        assert unit.jobs.lease("k")["holder"] == "b"
        unit.jobs.release("k", holder="b")
        assert unit.jobs.lease("k") is None


def test_run_records_outcomes_and_user_errors_without_stack(app, clock) -> None:  # type: ignore[no-untyped-def]
    def user_error() -> None:
        raise InputError("bad file x.csv")

    def crash() -> None:
        raise ZeroDivisionError("division by zero")

    ok = run_job("demo", "k1", lambda: {"rows": 3}, uow=app.uow, clock=clock, host="h")
    user = run_job("demo", "k2", user_error, uow=app.uow, clock=clock, host="h")
    bug = run_job("demo", "k3", crash, uow=app.uow, clock=clock, host="h")
    assert (ok.outcome, user.outcome, bug.outcome) == ("succeeded", "failed", "failed")
    with app.uow() as unit:
        rows = {r["job_key"]: r for r in unit.jobs.runs(name="demo")}
        assert unit.jobs.lease("k1") is None and unit.jobs.lease("k3") is None  # released even after a crash
    assert rows["k1"]["details"]["rows"] == 3 and rows["k1"]["error"] is None
    assert rows["k1"]["finished_at"] > rows["k1"]["started_at"]
    assert rows["k2"]["error"] == "bad file x.csv"
    assert rows["k3"]["error"] == "ZeroDivisionError: division by zero"
    assert "Traceback" not in rows["k3"]["error"]


def test_once_job_runs_once_and_a_held_lease_skips(app, clock) -> None:  # type: ignore[no-untyped-def]
    calls: list[int] = []
    first = run_job("r", "report:X:2025Q3", lambda: calls.append(1) or {"n": 1}, uow=app.uow, clock=clock, host="h",
                    once=True)
    again = run_job("r", "report:X:2025Q3", lambda: calls.append(2), uow=app.uow, clock=clock, host="h", once=True)
    assert (first.outcome, again.outcome, calls) == ("succeeded", "skipped", [1])
    assert again.details["reason"] == "already completed" and again.details["completed_run_id"] == first.run_id
    with app.uow() as unit:
        assert unit.jobs.completion("report:X:2025Q3")["result"] == {"n": 1}
        unit.jobs.acquire("busy", holder="other", now=clock(), expires=clock() + timedelta(hours=1))
    busy = run_job("r", "busy", lambda: calls.append(3), uow=app.uow, clock=clock, host="h")
    assert busy.outcome == "skipped" and busy.details["holder"] == "other" and calls == [1]


def test_failed_once_job_is_retried(app, clock) -> None:  # type: ignore[no-untyped-def]
    def fail() -> None:
        raise InputError("not yet")

    assert run_job("r", "once", fail, uow=app.uow, clock=clock, host="h", once=True).outcome == "failed"
    assert run_job("r", "once", lambda: {}, uow=app.uow, clock=clock, host="h", once=True).outcome == "succeeded"
    assert _count(app, completed_jobs) == 1


# --- the periodic report ------------------------------------------------------------------------

def test_report_is_due_after_the_quarter_and_its_grace(app) -> None:  # type: ignore[no-untyped-def]
    with app.uow() as unit:
        config = unit.devices.get("lung-nodule-ct")
    period, due = due_report_period(config, Q3_DUE)
    assert (period.label, due) == ("2025Q3", Q3_DUE)
    assert due_report_period(config, Q3_DUE - timedelta(seconds=1))[0].label == "2025Q2"
    assert due_report_period(config, Q3_DUE, grace_days=30)[0].label == "2025Q3"
    assert due_report_period(config, datetime(2025, 10, 31, 17, tzinfo=UTC), grace_days=30)[0].label == "2025Q3"


def test_quarter_rollover_triggers_exactly_one_report(loaded, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    app = loaded
    clock = SetClock(Q3_DUE - timedelta(hours=1))
    write = _writer(app, tmp_path / "reports", clock)
    before = periodic_reports(uow=app.uow, clock=clock, host="h", actor="system:scheduler", write=write)
    assert before == [{"device_id": "lung-nodule-ct", "period": "2025Q2", "outcome": "nothing to report"}]
    outcomes = []
    for hours in (1, 2, 26, 24 * 40):  # the first run after the due moment, then later daily runs and a restart
        clock.now = Q3_DUE + timedelta(hours=hours)
        outcomes += periodic_reports(uow=app.uow, clock=clock, host="h", actor="system:scheduler", write=write)
    assert [o["outcome"] for o in outcomes] == ["succeeded", "skipped", "skipped", "skipped"]
    assert _count(app, reports, reports.c.period == "2025Q3") == 1
    with app.uow() as unit:
        done = unit.jobs.completions("report:")
        run = unit.results.get_run(done[0]["result"]["analysis_run_id"])
    assert [d["job_key"] for d in done] == ["report:lung-nodule-ct:2025Q3"]
    assert done[0]["result"]["report_id"] == outcomes[0]["report_id"]
    assert run["data_cutoff"] == Q3_DUE  # the cut-off is the due moment, however late the job ran
    assert len(list((tmp_path / "reports").glob("lung-nodule-ct_2025Q3_*.json"))) == 1


def test_report_written_before_a_crash_is_not_written_again(loaded, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    app = loaded
    clock = SetClock(Q3_DUE + timedelta(hours=1))
    write = _writer(app, tmp_path, clock)

    def dies_after_writing(device: str, period: str, run_id: str) -> Any:
        write(device, period, run_id)
        raise SystemExit("killed after the report was written")  # not an Exception: like a dying process

    with pytest.raises(SystemExit):
        periodic_reports(uow=app.uow, clock=clock, host="h", actor="s", write=dies_after_writing)
    clock.now += timedelta(hours=2)  # the dead run's lease expires
    [outcome] = periodic_reports(uow=app.uow, clock=clock, host="h", actor="s", write=write, lease=600)
    assert outcome["outcome"] == "succeeded"
    assert _count(app, reports, reports.c.period == "2025Q3") == 1
    with app.uow() as unit:
        assert unit.jobs.completion("report:lung-nodule-ct:2025Q3")["result"]["recovered"] is True
        states = sorted(r["outcome"] for r in unit.jobs.runs(key="report:lung-nodule-ct:2025Q3"))
    assert states == ["failed", "succeeded"]  # the dead run is marked abandoned


def test_a_concurrent_ad_hoc_analysis_never_slips_into_the_scheduled_report(loaded, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    app = loaded
    clock = SetClock(Q3_DUE + timedelta(hours=1))
    write = _writer(app, tmp_path, clock)
    ad_hoc: list[str] = []

    def analysis_finishes_in_between(device: str, period: str, run_id: str) -> Any:
        # a QA engineer's analysis of the same period (cut-off: now) is stored after the job's own analysis
        ad_hoc.append(analyze_period(device, Period.parse(period), uow=app.uow, clock=clock, actor="qa").run_id)
        return write(device, period, run_id)

    [outcome] = periodic_reports(uow=app.uow, clock=clock, host="h", actor="s", write=analysis_finishes_in_between)
    assert outcome["outcome"] == "succeeded"
    with app.uow() as unit:
        scheduled = unit.jobs.completion("report:lung-nodule-ct:2025Q3")["result"]["analysis_run_id"]
        newest = unit.results.latest_run("lung-nodule-ct", "2025Q3")
        revision = unit.revisions.latest("lung-nodule-ct", "2025Q3")
    assert newest["run_id"] == ad_hoc[0] != scheduled  # the ad-hoc run is the period's newest ...
    assert revision["run_id"] == scheduled  # ... but the scheduled report presents the job's own run
    [path] = tmp_path.glob("lung-nodule-ct_2025Q3_*.json")
    report = json.loads(path.read_text(encoding="utf-8"))
    assert report["run_id"] == scheduled
    assert datetime.fromisoformat(report["analysis"]["data_cutoff"]) == Q3_DUE


def test_nightly_analysis_runs_once_per_device_and_day(app, ingest_scenario, clock) -> None:  # type: ignore[no-untyped-def]
    clock.now = datetime(2025, 12, 21, tzinfo=UTC)
    ingest_scenario(DemoScenario(seed=6, scale=0.005, quarters=("2025Q4",), drift_quarter=None,
                                 as_of="2025-12-20T23:59:59+08:00"))
    clock = SetClock(datetime(2025, 12, 22, 18, tzinfo=UTC))  # 2025-12-23 02:00 in Shanghai, inside 2025Q4
    first = nightly_analysis(uow=app.uow, clock=clock, host="h", actor="s")
    again = nightly_analysis(uow=app.uow, clock=clock, host="h", actor="s")
    clock.now += timedelta(days=1)
    next_day = nightly_analysis(uow=app.uow, clock=clock, host="h", actor="s")
    assert [first[0]["outcome"], again[0]["outcome"], next_day[0]["outcome"]] == ["succeeded", "skipped", "succeeded"]
    with app.uow() as unit:
        runs = unit.results.runs("lung-nodule-ct")
    assert len(runs) == 2 and {r["period"] for r in runs} == {"2025Q4"}


def test_housekeeping_prunes_records_but_keeps_completion_marks(app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    old = SetClock(datetime(2025, 1, 1, tzinfo=UTC))
    run_job("r", "report:X:2024Q4", lambda: {}, uow=app.uow, clock=old, host="h", once=True)
    with app.uow() as unit:
        unit.jobs.acquire("stale", holder="dead", now=old(), expires=old() + timedelta(hours=1))
    now = SetClock(datetime(2025, 6, 1, tzinfo=UTC))
    run_job("r", "recent", lambda: {}, uow=app.uow, clock=now, host="h")
    counts = housekeeping(uow=app.uow, clock=now, runs_retention_days=90, drop_dir=None, done_retention_days=30)
    assert counts == {"job_runs_deleted": 1, "expired_locks_deleted": 1, "done_files_deleted": 0}
    assert _count(app, job_runs) == 1 and _count(app, job_locks) == 0
    assert _count(app, completed_jobs) == 1


# --- a killed job, and two schedulers on one database ------------------------------------------------

KILLED_JOB = textwrap.dedent("""
    import sys, time
    from datetime import datetime, timezone
    from pathlib import Path
    from monitor.adapters.db.engine import make_engine
    from monitor.adapters.db.unit_of_work import unit_of_work_factory
    from monitor.service.jobs import run_job
    def body():
        Path(sys.argv[2]).write_text("started")
        time.sleep(600)
    run_job("r", "report:X:2025Q3", body, uow=unit_of_work_factory(make_engine(sys.argv[1])),
            clock=lambda: datetime.now(timezone.utc), host="doomed", once=True, lease=3600)
""")


def test_job_killed_mid_run_completes_once_after_its_lease_expires(app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    marker = tmp_path / "started"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", KILLED_JOB, app.settings.database_url, str(marker)], env=env)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert child.poll() is None and time.monotonic() < deadline, "the job never started"
            time.sleep(0.05)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    now = datetime.now(UTC)
    calls: list[str] = []
    body = lambda: calls.append("ran") or {"ok": True}
    during = run_job("r", "report:X:2025Q3", body, uow=app.uow, clock=SetClock(now), host="h", once=True)
    after = run_job("r", "report:X:2025Q3", body, uow=app.uow, clock=SetClock(now + timedelta(hours=2)), host="h",
                    once=True)
    later = run_job("r", "report:X:2025Q3", body, uow=app.uow, clock=SetClock(now + timedelta(hours=3)), host="h",
                    once=True)
    assert (during.outcome, after.outcome, later.outcome) == ("skipped", "succeeded", "skipped")
    assert during.details["reason"] == "lease held by another run"
    assert calls == ["ran"]
    with app.uow() as unit:
        runs = {r["host"]: r for r in unit.jobs.runs(key="report:X:2025Q3") if r["outcome"] != "skipped"}
    assert runs["doomed"]["outcome"] == "failed" and runs["doomed"]["error"].startswith("abandoned")
    assert _count(app, completed_jobs) == 1


def test_two_schedulers_racing_produce_one_report(loaded, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    servers = [bootstrap(loaded.settings, clock=SetClock(Q3_DUE + timedelta(hours=1))) for _ in range(2)]
    barrier = threading.Barrier(2)
    results: list[Any] = [None, None]

    def server(i: int) -> None:
        application = servers[i]
        barrier.wait()
        results[i] = periodic_reports(uow=application.uow, clock=application.clock, host=f"server-{i}", actor="s",
                                      write=_writer(application, tmp_path / f"out{i}", application.clock))

    threads = [threading.Thread(target=server, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    for application in servers:
        application.engine.dispose()
    outcomes = sorted(r[0]["outcome"] for r in results)
    assert outcomes == ["skipped", "succeeded"]
    assert _count(loaded, reports, reports.c.period == "2025Q3") == 1
    assert _count(loaded, completed_jobs, completed_jobs.c.job_key == "report:lung-nodule-ct:2025Q3") == 1
    assert len(list(tmp_path.glob("out*/*.json"))) == 1
