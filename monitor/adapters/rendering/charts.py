"""The report's figures, drawn with matplotlib (Agg) as PNG at print resolution.

Labels use a CJK-capable font (Noto Sans CJK SC through fontconfig; if matplotlib's font cache predates
the fonts, delete ``~/.cache/matplotlib``). Empty metadata (no software tag, no date) makes
the same data give the same bytes. PNG rather than SVG: WeasyPrint lays out a
bitmap in milliseconds but needs seconds for a text-as-path SVG.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.ticker
from matplotlib import pyplot as plt
from matplotlib.figure import Figure

__all__ = ["GRAMMAR", "cusum_path_chart", "cusum_path_input", "cusum_ratio_chart", "forest_plot", "stratum_trend_chart",
           "stratum_trend_input", "trend_chart"]

_STYLE = {
    "font.family": ["sans-serif"],
    "font.sans-serif": ["Noto Sans CJK SC", "Noto Serif CJK SC", "DejaVu Sans"],
    "font.size": 8,
    "axes.unicode_minus": False,
}
_RED, _GREY, _BLUE, _ORANGE = "#c0392b", "#7f8c8d", "#2b5797", "#d68910"

#: The figures' one visual grammar, shared with the dashboard (dashboards/charts.py ``GRAMMAR``, same values;
#: tests/unit/adapters/rendering/test_charts_figures.py checks they agree): what a line or mark means is
#: always drawn the same way. ``dash`` is the on/off pattern in points (empty: solid).
GRAMMAR: dict[str, dict[str, Any]] = {
    "claim": {"colour": "#000000", "dash": [], "width": 0.9},               # the registered claim
    "goal": {"colour": _RED, "dash": [4, 2], "width": 0.9},                 # the performance goal (claim - margin)
    "threshold": {"colour": "#555555", "dash": [1.5, 1.5], "width": 1.0},   # the line a rule decides on: h, floor, alpha
    "alarm": {"colour": _RED, "marker": "v"},                               # a CUSUM alarm, an EWMA outside its limits
    "estimate": {"colour": _BLUE},                                          # estimates, intervals, the statistic's path
}


def _line(ax: Any, kind: str, value: float, *, label: str | None = None, vertical: bool = False) -> None:
    """A reference line in the grammar's style (claim, goal or threshold)."""
    style = GRAMMAR[kind]
    draw = ax.axvline if vertical else ax.axhline
    line = draw(value, color=style["colour"], lw=style["width"], label=label)
    if style["dash"]:
        line.set_dashes(style["dash"])


DPI = 200


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None}, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def _small_multiples_png(fig: Figure, axes: Any, drawn: int, title: str) -> bytes:
    """Finish a grid of small multiples: hide the unused axes, one legend for all panels (each label once) under
    them, the title above; the PNG."""
    for ax in list(axes.flat)[drawn:]:
        ax.set_visible(False)
    seen: dict[str, Any] = {}
    for ax in list(axes.flat)[:drawn]:
        for handle, name in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(name, handle)
    fig.legend(list(seen.values()), list(seen), loc="lower center", ncol=4, fontsize=7, frameon=False,
               bbox_to_anchor=(0.5, -0.01))
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0.06, 1, 0.97))
    return _png(fig)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


#: Colour of each decision outcome in the figures (the old rule's ``ok`` reads as not decided).
STATUS_COLOURS = {"flagged": _RED, "conforming": _BLUE, "inconclusive": _ORANGE, "insufficient": _GREY,
                  "not_tested": _GREY, "ok": _GREY}


def forest_plot(rows: Sequence[dict[str, Any]], *, title: str, claim_label: str, goal_label: str,
                status_labels: dict[str, str] | None = None, provisional_label: str | None = None) -> bytes:
    """Estimates with intervals per stratum (one row each) against the claim and performance goal.

    ``rows`` carry ``label``, ``estimate``, ``ci_low``, ``ci_high``, ``claim``, ``performance_goal``,
    ``status`` and optionally ``provisional``. The colour is the rule's outcome (shortfall red, conformity
    blue, inconclusive orange, insufficient grey, each named in the legend when ``status_labels`` gives
    its text); a provisional outcome has a hollow marker.
    """
    with plt.rc_context(_STYLE):
        height = 0.9 + 0.24 * max(len(rows), 1)
        fig, ax = plt.subplots(figsize=(7.0, height))
        for i, row in enumerate(rows):
            y = len(rows) - 1 - i
            colour = STATUS_COLOURS.get(row["status"], _GREY)
            if _finite(row["ci_low"]) and _finite(row["ci_high"]):
                ax.plot([row["ci_low"], row["ci_high"]], [y, y], color=colour, lw=1.4)
            if _finite(row["estimate"]):
                hollow = bool(row.get("provisional"))
                ax.plot([row["estimate"]], [y], "o", color=colour, ms=4, mfc="white" if hollow else colour)
            if _finite(row.get("claim")):
                ax.plot([row["claim"]] * 2, [y - 0.4, y + 0.4], color="black", lw=0.8)
            if _finite(row.get("performance_goal")):
                ax.plot([row["performance_goal"]] * 2, [y - 0.4, y + 0.4], color=_RED, lw=0.8, ls="--")
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels([r["label"] for r in reversed(rows)])
        ax.plot([], [], color="black", lw=0.8, label=claim_label)
        ax.plot([], [], color=_RED, lw=0.8, ls="--", label=goal_label)
        shown = [s for s in STATUS_COLOURS if s in {r["status"] for r in rows}]
        for status in shown if status_labels else []:
            ax.plot([], [], "o-", color=STATUS_COLOURS[status], lw=1.4, ms=4, label=status_labels[status])
        if provisional_label and any(r.get("provisional") for r in rows):
            ax.plot([], [], "o", color=_GREY, mfc="white", ms=4, label=provisional_label)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08 - 0.6 / height), fontsize=7, frameon=False, ncol=3)
        ax.set_title(title, fontsize=9)
        ax.grid(axis="x", color="#dddddd", lw=0.5)
        return _png(fig)


def trend_chart(periods: Sequence[str], *, rates: Sequence[float | None], ewma: Sequence[float | None],
                lower: Sequence[float | None], upper: Sequence[float | None], claim: float | None, title: str,
                labels: dict[str, str], reference: float | None = None,
                out_of_control: Sequence[str] = ()) -> bytes:
    """Per-period observed rate, its EWMA and the EWMA control band around the chart's centre line.

    The centre line is ``reference`` (the level the EWMA is centred on: the model version's established
    level or a configured one) when given, else the claim (documents written before the reference
    existed); the claim is drawn too when it differs. Periods in ``out_of_control`` (EWMA outside its
    limits) get a red marker, so a chart that left its band never looks in control.
    """
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(7.0, 2.6))
        x = list(range(len(periods)))
        nan = [v if _finite(v) else math.nan for v in (*lower, *upper, *rates, *ewma)]
        lo, hi = nan[:len(x)], nan[len(x):2 * len(x)]
        ax.fill_between(x, lo, hi, color=_BLUE, alpha=0.12, label=labels["band"])
        ax.plot(x, nan[2 * len(x):3 * len(x)], "o-", color=_GREY, lw=1, ms=3, label=labels["rate"])
        ax.plot(x, nan[3 * len(x):], "s-", color=_BLUE, lw=1.4, ms=3, label=labels["ewma"])
        centre = reference if _finite(reference) else claim
        if _finite(centre):
            ax.axhline(centre, color=_BLUE, lw=0.8, ls="-.", label=labels.get("reference", labels["claim"])
                       if _finite(reference) else labels["claim"])
        if _finite(reference) and _finite(claim) and abs(reference - claim) > 1e-12:
            ax.axhline(claim, color="black", lw=0.8, label=labels["claim"])
        alarmed = [i for i, p in enumerate(periods) if p in set(out_of_control) and _finite(ewma[i])]
        if alarmed:
            ax.plot(alarmed, [ewma[i] for i in alarmed], "s", color=_RED, ms=6, label=labels.get("outside", "!"))
        ax.set_xticks(x)
        ax.set_xticklabels(list(periods))
        ax.set_title(title, fontsize=9)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), fontsize=7, frameon=False, ncol=3)
        ax.grid(axis="y", color="#dddddd", lw=0.5)
        return _png(fig)


def cusum_ratio_chart(rows: Sequence[dict[str, Any]], *, title: str, threshold_label: str,
                      peak_label: str | None = None, end_label: str | None = None) -> bytes:
    """Each alarmed chart's CUSUM relative to its threshold h (1 = threshold).

    ``rows`` carry ``label``, ``h``, ``statistic`` (the value at the period's end) and optionally
    ``peak`` (the highest value reached at an alarm in the period) and ``dates`` (text naming the alarm
    dates). The bar is the peak when there is one: a chart that restarted after its alarm ends the
    period low, and a bar of its end value alone would look in control. The end value is a dot.
    """
    with plt.rc_context(_STYLE):
        height = 1.1 + 0.34 * max(len(rows), 1)
        fig, ax = plt.subplots(figsize=(7.0, height))
        y = list(range(len(rows)))[::-1]
        ends = [r["statistic"] / r["h"] if r["h"] and _finite(r["statistic"]) else 0.0 for r in rows]
        peaks = [(r["peak"] / r["h"] if r.get("peak") is not None and r["h"] else end) for r, end in zip(rows, ends,
                                                                                                     strict=True)]
        ax.barh(y, peaks, color=_RED, height=0.6, label=peak_label)
        if end_label:
            ax.plot(ends, y, "o", color="black", ms=3.5, label=end_label)
        for yy, peak, row in zip(y, peaks, rows, strict=True):
            if row.get("dates"):
                ax.text(peak + 0.02, yy, row["dates"], va="center", fontsize=6.5)
        ax.axvline(1.0, color="black", lw=0.8, ls="--", label=threshold_label)
        ax.set_xlim(0, max([*peaks, *ends, 1.0]) * 1.45)
        ax.set_yticks(y)
        ax.set_yticklabels([r["label"] for r in rows])
        ax.set_title(title, fontsize=9)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1 - 0.5 / height), fontsize=7, frameon=False, ncol=3)
        return _png(fig)


# --- issue 16: CUSUM charts as S_t against h over the period, trends of the flagged strata ---------------

def cusum_path_input(chart: dict[str, Any]) -> dict[str, Any] | None:
    """What the CUSUM figure draws of one chart (``sequential.cusum`` entry with its recorded ``path``): the
    days, the statistic at each day's end (``end``; the step line) and the highest it reached that day
    (``max``; a whisker where it is higher), the statistic before the segment (``start``), the threshold
    ``h`` and the alarms as ``(day, statistic reached)``. None for a chart without a recorded path (a
    document written before issue 16)."""
    path = chart.get("path")
    if not isinstance(path, dict) or not path.get("days"):
        return None
    alarms = [(a["known_on"], float(a["statistic"])) for a in chart.get("alarms") or []
              if isinstance(a, dict) and _finite(a.get("statistic"))]
    return {"days": list(path["days"]), "end": [float(v) for v in path["end"]],
            "max": [float(v) for v in path["max"]], "start": float(chart.get("statistic_at_segment_start") or 0.0),
            "h": float(chart["h"]), "alarms": alarms, "segment_start": str(chart.get("segment_start_utc") or "")[:10],
            "segment_end": str(chart.get("segment_end_utc") or "")[:10]}


def _day(text: str) -> Any:
    from datetime import date

    return date.fromisoformat(text)


def cusum_path_chart(panels: Sequence[dict[str, Any]], *, title: str, labels: dict[str, str]) -> bytes:
    """One small multiple per chart: the CUSUM statistic S_t over the period's days (step line of each day's
    end value, a whisker up to the day's highest value), the threshold h, and each alarm as a marker at the
    value reached, dated; after an alarm the line restarts near 0, as the chart does.

    ``panels`` carry ``title`` and the fields of :func:`cusum_path_input`; ``labels`` give ``statistic``,
    ``h``, ``alarm`` and ``day_peak`` (legend texts)."""
    from datetime import timedelta

    import matplotlib.dates as mdates

    columns = 1 if len(panels) <= 2 else 2
    rows = math.ceil(len(panels) / columns)
    with plt.rc_context(_STYLE):
        fig, axes = plt.subplots(rows, columns, figsize=(7.0, 0.5 + 1.75 * rows), squeeze=False)
        blue, alarm = GRAMMAR["estimate"]["colour"], GRAMMAR["alarm"]
        for ax, panel in zip(axes.flat, panels, strict=False):
            days = [_day(d) for d in panel["days"]]
            first = _day(panel["segment_start"]) if panel.get("segment_start") else days[0] - timedelta(days=1)
            last = _day(panel["segment_end"]) if panel.get("segment_end") else days[-1] + timedelta(days=1)
            x = [min(first, days[0]), *days, max(last, days[-1])]  # from the segment's start to its end
            ax.step(x, [panel["start"], *panel["end"], panel["end"][-1]], where="post", color=blue, lw=1.1,
                    label=labels["statistic"])
            peaks = [(d, lo, hi) for d, lo, hi in zip(days, panel["end"], panel["max"], strict=True) if hi > lo + 1e-9]
            if peaks:
                ax.vlines([p[0] for p in peaks], [p[1] for p in peaks], [p[2] for p in peaks], color=blue, lw=0.6,
                          alpha=0.7, label=labels["day_peak"])
            _line(ax, "threshold", panel["h"], label=labels["h"])
            ax.annotate(f"h = {panel['h']:.2f}", (0.0, panel["h"]), xycoords=("axes fraction", "data"),
                        textcoords="offset points", xytext=(3, 2), ha="left", va="bottom", fontsize=6,
                        color=GRAMMAR["threshold"]["colour"])
            if panel["alarms"]:
                ax.plot([_day(d) for d, _ in panel["alarms"]], [v for _, v in panel["alarms"]], alarm["marker"],
                        color=alarm["colour"], ms=5, label=labels["alarm"])
                for d, v in panel["alarms"][:4]:
                    ax.annotate(d[5:], (_day(d), v), textcoords="offset points", xytext=(0, 5), ha="center",
                                fontsize=6, color=alarm["colour"])
            top = max([panel["h"], *panel["max"], *(v for _, v in panel["alarms"])])
            ax.set_ylim(-0.04 * top, top * 1.28)  # a chart sitting at 0 stays visible above the axis
            ax.set_xlim(x[0], x[-1] + timedelta(days=3))  # room for the last alarm's date
            ax.set_title(panel["title"], fontsize=7.5)
            ax.xaxis.set_major_locator(mdates.MonthLocator())
            ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m"))
            ax.grid(axis="y", color="#dddddd", lw=0.5)
            ax.tick_params(labelsize=6.5)
        return _small_multiples_png(fig, axes, len(panels), title)


def stratum_trend_input(series: dict[str, Any]) -> dict[str, Any]:
    """What the trend figure draws of one stratum-metric (a ``trends`` section series): the periods, the
    estimate with its interval per period (None where not estimable), the claim and the performance goal
    (each the latest stated; they are per period in the data), and which periods' outcome was a shortfall."""
    points = series["points"]
    claims = [p["claim"] for p in points if _finite(p.get("claim"))]
    goals = [p["performance_goal"] for p in points if _finite(p.get("performance_goal"))]
    return {"periods": [p["period"] for p in points],
            "estimate": [p["estimate"] if _finite(p.get("estimate")) else None for p in points],
            "ci_low": [p["ci_low"] if _finite(p.get("ci_low")) else None for p in points],
            "ci_high": [p["ci_high"] if _finite(p.get("ci_high")) else None for p in points],
            "claim": claims[-1] if claims else None, "goal": goals[-1] if goals else None,
            "flagged": [p["status"] == "flagged" for p in points]}


def stratum_trend_chart(panels: Sequence[dict[str, Any]], *, title: str, labels: dict[str, str]) -> bytes:
    """One small multiple per flagged (or alarmed) stratum-metric: the estimate per period with its
    confidence interval as a whisker, the claim (black) and the performance goal (red dashed); a period
    whose outcome was a shortfall has a red marker. ``panels`` carry ``title`` and the fields of
    :func:`stratum_trend_input`; ``labels``: ``estimate``, ``claim``, ``goal``, ``flagged``."""
    columns = 1 if len(panels) <= 2 else 2
    rows = math.ceil(len(panels) / columns)
    with plt.rc_context(_STYLE):
        fig, axes = plt.subplots(rows, columns, figsize=(7.0, 0.5 + 1.8 * rows), squeeze=False)
        blue, red = GRAMMAR["estimate"]["colour"], GRAMMAR["alarm"]["colour"]
        for ax, panel in zip(axes.flat, panels, strict=False):
            x = list(range(len(panel["periods"])))
            for i, (lo, hi) in enumerate(zip(panel["ci_low"], panel["ci_high"], strict=True)):
                if lo is not None and hi is not None:
                    ax.plot([i, i], [lo, hi], color=red if panel["flagged"][i] else blue, lw=1.3)
            shown = [(i, e) for i, e in enumerate(panel["estimate"]) if e is not None]
            ax.plot([i for i, _ in shown], [e for _, e in shown], "-", color=blue, lw=0.8)
            ax.plot([i for i, _ in shown], [e for _, e in shown], "o", color=blue, ms=3.5, label=labels["estimate"])
            bad = [(i, e) for i, e in shown if panel["flagged"][i]]
            if bad:
                ax.plot([i for i, _ in bad], [e for _, e in bad], "o", color=red, ms=4.5, label=labels["flagged"])
            if _finite(panel["claim"]):
                _line(ax, "claim", panel["claim"], label=labels["claim"])
            if _finite(panel["goal"]):
                _line(ax, "goal", panel["goal"], label=labels["goal"])
            values = [v for v in (*panel["ci_low"], *panel["ci_high"], panel["claim"], panel["goal"]) if _finite(v)]
            if values:
                pad = max(0.01, 0.08 * (max(values) - min(values)))
                ax.set_ylim(max(0.0, min(values) - pad), min(1.0, max(values) + pad))
            ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
            ax.set_xticks(x)
            ax.set_xticklabels(panel["periods"])
            ax.set_xlim(-0.5, len(x) - 0.5)
            ax.set_title(panel["title"], fontsize=7.5)
            ax.grid(axis="y", color="#dddddd", lw=0.5)
            ax.tick_params(labelsize=6.5)
        return _small_multiples_png(fig, axes, len(panels), title)
