"""A request body can raise the server's memory by no more than a documented bound (issue 15, "Done when").

Bound (docs/reliability.md): the peak of memory allocated while one ingest request is served is at most
``BOUND_CONSTANT + min(BOUND_PER_BYTE * body, BOUND_CHUNK + 3 * body)``. Why it holds: a JSON array is read
element by element and never held parsed whole (``records.json_array``), NDJSON line by line; frames hold
at most ``records.MAX_CHUNK_CELLS`` cells and at most ``chunk_rows`` rows, so the work per chunk stops
growing with the body (``BOUND_CHUNK``); distinct field names are capped at ``records.MAX_COLUMNS``; and
the records of a request (hence its rejections, the only per-record state kept whole) are capped by
``records.REQUEST_MAX_RECORDS`` (``BOUND_CONSTANT`` covers 100,000 rejections, about 31 MiB). Measured
before the fix: 1 MiB of records with 100 own field names each peaked at 1,382 MiB, 1 MiB of ``[1,1,...]``
at 156 MiB.

Measured with ``tracemalloc`` (peak, reset per request) rather than RSS: it counts exactly what is
allocated while the request is served, in every thread, Python objects and the NumPy/pandas buffers
alike, per shape in one process and deterministically; RSS would need one subprocess per shape (seconds of
imports each) and mixes in allocator arenas and the test runner. What it does not see, C allocations
outside Python (SQLite's page cache, the driver's buffers), is bounded by their own settings, not by the
body's shape. Most shapes are posted under a reduced ``max_body_bytes``: the per-byte factor is the point;
bench figures for larger bodies are in docs/reliability.md. SQLite only: reading and framing a body does
not depend on the engine, and the budgets refuse before any storage.
"""

from __future__ import annotations

import gc
import tracemalloc

import pytest
from fastapi.testclient import TestClient
from request_shapes import BOUND_CHUNK, BOUND_CONSTANT, BOUND_PER_BYTE, MiB, bound, shapes  # noqa: F401

DEVICE = "lung-nodule-ct"
LIMIT = MiB // 2
SHAPES = shapes(LIMIT)  # the worst shapes, shared with bench/bench_request_memory.py (50 MiB bodies)


@pytest.mark.parametrize("empty_database_url", ["sqlite"], indirect=True)
def test_no_body_raises_memory_past_the_bound(app, clock, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Every worst shape within the body limit: an answer that is not a server error, and a traced peak
    within ``bound(len(body))``."""
    from monitor.entrypoints.api import create_api
    from monitor.entrypoints.api.security import AuthFailureLimiter
    from monitor.service import access

    monkeypatch.setattr(access, "TOKEN_PARAMS", (2**8, 8, 1))
    client = TestClient(create_api(app, max_body_bytes=LIMIT, limiter=AuthFailureLimiter(limit=10_000)),
                        raise_server_exceptions=False)
    headers = {"Authorization": "Bearer " + access.create_token(
        app.uow, name="gw", role="device", device_id=DEVICE, clock=clock, actor="pytest")[1]}
    client.get("/health")  # warm-up outside the measurement
    measured, over = {}, []
    for name, (media, make) in SHAPES.items():
        body = make()
        assert 0.9 * LIMIT <= len(body) <= LIMIT, name
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            response = client.post(f"/v1/devices/{DEVICE}/predictions", content=body,
                                   headers=headers | {"Content-Type": media})
            peak = tracemalloc.get_traced_memory()[1] - before
        finally:
            tracemalloc.stop()
        assert response.status_code in (200, 400, 413, 422), (name, response.status_code, response.text[:300])
        measured[name] = (response.status_code, round(peak / MiB, 1))
        if peak > bound(len(body)):
            over.append(name)
    assert not over, f"above {bound(LIMIT) / MiB:.0f} MiB: {over}; all (status, MiB): {measured}"
