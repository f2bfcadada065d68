"""The running service: ``samd-monitor serve`` answers /health and /ready, runs its scheduler (the drop folder
is ingested), logs JSON lines and stops on SIGTERM; the scheduler keeps its jobs in the monitor's database;
``samd-monitor ingest watch --once`` ingests a dropped file. On SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import func, inspect, select

from alembic import command
from monitor.adapters.db.engine import alembic_config
from monitor.adapters.db.tables import predictions
from monitor.entrypoints.api import create_api
from monitor.entrypoints.scheduler import (
    JOBSTORE_TABLE,
    scheduler_problem,
    start_scheduler,
    stop_scheduler,
)
from monitor.settings import ServiceSettings
from monitor.synthetic import DemoScenario, generate, write_csv

CLI = str(Path(sys.executable).parent / "samd-monitor")
DEVICE = "lung-nodule-ct"
SCENARIO = DemoScenario(seed=4, scale=0.0005, quarters=("2025Q3",), drift_quarter=None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _drop_file(root: Path) -> int:
    """A complete prediction file (with its ``.ready`` marker) in the drop folder; returns its row count."""
    incoming = root / DEVICE / "predictions" / "incoming"
    incoming.mkdir(parents=True)
    data = generate(SCENARIO).predictions
    write_csv(data, incoming / "p.csv")
    (incoming / "p.csv.ready").touch()
    return len(data)


def _count(app: Any) -> int:
    with app.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(predictions)).scalar_one())


def _env(app: Any, **extra: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")} | {
        "MONITOR_DATABASE_URL": app.settings.database_url, "MONITOR_PATIENT_ID_KEY": "e2e-key-0123456789abcdef",
        **extra}


def test_serve_answers_runs_jobs_and_stops_on_sigterm(app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rows = _drop_file(tmp_path / "drop")
    port = _free_port()
    env = _env(app, MONITOR_DROP_DIR=str(tmp_path / "drop"), MONITOR_DROP_INTERVAL_SECONDS="1",
               MONITOR_DATA_DIR=str(tmp_path / "data"))
    server = subprocess.Popen([CLI, "serve", "--port", str(port)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, server.communicate()[1]
            try:
                health = httpx.get(f"{base}/health", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "serve did not start listening"
                time.sleep(0.2)
        assert health.status_code == 200 and health.json()["status"] == "alive"
        ready = httpx.get(f"{base}/ready", timeout=10)
        assert ready.status_code == 200, ready.text
        assert ready.json()["status"] == "ready" and ready.json()["scheduler_running"] is True
        assert ready.json()["scheduler"] == "running"
        while _count(app) < rows:  # the drop-folder job runs every second
            assert time.monotonic() < deadline, "the drop folder was not ingested"
            time.sleep(0.2)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            _, stderr = server.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            raise
    assert server.returncode == 0, stderr
    assert _count(app) == rows
    logs = [json.loads(line) for line in stderr.splitlines() if line.strip()]  # every line is one JSON object
    messages = [entry["message"] for entry in logs]
    assert "scheduler started" in messages and "scheduler stopped" in messages and messages[-1] == "stopped"
    assert any(entry.get("job") == "drop-folder" and entry.get("outcome") == "succeeded" for entry in logs)
    assert any(entry["logger"].startswith("uvicorn") for entry in logs)
    assert list((tmp_path / "drop" / DEVICE / "predictions" / "done").glob("*_p.csv"))


def test_scheduler_keeps_its_jobs_in_the_database(app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "drop").mkdir()
    configured = dataclasses.replace(app, settings=app.settings.model_copy(update={
        "service": ServiceSettings(drop_dir=tmp_path / "drop", misfire_grace_seconds=900)}))
    scheduler = start_scheduler(configured)
    try:
        jobs = {job.id: job for job in scheduler.get_jobs()}
        assert sorted(jobs) == ["audit-checkpoint", "drop-folder", "housekeeping", "nightly-analysis", "periodic-reports"]
        for job in jobs.values():
            assert (job.coalesce, job.max_instances, job.misfire_grace_time) == (True, 1, 900)
            assert job.func_ref.startswith("monitor.entrypoints.scheduler:")
        assert str(jobs["periodic-reports"].trigger) == "cron[hour='2', minute='30']"
    finally:
        stop_scheduler(scheduler)
    assert JOBSTORE_TABLE in inspect(app.engine).get_table_names()
    command.check(alembic_config(app.engine))  # APScheduler's table is not a migration drift
    scheduler = start_scheduler(app)  # restarted without a drop folder: its job is removed from the store
    try:
        assert "drop-folder" not in {job.id for job in scheduler.get_jobs()}
    finally:
        stop_scheduler(scheduler)


def test_the_daily_audit_checkpoint_is_written_outside_the_database_once_per_head(app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Issue 16 item 4: the scheduler's audit-checkpoint job writes the verified chain head, authenticated, to the
    data folder (outside the database); the same head is not written twice, and verify accepts the file."""
    from monitor.adapters.audit_key import read_checkpoint
    from monitor.entrypoints.scheduler import write_audit_checkpoint
    from monitor.service.audit import verify_audit

    configured = dataclasses.replace(app, settings=app.settings.model_copy(update={"data_dir": tmp_path / "data"}))
    with app.uow() as unit:
        unit.audit.append(at=app.clock(), actor="qa", action="test.note", entity="test", entity_id="1", details={})
    path = write_audit_checkpoint(configured)
    assert path.parent == tmp_path / "data" / "audit-checkpoints" and write_audit_checkpoint(configured) == path
    assert len(list(path.parent.iterdir())) == 1
    assert verify_audit(uow=app.uow, checkpoints=[read_checkpoint(path)]).ok


def test_ingest_watch_once(app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rows = _drop_file(tmp_path / "drop")
    result = subprocess.run([CLI, "ingest", "watch", str(tmp_path / "drop"), "--once", "--settle", "0", "--json"],
                            env=_env(app), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.splitlines()
    item = json.loads(line)
    assert (item["outcome"], item["accepted"], item["device_id"]) == ("done", rows, DEVICE)
    assert _count(app) == rows
    with app.uow() as unit:  # no user named: the drop folder's service account acts, never the OS account
        assert {r["actor"] for r in unit.audit.records(action="ingest.predictions")} == {"service:drop-folder"}



def test_ready_is_503_with_the_reason_while_the_scheduler_does_not_run(app, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    api = create_api(app)
    client = TestClient(api)
    scheduler = start_scheduler(app)
    api.state.scheduler_status = partial(scheduler_problem, scheduler)  # as samd-monitor serve wires it
    try:
        ready = client.get("/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json() == {"status": "ready", "database": "ok", "scheduler": "running",
                                "scheduler_running": True}
        scheduler.pause()
        paused = client.get("/ready")
        assert paused.status_code == 503 and paused.json()["scheduler"] == "the scheduler is paused"
        scheduler.resume()
        assert client.get("/ready").status_code == 200

        def crash() -> float:
            raise RuntimeError("unexpected error in the scheduler loop")

        monkeypatch.setattr(threading, "excepthook", lambda args: None)  # the dying thread prints nothing
        monkeypatch.setattr(scheduler, "_process_jobs", crash)
        thread = scheduler._thread
        scheduler.wakeup()
        thread.join(timeout=30)
        assert not thread.is_alive()
        crashed = client.get("/ready")
        assert crashed.status_code == 503
        assert crashed.json() == {"status": "unavailable", "database": "ok",
                                  "scheduler": "the scheduler's thread has died", "scheduler_running": False}
    finally:
        stop_scheduler(scheduler)
    stopped = client.get("/ready")
    assert stopped.status_code == 503 and stopped.json()["scheduler"] == "the scheduler is stopped"
    assert stopped.json()["database"] == "ok" and stopped.json()["status"] == "unavailable"


def test_the_periodic_report_job_writes_the_run_it_was_given(app, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from monitor.entrypoints import scheduler as module

    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    monkeypatch.setattr(module, "write_report", lambda *args, **kwargs: calls.append((args, kwargs)))
    scheduler = start_scheduler(app)
    try:
        module._write_report("lung-nodule-ct", "2025Q3", "run-of-the-job")
    finally:
        stop_scheduler(scheduler)
    [(args, kwargs)] = calls
    assert args == ("lung-nodule-ct", "2025Q3") and kwargs["run_id"] == "run-of-the-job"
    assert kwargs["actor"] == module.ACTOR
