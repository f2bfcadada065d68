"""The FROC figure of the lesion section (block 058_lesions): lesion sensitivity against mean false positives per
scan, one curve per model version (the overall rows of analysis.lesions), the predefined FP rates marked, the
operating point drawn. Drawn like every report figure (:mod:`monitor.adapters.rendering.charts`)."""

from __future__ import annotations

import base64
from typing import Any

from matplotlib import pyplot as plt

from monitor.adapters.rendering import charts
from monitor.adapters.rendering.i18n import _message

__all__ = ["froc_chart", "froc_figure"]


def froc_chart(curves: list[dict[str, Any]], *, rates: list[float], title: str, labels: dict[str, str]) -> bytes:
    """PNG of the FROC curves: ``curves`` carry ``label``, ``points`` (fp_per_scan, sensitivity) from the highest
    threshold down, and ``operating`` (fp_per_scan, sensitivity) or None; x on a log2 scale over the rates."""
    with plt.rc_context(charts._STYLE):
        fig, ax = plt.subplots(figsize=(5.2, 3.0))
        for curve in curves:
            xs = [0.0] + [p[0] for p in curve["points"]]
            ys = [0.0] + [p[1] for p in curve["points"]]
            ax.step(xs, ys, where="post", color=charts.GRAMMAR["estimate"]["colour"], lw=1.2, label=curve["label"])
            if curve["operating"] is not None:
                ax.plot(*curve["operating"], "o", color=charts._RED, ms=4, label=labels["operating"])
        for rate in rates:
            ax.axvline(rate, color="#bbbbbb", lw=0.6, ls=":")
        ax.set_xscale("symlog", base=2, linthresh=min(rates) if rates else 0.125)
        ax.set_xlim(0, max([*rates, 1.0]))
        ax.set_xticks(rates)
        ax.set_xticklabels([f"{r:g}" for r in rates])
        ax.set_ylim(0, 1.02)
        ax.set_xlabel(labels["x"])
        ax.set_ylabel(labels["y"])
        ax.set_title(title, fontsize=9)
        ax.grid(axis="y", lw=0.3, color="#dddddd")
        ax.legend(fontsize=7, frameon=False, loc="lower right")
        return charts._png(fig)


def froc_figure(content: dict[str, Any], language: str) -> str | None:
    """The FROC figure of ``content``'s analysis as a data URI; None without a lesion section."""
    section = (content.get("analysis") or {}).get("lesions")
    if not section:
        return None
    lang = "en" if language == "both" else language

    def t(key: str) -> str:
        return _message(lang, key, {})

    curves = []
    for row in section["rows"]:
        if row["level"] != 0 or not row["froc"]:
            continue
        points = [(p["fp_per_scan"], p["sensitivity"]) for p in row["froc"] if p["sensitivity"] is not None]
        estimate = row["lesion_sensitivity"]["estimate"]
        curves.append({"label": row["model_version"], "points": points,
                       "operating": None if estimate is None else (row["fp_per_scan"]["estimate"], estimate)})
    if not curves:
        return None
    png = froc_chart(curves, rates=list(section["fp_per_scan_points"]), title=t("lesions.froc_title"),
                     labels={"x": t("lesions.froc_x"), "y": t("lesions.froc_y"),
                             "operating": t("lesions.operating_point")})
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
