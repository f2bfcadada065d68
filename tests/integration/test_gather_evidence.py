"""``gather_evidence`` given the window's aggregates (read from the months or from the rows by
``window_aggregates``) gives exactly what it gives counting the window's rows itself, on both engines."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from monitor.domain.device import LabelPolicy
from monitor.domain.periods import Period
from monitor.service.cells import refresh_cells, window_aggregates
from monitor.service.evidence import gather_evidence
from monitor.service.window import Window, materialised_cases
from monitor.synthetic import DemoScenario

DEVICE = "lung-nodule-ct"


def test_evidence_from_the_window_aggregates_equals_the_evidence_from_the_rows(app, ingest_scenario) -> None:  # type: ignore[no-untyped-def]
    ingest_scenario(DemoScenario(seed=11, scale=0.004))
    refresh_cells(DEVICE, uow=app.uow, clock=app.clock, actor="t", only_dirty=False)
    start, end = Period.parse("2025Q3").bounds_utc(ZoneInfo("Asia/Shanghai"))
    window = Window(DEVICE, start, end, app.clock())
    sources = set()
    with app.uow() as unit:
        config = unit.devices.get(DEVICE)
        config = config.model_copy(update={"labels": LabelPolicy(provisional_sources=["follow_up", "adjudication"])})
        cells = unit.results.confusion_cells(DEVICE, attributes=config.strata.attributes, **window.kwargs())
        with materialised_cases(unit, config, window) as cases:
            own = gather_evidence(unit, config, window, cells, cases=cases)
            for now in (None, window.cutoff):
                read = window_aggregates(unit, config, window, now)
                sources.add(read.source)
                given = gather_evidence(unit, config, window, cells, cases=cases, current=read.aggregates)
                assert given.adjustments == own.adjustments
                assert given.sections == own.sections
    assert own.sections["verification_design"] and own.sections["audit_plan"]
    assert sources == {"months", "rows"}  # both reads compared (months fresh for the cut-off: now=cutoff)
