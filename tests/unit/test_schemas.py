"""The JSON Schemas in ``schemas/`` are valid, complete, and true to what the code reads and writes.

* every schema is a valid draft 2020-12 schema, with an ``$id`` and every ``$ref`` resolvable;
* the device schema is exactly what ``schemas/generate.py`` generates from the pydantic model;
* the example device configuration validates;
* sample prediction / ground-truth rows get the same verdict from the schema as from the
  ingestion validator (where the schema can express the rule);
* real outputs validate: an analysis document built by the pure core (with every section of
  ``build_sections`` over in-memory repositories), and, on SQLite and PostgreSQL, the batch
  summaries, analysis document, report JSON and tickets export produced by ingesting small CSV
  files and running the services (and the CLI ``--json`` outputs), and the demo's report JSON.

Output schemas allow unknown properties, so a document with additive fields still validates
against the schema of its version; these tests validate real outputs in *strict* mode (every
object property must be declared), so a field the code adds without a schema update fails here.
"""

from __future__ import annotations

import copy
import csv
import importlib.util
import json
import re
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cache
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd
import pytest
import yaml
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from monitor.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_CONFIG = ROOT / "examples" / "lung-nodule-ct.yaml"  # the device the ``app`` fixture registers
PATIENT_KEY = "schema-test-patient-key-0123456789"
SCHEMA_DIR = ROOT / "schemas"
BASE_ID = "https://samd-monitor.example/schemas/"
# Every schema in the folder is checked by the generic tests below (a new schema joins them by existing).
SCHEMA_NAMES = tuple(sorted(p.name.removesuffix(".schema.json") for p in SCHEMA_DIR.glob("*.schema.json")))
# Generated schemas are checked against their generator; "analysis" stays in the description check (its models
# carry the descriptions).
HAND_WRITTEN = tuple(n for n in SCHEMA_NAMES if n != "device")
DEVICE_ID = "lung-nodule-ct"
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


# --------------------------------------------------------------------------- helpers
def _path(name: str) -> Path:
    return SCHEMA_DIR / f"{name}.schema.json"


@cache
def _schemas() -> dict[str, dict[str, Any]]:
    return {n: json.loads(_path(n).read_text(encoding="utf-8")) for n in SCHEMA_NAMES}


def _strict(node: Any) -> Any:
    """A copy in which every object schema that declares properties forbids undeclared ones."""
    if isinstance(node, list):
        return [_strict(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _strict(v) for k, v in node.items()}
    if out.get("type") == "object" and "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


@cache
def _registry(strict: bool) -> Registry:
    resources = []
    for schema in _schemas().values():
        contents = _strict(schema) if strict else schema
        resources.append((schema["$id"], Resource.from_contents(contents, default_specification=DRAFT202012)))
    return Registry().with_resources(resources)


@cache
def _validator(name: str, strict: bool) -> Draft202012Validator:
    schema = _schemas()[name]
    return Draft202012Validator(_strict(schema) if strict else schema, registry=_registry(strict),
                                format_checker=FormatChecker())


def validator(name: str, *, strict: bool = False) -> Draft202012Validator:
    """A validator of schema ``name`` (cross-file ``$ref``s resolved; formats checked)."""
    return _validator(name, strict)


def assert_valid(name: str, instance: Any, *, strict: bool = True) -> None:
    """Fail with every violation listed, by JSON path."""
    errors = sorted(validator(name, strict=strict).iter_errors(instance), key=lambda e: list(e.absolute_path))
    messages = [f"{e.json_path}: {e.message}" for e in errors[:20]]
    assert not errors, f"{len(errors)} violation(s) of {name}.schema.json:\n" + "\n".join(messages)


def is_valid(name: str, instance: Any) -> bool:
    return validator(name).is_valid(instance)


def _subschemas(node: Any, *, skip: tuple[str, ...] = ()) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for key, value in node.items():
            if key not in skip:
                yield from _subschemas(value, skip=skip)
    elif isinstance(node, list):
        for value in node:
            yield from _subschemas(value, skip=skip)


def _resolve(name: str, ref: str) -> Any:
    return _registry(False).resolver(base_uri=_schemas()[name]["$id"]).lookup(ref).contents


def _load_generator() -> Any:
    spec = importlib.util.spec_from_file_location("schemas_generate", SCHEMA_DIR / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@cache
def _config() -> Any:
    from monitor.adapters.config_file import load_device_config

    return load_device_config(EXAMPLE_CONFIG)


# --------------------------------------------------------------------------- (a) the schemas themselves
def test_the_schema_folder_holds_exactly_the_documented_schemas() -> None:
    core = {"device", "prediction_log", "ground_truth_log", "analysis", "report", "tickets", "batch_summary"}
    assert core <= set(SCHEMA_NAMES)
    readme = (SCHEMA_DIR / "README.md").read_text(encoding="utf-8")
    for name in SCHEMA_NAMES:
        assert f"{name}.schema.json" in readme, f"schemas/README.md does not list {name}.schema.json"


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_schema_is_valid_draft_2020_12_with_identity(name: str) -> None:
    schema = _schemas()[name]
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"{BASE_ID}{name}.schema.json"
    assert schema["title"].strip() and schema["description"].strip()
    assert schema["type"] == "object"


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_every_ref_resolves(name: str) -> None:
    refs = [node["$ref"] for node in _subschemas(_schemas()[name]) if isinstance(node.get("$ref"), str)]
    for ref in refs:
        assert isinstance(_resolve(name, ref), dict), ref


@pytest.mark.parametrize("name", HAND_WRITTEN)
def test_every_declared_property_is_described(name: str) -> None:
    """Each property has a description, on itself or on the definition it refers to."""
    schema = _schemas()[name]
    undocumented = []
    # if/then/else only add constraints to properties declared (and described) elsewhere
    for node in _subschemas(schema, skip=("if", "then", "else", "not")):
        for prop, sub in node.get("properties", {}).items():
            if sub is True or "description" in sub:
                continue
            target = _resolve(name, sub["$ref"]) if "$ref" in sub else {}
            if "description" not in target:
                undocumented.append(prop)
    assert not undocumented, f"{name}: properties without a description: {undocumented}"


@pytest.mark.parametrize("name", ("analysis", "report", "tickets"))
def test_output_documents_carry_their_kind_and_version(name: str) -> None:
    props = _schemas()[name]["properties"]
    assert props["schema"]["const"] == f"samd-monitor/{name}"
    # report 2: content without identity; report 3: with the registered content sections
    assert props["schema_version"]["const"] == {"report": 3}.get(name, 1)
    assert {"schema", "schema_version"} <= set(_schemas()[name]["required"])


# --------------------------------------------------------------------------- (b, c) device configuration
def test_device_schema_file_equals_the_generated_schema() -> None:
    generator = _load_generator()
    expected = generator.render(generator.device_schema())
    actual = _path("device").read_text(encoding="utf-8")
    assert actual == expected, "schemas/device.schema.json is stale: run `.venv/bin/python schemas/generate.py`"


def test_report_schema_file_equals_the_generated_schema() -> None:
    generator = _load_generator()
    expected = generator.render(generator.report_schema())
    assert _path("report").read_text(encoding="utf-8") == expected, \
        "schemas/report.schema.json is stale: run `.venv/bin/python schemas/generate.py`"


def test_analysis_schema_file_equals_the_generated_schema() -> None:
    generator = _load_generator()
    expected = generator.render(generator.analysis_schema())
    assert _path("analysis").read_text(encoding="utf-8") == expected, \
        "schemas/analysis.schema.json is stale: run `.venv/bin/python schemas/generate.py`"


def test_generated_device_schema_mirrors_the_model() -> None:
    from monitor.domain.device import DeviceConfig

    schema = _schemas()["device"]
    assert {k: v for k, v in schema.items() if k not in ("$schema", "$id", "title", "description")} == {
        k: v for k, v in DeviceConfig.model_json_schema().items() if k not in ("title", "description")
    }


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*.yaml")), ids=lambda p: p.name)
def test_example_device_configurations_validate(path: Path) -> None:
    from monitor.adapters.config_file import load_device_config

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert_valid("device", data)
    load_device_config(path)  # and the model accepts it too


def test_example_configuration_is_the_one_the_fixtures_use() -> None:
    assert EXAMPLE_CONFIG.name == "lung-nodule-ct.yaml"
    assert yaml.safe_load(EXAMPLE_CONFIG.read_text(encoding="utf-8"))["device"]["id"] == DEVICE_ID


@pytest.mark.parametrize(
    "change",
    [
        {"operating_threshold": 1.5},
        {"schema_version": 2},
        {"unexpected": True},
        {"device": {"id": "bad id with spaces"}},
        {"strata": {"attributes": []}},
        {"strata": {"attributes": [{"name": "Age"}]}},
        {"claims": {"sensitivity": {"value": 0.9}}},
        {"monitoring": {"interval_method": "wald"}},
        {"monitoring": {"min_positives": 0}},
    ],
    ids=repr,
)
def test_invalid_device_configurations_fail(change: dict[str, Any]) -> None:
    from pydantic import ValidationError

    from monitor.domain.device import DeviceConfig

    data = yaml.safe_load(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    for key, value in change.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    assert not is_valid("device", data)
    with pytest.raises(ValidationError):
        DeviceConfig.model_validate(data)


# --------------------------------------------------------------------------- (d) log rows
PREDICTION = {
    "prediction_id": "LN-2025Q3-0000001",
    "device_id": DEVICE_ID,
    "model_version": "2.1.0",
    "site_id": "site-sh-02",
    "predicted_at": "2025-08-01T09:15:00+08:00",
    "score": 0.8731,
    "predicted_label": 1,
    "patient_id": "P04518223",
    "age": 71,
    "sex": "M",
    "emphysema_grade": "moderate",
    "scanner_vendor": "Siemens",
}
REQUIRED_PREDICTION = ("prediction_id", "device_id", "model_version", "site_id", "predicted_at", "score",
                       "predicted_label", "patient_id")
GROUND_TRUTH = {
    "prediction_id": "LN-2025Q3-0000001",
    "device_id": DEVICE_ID,
    "label": 1,
    "confirmed_at": "2025-10-20T16:40:00+08:00",
    "source": "histopathology",
    "intervention_at": "2025-10-02T10:00:00+08:00",
}
REQUIRED_GROUND_TRUTH = ("prediction_id", "device_id", "label", "confirmed_at", "source")


def _with(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**base, **changes}


def _without(base: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in base.items() if k not in keys}


VALID_PREDICTIONS = {
    "full row": PREDICTION,
    "required columns only": {k: PREDICTION[k] for k in REQUIRED_PREDICTION},
    "UTC with Z": _with(PREDICTION, predicted_at="2025-08-01T01:15:00Z"),
    "space separator": _with(PREDICTION, predicted_at="2025-08-01 09:15:00+08:00"),
    "fractional seconds": _with(PREDICTION, predicted_at="2025-08-01T09:15:00.123456+08:00"),
    "no seconds, offset without colon": _with(PREDICTION, predicted_at="2025-08-01T09:15+0800"),
    "negative offset": _with(PREDICTION, predicted_at="2025-08-01T09:15:00-05:00"),
    "score 0, label 0": _with(PREDICTION, score=0, predicted_label=0),
    "score 1": _with(PREDICTION, score=1),
    "optional columns null": _with(PREDICTION, age=None, sex=None, emphysema_grade=None),
    "fractional age": _with(PREDICTION, age=64.5),
    "extra column": _with(PREDICTION, comment="re-read by second radiologist"),
    "128-character id": _with(PREDICTION, prediction_id="x" * 128, patient_id="p" * 128),
}
INVALID_PREDICTIONS = {
    **{f"missing {c}": _without(PREDICTION, c) for c in REQUIRED_PREDICTION},
    **{f"null {c}": _with(PREDICTION, **{c: None}) for c in REQUIRED_PREDICTION},
    "blank prediction_id": _with(PREDICTION, prediction_id="   "),
    "prediction_id spelled as missing": _with(PREDICTION, prediction_id="NA"),
    "time without offset": _with(PREDICTION, predicted_at="2025-08-01T09:15:00"),
    "date without time and offset": _with(PREDICTION, predicted_at="2025-08-01"),
    "month only": _with(PREDICTION, predicted_at="2025-08"),
    "lower-case z": _with(PREDICTION, predicted_at="2025-08-01T09:15:00z"),
    "not a date": _with(PREDICTION, predicted_at="yesterday"),
    "score above 1": _with(PREDICTION, score=1.5),
    "negative score": _with(PREDICTION, score=-0.1),
    "score not a number": _with(PREDICTION, score="high"),
    "age above 130": _with(PREDICTION, age=131),
    "negative age": _with(PREDICTION, age=-1),
    "age not a number": _with(PREDICTION, age="old"),
    "prediction_id too long": _with(PREDICTION, prediction_id="x" * 129),
    "patient_id too long": _with(PREDICTION, patient_id="p" * 129),
    "model_version too long": _with(PREDICTION, model_version="v" * 65),
    "site_id too long": _with(PREDICTION, site_id="s" * 65),
    "sex too long": _with(PREDICTION, sex="s" * 17),
    "device_id not a device id": _with(PREDICTION, device_id="lung nodule ct"),
}
VALID_GROUND_TRUTH = {
    "full row": GROUND_TRUTH,
    "required columns only": {k: GROUND_TRUTH[k] for k in REQUIRED_GROUND_TRUTH},
    "label 0, no intervention": _with(GROUND_TRUTH, label=0, intervention_at=None),
    "correction": _with(GROUND_TRUTH, label=0, correction_reason="pathology revised after second review"),
    "correction_reason null": _with(GROUND_TRUTH, correction_reason=None),
    "500-character reason": _with(GROUND_TRUTH, correction_reason="r" * 500),
    "UTC with Z": _with(GROUND_TRUTH, confirmed_at="2025-10-20T08:40:00Z"),
    "extra column": _with(GROUND_TRUTH, reader="R07"),
    **{f"source {s}": _with(GROUND_TRUTH, source=s) for s in
       ("histopathology", "follow_up", "adjudication", "audit_sample", "clinical_diagnosis", "other")},
}
INVALID_GROUND_TRUTH = {
    **{f"missing {c}": _without(GROUND_TRUTH, c) for c in REQUIRED_GROUND_TRUTH},
    **{f"null {c}": _with(GROUND_TRUTH, **{c: None}) for c in REQUIRED_GROUND_TRUTH},
    "unknown source": _with(GROUND_TRUTH, source="biopsy"),
    "confirmed_at without offset": _with(GROUND_TRUTH, confirmed_at="2025-10-20T16:40:00"),
    "confirmed_at date only": _with(GROUND_TRUTH, confirmed_at="2025-10-20"),
    "intervention_at date only": _with(GROUND_TRUTH, intervention_at="2025-10-02"),
    "intervention_at without offset": _with(GROUND_TRUTH, intervention_at="2025-10-02T10:00:00"),
    "reason too long": _with(GROUND_TRUTH, correction_reason="r" * 501),
    "prediction_id too long": _with(GROUND_TRUTH, prediction_id="x" * 129),
    "device_id not a device id": _with(GROUND_TRUTH, device_id="lung nodule ct"),
}


#: Rows the schema accepts (a level of an ordinal device: the schema cannot know the device's levels) that the
#: ingestion validator refuses for a binary device.
INVALID_FOR_A_BINARY_DEVICE = {
    ("prediction_log", "label 2"): _with(PREDICTION, predicted_label=2),
    ("prediction_log", "label yes"): _with(PREDICTION, predicted_label="yes"),
    ("ground_truth_log", "label 2"): _with(GROUND_TRUTH, label=2),
    ("ground_truth_log", "label positive"): _with(GROUND_TRUTH, label="positive"),
}


@pytest.mark.parametrize(("kind", "label"), list(INVALID_FOR_A_BINARY_DEVICE))
def test_a_level_is_valid_in_the_schema_and_refused_for_a_binary_device(kind: str, label: str) -> None:
    row = INVALID_FOR_A_BINARY_DEVICE[(kind, label)]
    assert not [e.message for e in validator(kind).iter_errors(row)]
    accepted, codes = _code_accepts(kind, row)
    assert not accepted and codes[0] in ("invalid_predicted_label", "invalid_label")


def _as_text(value: Any) -> str | None:
    """A JSON value as a CSV cell carries it."""
    if value is None:
        return None
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _code_accepts(kind: str, row: dict[str, Any]) -> tuple[bool, list[str]]:
    """Whether the ingestion validator accepts ``row`` (given as CSV text), and its reason codes."""
    from monitor.domain.logs import validate_ground_truth, validate_predictions
    from monitor.domain.privacy import make_patient_hasher

    raw = pd.DataFrame([{k: _as_text(v) for k, v in row.items()}], dtype=object)
    devices = {DEVICE_ID: _config()}
    if kind == "prediction_log":
        checked = validate_predictions(raw, first_row=1, devices=devices,
                                       hash_patient=make_patient_hasher(PATIENT_KEY), now=NOW)
    else:
        checked = validate_ground_truth(raw, first_row=1, devices=devices, now=NOW)
    return len(checked.accepted) == 1, [r.code for r in checked.rejections]


def _row_cases() -> Iterator[Any]:
    for kind, valid, invalid in (("prediction_log", VALID_PREDICTIONS, INVALID_PREDICTIONS),
                                 ("ground_truth_log", VALID_GROUND_TRUTH, INVALID_GROUND_TRUTH)):
        for label, row in valid.items():
            yield pytest.param(kind, row, True, id=f"{kind}: valid: {label}")
        for label, row in invalid.items():
            yield pytest.param(kind, row, False, id=f"{kind}: invalid: {label}")


@pytest.mark.parametrize(("kind", "row", "expected"), list(_row_cases()))
def test_log_row_schema_verdict(kind: str, row: dict[str, Any], expected: bool) -> None:
    errors = [e.message for e in validator(kind).iter_errors(row)]
    assert (not errors) is expected, errors or "the schema accepts the row"


@pytest.mark.parametrize(("kind", "row", "expected"), list(_row_cases()))
def test_log_row_schema_agrees_with_the_ingestion_validator(kind: str, row: dict[str, Any], expected: bool) -> None:
    accepted, codes = _code_accepts(kind, row)
    assert accepted is expected, f"the ingestion validator {'accepts' if accepted else 'rejects'} the row {codes}"


def test_log_schemas_require_exactly_the_required_columns() -> None:
    from monitor.domain.logs import (
        GROUND_TRUTH_OPTIONAL,
        GROUND_TRUTH_REQUIRED,
        GROUND_TRUTH_SOURCES,
        PREDICTION_OPTIONAL,
        PREDICTION_REQUIRED,
    )

    predictions, truth = _schemas()["prediction_log"], _schemas()["ground_truth_log"]
    # score and predicted_label are required of results only (not of AI failures): in the schema's allOf
    conditional = predictions["allOf"][0]["else"]["required"]
    assert sorted(predictions["required"] + conditional) == sorted(PREDICTION_REQUIRED)
    assert set(predictions["properties"]) == set(PREDICTION_REQUIRED) | set(PREDICTION_OPTIONAL)
    # prediction_id, study_uid or accession_number: in the schema's oneOf
    assert [b["required"] for b in truth["oneOf"]] == [["prediction_id"], ["study_uid"], ["accession_number"]]
    assert ["prediction_id", *truth["required"]] == list(GROUND_TRUTH_REQUIRED)
    assert set(truth["properties"]) == set(GROUND_TRUTH_REQUIRED) | set(GROUND_TRUTH_OPTIONAL)
    assert truth["properties"]["source"]["enum"] == list(GROUND_TRUTH_SOURCES)
    assert predictions["additionalProperties"] is True and truth["additionalProperties"] is True


@pytest.mark.parametrize("name", ("prediction_log", "ground_truth_log"))
def test_log_schema_examples_validate(name: str) -> None:
    for example in _schemas()[name]["examples"]:
        assert_valid(name, example, strict=False)


# --------------------------------------------------------------------------- (e) analysis document, pure core
def _cell_table() -> pd.DataFrame:
    """Cells of two model versions: 2.1.0 with a sensitivity shortfall, a small 2.2.0, some unknown labels."""
    rows = []
    for i, (age, sex, grade, vendor) in enumerate(
        (a, s, g, v)
        for a in ("<45", "45-64", "65-74", ">=75", "unknown")
        for s in ("F", "M")
        for g in ("none", "mild", "moderate", "severe")
        for v in ("GE", "Siemens", "Philips", "United Imaging")
    ):
        rows.append({"model_version": "2.1.0", "age_band": age, "sex": sex, "emphysema_grade": grade,
                     "scanner_vendor": vendor, "tp": 4 + i % 3, "fp": 1, "fn": 1 + i % 2, "tn": 9})
    rows.append({"model_version": "2.2.0", "age_band": "45-64", "sex": "F", "emphysema_grade": "none",
                 "scanner_vendor": "GE", "tp": 3, "fp": 0, "fn": 0, "tn": 0})
    return pd.DataFrame(rows)


_LABEL_COLUMNS = ("age_band", "sex", "emphysema_grade", "scanner_vendor")
_AGE_OF_BAND = {"<45": 40, "45-64": 55, "65-74": 70, ">=75": 80, "unknown": None}


def _case_table(cells: pd.DataFrame, *, shift: int = 0) -> pd.DataFrame:
    """One row per case behind a cell table (plus cases still awaiting ground truth, label -1): stratum
    labels, raw inputs, score bin (0..1000) consistent with the call at threshold 0.5, label delay and time
    to intervention in days. ``shift`` moves the scores, to give the reference window some drift."""
    rows = []
    for i, cell in enumerate(cells.to_dict("records")):
        kinds = [("tp", 1, 1), ("fp", 0, 1), ("fn", 1, 0), ("tn", 0, 0), ("pending", -1, i % 2)]
        for kind, label, call in kinds:
            for k in range(cell[kind] if kind != "pending" else 1 + i % 3):
                spread = (37 * k + 11 * i + shift) % 450
                rows.append({
                    "model_version": cell["model_version"], **{c: cell[c] for c in _LABEL_COLUMNS},
                    "age": _AGE_OF_BAND[cell["age_band"]], "site_id": f"site-0{(i + k) % 3 + 1}",
                    "label": label, "predicted_label": call, "score_bin": 520 + spread if call else 30 + spread,
                    "label_days": 20 + (7 * k + i) % 60, "intervention_days": 5 + (13 * k + i) % 120,
                    "intervened": int((k + i) % 9 != 0),
                })
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class _Cases:
    """A window's per-case table, as ``window_cases`` hands it to the aggregations."""

    frame: pd.DataFrame
    attributes: Any

    @property
    def keys(self) -> list[str]:
        return ["model_version", *[a.name for a in self.attributes]]


class _Aggregates:
    """The database aggregations that ``build_sections`` reads, computed with pandas from per-case tables
    keyed by the window's start (an unknown window is empty)."""

    def __init__(self, cases: dict[datetime, pd.DataFrame], first: dict[str, datetime]) -> None:
        self._cases, self._first = cases, first

    def _window(self, start: datetime) -> pd.DataFrame:
        return self._cases.get(start, self._cases[min(self._cases)].iloc[0:0])

    @contextmanager
    def window_cases(self, device_id: str, *, start: datetime, attributes: Any, **_: Any) -> Iterator[_Cases]:
        yield _Cases(self._window(start), attributes)

    @staticmethod
    def _count(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
        return frame.groupby(by, dropna=False).size().rename("n").reset_index()

    def confusion_cells(self, cases: _Cases) -> pd.DataFrame:
        known = cases.frame.loc[cases.frame["label"] >= 0]
        kinds = {"tp": (1, 1), "fp": (0, 1), "fn": (1, 0), "tn": (0, 0)}
        counted = known.assign(**{k: ((known["label"] == label) & (known["predicted_label"] == call)).astype("int64")
                                  for k, (label, call) in kinds.items()})
        return counted.groupby(cases.keys, as_index=False)[list(kinds)].sum()

    def score_histogram(self, cases: _Cases) -> pd.DataFrame:
        return self._count(cases.frame, [*cases.keys, "score_bin", "label", "predicted_label"])

    def verification_cells(self, cases: _Cases) -> pd.DataFrame:
        frame = cases.frame.assign(verified=lambda f: (f["label"] >= 0).astype(int))
        return self._count(frame, [*cases.keys, "predicted_label", "verified"])

    def label_delay_days(self, cases: _Cases) -> pd.DataFrame:
        frame = cases.frame
        frame = frame.assign(observed=(frame["label"] >= 0).astype(int),
                             days=frame["label_days"].where(frame["label"] >= 0, 150))
        return self._count(frame, [*cases.keys, "days", "observed"])

    def intervention_days(self, cases: _Cases) -> pd.DataFrame:
        frame = cases.frame.loc[cases.frame["label"] == 1]
        frame = frame.assign(observed=frame["intervened"],
                             days=frame["intervention_days"].where(frame["intervened"] == 1, 150))
        return self._count(frame, [*cases.keys, "days", "observed"])

    def feature_histogram(self, cases: _Cases, feature: Any) -> pd.DataFrame:
        frame = cases.frame
        if feature == "score":
            values = (frame["score_bin"] // 10).astype(int)
        elif feature == "site_id":
            values = frame["site_id"]
        else:
            values = frame[feature.source_column if feature.is_numeric else feature.name]
        return self._count(pd.DataFrame({"value": values}), ["value"])

    def first_prediction_at(self, device_id: str, model_version: str) -> datetime | None:
        return self._first.get(model_version)

    def known_case_stream(self, device_id: str, model_version: str, *, until: datetime, attributes: Any,
                          **_: Any) -> Iterator[pd.DataFrame]:
        """The labelled cases of every window in the order they became known: each window's cases one
        minute apart from the window's start, known before ``until``."""
        names = [a.name for a in attributes]
        for start in sorted(self._cases):
            frame = self._cases[start]
            frame = frame.loc[(frame["label"] >= 0) & (frame["model_version"] == model_version), [*names, "label",
                                                                                                "predicted_label"]]
            known = pd.Timestamp(start).value + np.arange(len(frame), dtype=np.int64) * 60_000_000_000
            frame = frame.assign(known_at=known, corrected=np.zeros(len(frame), dtype=np.int8))
            frame = frame.loc[frame["known_at"] < pd.Timestamp(until).value]
            for begin in range(0, len(frame), 700):  # in chunks, as the database streams them
                yield frame.iloc[begin:begin + 700].reset_index(drop=True)


class _Clinical:
    """The clinical aggregations over the current window's per-case table: a few failures, every third
    case read by a clinician, every fourth with both volumes, and model 2.2.0 scoring the labelled
    studies of 2.1.0 in shadow."""

    def __init__(self, cases: pd.DataFrame) -> None:
        self._cases = cases.reset_index(drop=True)

    def _keys(self, attributes: Any) -> list[str]:
        return ["model_version", *[a.name for a in attributes]]

    def failure_counts(self, device_id: str, *, attributes: Any, **_: Any) -> pd.DataFrame:
        keys = self._keys(attributes)
        codes = np.where(self._cases.index % 25 == 0, np.where(self._cases.index % 2 == 0, "timeout", "no_series"), None)
        frame = self._cases.assign(failure_code=codes)
        return frame.groupby([*keys, "failure_code"], dropna=False).size().rename("n").reset_index()

    def agreement_table(self, device_id: str, *, attributes: Any, **_: Any) -> pd.DataFrame:
        read = self._cases.iloc[::3]
        read = read.assign(human_label=np.where(read.index % 4 == 0, 1 - read["predicted_label"], read["predicted_label"]))
        return _Aggregates._count(read, [*self._keys(attributes), "predicted_label", "human_label", "label"])

    def volume_sums(self, device_id: str, *, attributes: Any, tolerance: float, **_: Any) -> pd.DataFrame:
        measured = self._cases.iloc[::4]
        d = ((measured.index % 7) - 3) * 0.05
        frame = measured.assign(d=d, d2=d * d, outside=(np.abs(np.exp(d) - 1) > tolerance).astype(int))
        return (frame.groupby(self._keys(attributes)).agg(n=("d", "size"), sum_d=("d", "sum"), sum_d2=("d2", "sum"),
                                                          outside=("outside", "sum")).reset_index())

    def paired_score_histogram(self, device_id: str, **_: Any) -> pd.DataFrame:
        cases = self._cases.loc[(self._cases["model_version"] == "2.1.0") & (self._cases["label"] >= 0)]
        bin_b = (cases["score_bin"] + 37 * (cases.index % 5) - 74).clip(0, 1000)
        frame = pd.DataFrame({"version_a": "2.1.0", "version_b": "2.2.0", "bin_a": cases["score_bin"], "bin_b": bin_b,
                              "call_a": cases["predicted_label"], "call_b": (bin_b >= 500).astype(int),
                              "label": cases["label"]})
        return frame.groupby(list(frame.columns)).size().rename("n").reset_index()


class _Results:
    def __init__(self, cells: dict[datetime, pd.DataFrame]) -> None:
        self._cells = cells

    def confusion_cells(self, device_id: str, *, start: datetime, **_: Any) -> pd.DataFrame:
        return self._cells.get(start, self._cells[min(self._cells)].iloc[0:0])


def _pure_document(config: Any) -> dict[str, Any]:
    """The analysis document as ``analyze_period`` composes it, from in-memory inputs: the claims test,
    and the further sections built by ``build_sections`` over fake repositories (current period 2025Q3,
    reference 2025Q2 with better sensitivity, an older 2025Q1 for the EWMA)."""
    from types import SimpleNamespace

    from monitor.domain.evaluation import evaluate_cells, stratum_counts
    from monitor.domain.periods import Period, resolve_timezone
    from monitor.service.analyze import _cusum_findings, _document, _finding
    from monitor.service.sections import Window, build_sections
    from monitor.service.window import materialised_cases

    cells = _cell_table()
    reference_cells = cells.assign(tp=cells["tp"] + 2, fn=cells["fn"] - cells["fn"] // 2)
    results = evaluate_cells(cells, config)
    run_id = "6f1c2a5e-8c1b-4c55-9a43-7f5e0d7b9a10"
    created = datetime(2026, 2, 1, 8, 0, 1, tzinfo=timezone.utc)
    cutoff = datetime(2026, 1, 31, 23, 59, 59, tzinfo=timezone.utc)
    found = []
    for n, result in enumerate((r for r in results if r.status == "flagged"), start=1):
        finding = _finding(result, run_id, config.device.id)
        finding["ticket_id"], finding["created_at"] = f"RT-{n:06d}", created
        found.append(finding)
    period = Period.parse("2025Q3")
    tz = resolve_timezone(config.monitoring.timezone)
    bounds = period.bounds_utc(tz)
    (q2, _), (q1, _) = period.previous().bounds_utc(tz), period.previous().previous().bounds_utc(tz)
    aggregates = _Aggregates({bounds[0]: _case_table(cells), q2: _case_table(reference_cells, shift=60)},
                             first={"2.1.0": q2, "2.2.0": bounds[0]})
    unit = SimpleNamespace(
        results=_Results({bounds[0]: cells, q2: reference_cells, q1: cells}),
        aggregates=aggregates, case_stream=aggregates,  # the fake aggregations also stream the known cases
        clinical=_Clinical(_case_table(cells)),
    )
    window = Window(config.device.id, *bounds, cutoff)
    with materialised_cases(unit, config, window) as cases:
        sections = build_sections(unit, config, period, window, cells, cases=cases)
    tickets = {(f["model_version"], f["stratum"], f["metric"]): f["ticket_id"] for f in found}
    alarms = [{"finding_id": a["finding_id"], "ticket_id": tickets.get((a["model_version"], a["stratum"], a["metric"])),
               **a["evidence"]} for a in _cusum_findings(sections["sequential"]["cusum"], run_id, config.device.id,
                                                          created)]
    completeness = [
        {"model_version": v, "predictions": int(g[["tp", "fp", "fn", "tn"]].to_numpy().sum()) + 7,
         "with_ground_truth": int(g[["tp", "fp", "fn", "tn"]].to_numpy().sum()), "awaiting_ground_truth": 7,
         "positives": int((g["tp"] + g["fn"]).sum()), "negatives": int((g["fp"] + g["tn"]).sum())}
        for v, g in cells.groupby("model_version")
    ]
    return _document(
        run_id=run_id, created=created, cutoff=cutoff,
        actor="pytest", config=config, period=period, bounds=bounds,
        fingerprint="ab" * 32,
        sources=[{"kind": "predictions", "batch_id": 1, "rows": 2000, "sha256": "cd" * 32, "source": "p.csv"},
                 {"kind": "ground_truth", "batch_id": 2, "rows": 1900, "sha256": "ef" * 32, "source": "g.csv"}],
        completeness=completeness, site_counts=[{"site_id": "site-bj-01", "predictions": 2007}],
        counts=[c.as_dict() for c in stratum_counts(cells, config)], results=[r.as_dict() for r in results],
        found=found,
    ) | sections | {"sequential_alarms": alarms}


@cache
def _pure_json(variant: str) -> str:
    return json.dumps(_pure_document(_config() if variant == "example" else _richer_config()))


def _richer_config() -> Any:
    """The example configuration with stratum claims, a PPV claim, labelled bins and chosen intersections."""
    from monitor.domain.device import DeviceConfig

    data = yaml.safe_load(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    data["strata"]["attributes"][0]["bin_labels"] = ["<45", "45-64", "65-74", ">=75"]
    data["strata"]["intersections"] = [["age_band", "emphysema_grade"], ["sex", "scanner_vendor"]]
    data["claims"]["ppv"] = {"value": 0.70, "margin": 0.05}
    data["claims"]["strata"] = [{"where": {"age_band": ">=75"}, "sensitivity": {"value": 0.85, "margin": 0.03}}]
    data["monitoring"]["interval_method"] = "clopper-pearson"
    data["claims"]["failure_rate"] = {"maximum": 0.01, "margin": 0.005}
    return DeviceConfig.model_validate(data)


#: Sections beyond the claims test that are lists of rows (``sequential`` holds two more).
SECTIONS = ("discrimination", "reference_comparison", "stratum_vs_rest", "maturity", "verification",
            "time_to_intervention", "data_drift", "early_warning", "sequential_alarms", "failure_rate",
            "human_ai_agreement", "volume_agreement", "model_version_comparison")


@pytest.mark.parametrize("variant", ("example", "richer"))
def test_analysis_document_from_the_pure_core_validates(variant: str) -> None:
    document = json.loads(_pure_json(variant))
    statuses = {r["status"] for r in document["results"]}
    assert statuses >= {"flagged", "inconclusive", "insufficient", "not_tested"}, "the sample should exercise every status"
    assert document["findings"]
    for section in SECTIONS:
        assert document[section], f"the sample should fill {section}"
    assert document["sequential"]["cusum"] and document["sequential"]["ewma"]
    assert {r["level"] for r in document["sequential"]["cusum"]} == {0, 1, 2}
    assert_valid("analysis", document)


@pytest.mark.parametrize("variant", ("example", "richer"))
def test_analysis_document_round_trips_through_the_typed_model(variant: str) -> None:
    """The document as the producers compose it is what the typed model gives back, as JSON text (stored
    documents are hashed)."""
    from monitor.domain.analysis_document import as_json, validated

    text = _pure_json(variant)
    assert json.dumps(as_json(validated(json.loads(text)))) == text


def _model_accepts(document: dict[str, Any]) -> bool:
    from monitor.domain.analysis_document import validated
    from monitor.errors import IntegrityError

    try:
        validated(document)
    except IntegrityError:
        return False
    return True


@cache
def _compact_json() -> str:
    """The example document with its rows cut to a few (the first three of each list, and the first
    result plus one of each status in a stratum): enough to break or vary one field, and quick to
    validate many times."""
    document = json.loads(_pure_json("example"))
    results = document["results"]
    by_status = {r["status"]: r for r in reversed(results) if r["level"] > 0}
    document["results"] = [results[0], *by_status.values()]
    for section in ("counts", "findings", *SECTIONS):
        document[section] = document[section][:3]
    for chart in ("cusum", "ewma"):
        document["sequential"][chart] = document["sequential"][chart][:3]
    return json.dumps(document)


def _set(document: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    node: Any = changed
    for p in parents:
        node = node[p]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return changed


_DELETE = object()
STRICT_ONLY = "strict mode only"


def _index(document: dict[str, Any], status: str) -> int:
    return next(i for i, r in enumerate(document["results"]) if r["status"] == status)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("schema", "samd-monitor/report"),
        ("schema_version", 2),
        ("run_id", "run-1"),
        ("created_at", "2026-02-01T16:00:01+08:00"),
        ("config_hash", "ABC"),
        ("device.operating_threshold", 1.2),
        ("period.kind", "week"),
        ("period.label", "Q3 2025"),
        ("period.first_day", "2025/07/01"),
        ("rules.claims.sensitivity.value", 1.1),
        ("rules.interval_method", "wald"),
        ("completeness.total.predictions", -1),
        ("counts.0.tp", -1),
        ("counts.0.level", 3),
        ("results.0.status", "failed"),
        ("results.0.metric", "accuracy"),
        ("results.0.estimate", 1.5),
        ("results.0.q_value", _DELETE),
        ("results.0.stratum", "everyone"),
        ("findings.0.ticket_id", "T-1"),
        ("findings.0.estimate", None),
        ("summary.flagged", "1"),
        ("unexpected_field", STRICT_ONLY),
        ("rules.maturity_window_days", _DELETE),
        ("rules.ewma_lambda", 0),
        ("rules.drift_reference_periods", 9),
        ("rules.cusum_arl0", 1),
        ("reference_window", _DELETE),
        ("reference_window.periods.0", "Q2 2025"),
        ("reference_window.start_utc", "2025-03-31"),
        ("reference_window.end_utc", "2025-07-01T00:00:00+08:00"),
        ("discrimination.0.auc", 1.5),
        ("discrimination.0.calibration_slope", "1.0"),
        ("discrimination.0.level", 2),
        ("discrimination.0.stratum", "age_band=<45"),
        ("discrimination.1.stratum", "overall"),
        ("discrimination.0.brier", _DELETE),
        ("reference_comparison.0.difference", 1.5),
        ("reference_comparison.0.metric", "auc"),
        ("reference_comparison.0.reference_trials", -1),
        ("stratum_vs_rest.0.level", 0),
        ("stratum_vs_rest.0.q_value", _DELETE),
        ("maturity.0.mature", None),
        ("maturity.0.completeness", 1.2),
        ("maturity.0.median_delay_days", -1),
        ("maturity.0.reason", ""),
        ("verification.0.audit_sample_negative_calls", -1),
        ("verification.0.corrected_sensitivity", 1.01),
        ("time_to_intervention.0.censored", -1),
        ("time_to_intervention.0.within_sla", 2),
        ("sequential", _DELETE),
        ("sequential.ewma", _DELETE),
        ("sequential.cusum.0.metric", "ppv"),
        ("sequential.cusum.0.h", 0),
        ("sequential.cusum.0.first_alarm_case_in_period", 0),
        ("sequential.cusum.0.unexpected", STRICT_ONLY),
        ("sequential.ewma.0.periods", []),
        ("sequential.ewma.0.rates.0", 1.5),
        ("sequential.ewma.0.periods_below_lower_limit", ["last quarter"]),
        ("data_drift.0.rows.0.kind", "text"),
        ("data_drift.0.rows.0.method", "ks"),
        ("data_drift.0.rows.0.drifted", "no"),
        ("data_drift.0.rows.0.reason", "unknown"),
        ("data_drift.0.reference", "previous"),
        ("data_drift.0.rows.0.value", -0.1),
        ("early_warning.0.is_estimate", False),
        ("early_warning.0.estimated_ppv", -0.1),
        ("sequential_alarms.0.ticket_id", "T-1"),
        ("sequential_alarms.0.finding_id", "finding-1"),
        ("sequential_alarms.0.alarms_in_period", 0),
        ("sequential_alarms.0.first_alarm_case_in_period", None),
        ("sequential_alarms", _DELETE),
        ("failure_rate.0.status", "failed"),
        ("failure_rate.0.by_code.timeout", -1),
        ("failure_rate.0.finding_id", "finding-1"),
        ("human_ai_agreement.0.kappa", 1.5),
        ("human_ai_agreement.0.ai_right", _DELETE),
        ("volume_agreement.0.ratio", 0),
        ("volume_agreement.0.tolerance", 1),
        ("model_version_comparison.0.metric", "ppv"),
        ("model_version_comparison.0.difference", -1.5),
        ("rules.volume_tolerance", 0),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_broken_analysis_documents_fail(path: str, value: Any) -> None:
    document = json.loads(_compact_json())
    broken = _set(document, path, value)
    assert not validator("analysis", strict=True).is_valid(broken)
    # the typed model decides as the schema does (it keeps additive fields, as the schema allows them)
    assert _model_accepts(broken) is validator("analysis").is_valid(broken)
    if value is STRICT_ONLY:  # additive fields are allowed outside the tests' strict mode
        assert validator("analysis").is_valid(broken)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("sequential_alarms.0.ticket_id", None),
        ("rules.intervention_sla_days", None),
        ("rules.cusum_drop", 0.05),
        ("time_to_intervention.0.sla_days", None),
        ("time_to_intervention.0.within_sla", None),
        ("discrimination.0.auc", None),
        ("maturity.0.completeness", None),
        ("reference_window.periods", []),
        ("reference_window.start_utc", "2025-03-31T16:00:00Z"),
        ("data_drift.0.rows.0", {"reference_n": 0, "current_n": 12, "feature": "confirmed_prevalence",
                                 "kind": "rate", "method": None, "value": None, "threshold": None,
                                 "effect_size": None, "effect_floor": None, "drifted": None,
                                 "reason": "no_reference"}),
        ("data_drift.0.rows.0.effect_size", -0.04),
        ("early_warning", []),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_values_the_code_can_write_validate(path: str, value: Any) -> None:
    """Nulls and edge cases that the sample does not happen to contain but the code can write."""
    document = _set(json.loads(_compact_json()), path, value)
    assert_valid("analysis", document)
    assert _model_accepts(document)


@pytest.mark.parametrize(
    ("status", "field", "value"),
    [
        ("not_tested", "q_value", 0.2),
        ("not_tested", "minimal_detectable_drop", 0.05),
        ("not_tested", "family", "exploratory"),
        ("insufficient", "additional_needed", None),
        ("insufficient", "p_value", 0.01),
        ("inconclusive", "additional_needed", None),
        ("flagged", "additional_needed", 10),
        ("inconclusive", "level", 0),
    ],
)
def test_result_fields_must_agree_with_the_status(status: str, field: str, value: Any) -> None:
    document = json.loads(_compact_json())
    i = next(i for i, r in enumerate(document["results"]) if r["status"] == status and r["level"] > 0)
    broken = _set(document, f"results.{i}.{field}", value)
    assert not validator("analysis").is_valid(broken)
    assert not _model_accepts(broken)  # the same rule, declared once (monitor.domain.analysis_document.results)


# --------------------------------------------------------------------------- (e) the demo's report
def test_demo_report_validates_with_every_section_filled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo's report JSON: five synthetic quarters (a reference window, EWMA history, CUSUM charts
    run from the first prediction), pending labels and interventions, so every section has rows. Each analysis
    document, as the producers compose it, comes back from the typed model as the same JSON text."""
    import io

    from rich.console import Console

    import monitor.service.analyze as analyze
    from monitor.domain.analysis_document import as_json, validated
    from monitor.entrypoints.demo import analyse_demo
    from monitor.service.report import write_report

    composed: list[str] = []
    monkeypatch.setattr(analyze, "validated", lambda document: composed.append(json.dumps(document)) or
                        validated(document))
    run = analyse_demo(out_dir=tmp_path, seed=20251, scale=0.02, database_url=None, console=Console(file=io.StringIO()))
    assert composed and all(json.dumps(as_json(validated(json.loads(text)))) == text for text in composed)
    # the demo's report in its machine-readable format (the rendered editions: tests/e2e/test_demo.py)
    files = write_report(run.device_id, run.quarter, formats=["json"], languages=["en"], out_dir=tmp_path / "reports",
                         uow=run.app.uow, clock=run.app.clock, actor=run.actor, renderer=run.app.report_renderer)
    report = json.loads(files.files["json"].read_text(encoding="utf-8"))
    assert_valid("report", report)
    analysis = report["analysis"]
    for section in ("discrimination", "maturity", "verification", "time_to_intervention", "data_drift",
                    "reference_comparison", "stratum_vs_rest", "early_warning"):
        assert analysis[section], f"the demo report has no {section} rows"
    assert analysis["sequential"]["cusum"] and analysis["sequential"]["ewma"]
    assert analysis["reference_window"]["periods"] == ["2025Q2"]
    # estimated, not only placeholder rows
    assert any(r["auc"] is not None and r["calibration_slope"] is not None for r in analysis["discrimination"])
    assert any(r["corrected_sensitivity"] is not None for r in analysis["verification"])
    assert any(r["median"] is not None and r["within_sla"] is not None for r in analysis["time_to_intervention"])
    assert any(r["median_delay_days"] is not None for r in analysis["maturity"])
    assert all(r["value"] is not None for c in analysis["data_drift"] for r in c["rows"])
    assert max(len(r["periods"]) for r in analysis["sequential"]["ewma"]) > 1


# --------------------------------------------------------------------------- (e) real outputs on SQLite and PostgreSQL
ATTRIBUTES = [(age, sex, grade, vendor)
              for age, sex, grade, vendor in zip([40, 50, 70, 80, ""] * 60, ["F", "M"] * 150,
                                                 ["none", "mild", "moderate", "severe", "none", ""] * 50,
                                                 ["GE", "Siemens", "Philips", "United Imaging"] * 75)]


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def _logs(folder: Path) -> dict[str, Path]:
    """2025Q3 logs: 2.1.0 misses a quarter of positives (sensitivity flagged), a small 2.2.0, a bad row,
    an unused column, labels pending for some, and a second ground-truth file with a correction,
    a duplicate and a conflicting re-send."""
    predictions, truth = [], []
    for i in range(240):
        age, sex, grade, vendor = ATTRIBUTES[i]
        positive = i % 2 == 0
        call = int(i % 8 != 0) if positive else int(i % 10 == 1)
        pid = f"LN-2025Q3-{i:07d}"
        predictions.append({
            "prediction_id": pid, "device_id": DEVICE_ID, "model_version": "2.1.0" if i < 228 else "2.2.0",
            "site_id": f"site-0{i % 3 + 1}", "predicted_at": f"2025-{7 + i % 3:02d}-{1 + i % 28:02d}T09:15:00+08:00",
            "score": f"{0.4 + 0.5 * call:.4f}", "predicted_label": call, "patient_id": f"P{i // 2:08d}",
            "age": age, "sex": sex, "emphysema_grade": grade, "scanner_vendor": vendor, "ris_accession": f"A{i}",
        })
        if i % 17 != 5:
            truth.append({"prediction_id": pid, "device_id": DEVICE_ID, "label": int(positive),
                          "confirmed_at": "2025-10-20T16:40:00+08:00",
                          "source": "histopathology" if positive else "adjudication",
                          "intervention_at": "2025-10-02T10:00:00+08:00" if positive else ""})
    predictions.append({**predictions[0], "prediction_id": "LN-2025Q3-bad", "score": "1.5"})
    corrections = [
        {**truth[1], "label": 1, "correction_reason": "adjudication overturned by histopathology"},
        {**truth[2], "correction_reason": ""},
        {**truth[3], "source": "follow_up", "correction_reason": ""},
    ]
    return {"predictions": _write_csv(folder / "predictions.csv", predictions),
            "ground_truth": _write_csv(folder / "ground_truth.csv", truth),
            "corrections": _write_csv(folder / "corrections.csv", corrections)}


def _ingest(app: Any, logs: dict[str, Path]) -> list[dict[str, Any]]:
    from monitor.service.ingest import ingest_ground_truth, ingest_predictions

    summaries = [ingest_predictions(app.open_log(logs["predictions"]), source=str(logs["predictions"]), uow=app.uow,
                                    hash_patient=app.patient_hasher(), clock=app.clock, actor="t")]
    for name in ("ground_truth", "corrections"):
        summaries.append(ingest_ground_truth(app.open_log(logs[name]), source=str(logs[name]), uow=app.uow,
                                             clock=app.clock, actor="t"))
    return [s.as_dict() for s in summaries]


def test_real_outputs_validate(app: Any, tmp_path: Path) -> None:
    from monitor.domain.periods import Period
    from monitor.service.analyze import analyze_period
    from monitor.service.report import write_report
    from monitor.service.tickets import list_tickets, tickets_as_json

    summaries = _ingest(app, _logs(tmp_path))
    for summary in summaries:
        assert_valid("batch_summary", json.loads(json.dumps(summary)))
    assert summaries[0]["reasons"] == {"score_out_of_range": 1} and summaries[0]["ignored_columns"] == ["ris_accession"]
    assert (summaries[2]["accepted"], summaries[2]["duplicates"], summaries[2]["reasons"]) == \
        (1, 1, {"conflicting_duplicate": 1})

    period = Period.parse("2025Q3")
    first = analyze_period(DEVICE_ID, period, uow=app.uow, clock=app.clock, actor="t")
    second = analyze_period(DEVICE_ID, period, uow=app.uow, clock=app.clock, actor="t")
    for outcome in (first, second):
        document = json.loads(json.dumps(outcome.document))
        assert_valid("analysis", document)
        statuses = {r["status"] for r in document["results"]}
        assert statuses <= {"flagged", "conforming", "inconclusive", "insufficient", "not_tested"}
        assert statuses & {"flagged", "conforming", "inconclusive"} and "not_tested" in statuses
        assert document["findings"] and len(document["completeness"]["by_model_version"]) == 2
    assert second.updated_tickets == first.opened_tickets
    from monitor.service.queries import get_run

    stored = get_run(app.uow, second.run_id)  # read back typed: the stored JSON is the model's
    assert stored.analysis.run_id == second.run_id and stored.analysis.model_dump(mode="json") == stored.document

    with pytest.raises(InputError, match="nothing to analyse"):  # an empty period stores no run (docs/cutoff.md)
        analyze_period(DEVICE_ID, Period.parse("2025Q1"), uow=app.uow, clock=app.clock, actor="t")

    files = write_report(DEVICE_ID, "2025Q3", formats=["json"], out_dir=tmp_path / "reports", uow=app.uow,
                         clock=app.clock, actor="t", renderer=app.report_renderer)
    report = json.loads(files.files["json"].read_text(encoding="utf-8"))
    assert_valid("report", report)
    assert report["analysis"] == json.loads(json.dumps(second.document))
    assert report["tickets"] and all(len(t["evidence"]) == 2 for t in report["tickets"])

    exported = json.loads(tickets_as_json(list_tickets(uow=app.uow)))
    assert_valid("tickets", exported)
    assert [t["ticket_id"] for t in exported["tickets"]] == first.opened_tickets
    assert_valid("tickets", json.loads(tickets_as_json([])))


def test_cli_json_outputs_validate(app: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from monitor.entrypoints.cli import app as cli

    from monitor.service.access import create_user

    monkeypatch.setenv("MONITOR_PATIENT_ID_KEY", PATIENT_KEY)
    create_user(app.uow, user_id="schema-tester", display_name="Schema tester", role="qa", password=None,
                clock=app.clock, actor="admin")
    monkeypatch.setenv("MONITOR_USER", "schema-tester")  # the named user the commands act as
    logs = _logs(tmp_path)
    runner = CliRunner()
    db = ["--db", app.settings.database_url]
    for command, path in (("predictions", logs["predictions"]), ("ground-truth", logs["ground_truth"])):
        result = runner.invoke(cli, [*db, "ingest", command, str(path), "--json"])
        assert result.exit_code == 0, result.output
        assert_valid("batch_summary", json.loads(result.stdout))
    result = runner.invoke(cli, [*db, "analyze", "--device", DEVICE_ID, "--period", "2025Q3", "--json"])
    assert result.exit_code == 0, result.output
    assert_valid("analysis", json.loads(result.stdout))
    out = tmp_path / "tickets.json"
    result = runner.invoke(cli, [*db, "tickets", "export", "--format", "json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert_valid("tickets", json.loads(out.read_text(encoding="utf-8")))


def test_timestamp_patterns_accept_what_the_code_writes() -> None:
    from monitor.service.analyze import _iso

    pattern = re.compile(_schemas()["analysis"]["$defs"]["timestamp_utc"]["pattern"])
    for moment in (datetime(2026, 2, 1, 8, 0, 1, tzinfo=timezone.utc),
                   datetime(2026, 2, 1, 8, 0, 1, 123456, tzinfo=timezone.utc),
                   datetime.fromisoformat("2026-02-01T16:00:01+08:00")):
        assert pattern.match(_iso(moment)), _iso(moment)
