"""Benchmark the HTTP API under uvicorn: sustained ingest rows/s and stratum-results latency.

Usage::

    .venv/bin/python bench/bench_api.py [--engine sqlite|postgresql|both] [--postgres-url URL]
        [--posts 20] [--rows 1000] [--clients 4] [--readers 50] [--reads-per-reader 10] [--json out.json]
    .venv/bin/python bench/bench_api.py --db URL [--readers 50] [--reads-per-reader 10] [--server-process]
        [--raw-client] [--json out.json]
    .venv/bin/python bench/bench_api.py --push [--engine both] [--clients 20] [--posts-per-client 3] [--rows 1000]
        [--phases] [--sample] [--json out.json]

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

``--raw-client`` makes the readers a minimal HTTP/1.1 client (kept-alive sockets, Content-Length framing)
instead of httpx; ``--server-process`` serves the read part from a child process (``--serve``), so that the 50 clients'
own work does not compete with the server for this process's interpreter lock; ``results_first_ms`` is
the first request of the page (read from the database; later ones are served from the API's page cache).

``--push`` measures the push endpoint alone, on every chosen engine in the same run (a fresh database
each, one after the other): ``--clients`` concurrent clients each post ``--posts-per-client`` NDJSON
bodies of ``--rows`` new predictions (after one untimed warm-up post that registers the model version
and sites); it prints p50 / p95 / p99 of the post latency, rows/s, the stored count check and the load
average before and after, then a side-by-side table. ``--phases`` also times each phase of a post
(authentication, parse, the ingestion lock's wait and hold, lookups, insert, ANALYZE, audit append,
commit, ...: every call, so nested phases overlap); ``--sample`` samples ``pg_stat_activity`` and the
ungranted ``pg_locks`` of the bench database every 50 ms during the load (PostgreSQL).

Traffic goes only to 127.0.0.1; every loop is bounded. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
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


async def _read_raw(base: str, token: str, run_id: str, readers: int, per_reader: int) -> list[float]:
    """As :func:`_read`, with a minimal HTTP/1.1 client (one kept-alive connection per reader, the answer
    framed by its Content-Length): a fraction of httpx's own work per request, so that on a loaded machine
    the figure is the server's latency more than the clients' queueing."""
    url = httpx.URL(base)
    target = f"/v1/runs/{run_id}/results?metric=sensitivity&limit=100"
    request = (f"GET {target} HTTP/1.1\r\nHost: {url.host}:{url.port}\r\nAuthorization: Bearer {token}\r\n"
               "\r\n").encode("ascii")
    latencies: list[float] = []

    async def reader() -> None:
        stream_in, stream_out = await asyncio.open_connection(url.host, url.port)
        try:
            for _ in range(per_reader):
                started = time.perf_counter()
                stream_out.write(request)
                head = await stream_in.readuntil(b"\r\n\r\n")
                fields = dict(line.split(b":", 1) for line in head.split(b"\r\n")[1:] if b":" in line)
                body = await stream_in.readexactly(int(fields[b"content-length"]))
                latencies.append(time.perf_counter() - started)
                if not head.startswith(b"HTTP/1.1 200"):
                    raise RuntimeError(f"answer {head[:32]!r}")
                assert body.count(b'"stratum"') == 100
        finally:
            stream_out.close()

    await asyncio.gather(*(reader() for _ in range(readers)))
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


def _serve_process(url: str) -> tuple[subprocess.Popen[bytes], str]:
    """The API on ``url`` served by uvicorn in a child process (``--serve``), so that the clients of this
    process do not share the server's interpreter lock; returns once ``/health`` answers (60 s at most)."""
    port = _free_port()
    child = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--serve", url, "--port", str(port)])
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return child, base
        except httpx.TransportError:
            pass
        if child.poll() is not None:
            break
        time.sleep(0.2)
    child.kill()
    raise SystemExit("the API child process did not start")


def _serve_forever(url: str, port: int) -> None:
    """``--serve``: the API on ``url`` in this process until it is terminated."""
    app = bootstrap(Settings(database_url=url, data_dir=Path(tempfile.gettempdir()),
                             patient_id_key="bench-patient-key-0123456789abcdef"))
    uvicorn.Server(uvicorn.Config(create_api(app, limiter=AuthFailureLimiter(limit=10**6)), host="127.0.0.1",
                                  port=port, log_level="warning", access_log=False, timeout_keep_alive=75)).run()


def _read_figures(base: str, token: str, run_id: str, args: argparse.Namespace, url: str | None = None
                  ) -> dict[str, Any]:
    """The read figures; with ``--server-process`` (and ``url``) against a server in a child process."""
    child = None
    if getattr(args, "server_process", False) and url is not None:
        child, base = _serve_process(url)
    try:
        first = asyncio.run(_read_alone(base, token, run_id, 1))  # the page read from the database
        alone = asyncio.run(_read_alone(base, token, run_id, 20))
        read = _read_raw if getattr(args, "raw_client", False) else _read
        reads = asyncio.run(read(base, token, run_id, args.readers, args.reads_per_reader))
    finally:
        if child is not None:
            child.terminate()
            child.wait(timeout=30)
    return {"read_requests": len(reads), "read_clients": args.readers,
            "read_server": "child process" if child is not None else "thread of the clients' process",
            "read_client": "raw HTTP/1.1" if getattr(args, "raw_client", False) else "httpx",
            "results_p50_ms": round(1000 * _percentile(reads, 0.5), 1),
            "results_p99_ms": round(1000 * _percentile(reads, 0.99), 1),
            "results_first_ms": round(1000 * first[0], 1),
            "results_one_client_p50_ms": round(1000 * _percentile(alone, 0.5), 1), "load": _load()}


def bench_existing(url: str, args: argparse.Namespace) -> dict[str, Any]:
    """The stratum-results latency on an existing database, for its newest stored analysis run."""
    app = bootstrap(Settings(database_url=url, data_dir=Path(tempfile.gettempdir()),
                             patient_id_key="bench-patient-key-0123456789abcdef"))
    with app.uow() as unit:
        runs = unit.results.runs(limit=1)
        if not runs:
            raise SystemExit(f"{make_url(url).render_as_string()}: no stored analysis run to read")
        run = runs[0]
        stored = len(unit.results.stratum_results(run["run_id"]))
    token = create_token(app.uow, name="bench-reader", role="auditor", clock=app.clock, actor="bench")[1]
    server, thread, base = _serve(app)
    try:
        figures = _read_figures(base, token, run["run_id"], args, url)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        app.engine.dispose()
    return {"engine": make_url(url).get_backend_name(), "run_id": run["run_id"], "period": run["period"],
            "stored_results": stored, **figures, "peak_rss_mb": round(_peak_mb())}


def _fresh_app(url: str) -> Any:
    """The application on the migrated database at ``url`` with the example device registered."""
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    app = bootstrap(Settings(database_url=url, data_dir=Path(tempfile.gettempdir()),
                             patient_id_key="bench-patient-key-0123456789abcdef"))
    register_device(load_device_config(EXAMPLE), uow=app.uow, clock=app.clock, actor="bench", source=str(EXAMPLE))
    return app


def bench(url: str, args: argparse.Namespace) -> dict[str, Any]:
    app = _fresh_app(url)
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
        reads = _read_figures(base, reader_token, run_id, args, url)
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



class _Phases:
    """Wall time of each phase of a post, every call (``--phases``): the service's and repositories'
    methods are wrapped for the run only, and restored after. ``lock_held`` is the time from the ingestion
    lock's grant to the end of that transaction's commit: the serial part of a post."""

    def __init__(self) -> None:
        self.times: dict[str, list[float]] = {}
        self._lock = threading.Lock()
        self._local = threading.local()
        self._undo: list[tuple[Any, str, Any]] = []

    def _add(self, phase: str, seconds: float) -> None:
        with self._lock:
            self.times.setdefault(phase, []).append(seconds)

    def _wrap(self, owner: Any, name: str, phase: str, after: Any = None) -> None:
        original = getattr(owner, name)
        phases = self

        def timed(*a: Any, **k: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*a, **k)
            finally:
                phases._add(phase, time.perf_counter() - started)
                if after is not None:
                    after()

        self._undo.append((owner, name, original))
        setattr(owner, name, timed)

    def _granted(self) -> None:
        self._local.granted = time.perf_counter()

    def _committed(self) -> None:
        granted = getattr(self._local, "granted", None)
        if granted is not None:
            self._add("lock_held (grant to commit end)", time.perf_counter() - granted)
            self._local.granted = None

    def install(self) -> None:
        from sqlalchemy.engine import Connection, Engine

        import monitor.entrypoints.api.ingest as api_ingest
        import monitor.entrypoints.api.security as api_security
        from monitor.adapters.db.repositories.audit import AuditRepository
        from monitor.adapters.db.repositories.cells import CellRepository
        from monitor.adapters.db.repositories.logs import LogRepository

        self._wrap(api_security, "authenticate_token", "auth (token check)")
        self._wrap(api_ingest, "require_device", "require_device")
        self._wrap(api_ingest, "parse_body", "parse body")
        self._wrap(api_ingest, "ingest_predictions", "service total (ingest_predictions)")
        self._wrap(Engine, "connect", "pool checkout + connect")
        self._wrap(LogRepository, "lock_ingestion", "lock_ingestion wait", after=self._granted)
        for name, phase in (("start_batch", "start_batch"), ("prediction_hashes", "lookup stored ids"),
                            ("insert_predictions", "insert (COPY / executemany)"),
                            ("insert_rejections", "store rejections"), ("register_model_versions", "register"),
                            ("register_sites", "register"), ("refresh_statistics", "ANALYZE (refresh_statistics)"),
                            ("finish_batch", "finish_batch")):
            self._wrap(LogRepository, name, phase)
        self._wrap(CellRepository, "mark_dirty", "mark_dirty (cell_months)")
        self._wrap(AuditRepository, "append", "audit append")
        self._wrap(Connection, "_commit_impl", "commit", after=self._committed)

    def uninstall(self) -> None:
        for owner, name, original in reversed(self._undo):
            setattr(owner, name, original)
        self._undo.clear()

    def summary(self) -> dict[str, dict[str, float]]:
        return {phase: {"calls": len(v), "mean_ms": round(1000 * sum(v) / len(v), 1),
                        "p50_ms": round(1000 * _percentile(v, 0.5), 1), "p95_ms": round(1000 * _percentile(v, 0.95), 1)}
                for phase, v in self.times.items()}


class _Sampler:
    """Every ``interval`` s, what the bench database's other sessions are doing (``pg_stat_activity``: state
    and wait event) and which locks they wait for (ungranted ``pg_locks``, with the waiting statement; an
    advisory lock named by ``classid:objid:objsubid``: the ingestion lock 0x5A4D_0001 is ``0:1514995713:1``,
    the audit lock ``1935764836:1635083380:1``)."""

    def __init__(self, url: str, interval: float = 0.05) -> None:
        self._engine = create_engine(url)
        self._interval = interval
        self._stop = threading.Event()
        self.samples = 0
        self.activity: dict[str, int] = {}
        self.waits: dict[str, int] = {}
        self.sessions_max = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        activity = text("SELECT state, coalesce(wait_event_type, '') || ':' || coalesce(wait_event, ''), "
                        "left(regexp_replace(query, '\\s+', ' ', 'g'), 48) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        locks = text("SELECT l.locktype || coalesce(' ' || l.classid::text || ':' || l.objid::text || ':' || "
                     "l.objsubid::text, ''), l.mode, left(regexp_replace(a.query, '\\s+', ' ', 'g'), 48) "
                     "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                     "WHERE NOT l.granted AND a.datname = current_database()")
        with self._engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            while not self._stop.wait(self._interval):
                rows = conn.execute(activity).all()
                self.samples += 1
                self.sessions_max = max(self.sessions_max, len(rows))
                for state, wait, query in rows:
                    key = f"{state} | {wait} | {query if state == 'active' else ''}"
                    self.activity[key] = self.activity.get(key, 0) + 1
                for locktype, mode, query in conn.execute(locks):
                    key = f"{locktype} {mode} | {query}"
                    self.waits[key] = self.waits.get(key, 0) + 1

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._engine.dispose()

    def summary(self) -> dict[str, Any]:
        def top(counts: dict[str, int]) -> dict[str, float]:
            # average number of sessions in each situation per sample
            return {k: round(v / max(1, self.samples), 2) for k, v in sorted(counts.items(), key=lambda kv: -kv[1])[:12]}
        return {"samples": self.samples, "sessions_max": self.sessions_max,
                "sessions_by_state_wait_query (mean per sample)": top(self.activity),
                "ungranted_locks (mean per sample)": top(self.waits)}


async def _push(base: str, token: str, clients: int, per_client: int, rows: int, first: int
                ) -> tuple[float, int, list[float]]:
    """``clients`` concurrent clients, each posting ``per_client`` bodies of ``rows`` new predictions."""
    bodies = [[_body(first + c * per_client + i, rows) for i in range(per_client)] for c in range(clients)]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}
    latencies: list[float] = []
    accepted = 0

    async def client_posts(own: list[bytes]) -> None:
        nonlocal accepted
        async with httpx.AsyncClient(base_url=base, timeout=600) as client:
            for body in own:
                started = time.perf_counter()
                response = await client.post(f"/v1/devices/{DEVICE}/predictions", content=body, headers=headers)
                latencies.append(time.perf_counter() - started)
                response.raise_for_status()
                accepted += response.json()["accepted"]

    started = time.perf_counter()
    await asyncio.gather(*(client_posts(own) for own in bodies))
    return time.perf_counter() - started, accepted, latencies


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def bench_push(url: str, args: argparse.Namespace) -> dict[str, Any]:
    """The push endpoint under ``args.clients`` concurrent clients on a fresh database at ``url``."""
    app = _fresh_app(url)
    token = create_token(app.uow, name="bench", role="device", device_id=DEVICE, clock=app.clock, actor="bench")[1]
    server, thread, base = _serve(app)
    phases = _Phases() if args.phases else None
    sampling = args.sample and make_url(url).get_backend_name() == "postgresql"
    try:
        asyncio.run(_push(base, token, 1, 1, args.rows, 0))  # warm-up: first model version, sites, token cache
        load_before = _load()
        if phases is not None:
            phases.install()
        sampler = _Sampler(url) if sampling else None
        try:
            if sampler is not None:
                sampler.start()
            wall, accepted, latencies = asyncio.run(_push(base, token, args.clients, args.posts_per_client,
                                                          args.rows, 1))
        finally:
            if sampler is not None:
                sampler.stop()
            if phases is not None:
                phases.uninstall()
        load_after = _load()
        with app.engine.connect() as conn:
            stored = int(conn.execute(select(func.count()).select_from(predictions)).scalar_one())
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        app.engine.dispose()
    sent = args.clients * args.posts_per_client * args.rows
    figures: dict[str, Any] = {
        "engine": make_url(url).get_backend_name(), "clients": args.clients, "posts": len(latencies),
        "rows_per_post": args.rows, "rows_sent": sent, "rows_accepted": accepted,
        "count_matches": stored == sent + args.rows and accepted == sent, "seconds": round(wall, 2),
        "rows_per_second": round(sent / wall), "post_mean_ms": round(1000 * sum(latencies) / len(latencies)),
        "post_p50_ms": round(1000 * _percentile(latencies, 0.5)),
        "post_p95_ms": round(1000 * _percentile(latencies, 0.95)),
        "post_p99_ms": round(1000 * _percentile(latencies, 0.99)),
        "load_before": load_before, "load_after": load_after}
    if phases is not None:
        figures["phases"] = phases.summary()
    if sampler is not None:
        figures["pg_activity"] = sampler.summary()
    return figures


def _push_table(figures: list[dict[str, Any]]) -> str:
    lines = ["| engine | clients x posts x rows | post p50 / p95 / p99 ms | mean ms | rows/s | stored = sent | "
             "load before / after |", "|---|---|---|---|---|---|---|"]
    for f in figures:
        lines.append(f"| {f['engine']} | {f['clients']} x {f['posts'] // f['clients']} x {f['rows_per_post']} | "
                     f"{f['post_p50_ms']:,} / {f['post_p95_ms']:,} / {f['post_p99_ms']:,} | {f['post_mean_ms']:,} | "
                     f"{f['rows_per_second']:,} | "
                     f"{'yes' if f['count_matches'] else 'NO'} | {f['load_before']} / {f['load_after']} |")
    if len(figures) == 2:
        lines.append(f"\nPostgreSQL / SQLite p50: {figures[1]['post_p50_ms'] / max(1, figures[0]['post_p50_ms']):.2f}x")
    return "\n".join(lines)


def _postgres_database(args: argparse.Namespace, parser: argparse.ArgumentParser, run: Any) -> Any:
    """``run(url)`` on a new database of the PostgreSQL server, dropped afterwards."""
    if not args.postgres_url:
        parser.error("PostgreSQL needs --postgres-url or MONITOR_TEST_POSTGRES_URL")
    server = make_url(args.postgres_url).set(drivername="postgresql+psycopg")
    name = f"samd_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        return run(server.set(database=name).render_as_string(hide_password=False))
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--postgres-url", default=os.environ.get("MONITOR_TEST_POSTGRES_URL"))
    parser.add_argument("--posts", type=int, default=20)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--clients", type=int, help="Concurrent posting clients (4; --push: 20).")
    parser.add_argument("--readers", type=int, default=50)
    parser.add_argument("--reads-per-reader", type=int, default=10)
    parser.add_argument("--json", type=Path, help="Also write the figures to this file.")
    parser.add_argument("--db", help="Read-only run on this existing database (its newest analysis run).")
    parser.add_argument("--push", action="store_true", help="Measure the push endpoint alone (see above).")
    parser.add_argument("--posts-per-client", type=int, default=3)
    parser.add_argument("--phases", action="store_true", help="--push: time each phase of a post.")
    parser.add_argument("--sample", action="store_true", help="--push: sample pg_stat_activity / pg_locks.")
    parser.add_argument("--server-process", action="store_true",
                        help="Read figures against a server in a child process (not sharing the clients' GIL).")
    parser.add_argument("--raw-client", action="store_true",
                        help="Readers use a minimal HTTP/1.1 client instead of httpx (less client work per request).")
    parser.add_argument("--serve", metavar="URL", help=argparse.SUPPRESS)  # internal: the child server
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        _serve_forever(args.serve, args.port)
        return
    args.clients = args.clients or (20 if args.push else 4)
    measure = bench_push if args.push else bench
    figures = []
    if args.db:
        figures.append(bench_existing(args.db, args))
    elif args.engine in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            figures.append(measure(f"sqlite:///{tmp}/bench.sqlite", args))
    if not args.db and args.engine in ("postgresql", "both"):
        figures.append(_postgres_database(args, parser, lambda url: measure(url, args)))
    for f in figures:
        print(json.dumps(f, indent=2 if args.push else None))
    if args.push:
        print(_push_table(figures))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
