"""Every dashboard string that carries stored data, built in one place with :func:`dashboards.text.md`.

Streamlit renders these as Markdown (page text, headers, alerts, captions, expander, metric, button
and help labels, metric values), so each value is escaped and only the fixed wording around it may
use Markdown. ``tests/unit/dashboards/test_dashboard_labels.py`` runs every builder here on hostile
values; ``tests/security/test_dashboard_markdown.py`` checks the rendered page in Chromium.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dashboards.text import md

__all__ = [
    "BUILDERS", "cannot_open", "drifted", "finding_label", "finding_summary", "flagged_cell", "header",
    "joined", "no_results", "overview_caption", "period_help", "read_only", "report_button", "report_caption",
    "sidebar_user", "subheader", "summary_text", "text", "ticket_heading", "ticket_notice", "ticket_title",
]


def text(value: Any) -> str:
    """A stored value alone (a metric value, an alert's whole text, an error message)."""
    return md(value)


def joined(values: Iterable[Any]) -> str:
    """Stored values separated by commas."""
    return ", ".join(md(v) for v in values)


def header(title: str, period: Any) -> str:
    """A page header with its period: ``Findings · 2025Q3``."""
    return f"{title} · {md(period)}"


def subheader(name: Any, device_id: Any) -> str:
    """The overview's device heading: ``Name (device-id)``."""
    return f"{md(name)} ({md(device_id)})"


def sidebar_user(name: Any, role: Any) -> str:
    """The signed-in user in the sidebar, name in bold."""
    return f"**{md(name)}** · {md(role)}"


def cannot_open(error: Any) -> str:
    return f"Cannot open the database: {md(error)}"


def drifted(features: Iterable[Any], *, prefix: str) -> str:
    """``prefix: feature, feature``."""
    return f"{prefix}: {joined(features)}"


def overview_caption(current: dict[str, Any]) -> str:
    """The run line under the overview's key figures."""
    return (f"Run {md(current['run_id'])} · analysed {current['analysed_at']:%Y-%m-%d %H:%M} UTC · data cut-off "
            f"{current['data_cutoff']:%Y-%m-%d %H:%M} UTC · model version(s) {joined(current['model_versions'])} "
            f"· {current['predictions']:,} predictions, {current['with_ground_truth']:,} with ground truth · "
            f"{current['insufficient']} strata with too few cases to test")


def summary_text(finding: dict[str, Any]) -> str:
    """What a finding found, from its numeric evidence, as plain text (for a table cell)."""
    e = finding["evidence"]
    if finding["kind"] == "performance":
        family = {"confirmatory": "confirmatory, ", "exploratory": "exploratory (signal to investigate), "}.get(
            e.get("family") or "", "")
        provisional = (f", provisional ({e['expected_share']:.0%} of expected labels)"
                       if e.get("provisional") and e.get("expected_share") is not None
                       else ", provisional" if e.get("provisional") else "")
        return (f"shortfall shown: {e['estimate']:.1%} [{e['ci_low']:.1%}, {e['ci_high']:.1%}] vs claim "
                f"{e['claim']:.0%} (goal {e['performance_goal']:.0%}), {e['successes']}/{e['trials']}, "
                f"{family}adjusted p = {e['q_value']:.2g}{provisional}")
    first = e.get("first_alarm") or {}
    if first.get("known_on"):
        return (f"CUSUM alarm on {first['known_on']} (case {first['case_index']:,} of the chart, "
                f"{len(e.get('alarms') or [first])} in the period; h = {e['h']:.2f}, ARL0 = {e['arl0']:,.0f})")
    return (f"CUSUM alarm at case {e['first_alarm_case_in_period']} of {e['cases_in_period']} in the period "
            f"(undated; h = {e['h']:.2f}, ARL0 = {e['arl0']:,.0f})")


def finding_summary(finding: dict[str, Any]) -> str:
    """:func:`summary_text` for Markdown."""
    return md(summary_text(finding))


def finding_label(finding: dict[str, Any]) -> str:
    """A finding's expander label: ``kind: metric in stratum → ticket``."""
    return (f"{md(finding['kind'])}: {md(finding['metric'])} in {md(finding['stratum'])} → "
            f"{md(finding['ticket_id'] or 'no ticket')}")


def no_results(metric: Any, rows: Any, columns: Any, period: Any) -> str:
    return (f"No stored {md(metric)} results for {md(rows)} × {md(columns)} in {md(period)} "
            f"(the device may not monitor this intersection).")


def flagged_cell(metric: Any, cell: Any) -> str:
    """A heat-map cell with a shortfall shown, its stratum in bold (its family and a provisional outcome
    named when the run has them)."""
    family = getattr(cell, "family", None)
    provisional = getattr(cell, "provisional", None)
    share = getattr(cell, "expected_share", None)
    tail = f", {md(family)}" if isinstance(family, str) else ""
    if provisional is not None and provisional == provisional and bool(provisional):  # NaN: not stated
        tail += f", provisional ({share:.0%} of expected labels)" if isinstance(share, float) else ", provisional"
    return (f"Shortfall shown: {md(metric)} in **{md(cell.stratum)}**: {cell.estimate:.1%} "
            f"[{cell.ci_low:.1%}, {cell.ci_high:.1%}] vs claim {cell.claim:.0%}, "
            f"{cell.successes}/{cell.trials}, adjusted p = {cell.q_value:.2g}{tail}")


def period_help(period: Any) -> str:
    return f"Strata of {md(period)}; those with a shortfall shown are listed first."


def report_button(fmt: Any, language: Any) -> str:
    """A report download button: ``JSON · en``."""
    return f"{md(str(fmt).upper())} · {md(language or '—')}"


def report_caption(name: Any, sha256: Any, created_at: Any) -> str:
    return f"{md(name)} · sha256 {md(str(sha256)[:16])}… · written {created_at:%Y-%m-%d %H:%M} UTC"


def ticket_heading(ticket: dict[str, Any]) -> str:
    return f"{md(ticket['ticket_id'])} · {md(ticket['status'])}"


def ticket_title(ticket: dict[str, Any]) -> str:
    """A ticket's title (built from the stratum's attribute values)."""
    return md(ticket["title"])


def ticket_notice(ticket_id: Any, target: Any | None = None) -> str:
    """What a write from the dashboard did."""
    return f"{md(ticket_id)} moved to {md(target)}." if target is not None else "Comment added."


def read_only(role: Any) -> str:
    return f"Read only: role {md(role)} cannot change tickets."


#: Every builder with a sample of its arguments (the unit test substitutes a hostile value for each).
BUILDERS = ("text", "joined", "header", "subheader", "sidebar_user", "cannot_open", "drifted", "overview_caption",
            "finding_summary", "finding_label", "no_results", "flagged_cell", "period_help", "report_button",
            "report_caption", "ticket_heading", "ticket_title", "ticket_notice", "read_only")
