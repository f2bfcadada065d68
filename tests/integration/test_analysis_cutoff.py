"""The data cut-off (issue 18, item 5; docs/cutoff.md): a receipt time. An analysis that would count no
prediction stops with an InputError naming why, and stores no run (so no report can be drafted from zero
cases). SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from monitor.domain.periods import Period
from monitor.errors import InputError
from monitor.service.analyze import analyze_period
from monitor.synthetic import DemoScenario

SCENARIO = DemoScenario(seed=11, scale=0.01)


def _runs(app) -> int:  # type: ignore[no-untyped-def]
    with app.engine.connect() as conn:
        from sqlalchemy import text
        return int(conn.execute(text("SELECT count(*) FROM analysis_runs")).scalar_one())


def test_a_cutoff_before_every_ingest_is_an_error_and_stores_nothing(app, ingest_scenario) -> None:  # type: ignore[no-untyped-def]
    """Replaying old logs: ingested now, analysed with a cut-off at their own dates. Before: "0 predictions",
    exit 0, an empty run stored, and a draft report from zero cases."""
    ingest_scenario(SCENARIO)
    with pytest.raises(InputError) as info:
        analyze_period("lung-nodule-ct", Period.parse("2025Q3"), uow=app.uow, clock=app.clock, actor="t",
                       cutoff=datetime(2025, 10, 1, tzinfo=timezone.utc))
    message = str(info.value)
    assert "no predictions in 2025Q3 ingested by the data cut-off 2025-10-01T00:00:00Z" in message
    assert "were ingested after it" in message and "docs/cutoff.md" in message
    assert _runs(app) == 0
    with app.uow() as unit:
        assert unit.audit.records(action="analysis.run") == []
    outcome = analyze_period("lung-nodule-ct", Period.parse("2025Q3"), uow=app.uow, clock=app.clock, actor="t")
    assert outcome.document["completeness"]["total"]["predictions"] > 0  # the default cut-off (now) sees them
    assert _runs(app) == 1


def test_a_period_without_predictions_is_an_error(app, ingest_scenario) -> None:  # type: ignore[no-untyped-def]
    ingest_scenario(SCENARIO)
    with pytest.raises(InputError, match=r"device 'lung-nodule-ct' has no predictions in 2019Q1 \(predicted_at "
                                         r"within the period in the device's time zone\): nothing to analyse"):
        analyze_period("lung-nodule-ct", Period.parse("2019Q1"), uow=app.uow, clock=app.clock, actor="t")
    assert _runs(app) == 0
