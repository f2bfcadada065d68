"""The typed report content (monitor.domain.report_content): a content goes through the model unchanged.

Whole contents built from stored data are checked by ``build_content`` itself and against the generated schema in
tests/unit/test_schemas.py; here, that the model gives back the JSON it was given (contents are hashed).
"""

from __future__ import annotations

import json
from pathlib import Path

from monitor.domain.report_content import ReportContent, as_json, validated
from monitor.service.report import content_json

#: The demo's 2025Q3 content (a baseline, an opened ticket, batches), also used by the rendering tests.
DEMO = Path(__file__).parents[1] / "adapters" / "rendering" / "data" / "report_content_demo.json"


def test_a_report_content_round_trips_through_the_model_byte_for_byte() -> None:
    content = json.loads(DEMO.read_text(encoding="utf-8"))
    assert content_json(as_json(validated(content, ReportContent))) == content_json(content)
