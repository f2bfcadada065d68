"""What the lake-engine tests share (``test_arrow_engine.py``, ``test_spark_engine.py``): the device, the
synthetic deployment written as Parquet logs, the quarter's bounds, the checks of a lake document, and
the crafted log of duplicate, conflicting and invalid rows both engines must count alike."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from monitor.adapters.config_file import load_device_config
from monitor.domain.periods import Period, resolve_timezone
from monitor.synthetic import DemoScenario, generate, write_parquet

ROOT = Path(__file__).resolve().parents[2]
CONFIG = load_device_config(ROOT / "examples" / "lung-nodule-ct.yaml")
SCENARIO = DemoScenario(seed=11, scale=0.02)
CUTOFF = datetime.fromisoformat("2026-01-31T23:59:59+08:00")


def write_lake(folder: Path) -> dict[str, Any]:
    """The scenario's logs as a prediction folder and a ground-truth file, with the generated data."""
    data = generate(SCENARIO)
    return {"data": data,
            "predictions": str(write_parquet(data.predictions, folder / "predictions" / "part-0.parquet").parent),
            "ground_truth": str(write_parquet(data.ground_truth, folder / "ground_truth" / "part-0.parquet"))}


def bounds(label: str) -> tuple[datetime, datetime]:
    """UTC bounds of a period in the device's time zone."""
    return Period.parse(label).bounds_utc(resolve_timezone(CONFIG.monitoring.timezone))


def check_lake_document(document: dict[str, Any], data: Any) -> None:
    """The 2025Q3 lake document is valid and counts every labelled prediction of the quarter once."""
    from tests.unit.test_schemas import assert_valid

    assert_valid("lake_analysis", json.loads(json.dumps(document)))
    truth = data.ground_truth
    in_quarter = data.predictions["predicted_at"].between(*(pd.Timestamp(b) for b in bounds("2025Q3")),
                                                          inclusive="left")
    labelled = data.predictions.loc[in_quarter, "prediction_id"].isin(truth["prediction_id"]).sum()
    overall = [c for c in document["counts"] if c["level"] == 0]
    assert sum(c["tp"] + c["fp"] + c["fn"] + c["tn"] for c in overall) == labelled
    assert document["predictions_counted"] == int(in_quarter.sum())


def crafted_conflicts(data: Any, folder: Path) -> dict[str, Any]:
    """400 predictions plus 5 identical re-sends, 3 conflicting copies and 2 invalid rows, and their ground
    truth; the engine arguments, and the labelled count expected at the earliest confirmation time."""
    predictions = data.predictions.head(400).copy()
    conflicting = predictions.head(3).assign(score=0.5, predicted_label=0)  # same ids, different content
    invalid = predictions.tail(2).assign(score=1.7)
    logs = folder / "p"
    write_parquet(pd.concat([predictions, predictions.head(5), conflicting]), logs / "a.parquet")
    write_parquet(invalid.assign(prediction_id=invalid["prediction_id"] + "-bad"), logs / "b.parquet")
    truth = data.ground_truth[data.ground_truth["prediction_id"].isin(predictions["prediction_id"])]
    truth_file = write_parquet(truth, folder / "g.parquet")
    first, last = predictions["predicted_at"].min(), predictions["predicted_at"].max()
    at_first = truth["confirmed_at"] == truth["confirmed_at"].min()
    return {
        "arguments": dict(predictions=[str(logs)], ground_truth=[str(truth_file)], device_id=CONFIG.device.id,
                          start=first.to_pydatetime(), end=(last + pd.Timedelta(seconds=1)).to_pydatetime(),
                          cutoff=truth["confirmed_at"].min().to_pydatetime(), attributes=CONFIG.strata.attributes),
        "labelled_at_cutoff": int(at_first.sum() - truth.loc[at_first, "prediction_id"]
                                  .isin(conflicting["prediction_id"]).sum()),
    }
