"""Fixtures of the clinical-section tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SCHEMAS = Path(__file__).resolve().parents[3] / "schemas"


@pytest.fixture(scope="session")
def analysis_validator() -> Draft202012Validator:
    """A validator of ``schemas/analysis.schema.json`` (cross-file references resolved, formats checked)."""
    schemas = [json.loads(p.read_text(encoding="utf-8")) for p in SCHEMAS.glob("*.schema.json")]
    registry = Registry().with_resources(
        [(s["$id"], Resource.from_contents(s, default_specification=DRAFT202012)) for s in schemas])
    analysis = next(s for s in schemas if s["$id"].endswith("/analysis.schema.json"))
    return Draft202012Validator(analysis, registry=registry, format_checker=FormatChecker())
