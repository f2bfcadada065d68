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

from matplotlib import pyplot as plt
from matplotlib.figure import Figure

__all__ = ["cusum_ratio_chart", "forest_plot", "trend_chart"]

_STYLE = {
    "font.family": ["sans-serif"],
    "font.sans-serif": ["Noto Sans CJK SC", "Noto Serif CJK SC", "DejaVu Sans"],
    "font.size": 8,
    "axes.unicode_minus": False,
}
_RED, _GREY, _BLUE, _ORANGE = "#c0392b", "#7f8c8d", "#2b5797", "#d68910"


DPI = 200


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None}, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


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
