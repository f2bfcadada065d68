"""Counts computed by the database (GROUP BY) equal an independent pandas computation, on both engines;
re-running an analysis with the same cut-off reproduces it; tickets are not duplicated."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from monitor.domain.periods import Period
from monitor.domain.strata import assign_labels
from monitor.service.analyze import analyze_period
from monitor.stats.cells import confusion_cells
from monitor.synthetic import DemoScenario

SCENARIO = DemoScenario(seed=11, scale=0.02)


@pytest.fixture
def loaded(app, ingest_scenario):  # type: ignore[no-untyped-def]
    data = ingest_scenario(SCENARIO)
    return app, data


def test_database_cells_equal_pandas_cells(loaded) -> None:  # type: ignore[no-untyped-def]
    app, data = loaded
    with app.uow() as unit:
        config = unit.devices.get("lung-nodule-ct")
        start, end = Period.parse("2025Q3").bounds_utc(ZoneInfo(config.monitoring.timezone))
        cells = unit.results.confusion_cells("lung-nodule-ct", start=start, end=end, cutoff=app.clock(),
                                             attributes=config.strata.attributes)
    cases = data.predictions.merge(data.ground_truth[["prediction_id", "label"]], on="prediction_id")
    at = pd.to_datetime(cases["predicted_at"], utc=True)
    cases = cases.loc[(at >= start) & (at < end)]
    frame = pd.concat([cases[["model_version", "label", "predicted_label"]],
                       assign_labels(cases, config.strata.attributes)], axis=1)
    keys = ["model_version", *[a.name for a in config.strata.attributes]]
    expected = confusion_cells(frame, keys=keys).sort_values(keys).reset_index(drop=True)
    got = cells.sort_values(keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(got[expected.columns], expected, check_dtype=False)
    assert int(got[["tp", "fp", "fn", "tn"]].to_numpy().sum()) == len(cases)


def test_rerun_with_same_cutoff_reproduces_results_and_reuses_tickets(loaded) -> None:  # type: ignore[no-untyped-def]
    app, _ = loaded
    cutoff = datetime(2026, 12, 31, tzinfo=timezone.utc)
    first = analyze_period("lung-nodule-ct", Period.parse("2025Q3"), uow=app.uow, clock=app.clock, actor="t",
                           cutoff=cutoff)
    second = analyze_period("lung-nodule-ct", Period.parse("2025Q3"), uow=app.uow, clock=app.clock, actor="t",
                            cutoff=cutoff)
    assert first.run_id != second.run_id
    assert first.document["results"] == second.document["results"]
    assert first.document["input_fingerprint"] == second.document["input_fingerprint"]
    assert second.opened_tickets == []
    assert sorted(second.updated_tickets) == sorted(first.opened_tickets)
    with app.uow() as unit:
        tickets = unit.tickets.list()
    assert len(tickets) == len(first.opened_tickets)
    assert all(len(t["evidence"]) == 2 for t in tickets)


def test_cutoff_before_ingest_sees_nothing(loaded) -> None:  # type: ignore[no-untyped-def]
    """It sees nothing, so it stops (issue 18: no empty run is stored; tests/integration/test_analysis_cutoff.py)."""
    from monitor.errors import InputError

    app, _ = loaded
    with pytest.raises(InputError, match="ingested after it"):
        analyze_period("lung-nodule-ct", Period.parse("2025Q3"), uow=app.uow, clock=app.clock, actor="t",
                       cutoff=datetime(2020, 1, 1, tzinfo=timezone.utc))
