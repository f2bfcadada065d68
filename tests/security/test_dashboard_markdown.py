"""Every label builder of the dashboard on hostile values: parsed as CommonMark, no construct comes from
the value, the reader sees it literally, and none of Streamlit's after-parse rewrites (shortcodes,
autolinks, arrows, directives) can match it."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from markdown_it import MarkdownIt

from dashboards import labels
from dashboards.text import WORD_JOINER, md, plain
from unit.dashboards.dashboard_seed import literal

HOSTILE = [
    "[Sign in](http://127.0.0.1:9/x)", "![t](http://127.0.0.1:9/i.png)", "<img src=x onerror=alert(1)>",
    ":red[x]", "$x^2$", ":material/home:", ":smile: :+1: :streamlit:", "**b** _i_ `c` ~~s~~ <b>h</b>",
    "www.example.org http://127.0.0.1:9/y a@b.org", "a -> b <- c <-> d -- e >= f <= g ~= h", "# h",
    "- l", "1. x", "> q", "&amp; &#60; \\ x|y|z", "line\nbreak\r\n\n# heading", "{{ x }} %s ${x}",
]
PARSER = MarkdownIt("commonmark").enable(["table", "strikethrough"])
#: Streamlit's own rewrites of parsed text (front end of Streamlit 1.67: emoji and icon shortcodes,
#: colour directives, GFM literal autolinks, typographic arrows) and maths delimiters.
REWRITES = [re.compile(p) for p in (
    r":[\w+-]+:", r":material/", r":[a-z][a-z0-9-]*\[", r"https?://", r"(?i)www\.", r"[\w.+-]@[\w-]",
    r"(^|\s)(<->|->|<-|--|>=|<=|~=)(\s|$)")]
#: Maths: every ``$`` of the Markdown source is escaped (markdown-it has no maths to show it).
UNESCAPED_DOLLAR = re.compile(r"(?<!\\)\$")
WHEN = datetime(2025, 10, 1, 12, 0, tzinfo=UTC)


def _calls(value: str) -> dict[str, tuple[Any, ...]]:
    """Each builder's arguments with ``value`` in every data position."""
    finding = {"kind": value, "metric": value, "stratum": value, "ticket_id": value,
               "evidence": {"first_alarm_case_in_period": 3, "cases_in_period": 9, "h": 4.1, "arl0": 500}}
    cell = SimpleNamespace(stratum=value, estimate=0.5, ci_low=0.4, ci_high=0.6, claim=0.9, successes=5, trials=10,
                           q_value=0.01)
    current = {"run_id": value, "analysed_at": WHEN, "data_cutoff": WHEN, "model_versions": [value, value],
               "predictions": 10, "with_ground_truth": 5, "insufficient": 1}
    ticket = {"ticket_id": value, "status": value, "title": value}
    return {
        "text": (value,), "joined": ([value, value],), "header": ("Findings", value), "subheader": (value, value),
        "sidebar_user": (value, value), "cannot_open": (value,), "drifted": ([value], ),
        "overview_caption": (current,), "finding_summary": (finding,), "finding_label": (finding,),
        "no_results": (value, value, value, value), "flagged_cell": (value, cell), "period_help": (value,),
        "report_button": (value, value), "report_caption": (value, value, WHEN), "ticket_heading": (ticket,),
        "ticket_title": (ticket,), "ticket_notice": (value, value), "read_only": (value,),
    }


def _inline(markdown: str) -> list[Any]:
    blocks = PARSER.parse(markdown)
    assert [b.type for b in blocks] == ["paragraph_open", "inline", "paragraph_close"], markdown
    return blocks[1].children


@pytest.mark.parametrize("value", HOSTILE)
def test_every_label_builder_shows_the_value_literally(value: str) -> None:
    calls = _calls(value)
    assert set(labels.BUILDERS) <= set(calls)
    for name in labels.BUILDERS:
        args = calls[name]
        kwargs = {"prefix": "Drifted"} if name == "drifted" else {}
        out = getattr(labels, name)(*args, **kwargs)
        tokens = _inline(out)
        kinds = {t.type for t in tokens} - {"text", "strong_open", "strong_close"}
        assert not kinds, (name, kinds, out)
        assert sum(t.type == "strong_open" for t in tokens) == (1 if name in ("sidebar_user", "flagged_cell") else 0)
        shown = "".join(t.content for t in tokens if t.type == "text")
        if name != "finding_summary":  # numbers only
            assert plain(value) in shown.replace(WORD_JOINER, ""), (name, out)
        assert not UNESCAPED_DOLLAR.search(out), (name, out)
        for pattern in REWRITES:
            assert not pattern.search(shown), (name, pattern.pattern, shown)


def test_md_round_trips_through_a_commonmark_parser() -> None:
    for value in HOSTILE:
        shown = "".join(t.content for t in _inline(md(value)) if t.type == "text")
        assert shown.replace(WORD_JOINER, "") == plain(value)
        assert literal(md(value)) == plain(value)


def test_the_dashboard_renders_no_raw_html() -> None:
    from pathlib import Path

    source = "\n".join(p.read_text(encoding="utf-8") for p in Path(labels.__file__).parent.rglob("*.py"))
    assert not re.search(r"unsafe_allow_html\s*=\s*True|st\.html\(|components\.html", source)
