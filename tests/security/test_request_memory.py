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
import json
import tracemalloc
from pathlib import Path
from typing import Any, Callable

import pytest
from fastapi.testclient import TestClient

from monitor.adapters.formats.fhir import EXTENSION_URL

ROOT = Path(__file__).resolve().parents[2]
DEVICE = "lung-nodule-ct"
MiB = 2**20
LIMIT = MiB // 2
BOUND_CONSTANT = 48 * MiB
BOUND_PER_BYTE = 24
BOUND_CHUNK = 256 * MiB


def bound(size: int) -> int:
    """The documented bound on the memory one request of ``size`` bytes may raise."""
    return BOUND_CONSTANT + min(BOUND_PER_BYTE * size, BOUND_CHUNK + 3 * size)


def _record(i: int, **changes: Any) -> dict[str, Any]:
    return {"prediction_id": f"m-{i:07d}", "model_version": "2.1.0", "site_id": "site-a",
            "predicted_at": "2026-01-15T09:30:00Z", "score": 0.8, "predicted_label": 1, "patient_id": f"MRN-{i}",
            "age": 61, "sex": "F"} | changes


def _fill(make: Callable[[int], bytes], *, sep: bytes = b",", start: bytes = b"[", end: bytes = b"]") -> bytes:
    """As many ``make(i)`` elements as fit in LIMIT bytes."""
    parts, size, i = [], len(start) + len(end), 0
    while True:
        part = make(i)
        if size + len(part) + len(sep) > LIMIT:
            return start + sep.join(parts) + end
        parts.append(part)
        size += len(part) + len(sep)
        i += 1


def _compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _fhir_extensions() -> bytes:
    """The example Bundle's AI Observation repeated, each copy with 100 extension columns of its own."""
    document = json.loads((ROOT / "examples" / "fhir" / "predictions.fhir.json").read_text())
    context = [e for e in document["entry"] if e["resource"]["id"] in ("pulmoscan", "sh-01", "p1", "study1")]
    observation = next(e for e in document["entry"] if e["resource"]["id"] == "ai-1")

    def copy(i: int) -> bytes:
        entry = json.loads(json.dumps(observation))
        entry["fullUrl"] = entry["fullUrl"].replace("ai-1", f"ai-m{i}")
        entry["resource"].update(id=f"ai-m{i}", extension=[
            {"url": EXTENSION_URL, "extension": [{"url": "name", "valueString": f"e{i}x{j}"},
                                                 {"url": "value", "valueString": "v"}]} for j in range(100)])
        entry["resource"]["identifier"][0]["value"] = f"FHIR-M-{i}"
        return _compact(entry)

    head = _compact({"resourceType": "Bundle", "type": "collection", "entry": context})[:-2] + b","
    return _fill(copy, start=head, end=b"]}")


SHAPES: dict[str, tuple[str, Callable[[], bytes]]] = {
    "distinct-fields-json": ("application/json", lambda: _fill(
        lambda i: _compact(_record(i, **{f"f{i}x{j}": 1 for j in range(100)})))),
    "distinct-fields-ndjson": ("application/x-ndjson", lambda: _fill(
        lambda i: _compact({f"f{i}x{j}": 1 for j in range(100)}), sep=b"\n", start=b"", end=b"")),
    "ordinary-records": ("application/json", lambda: _fill(lambda i: _compact(_record(i)))),
    "empty-objects": ("application/json", lambda: _fill(lambda i: b"{}")),
    "numbers": ("application/json", lambda: _fill(lambda i: b"1")),
    "null-fields": ("application/json", lambda: _fill(lambda i: b'{"a":null}')),
    "null-lines": ("application/x-ndjson", lambda: _fill(lambda i: b"null", sep=b"\n", start=b"", end=b"")),
    "nested-values": ("application/json", lambda: _fill(lambda i: b'{"a":[[[[[[[[[[[[[[[[{}]]]]]]]]]]]]]]]]}')),
    "deep-nesting": ("application/json", lambda: b"[" * (LIMIT // 2) + b"]" * (LIMIT // 2)),
    "one-huge-string": ("application/json", lambda: _compact([_record(0, note="x" * (LIMIT - 400))])),
    "fhir-many-extensions": ("application/fhir+json", _fhir_extensions),
}


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
