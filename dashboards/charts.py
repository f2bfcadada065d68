"""Altair charts of the dashboard, built from the read model's frames (no data access here)."""

from __future__ import annotations

import altair as alt
import pandas as pd

__all__ = ["cusum_chart", "drift_chart", "heatmap", "heatmap_frame", "trend_chart"]

#: Half-width of the diverging colour scale (difference from the claim, in proportion points).
COLOUR_LIMIT = 0.10
TESTED = ("ok", "flagged")


def heatmap_frame(grid: pd.DataFrame) -> pd.DataFrame:
    """The grid with the texts and marks the heat map draws: estimate and n per cell; cells that were
    not tested (too few cases) keep no colour and are marked ``low n``; flagged cells are marked."""
    frame = grid.copy()
    tested = frame["status"].isin(TESTED)
    frame["colour"] = frame["difference"].where(tested)
    frame["label"] = [
        (f"{e:.1%}" if pd.notna(e) else "—") + (" ⚑" if s == "flagged" else "")
        for e, s in zip(frame["estimate"], frame["status"], strict=True)]
    frame["n_label"] = [f"n={int(n)}" + ("" if s in TESTED else " · low n") if s != "no_data" else "no data"
                        for n, s in zip(frame["trials"], frame["status"], strict=True)]
    frame["interval"] = [f"[{lo:.1%}, {hi:.1%}]" if pd.notna(lo) else ""
                         for lo, hi in zip(frame["ci_low"], frame["ci_high"], strict=True)]
    return frame


def heatmap(grid: pd.DataFrame, *, rows: str, columns: str, metric: str) -> alt.LayerChart:
    """Cells coloured by estimate minus claim on a diverging scale centred at 0 (red: below the claim);
    untested cells grey with a dashed border, flagged cells with a thick black border."""
    frame = heatmap_frame(grid)
    row_order = list(dict.fromkeys(frame["row"]))
    column_order = list(dict.fromkeys(frame["column"]))
    base = alt.Chart(frame).encode(
        x=alt.X("column:N", sort=column_order, title=columns, axis=alt.Axis(labelAngle=0, orient="top")),
        y=alt.Y("row:N", sort=row_order, title=rows),
    )
    tooltip = [alt.Tooltip("stratum:N"), alt.Tooltip("estimate:Q", format=".3f"), alt.Tooltip("interval:N"),
               alt.Tooltip("claim:Q", format=".2f"), alt.Tooltip("difference:Q", format="+.3f"),
               alt.Tooltip("successes:Q"), alt.Tooltip("trials:Q"), alt.Tooltip("q_value:Q", format=".3g"),
               alt.Tooltip("status:N")]
    cells = base.mark_rect(stroke="#555", strokeWidth=0.5).encode(
        color=alt.Color("colour:Q", title=f"{metric} − claim",
                        scale=alt.Scale(scheme="redblue", domain=[-COLOUR_LIMIT, COLOUR_LIMIT], domainMid=0,
                                        clamp=True),
                        legend=alt.Legend(format="+.0%")),
        tooltip=tooltip,
    )
    untested = base.transform_filter(alt.FieldOneOfPredicate(field="status", oneOf=["insufficient", "no_data",
                                                                                     "not_tested"])
                                     ).mark_rect(fill="#d9d9d9", stroke="#777", strokeDash=[4, 3], strokeWidth=1.5
                                                 ).encode(tooltip=tooltip)
    flagged = base.transform_filter(alt.datum.status == "flagged").mark_rect(
        fill=None, stroke="black", strokeWidth=4).encode(tooltip=tooltip)
    estimate = base.mark_text(baseline="bottom", dy=-1, fontSize=13, fontWeight="bold").encode(text="label:N")
    count = base.mark_text(baseline="top", dy=3, fontSize=11).encode(text="n_label:N")
    return alt.layer(cells, untested, flagged, estimate, count).properties(height=max(60 * len(row_order), 160))


def trend_chart(estimates: pd.DataFrame, ewma: pd.DataFrame) -> alt.LayerChart:
    """Estimate per period with its confidence band, the claim and performance goal, and (when the
    stratum has one) the EWMA of the per-period rate with its control limits."""
    order = list(dict.fromkeys([*ewma["period"], *estimates["period"]]))
    x = alt.X("period:N", sort=order, title="period", axis=alt.Axis(labelAngle=0))
    scale = alt.Scale(zero=False)
    band = alt.Chart(estimates).mark_area(opacity=0.25, color="#4c78a8").encode(
        x=x, y=alt.Y("ci_low:Q", scale=scale, title="proportion"), y2="ci_high:Q")
    line = alt.Chart(estimates).mark_line(point=True, color="#4c78a8").encode(
        x=x, y=alt.Y("estimate:Q", scale=scale),
        tooltip=["period", alt.Tooltip("estimate:Q", format=".3f"), alt.Tooltip("ci_low:Q", format=".3f"),
                 alt.Tooltip("ci_high:Q", format=".3f"), "successes", "trials", "status"])
    claim = alt.Chart(estimates.dropna(subset=["claim"]).head(1)).mark_rule(color="black", strokeDash=[6, 3]
                                                                            ).encode(y="claim:Q")
    goal = alt.Chart(estimates.dropna(subset=["goal"]).head(1)).mark_rule(color="#d62728", strokeDash=[2, 2]
                                                                          ).encode(y="goal:Q")
    layers: list[alt.Chart] = [band, line, claim, goal]
    if not ewma.empty:
        layers.append(alt.Chart(ewma).mark_line(color="#ff7f0e", strokeDash=[4, 2]).encode(
            x=x, y="ewma:Q", tooltip=["period", alt.Tooltip("ewma:Q", format=".4f")]))
        layers.append(alt.Chart(ewma).mark_line(color="#ff7f0e", opacity=0.6, interpolate="step-after").encode(
            x=x, y="lower:Q"))
        layers.append(alt.Chart(ewma).mark_line(color="#ff7f0e", opacity=0.6, interpolate="step-after").encode(
            x=x, y="upper:Q"))
    return alt.layer(*layers).properties(height=320)


def cusum_chart(cusum: pd.DataFrame) -> alt.LayerChart:
    """The CUSUM statistic at the end of each period against its decision limit h."""
    x = alt.X("period:N", sort=list(cusum["period"]), title="period", axis=alt.Axis(labelAngle=0))
    bars = alt.Chart(cusum).mark_bar(color="#9467bd").encode(
        x=x, y=alt.Y("statistic:Q", title="CUSUM statistic"),
        tooltip=["period", alt.Tooltip("statistic:Q", format=".3f"), alt.Tooltip("h:Q", format=".3f"),
                 "alarms", "cases"])
    limit = alt.Chart(cusum).mark_tick(color="#d62728", thickness=3, size=60).encode(
        x=x, y="h:Q", tooltip=[alt.Tooltip("h:Q", format=".3f", title="decision limit h")])
    return alt.layer(bars, limit).properties(height=220)


def drift_chart(drift: pd.DataFrame) -> alt.LayerChart:
    """Each feature's drift statistic as a share of its threshold (1 = at the threshold)."""
    frame = drift.assign(ratio=drift["value"] / drift["threshold"])
    base = alt.Chart(frame).encode(y=alt.Y("feature:N", sort=list(frame["feature"]), title=None))
    bars = base.mark_bar().encode(
        x=alt.X("ratio:Q", title="statistic / threshold"),
        color=alt.Color("drifted:N", scale=alt.Scale(domain=[False, True], range=["#4c78a8", "#d62728"])),
        tooltip=["feature", "method", alt.Tooltip("value:Q", format=".4f"), "threshold", "drifted",
                 "reference_n", "current_n"])
    rule = alt.Chart(pd.DataFrame({"ratio": [1.0]})).mark_rule(color="black", strokeDash=[6, 3]).encode(x="ratio:Q")
    return alt.layer(bars, rule).properties(height=max(28 * len(frame), 120))
