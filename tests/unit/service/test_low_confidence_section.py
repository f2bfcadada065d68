"""The low-confidence device section (monitor.service.device_sections.low_confidence) through a fake unit of work:
when it applies, what it reads, and that it hands over the flag rate's evidence."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from monitor.domain.device import DeviceConfig
from monitor.domain.window_aggregates import empty_aggregates
from monitor.service.device_sections import registry
from monitor.service.device_sections.low_confidence import build
from monitor.service.window import Window, WindowReads

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "breast-mri-low-confidence.yaml"
WINDOW = Window("breast-mri", datetime(2025, 7, 1, tzinfo=timezone.utc), datetime(2025, 10, 1, tzinfo=timezone.utc),
                datetime(2026, 1, 1, tzinfo=timezone.utc))
READS = WindowReads(WINDOW, cases=None, aggregates=empty_aggregates([]))  # what the analysis read once


@dataclass
class FakeLowConfidence:
    logged: bool
    calls: list[str] = field(default_factory=list)

    def any_logged(self, device_id: str, **span: Any) -> bool:
        self.calls.append("any_logged")
        return self.logged

    def counts(self, device_id: str, *, attributes: Any, **span: Any) -> pd.DataFrame:
        self.calls.append("counts")
        return pd.DataFrame([{"model_version": "3.2.0", "age_band": "50-59", "scanner_vendor": "GE",
                              "field_strength": "3T", "breast_density": "b", "low_confidence": flag,
                              "predicted_label": 1, "label": 1, "n": n} for flag, n in ((1, 3), (0, 47))])


@dataclass
class FakeUnit:
    low_confidence: FakeLowConfidence


def _config(*, claimed: bool) -> DeviceConfig:
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    if not claimed:
        data["claims"].pop("metrics")
    return DeviceConfig.model_validate(data)


def test_registered_under_its_document_key() -> None:
    assert "low_confidence" in {section.key for section in registry()}


def test_no_flag_logged_and_no_claim_means_no_section_and_no_count_query() -> None:
    unit = FakeUnit(FakeLowConfidence(logged=False))
    assert build(unit, _config(claimed=False), READS) is None
    assert unit.low_confidence.calls == ["any_logged"]


def test_a_claim_or_a_logged_flag_builds_the_section_with_its_evidence() -> None:
    for claimed, logged in ((True, False), (False, True)):
        unit = FakeUnit(FakeLowConfidence(logged=logged))
        result = build(unit, _config(claimed=claimed), READS)
        assert result is not None and "counts" in unit.low_confidence.calls
        overall = result.as_json()[0]
        assert (overall["stratum"], overall["flagged"], overall["assessed"]) == ("overall", 3, 50)
        assert [(e.metric, e.stratum.key, e.events, e.trials) for e in result.evidence][0] == (
            "low_confidence_rate", "overall", 3, 50)
