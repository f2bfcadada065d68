"""Hostile input: every parser fuzzed, SQL-injection payloads, path tricks, YAML attacks, huge values and
decompression bombs. Each ends in acceptance or a precise MonitorError / row rejection, never an
unhandled exception, and nothing outside the data is touched."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy import inspect, text

from monitor.adapters.config_file import (
    MAX_CONFIG_BYTES,
    load_device_config,
    parse_device_config,
)
from monitor.adapters.files.readers import open_log
from monitor.adapters.formats.dicom_sr import DicomSrLog
from monitor.adapters.formats.fhir import FhirBundleLog
from monitor.adapters.formats.ndjson import NdjsonLog
from monitor.errors import ConfigError, MonitorError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "lung-nodule-ct.yaml"
HEADER = ["prediction_id", "device_id", "model_version", "site_id", "predicted_at", "score", "predicted_label",
          "patient_id", "age", "sex", "emphysema_grade", "scanner_vendor"]
PAYLOADS = ["'; DROP TABLE predictions; --", '" OR 1=1 --', "1; DELETE FROM audit_log", "') OR ('1'='1",
            "Robert'); DROP TABLE ingestion_batches;--", "%' UNION SELECT * FROM api_tokens --", "\\'; --"]
FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _drain(log) -> int:  # type: ignore[no-untyped-def]
    """Read every chunk (and the rejections) of a log source; the number of rows."""
    rows = sum(len(frame) for _, frame in log.chunks(64))
    if hasattr(log, "rejections"):
        log.rejections()
    return rows


def _read_file(path: Path, **kwargs: object) -> None:
    try:
        _drain(open_log(path, **kwargs))  # type: ignore[arg-type]
    except MonitorError:
        pass  # a precise refusal is a correct outcome


# fuzzing of every parser ------------------------------------------------------------------------------

@FUZZ
@given(body=st.binary(max_size=600) | st.text(max_size=400).map(lambda t: t.encode("utf-8")))
def test_csv_reader_accepts_or_refuses_any_bytes(tmp_path: Path, body: bytes) -> None:
    path = tmp_path / "fuzz.csv"
    path.write_bytes(",".join(HEADER).encode() + b"\n" + body)
    _read_file(path)
    path.write_bytes(body)
    _read_file(path)


@FUZZ
@given(body=st.binary(max_size=600) | st.lists(st.dictionaries(st.text(max_size=8), st.none() | st.booleans() |
                                                                 st.integers() | st.floats() | st.text(max_size=8),
                                                                 max_size=5), max_size=5)
       .map(lambda rows: "\n".join(json.dumps(r) for r in rows).encode()))
def test_ndjson_reader_accepts_or_rejects_any_bytes(body: bytes) -> None:
    log = NdjsonLog(body)
    assert _drain(log) + len(log.rejections()) >= 0


@FUZZ
@given(body=st.binary(max_size=2000))
def test_parquet_reader_refuses_garbage_clearly(tmp_path: Path, body: bytes) -> None:
    path = tmp_path / "fuzz.parquet"
    path.write_bytes(body)
    _read_file(path)
    good = io.BytesIO()
    pq.write_table(pa.table({"prediction_id": ["a"], "score": [0.5]}), good)
    data = bytearray(good.getvalue())
    for i, b in enumerate(body[:64]):  # corrupt a real file at positions chosen by the fuzzer
        data[(i * 37 + b) % len(data)] = b
    path.write_bytes(bytes(data))
    _read_file(path)


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
                     max_leaves=20)


@FUZZ
@given(entry=st.lists(st.fixed_dictionaries({"resource": st.fixed_dictionaries(
    {"resourceType": st.sampled_from(["Observation", "DiagnosticReport", "Condition", "Patient", "Device", "X"])},
    optional={"id": st.text(max_size=5), "status": st.text(max_size=8), "device": _JSON, "subject": _JSON,
              "valueQuantity": _JSON, "interpretation": _JSON, "extension": _JSON, "derivedFrom": _JSON})},
    optional={"fullUrl": st.text(max_size=10)}) | _JSON, max_size=4),
       raw=st.binary(max_size=200), kind=st.sampled_from(["predictions", "ground_truth"]))
def test_fhir_reader_accepts_or_rejects_any_bundle(entry: list[object], raw: bytes, kind: str) -> None:
    for body in (json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entry}).encode(), raw):
        log = FhirBundleLog(body, kind=kind, device_id="lung-nodule-ct")
        _drain(log)


@FUZZ
@given(body=st.binary(max_size=600))
def test_dicom_reader_rejects_any_bytes_as_a_file(tmp_path: Path, body: bytes) -> None:
    path = tmp_path / "fuzz.dcm"
    path.write_bytes(b"\0" * 128 + b"DICM" + body if body[:1] == b"\1" else body)
    log = DicomSrLog(path)
    assert _drain(log) + len(log.rejections()) >= 1 or body == b""


@FUZZ
@given(document=_JSON, raw=st.text(max_size=300))
def test_config_parser_accepts_or_raises_config_error(document: object, raw: str) -> None:
    for text_ in (yaml.safe_dump(document), raw):
        try:
            parse_device_config(text_, source="fuzz.yaml")
        except ConfigError:
            pass


# YAML attacks and size limits -----------------------------------------------------------------------

@pytest.mark.parametrize("document", [
    "!!python/object/apply:os.system ['touch {marker}']\n",
    "device: !!python/object/new:subprocess.Popen [['touch', '{marker}']]\n",
    "a: !!python/name:os.system\n",
])
def test_yaml_tags_are_never_executed(tmp_path: Path, document: str) -> None:
    marker = tmp_path / "pwned"
    with pytest.raises(ConfigError, match="not valid YAML"):
        parse_device_config(document.format(marker=marker), source="evil.yaml")
    assert not marker.exists()


def test_billion_laughs_is_refused_quickly() -> None:
    """Ten levels of nine aliases (9**10 "lol"s) inside a field the schema accepts as a list: refused before
    anything is expanded or validated."""
    lines = ['x0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"x{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 11)]
    document = EXAMPLE.read_text(encoding="utf-8").replace("registrations:", "registrations: *a10\nunused:", 1)
    with pytest.raises(ConfigError, match="alias"):
        parse_device_config("\n".join(lines) + "\n" + document, source="laughs.yaml")


def test_oversized_config_file_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_bytes(EXAMPLE.read_bytes() + b"#" * MAX_CONFIG_BYTES)
    with pytest.raises(ConfigError, match="larger than"):
        load_device_config(path)


def test_device_id_cannot_be_a_path() -> None:
    """Report and export file names are derived from device ids: the pattern rules out any path."""
    base = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    for bad in ("../x", "..", "a/b", "a\\b", "/etc/passwd", ".hidden", "x\0y", "", "a" * 65):
        base["device"]["id"] = bad
        with pytest.raises(ConfigError, match="device.id"):
            parse_device_config(yaml.safe_dump(base), source="bad.yaml")


# SQL injection and huge values through the real ingest and analysis --------------------------------

def _write(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


def _row(pid: str, **values: str) -> list[str]:
    base = {"prediction_id": pid, "device_id": "lung-nodule-ct", "model_version": "2.1.0", "site_id": "SH-01",
            "predicted_at": "2025-08-01T09:15:00+08:00", "score": "0.8", "predicted_label": "1",
            "patient_id": f"P-{pid}", "age": "60", "sex": "F", "emphysema_grade": "mild", "scanner_vendor": "GE"}
    return [(base | values)[c] for c in HEADER]


def test_sql_injection_payloads_are_stored_verbatim_or_rejected(app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from monitor.domain.periods import Period
    from monitor.service.analyze import analyze_period
    from monitor.service.ingest import ingest_predictions

    rows = []
    for i, payload in enumerate(PAYLOADS):
        rows += [_row(payload), _row(f"s{i}", site_id=payload), _row(f"m{i}", model_version=payload),
                 _row(f"p{i}", patient_id=payload), _row(f"e{i}", emphysema_grade=payload),
                 _row(f"v{i}", scanner_vendor=payload), _row(f"x{i}", sex=payload, age=payload, score=payload)]
    path = _write(tmp_path / "inject.csv", rows)
    summary = ingest_predictions(app.open_log(path), source=payload_name(), uow=app.uow,
                                 hash_patient=app.patient_hasher(), clock=app.clock, actor="'; DROP TABLE audit_log; --")
    assert summary.rows == len(rows) == summary.accepted + summary.rejected
    tables = set(inspect(app.engine).get_table_names())
    assert {"predictions", "ingestion_batches", "audit_log", "api_tokens"} <= tables
    with app.engine.connect() as conn:
        ids = {r[0] for r in conn.execute(text("SELECT prediction_id FROM predictions"))}
        sites = {r[0] for r in conn.execute(text("SELECT site_id FROM predictions"))}
        versions = {r[0] for r in conn.execute(text("SELECT model_version FROM predictions"))}
        rejected = conn.execute(text("SELECT count(*) FROM rejected_rows")).scalar_one()
        patients = [r[0] for r in conn.execute(text("SELECT patient_hash FROM predictions"))]
    assert set(PAYLOADS) <= ids  # ids are free text: stored exactly as sent
    assert set(PAYLOADS) <= sites and set(PAYLOADS) <= versions
    assert not set(PAYLOADS) & set(patients)  # patient identifiers only as their keyed hash
    assert rejected == summary.rejected > 0  # out-of-range sex / age / score are row rejections
    outcome = analyze_period("lung-nodule-ct", Period.parse("2025Q3"), uow=app.uow, clock=app.clock, actor="t")
    assert outcome.document["completeness"]["total"]["predictions"] == summary.accepted


def payload_name() -> str:
    """A source name that is itself an injection attempt (it is stored as the batch's source)."""
    return "x'); DROP TABLE predictions; --.csv"


@pytest.mark.parametrize("empty_database_url", ["sqlite"], indirect=True)
def test_injection_in_configuration_values(database_url: str, clock) -> None:  # type: ignore[no-untyped-def]
    """Names and stratum values of a configuration are data: stored verbatim or refused by the schema."""
    from monitor.entrypoints.bootstrap import bootstrap
    from monitor.service.devices import register_device
    from monitor.settings import Settings

    document = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    document["device"]["name"] = PAYLOADS[0]
    document["strata"]["attributes"][2]["values"] = ["none", PAYLOADS[1]]
    config = parse_device_config(yaml.safe_dump(document), source="inject.yaml")
    for name in PAYLOADS:  # an attribute name is a column name: only identifiers pass
        document["strata"]["attributes"][2]["name"] = name
        with pytest.raises((ConfigError, ValidationError)):
            parse_device_config(yaml.safe_dump(document), source="inject.yaml")
    app = bootstrap(Settings(database_url=database_url, data_dir=Path("."), patient_id_key="k" * 32),
                    clock=clock)
    try:
        register_device(config, uow=app.uow, clock=clock, actor="t", source="inject.yaml")
        with app.uow() as unit:
            stored = unit.devices.get("lung-nodule-ct")
        assert stored.device.name == PAYLOADS[0]
        assert PAYLOADS[1] in stored.strata.attributes[2].values
    finally:
        app.engine.dispose()


def test_enormous_fields_and_numbers_are_rejected_rows(app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from monitor.service.ingest import ingest_predictions

    big = _write(tmp_path / "big.csv", [_row("big-cell", site_id="S" * 1_000_000)])
    with pytest.raises(MonitorError, match="field larger than field limit"):  # a 1 MB cell refuses the file
        ingest_predictions(app.open_log(big), source="big.csv", uow=app.uow, hash_patient=app.patient_hasher(),
                           clock=app.clock, actor="t")
    rows = [_row("long-site", site_id="S" * 100_000), _row("inf", score="1e309"), _row("digits", age="9" * 400),
            _row("digits2", score="1" + "0" * 400), _row("ok")]
    path = _write(tmp_path / "huge.csv", rows)
    summary = ingest_predictions(app.open_log(path), source="huge.csv", uow=app.uow, hash_patient=app.patient_hasher(),
                                 clock=app.clock, actor="t")
    assert summary.rows == 5 and summary.accepted + summary.rejected == 5
    assert {"long-site", "inf", "digits", "digits2"} <= set(_rejected_ids(app))
    assert summary.accepted >= 1


def _rejected_ids(app) -> list[str]:  # type: ignore[no-untyped-def]
    with app.engine.connect() as conn:
        return [r[0] for r in conn.execute(text("SELECT record_id FROM rejected_rows"))]


def test_long_ndjson_line_is_one_rejection_not_a_memory_spike() -> None:
    body = b'{"prediction_id": "' + b"A" * (2 << 20) + b'"}\n{"prediction_id": "B"}\n'
    log = NdjsonLog(body)
    assert _drain(log) == 1 and [r.code for r in log.rejections()] == ["line_too_long"]


# decompression bombs and path tricks -----------------------------------------------------------------

BOMB_CHILD = """
import resource, sys
from pathlib import Path
from monitor.adapters.files.readers import open_log
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
log = open_log(Path(sys.argv[1]))
rows = 0
for _, frame in log.chunks(2000):
    rows += len(frame)
    del frame
print(rows, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""


def test_parquet_decompression_bomb_is_streamed_in_bounded_memory(tmp_path: Path) -> None:
    """200 000 rows of a 2 KiB text compress to a few KiB (about 400 MiB as Python text); the reader goes
    through it in bounded chunks, so the process grows by far less than the expanded size."""
    path = tmp_path / "bomb.parquet"
    rows, cell = 200_000, "Z" * 2048
    writer = pq.ParquetWriter(path, pa.schema([("prediction_id", pa.string()), ("site_id", pa.string())]),
                              compression="zstd")
    for start in range(0, rows, 20_000):
        writer.write_table(pa.table({"prediction_id": pa.array(["p"] * 20_000),
                                     "site_id": pa.array([cell] * 20_000)}), row_group_size=20_000)
    writer.close()
    assert path.stat().st_size < 200_000
    result = subprocess.run([sys.executable, "-c", BOMB_CHILD, str(path)], check=False, capture_output=True,
                            text=True,
                            timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    count, grown_mib = (int(x) for x in result.stdout.split())
    assert count == rows
    assert grown_mib < 200, f"reader grew by {grown_mib} MiB for a {rows * len(cell) >> 20} MiB expansion"


def test_gzip_and_unknown_suffixes_are_refused(tmp_path: Path) -> None:
    """No reader inflates gzip: a compressed upload is refused by name, never expanded."""
    import gzip

    path = tmp_path / "p.csv.gz"
    path.write_bytes(gzip.compress(b"prediction_id\n" + b"x\n" * 100_000))
    with pytest.raises(MonitorError, match="unknown log format"):
        open_log(path)


def test_report_output_names_cannot_escape_the_output_folder() -> None:
    """Report files are named from the device id and period label; both patterns exclude separators."""
    from monitor.domain.periods import Period
    from monitor.errors import PeriodError

    for bad in ("../2025Q3", "2025Q3/../../x", "2025Q3\\x", "/etc"):
        with pytest.raises(PeriodError):
            Period.parse(bad)
