"""The Evidently data-drift report of a demo-like quarter, on both engines (issue 18, item 3).

* On every row (a sample bound above the window's size), Evidently's ``DataDriftPreset`` gives, feature by
  feature, the value and the verdict our histogram drift stored in the analysis: the two agree on the same
  bins (the values a drift histogram counts: whole-number numeric inputs, labels, the score to 0.01).
* The sample is bounded, stratified by site with proportional allocation, and reproducible.
* The first quarter (an empty preceding window) gets a page saying it was not compared; a roll-up none.
* ``write_report(formats=[..., "evidently"])`` writes the HTML page and its JSON beside the report, records
  them in the ``reports`` table (formats ``evidently-html`` / ``evidently-json``), the JSON holds the drift
  results of the sampled columns next to ours and says that ours decides, and the revision's files verify.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

pytest.importorskip("evidently")

from monitor.adapters.db.tables import reports  # noqa: E402
from monitor.adapters.drift_evidently import evidently_drift_report  # noqa: E402
from monitor.domain.drift_sample import proportional_allocation  # noqa: E402
from monitor.domain.periods import Period  # noqa: E402
from monitor.service.analyze import analyze_period  # noqa: E402
from monitor.service.evidently_report import DECIDING_METHOD, drift_sample  # noqa: E402
from monitor.service.report import write_report  # noqa: E402
from monitor.service.signoff import verify_revision_files  # noqa: E402
from monitor.synthetic import DemoScenario  # noqa: E402

SCENARIO = DemoScenario(seed=5, scale=0.02, quarters=("2025Q2", "2025Q3"), drift_quarter="2025Q3")
CUTOFF = datetime(2026, 1, 31, 16, 0, tzinfo=UTC)
DEVICE = "lung-nodule-ct"
TOL = 1e-9


def test_evidently_report_agrees_with_our_drift_and_is_written_beside_the_report(  # type: ignore[no-untyped-def]
        app, labels_final_on_arrival, ingest_scenario, tmp_path) -> None:
    ingest_scenario(SCENARIO)
    outcome = None
    for quarter in SCENARIO.quarters:
        outcome = analyze_period(DEVICE, Period.parse(quarter), uow=app.uow, clock=app.clock, actor="t",
                                 cutoff=max(CUTOFF, app.clock()))
    assert outcome is not None
    document = json.loads(json.dumps(outcome.document, default=str))  # as stored and read back
    preceding = next(c for c in document["data_drift"] if c["reference"] == "preceding")
    ours = {r["feature"]: r for r in preceding["rows"] if r["kind"] in ("numeric", "categorical")}

    # every row: Evidently on the same values reproduces our stored values and verdicts
    with app.uow() as unit:
        full = drift_sample(unit, document, rows=10**9)
    assert full is not None and full.comparable and set(full.kinds) == set(ours) >= {"age", "site_id", "score"}
    assert full.sample["current"]["rows"] == full.sample["current"]["population"] == ours["score"]["current_n"]
    assert full.sample["reference"]["rows"] == ours["score"]["reference_n"]
    evidently = evidently_drift_report(full.reference, full.current, full.kinds, methods=full.methods,
                                       thresholds=full.thresholds)
    for result in evidently.results:
        stored = ours[result.feature]
        assert (result.method, result.threshold) == (stored["method"], stored["threshold"]), result.feature
        assert result.value == pytest.approx(stored["value"], rel=TOL, abs=TOL), result.feature
        assert result.drifted == stored["drifted"], result.feature

    # a bounded sample: proportional by site, reproducible, the same values as the full windows
    with app.uow() as unit:
        small, again = (drift_sample(unit, document, rows=300) for _ in range(2))
    assert small is not None and again is not None
    for side in ("current", "reference"):
        info, frame = small.sample[side], getattr(small, side)
        assert info["rows"] == len(frame) == 300 < info["population"]
        sizes = {s["site_id"]: s["population"] for s in info["by_site"]}
        assert frame["site_id"].value_counts().to_dict() == {k: v for k, v in
                                                             proportional_allocation(sizes, 300).items() if v}
        assert frame.equals(getattr(again, side))
        assert set(frame["score"]) <= set(getattr(full, side)["score"])

    # the report files: beside the report, recorded, our verdicts next to Evidently's
    files = write_report(DEVICE, "2025Q3", formats=["json", "evidently"], out_dir=tmp_path / "out", uow=app.uow,
                         clock=app.clock, actor="t", renderer=app.report_renderer)
    page, data = files.files["evidently:html"], files.files["evidently:json"]
    assert page.parent == data.parent == files.files["json"].parent
    assert page.name == f"{DEVICE}_2025Q3_r1_evidently.html" and data.name == f"{DEVICE}_2025Q3_r1_evidently.json"
    html = page.read_text(encoding="utf-8")
    assert "samd-monitor-banner" in html and DECIDING_METHOD in html.replace("&#39;", "'")
    report = json.loads(data.read_text(encoding="utf-8"))
    assert report["schema"] == "samd-monitor/evidently-drift" and report["deciding_method"] == DECIDING_METHOD
    assert report["report_id"] == files.report_id and report["sample"]["max_rows_per_side"] == 5_000
    assert [c["feature"] for c in report["columns"]] == list(full.kinds)
    for column in report["columns"]:
        assert column["ours"]["value"] == ours[column["feature"]]["value"]
        assert column["evidently"]["method"] == ours[column["feature"]]["method"]
    drifted = {m["config"]["column"] for m in report["evidently"]["metrics"]
               if m["config"]["type"] == "evidently:metric_v2:ValueDrift"}
    assert drifted == set(full.kinds)
    with app.engine.connect() as conn:
        rows = conn.execute(select(reports).where(reports.c.report_id == files.report_id)).all()
    recorded = {r.format: r.path for r in rows}
    assert recorded == {"json": str(files.files["json"]), "evidently-html": str(page), "evidently-json": str(data)}
    with app.uow() as unit:
        revision = unit.revisions.latest(DEVICE, "2025Q3")
    assert len(verify_revision_files(revision)) == 3  # the Evidently JSON is not taken for the content JSON

    # the first quarter (its preceding window is empty): a page saying so, no Evidently run; a roll-up: none
    first = write_report(DEVICE, "2025Q2", formats=["evidently"], out_dir=tmp_path, uow=app.uow, clock=app.clock,
                         actor="t", renderer=app.report_renderer)
    report = json.loads(first.files["evidently:json"].read_text(encoding="utf-8"))
    assert report["evidently"] is None and report["sample"]["reference"]["population"] == 0
    assert all(c["evidently"] is None and c["ours"]["drifted"] is None for c in report["columns"])
    assert "Not compared" in first.files["evidently:html"].read_text(encoding="utf-8")
    rollup = write_report(DEVICE, "2025", rollup=True, formats=["json", "evidently"], out_dir=tmp_path, uow=app.uow,
                          clock=app.clock, actor="t", renderer=app.report_renderer)
    assert set(rollup.files) == {"json"}
