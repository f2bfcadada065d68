"""The Spark engine counts the same cells as the database path, on both databases.

Spark runs in local mode (Java 17); the session is shared by the module's tests.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, Iterator

import pandas as pd
import pytest
from typer.testing import CliRunner

from monitor.adapters.config_file import load_device_config
from monitor.domain.periods import Period, resolve_timezone
from monitor.service.lake import analyze_lake
from monitor.synthetic import DemoScenario, generate, write_parquet

pytest.importorskip("pyspark", reason="the spark extra is part of the test installation (make test)")
from monitor.adapters.spark.cells import local_spark_session, spark_confusion_cells  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CONFIG = load_device_config(ROOT / "examples" / "lung-nodule-ct.yaml")
SCENARIO = DemoScenario(seed=11, scale=0.02)
CUTOFF = datetime.fromisoformat("2026-01-31T23:59:59+08:00")


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    session = local_spark_session(app_name="samd-monitor-tests")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    data = generate(SCENARIO)
    folder = tmp_path_factory.mktemp("lake")
    return {"data": data,
            "predictions": str(write_parquet(data.predictions, folder / "predictions" / "part-0.parquet").parent),
            "ground_truth": str(write_parquet(data.ground_truth, folder / "ground_truth" / "part-0.parquet"))}


def _bounds(label: str) -> tuple[datetime, datetime]:
    return Period.parse(label).bounds_utc(resolve_timezone(CONFIG.monitoring.timezone))


def _spark_cells(spark: Any, lake: dict[str, Any], label: str, **changes: Any) -> Any:
    start, end = _bounds(label)
    arguments = dict(predictions=[lake["predictions"]], ground_truth=[lake["ground_truth"]],
                     device_id=CONFIG.device.id, start=start, end=end, cutoff=CUTOFF,
                     attributes=CONFIG.strata.attributes) | changes
    return spark_confusion_cells(spark, **arguments)


def test_spark_cells_equal_the_database_cells(app: Any, ingest_scenario: Any, spark: Any,
                                              lake: dict[str, Any]) -> None:
    ingest_scenario(SCENARIO)
    for label in ("2025Q3", "2024Q4"):
        start, end = _bounds(label)
        # The database's cut-off applies to the time of ingestion (the test clock's now, after every row);
        # the lake's applies to the confirmation time (the scenario's as-of date, after every label).
        with app.uow() as unit:
            expected = unit.results.confusion_cells(CONFIG.device.id, start=start, end=end, cutoff=app.clock(),
                                                    attributes=CONFIG.strata.attributes)
        counted = _spark_cells(spark, lake, label)
        assert not expected.empty and int(expected[["tp", "fp", "fn", "tn"]].to_numpy().sum()) > 1000
        pd.testing.assert_frame_equal(counted.cells, expected, check_dtype=False)
        assert counted.excluded == {}


def test_the_lake_analysis_flags_what_the_database_analysis_flags(spark: Any, lake: dict[str, Any]) -> None:
    document = analyze_lake(CONFIG, Period.parse("2025Q3"), cutoff=CUTOFF, engine="spark",
                            count_cells=partial(spark_confusion_cells, spark, predictions=[lake["predictions"]],
                                                ground_truth=[lake["ground_truth"]]),
                            inputs={"predictions": [lake["predictions"]], "ground_truth": [lake["ground_truth"]]})
    from tests.unit.test_schemas import assert_valid

    assert_valid("lake_analysis", json.loads(json.dumps(document)))
    truth = lake["data"].ground_truth
    in_quarter = lake["data"].predictions["predicted_at"].between(*(pd.Timestamp(b) for b in _bounds("2025Q3")),
                                                                  inclusive="left")
    labelled = lake["data"].predictions.loc[in_quarter, "prediction_id"].isin(truth["prediction_id"]).sum()
    overall = [c for c in document["counts"] if c["level"] == 0]
    assert sum(c["tp"] + c["fp"] + c["fn"] + c["tn"] for c in overall) == labelled
    assert document["predictions_counted"] == int(in_quarter.sum())


def test_cutoff_and_conflicts_are_applied(spark: Any, lake: dict[str, Any], tmp_path: Path) -> None:
    data = lake["data"]
    predictions = data.predictions.head(400).copy()
    conflicting = predictions.head(3).assign(score=0.5, predicted_label=0)  # same ids, different content
    invalid = predictions.tail(2).assign(score=1.7)
    folder = tmp_path / "p"
    write_parquet(pd.concat([predictions, predictions.head(5), conflicting]), folder / "a.parquet")
    write_parquet(invalid.assign(prediction_id=invalid["prediction_id"] + "-bad"), folder / "b.parquet")
    truth = data.ground_truth[data.ground_truth["prediction_id"].isin(predictions["prediction_id"])]
    truth_file = write_parquet(truth, tmp_path / "g.parquet")
    first, last = predictions["predicted_at"].min(), predictions["predicted_at"].max()
    counted = spark_confusion_cells(
        spark, predictions=[str(folder)], ground_truth=[str(truth_file)], device_id=CONFIG.device.id,
        start=first.to_pydatetime(), end=(last + pd.Timedelta(seconds=1)).to_pydatetime(),
        cutoff=truth["confirmed_at"].min().to_pydatetime(), attributes=CONFIG.strata.attributes)
    assert counted.excluded == {"conflicting_prediction_id": 3, "invalid_prediction_row": 2}
    assert counted.predictions_counted == 397
    assert int(counted.cells[["tp", "fp", "fn", "tn"]].to_numpy().sum()) == int(
        (truth["confirmed_at"] == truth["confirmed_at"].min()).sum()
        - truth.loc[truth["confirmed_at"] == truth["confirmed_at"].min(), "prediction_id"]
        .isin(conflicting["prediction_id"]).sum())


def test_cli_runs_the_spark_engine(lake: dict[str, Any], tmp_path: Path) -> None:
    from monitor.entrypoints.cli import app as cli

    out = tmp_path / "lake.json"
    result = CliRunner().invoke(cli, [
        "analyze", "--engine", "spark", "--device", CONFIG.device.id, "--period", "2025Q3",
        "--cutoff", CUTOFF.isoformat(), "--config", str(ROOT / "examples" / "lung-nodule-ct.yaml"),
        "--predictions", lake["predictions"], "--ground-truth", lake["ground_truth"], "--out", str(out)])
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["engine"] == "spark" and document["summary"]["tests"] > 0
    assert "tests," in result.output
