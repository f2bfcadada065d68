"""The EWMA charts read the earlier periods (and the established level's reference periods) from the count
cells when these are fresh for the cut-off, else from the rows: the charts are identical either way, on both
engines, also after a correction has made a month dirty and for a past cut-off."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from monitor.domain.periods import Period
from monitor.service import ewma_charts as charts
from monitor.service.cells import refresh_cells, stratified_cells
from monitor.service.ingest import ingest_ground_truth
from monitor.service.window import Window
from monitor.synthetic import DemoScenario, write_csv

DEVICE = "lung-nodule-ct"
SCENARIO = DemoScenario(seed=11, scale=0.01)


def _charts(app: Any, period: Period, *, cutoff: Any, rows_only: bool, monkeypatch: pytest.MonkeyPatch
            ) -> tuple[list[dict[str, Any]], list[str]]:
    """The EWMA section of ``period`` as of ``cutoff`` and the source of each period read (cells or rows)."""
    sources: list[str] = []

    def read(unit: Any, config: Any, window: Window, start: Any, end: Any) -> pd.DataFrame:
        if rows_only:
            sources.append("rows")
            return unit.results.confusion_cells(window.device_id, start=start, end=end, cutoff=window.cutoff,
                                                attributes=config.strata.attributes)
        got = stratified_cells(unit, config, start=start, end=end, cutoff=window.cutoff, now=None)
        sources.append(got.source)
        return got.cells

    monkeypatch.setattr(charts, "_period_cells", read)
    with app.uow() as unit:
        config = unit.devices.get(DEVICE)
        start, end = period.bounds_utc(ZoneInfo(config.monitoring.timezone))
        cells = unit.results.confusion_cells(DEVICE, start=start, end=end, cutoff=cutoff,
                                             attributes=config.strata.attributes)
        section = charts.ewma_charts(unit, config, period, Window(DEVICE, start, end, cutoff), cells)
    monkeypatch.undo()
    return section, sources


def test_ewma_from_cells_equals_rows(app: Any, ingest_scenario: Any, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    data = ingest_scenario(SCENARIO)
    refresh_cells(DEVICE, uow=app.uow, clock=app.clock, actor="t")  # every month counted (and kept) as of now
    period = Period.parse("2025Q3")
    now = app.clock()
    from_cells, sources = _charts(app, period, cutoff=now, rows_only=False, monkeypatch=monkeypatch)
    from_rows, _ = _charts(app, period, cutoff=now, rows_only=True, monkeypatch=monkeypatch)
    assert from_cells == from_rows and from_cells
    assert sources.count("cells") >= 4  # the earlier quarters with data came from their cells (empty ones: rows)

    # a correction in 2025Q1 makes its months dirty: that quarter is read from rows, the charts still agree
    labelled = data.ground_truth.merge(data.predictions[["prediction_id", "predicted_at"]], on="prediction_id")
    february = labelled.loc[labelled["predicted_at"].astype(str).str.startswith("2025-02-1")].head(15).copy()
    february["label"] = 1 - february["label"]
    february["correction_reason"] = "pathology re-read"
    ingest_ground_truth(app.open_log(write_csv(february, tmp_path / "fix.csv")), source="fix.csv", uow=app.uow,
                        clock=app.clock, actor="t")
    later = app.clock()
    from_cells, sources = _charts(app, period, cutoff=later, rows_only=False, monkeypatch=monkeypatch)
    from_rows, _ = _charts(app, period, cutoff=later, rows_only=True, monkeypatch=monkeypatch)
    assert from_cells == from_rows
    assert "rows" in sources and "cells" in sources

    # the past cut-off (before the correction) reproduces the first charts
    again, _ = _charts(app, period, cutoff=now, rows_only=False, monkeypatch=monkeypatch)
    assert again == _charts(app, period, cutoff=now, rows_only=True, monkeypatch=monkeypatch)[0]
