"""JSON records and NDJSON: text values like the CSV reader's, rejections with their row number, never an exception."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.adapters.files.readers import open_log
from monitor.adapters.formats.ndjson import MAX_LINE_BYTES, NdjsonLog
from monitor.adapters.formats.records import RecordsLog
from monitor.domain.logs import Rejection

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                    max_leaves=8)


def rows(log) -> dict[int, dict]:  # type: ignore[no-untyped-def]
    out = {}
    for first, frame in log.chunks(2):
        for i in range(len(frame)):  # (to_dict("records") drops rows when there are no columns)
            out[first + i] = frame.iloc[i].to_dict()
    return out


def test_values_become_csv_like_text() -> None:
    log = RecordsLog([{"Score": 0.25, "n": 3, "f": 2.0, "b": True, "z": None, "s": " x "}],
                     format="json", name="body", sha256="0" * 64)
    assert log.columns == ("score", "n", "f", "b", "z", "s")
    assert rows(log) == {1: {"score": "0.25", "n": "3", "f": "2", "b": "1", "z": None, "s": " x "}}


def test_bad_records_are_rejected_with_position_and_reason() -> None:
    log = RecordsLog([{"prediction_id": "a"}, [1], {"prediction_id": "b", "x": {"y": 1}}, {"A": 1, "a": 2}, 7],
                     format="json", name="body", sha256="0" * 64)
    assert list(rows(log)) == [1]
    assert [(r.row_number, r.record_id, r.code) for r in log.rejections()] == [
        (2, None, "not_an_object"), (3, "b", "invalid_value"), (4, None, "duplicate_field"), (5, None, "not_an_object")]
    assert "field 2 holds an object" in log.rejections()[1].reason and "'x'" not in log.rejections()[1].reason


def test_ndjson_lines_numbers_checksum_and_chunks(tmp_path: Path) -> None:
    data = b'{"prediction_id": "a"}\n\n{"prediction_id": "b"}\n{"prediction_id": "c"}\nnope\n{"prediction_id": "d"}'
    path = tmp_path / "log.jsonl"
    path.write_bytes(data)
    log = open_log(path)
    assert isinstance(log, NdjsonLog) and log.sha256 == hashlib.sha256(data).hexdigest()
    assert [first for first, _ in log.chunks(2)] == [1, 3, 6]  # a blank line or a rejected line starts a chunk
    assert {n: r["prediction_id"] for n, r in rows(log).items()} == {1: "a", 3: "b", 4: "c", 6: "d"}
    [rejection] = log.rejections()
    assert (rejection.row_number, rejection.code) == (5, "invalid_json")
    assert rejection.reason.startswith("line 5 is not valid JSON: Expecting value")


def test_ndjson_bad_encoding_and_overlong_lines() -> None:
    long_line = b'{"x": "' + b"a" * MAX_LINE_BYTES + b'"}\n'
    log = NdjsonLog(b'\xef\xbb\xbf{"a": 1}\n\xff\xfe\n' + long_line + b'{"a": 2}\n')
    assert {n: r["a"] for n, r in rows(log).items()} == {1: "1", 4: "2"}
    assert [(r.row_number, r.code) for r in log.rejections()] == [(2, "invalid_encoding"), (3, "line_too_long")]


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_ndjson_never_raises_on_arbitrary_bytes(data: bytes) -> None:
    log = NdjsonLog(data)
    numbered = rows(log)
    lines = data.split(b"\n")
    assert all(1 <= n <= len(lines) for n in numbered)
    assert all(isinstance(r, Rejection) and 1 <= r.row_number <= len(lines) and r.reason for r in log.rejections())
    assert not set(numbered) & {r.row_number for r in log.rejections()}


@settings(max_examples=150, deadline=None)
@given(st.lists(JSON, max_size=6))
def test_records_never_raise_and_account_for_every_record(records: list) -> None:  # type: ignore[type-arg]
    log = RecordsLog(records, format="json", name="body", sha256="0" * 64)
    accepted, rejected = set(rows(log)), {r.row_number for r in log.rejections()}
    assert accepted | rejected == set(range(1, len(records) + 1)) and not accepted & rejected
    ndjson = NdjsonLog("\n".join(json.dumps(r) for r in records).encode())
    assert set(rows(ndjson)) | {r.row_number for r in ndjson.rejections()} == set(range(1, len(records) + 1))


def test_the_documented_ndjson_line_is_a_prediction_log_record() -> None:
    from jsonschema import Draft202012Validator

    root = Path(__file__).resolve().parents[4]
    line = next(t for t in (root / "docs" / "input-formats.md").read_text().splitlines() if t.startswith('{"'))
    schema = json.loads((root / "schemas" / "prediction_log.schema.json").read_text())
    Draft202012Validator(schema).validate(json.loads(line))
    assert rows(NdjsonLog(line.encode()))[1]["score"] == "0.87"
