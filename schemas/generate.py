"""Regenerate ``schemas/device.schema.json`` from the pydantic model :class:`DeviceConfig`.

Usage (from the repository root, with the project's virtual environment)::

    .venv/bin/python schemas/generate.py          # rewrite the file
    .venv/bin/python schemas/generate.py --check  # exit 1 if the file is out of date

The device schema is never edited by hand: change ``monitor/domain/device.py`` (or
``monitor/domain/strata.py``) and run this script. ``tests/unit/test_schemas.py``
fails when the committed file differs from what this script generates.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

SCHEMA_DIR = Path(__file__).resolve().parent
DEVICE_SCHEMA_PATH = SCHEMA_DIR / "device.schema.json"
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


def render(schema: dict[str, Any]) -> str:
    """The file text of a schema: two-space indentation, UTF-8, trailing newline."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    text = render(device_schema())
    if "--check" in argv:
        current = DEVICE_SCHEMA_PATH.read_text(encoding="utf-8") if DEVICE_SCHEMA_PATH.exists() else ""
        if current != text:
            print(f"{DEVICE_SCHEMA_PATH} is out of date: run `python schemas/generate.py`", file=sys.stderr)
            return 1
        return 0
    DEVICE_SCHEMA_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {DEVICE_SCHEMA_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
