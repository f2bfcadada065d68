"""A bounded load on loopback (both engines): the HTTP API under uvicorn, ingest and read, a fixed number of
requests within a time limit, no error, and the database holding exactly what was acknowledged.

The load itself is ``bench/bench_api.py``'s (run small here; its full-size figures are in
docs/reliability.md and docs/performance.md). The time limit only stops a hung run; speed is never
asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
from types import ModuleType
from typing import Any

import httpx
import uvicorn
from sqlalchemy import func, select


def test_bounded_load_of_the_ingest_and_read_api(within_limit: Any, bench_api: ModuleType, empty_database_url: str) -> None:
    """16 NDJSON posts of 250 new records from 8 concurrent clients, then 8 readers x 10 stratum-result
    pages: every request answers 2xx (the bench raises on any other status or transport error), and the
    database's prediction count equals the rows sent and the rows the answers acknowledged."""
    args = argparse.Namespace(posts=16, rows=250, clients=8, readers=8, reads_per_reader=10)
    figures = within_limit(lambda: bench_api.bench(empty_database_url, args))
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


def test_eight_clients_posting_overlapping_batches_store_each_record_once(within_limit: Any, bench_api: ModuleType, app, clock,
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
        answers = within_limit(lambda: asyncio.run(send()))
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
