"""The report's message catalogs: same keys in every language, and the template uses only existing keys."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from markupsafe import Markup

from monitor.adapters.rendering.html import TEMPLATE_DIR
from monitor.adapters.rendering.i18n import (
    LANGUAGES,
    catalog,
    inline_translator,
    translator,
)
from monitor.adapters.rendering.normalise import FAMILIES
from monitor.domain.tickets import STATUSES as TICKET_STATUSES
from monitor.errors import ReportError
from monitor.service.queries import BatchKind

SCHEMA_DIR = Path(__file__).resolve().parents[4] / "schemas"


def _drift_reasons() -> set[str]:
    """The reasons a data-drift row may give for its verdict, as the analysis schema enumerates them."""
    found: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            reason = node.get("properties", {}).get("reason") if isinstance(node.get("properties"), dict) else None
            if isinstance(reason, dict) and "no_reference" in reason.get("enum", []):
                found.update(reason["enum"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads((SCHEMA_DIR / "analysis.schema.json").read_text(encoding="utf-8")))
    return found


#: The reasons a data-drift row gives for its verdict (docs/drift-baseline.md), from the schema.
DRIFT_REASONS = _drift_reasons()
#: The page frame, the shared macros and every section block: the words of the whole report.
TEMPLATE = "\n".join(path.read_text(encoding="utf-8") for path in
                      [TEMPLATE_DIR / "report.html.j2", TEMPLATE_DIR / "macros.html.j2",
                       *sorted((TEMPLATE_DIR / "sections").glob("*.html.j2"))])
LITERAL_KEYS = re.compile(r"""\bti?\(\s*['"]([a-z0-9_]+(?:\.[a-z0-9_]+)*)['"]""")
DYNAMIC_PREFIXES = re.compile(r"""\bti?\(\s*['"]((?:[a-z0-9_]+\.)+)['"]\s*~""")


def test_both_catalogs_have_exactly_the_same_keys() -> None:
    en, zh = catalog("en"), catalog("zh-CN")
    assert set(en) == set(zh), sorted(set(en) ^ set(zh))
    assert len(en) > 150


def test_both_catalogs_use_the_same_placeholders() -> None:
    fields = re.compile(r"{(\w+)}")
    en, zh = catalog("en"), catalog("zh-CN")
    for key in en:
        assert sorted(fields.findall(en[key])) == sorted(fields.findall(zh[key])), key


def test_the_template_uses_only_existing_keys() -> None:
    keys = set(LITERAL_KEYS.findall(TEMPLATE))
    assert len(keys) > 120
    for language in LANGUAGES:
        missing = keys - set(catalog(language))
        assert not missing, (language, sorted(missing))


def test_dynamic_keys_of_the_template_cover_every_value_they_take() -> None:
    prefixes = set(DYNAMIC_PREFIXES.findall(TEMPLATE))
    assert prefixes >= {"status.", "metric.", "signoff.", "decision.family.", "decision.family_signal.",
                        "decision.method_name.", "drift.reference_source.", "drift.verdict.",
                        "findings.ticket_status.", "findings.ticket_title.", "provenance.kind.", "additional.label."}
    for language in LANGUAGES:
        messages = catalog(language)
        for prefix in prefixes:  # a key built at render time names a family of messages that exists
            assert any(key.startswith(prefix) for key in messages), (language, prefix)
        # the report renders a ticket's title and status from its fields, and a batch's kind, in the language
        assert {f"findings.ticket_status.{s}" for s in TICKET_STATUSES} <= set(messages)
        assert {f"findings.ticket_title.{m}" for m in ("sensitivity", "specificity", "ppv", "npv")} <= set(messages)
        assert {f"provenance.kind.{k.value}" for k in BatchKind} <= set(messages)
        # the decision rule's outcomes, and "ok" of documents stored before it (still rendered)
        for value in ("flagged", "conforming", "inconclusive", "insufficient", "not_tested", "ok", "draft", "signed",
                      "superseded", "provisional"):
            assert f"status.{value}" in messages
        for prefix in ("decision.family.", "decision.family_signal."):
            assert {f"{prefix}{f}" for f in FAMILIES} <= set(messages)
        assert {f"decision.method_name.{m}" for m in ("holm", "bh", "by")} <= set(messages)
        assert {f"drift.reference_source.{s}" for s in ("configured", "established", "claim")} <= set(messages)
        assert {f"drift.verdict.{v}" for v in ("drifted", "not_drifted", "no_reference", "not_compared")} <= set(
            messages)
        assert len(DRIFT_REASONS) >= 7 and {f"drift.reason.{r}" for r in DRIFT_REASONS} <= set(messages)
        for value in ("sensitivity", "specificity", "ppv", "npv"):
            assert f"metric.{value}" in messages
        for value in ("authored", "reviewed", "approved"):
            assert f"signoff.{value}" in messages


def test_the_template_has_no_hard_coded_words_between_tags() -> None:
    text = re.sub(r"{#.*?#}|{%.*?%}|{{.*?}}|<style>.*?</style>|<[^>]+>", " ", TEMPLATE, flags=re.DOTALL)
    text = text.replace("samd-monitor", " ")  # the product's name is not translated
    words = [w for w in re.findall(r"[A-Za-z\u4e00-\u9fff]{2,}", text)]
    assert words == [], words


def test_translator_escapes_and_shows_both_languages() -> None:
    t = translator("both")
    both = t("control.period_value", label="2025Q3", first="2025-07-01", last="2025-09-30", tz="<Asia>")
    assert isinstance(both, Markup) and "&lt;Asia&gt;" in both and "报告期" not in both
    assert '<span class="zh" lang="zh-CN">2025Q3：' in both
    assert translator("zh-CN")("title") == "真实世界性能审核报告"
    assert inline_translator("both")("common.none") == "none / 无"
    with pytest.raises(ReportError, match="unknown report language"):
        translator("fr")
    with pytest.raises(ReportError, match="missing"):
        translator("en")("no.such.key")
