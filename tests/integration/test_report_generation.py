"""The periodic report through the database on both engines: revisions and their files, deterministic
JSON/CSV, a bilingual PDF naming the flagged stratum, the decision rule's block and annexes, and the annual
roll-up of stored quarters."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from markupsafe import escape
from sqlalchemy import select

from monitor.adapters.db.tables import report_revisions, reports
from monitor.domain.periods import Period
from monitor.domain.rollup import counts_from_results
from monitor.errors import InputError, NotFoundError
from monitor.service.analyze import analyze_period
from monitor.service.report import write_report
from monitor.synthetic import DemoScenario
from tests.unit.test_schemas import assert_valid

# Two quarters; a strong planted drop so that age >= 75 x severe emphysema is flagged at a small scale (0.03 left it
# below min_positives once the rule decides on final labels only: 46 of 56 positives final by the cut-off).
SCENARIO = DemoScenario(seed=21, scale=0.045, quarters=("2025Q2", "2025Q3"), drift_drop=0.3)
CUTOFF = datetime(2026, 1, 31, 16, 0, tzinfo=UTC)
DEVICE = "lung-nodule-ct"
TARGET = "age_band=>=75 & emphysema_grade=severe"


@pytest.fixture
def analysed(app, labels_final_on_arrival, ingest_scenario):  # type: ignore[no-untyped-def]
    ingest_scenario(SCENARIO)
    return {q: analyze_period(DEVICE, Period.parse(q), uow=app.uow, clock=app.clock, actor="t",
                              cutoff=max(CUTOFF, app.clock())) for q in SCENARIO.quarters}


def _write(app, out: Path, **kwargs):  # type: ignore[no-untyped-def]
    return write_report(DEVICE, kwargs.pop("period", "2025Q3"), out_dir=out, uow=app.uow, clock=app.clock,
                        actor="t", renderer=app.report_renderer, **kwargs)


def test_two_generations_are_two_revisions_with_byte_identical_json_and_csv(app, analysed, tmp_path) -> None:  # type: ignore[no-untyped-def]
    formats = ["json", "csv", "xlsx", "html"]
    first = _write(app, tmp_path / "a", formats=formats, languages=["en", "zh-CN"])
    second = _write(app, tmp_path / "b", formats=formats, languages=["en", "zh-CN"])
    assert (first.revision, second.revision) == (1, 2) and first.report_id != second.report_id
    for key in ("json", "csv:stratified_results", "csv:findings", "csv:sites"):
        assert first.files[key].read_bytes() == second.files[key].read_bytes(), key
    assert first.content_sha256 == second.content_sha256 == first.sha256["json"]
    # the HTML differs only by the revision's identity
    for lang in ("en", "zh-CN"):
        texts = [f.files[f"html:{lang}"].read_text(encoding="utf-8") for f in (first, second)]
        with app.uow() as unit:
            heads = [r["audit_head"] for r in unit.reports.revisions(DEVICE, "2025Q3")]
        for i, files in enumerate((first, second)):
            texts[i] = texts[i].replace(files.report_id, "ID")
            texts[i] = re.sub(r"(revision|修订版) \d+", r"\1 N", texts[i])  # the footer
            texts[i] = re.sub(r"(Revision|修订版)(</span>)?</th><td class=\"l\">\d+<", r"\1\2</th><td>N<", texts[i])
            for head in heads:
                texts[i] = texts[i].replace(head, "HEAD")
        assert texts[0] == texts[1]

    report = json.loads(first.files["json"].read_text(encoding="utf-8"))
    assert_valid("report", report, strict=True)
    document = analysed["2025Q3"].document
    assert report["analysis"] == json.loads(json.dumps(document))
    assert report["generated_at"] == document["created_at"] and report["rollup"] is None
    assert any(f["stratum"] == TARGET and f["metric"] == "sensitivity" for f in document["findings"])
    assert {t["ticket_id"] for t in report["tickets"]} >= {f["ticket_id"] for f in document["findings"]}
    assert {(b["batch_id"], b["sha256"]) for b in report["provenance"]["batches"]} == {
        (s["batch_id"], s["sha256"]) for s in document["sources"]}
    assert {b["batch_id"] for b in report["provenance"]["batches"]} == {s["batch_id"] for s in document["sources"]}
    assert report["usage"]["studies"] == document["completeness"]["total"]["predictions"]
    assert report["change_log"]["baseline"]["period"] == "2025Q2"
    assert report["change_log"]["baseline"]["run_id"] == analysed["2025Q2"].run_id
    assert report["change_log"]["new_model_versions"] == [] and report["change_log"]["config_changed"] is False

    with app.engine.connect() as conn:
        revisions = conn.execute(select(report_revisions).order_by(report_revisions.c.revision)).all()
        files = conn.execute(select(reports).where(reports.c.report_id == first.report_id)).all()
    assert [(r.revision, r.status, r.languages, r.content_sha256, r.supersedes) for r in revisions] == [
        (1, "superseded", "en,zh-CN", first.content_sha256, None),
        (2, "draft", "en,zh-CN", second.content_sha256, first.report_id)]
    assert revisions[1].audit_head != revisions[0].audit_head  # the first generation was audited in between
    assert {(f.format, f.language) for f in files} == {("json", None), ("csv", None), ("xlsx", None),
                                                     ("html", "en"), ("html", "zh-CN")}
    assert all(f.sha256 == first.sha256[k] for f in files for k in first.files if str(first.files[k]) == f.path)
    # a section another analysis adds to the document shows up without a template change
    extra = report | {"analysis": report["analysis"] | {
        "failure_rate": [{"model_version": "2.1.0", "stratum": "overall", "level": 0, "failures": 7, "attempts": 1000,
                          "rate": 0.007, "by_code": {"timeout": 7}}],
        "brand_new_section": {"method": "demo-method", "rows": [{"site": "=evil", "kappa": 0.8123}]}}}
    identity = {"report_id": first.report_id, "revision": 1, "status": "draft", "languages": ["both"],
                "audit_head": "0" * 64, "content_sha256": first.content_sha256, "signatures": []}
    html = app.report_renderer.html(extra, identity, "both")
    for text in ("AI failure rate", "AI 失败率", "Brand new section", "demo-method", "0.8123", "=evil", ">7<"):
        assert text in html, text

    with app.uow() as unit:
        audited = unit.audit.records(action="report.generate")
    assert [a["entity_id"] for a in audited] == [second.report_id, first.report_id]
    assert audited[1]["details"]["content_sha256"] == first.content_sha256


def test_annual_rollup_equals_the_sum_of_its_quarters(app, analysed, tmp_path) -> None:  # type: ignore[no-untyped-def]
    files = _write(app, tmp_path, period="2025", formats=["json", "csv"], rollup=True)
    report = json.loads(files.files["json"].read_text(encoding="utf-8"))
    assert report["period"] == "2025" and report["rollup"]["periods"] == ["2025Q2", "2025Q3"]
    with app.uow() as unit:
        stored = [unit.results.stratum_results(outcome.run_id) for outcome in analysed.values()]
    expected: dict[tuple[str, str, str], list[int]] = {}
    for rows in stored:
        for r in rows:
            pair = expected.setdefault((r["model_version"], r["stratum"], r["metric"]), [0, 0])
            pair[0] += r["successes"]
            pair[1] += r["trials"]
    got = {(r["model_version"], r["stratum"], r["metric"]): [r["successes"], r["trials"]]
           for r in report["analysis"]["results"]}
    assert got == expected
    summed = [counts_from_results(rows) for rows in stored]
    for c in report["analysis"]["counts"]:
        key = (c["model_version"], c["stratum"])
        assert [c[k] for k in ("tp", "fp", "fn", "tn")] == [sum(s[key][k] for s in summed if key in s)
                                                            for k in ("tp", "fp", "fn", "tn")]
    overall = next(r for r in report["analysis"]["results"] if r["level"] == 0 and r["metric"] == "sensitivity")
    assert overall["ci_low"] < overall["estimate"] < overall["ci_high"] and overall["p_value"] is not None
    assert report["analysis"]["completeness"]["total"]["predictions"] == sum(
        o.document["completeness"]["total"]["predictions"] for o in analysed.values())
    assert_valid("report", report)
    with pytest.raises(Exception, match="year"):
        _write(app, tmp_path, period="2025Q3", formats=["json"], rollup=True)


def test_a_named_run_is_reported_not_the_newest(app, analysed, tmp_path) -> None:  # type: ignore[no-untyped-def]
    first = analysed["2025Q3"]
    newer = analyze_period(DEVICE, Period.parse("2025Q3"), uow=app.uow, clock=app.clock, actor="t",
                           cutoff=max(CUTOFF, app.clock()))
    assert _write(app, tmp_path / "newest", formats=["json"]).run_id == newer.run_id
    files = _write(app, tmp_path / "named", formats=["json"], run_id=first.run_id)
    report = json.loads(files.files["json"].read_text(encoding="utf-8"))
    assert files.run_id == report["run_id"] == report["analysis"]["run_id"] == first.run_id
    with app.uow() as unit:
        assert unit.revisions.latest(DEVICE, "2025Q3")["run_id"] == first.run_id
    with pytest.raises(InputError, match="not of 'lung-nodule-ct' and 2025Q3"):
        _write(app, tmp_path, formats=["json"], run_id=analysed["2025Q2"].run_id)
    with pytest.raises(NotFoundError):
        _write(app, tmp_path, formats=["json"], run_id="00000000-0000-0000-0000-000000000000")
    with pytest.raises(InputError, match="roll-up"):
        _write(app, tmp_path, period="2025", formats=["json"], rollup=True, run_id=first.run_id)


def _pdftotext(path: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout


def test_bilingual_pdf_names_the_headings_and_the_flagged_stratum(app, analysed, tmp_path) -> None:  # type: ignore[no-untyped-def]
    files = _write(app, tmp_path, formats=["pdf", "json"], languages=["both"])
    pdf = files.files["pdf:both"]
    text = _pdftotext(pdf)
    for heading in ("Real-world performance audit report", "真实世界性能审核报告", "Control block", "报告控制信息",
                    "Stratified results", "分层分析结果", "Findings and tickets", "发现与工单", "Sign-off", "签署",
                    "Change log since the previous report", "自上次报告以来的变更记录", "灵敏度", "Sensitivity"):
        assert heading in text, heading
    flagged = next(f for f in analysed["2025Q3"].document["findings"]
                   if f["stratum"] == TARGET and f["metric"] == "sensitivity")
    assert TARGET in text.replace("\n", " ") or "emphysema_grade=severe" in text
    assert f"{flagged['successes']:,}/{flagged['trials']:,}" in text
    assert f"{100 * flagged['estimate']:.1f}%" in text and flagged["ticket_id"] in text
    assert re.search(r"Page 1 of \d+", text) and re.search(r"第 1 页，共 \d+", text)
    assert files.report_id in text
    fonts = subprocess.run(["pdffonts", str(pdf)], check=True, capture_output=True, text=True).stdout
    assert "NotoSansCJK" in fonts.replace("-", "") and " yes " in fonts
    # the same HTML gives the same PDF text (dates come from the run, not the clock)
    content = json.loads(files.files["json"].read_text(encoding="utf-8"))
    identity = {"report_id": files.report_id, "revision": files.revision, "status": "draft", "languages": ["both"],
                "audit_head": "0" * 64, "content_sha256": files.content_sha256, "signatures": []}
    again = tmp_path / "again.pdf"
    again.write_bytes(app.report_renderer.pdf(app.report_renderer.html(content, identity, "both")))
    first_text = _pdftotext(pdf)
    with app.uow() as unit:
        head = unit.reports.revisions(DEVICE, "2025Q3")[0]["audit_head"]
    assert _pdftotext(again) == first_text.replace(head, "0" * 64)


def test_the_report_states_the_rule_its_families_and_each_outcome(app, analysed, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Issue 19: the rules block states the pre-specified rule in both languages, the family sizes and
    levels and which strata are short, inconclusive and conforming; the annexes carry the same."""
    files = _write(app, tmp_path, formats=["html", "csv"], languages=["en", "zh-CN"])
    document = analysed["2025Q3"].document
    en = files.files["html:en"].read_text(encoding="utf-8")
    zh = files.files["html:zh-CN"].read_text(encoding="utf-8")
    for words in ("Pre-specified decision rule and outcomes", "Shortfall shown (a finding", "Conformity shown",
                  "Inconclusive: neither", f"Holm at α = {document['rules']['alpha']}",
                  f"Benjamini–Hochberg at q = {document['rules']['fdr']}", "Detectable drop this period"):
        assert words in en, words
    for words in ("预先规定的判定规则及结论", "已证实未达标", "已证实达标", "尚无定论", "本期最小可检测差异"):
        assert words in zh, words
    families = list(csv.DictReader(io.StringIO(files.files["csv:decision_families"].read_text(encoding="utf-8"),
                                               newline="")))
    stated = document["summary"]["families"]
    assert {(f["model_version"], f["family"], int(f["size"]), f["method"]) for f in families} == {
        (version, name, spec["size"], spec["method"]) for version, fams in stated.items() for name, spec in fams.items()}
    for status in ("flagged", "conforming", "inconclusive", "insufficient"):
        in_families = sum(int(f[status]) for f in families)
        assert in_families == sum(1 for r in document["results"] if r["status"] == status and r.get("family")), status
        assert f'class="badge {status}"' in en or in_families == 0, status
    assert sum(int(f["provisional"]) for f in families) == document["summary"]["outcomes"]["provisional"]
    target = next(r for r in document["results"] if r["stratum"] == TARGET and r["metric"] == "sensitivity")
    assert target["status"] == "flagged"
    row = re.search(r'<tr class="flagged"><td class="l">[^<]*</td><td class="l">' + re.escape(str(escape(TARGET)))
                    + r"</td>(.*?)</tr>", en, flags=re.DOTALL)
    assert row is not None and "shortfall shown" in row.group(1) and "exploratory" in row.group(1)
    assert 'class="badge ok"' not in en
    alarms = list(csv.DictReader(io.StringIO(files.files["csv:alarms"].read_text(encoding="utf-8"), newline="")))
    assert len(alarms) == sum(len(a.get("alarms") or []) for a in document["sequential_alarms"])
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", a["known_on"]) for a in alarms)
    drift = list(csv.DictReader(io.StringIO(files.files["csv:data_drift"].read_text(encoding="utf-8"), newline="")))
    assert len(drift) == sum(len(g["rows"]) for g in document["data_drift"])
    assert all(d["drifted"] == "" for d in drift if d["reason"] in ("no_reference", "no_current_cases"))
