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
_RED, _GREY, _BLUE = "#c0392b", "#7f8c8d", "#2b5797"


DPI = 200


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None}, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def forest_plot(rows: Sequence[dict[str, Any]], *, title: str, claim_label: str, goal_label: str) -> bytes:
    """Estimates with intervals per stratum (one row each) against the claim and performance goal.

    ``rows`` carry ``label``, ``estimate``, ``ci_low``, ``ci_high``, ``claim``, ``performance_goal`` and
    ``status`` (flagged rows are red, insufficient-evidence rows grey).
    """
    with plt.rc_context(_STYLE):
        height = 0.9 + 0.24 * max(len(rows), 1)
        fig, ax = plt.subplots(figsize=(7.0, height))
        for i, row in enumerate(rows):
            y = len(rows) - 1 - i
            colour = _RED if row["status"] == "flagged" else _GREY if row["status"] == "insufficient" else _BLUE
            if _finite(row["ci_low"]) and _finite(row["ci_high"]):
                ax.plot([row["ci_low"], row["ci_high"]], [y, y], color=colour, lw=1.4)
            if _finite(row["estimate"]):
                ax.plot([row["estimate"]], [y], "o", color=colour, ms=4)
            if _finite(row.get("claim")):
                ax.plot([row["claim"]] * 2, [y - 0.4, y + 0.4], color="black", lw=0.8)
            if _finite(row.get("performance_goal")):
                ax.plot([row["performance_goal"]] * 2, [y - 0.4, y + 0.4], color=_RED, lw=0.8, ls="--")
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels([r["label"] for r in reversed(rows)])
        ax.plot([], [], color="black", lw=0.8, label=claim_label)
        ax.plot([], [], color=_RED, lw=0.8, ls="--", label=goal_label)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08 - 0.6 / height), fontsize=7, frameon=False, ncol=2)
        ax.set_title(title, fontsize=9)
        ax.grid(axis="x", color="#dddddd", lw=0.5)
        return _png(fig)


def trend_chart(periods: Sequence[str], *, rates: Sequence[float], ewma: Sequence[float], lower: Sequence[float],
                upper: Sequence[float], claim: float, title: str, labels: dict[str, str]) -> bytes:
    """Per-period observed rate, its EWMA and the EWMA control band, with the claim as centre line."""
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(7.0, 2.6))
        x = list(range(len(periods)))
        ax.fill_between(x, list(lower), list(upper), color=_BLUE, alpha=0.12, label=labels["band"])
        ax.plot(x, list(rates), "o-", color=_GREY, lw=1, ms=3, label=labels["rate"])
        ax.plot(x, list(ewma), "s-", color=_BLUE, lw=1.4, ms=3, label=labels["ewma"])
        ax.axhline(claim, color="black", lw=0.8, label=labels["claim"])
        ax.set_xticks(x)
        ax.set_xticklabels(list(periods))
        ax.set_title(title, fontsize=9)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), fontsize=7, frameon=False, ncol=4)
        ax.grid(axis="y", color="#dddddd", lw=0.5)
        return _png(fig)


def cusum_ratio_chart(rows: Sequence[dict[str, Any]], *, title: str, threshold_label: str) -> bytes:
    """Horizontal bars of each alarmed chart's statistic over its threshold h (1 = threshold)."""
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(7.0, 0.9 + 0.28 * max(len(rows), 1)))
        ratios = [r["statistic"] / r["h"] if r["h"] else 0.0 for r in rows]
        y = list(range(len(rows)))[::-1]
        ax.barh(y, ratios, color=_RED, height=0.6)
        ax.axvline(1.0, color="black", lw=0.8, ls="--", label=threshold_label)
        ax.set_yticks(y)
        ax.set_yticklabels([r["label"] for r in rows])
        ax.set_title(title, fontsize=9)
        ax.legend(loc="lower right", fontsize=7, frameon=False)
        return _png(fig)
