"""The worst body shapes of one ingest request and the documented memory bound (issue 15, "Done when").

Shared by tests/security/test_request_memory.py (bodies of 512 KiB, tracemalloc) and
bench/bench_request_memory.py (bodies just under the real 50 MiB limit, the server's RSS). Each shape is
``(media type, make)``; ``make()`` builds a body of at most ``limit`` bytes and at least 90 % of it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from monitor.adapters.formats.fhir import EXTENSION_URL

ROOT = Path(__file__).resolve().parents[2]
MiB = 2**20
BOUND_CONSTANT = 48 * MiB
BOUND_PER_BYTE = 24
BOUND_CHUNK = 256 * MiB

Shape = tuple[str, Callable[[], bytes]]


def bound(size: int) -> int:
    """The documented bound on the memory one request of ``size`` bytes may raise."""
    return BOUND_CONSTANT + min(BOUND_PER_BYTE * size, BOUND_CHUNK + 3 * size)


def rss_bound(size: int) -> int:
    """The documented bound on the server's resident memory one request of ``size`` bytes may add
    (bench/bench_request_memory.py): 1.5 times :func:`bound`, for what tracemalloc does not see (allocator
    arenas kept by glibc, pandas and Arrow buffers freed but not returned, SQLite's page cache)."""
    return bound(size) * 3 // 2


def record(i: int, **changes: Any) -> dict[str, Any]:
    """An ordinary, valid prediction record of the example device."""
    return {"prediction_id": f"m-{i:07d}", "model_version": "2.1.0", "site_id": "site-a",
            "predicted_at": "2026-01-15T09:30:00Z", "score": 0.8, "predicted_label": 1, "patient_id": f"MRN-{i}",
            "age": 61, "sex": "F"} | changes


def compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def fill(make: Callable[[int], bytes], limit: int, *, sep: bytes = b",", start: bytes = b"[",
         end: bytes = b"]") -> bytes:
    """As many ``make(i)`` elements as fit in ``limit`` bytes."""
    body, i = bytearray(start), 0
    while True:
        part = make(i)
        if len(body) + (len(sep) if i else 0) + len(part) + len(end) > limit:
            return bytes(body + end)
        if i:
            body += sep
        body += part
        i += 1


def fhir_extensions(limit: int) -> bytes:
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
        return compact(entry)

    head = compact({"resourceType": "Bundle", "type": "collection", "entry": context})[:-2] + b","
    return fill(copy, limit, start=head, end=b"]}")


def shapes(limit: int) -> dict[str, Shape]:
    """Every worst shape, each filling a body limit of ``limit`` bytes."""
    lines = {"sep": b"\n", "start": b"", "end": b""}
    return {
        "distinct-fields-json": ("application/json", lambda: fill(
            lambda i: compact(record(i, **{f"f{i}x{j}": 1 for j in range(100)})), limit)),
        "distinct-fields-ndjson": ("application/x-ndjson", lambda: fill(
            lambda i: compact({f"f{i}x{j}": 1 for j in range(100)}), limit, **lines)),
        "ordinary-records": ("application/json", lambda: fill(lambda i: compact(record(i)), limit)),
        "empty-objects": ("application/json", lambda: fill(lambda i: b"{}", limit)),
        "numbers": ("application/json", lambda: fill(lambda i: b"1", limit)),
        "null-fields": ("application/json", lambda: fill(lambda i: b'{"a":null}', limit)),
        "null-lines": ("application/x-ndjson", lambda: fill(lambda i: b"null", limit, **lines)),
        "nested-values": ("application/json", lambda: fill(
            lambda i: b'{"a":[[[[[[[[[[[[[[[[{}]]]]]]]]]]]]]]]]}', limit)),
        "deep-nesting": ("application/json", lambda: b"[" * (limit // 2) + b"]" * (limit // 2)),
        "one-huge-string": ("application/json", lambda: compact([record(0, note="x" * (limit - 400))])),
        "fhir-many-extensions": ("application/fhir+json", lambda: fhir_extensions(limit)),
        "fhir-empty-entries": ("application/fhir+json", lambda: fill(
            lambda i: b"{}", limit, start=b'{"resourceType":"Bundle","entry":[', end=b"]}")),
        "fhir-numbers-in-a-field": ("application/fhir+json", lambda: fill(
            lambda i: b"0.1", limit, start=b'{"resourceType":"Bundle","note":[', end=b'],"entry":[]}')),
    }
