"""Count cells kept per month give exactly the row-level counts, on both engines: after ingest, after
ground-truth corrections and retractions, for old cut-offs (which fall back to rows) and for windows that
are not whole months; and the cells of a log ingested in parts equal the cells of the whole log."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.domain.periods import Period
from monitor.service.analyze import analyze_period
from monitor.service.cells import stratified_cells
from monitor.service.ingest import ingest_ground_truth, ingest_predictions, ingest_retractions
from monitor.synthetic import DemoScenario, generate, write_csv

DEVICE = "lung-nodule-ct"
PERIOD = Period.parse("2025Q3")
SCENARIO = DemoScenario(seed=5, scale=0.01)


def _rows_and_cells(app: Any, period: Period = PERIOD) -> tuple[pd.DataFrame, Any]:
    """The row-level confusion cells and what :func:`stratified_cells` returns, at the same cut-off (now)."""
    with app.uow() as unit:
        unit.logs.wait_for_ingestion()
        config = unit.devices.get(DEVICE)
        start, end = period.bounds_utc(ZoneInfo(config.monitoring.timezone))
        now = app.clock()
        rows = unit.results.confusion_cells(DEVICE, start=start, end=end, cutoff=now,
                                            attributes=config.strata.attributes)
        read = stratified_cells(unit, config, start=start, end=end, cutoff=now, now=now)
    return rows, read


def _states(app: Any) -> dict[str, str]:
    with app.uow() as unit:
        return {m["month"]: m["state"] for m in unit.cells.months(DEVICE)}


def test_cells_equal_rows_through_ingest_corrections_and_retractions(app: Any, ingest_scenario: Any,
                                                                     tmp_path: Path) -> None:
    data = ingest_scenario(SCENARIO)
    assert set(_states(app).values()) == {"dirty"}  # the ingest marked its months, counted nothing yet
    rows, read = _rows_and_cells(app)
    assert read.source == "cells" and read.refreshed == ("2025-07", "2025-08", "2025-09")
    pd.testing.assert_frame_equal(read.cells, rows)
    assert int(rows[["tp", "fp", "fn", "tn"]].to_numpy().sum()) > 100

    rows, read = _rows_and_cells(app)  # fresh: read without recounting
    assert read.source == "cells" and read.refreshed == ()
    pd.testing.assert_frame_equal(read.cells, rows)

    # corrections of ground truth and retractions mark the months of the predictions they change
    labelled = data.ground_truth.merge(data.predictions[["prediction_id", "predicted_at"]], on="prediction_id")
    august = labelled.loc[labelled["predicted_at"].astype(str).str.startswith("2025-08-1")].head(20).copy()
    august["label"] = 1 - august["label"]
    august["correction_reason"] = "pathology re-read"
    ingest_ground_truth(app.open_log(write_csv(august, tmp_path / "fix.csv")), source="fix.csv", uow=app.uow,
                        clock=app.clock, actor="t")
    september = data.predictions.loc[data.predictions["predicted_at"].astype(str).str.startswith("2025-09-2")].head(7)
    retract = pd.DataFrame({"device_id": DEVICE, "prediction_id": september["prediction_id"],
                            "retracted_at": "2025-10-01T00:00:00+00:00", "reason": "recall"})
    ingest_retractions(app.open_log(write_csv(retract, tmp_path / "r.csv")), source="r.csv", uow=app.uow,
                       clock=app.clock, actor="t")
    states = _states(app)
    assert states["2025-07"] == "fresh" and states["2025-08"] == "dirty" and states["2025-09"] == "dirty"
    rows, read = _rows_and_cells(app)
    assert read.source == "cells" and read.refreshed == ("2025-08", "2025-09")
    pd.testing.assert_frame_equal(read.cells, rows)


def test_old_cutoffs_and_partial_months_read_rows_and_reproduce(app: Any, ingest_scenario: Any,
                                                                tmp_path: Path) -> None:
    data = ingest_scenario(SCENARIO)
    first = analyze_period(DEVICE, PERIOD, uow=app.uow, clock=app.clock, actor="t")
    in_period = data.predictions.loc[data.predictions["predicted_at"].astype(str).str.startswith("2025-08"),
                                     "prediction_id"]
    labelled = data.ground_truth.loc[data.ground_truth["prediction_id"].isin(in_period)].head(30).copy()
    labelled["label"] = 1 - labelled["label"]
    labelled["correction_reason"] = "adjudication"
    ingest_ground_truth(app.open_log(write_csv(labelled, tmp_path / "fix.csv")), source="fix.csv", uow=app.uow,
                        clock=app.clock, actor="t")
    latest = analyze_period(DEVICE, PERIOD, uow=app.uow, clock=app.clock, actor="t")
    cutoff = datetime.fromisoformat(first.document["data_cutoff"].replace("Z", "+00:00"))
    again = analyze_period(DEVICE, PERIOD, uow=app.uow, clock=app.clock, actor="t", cutoff=cutoff)
    assert again.document["counts"] == first.document["counts"]  # the old cut-off: rows, same as then
    assert again.document["results"] == first.document["results"]
    assert latest.document["counts"] != first.document["counts"]
    with app.uow() as unit:
        sources = [r["details"]["counted_from"]["source"] for r in unit.audit.records()
                   if r["action"] == "analysis.run"]
    assert sources == ["rows", "cells", "cells"]  # newest first

    with app.uow() as unit:  # a window that is not whole months (a week) is counted from rows
        config = unit.devices.get(DEVICE)
        start = datetime(2025, 8, 4, tzinfo=ZoneInfo(config.monitoring.timezone))
        now = app.clock()
        read = stratified_cells(unit, config, start=start, end=start + timedelta(days=7), cutoff=now, now=now)
    assert read.source == "rows" and "whole calendar months" in (read.reason or "")


def _ingest_in_parts(app: Any, frame: pd.DataFrame, cuts: list[int], folder: Path, kind: str) -> None:
    bounds = [0, *sorted(set(cuts)), len(frame)]
    for i, (a, b) in enumerate(zip(bounds, bounds[1:], strict=False)):
        if a >= b:
            continue
        path = write_csv(frame.iloc[a:b], folder / f"{kind}-{i}.csv")
        if kind == "p":
            ingest_predictions(app.open_log(path), source=path.name, uow=app.uow, hash_patient=app.patient_hasher(),
                               clock=app.clock, actor="t")
        else:
            ingest_ground_truth(app.open_log(path), source=path.name, uow=app.uow, clock=app.clock, actor="t")


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(p_cuts=st.lists(st.integers(0, 400), max_size=4), g_cuts=st.lists(st.integers(0, 300), max_size=4),
       truth_first=st.booleans())
def test_cells_of_a_log_ingested_in_parts_equal_the_cells_of_the_whole(
        app: Any, tmp_path_factory: pytest.TempPathFactory, p_cuts: list[int], g_cuts: list[int],
        truth_first: bool) -> None:
    """Counts merge by addition: however the logs are split into batches (and whichever batch arrives
    first), the stored cells equal those of the whole log counted from rows."""
    folder = tmp_path_factory.mktemp("parts")
    data = generate(DemoScenario(seed=23, scale=0.004))
    with app.uow() as unit:  # each example starts from an empty log
        for table in ("case_cells", "cell_months", "ground_truth", "predictions"):
            unit.connection.exec_driver_sql(f"DELETE FROM {table}")
    predictions, truth = data.predictions.reset_index(drop=True), data.ground_truth.reset_index(drop=True)
    if truth_first:  # labels for unknown predictions are rejected: only the ones sent after count
        _ingest_in_parts(app, truth, g_cuts, folder, "g")
    _ingest_in_parts(app, predictions, p_cuts, folder, "p")
    _ingest_in_parts(app, truth, g_cuts, folder, "g")
    rows, read = _rows_and_cells(app)
    assert read.source == "cells"
    pd.testing.assert_frame_equal(read.cells, rows)
    assert int(rows[["tp", "fp", "fn", "tn"]].to_numpy().sum()) == int(
        (pd.to_datetime(truth.merge(predictions, on="prediction_id")["predicted_at"], utc=True)
         .between(*PERIOD.bounds_utc(ZoneInfo("Asia/Shanghai")), inclusive="left")).sum())


def test_cli_refresh_and_status(app: Any, ingest_scenario: Any, database_url: str, named_user: str) -> None:
    """``cells refresh`` recounts the dirty months once; ``cells status`` shows them fresh with their counts."""
    from typer.testing import CliRunner

    from monitor.entrypoints.cli import app as cli

    ingest_scenario(SCENARIO)
    runner = CliRunner()
    env = {"MONITOR_DATABASE_URL": database_url, "MONITOR_PATIENT_ID_KEY": "cells-test-key-0123456789abcdef",
           "MONITOR_USER": named_user}
    first = runner.invoke(cli, ["cells", "refresh", DEVICE], env=env)
    assert first.exit_code == 0, first.output
    assert "recounted" in first.output and "2025-07" in first.output
    second = runner.invoke(cli, ["cells", "refresh", DEVICE], env=env)
    assert "recounted 0 month(s)" in second.output
    status = runner.invoke(cli, ["cells", "status", DEVICE], env=env)
    assert status.exit_code == 0 and "dirty" not in status.output and "fresh" in status.output
    with app.uow() as unit:
        stored = sum(m["predictions"] for m in unit.cells.months(DEVICE))
        total = unit.connection.exec_driver_sql("SELECT count(*) FROM predictions").scalar_one()
    assert stored == total  # every stored prediction is in exactly one month's cells


def test_two_analyses_recounting_the_same_months_at_once(app: Any, ingest_scenario: Any) -> None:
    """Concurrent analyses both find the months dirty and recount them: they serialise on the device's
    recount lock (no duplicate-key error) and report the same counts."""
    import threading

    ingest_scenario(SCENARIO)
    outcomes: list[Any] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        try:
            barrier.wait()
            outcomes.append(analyze_period(DEVICE, PERIOD, uow=app.uow, clock=app.clock, actor="t"))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    assert len(outcomes) == 2 and outcomes[0].document["counts"] == outcomes[1].document["counts"]
    states = _states(app)
    assert [states[m] for m in ("2025-07", "2025-08", "2025-09")] == ["fresh"] * 3
