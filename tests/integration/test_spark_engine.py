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

from lake_support import (  # type: ignore[import-not-found]
    CONFIG, CUTOFF, ROOT, SCENARIO, bounds, check_lake_document, crafted_conflicts, write_lake)
from monitor.domain.periods import Period
from monitor.service.lake import analyze_lake
from monitor.synthetic import write_parquet

pytest.importorskip("pyspark", reason="the spark extra is part of the test installation (make test)")
from monitor.adapters.spark.cells import local_spark_session, spark_confusion_cells  # noqa: E402



@pytest.fixture(scope="module")
def spark_module() -> Iterator[None]:
    """Stop the local session, if one is running, at the end of the module."""
    yield
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()


@pytest.fixture
def spark(spark_module: None) -> Any:
    """A live local session: the running one, or a new one when a test stopped it (the CLI test's
    ``analyze --engine spark`` stops the session it got, which is this same one)."""
    return local_spark_session(app_name="samd-monitor-tests")


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return write_lake(tmp_path_factory.mktemp("lake"))


def _spark_cells(spark: Any, lake: dict[str, Any], label: str, **changes: Any) -> Any:
    start, end = bounds(label)
    arguments = dict(predictions=[lake["predictions"]], ground_truth=[lake["ground_truth"]],
                     device_id=CONFIG.device.id, start=start, end=end, cutoff=CUTOFF,
                     attributes=CONFIG.strata.attributes) | changes
    return spark_confusion_cells(spark, **arguments)


def test_spark_cells_equal_the_database_cells(app: Any, ingest_scenario: Any, spark: Any,
                                              lake: dict[str, Any]) -> None:
    ingest_scenario(SCENARIO)
    for label in ("2025Q3", "2024Q4"):
        start, end = bounds(label)
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
    check_lake_document(document, lake["data"])


def test_cutoff_and_conflicts_are_applied(spark: Any, lake: dict[str, Any], tmp_path: Path) -> None:
    crafted = crafted_conflicts(lake["data"], tmp_path)
    counted = spark_confusion_cells(spark, **crafted["arguments"])
    assert counted.excluded == {"conflicting_prediction_id": 3, "invalid_prediction_row": 2}
    assert counted.predictions_counted == 397
    assert int(counted.cells[["tp", "fp", "fn", "tn"]].to_numpy().sum()) == crafted["labelled_at_cutoff"]


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
    assert "tests: " in result.output and "shortfall shown" in result.output


def test_the_arrow_engine_counts_like_spark(spark: Any, lake: dict[str, Any], tmp_path: Path) -> None:
    """On crafted rows (invalid, conflicting, other device, top-coded age, empty label; label corrections
    before and after the cut-off, ties, copies, invalid labels), both engines give the same figures."""
    from monitor.adapters.arrow.cells import arrow_confusion_cells

    data = lake["data"]
    predictions, truth = data.predictions, data.ground_truth
    start, end = bounds("2025Q3")
    quarter = predictions[predictions["predicted_at"].between(pd.Timestamp(start), pd.Timestamp(end),
                                                              inclusive="left")]
    sample = quarter.head(8).reset_index(drop=True)
    bad = sample.assign(prediction_id=sample["prediction_id"] + "-bad")
    bad.loc[0, "score"], bad.loc[1, "score"], bad.loc[2, "predicted_label"] = float("nan"), -0.1, 2
    bad.loc[3, "model_version"], bad.loc[4, "predicted_at"], bad.loc[5, "prediction_id"] = None, pd.NaT, None
    bad.loc[6, "age"], bad.loc[7, "sex"] = 95, ""
    write_parquet(predictions, tmp_path / "p" / "a.parquet")
    write_parquet(pd.concat([bad, quarter.iloc[100:105].assign(score=0.33), sample.assign(device_id="x"),
                             quarter.iloc[200:210]]), tmp_path / "p" / "b.parquet")
    labelled = truth[truth["prediction_id"].isin(quarter["prediction_id"])
                     & (truth["confirmed_at"] < pd.Timestamp(CUTOFF))]
    corrections = pd.concat([
        labelled.iloc[:40].assign(label=1 - labelled["label"].iloc[:40],
                                  confirmed_at=pd.Timestamp(CUTOFF) + pd.Timedelta(seconds=1)),
        labelled.iloc[40:70].assign(label=1 - labelled["label"].iloc[40:70],
                                    confirmed_at=labelled["confirmed_at"].iloc[40:70] + pd.Timedelta(minutes=5)),
        labelled.iloc[70:80].assign(label=1 - labelled["label"].iloc[70:80]),  # tie
        labelled.iloc[80:90], labelled.iloc[90:95].assign(label=3)])
    # One timestamp unit in the folder: Spark's nanosAsLong reading takes microseconds for nanoseconds.
    corrections["confirmed_at"] = pd.to_datetime(corrections["confirmed_at"], utc=True).dt.tz_convert(
        "Asia/Shanghai").astype("datetime64[ns, Asia/Shanghai]")
    write_parquet(truth, tmp_path / "g" / "a.parquet")
    write_parquet(corrections, tmp_path / "g" / "b.parquet")
    inputs = dict(predictions=[str(tmp_path / "p")], ground_truth=[str(tmp_path / "g")], device_id=CONFIG.device.id,
                  attributes=CONFIG.strata.attributes)
    for label, cutoff in (("2025Q3", CUTOFF), ("2025Q3", datetime.fromisoformat("2025-09-15T00:00:00+00:00"))):
        first, last = bounds(label)
        ours = arrow_confusion_cells(start=first, end=last, cutoff=cutoff, **inputs)
        theirs = spark_confusion_cells(spark, start=first, end=last, cutoff=cutoff, **inputs)
        pd.testing.assert_frame_equal(ours.cells, theirs.cells, check_dtype=False)
        assert (ours.predictions_read, ours.predictions_counted, ours.excluded) == (
            theirs.predictions_read, theirs.predictions_counted, theirs.excluded)
        assert set(ours.excluded) == {"invalid_prediction_row", "ambiguous_ground_truth", "conflicting_prediction_id"}
