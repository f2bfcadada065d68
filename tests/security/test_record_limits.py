"""The one limit on record-shaped input (issue 15, row 1): at most ``records.MAX_COLUMNS`` distinct field names
in a JSON array, an NDJSON text or the columns a FHIR Bundle maps to (a record past it is rejected with its
number, never echoing a field name), frames of at most ``records.MAX_CHUNK_CELLS`` cells, and a per-request
budget of records and field values (413, nothing stored). Through the API (both engines), the readers, and
the CLI for NDJSON files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from monitor.adapters.db.tables import ingestion_batches, predictions, rejected_rows
from monitor.adapters.files.readers import open_log
from monitor.adapters.formats import ndjson, records
from monitor.adapters.formats.fhir import EXTENSION_URL, FhirBundleLog
from monitor.adapters.formats.ndjson import NdjsonLog
from monitor.adapters.formats.records import (
    MAX_CHUNK_CELLS,
    MAX_COLUMNS,
    RecordsLog,
    RequestBudget,
    frames,
    json_array,
)
from monitor.errors import PayloadTooLargeError

ROOT = Path(__file__).resolve().parents[2]
DEVICE = "lung-nodule-ct"
PER_RECORD = 100  # own field names per record: the red team's body had 800 records of 100 each
WIDE = MAX_COLUMNS // PER_RECORD + 5  # records enough to pass the limit


def _record(i: int, **changes: Any) -> dict[str, Any]:
    return {"prediction_id": f"w-{i:05d}", "model_version": "2.1.0", "site_id": "site-a",
            "predicted_at": "2026-01-15T09:30:00Z", "score": 0.8, "predicted_label": 1, "patient_id": f"MRN-{i}",
            "age": 61, "sex": "F"} | changes


def _wide(i: int) -> dict[str, Any]:
    """A valid record with PER_RECORD field names of its own (``secret...`` names: none may be echoed)."""
    return _record(i, **{f"secret{i}x{j}": 1 for j in range(PER_RECORD)})


def _wide_records(n: int = WIDE) -> list[dict[str, Any]]:
    return [_wide(i) for i in range(n)]


def _first_over(rows: list[dict[str, Any]]) -> int:
    """The 1-based number of the first record that would bring the union above MAX_COLUMNS."""
    seen: set[str] = set()
    for number, row in enumerate(rows, start=1):
        if len(seen | set(row)) > MAX_COLUMNS:
            return number
        seen |= set(row)
    raise AssertionError("the records stay within the limit")


def _assert_limited(log: Any, rows: list[dict[str, Any]]) -> None:
    over = _first_over(rows)
    rejected = log.rejections()
    assert [r.row_number for r in rejected] == list(range(over, len(rows) + 1))
    assert {r.code for r in rejected} == {"too_many_fields"}
    assert all(str(MAX_COLUMNS) in r.reason and "secret" not in r.reason for r in rejected)
    assert len(log.columns) <= MAX_COLUMNS and log.count_rows() == over - 1
    assert all(len(frame) * len(frame.columns) <= MAX_CHUNK_CELLS for _, frame in log.chunks())


def test_the_readers_share_one_column_limit() -> None:
    """JSON array, NDJSON and FHIR read the one limit defined in records.py."""
    from monitor.adapters.formats import fhir

    assert ndjson.MAX_COLUMNS is records.MAX_COLUMNS
    assert fhir.ColumnUnion is records.ColumnUnion and ndjson.ColumnUnion is records.ColumnUnion


def test_json_records_past_the_column_limit_are_rejected_with_their_number() -> None:
    rows = _wide_records()
    _assert_limited(RecordsLog(rows, format="json", name="body", sha256="0" * 64), rows)
    text = json.dumps(rows)
    _assert_limited(RecordsLog(lambda: json_array(text), format="json", name="body", sha256="0" * 64), rows)


def test_ndjson_lines_past_the_column_limit_are_rejected_with_their_number() -> None:
    rows = _wide_records()
    _assert_limited(NdjsonLog("\n".join(json.dumps(r) for r in rows).encode()), rows)


def _fhir_wide(n: int, names: int = PER_RECORD) -> bytes:
    """The example Bundle's first AI Observation, ``n`` times, each with ``names`` extension columns of its own."""
    document = json.loads((ROOT / "examples" / "fhir" / "predictions.fhir.json").read_text())
    context = [e for e in document["entry"] if e["resource"]["id"] in ("pulmoscan", "sh-01", "p1", "study1")]
    observation = next(e for e in document["entry"] if e["resource"]["id"] == "ai-1")
    entries = []
    for i in range(n):
        entry = json.loads(json.dumps(observation))
        entry["fullUrl"] = entry["fullUrl"].replace("ai-1", f"ai-w{i}")
        entry["resource"]["id"] = f"ai-w{i}"
        entry["resource"]["identifier"][0]["value"] = f"FHIR-W-{i}"
        entry["resource"]["extension"] = [
            {"url": EXTENSION_URL, "extension": [{"url": "name", "valueString": f"secret{i}x{j}"},
                                                 {"url": "value", "valueString": "v"}]} for j in range(names)]
        entries.append(entry)
    document["entry"] = context + entries
    return json.dumps(document).encode()


def test_fhir_rows_past_the_column_limit_are_rejected_with_their_entry_number() -> None:
    """Extension-derived columns count against the same limit (the mapping's own columns included)."""
    log = FhirBundleLog(_fhir_wide(WIDE), kind="predictions", device_id=DEVICE)
    rejected = [r for r in log.rejections() if r.code == "too_many_fields"]
    assert rejected and len(log.columns) <= MAX_COLUMNS
    first_entry = 5  # four context resources come first
    assert [r.row_number for r in rejected] == list(range(rejected[0].row_number, first_entry + WIDE))
    assert log.count_rows() == rejected[0].row_number - first_entry
    assert all("secret" not in r.reason and str(MAX_COLUMNS) in r.reason for r in rejected)


def test_one_fhir_resource_with_too_many_extensions_is_rejected() -> None:
    log = FhirBundleLog(_fhir_wide(1, names=records.MAX_FIELDS + 1), kind="predictions", device_id=DEVICE)
    assert [(r.row_number, r.code) for r in log.rejections()] == [(5, "too_many_fields")]
    assert "secret" not in log.rejections()[0].reason


def test_frames_never_exceed_the_cell_limit() -> None:
    columns = [f"c{i}" for i in range(MAX_COLUMNS)]
    numbered = ((n, {"c0": "x"}) for n in range(1, 3 * MAX_CHUNK_CELLS // MAX_COLUMNS))
    sizes = [frame.shape for _, frame in frames(numbered, columns, 50_000)]
    assert all(r * c <= MAX_CHUNK_CELLS for r, c in sizes) and sum(r for r, _ in sizes) == \
        3 * MAX_CHUNK_CELLS // MAX_COLUMNS - 1


def test_the_request_budget_names_its_limit_only() -> None:
    with pytest.raises(PayloadTooLargeError, match="more than 3 records") as raised:
        NdjsonLog(b'{"secret": 1}\n' * 4, budget=RequestBudget(max_records=3))
    assert "secret" not in str(raised.value)
    with pytest.raises(PayloadTooLargeError, match="more than 5 field values"):
        RecordsLog([{"a": 1, "b": 2, "c": 3}] * 2, format="json", name="b", sha256="0" * 64,
                   budget=RequestBudget(max_cells=5))
    with pytest.raises(PayloadTooLargeError, match="more than 2 records"):
        FhirBundleLog(_fhir_wide(3, names=0), kind="predictions", device_id=DEVICE,
                      budget=RequestBudget(max_records=2))
    log = NdjsonLog(b'{"a": 1}\n' * 3, budget=RequestBudget(max_records=3))  # at the limit: read
    assert log.count_rows() == 3


@pytest.mark.parametrize("body", [
    b'{"resourceType": "Bundle", "entry": [' + b"{}," * 40 + b"{}]}",  # parsing costs ~27x the bytes
    b'{"resourceType": "Bundle", "note": [' + b"0.1," * 40 + b'0.1], "entry": []}',  # in no counted field
], ids=["empty-entries", "numbers-in-a-field"])
def test_a_fhir_bundle_is_bounded_before_it_is_parsed(body: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Bundle is parsed whole: a body that could build more JSON values than the request's cell limit is
    refused before ``json.loads`` runs (the 50 MiB bench: 1.35 GB for ``{}`` entries before this check)."""
    from monitor.adapters.formats import fhir

    def no_parse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("parsed before the bound was checked")

    monkeypatch.setattr(fhir.json, "loads", no_parse)
    with pytest.raises(PayloadTooLargeError, match="more than 30 JSON values"):
        FhirBundleLog(body, kind="predictions", device_id=DEVICE, budget=RequestBudget(max_cells=30))


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=4),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner,
                                                                               max_size=4), max_leaves=20))
def test_json_value_bound_is_an_upper_bound(document: Any) -> None:
    """The bound counted over the bytes is never below the values and member names ``json.loads`` builds."""
    def built(value: Any) -> int:
        if isinstance(value, dict):
            return 1 + sum(1 + built(v) for v in value.values())
        if isinstance(value, list):
            return 1 + sum(built(v) for v in value)
        return 1

    for text in (json.dumps(document), json.dumps(document, indent=1)):
        assert records.json_value_bound(text.encode()) >= built(document)


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=4),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                               max_size=3), max_leaves=10),
       st.sampled_from(["", " ", "\n", "\t ", "x", ",", "]"]))
def test_json_array_reads_what_json_loads_reads(document: Any, suffix: str) -> None:
    """The element-by-element reader agrees with ``json.loads`` on valid JSON, and refuses what it refuses."""
    for text in (json.dumps(document), json.dumps(document, indent=1, separators=(" , ", " : ")),
                 json.dumps(document) + suffix):
        try:
            expected = json.loads(text)
        except json.JSONDecodeError:
            expected = None
        if isinstance(expected, list):
            assert list(json_array(text)) == expected
        else:
            with pytest.raises(json.JSONDecodeError):
                list(json_array(text))


# API (both engines) -------------------------------------------------------------------------------------------
@pytest.fixture
def api(app, clock, monkeypatch):  # type: ignore[no-untyped-def]
    from monitor.entrypoints.api import create_api
    from monitor.entrypoints.api.security import AuthFailureLimiter
    from monitor.service import access

    monkeypatch.setattr(access, "TOKEN_PARAMS", (2**8, 8, 1))
    client = TestClient(create_api(app, limiter=AuthFailureLimiter(limit=10_000)), raise_server_exceptions=False)
    client.device = {"Authorization": "Bearer " + access.create_token(  # type: ignore[attr-defined]
        app.uow, name="gw", role="device", device_id=DEVICE, clock=clock, actor="pytest")[1]}
    client.app_ = app  # type: ignore[attr-defined]
    return client


def _count(app, table) -> int:  # type: ignore[no-untyped-def]
    with app.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _post(api, body: bytes, media: str):  # type: ignore[no-untyped-def]
    return api.post(f"/v1/devices/{DEVICE}/predictions", content=body,
                    headers=api.device | {"Content-Type": media})


def test_api_rejects_records_past_the_column_limit(api) -> None:  # type: ignore[no-untyped-def]
    """The red team's shape, scaled down: records of 100 own field names each. The records within the limit
    are stored, the rest rejected with their numbers (JSON array, NDJSON and FHIR alike); no field name is
    echoed in the answer or in a stored reason."""
    rows = _wide_records()
    over = _first_over(rows)
    bodies = {"application/json": json.dumps(rows).encode(),
              "application/x-ndjson": "\n".join(json.dumps(r | {"prediction_id": "n" + r["prediction_id"]})
                                                for r in rows).encode()}
    for media, body in bodies.items():
        response = _post(api, body, media)
        assert response.status_code == 200, response.text
        summary = response.json()
        assert (summary["accepted"], summary["rejected"]) == (over - 1, len(rows) - over + 1), media
        assert summary["reasons"] == {"too_many_fields": len(rows) - over + 1}
    fhir = _post(api, _fhir_wide(WIDE), "application/fhir+json")
    assert fhir.status_code == 200, fhir.text
    assert fhir.json()["reasons"] == {"too_many_fields": fhir.json()["rejected"]} and fhir.json()["accepted"] > 0
    with api.app_.engine.connect() as conn:
        reasons = conn.execute(select(rejected_rows.c.reason)).scalars().all()
    assert reasons and not any("secret" in reason for reason in reasons)


SMALL = 50  # the budget's record limit in the shape tests (monkeypatched: the shapes, not the size, are the point)


@pytest.mark.parametrize("media, body", [
    ("application/json", b"[" + b"{}," * SMALL + b"{}]"),
    ("application/json", b"[" + b"1," * SMALL + b"1]"),
    ("application/x-ndjson", b'{"secret": null}\n' * (SMALL + 1)),
    ("application/fhir+json", b'{"resourceType": "Bundle", "entry": [' + b"{}," * SMALL + b"{}]}"),
], ids=["json-empty-objects", "json-numbers", "ndjson", "fhir-entries"])
def test_api_refuses_a_body_past_the_request_budget(api, monkeypatch, media: str,  # type: ignore[no-untyped-def]
                                                    body: bytes) -> None:
    """Many tiny records within the byte limit, for each media type: 413 naming the limit, nothing stored."""
    from monitor.entrypoints.api import bodies

    monkeypatch.setattr(bodies, "RequestBudget", lambda: RequestBudget(max_records=SMALL))
    response = _post(api, body, media)
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert f"{SMALL:,} records" in response.json()["detail"] and "secret" not in response.text
    assert [_count(api.app_, t) for t in (ingestion_batches, predictions, rejected_rows)] == [0, 0, 0]


@pytest.mark.parametrize("empty_database_url", ["sqlite"], indirect=True)  # refused before any storage
def test_api_budget_at_its_real_size(api) -> None:  # type: ignore[no-untyped-def]
    """The default budget: a 200 KB array of REQUEST_MAX_RECORDS + 1 numbers is refused, nothing stored."""
    response = _post(api, b"[" + b"1," * records.REQUEST_MAX_RECORDS + b"1]", "application/json")
    assert response.status_code == 413, response.text
    assert f"{records.REQUEST_MAX_RECORDS:,} records" in response.json()["detail"]
    assert [_count(api.app_, t) for t in (ingestion_batches, predictions, rejected_rows)] == [0, 0, 0]


def test_api_json_bodies_that_are_not_one_array_are_refused(api) -> None:  # type: ignore[no-untyped-def]
    """The element-by-element reader refuses what a whole-document parse refused: 400, nothing stored."""
    for body in (b'{"secret": 1}', b'"secret"', b"12", b"[1, 2", b"[1] [2]", b"[1,]", b"[" * 100_000,
                 b'[{"prediction_id": "a"} {"b": 1}]', b"\xff[]"):
        response = _post(api, body, "application/json")
        assert response.status_code == 400, (body[:20], response.text)
        assert "secret" not in response.text
    assert _count(api.app_, ingestion_batches) == 0


# CLI (NDJSON files) ---------------------------------------------------------------------------------------------
def test_cli_ndjson_file_past_the_column_limit(database_url: str, named_user: str,  # type: ignore[no-untyped-def]
                                               tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`samd-monitor ingest predictions` of an NDJSON file: the lines within the limit are stored, the others
    rejected with their line numbers; exit 0 and no field name on the output."""
    from typer.testing import CliRunner

    from monitor.entrypoints.cli import app as cli

    monkeypatch.setenv("MONITOR_DATABASE_URL", database_url)
    monkeypatch.setenv("MONITOR_USER", named_user)
    monkeypatch.setenv("MONITOR_PATIENT_ID_KEY", "limits-key-0123456789abcdef")
    runner = CliRunner()
    assert runner.invoke(cli, ["device", "add", str(ROOT / "examples" / "lung-nodule-ct.yaml")]).exit_code == 0
    rows = [r | {"device_id": DEVICE} for r in _wide_records()]
    path = tmp_path / "wide.ndjson"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert isinstance(open_log(path), NdjsonLog)
    result = runner.invoke(cli, ["ingest", "predictions", str(path), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    over = _first_over(rows)
    assert (summary["accepted"], summary["rejected"], summary["reasons"]) == \
        (over - 1, len(rows) - over + 1, {"too_many_fields": len(rows) - over + 1})
