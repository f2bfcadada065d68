"""The window's cases materialised in a temporary table (``AggregateRepository.window_cases``), on both
engines: counted as the rows are, gone when the block ends, and an error inside the block surfaces as
itself (a DROP in PostgreSQL's aborted transaction would hide it) with nothing left behind."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import inspect, text

from monitor.domain.periods import Period
from monitor.synthetic import DemoScenario

SCENARIO = DemoScenario(seed=5, scale=0.005)
CUTOFF = datetime(2026, 1, 31, 16, 0, tzinfo=timezone.utc)


def _temporary_tables(connection) -> list[str]:  # type: ignore[no-untyped-def]
    if connection.dialect.name == "sqlite":
        return [r[0] for r in connection.execute(text("SELECT name FROM sqlite_temp_master WHERE type = 'table'"))]
    return [r[0] for r in connection.execute(text(
        "SELECT relname FROM pg_class WHERE relpersistence = 't' AND relkind = 'r'"))]


def test_window_cases_count_like_the_rows_and_leave_nothing_behind(app, ingest_scenario) -> None:  # type: ignore[no-untyped-def]
    ingest_scenario(SCENARIO)
    start, end = Period.parse("2025Q3").bounds_utc(ZoneInfo("Asia/Shanghai"))
    window = dict(start=start, end=end, cutoff=max(CUTOFF, app.clock()))
    with app.uow() as unit:
        attributes = unit.devices.get("lung-nodule-ct").strata.attributes
        from_rows = unit.results.confusion_cells("lung-nodule-ct", attributes=attributes, **window)
        with unit.aggregates.window_cases("lung-nodule-ct", attributes=attributes, **window) as cases:
            assert _temporary_tables(unit.connection) == [cases.table.name]
            from_cases = unit.aggregates.confusion_cells(cases)
            verification = unit.aggregates.verification_cells(cases)
        assert _temporary_tables(unit.connection) == []
    assert not from_rows.empty
    assert from_cases.equals(from_rows)
    labelled = int(from_rows[["tp", "fp", "fn", "tn"]].to_numpy().sum())
    assert int(verification.loc[verification["verified"] == 1, "n"].sum()) == labelled


def test_an_error_inside_the_block_surfaces_as_itself(app, ingest_scenario) -> None:  # type: ignore[no-untyped-def]
    ingest_scenario(SCENARIO)
    start, end = Period.parse("2025Q3").bounds_utc(ZoneInfo("Asia/Shanghai"))
    with pytest.raises(Exception) as caught:
        with app.uow() as unit:
            attributes = unit.devices.get("lung-nodule-ct").strata.attributes
            with unit.aggregates.window_cases("lung-nodule-ct", attributes=attributes, start=start, end=end,
                                              cutoff=max(CUTOFF, app.clock())):
                unit.connection.execute(text("SELECT no_such_column FROM predictions"))
    assert "no_such_column" in str(caught.value)
    assert "aborted" not in str(caught.value)
    with app.engine.connect() as connection:
        assert _temporary_tables(connection) == []
        assert "predictions" in inspect(connection).get_table_names()


def test_sqlite_analysis_can_still_write_after_another_connection_committed(app, ingest_scenario) -> None:  # type: ignore[no-untyped-def]
    """The materialisation must not leave a read snapshot open on SQLite: the analysis writes its run
    later, and an ingest that committed meanwhile would make that write fail (SQLITE_BUSY_SNAPSHOT)."""
    if app.engine.dialect.name != "sqlite":
        pytest.skip("a SQLite (WAL) property; PostgreSQL's transactions see no such conflict")
    ingest_scenario(SCENARIO)
    start, end = Period.parse("2025Q3").bounds_utc(ZoneInfo("Asia/Shanghai"))
    with app.uow() as unit:
        attributes = unit.devices.get("lung-nodule-ct").strata.attributes
        with unit.aggregates.window_cases("lung-nodule-ct", attributes=attributes, start=start, end=end,
                                          cutoff=max(CUTOFF, app.clock())) as cases:
            assert not unit.aggregates.confusion_cells(cases).empty
            with app.engine.connect() as other:  # another writer commits while the analysis runs
                other.execute(text("UPDATE devices SET device_id = device_id"))
                other.commit()
        unit.audit.append(at=app.clock(), actor="pytest", action="analysis.run", entity="analysis_run",
                          entity_id="window-cases-test", details={})
    with app.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM audit_log WHERE entity_id = 'window-cases-test'")
                                  ).scalar_one() == 1
