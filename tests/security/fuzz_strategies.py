"""Shared fuzzing strategies and drivers for every parser (tests/security/test_fuzz_parsers.py and
bench/bench_fuzz.py).

Each *target* turns one generated input into an :class:`Outcome` through the real code path: the parser
(under tracemalloc, for the memory budget), then, for log formats, ``ingest_predictions`` into a SQLite
database (for the accounting of every row). Generated values carry *markers*: distinctive strings
(``QZMRK`` + digits) planted in values, field names and DICOM tags; no error message or rejection
reason may contain one (:func:`leaks`).

Properties checked by :func:`check` for every input:

(a) no uncaught exception: the input ends as rows, row rejections, or a ``MonitorError``;
(b) memory: the tracemalloc peak of parsing is at most ``MEMORY_FACTOR`` x the input's size +
    ``MEMORY_CONSTANT``;
(c) accounting: ``rows == accepted + duplicates + rejected`` for every ingested batch, and ``rows``
    equals the number of units the generator wrote when it knows it;
(d) no marker in any error message or rejection reason (a device configuration's *field names* are
    exempt: they are schema keys, which its errors name by design).
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import sys
import tempfile
import tracemalloc
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import yaml
from hypothesis import strategies as st

from monitor.errors import MonitorError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "lung-nodule-ct.yaml"
DEVICE = "lung-nodule-ct"
MARKER_PREFIX = "QZMRK"
#: (b): a parse may use this multiple of its input's size, plus the constant (interpreter-level objects:
#: pandas frames of text, pydicom data sets and pydantic models of small inputs).
MEMORY_FACTOR, MEMORY_CONSTANT = 64, 24 << 20
FIELDS = ("prediction_id", "device_id", "model_version", "site_id", "predicted_at", "score", "predicted_label",
          "patient_id", "age", "sex", "emphysema_grade", "scanner_vendor")


# ---------------------------------------------------------------------------------------------- markers
def marker(number: int) -> str:
    return f"{MARKER_PREFIX}{number:04d}"


markers = st.integers(0, 9999).map(marker)


def leaks(text: str | None) -> bool:
    """Whether ``text`` quotes a planted marker (case-insensitive: field names are lower-cased)."""
    return bool(text) and MARKER_PREFIX.lower() in str(text).lower()


def _around(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A marker alone, or inside other text (so a truncated or quoted echo is still found)."""
    return st.one_of(inner, st.tuples(st.text(max_size=6), inner, st.text(max_size=6)).map("".join))


marked_text = _around(markers)
_ASCII = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126, exclude_characters="\\"), max_size=6)
marked_ascii = st.one_of(markers, st.tuples(_ASCII, markers, _ASCII).map("".join))


# ---------------------------------------------------------------------------------------------- records
def _valid(i: int) -> dict[str, Any]:
    return {"prediction_id": f"fz-{i}", "device_id": DEVICE, "model_version": "2.1.0", "site_id": "SH-01",
            "predicted_at": "2025-08-01T09:15:00+08:00", "score": "0.8", "predicted_label": "1",
            "patient_id": f"P-{i}", "age": "61", "sex": "F", "emphysema_grade": "mild", "scanner_vendor": "GE"}


_junk = st.one_of(st.text(max_size=12), st.integers(-2**70, 2**70).map(str), st.floats().map(repr),
                  st.sampled_from(["", " ", "NaN", "inf", "-0", "1e309", "9999-12-31T23:59:59Z", "0x1", "\x00",
                                   "1900-01-01T00:00:00Z", "2025-08-01", "１", "é", "\u202e", "'; DROP TABLE x;--"]))


@st.composite
def records(draw: st.DrawFn, max_records: int = 8) -> list[dict[str, Any]]:
    """Prediction records: mostly valid, with fields replaced by markers, junk or nothing, extra fields
    named by markers, and repeated ids (duplicates and conflicts)."""
    count = draw(st.integers(0, max_records))
    out = []
    for i in range(count):
        record = _valid(draw(st.integers(0, 5)))  # a few ids: repeats are duplicates or conflicts
        for name in FIELDS:
            choice = draw(st.integers(0, 9))
            if choice == 0:
                record[name] = draw(marked_text)
            elif choice == 1:
                record[name] = draw(_junk)
            elif choice == 2:
                del record[name]
        for _ in range(draw(st.integers(0, 2))):
            record[draw(markers).lower() + draw(st.sampled_from(["", "_x", " Y"]))] = draw(
                st.one_of(marked_text, _junk))
        out.append(record)
    return out


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen) or list(FIELDS)


def csv_bytes(rows: list[dict[str, Any]], *, header: bool = True) -> bytes:
    out = io.StringIO()
    columns = _columns(rows)
    cells = [str(v) for r in rows for v in r.values()] + columns
    # csv.writer does not quote a lone "\r" (a line break to every reader): quote every field then
    writer = csv.writer(out, lineterminator="\n",
                        quoting=csv.QUOTE_ALL if any("\r" in c for c in cells) else csv.QUOTE_MINIMAL)
    if header:
        writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else str(row.get(c)) for c in columns])
    return out.getvalue().encode("utf-8")


def _typed(value: Any) -> Any:
    """JSON values as a device would send them: numbers as numbers where they parse."""
    if isinstance(value, str):
        try:
            number = json.loads(value)
        except ValueError:
            return value
        return number if isinstance(number, (int, float)) and not isinstance(number, bool) else value
    return value


def ndjson_bytes(rows: list[dict[str, Any]], junk: list[bytes]) -> bytes:
    lines = [json.dumps({k: _typed(v) for k, v in r.items()}).encode() for r in rows]
    return b"\n".join(lines + junk) + b"\n"


def parquet_bytes(rows: list[dict[str, Any]]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = _columns(rows)
    table = pa.table({c: pa.array([None if r.get(c) is None else str(r.get(c)) for r in rows], pa.string())
                      for c in columns})
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


# ---------------------------------------------------------------------------------------------- outcomes
@dataclass
class Outcome:
    """What became of one input."""

    target: str
    size: int
    peak: int = 0
    expected_rows: int | None = None
    error: MonitorError | None = None
    messages: list[str] = field(default_factory=list)
    batches: list[dict[str, int]] = field(default_factory=list)
    exempt: Callable[[str], bool] | None = None


def violations(outcome: Outcome) -> list[str]:
    """The properties (b)-(d) this outcome breaks; (a) is an exception escaping :func:`run`."""
    found = []
    budget = MEMORY_FACTOR * outcome.size + MEMORY_CONSTANT
    if outcome.peak > budget:
        found.append(f"(b) memory: peak {outcome.peak} bytes for {outcome.size} input bytes (budget {budget})")
    for batch in outcome.batches:
        if batch["rows"] != batch["accepted"] + batch["duplicates"] + batch["rejected"]:
            found.append(f"(c) accounting: {batch}")
        if outcome.expected_rows is not None and batch["rows"] != outcome.expected_rows:
            found.append(f"(c) rows read: {batch['rows']} of {outcome.expected_rows} written")
    for message in outcome.messages:
        if leaks(message) and not (outcome.exempt and outcome.exempt(message)):
            found.append(f"(d) marker in message: {message[:300]!r}")
    return found


def traced(function: Callable[[], Any]) -> tuple[Any, int]:
    """``function()`` and the tracemalloc peak it reached (tracing started here if it was not)."""
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    try:
        result = function()
        return result, tracemalloc.get_traced_memory()[1] - base
    finally:
        if started:
            tracemalloc.stop()


# ---------------------------------------------------------------------------------------------- the database
class Workspace:
    """A migrated SQLite database with the example device, and a scratch folder, shared by many examples."""

    def __init__(self, folder: Path | None = None) -> None:
        from monitor.adapters.config_file import load_device_config
        from monitor.adapters.db.engine import make_engine, upgrade
        from monitor.entrypoints.bootstrap import bootstrap
        from monitor.service.devices import register_device
        from monitor.settings import Settings

        self._tmp = None if folder else tempfile.TemporaryDirectory(prefix="fuzz-")
        self.folder = folder or Path(self._tmp.name)  # type: ignore[union-attr]
        url = f"sqlite:///{(self.folder / 'fuzz.sqlite').as_posix()}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        self.clock = _Clock()
        self.app = bootstrap(Settings(database_url=url, data_dir=self.folder, patient_id_key="fuzz-key-" + "k" * 24),
                             clock=self.clock)
        self.config = load_device_config(EXAMPLE)
        register_device(self.config, uow=self.app.uow, clock=self.clock, actor="fuzz", source="example")
        self.hasher = self.app.patient_hasher()

    def close(self) -> None:
        self.app.engine.dispose()
        if self._tmp:
            self._tmp.cleanup()

    def ingest(self, log: Any, outcome: Outcome) -> None:
        """Ingest ``log`` as predictions; record the batch's counts and its stored rejection reasons."""
        from sqlalchemy import text

        from monitor.service.ingest import ingest_predictions

        summary = ingest_predictions(log, source="fuzz-input", uow=self.app.uow, hash_patient=self.hasher,
                                     clock=self.clock, actor="fuzz")
        outcome.batches.append({"rows": summary.rows, "accepted": summary.accepted,
                                "duplicates": summary.duplicates, "rejected": summary.rejected})
        with self.app.engine.connect() as conn:
            outcome.messages += [r[0] for r in conn.execute(
                text("SELECT reason FROM rejected_rows WHERE batch_id = :b"), {"b": summary.batch_id})]

    def file(self, name: str, data: bytes) -> Path:
        path = self.folder / name
        path.write_bytes(data)
        return path


class _Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 2, 1, 8, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        from datetime import timedelta

        self.now += timedelta(seconds=1)
        return self.now


def _drain(log: Any) -> tuple[int, list[Any]]:
    rows = sum(len(frame) for _, frame in log.chunks(64))
    return rows, list(log.rejections()) if hasattr(log, "rejections") else []


def _parse_then_ingest(outcome: Outcome, ws: Workspace, opener: Callable[[], Any]) -> Outcome:
    """Parse under tracemalloc (rows + source rejections), then ingest; a MonitorError is an outcome."""
    try:
        (_, rejections), outcome.peak = traced(lambda: _drain(opener()))
        outcome.messages += [r.reason for r in rejections]
        ws.ingest(opener(), outcome)  # a fresh log: a source is read once by ingestion
    except MonitorError as exc:
        outcome.error = exc
        outcome.messages.append(str(exc))
    return outcome


# ---------------------------------------------------------------------------------------------- targets
# Each strategy draws one input; each runner maps it to an Outcome (exceptions other than MonitorError escape).

csv_inputs = st.one_of(
    st.tuples(records(), st.booleans()).map(lambda t: ("rows", t[0], csv_bytes(t[0], header=t[1]), t[1])),
    st.binary(max_size=400).map(lambda b: ("bytes", [], b, True)),
    st.tuples(records(), st.binary(max_size=40)).map(
        lambda t: ("mixed", [], csv_bytes(t[0]) + t[1] + b"\n", True)),
)


def run_csv(data: tuple[str, list[dict[str, Any]], bytes, bool], ws: Workspace) -> Outcome:
    from monitor.adapters.files.readers import open_log

    kind, rows, body, header = data
    outcome = Outcome("csv", len(body), expected_rows=len(rows) if kind == "rows" and header and rows else None)
    path = ws.file("fuzz.csv", body)
    return _parse_then_ingest(outcome, ws, lambda: open_log(path))


parquet_inputs = st.one_of(
    records().map(lambda r: ("rows", r, parquet_bytes(r))),
    st.tuples(records(max_records=3), st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=8))
    .map(lambda t: ("corrupt", [], _corrupt(parquet_bytes(t[0]), t[1]))),
)


def _corrupt(data: bytes, edits: list[tuple[int, int]]) -> bytes:
    out = bytearray(data)
    for position, value in edits:
        out[position % len(out)] = value
    return bytes(out)


def run_parquet(data: tuple[str, list[dict[str, Any]], bytes], ws: Workspace) -> Outcome:
    from monitor.adapters.files.readers import open_log

    kind, rows, body = data
    outcome = Outcome("parquet", len(body), expected_rows=len(rows) if kind == "rows" else None)
    path = ws.file("fuzz.parquet", body)
    return _parse_then_ingest(outcome, ws, lambda: open_log(path))


_junk_lines = st.lists(st.one_of(st.binary(max_size=30), marked_text.map(lambda t: t.encode()),
                                 st.sampled_from([b"[1,2]", b"null", b'{"a": {"b": 1}}', b'{"a":', b"\xff\xfe",
                                                  b'{"a": 1, "A": 2}', b'{"x": "' + b"\\u0000" + b'"}'])),
                       max_size=3)
ndjson_inputs = st.tuples(records(), _junk_lines).map(lambda t: (t[0], t[1], ndjson_bytes(t[0], t[1])))


def run_ndjson(data: tuple[list[dict[str, Any]], list[bytes], bytes], ws: Workspace) -> Outcome:
    from monitor.adapters.formats.ndjson import NdjsonLog

    rows, junk, body = data
    nonblank = sum(1 for line in body.split(b"\n") if line.strip())  # NDJSON skips blank lines
    simple = all(b"\n" not in j and b"\r" not in j for j in junk)
    outcome = Outcome("ndjson", len(body), expected_rows=nonblank if simple else None)
    return _parse_then_ingest(outcome, ws, lambda: NdjsonLog(body, name="fuzz.ndjson"))


json_array_inputs = st.one_of(
    records().map(lambda r: json.dumps([{k: _typed(v) for k, v in x.items()} for x in r]).encode()),
    st.recursive(st.none() | st.booleans() | st.integers() | marked_text,
                 lambda inner: st.lists(inner, max_size=3) | st.dictionaries(marked_text, inner, max_size=3),
                 max_leaves=12).map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=100),
)


def run_json_array(body: bytes, ws: Workspace) -> Outcome:
    from monitor.entrypoints.api.bodies import parse_body

    outcome = Outcome("json-array", len(body))
    try:
        document = json.loads(body)
        if isinstance(document, list):
            outcome.expected_rows = len(document)
    except (ValueError, RecursionError):
        pass
    return _parse_then_ingest(outcome, ws, lambda: parse_body(body, "application/json", kind="predictions",
                                                             device_id=DEVICE, name="fuzz.json"))


def _observation(i: int, row: dict[str, Any], draw: st.DrawFn) -> dict[str, Any]:
    value = _typed(row.get("score"))
    return {"resourceType": "Observation", "id": f"o{i}", "status": draw(st.sampled_from(["final", "preliminary",
                                                                                          "entered-in-error"])),
            "code": {"text": "malignancy"}, "device": {"reference": "Device/d1"},
            "subject": {"reference": "Patient/p1"}, "effectiveDateTime": row.get("predicted_at"),
            "identifier": [{"value": str(row.get("prediction_id"))}],
            "valueQuantity": {"value": value if isinstance(value, (int, float)) else draw(marked_text),
                              "unit": draw(st.sampled_from(["1", "%", "x"]))},
            "extension": draw(st.lists(st.fixed_dictionaries({
                "url": st.just("https://samd-monitor.example/fhir/StructureDefinition/stratification-attribute"),
                "extension": st.lists(st.fixed_dictionaries({"url": st.sampled_from(["name", "value"]),
                                                             "valueString": marked_text}), max_size=2)}),
                max_size=2))}


@st.composite
def fhir_inputs(draw: st.DrawFn) -> tuple[bytes, str]:
    rows = draw(records(max_records=4))
    entries: list[Any] = [{"fullUrl": "Patient/p1", "resource": {
        "resourceType": "Patient", "id": "p1", "identifier": [{"value": draw(marked_text)}],
        "name": [{"family": draw(marked_text)}], "gender": draw(st.sampled_from(["male", "female", "x"])),
        "birthDate": draw(st.sampled_from(["1960-01-01", "1960", "19x0"]))}},
        {"fullUrl": "Device/d1", "resource": {"resourceType": "Device", "id": "d1",
                                              "identifier": [{"system": "https://samd-monitor.example/fhir/"
                                                              "NamingSystem/device-id", "value": DEVICE}],
                                              "version": [{"value": draw(marked_text)}]}}]
    entries += [{"resource": _observation(i, r, draw)} for i, r in enumerate(rows)]
    entries += draw(st.lists(st.recursive(st.none() | st.integers() | marked_text,
                                          lambda inner: st.dictionaries(marked_text, inner, max_size=3), max_leaves=6),
                             max_size=2))
    kind = draw(st.sampled_from(["predictions", "ground_truth"]))
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=200)), kind
    return json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries}).encode(), kind


def run_fhir(data: tuple[bytes, str], ws: Workspace) -> Outcome:
    from monitor.adapters.formats.fhir import FhirBundleLog

    body, kind = data
    outcome = Outcome("fhir", len(body))
    if kind == "ground_truth":  # parse only: ground-truth ingestion needs stored predictions
        try:
            (_, (_, rejections)), outcome.peak = traced(
                lambda: (None, _drain(FhirBundleLog(body, kind=kind, device_id=DEVICE))))
            outcome.messages += [r.reason for r in rejections]
        except MonitorError as exc:
            outcome.error = exc
            outcome.messages.append(str(exc))
        return outcome
    return _parse_then_ingest(outcome, ws, lambda: FhirBundleLog(body, kind=kind, device_id=DEVICE, name="f"))


# ---------------------------------------------------------------------------------------------- DICOM SR
_SR: dict[str, bytes] = {}


def sr_factory() -> Any:
    """The format tests' highdicom SR factory (tests/unit/adapters/formats/sr_factory.py), loaded by path."""
    spec = importlib.util.spec_from_file_location(
        "h7_sr_factory", ROOT / "tests" / "unit" / "adapters" / "formats" / "sr_factory.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("h7_sr_factory", module)
    spec.loader.exec_module(module)
    return module


def sr_bytes() -> tuple[bytes, bytes]:
    """A valid TID 1500 report and its CT image (built once with highdicom by the format tests' factory)."""
    if not _SR:
        with tempfile.TemporaryDirectory() as folder:
            report, image = sr_factory().write_study(Path(folder))
            _SR.update(report=report.read_bytes(), image=image.read_bytes())
    return _SR["report"], _SR["image"]


_SR_TAGS = ("PatientID", "PatientName", "OtherPatientIDs", "InstitutionName", "Modality", "SOPClassUID",
            "ContentDate", "ContentTime", "TimezoneOffsetFromUTC", "PatientAge", "PatientSex", "StudyInstanceUID",
            "SOPInstanceUID", "Manufacturer")


@st.composite
def dicom_inputs(draw: st.DrawFn) -> tuple[bytes, bytes | None]:
    """A report (and sometimes its image) with tags set to markers, numeric values replaced, and byte edits."""
    import pydicom

    report, image = sr_bytes()
    ds = pydicom.dcmread(io.BytesIO(report))
    for tag in draw(st.lists(st.sampled_from(_SR_TAGS), max_size=5, unique=True)):
        setattr(ds, tag, draw(marked_ascii)[:60])
    if draw(st.booleans()):
        block = ds.private_block(0x0011, "FUZZ", create=True)
        block.add_new(0x01, "LO", draw(markers))
    for item in ds.ContentSequence:
        for child in getattr(item, "ContentSequence", []):
            if draw(st.integers(0, 4)) == 0 and "ConceptNameCodeSequence" in child:
                child.ConceptNameCodeSequence[0].CodeValue = draw(markers)
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=False)
    data = out.getvalue()
    edits = draw(st.lists(st.tuples(st.integers(0, len(data) - 1), st.integers(0, 255)), max_size=4))
    cut = draw(st.one_of(st.none(), st.integers(0, len(data))))
    data = _corrupt(data, edits)[:cut]
    return data, image if draw(st.booleans()) else None


def run_dicom(data: tuple[bytes, bytes | None], ws: Workspace) -> Outcome:
    from monitor.adapters.formats.dicom_sr import DicomSrLog

    report, image = data
    folder = ws.folder / "sr"
    folder.mkdir(exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    (folder / "report.dcm").write_bytes(report)
    if image is not None:
        (folder / "image.dcm").write_bytes(image)
    outcome = Outcome("dicom-sr", len(report) + len(image or b""))
    return _parse_then_ingest(outcome, ws, lambda: DicomSrLog(folder, device_id=DEVICE))


# ---------------------------------------------------------------------------------------------- device YAML
def _leaves(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _leaves(v, (*path, k))]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in _leaves(v, (*path, i))]
    return [path]


@st.composite
def config_inputs(draw: st.DrawFn) -> str:
    """The example configuration with leaves replaced by markers or junk, or raw text around markers."""
    if draw(st.integers(0, 5)) == 0:
        return draw(st.text(max_size=200)) + draw(marked_text) + draw(st.sampled_from(["", ":", ": [", "\n  - {"]))
    document = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    leaves = _leaves(document)
    for path in draw(st.lists(st.sampled_from(leaves), min_size=1, max_size=4)):
        node = document
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = draw(st.one_of(marked_text, _junk, st.lists(marked_text, max_size=2),
                                        st.dictionaries(st.sampled_from(["a", "b"]), marked_text, max_size=2)))
    text = yaml.safe_dump(document, allow_unicode=True)
    if draw(st.integers(0, 4)) == 0:  # broken YAML around a marker
        position = draw(st.integers(0, len(text)))
        text = text[:position] + draw(st.sampled_from(["\t", ": :", "[", "{", "'", "&a *b"])) + draw(markers) + \
            text[position:]
    return text


def run_config(text: str, ws: Workspace | None = None) -> Outcome:
    from monitor.adapters.config_file import parse_device_config

    outcome = Outcome("device-yaml", len(text.encode("utf-8")))
    try:
        _, outcome.peak = traced(lambda: parse_device_config(text, source="fuzz.yaml"))
    except MonitorError as exc:
        outcome.error = exc
        outcome.messages.append(str(exc))
    return outcome


# ---------------------------------------------------------------------------------------------- site bundles
def site_payload() -> dict[str, Any]:
    """A valid payload of one site and two cells (the example device's attributes)."""
    attributes = ["age_band", "sex", "emphysema_grade", "scanner_vendor"]
    strata = {"age_band": "45-64", "sex": "F", "emphysema_grade": "none", "scanner_vendor": "GE"}
    return {"device_id": DEVICE, "site_id": "site-a", "config_hash": "0" * 64, "timezone": "Asia/Shanghai",
            "period": {"label": "2025Q3", "first_month": "2025-07", "last_month": "2025-09"},
            "created_at": "2025-10-02T08:00:00Z", "software_version": "1.0", "attributes": attributes,
            "min_cell_size": 11, "intake": {"predictions": []}, "excluded": {},
            "totals": {"predictions": 10}, "cells": [
                {"month": "2025-07", "model_version": "2.1.0", "strata": strata, "tp": 3, "fp": 1, "fn": 0, "tn": 5,
                 "pending": 1, "small": True},
                {"month": "2025-08", "model_version": "2.1.0", "strata": strata, "tp": 1, "fp": 0, "fn": 0, "tn": 0,
                 "pending": 0, "small": True}]}


_bundle_values = st.one_of(
    marked_text, _junk, st.integers(-2**80, 2**80), st.booleans(), st.none(), st.floats(allow_nan=False),
    st.lists(marked_text, max_size=3), st.dictionaries(marked_text, st.integers(), max_size=2),
    st.integers(50, 3000).map(lambda n: json.loads("[" * n + "]" * n) if n < 900 else "[" * n))


@st.composite
def bundle_inputs(draw: st.DrawFn) -> bytes:
    """A bundle whose payload (or envelope) has values replaced; sometimes raw bytes or deep nesting."""
    choice = draw(st.integers(0, 9))
    if choice == 0:
        return draw(st.binary(max_size=200))
    if choice == 1:
        depth = draw(st.integers(100, 100_000))
        return b'{"schema": "samd-monitor/site_summary", "payload": ' + b"[" * depth + b"]" * depth + b"}"
    payload = site_payload()
    leaves = _leaves(payload)
    for path in draw(st.lists(st.sampled_from(leaves), max_size=4)):
        node = payload
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = draw(_bundle_values)
    if draw(st.booleans()):
        payload["cells"] = payload["cells"] * draw(st.integers(1, 50))
    document = {"schema": "samd-monitor/site_summary", "schema_version": draw(st.sampled_from([1, 1, 1, 2, "1"])),
                "payload": payload,
                "signature": draw(st.sampled_from([None, {"algorithm": "Ed25519", "key_id": "k1", "value": "AAAA"},
                                                   {"algorithm": "RSA", "key_id": "k1", "value": "AAAA"},
                                                   {"algorithm": "Ed25519", "key_id": "k1", "value": "!!"}]))}
    return json.dumps(document, default=str).encode()


class _Summaries:
    def active_key(self, site: str) -> dict[str, Any]:
        return {"key_id": "k1", "public_key": "00" * 32, "devices": [DEVICE], "site_id": site}

    def key(self, key_id: str) -> None:
        return None

    def has_bundle(self, bundle_id: str) -> bool:
        return False

    def headers(self, *args: Any, **kwargs: Any) -> list[Any]:
        return []

    def add_bundle(self, *args: Any) -> None:
        return None


class _Unit:
    """A unit of work with a registered site (every signature verifies) and the example device."""

    def __init__(self, config: Any) -> None:
        self.summaries = _Summaries()
        self.devices = self
        self.audit = self
        self._config = config

    def get(self, device_id: str) -> Any:
        if device_id != DEVICE:
            raise LookupError(device_id)
        return self._config

    def append(self, **kwargs: Any) -> None:
        return None

    def __enter__(self) -> _Unit:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None


def run_bundle(data: bytes, ws: Workspace) -> Outcome:
    """``ingest_summary`` over a stand-in unit of work (a registered site whose every signature verifies)."""
    from monitor.service.federation import ingest_summary

    outcome = Outcome("site-bundle", len(data))
    try:
        _, outcome.peak = traced(lambda: ingest_summary(data, uow=lambda: _Unit(ws.config), clock=ws.clock,
                                                        actor="fuzz", verify=lambda *a: True))
    except MonitorError as exc:
        outcome.error = exc
        outcome.messages.append(str(exc))
    return outcome


# ---------------------------------------------------------------------------------------------- API queries
#: The read API's GET routes and their query parameters (monitor/entrypoints/api/read.py).
QUERY_ROUTES = (
    ("/v1/devices", ()), ("/v1/devices/{p}", ()), ("/v1/devices/{p}/periods", ()),
    ("/v1/runs", ("device_id", "period")), ("/v1/runs/{p}", ()),
    ("/v1/runs/{p}/results", ("model_version", "metric", "status", "stratum_prefix")),
    ("/v1/findings", ("device_id", "run_id", "metric")), ("/v1/tickets", ("device_id", "status")),
    ("/v1/tickets/{p}", ()), ("/v1/report-files", ("device_id", "period")), ("/v1/report-files/{p}/content", ()),
    ("/v1/report-revisions", ("device_id", "period", "status")), ("/v1/batches", ("kind",)), ("/v1/batches/{p}", ()),
    ("/v1/rejected-rows", ("batch_id", "reason_code", "status")),
    ("/v1/audit", ("action", "entity", "entity_id", "actor", "since")),
)
_query_values = st.one_of(
    marked_text, _junk, st.integers(-2**70, 2**70).map(str), st.text(max_size=30),
    st.sampled_from(["\x00", "%00", "2025Q3", "2026-01-01T00:00:00", "2026-01-01T00:00:00Z", "9" * 400, "-1",
                     "../../etc/passwd", "ok", "open", "' OR 1=1 --", "\udcff"]),
    st.text(min_size=2000, max_size=5000, alphabet="ab"),
)


@st.composite
def query_inputs(draw: st.DrawFn) -> tuple[str, dict[str, str]]:
    route, names = draw(st.sampled_from(QUERY_ROUTES))
    path = route.replace("{p}", _path_part(draw(_query_values)))
    params = {name: draw(_query_values) for name in names if draw(st.booleans())}
    params.update({n: draw(_query_values) for n in ("limit", "offset") if draw(st.integers(0, 2)) == 0})
    if draw(st.integers(0, 4)) == 0:
        params[draw(markers)] = draw(_query_values)
    return path, params


def _path_part(value: str) -> str:
    from urllib.parse import quote

    return quote(value.encode("utf-8", "surrogatepass"), safe="") or "x"


def run_query(data: tuple[str, dict[str, str]], client: Any) -> Outcome:
    """One GET with an admin token; a 5xx, or a marker in an error body, is a violation."""
    path, params = data
    outcome = Outcome("api-query", len(path) + sum(len(k) + len(v) for k, v in params.items()))
    clean = {k: v.encode("utf-8", "surrogatepass").decode("utf-8", "replace") for k, v in params.items()}
    response = client.get(path, params=clean, headers=client.admin)
    if response.status_code >= 500:
        outcome.messages.append(f"server error {response.status_code}")
        outcome.batches.append({"rows": -1, "accepted": 0, "duplicates": 0, "rejected": 0})  # fails (c) loudly
    if response.status_code >= 400:
        outcome.messages.append(response.text)
    return outcome


def api_client(ws: Workspace) -> Any:
    """A TestClient over the API of the workspace's database, with an admin token (cheap token KDF)."""
    from fastapi.testclient import TestClient

    from monitor.entrypoints.api import create_api
    from monitor.entrypoints.api.security import AuthFailureLimiter
    from monitor.service import access

    params, access.TOKEN_PARAMS = access.TOKEN_PARAMS, (2**8, 8, 1)
    try:
        token = access.create_token(ws.app.uow, name="fuzz-admin", role="admin", clock=ws.clock, actor="fuzz")[1]
    finally:
        access.TOKEN_PARAMS = params
    client = TestClient(create_api(ws.app, limiter=AuthFailureLimiter(limit=1_000_000)),
                        raise_server_exceptions=False)
    client.admin = {"Authorization": f"Bearer {token}"}  # type: ignore[attr-defined]
    return client


#: name -> (strategy, runner). Runners take the input and the Workspace (the API runner: the client).
TARGETS: dict[str, tuple[st.SearchStrategy[Any], Callable[[Any, Any], Outcome]]] = {
    "csv": (csv_inputs, run_csv),
    "parquet": (parquet_inputs, run_parquet),
    "ndjson": (ndjson_inputs, run_ndjson),
    "json-array": (json_array_inputs, run_json_array),
    "fhir": (fhir_inputs(), run_fhir),
    "dicom-sr": (dicom_inputs(), run_dicom),
    "device-yaml": (config_inputs(), run_config),
    "site-bundle": (bundle_inputs(), run_bundle),
    "api-query": (query_inputs(), run_query),
}
