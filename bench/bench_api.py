"""Benchmark the HTTP API under uvicorn: sustained ingest rows/s and stratum-results latency.

Usage::

    .venv/bin/python bench/bench_api.py [--engine sqlite|postgresql|both] [--postgres-url URL]
        [--posts 20] [--rows 1000] [--clients 4] [--readers 50] [--reads-per-reader 10] [--json out.json]
    .venv/bin/python bench/bench_api.py --db URL [--readers 50] [--reads-per-reader 10] [--json out.json]

For each engine: a fresh database (a temporary SQLite file, or a new database on the PostgreSQL server
of ``--postgres-url`` / ``MONITOR_TEST_POSTGRES_URL``, dropped afterwards), the example device and a
device token; the API (``create_api``) served by uvicorn on a free loopback port in this process.

* ingest: ``--clients`` concurrent httpx clients post ``--posts`` NDJSON bodies of ``--rows`` new
  prediction records each; sustained rows/s = rows sent / wall time; the database's prediction count
  must equal the rows sent (checked, not assumed).
* read: one analysis run with 2,000 stratum results is stored; ``--readers`` concurrent clients each
  request ``GET /v1/runs/{run_id}/results?metric=sensitivity&limit=100`` ``--reads-per-reader`` times;
  p50 / p99 latency over all requests, and (for scale) the p50 of one client's 20 sequential requests.

``--db URL`` measures the read part only, on an existing database with stored analyses (e.g. one that
``bench/run_all.py`` filled with N predictions through the real ingest and analysis): the readers
request the newest stored run's results; the database is kept (an auditor token is added to it).

Traffic goes only to 127.0.0.1; every loop is bounded. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.adapters.config_file import load_device_config  # noqa: E402
from monitor.adapters.db.engine import make_engine, upgrade  # noqa: E402
from monitor.adapters.db.tables import predictions  # noqa: E402
from monitor.entrypoints.api import create_api  # noqa: E402
from monitor.entrypoints.api.security import AuthFailureLimiter  # noqa: E402
from monitor.entrypoints.bootstrap import bootstrap  # noqa: E402
from monitor.service.access import create_token  # noqa: E402
from monitor.service.devices import register_device  # noqa: E402
from monitor.settings import Settings  # noqa: E402

DEVICE = "lung-nodule-ct"
EXAMPLE = ROOT / "examples" / "lung-nodule-ct.yaml"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _body(post: int, rows: int) -> bytes:
    lines = []
    for i in range(rows):
        n = post * rows + i
        lines.append(json.dumps({
            "prediction_id": f"bench-{n:09d}", "model_version": "2.1.0", "site_id": f"site-{n % 5}",
            "predicted_at": f"2026-01-{1 + n % 28:02d}T{n % 24:02d}:{n % 60:02d}:00Z", "score": (n % 1000) / 1000,
            "predicted_label": int(n % 1000 >= 500), "patient_id": f"P{n:09d}", "age": 30 + n % 60,
            "sex": "FM"[n % 2], "emphysema_grade": "none", "scanner_vendor": "GE"}))
    return ("\n".join(lines) + "\n").encode()


def _store_run(app: Any, n_results: int) -> str:
    run_id = str(uuid.uuid4())
    now = datetime(2026, 2, 1, tzinfo=timezone.utc)
    metrics = ("sensitivity", "specificity")
    results = [{"model_version": "2.1.0", "stratum": f"site_id=site-{i % 50}|age_band={i % 4}", "level": 2,
                "metric": metrics[i % 2], "successes": 80, "trials": 100, "estimate": 0.8, "ci_low": 0.71,
                "ci_high": 0.87, "claim": 0.9, "margin": 0.02, "p_value": 0.01, "q_value": 0.05,
                "status": "flagged" if i % 7 == 0 else "ok", "additional_needed": None} for i in range(n_results)]
    with app.uow() as unit:
        unit.results.save_run({"run_id": run_id, "device_id": DEVICE, "period": "2026Q1", "period_start": now,
                               "period_end": now + timedelta(days=90), "data_cutoff": now, "created_at": now,
                               "software_version": "bench", "config_hash": "0" * 64, "input_fingerprint": "0" * 64,
                               "document": {"bench": True}, "actor": "bench"}, results, [])
    return run_id


async def _ingest(base: str, token: str, posts: int, rows: int, clients: int) -> tuple[float, int, list[float]]:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for post in range(posts):
        queue.put_nowait(post)
    bodies = {post: _body(post, rows) for post in range(posts)}
    accepted = 0
    latencies: list[float] = []
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}

    async def worker() -> None:
        nonlocal accepted
        async with httpx.AsyncClient(base_url=base, timeout=300) as client:
            while not queue.empty():
                post = queue.get_nowait()
                started = time.perf_counter()
                response = await client.post(f"/v1/devices/{DEVICE}/predictions", content=bodies[post],
                                             headers=headers)
                latencies.append(time.perf_counter() - started)
                response.raise_for_status()
                accepted += response.json()["accepted"]

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return time.perf_counter() - started, accepted, latencies


def _peak_mb() -> float:
    """Peak resident memory of this process (VmHWM): the server and the clients."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return 0.0


async def _read(base: str, token: str, run_id: str, readers: int, per_reader: int) -> list[float]:
    latencies: list[float] = []
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=readers)

    async def reader(client: httpx.AsyncClient) -> None:
        for _ in range(per_reader):
            started = time.perf_counter()
            response = await client.get(f"/v1/runs/{run_id}/results",
                                        params={"metric": "sensitivity", "limit": 100}, headers=headers)
            latencies.append(time.perf_counter() - started)
            response.raise_for_status()
            assert len(response.json()["items"]) == 100

    async with httpx.AsyncClient(base_url=base, timeout=300, limits=limits) as client:
        await client.get(f"/v1/runs/{run_id}/results", headers=headers)  # warm the token cache
        await asyncio.gather(*(reader(client) for _ in range(readers)))
    return latencies


async def _read_alone(base: str, token: str, run_id: str, requests: int) -> list[float]:
    """Latency of one client's sequential requests: the per-request cost without queueing."""
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=base, timeout=300) as client:
        for _ in range(requests):
            started = time.perf_counter()
            response = await client.get(f"/v1/runs/{run_id}/results", params={"metric": "sensitivity", "limit": 100},
                                        headers={"Authorization": f"Bearer {token}"})
            latencies.append(time.perf_counter() - started)
            response.raise_for_status()
    return latencies


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _serve(app: Any) -> tuple[uvicorn.Server, threading.Thread, str]:
    """The API of ``app`` under uvicorn on a free loopback port, in a thread of this process.

    The server keeps idle connections 75 s, well beyond the clients' 5 s keep-alive expiry: with both at
    5 s (uvicorn's and httpx's defaults) a client could reuse a pooled connection just as the server
    closed it, and the request failed with ``httpx.ReadError`` (seen at 50 readers on a loaded machine).
    """
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_api(app, limiter=AuthFailureLimiter(limit=10**6)), host="127.0.0.1",
                                           port=port, log_level="warning", access_log=False, timeout_keep_alive=75))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 60
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{port}"


def _read_figures(base: str, token: str, run_id: str, args: argparse.Namespace) -> dict[str, Any]:
    alone = asyncio.run(_read_alone(base, token, run_id, 20))
    reads = asyncio.run(_read(base, token, run_id, args.readers, args.reads_per_reader))
    return {"read_requests": len(reads), "read_clients": args.readers,
            "results_p50_ms": round(1000 * _percentile(reads, 0.5), 1),
            "results_p99_ms": round(1000 * _percentile(reads, 0.99), 1),
            "results_one_client_p50_ms": round(1000 * _percentile(alone, 0.5), 1)}


def bench_existing(url: str, args: argparse.Namespace) -> dict[str, Any]:
    """The stratum-results latency on an existing database, for its newest stored analysis run."""
    app = bootstrap(Settings(database_url=url, data_dir=Path(tempfile.gettempdir()),
                             patient_id_key="bench-patient-key-0123456789abcdef", actor="bench"))
    with app.uow() as unit:
        runs = unit.results.runs(limit=1)
        if not runs:
            raise SystemExit(f"{make_url(url).render_as_string()}: no stored analysis run to read")
        run = runs[0]
        stored = len(unit.results.stratum_results(run["run_id"]))
    token = create_token(app.uow, name="bench-reader", role="auditor", clock=app.clock, actor="bench")[1]
    server, thread, base = _serve(app)
    try:
        figures = _read_figures(base, token, run["run_id"], args)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        app.engine.dispose()
    return {"engine": make_url(url).get_backend_name(), "run_id": run["run_id"], "period": run["period"],
            "stored_results": stored, **figures, "peak_rss_mb": round(_peak_mb())}


def bench(url: str, args: argparse.Namespace) -> dict[str, Any]:
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    app = bootstrap(Settings(database_url=url, data_dir=Path(tempfile.gettempdir()),
                             patient_id_key="bench-patient-key-0123456789abcdef", actor="bench"))
    register_device(load_device_config(EXAMPLE), uow=app.uow, clock=app.clock, actor="bench", source=str(EXAMPLE))
    device_token = create_token(app.uow, name="bench", role="device", device_id=DEVICE, clock=app.clock,
                                actor="bench")[1]
    reader_token = create_token(app.uow, name="bench-reader", role="auditor", clock=app.clock, actor="bench")[1]
    server, thread, base = _serve(app)
    try:
        wall, accepted, post_latency = asyncio.run(_ingest(base, device_token, args.posts, args.rows, args.clients))
        with app.engine.connect() as conn:
            stored = int(conn.execute(select(func.count()).select_from(predictions)).scalar_one())
        sent = args.posts * args.rows
        run_id = _store_run(app, 2000)
        reads = _read_figures(base, reader_token, run_id, args)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        app.engine.dispose()
    return {
        "engine": make_url(url).get_backend_name(), "rows_sent": sent, "rows_accepted": accepted,
        "rows_stored": stored, "count_matches": stored == sent == accepted, "ingest_seconds": round(wall, 2),
        "rows_per_second": round(sent / wall), "post_p50_s": round(_percentile(post_latency, 0.5), 3),
        "post_p99_s": round(_percentile(post_latency, 0.99), 3), **reads, "peak_rss_mb": round(_peak_mb()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--postgres-url", default=os.environ.get("MONITOR_TEST_POSTGRES_URL"))
    parser.add_argument("--posts", type=int, default=20)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--readers", type=int, default=50)
    parser.add_argument("--reads-per-reader", type=int, default=10)
    parser.add_argument("--json", type=Path, help="Also write the figures to this file.")
    parser.add_argument("--db", help="Read-only run on this existing database (its newest analysis run).")
    args = parser.parse_args()
    figures = []
    if args.db:
        figures.append(bench_existing(args.db, args))
    elif args.engine in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            figures.append(bench(f"sqlite:///{tmp}/bench.sqlite", args))
    if not args.db and args.engine in ("postgresql", "both"):
        if not args.postgres_url:
            parser.error("PostgreSQL needs --postgres-url or MONITOR_TEST_POSTGRES_URL")
        server = make_url(args.postgres_url).set(drivername="postgresql+psycopg")
        name = f"samd_bench_{uuid.uuid4().hex[:10]}"
        admin = create_engine(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            figures.append(bench(server.set(database=name).render_as_string(hide_password=False), args))
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    for f in figures:
        print(json.dumps(f))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
