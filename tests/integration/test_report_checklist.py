"""The report checklist (regulatory.md section 2, items 1-19): each item, where the report content carries it,
and a check that it is filled for a demo-like report (two synthetic quarters with the demo's device
configuration, the planted drop flagged; tests/integration/test_report_generation.py's fixture).

| # | item | where (report content / page block) | example value (full demo, 2025Q3) |
|---|---|---|---|
| 1 | report id, version, status, period, cut-offs, generation time | revision identity (block 010_control); `period`, `analysis.data_cutoff`, `generated_at` | revision 1, draft; 2025Q3; cut-off 2026-01-31T15:59:59Z |
| 2 | product identity, registrations, intended use, target population, contraindications | `analysis.device`; `sections.product.target_population`, `.contraindications` (block 010_control) | NMPA 国械注准20243210001, III, 21-04-02; "Adults aged 18 and over undergoing chest CT"; 3 contraindications |
| 3 | model lineage: full version, hash, thresholds, PCCP, deployments per site, changes | `sections.product.lineage[]` (block 015_product); `change_log` | 2.1.0+build.4411, 3f6a9c2e8b1d…, actionable_nodule 0.5, PCCP-LN-1.0, site-bj-01 since 2024-06-03 |
| 4 | sites, scanners (manufacturer and model), studies, uses with method | `usage`, `analysis.sites`, `sections.product.scanners[]` (blocks 010, 015, 020) | 300,000 studies at 5 sites; GE (Revolution CT, Optima CT660): 75,473 |
| 5 | source systems, snapshot ids and checksums | `provenance.batches[]` (block 030) | batch 25 predictions_2025-07.csv, SHA-256 2322f3684f55… |
| 6 | reference standard per endpoint: who, qualification, adjudication, follow-up | `sections.reference_standard.rows[]` (block 015_reference_standard) | adjudication 207,540 labels: reader panel of three radiologists, 365 days |
| 7 | label completeness, maturity, verification fraction | `analysis.maturity[]`, `analysis.verification[]` (block 070) | 77.7 % labelled, median delay 36 days |
| 8 | data quality: duplicates, rejections, AI failures | `provenance.batches[].rejected/duplicates`, `provenance.rejected_by_reason`, `usage.ai_failures` (blocks 020, 030) | 0 rejected, 0 AI failures |
| 9 | primary metrics with 95 % CIs | `analysis.results[]` level 0 (`ci_low`, `ci_high`) (block 050) | sensitivity 90.0 % (89.6-90.4) |
| 10 | comparison with claims: goal, one-sided test, outcome | `analysis.results[].claim/performance_goal/status` (blocks 040, 050) | goal 88 %, conformity shown |
| 11 | stratified results with the difference from the rest | `analysis.results[]` level >= 1 (block 060); `sections.stratum_vs_rest.rows[]` (block 125_stratum_vs_rest) | age_band=>=75 & emphysema_grade=severe: -9.4 pp |
| 12 | time to intervention | `analysis.time_to_intervention[]` (block 090) | median 27 days, 95.4 % within SLA |
| 13 | trend and drift: CUSUM/EWMA, input drift | `analysis.sequential`, `analysis.data_drift` (block 100) | 174 CUSUM charts, 30 EWMA charts, 2 drift comparisons |
| 14 | safety: adverse events, complaints, reportability | `sections.safety` (block 115_safety) | 41 events: 10 complaints, 1 adverse event, 1 incident, 6 user feedback, 23 overrides; NMPA 1 late, 1 met |
| 15 | benefit-risk | `sections.benefit_risk` (block 126_benefit_risk) | favourable, with open signals |
| 16 | conclusion and actions (tickets) | `sections.summary.conclusion`, `.shortfalls[].ticket_id`, `tickets` (block 005_summary, page 1) | signal under investigation; sensitivity 81.5 % (79.5-83.4), goal 88 %, RT-000001 |
| 17 | limitations from the data | `sections.limitations.items[]` (block 130_limitations) | label immaturity, small strata, outcome-dependent delay, scanner models not logged, … |
| 18 | signatures, audit-trail review attestation, report hash, distribution, retention | signatures (block 150_signoff, identity); `sections.integrity` (block 160_annexes) | analysis = audit record 44; QA lead: Li Na, …; 10 years, until 2035-09-30 |
| 19 | annexes: analysis plan version, code and config version, change log | `sections.annexes`, `change_log` (blocks 120, 160_annexes) | config d7539ad0c2d9…, version 3; samd-monitor 0.1.0; since 2025Q2 |
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape

from tests.integration.test_report_generation import CUTOFF, DEVICE, SCENARIO, TARGET, analysed  # noqa: F401

Content = dict[str, Any]


def _level0(c: Content) -> list[dict[str, Any]]:
    return [r for r in c["analysis"]["results"] if r["level"] == 0 and r["ci_low"] is not None]


#: item -> (where, the check that it is filled); the docstring's table says the same in words.
CHECKLIST: dict[int, tuple[str, Callable[[Content], Any]]] = {
    1: ("period, analysis.data_cutoff, generated_at", lambda c: c["period"] and c["analysis"]["data_cutoff"]
        and c["generated_at"]),
    2: ("analysis.device, sections.product", lambda c: c["analysis"]["device"]["registrations"]
        and c["analysis"]["device"]["intended_use"] and c["sections"]["product"]["target_population"]
        and c["sections"]["product"]["contraindications"]),
    3: ("sections.product.lineage", lambda c: [m for m in c["sections"]["product"]["lineage"]
                                               if m["model_hash"] and m["pccp_version"] and m["deployments"]
                                               and m["operating_thresholds"]]),
    4: ("usage, analysis.sites, sections.product.scanners", lambda c: c["usage"]["studies"] and c["analysis"]["sites"]
        and all(s["models"] for s in c["sections"]["product"]["scanners"]) and c["sections"]["product"]["scanners"]),
    5: ("provenance.batches", lambda c: all(b["sha256"] for b in c["provenance"]["batches"])
        and c["provenance"]["batches"]),
    6: ("sections.reference_standard.rows", lambda c: [r for r in c["sections"]["reference_standard"]["rows"]
                                                       if r["seen"] and r["defined"] and r["labelled_by"]]),
    7: ("analysis.maturity, analysis.verification", lambda c: c["analysis"]["maturity"]
        and c["analysis"]["verification"]),
    8: ("provenance.batches[].rejected, usage.ai_failures", lambda c: all("rejected" in b and "duplicates" in b
                                                                         for b in c["provenance"]["batches"])
        and "ai_failures" in c["usage"]),
    9: ("analysis.results level 0", _level0),
    10: ("analysis.results claim/goal/status", lambda c: [r for r in _level0(c) if r["performance_goal"] is not None]),
    11: ("analysis.results level >= 1, sections.stratum_vs_rest", lambda c: c["sections"]["stratum_vs_rest"]["rows"]),
    12: ("analysis.time_to_intervention", lambda c: c["analysis"]["time_to_intervention"]),
    13: ("analysis.sequential, analysis.data_drift", lambda c: (c["analysis"]["sequential"]["cusum"]
                                                                or c["analysis"]["sequential"]["ewma"])
         and c["analysis"]["data_drift"]),
    14: ("sections.safety", lambda c: c["sections"].get("safety")),
    15: ("sections.benefit_risk", lambda c: c["sections"]["benefit_risk"]["determination"]
         and c["sections"]["benefit_risk"]["overall"]),
    16: ("sections.summary", lambda c: c["sections"]["summary"]["conclusion"]
         and [s for s in c["sections"]["summary"]["shortfalls"] if s["ticket_id"]]),
    17: ("sections.limitations", lambda c: c["sections"]["limitations"]["items"]),
    18: ("signatures block, sections.integrity", lambda c: c["sections"]["integrity"]["analysis_record"]
         and c["sections"]["integrity"]["distribution"] and c["sections"]["integrity"]["retention_years"]),
    19: ("sections.annexes, change_log", lambda c: c["sections"]["annexes"]["analysis_plan"]["config_hash"]
         and c["sections"]["annexes"]["software_version"] and c["change_log"]["baseline"]),
}
#: Items another helper fills: reported separately so that a missing one names its owner.
PENDING = {14: "the safety helper's sections.safety (adverse events / complaints log)"}


@pytest.fixture
def report(app, analysed, tmp_path):  # type: ignore[no-untyped-def]  # noqa: F811
    from monitor.service.report import write_report

    files = write_report(DEVICE, "2025Q3", formats=["json", "html"], languages=["en", "zh-CN"], out_dir=tmp_path,
                         uow=app.uow, clock=app.clock, actor="t", renderer=app.report_renderer)
    content = json.loads(files.files["json"].read_text(encoding="utf-8"))
    if os.environ.get("CHECKLIST_DUMP"):  # a copy of the report to look at
        out = Path(os.environ["CHECKLIST_DUMP"])
        out.mkdir(parents=True, exist_ok=True)
        for key, path in files.files.items():
            (out / path.name).write_bytes(path.read_bytes())
    pages = {lang: files.files[f"html:{lang}"].read_text(encoding="utf-8") for lang in ("en", "zh-CN")}
    return content, pages


@pytest.mark.parametrize("empty_database_url", ["sqlite"], indirect=True)
def test_every_checklist_item_is_filled_and_page_one_names_the_shortfall(  # type: ignore[no-untyped-def]
        app, report) -> None:
    content, pages = report
    empty = [f"{item} ({where})" for item, (where, filled) in CHECKLIST.items()
             if item not in PENDING and not filled(content)]
    assert not empty, f"checklist items without content: {empty}"

    summary = content["sections"]["summary"]
    assert summary["conclusion"] == "signal_under_investigation"  # exploratory shortfall, no confirmatory one
    shortfall = next(s for s in summary["shortfalls"] if s["stratum"] == TARGET and s["metric"] == "sensitivity")
    # page 1 (the summary block comes first) names the shortfall, its interval, goal and ticket, in both languages
    for page in pages.values():
        first = page[page.index("<h2"):page.index("<h2", page.index("<h2") + 1)]
        for text in (str(escape(TARGET)), f"{100 * shortfall['ci_low']:.1f}%",
                     f"{100 * shortfall['performance_goal']:.1f}%", shortfall["ticket_id"]):
            assert text in first, text
    assert "Signal under investigation" in pages["en"] and "信号调查中" in pages["zh-CN"]
    for block in ("product", "reference-standard", "stratum-vs-rest", "benefit-risk", "limitations", "annexes"):
        assert f'id="{block}"' in pages["en"], block
    _reference_standard_counts_are_the_stored_rows(app, content)
    if not CHECKLIST[14][1](content):  # the last check: every other item passed above
        pytest.xfail(f"checklist item 14 is empty: {PENDING[14]}")


def _reference_standard_counts_are_the_stored_rows(app, content) -> None:  # type: ignore[no-untyped-def]
    """The labels per source the report prints (recorded by the analysis in verification_design, not
    counted again at report time) equal the window's labels by source counted from the stored rows."""
    from datetime import datetime

    from monitor.service.cells import window_aggregates
    from monitor.service.window import Window

    printed = {r["label_source"]: r["labels"] for r in content["sections"]["reference_standard"]["rows"] if r["seen"]}
    with app.uow() as unit:
        document = unit.results.latest_run(DEVICE, "2025Q3")["document"]
        config = unit.devices.get(DEVICE)
        window = Window(DEVICE, datetime.fromisoformat(document["period"]["start_utc"]),
                        datetime.fromisoformat(document["period"]["end_utc"]),
                        datetime.fromisoformat(document["data_cutoff"]))
        frame = window_aggregates(unit, config, window, None).aggregates.label_sources
    counted = frame.groupby(frame["source"].astype(str))["n"].sum()
    assert document["verification_design"]["labels_by_source"] == printed
    assert printed == {k: int(v) for k, v in counted.items() if v > 0} and sum(printed.values()) > 0


def test_the_sections_doc_example_is_a_registered_section() -> None:
    """docs/sections.md's worked example is the limitations section: its module, block and catalogs exist."""
    from monitor.resources import resource_path
    from monitor.service.report_sections import registry

    assert "limitations" in {s.key for s in registry()}
    sections = resource_path("reports", "sections")
    assert (sections / "130_limitations.html.j2").is_file()
    assert (sections / "limitations.en.yaml").is_file() and (sections / "limitations.zh-CN.yaml").is_file()

