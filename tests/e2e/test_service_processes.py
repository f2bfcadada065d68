"""The service's processes as an operator runs them (real subprocesses, SQLite): ``samd-monitor dashboard``
stopped with SIGTERM, or killed, leaves no Streamlit behind; ``samd-monitor serve`` is scraped at /metrics
(its scheduler's job runs counted) and writes its access log as JSON fields."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

CLI = str(Path(sys.executable).parent / "samd-monitor")
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc (Linux)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def sqlite_url(tmp_path: Path, _migrated_sqlite_file: Path) -> str:
    path = tmp_path / "monitor.sqlite"
    shutil.copyfile(_migrated_sqlite_file, path)
    return f"sqlite:///{path.as_posix()}"


def _env(url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")} | {
        "MONITOR_DATABASE_URL": url, "MONITOR_DATA_DIR": str(tmp_path / "data"),
        "MONITOR_PATIENT_ID_KEY": "e2e-key-0123456789abcdef", **extra}


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper that is not ours counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _wait_listening(port: int, process: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        assert process.poll() is None, f"exited with {process.returncode}"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            assert time.monotonic() < deadline, f"nothing listens on {port}"
            time.sleep(0.2)


def _start_dashboard(url: str, tmp_path: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    parent = subprocess.Popen([CLI, "dashboard", "--port", str(port)], env=_env(url, tmp_path),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_listening(port, parent, 120)
        [child] = _children(parent.pid)  # streamlit
    except BaseException:
        parent.kill()
        raise
    return parent, child


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_dashboard_stopped_by_sigterm_stops_streamlit(sqlite_url: str, tmp_path: Path) -> None:
    parent, child = _start_dashboard(sqlite_url, tmp_path)
    try:
        assert _alive(child)
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(timeout=60) == 0  # asked to stop: a clean exit
        assert _gone_within(child, 10), "streamlit outlived `samd-monitor dashboard`"
    finally:
        for pid in (parent.pid, child):
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_dashboard_killed_takes_streamlit_along(sqlite_url: str, tmp_path: Path) -> None:
    parent, child = _start_dashboard(sqlite_url, tmp_path)
    try:
        parent.kill()  # SIGKILL: nothing is passed on; the kernel's parent-death signal stops the child
        parent.wait(timeout=30)
        assert _gone_within(child, 30), "streamlit outlived a killed `samd-monitor dashboard`"
    finally:
        if _alive(child):
            os.kill(child, signal.SIGKILL)


def test_serve_is_scraped_and_logs_requests_as_fields(app, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    if not app.settings.database_url.startswith("sqlite"):
        pytest.skip("the process wiring is engine-independent; the API tests cover PostgreSQL")
    from monitor.service import access
    from monitor.service.access import create_token

    monkeypatch.setattr(access, "TOKEN_PARAMS", (2**8, 8, 1))
    token = create_token(app.uow, name="prometheus", role="operations", clock=app.clock, actor="pytest")[1]
    (tmp_path / "drop").mkdir()
    port = _free_port()
    server = subprocess.Popen([CLI, "serve", "--port", str(port)],
                              env=_env(app.settings.database_url, tmp_path, MONITOR_DROP_DIR=str(tmp_path / "drop"),
                                       MONITOR_DROP_INTERVAL_SECONDS="1"),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _wait_listening(port, server, 120)  # type: ignore[arg-type]
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/metrics", timeout=10).status_code == 401
        deadline = time.monotonic() + 60
        while True:  # the drop-folder job runs every second
            scraped = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10)
            assert scraped.status_code == 200
            if 'samd_monitor_job_runs_total{job="drop-folder",outcome="succeeded"}' in scraped.text:
                break
            assert time.monotonic() < deadline, scraped.text
            time.sleep(0.5)
        scraped = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert 'samd_monitor_http_requests_total{method="GET",route="/metrics",status="401"} 1.0' in scraped.text
        assert 'samd_monitor_http_requests_total{method="GET",route="/metrics",status="200"}' in scraped.text
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            _, stderr = server.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            raise
    assert server.returncode == 0, stderr
    lines = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    requests = [line for line in lines if line["logger"] == "monitor.access"]
    assert requests and all(line["message"] == "request" for line in requests)
    assert {"method", "route", "status", "duration_ms", "request_id"} <= set(requests[-1])
    assert requests[0]["status"] == 401 and requests[0]["route"] == "/metrics"
    assert not [line for line in lines if line["logger"] == "uvicorn.access"]  # no second, plain-text access log
    assert token.split("_", 2)[2] not in stderr
