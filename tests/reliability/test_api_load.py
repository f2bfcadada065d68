"""A bounded load on loopback (both engines): the HTTP API under uvicorn, ingest and read, a fixed number of
requests within a time limit, no error, and the database holding exactly what was acknowledged.

The load itself is ``bench/bench_api.py``'s (run small here; its full-size figures are in
docs/reliability.md and docs/performance.md). The time limit only stops a hung run; speed is never
asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import sys
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parents[2]
TIME_LIMIT = 240.0  # seconds: a hung server or client fails the test instead of blocking the suite


@pytest.fixture(scope="module")
def bench_api() -> ModuleType:
    """``bench/bench_api.py`` as a module (the bench folder is not a package)."""
    spec = importlib.util.spec_from_file_location("bench_api", ROOT / "bench" / "bench_api.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_api", module)
    spec.loader.exec_module(module)
    return module


def _within_limit(work: Any) -> Any:
    """Run ``work()`` in a thread; fail if it has not ended within TIME_LIMIT."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # noqa: BLE001  (re-raised in the test's thread)
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(TIME_LIMIT)
    assert not thread.is_alive(), f"the load did not finish within {TIME_LIMIT:.0f} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def test_bounded_load_of_the_ingest_and_read_api(bench_api: ModuleType, empty_database_url: str) -> None:
    """16 NDJSON posts of 250 new records from 8 concurrent clients, then 8 readers x 10 stratum-result
    pages: every request answers 2xx (the bench raises on any other status or transport error), and the
    database's prediction count equals the rows sent and the rows the answers acknowledged."""
    args = argparse.Namespace(posts=16, rows=250, clients=8, readers=8, reads_per_reader=10)
    figures = _within_limit(lambda: bench_api.bench(empty_database_url, args))
    print(figures)  # throughput and p99 latency of this small run (pytest -s)
    assert figures["rows_sent"] == figures["rows_accepted"] == figures["rows_stored"] == 16 * 250
    assert figures["count_matches"] is True
    assert figures["read_requests"] == 8 * 10


def _serve(app: Any, port: int) -> tuple[uvicorn.Server, threading.Thread, str]:
    from monitor.entrypoints.api import create_api
    from monitor.entrypoints.api.security import AuthFailureLimiter

    server = uvicorn.Server(uvicorn.Config(create_api(app, limiter=AuthFailureLimiter(limit=10**6)), host="127.0.0.1",
                                           port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{port}"


def test_eight_clients_posting_overlapping_batches_store_each_record_once(bench_api: ModuleType, app, clock,
                                                                           monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Post k holds the bench's record blocks k and k + 1 (each block is in two posts); 8 clients send the
    16 posts at once. Every post answers 200, the accepted rows add up to the distinct records, the
    duplicates to the rest, and the database holds each record once."""
    from monitor.adapters.db.tables import predictions
    from monitor.service import access

    monkeypatch.setattr(access, "TOKEN_PARAMS", (2**8, 8, 1))  # cheap KDF: this test is about counts
    token = access.create_token(app.uow, name="gw", role="device", device_id=bench_api.DEVICE, clock=clock,
                                actor="pytest")[1]
    posts, rows, clients = 16, 100, 8
    bodies = [bench_api._body(k, rows) + bench_api._body(k + 1, rows) for k in range(posts)]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}

    async def send() -> list[dict[str, Any]]:
        queue = list(range(posts))
        answers: list[dict[str, Any]] = []

        async def client() -> None:
            async with httpx.AsyncClient(base_url=base, timeout=120) as http:
                while queue:
                    body = bodies[queue.pop()]
                    response = await http.post(f"/v1/devices/{bench_api.DEVICE}/predictions", content=body,
                                               headers=headers)
                    assert response.status_code == 200, response.text
                    answers.append(response.json())

        await asyncio.gather(*(client() for _ in range(clients)))
        return answers

    server, thread, base = _serve(app, bench_api._free_port())
    try:
        answers = _within_limit(lambda: asyncio.run(send()))
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    distinct = (posts + 1) * rows
    assert len(answers) == posts
    assert sum(a["accepted"] for a in answers) == distinct
    assert sum(a["duplicates"] for a in answers) == 2 * posts * rows - distinct
    assert sum(a["rejected"] for a in answers) == 0
    with app.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(predictions)).scalar_one() == distinct
