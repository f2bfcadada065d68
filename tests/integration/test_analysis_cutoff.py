"""The data cut-off (issue 18, item 5; docs/cutoff.md): a receipt time. An analysis that would count no
prediction stops with an InputError naming why, and stores no run (so no report can be drafted from zero
cases). SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

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


def test_replaying_history_as_dated_deliveries_gives_as_of_analyses(database_url: str, tmp_path: Path) -> None:
    """docs/cutoff.md, "Replaying old logs": history ingested as monthly deliveries on a simulated clock is
    stamped with the deliveries' dates, so a cut-off at a past date sees what had been delivered by then."""
    from monitor.adapters.config_file import load_device_config
    from monitor.entrypoints.bootstrap import bootstrap, simulated_clock
    from monitor.service.devices import register_device
    from monitor.service.ingest import ingest_ground_truth, ingest_predictions
    from monitor.settings import Settings
    from monitor.synthetic import generate, write_csv
    from monitor.synthetic.deliveries import monthly_deliveries

    example = Path(__file__).resolve().parents[2] / "examples" / "lung-nodule-ct.yaml"

    data = generate(SCENARIO)
    deliveries = monthly_deliveries(data, until=SCENARIO.as_of)
    clock = simulated_clock(deliveries[0].at.to_pydatetime())
    app = bootstrap(Settings(database_url=database_url, data_dir=tmp_path,
                             patient_id_key="replay-test-key-0123456789abcdef"), clock=clock)
    try:
        register_device(load_device_config(example), uow=app.uow, clock=clock, actor="t", source="example")
        for i, delivery in enumerate(deliveries):
            clock.advance_to(delivery.at.to_pydatetime())
            for kind, frame in (("p", delivery.predictions), ("g", delivery.ground_truth)):
                if frame.empty:
                    continue
                log = app.open_log(write_csv(frame, tmp_path / f"{kind}{i}.csv"))
                if kind == "p":
                    ingest_predictions(log, source="p.csv", uow=app.uow, hash_patient=app.patient_hasher(),
                                       clock=clock, actor="t")
                else:
                    ingest_ground_truth(log, source="g.csv", uow=app.uow, clock=clock, actor="t")
        q3_end = datetime(2025, 10, 1, tzinfo=timezone.utc)
        as_of = analyze_period("lung-nodule-ct", Period.parse("2025Q3"), uow=app.uow, clock=clock, actor="t",
                               cutoff=q3_end.replace(day=2))
        later = analyze_period("lung-nodule-ct", Period.parse("2025Q3"), uow=app.uow, clock=clock, actor="t")
    finally:
        app.engine.dispose()
    total, now_total = as_of.document["completeness"]["total"], later.document["completeness"]["total"]
    assert total["predictions"] == now_total["predictions"] > 0  # every Q3 prediction was delivered by Oct 1
    assert total["with_ground_truth"] < now_total["with_ground_truth"]  # labels confirmed later: not yet known
