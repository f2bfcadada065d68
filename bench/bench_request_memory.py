"""Benchmark the server's resident memory for one ingest request at the real body limit (issue 15, "Done when").

Usage::

    nice -n 10 .venv/bin/python bench/bench_request_memory.py [--limit BYTES] [--shapes a,b,...]
        [--json bench/results/<date>-request-memory.json]

The worst body shapes of tests/security/test_request_memory.py (shared: tests/security/request_shapes.py),
each built just under ``--limit`` (default ``MONITOR_API_MAX_BODY_BYTES``' default, 50 MiB), plus ordinary
valid prediction records filling the same limit with as many rows as one request may hold
(``records.REQUEST_MAX_RECORDS``, every field present, long identifiers), as a JSON array and as NDJSON.

For each shape, a fresh SQLite database (the example device registered, a device token) and a fresh
server: ``samd-monitor serve --no-scheduler`` (the real entry point, default body limit, default token
KDF) as a child process on a free loopback port, warmed up by one small authenticated ingest. Then
VmRSS of the server is read, its high-water mark reset (``echo 5 > /proc/PID/clear_refs`` resets VmHWM,
Linux >= 4.0, proc(5)), the body is POSTed, and VmHWM is read after the answer. Peak growth =
VmHWM - VmRSS before. Meanwhile a second client asks ``GET /health`` every 0.25 s with a 1 s timeout;
once more after the answer. A fresh server per shape keeps one shape's allocator slack out of the
next one's baseline, a fresh database its stored rows out of the next one's work.

The bound printed beside each figure is the documented resident-memory one,
``request_shapes.rss_bound(body)``: 1.5 x the bound the test checks with tracemalloc
(48 MiB + min(24 x body, 256 MiB + 3 x body)), because RSS also counts allocator slack and C allocations
that tracemalloc does not see (681 MiB at 50 MiB). A figure above it is reported, not hidden.
Traffic goes only to 127.0.0.1; every request has a timeout. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Callable

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests" / "security"))

import request_shapes  # noqa: E402
from bench_api import DEVICE, EXAMPLE, _free_port  # noqa: E402

from monitor.adapters.config_file import load_device_config  # noqa: E402
from monitor.adapters.db.engine import make_engine, upgrade  # noqa: E402
from monitor.adapters.formats.records import REQUEST_MAX_RECORDS  # noqa: E402
from monitor.entrypoints.api.app import DEFAULT_MAX_BODY_BYTES  # noqa: E402
from monitor.entrypoints.bootstrap import bootstrap  # noqa: E402
from monitor.service.access import create_token  # noqa: E402
from monitor.service.devices import register_device  # noqa: E402
from monitor.settings import Settings  # noqa: E402

MiB = request_shapes.MiB
PATIENT_KEY = "bench-patient-key-0123456789abcdef"
HEALTH_EVERY = 0.25
HEALTH_TIMEOUT = 1.0
POST_TIMEOUT = 900.0


def valid_records(limit: int, *, ndjson: bool, prefix: str = "p") -> bytes:
    """Valid prediction records with every field, as many as one request may hold, padded (long but legal
    prediction and patient ids) so that they fill ``limit`` bytes: the most rows one request can store."""
    count = REQUEST_MAX_RECORDS

    room = 128 - len(prefix) - 10  # MAX_ID_LENGTH

    def make(i: int, pad: int) -> bytes:
        return request_shapes.compact({
            "prediction_id": f"{prefix}{i:09d}-" + "x" * min(pad, room), "model_version": "2.1.0",
            "site_id": f"site-{i % 5}", "predicted_at": f"2026-01-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z",
            "score": (i % 1000) / 1000, "predicted_label": int(i % 1000 >= 500),
            "patient_id": f"MRN-{i:09d}-" + "y" * max(0, min(pad - room, 114)), "age": 30 + i % 60,
            "sex": "FM"[i % 2], "emphysema_grade": ("none", "mild", "moderate", "severe")[i % 4],
            "scanner_vendor": ("GE", "Siemens", "Philips", "United Imaging")[i % 4],
            "study_uid": f"1.2.840.113619.2.55.3.{i:012d}.{i % 997}", "accession_number": f"ACC{i:012d}",
            "ai_volume_mm3": 123.4 + i % 100, "reviewed_volume_mm3": 120.5 + i % 90, "result_status": "ok"})

    sep = b"\n" if ndjson else b","
    target = limit // count - len(sep)
    pad = max(0, target - len(make(0, 0)))
    body = bytearray() if ndjson else bytearray(b"[")
    end = b"\n" if ndjson else b"]"
    for i in range(count):
        part = make(i, pad)
        if len(body) + len(sep) + len(part) + len(end) > limit:
            break
        if i:
            body += sep
        body += part
    return bytes(body + end)


def fhir_empty_objects(limit: int) -> bytes:
    """A FHIR Bundle whose entries are empty objects: the whole document is parsed (``json.loads``) before
    the request budget counts its entries (docs: h1's note on FHIR parse memory)."""
    return request_shapes.fill(lambda i: b"{}", limit, start=b'{"resourceType":"Bundle","type":"collection","entry":[',
                               end=b"]}")


def all_shapes(limit: int, prefix: str = "p") -> dict[str, request_shapes.Shape]:
    """The test's worst shapes, a FHIR parse-memory shape and the valid records (prediction ids starting with
    ``prefix``), each filling ``limit``."""
    shapes = request_shapes.shapes(limit)
    shapes["fhir-empty-objects"] = ("application/fhir+json", lambda: fhir_empty_objects(limit))
    shapes["valid-records-json"] = ("application/json", lambda: valid_records(limit, ndjson=False, prefix=prefix))
    shapes["valid-records-ndjson"] = ("application/x-ndjson", lambda: valid_records(limit, ndjson=True, prefix=prefix))
    return shapes


def _status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of ``pid`` in bytes (proc(5))."""
    figures = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            figures[key] = int(value.split()[0]) * 1024
    return figures


class Server:
    """``samd-monitor serve --no-scheduler`` on a free loopback port, as a child process."""

    def __init__(self, workdir: Path, url: str) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = os.environ | {"MONITOR_DATABASE_URL": url, "MONITOR_DATA_DIR": str(workdir),
                            "MONITOR_PATIENT_ID_KEY": PATIENT_KEY}
        env.pop("MONITOR_API_MAX_BODY_BYTES", None)  # the default limit is what is measured
        script = Path(sys.executable).with_name("samd-monitor")
        command = [str(script)] if script.exists() else [sys.executable, "-c",
                                                         "from monitor.entrypoints.cli import main; main()"]
        self.log = (workdir / f"server-{self.port}.log").open("wb")
        self.process = subprocess.Popen(command + ["serve", "--no-scheduler", "--host", "127.0.0.1", "--port",
                                                   str(self.port), "--log-level", "warning"],
                                        env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while True:
            if self.process.poll() is not None:
                raise SystemExit(f"the server exited with {self.process.returncode}; log: {self.log.name}")
            try:
                if httpx.get(f"{self.base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise SystemExit("the server did not answer /health within 120 s")
            time.sleep(0.2)

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)
        self.log.close()


class HealthProbe:
    """``GET /health`` every HEALTH_EVERY seconds, each with a HEALTH_TIMEOUT timeout, until stopped."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.latencies: list[float] = []
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with httpx.Client(base_url=self.base, timeout=HEALTH_TIMEOUT) as client:
            while not self._stop.is_set():
                started = time.perf_counter()
                try:
                    ok = client.get("/health").status_code == 200
                except httpx.HTTPError:
                    ok = False
                self.latencies.append(time.perf_counter() - started)
                self.failures += not ok
                self._stop.wait(HEALTH_EVERY)

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        self._thread.join(timeout=10)
        return {"health_probes": len(self.latencies), "health_failures": self.failures,
                "health_max_s": round(max(self.latencies, default=0.0), 3)}


def measure(server: Server, token: str, name: str, media: str, body: bytes) -> dict[str, Any]:
    """One POST of ``body``: status, wall time, the server's RSS before and its peak growth."""
    before = _status(server.pid)["VmRSS"]
    Path(f"/proc/{server.pid}/clear_refs").write_text("5")  # VmHWM := VmRSS
    probe = HealthProbe(server.base)
    started = time.perf_counter()
    try:
        response = httpx.post(f"{server.base}/v1/devices/{DEVICE}/predictions", content=body, timeout=POST_TIMEOUT,
                              headers={"Authorization": f"Bearer {token}", "Content-Type": media})
        status, answer = response.status_code, response.text
    except httpx.HTTPError as exc:
        status, answer = None, f"{type(exc).__name__}"
    seconds = time.perf_counter() - started
    during = probe.stop()
    after = _status(server.pid) if server.process.poll() is None else {"VmHWM": 0, "VmRSS": 0}
    started = time.perf_counter()
    try:
        health_after = httpx.get(f"{server.base}/health", timeout=HEALTH_TIMEOUT).status_code == 200
    except httpx.HTTPError:
        health_after = False
    health_after_s = time.perf_counter() - started
    try:
        summary = json.loads(answer)
    except ValueError:
        summary = {}
    growth = after["VmHWM"] - before
    bound = request_shapes.rss_bound(len(body))
    return {
        "shape": name, "media_type": media, "body_bytes": len(body), "body_mib": round(len(body) / MiB, 2),
        "status": status, "seconds": round(seconds, 1),
        "accepted": summary.get("accepted"), "duplicates": summary.get("duplicates"),
        "rejected": summary.get("rejected"),
        "problem": summary.get("detail") if status is not None and status >= 400 else None,
        "rss_before_mib": round(before / MiB, 1), "peak_growth_mib": round(growth / MiB, 1),
        "rss_after_mib": round(after["VmRSS"] / MiB, 1), "bound_mib": round(bound / MiB, 1),
        "within_bound": growth <= bound, **during,
        "health_after_ok": health_after and health_after_s <= HEALTH_TIMEOUT,
        "health_after_s": round(health_after_s, 3),
    }


def _warm_up(server: Server, token: str) -> None:
    """One small valid ingest (token check, imports on first use, the SQLite connection) before measuring."""
    body = valid_records(20_000, ndjson=True, prefix="w")
    response = httpx.post(f"{server.base}/v1/devices/{DEVICE}/predictions", content=body, timeout=120,
                          headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"})
    response.raise_for_status()


def _table(rows: list[dict[str, Any]]) -> str:
    head = ("| shape | body MiB | status | RSS before MiB | peak growth MiB | bound MiB | within bound | s | "
            "/health max s (fails) |")
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for r in rows:
        health = f"{r['health_max_s']:.2f} ({r['health_failures']}{', after: no' if not r['health_after_ok'] else ''})"
        lines.append(f"| {r['shape']} | {r['body_mib']:.1f} | {r['status']} | {r['rss_before_mib']:.0f} | "
                     f"{r['peak_growth_mib']:.0f} | {r['bound_mib']:.0f} | {'yes' if r['within_bound'] else 'NO'} | "
                     f"{r['seconds']:.1f} | {health} |")
    return "\n".join(lines)


def _database(workdir: Path) -> tuple[str, str]:
    """A fresh SQLite database in ``workdir`` with the example device registered, and a device token."""
    url = f"sqlite:///{workdir}/bench.sqlite"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    app = bootstrap(Settings(database_url=url, data_dir=workdir, patient_id_key=PATIENT_KEY))
    register_device(load_device_config(EXAMPLE), uow=app.uow, clock=app.clock, actor="bench", source=str(EXAMPLE))
    token = create_token(app.uow, name="bench", role="device", device_id=DEVICE, clock=app.clock, actor="bench")[1]
    app.engine.dispose()
    return url, token


def run(limit: int, names: list[str], workdir: Path, progress: Callable[[str], None],
        repeat: int = 1) -> list[dict[str, Any]]:
    """Each shape on a fresh database and server, posted ``repeat`` times to that server (valid records
    with new prediction ids each time: new rows, not duplicates)."""
    rows = []
    for name in names:
        folder = workdir / name
        folder.mkdir()
        url, token = _database(folder)
        server = Server(folder, url)
        try:
            _warm_up(server, token)
            for post in range(1, repeat + 1):
                media, make = all_shapes(limit, prefix=f"p{post}-")[name]
                body = make()
                row = measure(server, token, name, media, body) | {"post": post}
                del body
                rows.append(row)
                progress(json.dumps(row))
        finally:
            server.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=DEFAULT_MAX_BODY_BYTES,
                        help="Body size to fill (default: the server's default limit, 50 MiB).")
    parser.add_argument("--shapes", help="Comma-separated shape names (default: all).")
    parser.add_argument("--repeat", type=int, default=1,
                        help="Posts of each shape to the same server (does retained memory add up?).")
    parser.add_argument("--json", type=Path, help="Also write the figures to this file.")
    args = parser.parse_args()
    known = list(all_shapes(args.limit))
    names = args.shapes.split(",") if args.shapes else known
    unknown = [n for n in names if n not in known]
    if unknown:
        parser.error(f"unknown shape(s) {unknown}; known: {', '.join(known)}")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-request-memory-") as tmp:
        rows = run(args.limit, names, Path(tmp), lambda line: print(line, file=sys.stderr, flush=True),
                   max(1, args.repeat))
    print(_table(rows))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        document = {"date": datetime.now(UTC).date().isoformat(), "limit_bytes": args.limit, "repeat": args.repeat,
                    "bound": "RSS: 1.5 x (48 MiB + min(24 x body, 256 MiB + 3 x body)) (request_shapes.rss_bound)",
                    "measure": "server VmHWM after the POST minus VmRSS before it (clear_refs 5 before)",
                    "engine": "sqlite", "python": platform.python_version(), "machine": platform.machine(),
                    "cpus": os.cpu_count(), "total_seconds": round(time.perf_counter() - started), "rows": rows}
        args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
