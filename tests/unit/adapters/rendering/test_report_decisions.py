"""The report shows the pre-specified decision rule (issue 19), and documents stored before it still render.

``data/report_content_pre19.json`` is a report content written by the software before the rule (the
demo's 2025Q3 at scale 0.2, trimmed to the strata the report names): its statuses are ``ok``/``flagged``,
its CUSUM alarms undated and its data drift one flat list. The decision-rule shapes are built here from
the field lists of the analysis document (docs/methods.md; schemas/analysis.schema.json).
"""

from __future__ import annotations

import copy
import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from monitor.adapters.rendering.html import render_html, report_context
from monitor.adapters.rendering.normalise import (
    alarm_chart,
    decision_families,
    drift_comparisons,
    ewma_chart,
    result_row,
)
from monitor.adapters.rendering.tables import RESULT_COLUMNS, annex_rows, to_csv

PRE19 = Path(__file__).parent / "data" / "report_content_pre19.json"
IDENTITY = {"report_id": "R-TEST", "revision": 1, "status": "draft", "languages": ["en"], "audit_head": "0" * 64,
            "content_sha256": "0" * 64, "signatures": []}
TARGET = "age_band=>=75 & emphysema_grade=severe"


def _pre19() -> dict[str, Any]:
    return json.loads(PRE19.read_text(encoding="utf-8"))


_PAGES: dict[tuple[str, str], str] = {}


def _html(content: dict[str, Any], language: str = "en") -> str:
    """The rendered page (each content and language drawn once per test session: the figures take seconds)."""
    key = (json.dumps(content, sort_keys=True), language)
    if key not in _PAGES:
        _PAGES[key] = render_html(report_context(content, IDENTITY, language))
    return _PAGES[key]


def _text(html: str) -> str:
    """The page's words: tags and the figures' data URIs removed, entities of quotes resolved."""
    text = re.sub(r'src="data:[^"]*"', "", html)
    text = re.sub(r"<style>.*?</style>|<[^>]+>", " ", text, flags=re.DOTALL)
    return re.sub(r"\s+", " ", text.replace("&#39;", "'").replace("&amp;", "&").replace("&gt;", ">").replace("&lt;", "<"))


def _with_rule(content: dict[str, Any]) -> dict[str, Any]:
    """``content`` as the decision rule writes it: families fixed by the configuration, three outcomes,
    one-sided tests against the goal, provisional specificity, dated alarms, drift against a baseline."""
    content = copy.deepcopy(content)
    doc = content["analysis"]
    rules = doc["rules"]
    rules.pop("flag_rule")
    rules["decision_rule"] = "shortfall: adjusted p(H0: p >= goal) <= level; conformity: adjusted p(H0: p <= goal)"
    confirmatory = set(rules["confirmatory"])
    sizes: dict[tuple[str, str], int] = {}
    for r in doc["results"]:
        r.pop("holm_p", None)
        if r["claim"] is None:
            r["family"], r["status"] = None, "not_tested"
            continue
        single = r["level"] == 1 and set(r["attributes"]) <= confirmatory
        r["family"] = "confirmatory" if r["level"] == 0 or single else "exploratory"
        sizes[(r["model_version"], r["family"])] = sizes.get((r["model_version"], r["family"]), 0) + 1
        if r["status"] == "ok":
            r["status"] = "conforming" if r["ci_low"] >= r["performance_goal"] else "inconclusive"
        r |= {"p_shortfall": r["p_value"], "q_conformity": 0.01 if r["status"] == "conforming" else 0.6,
              "provisional": r["metric"] == "specificity", "design_effect": 1.0,
              "expected_share": 0.62 if r["metric"] == "specificity" else 0.98}
    rules["families"] = {}
    for (version, family), size in sizes.items():
        level = rules["alpha"] if family == "confirmatory" else rules["fdr"]
        rules["families"].setdefault(version, {})[family] = {
            "size": size + 3, "level": level, "method": "holm" if family == "confirmatory" else "bh"}
    for r in doc["results"]:
        if r.get("family"):
            r |= {"family_size": rules["families"][r["model_version"]][r["family"]]["size"],
                  "family_level": rules["families"][r["model_version"]][r["family"]]["level"]}
    for f in doc["findings"]:
        f |= {"family": "exploratory", "provisional": False, "expected_share": 0.98}
    chart = next(c for c in doc["sequential"]["cusum"] if c["stratum"] == TARGET and c["metric"] == "sensitivity")
    alarms = [{"known_on": "2025-08-14", "known_at_utc": "2025-08-13T18:00:00Z", "case_index": 1712,
               "case_in_period": 312, "statistic": chart["h"] * 1.02},
              {"known_on": "2025-09-20", "known_at_utc": "2025-09-19T18:00:00Z", "case_index": 1900,
               "case_in_period": 500, "statistic": chart["h"] * 1.1}]
    for c in doc["sequential"]["cusum"]:
        c.pop("first_alarm_case_in_period", None)
        c |= {"order": "known_at", "alarms": [], "first_alarm": None, "restarted_at_utc": None}
    chart |= {"alarms": alarms, "first_alarm": alarms[0], "alarms_in_period": 2, "statistic": chart["h"] * 0.3,
              "restarted_at_utc": "2025-09-19T18:00:00Z"}
    doc["sequential_alarms"] = [chart | {"finding_id": "f-1", "ticket_id": "RT-000009"}]
    for e in doc["sequential"]["ewma"]:
        e |= {"reference": round(e["claim"] - 0.013, 4), "reference_source": "established",
              "reference_periods": ["2024Q3", "2024Q4"], "reference_trials": 900, "periods_above_upper_limit": []}
    rows = doc["data_drift"]
    for r in rows:
        r |= {"effect_floor": r["threshold"], "reason": "distance_below_threshold"}
    baseline = [r | {"reference_n": 0, "drifted": None, "reason": "no_reference", "value": None} for r in rows]
    doc["data_drift"] = [
        {"reference": "preceding", "baseline": None, "model_versions": [], "periods": ["2025Q2"], "rows": rows},
        {"reference": "baseline", "baseline": "2025Q3", "model_versions": [], "periods": [], "rows": baseline}]
    return content


# --- documents stored before the rule ----------------------------------------------------------------

@pytest.mark.parametrize("language", ["en", "zh-CN", "both"])
def test_a_document_stored_before_the_rule_still_renders_and_says_so(language: str) -> None:
    text = _text(_html(_pre19(), language))
    if language != "zh-CN":
        assert "stored before the pre-specified decision rule" in text
        assert "not flagged (earlier rule)" in text and "shortfall shown" in text  # the old flag is a shortfall
    if language != "en":
        assert "预先规定的判定规则启用之前" in text and "未标记（旧规则）" in text
    html = _html(_pre19(), language)
    assert 'class="badge conforming"' not in html and 'class="badge inconclusive"' not in html
    assert TARGET in text


def test_the_earlier_documents_annex_keeps_its_holm_column_and_empty_decision_fields() -> None:
    columns, rows = annex_rows(_pre19())["stratified_results"]
    assert list(columns) == [*RESULT_COLUMNS, "holm_p"]
    parsed = list(csv.DictReader(io.StringIO(to_csv(columns, rows), newline="")))
    assert {r["status"] for r in parsed} <= {"ok", "flagged", "insufficient", "not_tested"}
    assert all(r["family"] == "" and r["provisional"] == "" for r in parsed)


def test_an_earlier_flat_drift_row_without_reference_reads_no_reference_not_not_drifted() -> None:
    doc = {"reference_window": {"periods": []},
           "data_drift": [{"feature": "age", "kind": "numeric", "method": "wasserstein", "value": 0.0,
                           "threshold": 0.1, "drifted": False, "reference_n": 0, "current_n": 500}]}
    (group,) = drift_comparisons(doc)
    assert group["reference"] == "preceding" and group["periods"] == []
    assert group["rows"][0]["verdict"] == "no_reference" and group["rows"][0]["drifted"] is None


def test_normalised_rows_read_every_field_whichever_version_wrote_them() -> None:
    row = result_row({"status": "ok", "p_value": 0.2, "holm_p": 0.4, "basis": None})
    assert row["family"] is None and row["provisional"] is None and row["basis"] == [] and row["holm_p"] == 0.4
    legacy = alarm_chart({"first_alarm_case_in_period": 712, "statistic": 1.0})
    assert legacy["alarms"] == [] and legacy["legacy_first_case"] == 712 and legacy["peak"] is None
    dated = alarm_chart({"alarms": [{"known_on": "2025-08-14", "statistic": 5.0}, {"known_on": "2025-09-01",
                                                                                    "statistic": 6.5}]})
    assert dated["first_alarm"]["known_on"] == "2025-08-14" and dated["peak"] == 6.5
    assert ewma_chart({"claim": 0.9})["reference"] == 0.9 and ewma_chart({"claim": 0.9})["reference_source"] == "claim"
    assert decision_families({"rules": {}, "results": [{"status": "ok", "model_version": "1"}]}) == []


# --- documents of the rule --------------------------------------------------------------------------------

def test_families_come_from_the_rules_block_with_the_outcomes_of_their_members() -> None:
    doc = _with_rule(_pre19())["analysis"]
    families = decision_families(doc)
    assert [(g["model_version"], g["family"]) for g in families] == [("2.1.0", "confirmatory"),
                                                                     ("2.1.0", "exploratory")]
    for g in families:
        stated = doc["rules"]["families"]["2.1.0"][g["family"]]
        assert (g["size"], g["level"], g["method"]) == (stated["size"], stated["level"], stated["method"])
        members = [r for r in doc["results"] if r.get("family") == g["family"]]
        assert sum(len(v) for v in g["rows"].values()) == len(members) == g["members"]
    exploratory = families[1]
    assert [r["stratum"] for r in exploratory["rows"]["flagged"]] == [TARGET]


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_the_rules_block_states_the_rule_its_families_and_the_outcome_of_each_stratum(language: str) -> None:
    content = _with_rule(_pre19())
    html = _html(content, language)
    text = _text(html)
    families = content["analysis"]["rules"]["families"]["2.1.0"]
    if language == "en":
        for words in ("Pre-specified decision rule and outcomes", "Shortfall shown (a finding",
                      "Holm at α = 0.05", "Benjamini–Hochberg at q = 0.1", "exploratory: signal to investigate",
                      "conformity shown", "inconclusive", "Detectable drop this period",
                      "provisional: 62% of expected labels"):
            assert words in text, words
    else:
        for words in ("预先规定的判定规则及结论", "已证实未达标", "已证实达标", "尚无定论", "探索性：需调查的信号",
                      "暂定：已收到预期标签的 62%", "本期最小可检测差异"):
            assert words in text, words
    block = text[text.index("Pre-specified" if language == "en" else "预先规定的判定规则及结论"):]
    assert f" {families['confirmatory']['size']} " in block and f" {families['exploratory']['size']} " in block
    assert 'class="badge conforming"' in html and 'class="badge inconclusive"' in html
    assert 'class="badge ok"' not in html


def test_each_stratum_row_carries_its_family_detectable_drop_and_outcome() -> None:
    content = _with_rule(_pre19())
    html = _html(content)
    doc = content["analysis"]
    row = next(r for r in doc["results"] if r["stratum"] == "age_band=>=75" and r["metric"] == "sensitivity")
    match = re.search(r"<tr class=\"\w+\"><td class=\"l\">2\.1\.0</td><td class=\"l\">age_band=&gt;=75</td>(.*?)</tr>",
                      html, flags=re.DOTALL)
    assert match is not None
    cells = _text(match.group(1))
    assert "confirmatory" in cells and f"{100 * row['minimal_detectable_drop']:.1f}%" in cells
    assert f"status.{row['status']}" not in cells


def test_alarms_print_as_dates_and_the_figure_is_drawn_from_the_peak() -> None:
    content = _with_rule(_pre19())
    text = _text(_html(content))
    assert "2025-08-14 (case 1,712); 2025-09-20 (case 1,900)" in text
    assert "restarted after the alarm of 2025-09-19T18:00:00Z" in text
    assert "case 712 of the period" not in text and "first at case" not in text


def test_drift_rows_show_their_reference_and_the_floor_that_decided() -> None:
    content = _with_rule(_pre19())
    text = _text(_html(content))
    assert "Against the preceding window : 2025Q2" in text or "Against the preceding window: 2025Q2" in text
    assert "Against the fixed baseline (2025Q3)" in text
    # each verdict names the rule's quantities that decided it (issue 16 item 6)
    assert "distance 0.0051 below threshold 0.100: not drifted" in text and "no reference" in text
    assert "Effect-size floor" in text and "Verdict (the rule that decided)" in text
    tables = annex_rows(content)
    drift = list(csv.DictReader(io.StringIO(to_csv(*tables["data_drift"]), newline="")))
    assert {r["reference"] for r in drift} == {"preceding", "baseline"}
    assert all(r["drifted"] == "" and r["reason"] == "no_reference" for r in drift if r["reference"] == "baseline")
    assert all(r["effect_floor"] == r["threshold"] for r in drift if r["reference"] == "preceding")


def test_the_annex_tables_carry_the_decision_fields_families_and_dated_alarms() -> None:
    content = _with_rule(_pre19())
    tables = annex_rows(content)
    columns, _ = tables["stratified_results"]
    assert list(columns) == list(RESULT_COLUMNS) and "holm_p" not in columns
    families = list(csv.DictReader(io.StringIO(to_csv(*tables["decision_families"]), newline="")))
    stated = content["analysis"]["rules"]["families"]["2.1.0"]
    assert {(f["family"], int(f["size"]), f["method"]) for f in families} == {
        (k, v["size"], v["method"]) for k, v in stated.items()}
    alarms = list(csv.DictReader(io.StringIO(to_csv(*tables["alarms"]), newline="")))
    assert [(a["known_on"], a["case_index"], a["ticket_id"]) for a in alarms] == [
        ("2025-08-14", "1712", "RT-000009"), ("2025-09-20", "1900", "RT-000009")]


def test_a_ticket_names_the_overlapping_findings_grouped_under_it() -> None:
    content = _with_rule(_pre19())
    ticket = content["tickets"][0]
    ticket["evidence"][-1]["evidence"]["related_findings"] = [
        {"finding_id": "f-2", "stratum": "emphysema_grade=severe", "metric": "sensitivity", "own_ticket_id": None},
        {"finding_id": "f-3", "stratum": "age_band=>=75 & sex=F", "metric": "sensitivity", "own_ticket_id": None}]
    text = _text(_html(content))
    assert (f"Related evidence on {ticket['ticket_id']}: overlapping strata short in the same run, presumed to share "
            "the cause of its most specific finding: emphysema_grade=severe; age_band=>=75 & sex=F.") in text
