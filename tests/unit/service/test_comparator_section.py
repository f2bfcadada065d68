"""The comparator device section (monitor.service.device_sections.comparator) through a fake unit of work: when it
applies, what it asks the repository, and that it hands over no evidence (no claim, finding or ticket)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from monitor.domain.analysis_document.comparator import ComparatorSection
from monitor.domain.device import DeviceConfig
from monitor.domain.grouping import GROUPING_COLUMN
from monitor.domain.window_aggregates import empty_aggregates
from monitor.service.device_sections import registry
from monitor.service.device_sections.comparator import build
from monitor.service.window import Window, WindowReads

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "nodule-growth-lung-rads.yaml"
WINDOW = Window("nodule-growth", datetime(2025, 1, 1, tzinfo=timezone.utc), datetime(2025, 4, 1, tzinfo=timezone.utc),
                datetime(2026, 1, 1, tzinfo=timezone.utc))
READS = WindowReads(WINDOW, cases=None, aggregates=empty_aggregates([]))  # what the analysis read once


@dataclass
class FakeComparator:
    rows: list[dict[str, Any]]
    calls: list[dict[str, Any]] = field(default_factory=list)

    def paired_counts(self, device_id: str, **kwargs: Any) -> pd.DataFrame:
        self.calls.append({"device_id": device_id, **kwargs})
        return pd.DataFrame(self.rows, columns=[GROUPING_COLUMN, "model_version", "age_band", "nodule_type", "ai_bin",
                                                "comparator_score", "ai_call", "comparator_call", "label", "n"])


@dataclass
class FakeUnit:
    comparator: FakeComparator


def _rows() -> list[dict[str, Any]]:
    cell = {"model_version": "1.0.0", "ai_bin": 700, "comparator_score": 4.0, "ai_call": 1, "comparator_call": 1.0,
            "label": 1, "n": 5}
    return [cell | {GROUPING_COLUMN: "", "age_band": None, "nodule_type": None},
            cell | {GROUPING_COLUMN: "age_band", "age_band": "<65", "nodule_type": None},
            cell | {GROUPING_COLUMN: "nodule_type", "age_band": None, "nodule_type": "solid"}]


def _config(**changes: Any) -> DeviceConfig:
    return DeviceConfig.model_validate(yaml.safe_load(EXAMPLE.read_text(encoding="utf-8")) | changes)


def test_registered_under_its_document_key() -> None:
    assert "comparator" in {section.key for section in registry()}


def test_no_comparator_configured_means_no_section_and_no_query() -> None:
    unit = FakeUnit(FakeComparator(_rows()))
    assert build(unit, _config(comparator=None), READS) is None
    assert unit.comparator.calls == []


def test_no_labelled_study_with_a_comparator_means_no_section() -> None:
    unit = FakeUnit(FakeComparator([]))
    assert build(unit, _config(), READS) is None
    assert unit.comparator.calls[0]["positive_from"] == 4.0
    assert unit.comparator.calls[0]["cutoff"] == WINDOW.cutoff


def test_the_section_hands_over_no_evidence() -> None:
    result = build(FakeUnit(FakeComparator(_rows())), _config(), READS)
    assert result is not None and result.evidence == []
    assert isinstance(result.content, ComparatorSection) and result.content.studies == 5
    assert {r.model_version for r in result.content.rows} == {"1.0.0"}
    assert result.as_json()["name"] == "Lung-RADS v2022"
