"""The Chinese edition is Chinese: rendered in zh-CN, the report's words outside data values are Chinese.

``data/report_content_demo.json`` is the report content of the demo's 2025Q3 (scale 0.3, one finding and its
ticket), trimmed to the overall population and the strata around the finding; its content sections are set
to "not applicable" here (their blocks are checked through their catalogs below). What may stay in Latin
letters: data values as stored (strata, site ids, model versions, file names, ticket and batch ids, dates,
hashes, the device's registered names), units and codes (csv, SHA-256, CT, NMPA...), method and author names
(Wilson, Holm, Kaplan-Meier...), the bibliographic references of the methods annex (cells of class ``ref``)
and code (``<code>``).
"""

from __future__ import annotations

import html as html_lib
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from monitor.adapters.rendering.html import render_html, report_context
from monitor.adapters.rendering.i18n import catalog
from monitor.adapters.rendering.normalise import drift_comparisons
from monitor.service.report_sections import registry

DEMO = Path(__file__).parent / "data" / "report_content_demo.json"
IDENTITY = {"report_id": "R-DEMO-0001", "revision": 1, "status": "draft", "languages": ["zh-CN"],
            "audit_head": "ab" * 32, "content_sha256": "cd" * 32, "signatures": []}
#: Names and codes that are written in Latin letters in Chinese documents too (methods, authors, units, codes).
LATIN = {
    "AI", "AUC", "ARL", "BH", "CBPE", "CI", "CT", "CUSUM", "CSV", "csv", "EWMA", "FDA", "FDR", "FWER", "JSON", "NMPA",
    "PDF", "SHA", "SLA", "XLSX", "ROC", "Holm", "Benjamini-Hochberg", "Benjamini-Yekutieli", "Begg-Greenes", "Wilson",
    "wilson", "Clopper-Pearson", "Kaplan-Meier", "Brookmeyer-Crowley", "Lynden-Bell", "DeLong", "Newcombe", "Fisher",
    "Brier", "Bernoulli", "Wasserstein", "wasserstein", "jensenshannon", "psi", "chisquare", "two-proportion-z",
    "calibration-in-the-large", "docs", "md", "pp", "samd-monitor", "PulmoScan", "RT", "R-DEMO", "UTC", "Asia",
    "Shanghai", "III", "II", "lung-nodule-ct", "Part", "CFR", "Lung-RADS",
}


def demo_content() -> dict[str, Any]:
    """The demo's report content, its content sections "not applicable" (a fresh copy each call)."""
    content = json.loads(DEMO.read_text(encoding="utf-8"))
    content["sections"] = {section.key: None for section in registry()}
    return content


def _data_values(content: dict[str, Any]) -> list[str]:
    """The stored identifiers and names the page prints as they are, longest first."""
    doc = content["analysis"]
    values = {r["stratum"] for r in doc["results"]} | {c["stratum"] for c in doc["counts"]}
    values |= {s["site_id"] for s in doc["sites"]} | {b["source"] for b in content["provenance"]["batches"]}
    values |= {b["source_format"] for b in content["provenance"]["batches"]}
    values |= {doc["device"][k] for k in ("id", "name", "manufacturer", "intended_use") if doc["device"].get(k)}
    values |= {d[k] or "" for g in drift_comparisons(doc) for d in g["rows"] for k in ("feature", "kind", "method")}
    values |= {r["jurisdiction"] for r in doc["device"].get("registrations", [])}
    values |= {doc["run_id"]} | {g["baseline"] or "" for g in drift_comparisons(doc)}
    return sorted((v for v in values if v), key=len, reverse=True)


def _english_words(page: str, data_values: list[str]) -> list[str]:
    text = re.sub(r'src="data:[^"]*"', "", page)
    text = re.sub(r"<head>.*?</head>|<td class=\"l ref\">.*?</td>|<code>.*?</code>", " ", text, flags=re.DOTALL)
    text = html_lib.unescape(re.sub(r"<[^>]+>", " ", text))
    for value in data_values:
        text = text.replace(value, " ")
    text = re.sub(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b|\bdocs/[\w-]+\.md\b|\b[0-9a-f]{12,64}\b|\b\d{4}-\d\d-\d\dT[\d:.]+(Z|[+-]\d\d:\d\d)?", " ", text)  # hashes, times
    return sorted({w for w in re.findall(r"[A-Za-z][A-Za-z0-9\-]*[A-Za-z]", text) if w not in LATIN})


#: English words still printed by a block this test does not own, per section id: the gap, to be closed there
#: (the change log prints a ticket's metric code).
ELSEWHERE = {"changes": ["sensitivity"]}


def _sections(page: str) -> dict[str, str]:
    """The page cut at each section heading, by the heading's id (the frame's title and notes: ``frame``)."""
    parts = re.split(r'(?=<h2 id="[\w-]+")', page)
    return {(re.match(r'<h2 id="([\w-]+)"', part) or [None, "frame"])[1]: part for part in parts}


@lru_cache(maxsize=1)
def zh_page() -> str:
    """The zh-CN page of the demo content (drawn once per session: the figures take seconds; also used by
    test_reproducible_formats.py as its first rendering)."""
    return render_html(report_context(demo_content(), IDENTITY, "zh-CN"))


def test_the_chinese_report_has_no_english_words_outside_data_values() -> None:
    content = demo_content()
    page = zh_page()
    values = _data_values(content)
    sections = _sections(page)
    assert {"frame", "control", "provenance", "findings", "strata", "methods", "hashes"} <= set(sections)
    english = {name: words for name, part in sections.items() if (words := _english_words(part, values))}
    assert english == ELSEWHERE
    ticket = content["tickets"][0]
    # the ticket's title and status come from its fields through the catalog, not its stored English title
    assert ticket["title"] not in page and "低于声称性能" in page and "待处理" in page
    # the recorded rule's English text is not printed: the rules block states it in Chinese
    assert content["analysis"]["rules"]["decision_rule"][:40] not in page and "预先规定的判定规则" in page


def test_every_chinese_message_is_chinese() -> None:
    """Every message of the zh-CN catalogs (the main one and each section's) is written in Chinese: Latin words
    only from the allow-list, placeholders, and the methods annex's bibliographic references (``*_ref``)."""
    found = {}
    for key, message in catalog("zh-CN").items():
        if key.endswith("_ref"):
            continue
        text = re.sub(r"{\w+}|`[^`]*`", " ", message)
        words = {w for w in re.findall(r"[A-Za-z][A-Za-z0-9\-]*[A-Za-z]", text) if w not in LATIN}
        if words and not re.search(r"[\u4e00-\u9fff]", message):
            found[key] = sorted(words)
    assert found == {}
