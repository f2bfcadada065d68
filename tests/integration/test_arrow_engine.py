"""The Arrow engine counts the same cells as the database path, on both databases.

It mirrors ``test_spark_engine.py`` and adds crafted rows: corrections after the cut-off, ties,
other devices, invalid and out-of-period rows, timestamps as text, several files and folders.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from lake_support import (  # type: ignore[import-not-found]
    CONFIG, CUTOFF, ROOT, SCENARIO, bounds, check_lake_document, crafted_conflicts, write_lake)
from monitor.adapters.arrow.cells import arrow_confusion_cells
from monitor.domain.periods import Period
from monitor.errors import InputError
from monitor.service.lake import analyze_lake
from monitor.synthetic import write_parquet

COUNTS = ["tp", "fp", "fn", "tn"]


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return write_lake(tmp_path_factory.mktemp("lake"))


def _cells(predictions: list[str], ground_truth: list[str], label: str = "2025Q3", **changes: Any) -> Any:
    start, end = bounds(label)
    arguments = dict(predictions=predictions, ground_truth=ground_truth, device_id=CONFIG.device.id,
                     start=start, end=end, cutoff=CUTOFF, attributes=CONFIG.strata.attributes) | changes
    return arrow_confusion_cells(**arguments)


def _total(counted: Any) -> int:
    return int(counted.cells[COUNTS].to_numpy().sum())


def test_arrow_cells_equal_the_database_cells(app: Any, ingest_scenario: Any, lake: dict[str, Any]) -> None:
    ingest_scenario(SCENARIO)
    for label in ("2025Q3", "2024Q4"):
        start, end = bounds(label)
        # As in the Spark test: the database's cut-off is the time of ingestion, the lake's the confirmation time.
        with app.uow() as unit:
            expected = unit.results.confusion_cells(CONFIG.device.id, start=start, end=end, cutoff=app.clock(),
                                                    attributes=CONFIG.strata.attributes)
        counted = _cells([lake["predictions"]], [lake["ground_truth"]], label)
        assert not expected.empty and int(expected[COUNTS].to_numpy().sum()) > 1000
        pd.testing.assert_frame_equal(counted.cells, expected, check_dtype=False)
        assert list(counted.cells.columns) == list(expected.columns)
        assert counted.excluded == {}


def test_the_lake_analysis_counts_every_labelled_prediction(lake: dict[str, Any]) -> None:
    document = analyze_lake(CONFIG, Period.parse("2025Q3"), cutoff=CUTOFF, engine="arrow",
                            count_cells=partial(arrow_confusion_cells, predictions=[lake["predictions"]],
                                                ground_truth=[lake["ground_truth"]]),
                            inputs={"predictions": [lake["predictions"]], "ground_truth": [lake["ground_truth"]]})
    check_lake_document(document, lake["data"])
    assert document["engine"] == "arrow" and document["summary"]["tests"] > 0


def test_cutoff_and_conflicts_are_applied(lake: dict[str, Any], tmp_path: Path) -> None:
    """The Spark test's crafted rows give the Spark test's figures."""
    crafted = crafted_conflicts(lake["data"], tmp_path)
    counted = arrow_confusion_cells(**crafted["arguments"])
    assert counted.excluded == {"conflicting_prediction_id": 3, "invalid_prediction_row": 2}
    assert counted.predictions_counted == 397
    assert counted.predictions_read == 400 + 5 + 3 + 2
    assert _total(counted) == crafted["labelled_at_cutoff"]


def test_the_latest_label_by_the_cutoff_wins(lake: dict[str, Any], tmp_path: Path) -> None:
    """A correction confirmed after the cut-off changes nothing; one before it replaces the label; two
    different labels confirmed at the same latest time exclude the id."""
    truth = lake["data"].ground_truth
    start, end = bounds("2025Q3")
    in_quarter = lake["data"].predictions["predicted_at"].between(pd.Timestamp(start), pd.Timestamp(end),
                                                                  inclusive="left")
    ids = lake["data"].predictions.loc[in_quarter, "prediction_id"]
    labelled = truth[truth["prediction_id"].isin(ids) & (truth["confirmed_at"] < pd.Timestamp(CUTOFF))]
    late, early, tied = labelled.iloc[:40], labelled.iloc[40:70], labelled.iloc[70:80]
    baseline = _cells([lake["predictions"]], [lake["ground_truth"]])

    after = late.assign(label=1 - late["label"], confirmed_at=pd.Timestamp(CUTOFF) + pd.Timedelta(seconds=1))
    before = early.assign(label=1 - early["label"], confirmed_at=early["confirmed_at"] + pd.Timedelta(minutes=5))
    tie = tied.assign(label=1 - tied["label"])  # same time, other label
    corrections = write_parquet(pd.concat([after, before, tie]), tmp_path / "corrections" / "c.parquet")
    corrected = _cells([lake["predictions"]], [lake["ground_truth"], str(corrections)])

    assert corrected.excluded == {"ambiguous_ground_truth": len(tied)}
    assert corrected.predictions_counted == baseline.predictions_counted
    assert _total(corrected) == _total(baseline) - len(tied)
    merged = baseline.cells.merge(corrected.cells, on=list(baseline.cells.columns[:-4]), how="outer",
                                  suffixes=("_was", "_now")).fillna(0)
    moved = {c: int((merged[f"{c}_now"] - merged[f"{c}_was"]).sum()) for c in COUNTS}
    flipped = early.merge(lake["data"].predictions[["prediction_id", "predicted_label"]], on="prediction_id")
    expected = dict.fromkeys(COUNTS, 0)
    for row in flipped.itertuples():  # each early correction moves one case to the other label's cell
        was = {(1, 1): "tp", (0, 1): "fp", (1, 0): "fn", (0, 0): "tn"}[(row.label, row.predicted_label)]
        now = {(1, 1): "tp", (0, 1): "fp", (1, 0): "fn", (0, 0): "tn"}[(1 - row.label, row.predicted_label)]
        expected[was] -= 1
        expected[now] += 1
    for row in tied.merge(lake["data"].predictions[["prediction_id", "predicted_label"]],
                          on="prediction_id").itertuples():
        expected[{(1, 1): "tp", (0, 1): "fp", (1, 0): "fn", (0, 0): "tn"}[(row.label, row.predicted_label)]] -= 1
    assert moved == expected
    # The same correction files with a cut-off after the late corrections: they now apply too.
    later = _cells([lake["predictions"]], [lake["ground_truth"], str(corrections)],
                   cutoff=CUTOFF + pd.Timedelta(seconds=2).to_pytimedelta())
    assert _total(later) == _total(corrected)
    assert not later.cells.equals(corrected.cells)


def test_rows_the_engine_must_exclude(lake: dict[str, Any], tmp_path: Path) -> None:
    """Other devices, invalid rows, rows outside the period or after the cut-off and unusable labels are
    left out; text timestamps and identical copies in another file count like the originals."""
    data = lake["data"]
    predictions, truth = data.predictions, data.ground_truth
    baseline = _cells([lake["predictions"]], [lake["ground_truth"]])
    start, end = bounds("2025Q3")
    in_quarter = predictions[predictions["predicted_at"].between(pd.Timestamp(start), pd.Timestamp(end),
                                                                 inclusive="left")]
    sample = in_quarter.head(6).reset_index(drop=True)
    other_device = sample.assign(device_id="another-device", prediction_id=sample["prediction_id"] + "-x")
    bad = sample.assign(prediction_id=sample["prediction_id"] + "-bad")
    bad.loc[0, "score"] = float("nan")
    bad.loc[1, "score"] = -0.1
    bad.loc[2, "predicted_label"] = 2
    bad.loc[3, "model_version"] = None
    bad.loc[4, "predicted_at"] = pd.NaT
    bad.loc[5, "prediction_id"] = None
    outside = sample.assign(prediction_id=sample["prediction_id"] + "-out",
                            predicted_at=pd.Timestamp(end) + pd.Timedelta(hours=1))
    extra = pd.concat([other_device, bad, outside])
    extra_file = write_parquet(extra, tmp_path / "extra" / "e.parquet")
    # Identical copies with ISO-8601 text timestamps in another folder count once.
    copies = sample.assign(predicted_at=sample["predicted_at"].map(lambda t: t.isoformat()))
    copies_file = write_parquet(copies, tmp_path / "copies" / "c.parquet")
    labels = truth[truth["prediction_id"].isin(sample["prediction_id"])]
    bad_labels = pd.concat([
        labels.assign(label=2, confirmed_at=labels["confirmed_at"] + pd.Timedelta(hours=1)),  # not 0/1
        labels.assign(device_id="another-device", label=1 - labels["label"],
                      confirmed_at=labels["confirmed_at"] + pd.Timedelta(hours=1)),  # other device
        truth.assign(prediction_id=truth["prediction_id"] + "-out").head(10),  # no matching prediction
    ])
    bad_labels_file = write_parquet(bad_labels, tmp_path / "labels" / "l.parquet")

    counted = _cells([lake["predictions"], str(extra_file), str(copies_file)],
                     [lake["ground_truth"], str(bad_labels_file)])
    pd.testing.assert_frame_equal(counted.cells, baseline.cells)
    assert counted.excluded == {"invalid_prediction_row": 6}
    assert counted.predictions_counted == baseline.predictions_counted
    assert counted.predictions_read == baseline.predictions_read + len(bad) + len(outside) + len(copies)

    # Predictions made after the cut-off are not counted.
    cut = pd.Timestamp(in_quarter["predicted_at"].iloc[len(in_quarter) // 2])
    early = _cells([lake["predictions"]], [lake["ground_truth"]], cutoff=cut.to_pydatetime())
    assert early.predictions_counted == int((in_quarter["predicted_at"] <= cut).sum())


def test_missing_inputs_and_columns_are_input_errors(lake: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no prediction log"):
        _cells([str(tmp_path / "nothing-*.parquet")], [lake["ground_truth"]])
    narrow = write_parquet(lake["data"].predictions.drop(columns=["score"]).head(5), tmp_path / "n.parquet")
    with pytest.raises(InputError, match="score"):
        _cells([str(narrow)], [lake["ground_truth"]])
    with pytest.raises(InputError, match="UTC offset"):
        _cells([lake["predictions"]], [lake["ground_truth"]], cutoff=datetime(2026, 1, 31))


def test_cli_runs_the_arrow_engine(lake: dict[str, Any], tmp_path: Path) -> None:
    from monitor.entrypoints.cli import app as cli

    out = tmp_path / "lake.json"
    result = CliRunner().invoke(cli, [
        "analyze", "--engine", "arrow", "--device", CONFIG.device.id, "--period", "2025Q3",
        "--cutoff", CUTOFF.isoformat(), "--config", str(ROOT / "examples" / "lung-nodule-ct.yaml"),
        "--predictions", lake["predictions"], "--ground-truth", lake["ground_truth"], "--out", str(out)])
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["engine"] == "arrow" and document["summary"]["tests"] > 0
    assert "(arrow)" in result.output and "tests: " in result.output and "shortfall shown" in result.output
    missing = CliRunner().invoke(cli, ["analyze", "--engine", "arrow", "--device", CONFIG.device.id,
                                       "--period", "2025Q3", "--predictions", lake["predictions"]])
    assert missing.exit_code != 0 and "--ground-truth" in missing.output + str(missing.exception)
    unknown = CliRunner().invoke(cli, ["analyze", "--engine", "polars", "--device", CONFIG.device.id,
                                       "--period", "2025Q3"])
    assert unknown.exit_code == 2 and "'arrow', 'spark'" in unknown.output + str(unknown.exception)


def test_small_batches_and_hash_collisions_change_nothing(lake: dict[str, Any], tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Counts merge across record batches; ids whose hashes collide are told apart (a colliding seed is
    detected by comparing the ids and the pass is redone with another seed), and so are labelled ids whose
    hashes share their top 32 bits (each is compared in turn)."""
    from monitor.adapters.arrow import cells as engine

    start, end = bounds("2025Q3")
    data = lake["data"].predictions
    quarter = data[data["predicted_at"].between(pd.Timestamp(start), pd.Timestamp(end), inclusive="left")]
    predictions = pd.concat([data, quarter.head(50), quarter.iloc[60:70].assign(score=0.123)])
    folder = write_parquet(predictions, tmp_path / "p" / "p.parquet").parent
    expected = _cells([str(folder)], [lake["ground_truth"]])
    assert expected.excluded == {"conflicting_prediction_id": 10}
    monkeypatch.setattr(engine, "BATCH_ROWS", 777)
    small = _cells([str(folder)], [lake["ground_truth"]])
    real = engine._hash_ids
    seeds: list[int] = []

    def weak(ids: Any, seed: int) -> Any:  # seed 1 puts every id in one of 5 buckets
        seeds.append(seed)
        return real(ids, seed) % 5 if seed == 1 else real(ids, seed)

    monkeypatch.setattr(engine, "_hash_ids", weak)
    retried = _cells([str(folder)], [lake["ground_truth"]])
    assert set(seeds) == {1, 2}

    def crowded(ids: Any, seed: int) -> Any:  # 256 values of the top 32 bits, the low 32 bits kept
        hashes = real(ids, seed)
        return (hashes & np.uint64(0xFFFFFFFF)) | ((hashes >> np.uint64(56)) << np.uint64(32))

    monkeypatch.setattr(engine, "_hash_ids", crowded)
    shared = _cells([str(folder)], [lake["ground_truth"]])
    for counted in (small, retried, shared):
        pd.testing.assert_frame_equal(counted.cells, expected.cells)
        assert (counted.predictions_read, counted.predictions_counted, counted.excluded) == (
            expected.predictions_read, expected.predictions_counted, expected.excluded)


def test_an_id_matches_whatever_the_other_ids_read_with_it(tmp_path: Path) -> None:
    """Short ids find their labels when the ground truth has longer ids in the same batch (each id's hash
    folds its own 8-byte words only, not as many as the longest id of its batch has)."""
    start, _ = bounds("2025Q3")
    at = pd.Timestamp(start) + pd.Timedelta(days=1)
    ids = [f"P{i}" for i in range(1, 41)]
    predictions = pd.DataFrame({"prediction_id": ids, "device_id": CONFIG.device.id, "model_version": "2.1.0",
                                "predicted_at": at, "score": 0.9, "predicted_label": 1})
    truth = pd.DataFrame({"prediction_id": [*ids, "P-with-a-longer-id", "P" + "7" * 80],
                          "device_id": CONFIG.device.id, "label": 1, "confirmed_at": at + pd.Timedelta(days=1)})
    counted = _cells([str(write_parquet(predictions, tmp_path / "p.parquet"))],
                     [str(write_parquet(truth, tmp_path / "g.parquet"))])
    assert counted.predictions_counted == len(ids) and _total(counted) == len(ids)
    assert int(counted.cells["tp"].sum()) == len(ids)


@pytest.mark.parametrize("ids", [
    ["LN-0001", "LN-0002", "LN-0100", "LN-0101"],  # a common prefix and one length: fixed-size bytes
    ["LN-1", "LN-22", "LN-333", "XY"],  # no common prefix, several lengths: an Arrow string array
    ["病例-001", "病例-002", "病例-010"],  # a prefix of multi-byte characters
    ["only"],  # one id: all prefix
])
def test_the_compact_id_store_compares_exact_strings(ids: list[str]) -> None:
    """The labelled ids, stored without their common prefix (and without offsets when of one length), equal
    exactly the strings they were built from: not longer or shorter ones, nor other prefixes."""
    from monitor.adapters.arrow import cells as engine

    store = engine._IdStore.gather([pa.array(ids[:1]), pa.array([], pa.string()), pa.array(ids[1:])],
                                   np.arange(len(ids))[::-1].copy(), np.zeros(0, np.int64), np.zeros(0, np.int64))
    stored = ids[::-1]
    others = [i + "x" for i in ids] + [i[:-1] for i in ids] + ["x" + i[1:] for i in ids] + ["", "LN-0003", "ONLY"]
    for queries in (ids + others, ids[::-1], ["Z" * len(ids[0].encode())] + ids[1:]):  # mixed and equal lengths
        text = pa.array(["padding", *queries]).slice(1)
        rows = np.repeat(np.arange(len(queries)), len(stored))
        positions = np.tile(np.arange(len(stored)), len(queries))
        expected = [queries[r] == stored[p] for r, p in zip(rows, positions)]
        assert store.equal(positions, text, rows).tolist() == expected
    # A repeated row whose id is not the one of its group: the hash collided.
    with pytest.raises(engine._Collision):
        engine._IdStore.gather([pa.array(ids + ["LN-0009"])], np.arange(len(ids)), np.array([len(ids)]),
                               np.array([0]))
