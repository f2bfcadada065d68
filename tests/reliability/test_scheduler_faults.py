"""The service's scheduler under faults, on SQLite and PostgreSQL: the database failing under APScheduler's job
store, the database down when a job fires or while its run is being closed, the wall clock jumping forward
and back, and the periodic report job killed (SIGKILL) between its report and its completion mark. The scheduler's thread survives, a job is retried until its run is recorded, no half-done run stays
``running``, and a job runs neither twice nor late beyond the misfire grace (issue 15, the untested paths)."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import pytest
from apscheduler.executors import base as executors_base
from apscheduler.schedulers import base as schedulers_base
from sqlalchemy.exc import OperationalError

from monitor.entrypoints import scheduler as module
from monitor.errors import StorageError
from monitor.service.scheduled import periodic_reports
from monitor.settings import ServiceSettings
from monitor.synthetic import DemoScenario

UTC = timezone.utc
ROOT = Path(__file__).resolve().parents[2]


def _until(condition: Callable[[], bool], timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


class _Shifted(datetime):
    """``datetime`` whose ``now()`` is the real time plus :attr:`offset`: APScheduler's view of a wall clock
    that jumps (its sleeps stay on the real, monotonic time)."""

    offset = timedelta(0)

    @classmethod
    def now(cls, tz: Any = None) -> Any:  # type: ignore[override]
        return datetime.now(tz) + cls.offset


@pytest.fixture
def shifted_clock(monkeypatch: pytest.MonkeyPatch) -> type[_Shifted]:
    _Shifted.offset = timedelta(0)
    monkeypatch.setattr(schedulers_base, "datetime", _Shifted)
    monkeypatch.setattr(executors_base, "datetime", _Shifted)
    return _Shifted


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    """Short loop wake-ups and retries (production: 30 s and 60 s)."""
    monkeypatch.setattr(module, "MAX_WAIT_SECONDS", 0.2)
    monkeypatch.setattr(module, "RETRY_SECONDS", 0.3)


@contextmanager
def _running(application: Any) -> Iterator[Any]:
    scheduler = module.start_scheduler(application)
    try:
        yield scheduler
    finally:
        module.stop_scheduler(scheduler)


def _with(app: Any, **service: Any) -> Any:
    return dataclasses.replace(app, settings=app.settings.model_copy(update={"service": ServiceSettings(**service)}))


def test_wall_clock_jumps_run_the_nightly_job_once_within_the_grace(app, shifted_clock, quick,  # type: ignore[no-untyped-def]
                                                                    monkeypatch) -> None:
    calls: list[datetime] = []
    monkeypatch.setattr(module, "nightly_analysis", lambda **_: calls.append(_Shifted.now(UTC)) or [])
    fire = (datetime.now(UTC) + timedelta(hours=2)).replace(second=0, microsecond=0)
    configured = _with(app, nightly_at=fire.strftime("%H:%M"), misfire_grace_seconds=600)
    with _running(configured) as scheduler:
        time.sleep(0.3)  # the loop has gone to sleep until the fire time, two hours away
        shifted_clock.offset = fire - datetime.now(UTC) + timedelta(seconds=5)  # jump forward, past the fire time
        assert _until(lambda: len(calls) == 1), "the nightly job did not run after a forward jump within the grace"
        shifted_clock.offset -= timedelta(hours=1)  # jump back before the fire time: it must not run again
        time.sleep(1.0)
        shifted_clock.offset += timedelta(hours=1, seconds=10)  # ... and past it again, the same day
        time.sleep(1.0)
        assert len(calls) == 1
        shifted_clock.offset += timedelta(days=1)  # the next day's fire still happens
        assert _until(lambda: len(calls) == 2)
        assert module.scheduler_problem(scheduler) is None
    assert calls[1] - calls[0] > timedelta(hours=23)


def test_job_store_failing_under_the_loop_does_not_end_the_scheduler(app, quick, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "drop").mkdir()
    configured = _with(app, drop_dir=tmp_path / "drop", drop_interval_seconds=1)
    failures: list[str] = []
    with _running(configured) as scheduler:
        store = scheduler._jobstores["default"]
        update = store.update_job

        def failing_update(job: Any) -> None:  # the database goes away between reading and updating the job
            if not failures:
                failures.append(job.id)
                raise OperationalError("UPDATE apscheduler_jobs", {}, Exception("server closed the connection"))
            update(job)

        store.update_job = failing_update
        assert _until(lambda: bool(failures))
        assert _until(lambda: _runs(app, "drop-folder") >= 2), "no drop-folder scan after the job store error"
        assert module.scheduler_problem(scheduler) is None


def _runs(app: Any, name: str) -> int:
    with app.uow() as unit:
        return len(unit.jobs.runs(name=name))


class _Flaky:
    """The unit of work with the database down for chosen openings (1-based)."""

    def __init__(self, uow: Any, down: set[int]) -> None:
        self.uow, self.down, self.opened = uow, down, 0
        self.lock = threading.Lock()

    @contextmanager
    def __call__(self) -> Iterator[Any]:
        with self.lock:
            self.opened += 1
            opened = self.opened
        if opened in self.down:
            raise StorageError("the database is unavailable (connection refused)")
        with self.uow() as unit:
            yield unit


def test_database_down_at_fire_time_and_at_the_runs_end_is_retried_and_recorded(app, quick) -> None:  # type: ignore[no-untyped-def]
    # Opening 1: the lease claim at fire time fails. Retry: 2 claims, 3 the body, 4 closing the run fails
    # (the body ran; the run is left "running" with its lease). Retry: 5 takes the lease over at once
    # (a lease of this process whose run has ended), marks the half-done run failed, 6 body, 7 closes.
    flaky = _Flaky(app.uow, down={1, 4})
    configured = dataclasses.replace(_with(app, misfire_grace_seconds=600), uow=flaky)
    with _running(configured) as scheduler:
        scheduler.get_job("housekeeping").modify(next_run_time=datetime.now(UTC))
        assert _until(lambda: flaky.opened >= 7 and not scheduler.get_jobs(jobstore=module.RETRY_STORE)), \
            f"the job was not retried to its end ({flaky.opened} openings)"
        assert module.scheduler_problem(scheduler) is None
    with app.uow() as unit:
        runs = unit.jobs.runs(key="housekeeping")
        lease = unit.jobs.lease("housekeeping")
    assert [r["outcome"] for r in runs] == ["succeeded", "failed"]  # newest first; none left "running"
    assert runs[1]["error"].startswith("abandoned")
    assert lease is None and flaky.opened == 7


def test_retries_stop_at_the_misfire_grace(app, quick, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    flaky = _Flaky(app.uow, down=set(range(1, 10_000)))  # the database stays down
    monkeypatch.setattr(module, "RETRY_SECONDS", 0.4)
    configured = dataclasses.replace(_with(app, misfire_grace_seconds=1), uow=flaky)
    with _running(configured) as scheduler:
        scheduler.get_job("housekeeping").modify(next_run_time=datetime.now(UTC))
        assert _until(lambda: flaky.opened >= 2)
        time.sleep(1.5)
        tried = flaky.opened
        time.sleep(1.0)
        assert flaky.opened == tried <= 4 and not scheduler.get_jobs(jobstore=module.RETRY_STORE)
        assert module.scheduler_problem(scheduler) is None


# --- kill -9 in the middle of the periodic report job ------------------------------------------------

REPORT_SCENARIO = DemoScenario(seed=5, scale=0.002, quarters=("2025Q3",), drift_quarter=None,
                               as_of="2025-11-30T23:59:59+08:00")
Q3_DUE = datetime(2025, 9, 30, 16, tzinfo=UTC) + timedelta(days=90)  # 2025-10-01 00:00 Asia/Shanghai + grace
KILLED_REPORT = textwrap.dedent("""
    import sys, time
    from datetime import datetime, timedelta
    from pathlib import Path
    from monitor.entrypoints.bootstrap import bootstrap
    from monitor.service.report import write_report
    from monitor.service.scheduled import periodic_reports
    from monitor.settings import Settings

    url, out, moment = sys.argv[1], Path(sys.argv[2]), datetime.fromisoformat(sys.argv[3])
    clock = lambda: moment
    app = bootstrap(Settings(database_url=url, data_dir=out, patient_id_key=None), clock=clock)

    def write(device, period, run_id):
        files = write_report(device, period, formats=["json"], out_dir=out, uow=app.uow, clock=clock,
                             actor="system:scheduler", renderer=app.report_renderer, run_id=run_id)
        print("written", flush=True)  # committed; the completion mark is not: SIGKILL here
        time.sleep(600)

    periodic_reports(uow=app.uow, clock=clock, host="doomed", actor="system:scheduler", write=write, lease=3600)
""")


def test_report_job_killed_between_its_report_and_its_completion_mark(app, ingest_scenario, clock,  # type: ignore[no-untyped-def]
                                                                      tmp_path: Path) -> None:
    clock.now = datetime(2025, 12, 1, tzinfo=UTC)
    ingest_scenario(REPORT_SCENARIO)
    started = Q3_DUE + timedelta(hours=1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")} | {"PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", KILLED_REPORT, app.settings.database_url, str(tmp_path / "a"),
                              started.isoformat()], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline().strip()  # type: ignore[union-attr]
        assert line == "written", child.stderr.read()  # type: ignore[union-attr]
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    key = "report:lung-nodule-ct:2025Q3"
    with app.uow() as unit:
        assert unit.jobs.completion(key) is None  # half done: never recorded as done
        [dead] = unit.jobs.runs(key=key)
    assert dead["outcome"] == "running"
    writes: list[str] = []

    def write(device: str, period: str, run_id: str) -> Any:
        writes.append(run_id)
        raise AssertionError("a second report would be written")

    later = _SetClock(started + timedelta(minutes=30))
    [during] = periodic_reports(uow=app.uow, clock=later, host="next", actor="s", write=write, lease=3600)
    later.now = started + timedelta(hours=2)  # the dead run's lease has expired: the next run takes over
    [after] = periodic_reports(uow=app.uow, clock=later, host="next", actor="s", write=write, lease=3600)
    assert (during["outcome"], after["outcome"], writes) == ("skipped", "succeeded", [])
    with app.uow() as unit:
        done = unit.jobs.completion(key)
        runs = {r["host"]: r for r in unit.jobs.runs(key=key) if r["outcome"] != "skipped"}
        reports = unit.jobs.reports_with_cutoff("lung-nodule-ct", "2025Q3", Q3_DUE)
    assert done["result"]["recovered"] is True and len(reports) == 1
    assert runs["doomed"]["outcome"] == "failed" and runs["doomed"]["error"].startswith("abandoned")
    assert len(list((tmp_path / "a").glob("*.json"))) == 1


class _SetClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


def test_a_jump_back_does_not_stall_the_drop_folder(app, shifted_clock, quick, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "drop").mkdir()
    configured = _with(app, drop_dir=tmp_path / "drop", drop_interval_seconds=1)
    with _running(configured) as scheduler:
        assert _until(lambda: _runs(app, "drop-folder") >= 1)
        shifted_clock.offset = -timedelta(hours=1)  # e.g. a virtual machine restored, or a bad clock corrected
        time.sleep(0.5)
        before = _runs(app, "drop-folder")
        assert _until(lambda: _runs(app, "drop-folder") >= before + 2, timeout=10), \
            "the drop folder stalled after the clock went back"
        assert module.scheduler_problem(scheduler) is None


def test_a_run_outliving_its_lease_keeps_the_other_runs_completion_mark(app) -> None:  # type: ignore[no-untyped-def]
    from monitor.service.jobs import run_job

    key, start = "report:X:2025Q3", datetime(2026, 1, 1, tzinfo=UTC)
    inner: list[Any] = []

    def slow_body() -> dict[str, Any]:  # meanwhile its lease expires and another server runs the key
        inner.append(run_job("r", key, lambda: {"by": "second"}, uow=app.uow, clock=_SetClock(start + timedelta(hours=2)),
                             host="second", once=True, lease=60))
        return {"by": "first"}

    first = run_job("r", key, slow_body, uow=app.uow, clock=_SetClock(start), host="first", once=True, lease=60)
    assert (first.outcome, inner[0].outcome) == ("succeeded", "succeeded")  # no crash on the completion mark
    with app.uow() as unit:
        done = unit.jobs.completion(key)
        running = [r for r in unit.jobs.runs(key=key) if r["outcome"] == "running"]
    assert done["result"] == {"by": "second"} and done["run_id"] == inner[0].run_id and running == []
