"""The dashboard's words for the decision rule (issue 19): a finding names its outcome, family and provisional
share, an alarm its date; a hostile family value is still shown literally (the checks of
tests/security/test_dashboard_markdown.py on the new paths of the same builders)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from dashboards import labels
from dashboards.text import WORD_JOINER, plain
from security.test_dashboard_markdown import HOSTILE, _inline

EVIDENCE = {"estimate": 0.827, "ci_low": 0.785, "ci_high": 0.862, "claim": 0.9, "performance_goal": 0.88,
            "successes": 305, "trials": 369, "q_value": 0.0017, "family": "exploratory", "provisional": True,
            "expected_share": 0.62}


def test_a_performance_finding_says_shortfall_shown_with_its_family_and_provisional_share() -> None:
    text = labels.summary_text({"kind": "performance", "evidence": EVIDENCE})
    assert text.startswith("shortfall shown: 82.7% [78.5%, 86.2%] vs claim 90% (goal 88%), 305/369")
    assert "exploratory (signal to investigate)" in text and "provisional (62% of expected labels)" in text
    older = {k: v for k, v in EVIDENCE.items() if k not in ("family", "provisional", "expected_share")}
    assert "provisional" not in labels.summary_text({"kind": "performance", "evidence": older})


def test_a_cusum_finding_is_dated_and_an_older_one_says_it_is_undated() -> None:
    dated = {"first_alarm": {"known_on": "2025-08-14", "case_index": 1712}, "alarms": [{}, {}], "h": 4.1,
             "arl0": 500, "cases_in_period": 9}
    assert labels.summary_text({"kind": "cusum", "evidence": dated}) == (
        "CUSUM alarm on 2025-08-14 (case 1,712 of the chart, 2 in the period; h = 4.10, ARL0 = 500)")
    older = {"first_alarm_case_in_period": 3, "cases_in_period": 9, "h": 4.1, "arl0": 500}
    assert "undated" in labels.summary_text({"kind": "cusum", "evidence": older})


@pytest.mark.parametrize("value", HOSTILE)
def test_a_shortfall_cell_shows_a_hostile_family_literally_and_marks_provisional(value: str) -> None:
    cell = SimpleNamespace(stratum="s", estimate=0.5, ci_low=0.4, ci_high=0.6, claim=0.9, successes=5, trials=10,
                           q_value=0.01, family=value, provisional=True, expected_share=0.5)
    out = labels.flagged_cell("sensitivity", cell)
    tokens = _inline(out)
    assert {t.type for t in tokens} - {"text", "strong_open", "strong_close"} == set()
    shown = "".join(t.content for t in tokens if t.type == "text").replace(WORD_JOINER, "")
    assert shown.startswith("Shortfall shown: ") and plain(value) in shown
    assert shown.endswith("provisional (50% of expected labels)")
    unknown = SimpleNamespace(**{**vars(cell), "provisional": float("nan"), "family": float("nan")})
    assert "provisional" not in labels.flagged_cell("sensitivity", unknown)
