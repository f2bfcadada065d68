"""The analysis sections read from the months' stored aggregates equal the sections counted from the rows,
on both engines: over random ingest splits, late labels, corrections, retractions, and a past cut-off (at
which untouched months are still read from months, changed ones from rows)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import monitor.service.cells as cells_module
from monitor.domain.periods import Period
from monitor.service.cells import stratified_cells, window_aggregates
from monitor.service.ingest import ingest_ground_truth, ingest_predictions, ingest_retractions
from monitor.service.sections import Window, build_sections
from monitor.service.window import materialised_cases
from monitor.synthetic import DemoScenario, generate, write_csv

DEVICE = "lung-nodule-ct"
PERIOD = Period.parse("2025Q3")
DATA = generate(DemoScenario(seed=23, scale=0.004))


def _sections(app: Any, cutoff: datetime | None, *, rows: bool) -> tuple[str, list[str], datetime]:
    """The sections of :func:`build_sections` as of ``cutoff`` (default: now; JSON, sorted keys; the sequential charts left
    out: they stream rows either way), and how each window's aggregates were read. ``rows`` forces every
    window to be counted from its rows; else months are used when exact, recounted first when the cut-off is
    the analysis's now."""
    reads: list[str] = []
    original = cells_module._month_plan

    def plan(*args: Any, **kwargs: Any) -> Any:
        return "forced" if rows else original(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch, app.uow() as unit:
        unit.logs.wait_for_ingestion()
        now = app.clock()
        cutoff = cutoff or now
        config = unit.devices.get(DEVICE)
        start, end = PERIOD.bounds_utc(ZoneInfo(config.monitoring.timezone))
        cells = stratified_cells(unit, config, start=start, end=end, cutoff=cutoff, now=now).cells

        def recorded(*args: Any, **kwargs: Any) -> Any:
            read = window_aggregates(*args, **kwargs)
            assert read.aggregates.label_delays.empty  # a month-only frame (MONTH_ONLY): a window never counts it
            reads.append(read.source)
            return read

        patch.setattr(cells_module, "_month_plan", plan)
        patch.setattr("monitor.service.sections.window_aggregates", recorded)
        window = Window(DEVICE, start, end, cutoff)
        with materialised_cases(unit, config, window) as cases:
            sections = build_sections(unit, config, PERIOD, window, cells, cases=cases, now=now)
    sections.pop("sequential")
    return json.dumps(sections, sort_keys=True, default=str), reads, cutoff


def _ingest(app: Any, kind: str, frame: pd.DataFrame, folder: Path, name: str) -> None:
    if frame.empty:
        return
    path = write_csv(frame, folder / f"{name}.csv")
    if kind == "p":
        ingest_predictions(app.open_log(path), source=path.name, uow=app.uow, hash_patient=app.patient_hasher(),
                           clock=app.clock, actor="t")
    elif kind == "g":
        ingest_ground_truth(app.open_log(path), source=path.name, uow=app.uow, clock=app.clock, actor="t")
    else:
        ingest_retractions(app.open_log(path), source=path.name, uow=app.uow, clock=app.clock, actor="t")


@settings(max_examples=2, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])  # no shrinking: each example builds 8 analyses
@given(p_cuts=st.lists(st.integers(0, 400), max_size=3), early=st.floats(0.3, 0.9),
       corrections=st.integers(0, 25), retractions=st.integers(0, 10), seed=st.integers(0, 2**16))
def test_sections_from_months_equal_sections_from_rows(
        app: Any, tmp_path_factory: pytest.TempPathFactory, p_cuts: list[int], early: float, corrections: int,
        retractions: int, seed: int) -> None:
    folder = tmp_path_factory.mktemp("aggregates")
    with app.uow() as unit:  # each example starts from an empty log
        for table in ("month_aggregates", "case_cells", "cell_months", "ground_truth", "predictions"):
            unit.connection.exec_driver_sql(f"DELETE FROM {table}")
    predictions, truth = DATA.predictions.reset_index(drop=True), DATA.ground_truth.reset_index(drop=True)
    in_q3 = predictions["predicted_at"].astype(str).str.startswith("2025-0" + "7") | \
        predictions["predicted_at"].astype(str).str.startswith("2025-08")
    later = predictions.loc[predictions["predicted_at"].astype(str) >= "2025-10"]  # outside every window read
    first = predictions.drop(later.index)
    bounds = [0, *sorted(set(p_cuts)), len(first)]
    for i, (a, b) in enumerate(zip(bounds, bounds[1:], strict=False)):
        _ingest(app, "p", first.iloc[a:b], folder, f"p{i}")
    shuffled = truth.sample(frac=1.0, random_state=seed)
    soon = shuffled.iloc[:int(len(shuffled) * early)]
    _ingest(app, "g", soon, folder, "g-early")

    past = app.clock()  # a cut-off at which the early labels are in (not now: no month is fresh yet)
    from_rows, _, _ = _sections(app, past, rows=True)
    from_months, reads, _ = _sections(app, past, rows=False)
    assert from_months == from_rows and set(reads) == {"rows"}
    _ingest(app, "p", later, folder, "p-later")  # marks only months outside the windows read above

    from_months, reads, cutoff = _sections(app, None, rows=False)
    from_rows, _, _ = _sections(app, cutoff, rows=True)
    assert set(reads) == {"months"}  # the cut-off is now: every month recounted, then read
    assert from_months == from_rows

    # late labels, corrections of Q3 labels, retractions of Q3 predictions
    _ingest(app, "g", shuffled.iloc[len(soon):], folder, "g-late")
    fixed = soon.loc[soon["prediction_id"].isin(predictions.loc[in_q3, "prediction_id"])].head(corrections).copy()
    fixed["label"] = 1 - fixed["label"]
    fixed["correction_reason"] = "adjudication"
    _ingest(app, "g", fixed, folder, "g-fix")
    retract = predictions.loc[in_q3].sample(n=min(retractions, int(in_q3.sum())), random_state=seed)
    _ingest(app, "r", pd.DataFrame({"device_id": DEVICE, "prediction_id": retract["prediction_id"],
                                    "retracted_at": "2025-10-01T00:00:00+00:00", "reason": "recall"}), folder, "r")
    again_rows, _, _ = _sections(app, cutoff, rows=True)  # the old cut-off, after changes: reproducible
    again, reads, _ = _sections(app, cutoff, rows=False)
    assert again == again_rows == from_rows
    if corrections or retractions:
        assert "rows" in reads  # a changed month with a past cut-off is counted from rows

    from_months, reads, latest = _sections(app, None, rows=False)
    from_rows, _, _ = _sections(app, latest, rows=True)
    assert set(reads) == {"months"}
    assert from_months == from_rows
    with app.uow() as unit:
        states = {m["month"]: m["state"] for m in unit.cells.months(DEVICE)}
        held = unit.month_aggregates.months_held(DEVICE, list(states))
        delays = unit.month_aggregates.read(DEVICE, sorted(held), [], kinds=["label_delays"])["label_delays"]
    assert {m for m, s in states.items() if s == "fresh"} <= held  # a fresh month holds its aggregates
    assert sum(int(frame["n"].sum()) for frame in delays) > 0  # ... the month-only label delays included
