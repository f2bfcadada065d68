"""Regenerate the generated JSON Schemas: ``schemas/device.schema.json`` from the pydantic model
:class:`DeviceConfig`, ``schemas/analysis.schema.json`` from :class:`AnalysisDocument`
(``monitor/domain/analysis_document/``; docs/analysis-document.md), ``schemas/tickets.schema.json`` from
:class:`TicketsDocument`, and ``schemas/report.schema.json`` from :class:`ReportContent`
(``monitor/domain/report_content.py``) with the models of the report's content sections
(:mod:`monitor.service.report_sections`).

Usage (from the repository root, with the project's virtual environment)::

    .venv/bin/python schemas/generate.py          # rewrite the files
    .venv/bin/python schemas/generate.py --check  # exit 1 if a file is out of date

The generated schemas are never edited by hand: change the models and run this script.
``tests/unit/test_schemas.py`` fails when a committed file differs from what this script generates.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

SCHEMA_DIR = Path(__file__).resolve().parent
DEVICE_SCHEMA_PATH = SCHEMA_DIR / "device.schema.json"
TICKETS_SCHEMA_PATH = SCHEMA_DIR / "tickets.schema.json"
REPORT_SCHEMA_PATH = SCHEMA_DIR / "report.schema.json"
BASE_ID = "https://samd-monitor.example/schemas/"

DEVICE_DESCRIPTION = (
    "Configuration of one monitored device: identity, operating threshold, stratification "
    "attributes, registered performance claims and monitoring rules. Written by hand as YAML "
    "(e.g. examples/lung-nodule-ct.yaml); read by `samd-monitor device add CONFIG` and "
    "`samd-monitor device validate CONFIG`. Generated from the pydantic model "
    "monitor.domain.device.DeviceConfig by schemas/generate.py; do not edit. Checks that span "
    "several fields are made only by the model, not by this schema: attribute names are unique; "
    "intersections and confirmatory name known attributes; bins are finite and strictly "
    "increasing, bin_labels has len(bins)+1 labels, an attribute has bins or values but not both; "
    "claims has at least one overall claim; claims.strata[].where names known attributes and "
    "labels; monitoring.timezone is a known IANA time zone."
)


def device_schema() -> dict[str, Any]:
    """The device-configuration JSON Schema (draft 2020-12), with identification keywords first."""
    if str(SCHEMA_DIR.parent) not in sys.path:  # run as a script from any folder
        sys.path.insert(0, str(SCHEMA_DIR.parent))
    from monitor.domain.device import DeviceConfig

    generated = DeviceConfig.model_json_schema()
    generated.pop("title", None)
    generated.pop("description", None)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": BASE_ID + "device.schema.json",
        "title": "samd-monitor device configuration",
        "description": DEVICE_DESCRIPTION,
        **generated,
    }


TICKETS_DESCRIPTION = (
    "Corrective-action (CAPA / retraining) tickets with their evidence and CAPA records, oldest first "
    "(monitor.service.tickets.tickets_as_json). Written by `samd-monitor tickets export --format json [--device ID] "
    "[--status S] [--out FILE]`; one ticket's record by `samd-monitor tickets capa export ID`. An "
    "analysis opens one ticket per group of overlapping shortfall findings, fixing its severity, containment, "
    "data-collection target and acceptance criteria, and its CAPA record with the 12 items of regulatory.md section "
    "3 (docs/tickets.md). The report JSON (report.schema.json) embeds the tickets of its findings in the same form. "
    "Timestamps are UTC. Generated from the pydantic model monitor.domain.capa.document.TicketsDocument by "
    "schemas/generate.py; do not edit."
)


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() and i else c.lower() for i, c in enumerate(name))


def _tidy(node: Any, renames: dict[str, str]) -> Any:
    """Definitions in snake_case (``#/$defs/ticket``), no per-property titles, unknown properties allowed."""
    if isinstance(node, list):
        return [_tidy(v, renames) for v in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "title" and isinstance(value, str) or (key == "additionalProperties" and value is False):
            continue
        if key == "$ref" and isinstance(value, str) and value.startswith("#/$defs/"):
            value = "#/$defs/" + renames[value.removeprefix("#/$defs/")]
        if key in ("properties", "$defs") and isinstance(value, dict):
            out[key] = {renames.get(k, k) if key == "$defs" else k: _tidy(v, renames) for k, v in value.items()}
        else:
            out[key] = _tidy(value, renames)
    return out


def tickets_schema() -> dict[str, Any]:
    """The tickets-export JSON Schema (draft 2020-12), generated from the pydantic models."""
    if str(SCHEMA_DIR.parent) not in sys.path:
        sys.path.insert(0, str(SCHEMA_DIR.parent))
    from monitor.domain.capa.document import TicketsDocument

    generated = TicketsDocument.model_json_schema()
    renames = {name: _snake(name) for name in generated.get("$defs", {})}
    generated = _tidy(generated, renames)
    generated.pop("description", None)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": BASE_ID + "tickets.schema.json",
        "title": "samd-monitor corrective-action tickets export",
        "description": TICKETS_DESCRIPTION,
        **generated,
    }


ANALYSIS_SCHEMA_PATH = SCHEMA_DIR / "analysis.schema.json"


def _analysis_node(node: Any, renames: dict[str, str], *, keywords: bool = True) -> Any:
    """``node`` with definitions renamed (``renames``: a new name or a reference elsewhere), descriptions on one
    line, without pydantic's titles and ``additionalProperties: true`` (the default: a part keeps undeclared
    properties)."""
    if isinstance(node, list):
        return [_analysis_node(v, renames) for v in node]
    if not isinstance(node, dict):
        return node
    if not keywords:  # the names of properties or definitions, each mapped to a schema
        return {k: _analysis_node(v, renames) for k, v in node.items()}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "title" or (key == "additionalProperties" and value is True):
            continue
        if key == "$ref":
            target = renames[value.removeprefix("#/$defs/")]
            out[key] = target if ".schema.json" in target else "#/$defs/" + target
        elif key == "description" and isinstance(value, str):
            out[key] = " ".join(value.split())  # a model's docstring is wrapped
        else:
            out[key] = _analysis_node(value, renames, keywords=key not in ("properties", "$defs"))
    return out


def analysis_schema() -> dict[str, Any]:
    """The analysis-document JSON Schema, generated from :class:`AnalysisDocument`: definitions in snake_case
    (``#/$defs/cusum_chart``), the device configuration's models referred to in ``device.schema.json``, and the
    value types other schemas refer to (:data:`monitor.domain.analysis_document.values.SHARED`) under their names."""
    if str(SCHEMA_DIR.parent) not in sys.path:
        sys.path.insert(0, str(SCHEMA_DIR.parent))
    from pydantic import TypeAdapter

    from monitor.domain.analysis_document import AnalysisDocument
    from monitor.domain.analysis_document.values import SHARED
    from monitor.domain.device import DeviceConfig

    generated = AnalysisDocument.model_json_schema(by_alias=True)
    definitions = generated.pop("$defs", {})
    device_definitions = DeviceConfig.model_json_schema().get("$defs", {})
    renames = {}
    for name, definition in definitions.items():
        if name in device_definitions:
            if definition != device_definitions[name]:
                raise ValueError(f"{name}: an analysis model has the name of a different device-configuration model")
            renames[name] = f"device.schema.json#/$defs/{name}"
        else:
            renames[name] = _snake(name)
    clashes = set(renames.values()) & set(SHARED)
    if clashes:
        raise ValueError(f"model names clash with shared value types: {sorted(clashes)}")
    own = {renames[n]: _analysis_node(d, renames) for n, d in definitions.items() if "#" not in renames[n]}
    shared = {name: _analysis_node(TypeAdapter(kind).json_schema(), renames) for name, kind in SHARED.items()}
    body = _analysis_node(generated, renames)
    description = body.pop("description")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": BASE_ID + "analysis.schema.json",
        "title": "samd-monitor analysis document",
        "description": description + " Generated from the pydantic model "
                                     "monitor.domain.analysis_document.AnalysisDocument by schemas/generate.py; do "
                                     "not edit.",
        **body,
        "$defs": dict(sorted((shared | own).items())),
    }


REPORT_TITLE = "samd-monitor periodic report (JSON)"
#: The models the report content embeds whole, referred to in their own schema files.
REPORT_EMBEDDED = {"AnalysisDocument": "analysis.schema.json", "Ticket": "tickets.schema.json#/$defs/ticket"}
#: The analysis document's value types the report's schema refers to (analysis.schema.json#/$defs/<name>).
REPORT_SHARED = ("uuid", "timestamp_utc", "sha256")


def _reached(node: Any, definitions: dict[str, Any], stop: dict[str, str], into: set[str]) -> set[str]:
    """The names of the definitions ``node`` refers to, directly or through others, but not through ``stop``."""
    if isinstance(node, list):
        for value in node:
            _reached(value, definitions, stop, into)
    elif isinstance(node, dict):
        ref = node.get("$ref")
        name = ref.removeprefix("#/$defs/") if isinstance(ref, str) else None
        if name is not None and name not in stop and name not in into:
            into.add(name)
            _reached(definitions[name], definitions, stop, into)
        for value in node.values():
            _reached(value, definitions, stop, into)
    return into


def _refer_shared(node: Any, shared: dict[str, dict[str, Any]]) -> Any:
    """``node`` with every inline schema of a shared value type replaced by a reference to it (its description kept
    when it is the field's own)."""
    if isinstance(node, list):
        return [_refer_shared(v, shared) for v in node]
    if not isinstance(node, dict):
        return node
    bare = {k: v for k, v in node.items() if k != "description"}
    for name, schema in shared.items():
        if bare == {k: v for k, v in schema.items() if k != "description"}:
            own = {"description": node["description"]} if node.get("description") != schema.get("description") else {}
            return {**{k: v for k, v in own.items() if v is not None}, "$ref": f"analysis.schema.json#/$defs/{name}"}
    return {k: _refer_shared(v, shared) for k, v in node.items()}


def report_schema() -> dict[str, Any]:
    """The report-content JSON Schema, generated from :func:`monitor.service.report.content_model` (the core,
    :class:`monitor.domain.report_content.ReportContent`, with one ``sections`` field per registered content
    section): definitions in snake_case, the analysis document and the tickets referred to in their own schemas,
    and the identifiers and timestamps to the analysis schema's value types."""
    if str(SCHEMA_DIR.parent) not in sys.path:
        sys.path.insert(0, str(SCHEMA_DIR.parent))
    from pydantic import TypeAdapter

    from monitor.domain.analysis_document.values import SHARED
    from monitor.service.report import content_model

    generated = content_model().model_json_schema(by_alias=True)
    definitions = generated.pop("$defs", {})
    missing = set(REPORT_EMBEDDED) - set(definitions)
    if missing:
        raise ValueError(f"the report content no longer embeds {sorted(missing)} under that name")
    own = _reached(generated, definitions, REPORT_EMBEDDED, set())
    renames = REPORT_EMBEDDED | {name: _snake(name.rsplit("__", 1)[-1]) for name in own}  # a module-qualified clash
    if len(set(renames.values())) != len(renames):
        raise ValueError("two report content models have the same name")
    shared = {name: _analysis_node(TypeAdapter(SHARED[name]).json_schema(), {}) for name in REPORT_SHARED}
    body = _refer_shared(_analysis_node(generated, renames), shared)
    description = body.pop("description")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": BASE_ID + "report.schema.json",
        "title": REPORT_TITLE,
        "description": description + " Generated from the pydantic model monitor.domain.report_content.ReportContent "
                                     "and the models of the registered report sections (monitor.service."
                                     "report_sections) by schemas/generate.py; do not edit.",
        **body,
        "$defs": dict(sorted((renames[n], _refer_shared(_analysis_node(definitions[n], renames), shared))
                             for n in own)),
    }


#: Every generated schema file and its builder.
GENERATED = {DEVICE_SCHEMA_PATH: device_schema, TICKETS_SCHEMA_PATH: tickets_schema,
             ANALYSIS_SCHEMA_PATH: analysis_schema, REPORT_SCHEMA_PATH: report_schema}


def render(schema: dict[str, Any]) -> str:
    """The file text of a schema: two-space indentation, UTF-8, trailing newline."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    outputs = {path: render(build()) for path, build in GENERATED.items()}
    if "--check" in argv:
        stale = [path for path, text in outputs.items()
                 if (path.read_text(encoding="utf-8") if path.exists() else "") != text]
        for path in stale:
            print(f"{path} is out of date: run `python schemas/generate.py`", file=sys.stderr)
        return 1 if stale else 0
    for path, text in outputs.items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
