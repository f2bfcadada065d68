"""The ordinal device section through a fake unit of work: it applies to an ordinal device only, reads the window
through ``unit.ordinal`` and hands over its content and evidence (issue 17 item 1)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from monitor.domain.device import DeviceConfig
from monitor.domain.window_aggregates import empty_aggregates
from monitor.service.device_sections import registry
from monitor.service.device_sections.ordinal import build
from monitor.service.window import Window, WindowReads

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "dr-triage-ordinal.yaml"
WINDOW = Window("dr-triage-ordinal", datetime(2025, 7, 1, tzinfo=timezone.utc), datetime(2025, 10, 1, tzinfo=timezone.utc),
                datetime(2026, 1, 31, tzinfo=timezone.utc))
READS = WindowReads(WINDOW, cases=None, aggregates=empty_aggregates([]))  # what the analysis read once


class FakeOrdinal:
    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame, self.calls = frame, []  # type: ignore[var-annotated]

    def level_counts(self, device_id: str, **kwargs: Any) -> pd.DataFrame:
        self.calls.append((device_id, kwargs))
        return self.frame


class FakeUnit:
    def __init__(self, frame: pd.DataFrame) -> None:
        self.ordinal = FakeOrdinal(frame)


def _config(binary: bool = False) -> DeviceConfig:
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    if binary:
        data.pop("outputs")
        data["claims"].pop("metrics")
    return DeviceConfig.model_validate(data)


def test_the_section_is_registered_applies_to_ordinal_devices_and_reads_the_window() -> None:
    assert "ordinal" in [s.key for s in registry()]
    frame = pd.DataFrame({"model_version": ["2.0.0"] * 3, "age_band": ["40-59"] * 3, "sex": ["F"] * 3,
                          "camera": ["Canon"] * 3, "predicted_level": [0, 1, 2], "label_level": [0, 1, -1],
                          "n": [50, 40, 10]})
    unit = FakeUnit(frame)
    assert build(unit, _config(binary=True), READS) is None and unit.ordinal.calls == []
    result = build(unit, _config(), READS)
    assert result is not None
    content = result.as_json()
    assert content["strata"][0]["calls"] == [50, 40, 10] and content["levels"][2]["name_zh"] == "立即转诊"
    device_id, kwargs = unit.ordinal.calls[0]
    assert device_id == WINDOW.device_id and kwargs["cutoff"] == WINDOW.cutoff
    assert [a.name for a in kwargs["attributes"]] == ["age_band", "sex", "camera"]
    assert {e.metric for e in result.evidence} == {"lowest_level_fnr", "weighted_kappa"}
    assert build(FakeUnit(frame.iloc[:0]), _config(), READS) is None
