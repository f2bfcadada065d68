"""Altair charts of the dashboard, built from the read model's frames (no data access here)."""

from __future__ import annotations

import altair as alt
import pandas as pd

__all__ = ["GRAMMAR", "MARKS", "TESTED", "VERDICTS", "cusum_chart", "drift_chart", "drift_frame", "drift_ratio",
           "drift_title", "drift_verdicts", "heatmap", "heatmap_frame", "trend_chart"]

#: The one visual grammar of the figures, the report's (monitor/adapters/rendering/charts.py ``GRAMMAR``, same
#: values; a test checks they agree): claim black solid, performance goal red dashed, the line a rule decides
#: on (CUSUM h, effect-size floor, alpha) grey dotted, alarms red triangles, estimates blue.
GRAMMAR: dict[str, dict[str, object]] = {
    "claim": {"colour": "#000000", "dash": [], "width": 0.9},
    "goal": {"colour": "#c0392b", "dash": [4, 2], "width": 0.9},
    "threshold": {"colour": "#555555", "dash": [1.5, 1.5], "width": 1.0},
    "alarm": {"colour": "#c0392b", "marker": "v"},
    "estimate": {"colour": "#2b5797"},
}


def _rule(kind: str) -> dict[str, object]:
    """Altair mark properties of a reference line in the grammar's style."""
    style = GRAMMAR[kind]
    props: dict[str, object] = {"color": style["colour"], "strokeWidth": float(style["width"]) * 1.5}  # type: ignore[arg-type]
    if style["dash"]:
        props["strokeDash"] = [float(d) * 2 for d in style["dash"]]  # type: ignore[union-attr]
    return props

#: Half-width of the diverging colour scale (difference from the claim, in proportion points).
COLOUR_LIMIT = 0.10
#: Outcomes reached by a test: the decision rule's three, and ``ok`` of documents stored before it.
TESTED = ("flagged", "conforming", "inconclusive", "ok")
#: The mark each outcome adds to a heat-map cell's estimate.
MARKS = {"flagged": " ⚑", "inconclusive": " ?", "conforming": " ✓"}


def _provisional(frame: pd.DataFrame) -> list[bool]:
    column = frame["provisional"] if "provisional" in frame else pd.Series([None] * len(frame), index=frame.index)
    return [bool(p) if pd.notna(p) else False for p in column]


def heatmap_frame(grid: pd.DataFrame) -> pd.DataFrame:
    """The grid with the texts and marks the heat map draws: estimate and n per cell, marked with the
    rule's outcome (⚑ shortfall shown, ? inconclusive, ✓ conformity shown); cells that were not tested
    (too few cases) keep no colour and are marked ``low n``; a provisional outcome says so."""
    frame = grid.copy()
    tested = frame["status"].isin(TESTED)
    frame["colour"] = frame["difference"].where(tested)
    frame["label"] = [
        (f"{e:.1%}" if pd.notna(e) else "—") + MARKS.get(s, "")
        for e, s in zip(frame["estimate"], frame["status"], strict=True)]
    frame["n_label"] = [(f"n={int(n)}" + ("" if s in TESTED else " · low n") + (" · provisional" if p else ""))
                        if s != "no_data" else "no data"
                        for n, s, p in zip(frame["trials"], frame["status"], _provisional(frame), strict=True)]
    frame["interval"] = [f"[{lo:.1%}, {hi:.1%}]" if pd.notna(lo) else ""
                         for lo, hi in zip(frame["ci_low"], frame["ci_high"], strict=True)]
    return frame


def heatmap(grid: pd.DataFrame, *, rows: str, columns: str, metric: str) -> alt.LayerChart:
    """Cells coloured by estimate minus claim on a diverging scale centred at 0 (red: below the claim);
    untested cells grey with a dashed border, a shortfall shown with a thick black border, an inconclusive
    outcome with a dotted one."""
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
    tooltip += [alt.Tooltip(f"{c}:N") for c in ("family", "provisional") if c in frame]
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
    inconclusive = base.transform_filter(alt.datum.status == "inconclusive").mark_rect(
        fill=None, stroke="#555", strokeDash=[2, 2], strokeWidth=2.5).encode(tooltip=tooltip)
    estimate = base.mark_text(baseline="bottom", dy=-1, fontSize=13, fontWeight="bold").encode(text="label:N")
    count = base.mark_text(baseline="top", dy=3, fontSize=11).encode(text="n_label:N")
    return alt.layer(cells, untested, flagged, inconclusive, estimate, count).properties(height=max(60 * len(row_order), 160))


def trend_chart(estimates: pd.DataFrame, ewma: pd.DataFrame) -> alt.LayerChart:
    """Estimate per period with its confidence band, the claim and performance goal, and (when the
    stratum has one) the EWMA of the per-period rate with its control limits and its centre line (the
    reference level the chart is centred on)."""
    order = list(dict.fromkeys([*ewma["period"], *estimates["period"]]))
    x = alt.X("period:N", sort=order, title="period", axis=alt.Axis(labelAngle=0))
    scale = alt.Scale(zero=False)
    blue = str(GRAMMAR["estimate"]["colour"])
    band = alt.Chart(estimates).mark_area(opacity=0.25, color=blue).encode(
        x=x, y=alt.Y("ci_low:Q", scale=scale, title="proportion"), y2="ci_high:Q")
    line = alt.Chart(estimates).mark_line(point=True, color=blue).encode(
        x=x, y=alt.Y("estimate:Q", scale=scale),
        tooltip=["period", alt.Tooltip("estimate:Q", format=".3f"), alt.Tooltip("ci_low:Q", format=".3f"),
                 alt.Tooltip("ci_high:Q", format=".3f"), "successes", "trials", "status"])
    claim = alt.Chart(estimates.dropna(subset=["claim"]).head(1)).mark_rule(**_rule("claim")).encode(
        y="claim:Q", tooltip=[alt.Tooltip("claim:Q", format=".3f", title="claim")])
    goal = alt.Chart(estimates.dropna(subset=["goal"]).head(1)).mark_rule(**_rule("goal")).encode(
        y="goal:Q", tooltip=[alt.Tooltip("goal:Q", format=".3f", title="performance goal (claim - margin)")])
    layers: list[alt.Chart] = [band, line, claim, goal]
    if not ewma.empty:
        if "reference" in ewma and ewma["reference"].notna().any():
            layers.append(alt.Chart(ewma.head(1)).mark_rule(color="#ff7f0e", opacity=0.8).encode(
                y="reference:Q", tooltip=[alt.Tooltip("reference:Q", format=".3f", title="EWMA centre (reference)"),
                                          alt.Tooltip("reference_source:N", title="reference from")]))
        layers.append(alt.Chart(ewma).mark_line(color="#ff7f0e", strokeDash=[4, 2]).encode(
            x=x, y="ewma:Q", tooltip=["period", alt.Tooltip("ewma:Q", format=".4f")]))
        layers.append(alt.Chart(ewma).mark_line(color="#ff7f0e", opacity=0.6, interpolate="step-after").encode(
            x=x, y="lower:Q"))
        layers.append(alt.Chart(ewma).mark_line(color="#ff7f0e", opacity=0.6, interpolate="step-after").encode(
            x=x, y="upper:Q"))
    return alt.layer(*layers).properties(height=320)


def cusum_chart(cusum: pd.DataFrame) -> alt.LayerChart:
    """The CUSUM statistic per period against its decision limit h; a period with an alarm is a red bar as
    high as the statistic reached at its alarm (after an alarm the chart restarts, so the value at the
    period's end alone would look in control), with the alarm dates in the tooltip."""
    frame = cusum.copy()
    peak = frame["peak"] if "peak" in frame else pd.Series([None] * len(frame), index=frame.index)
    frame["shown"] = [p if pd.notna(p) else s for p, s in zip(peak, frame["statistic"], strict=True)]
    frame["alarmed"] = frame["alarms"].fillna(0).astype(int) > 0
    if "alarm_dates" not in frame:
        frame["alarm_dates"] = ""
    x = alt.X("period:N", sort=list(frame["period"]), title="period", axis=alt.Axis(labelAngle=0))
    bars = alt.Chart(frame).mark_bar().encode(
        x=x, y=alt.Y("shown:Q", title="CUSUM statistic (at alarm, else at period end)"),
        color=alt.Color("alarmed:N", title="alarm in period",
                        scale=alt.Scale(domain=[False, True], range=[str(GRAMMAR["estimate"]["colour"]),
                                                                     str(GRAMMAR["alarm"]["colour"])])),
        tooltip=["period", alt.Tooltip("statistic:Q", format=".3f", title="statistic at period end"),
                 alt.Tooltip("shown:Q", format=".3f", title="statistic shown"), alt.Tooltip("h:Q", format=".3f"),
                 "alarms", alt.Tooltip("alarm_dates:N", title="alarm dates"), "cases"])
    limit = alt.Chart(frame).mark_tick(color=str(GRAMMAR["threshold"]["colour"]), thickness=3, size=60).encode(
        x=x, y="h:Q", tooltip=[alt.Tooltip("h:Q", format=".3f", title="decision limit h")])
    return alt.layer(bars, limit).properties(height=220)


VERDICTS = ["drifted", "not drifted", "no reference", "not compared"]


def drift_verdicts(drift: pd.DataFrame) -> list[str]:
    """Each drift row's verdict: ``drifted``/``not drifted``, or ``no reference`` (never "not drifted")
    when there was nothing to compare with (``not compared`` when the period had no case)."""
    reasons = drift["reason"] if "reason" in drift else pd.Series([None] * len(drift), index=drift.index)
    return [("not compared" if r == "no_current_cases" else "no reference") if d is None or pd.isna(d)
            else "drifted" if bool(d) else "not drifted"
            for d, r in zip(drift["drifted"].astype(object), reasons, strict=True)]


#: Methods whose ``value`` is a p-value (drift when it is *below* the threshold).
P_VALUE_METHODS = ("two-proportion-z", "chisquare")


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and pd.notna(value) else None


def drift_ratio(row: dict[str, object]) -> float | None:
    """How far a drift row is towards its verdict, 1 = at the line that decides it: a distance over its
    threshold; for a test (value = p-value) its |effect size| over the effect-size floor that decided,
    or, for a row stored before the floor, the threshold over the p-value. A p-value over its threshold
    is never drawn as a long bar (0.63 / 0.05 would look like strong drift)."""
    value, threshold = _number(row.get("value")), _number(row.get("threshold"))
    if row.get("method") in P_VALUE_METHODS:
        effect, floor = _number(row.get("effect_size")), _number(row.get("effect_floor"))
        if effect is not None and floor:
            return abs(effect) / floor
        return threshold / value if value and threshold is not None else None
    return value / threshold if value is not None and threshold else None


#: The short reason of each verdict, as the rule states it (monitor.domain.data_drift REASONS).
WHY = {
    "distance_reached_threshold": "distance {effect} ≥ threshold {floor}",
    "distance_below_threshold": "distance {effect} below threshold {floor}",
    "significant_effect_reached_floor": "p {p} < {alpha} and |effect| {effect} ≥ floor {floor}",
    "significant_effect_below_floor": "p {p} < {alpha} but |effect| {effect} below floor {floor}",
    "not_significant": "p {p} ≥ {alpha} (|effect| {effect}, floor {floor})",
}


def _p(value: float | None) -> str:
    return "–" if value is None else f"{value:.1e}" if value < 1e-4 else f"{value:.4f}"  # "p 1.9e-22 < 0.05"


def _why(row: dict[str, object], verdict: str) -> str:
    reason = row.get("reason")
    if not isinstance(reason, str) or reason not in WHY:
        return verdict
    effect, floor = _number(row.get("effect_size")), _number(row.get("effect_floor"))
    tested = row.get("method") in P_VALUE_METHODS
    effect = effect if effect is not None or tested else _number(row.get("value"))
    floor = floor if floor is not None or tested else _number(row.get("threshold"))
    text = WHY[reason].format(effect="–" if effect is None else f"{abs(effect):.4f}",
                              floor="–" if floor is None else f"{floor:g}",
                              p=_p(_number(row.get("value"))), alpha=f"{_number(row.get('threshold')) or 0:g}")
    return f"{verdict}: {text}"


def drift_frame(drift: pd.DataFrame) -> pd.DataFrame:
    """The drift rows as the figure draws them: ``verdict``, ``effect_ratio`` (|effect size| over the floor
    that decides it; a distance is its own effect and its threshold its floor), ``p_value`` and ``alpha``
    (tests only; NaN for a distance), ``why`` (the verdict with the condition that decided it) and
    ``label`` (feature · reference)."""
    reference = drift["reference"].fillna("preceding") if "reference" in drift else "preceding"
    frame = drift.assign(verdict=drift_verdicts(drift), reference=reference)
    records = frame.to_dict("records")
    frame["effect_ratio"] = [drift_ratio(r) for r in records]
    tested = [r.get("method") in P_VALUE_METHODS for r in records]
    frame["p_value"] = [_number(r.get("value")) if t else None for r, t in zip(records, tested, strict=True)]
    frame["alpha"] = [_number(r.get("threshold")) if t else None for r, t in zip(records, tested, strict=True)]
    frame["p_value"] = frame["p_value"].astype(float)
    frame["alpha"] = frame["alpha"].astype(float)
    frame["why"] = [_why(r, v) for r, v in zip(records, frame["verdict"], strict=True)]
    frame["label"] = frame["feature"] + " · " + frame["reference"]
    frame["text"] = [v if v in ("no reference", "not compared") else "" for v in frame["verdict"]]
    return frame


def drift_title(drift: pd.DataFrame) -> str:
    """The headline the figure stands under, from the verdicts themselves."""
    verdicts = drift_verdicts(drift)
    drifted = list(dict.fromkeys(f for f, v in zip(drift["feature"], verdicts, strict=True) if v == "drifted"))
    compared = sum(v in ("drifted", "not drifted") for v in verdicts)
    if not drifted:
        return f"No feature drifted ({compared} comparisons against a reference with cases)"
    count = sum(v == "drifted" for v in verdicts)
    return f"{count} of {compared} comparisons drifted: {', '.join(map(str, drifted))}"


def drift_chart(drift: pd.DataFrame) -> alt.HConcatChart:
    """Each comparison (feature · reference window) against the rule that decides it, one row each, coloured by
    the verdict: left, |effect size| over its floor (a distance over its threshold) with the floor at 1;
    right, for the tests only, the p-value on a log scale with its alpha. Drift needs the effect at or past
    its floor and, for a test, p below alpha; so a bar past the floor of a row that did not drift shows its
    p-value right of alpha. The verdict sentence says which condition decided; a row without a reference
    has no mark and says so."""
    frame = drift_frame(drift)
    y = alt.Y("label:N", sort=list(frame["label"]), title=None, axis=alt.Axis(labelLimit=320))
    colour = alt.Color("verdict:N", title="verdict", scale=alt.Scale(
        domain=VERDICTS, range=[str(GRAMMAR["alarm"]["colour"]), str(GRAMMAR["estimate"]["colour"]), "#bbbbbb",
                                "#dddddd"]))
    tooltip: list[object] = [f"{c}:N" for c in ("feature", "reference", "reference_periods", "method") if c in frame]
    tooltip += ["why:N"] + [alt.Tooltip(f"{c}:Q", format=".4g") for c in ("effect_size", "effect_floor") if c in frame]
    tooltip += [alt.Tooltip("p_value:Q", format=".4g", title="p"), alt.Tooltip("alpha:Q", title="alpha")]
    tooltip += [f"{c}:Q" for c in ("reference_n", "current_n") if c in frame]
    base = alt.Chart(frame).encode(y=y)
    height = max(34 * len(frame), 120)
    effect = alt.layer(
        base.mark_bar().encode(x=alt.X("effect_ratio:Q", title="|effect size| / its floor (distance / threshold)"),
                               color=colour, tooltip=tooltip),
        base.mark_text(align="left", dx=4, color="#555").encode(x=alt.value(0), text="text:N"),
        alt.Chart(pd.DataFrame({"effect_ratio": [1.0]})).mark_rule(**_rule("threshold")).encode(x="effect_ratio:Q"),
    ).properties(width=300, height=height, title="effect size against its floor")
    tests = frame.dropna(subset=["p_value"])
    p_base = alt.Chart(tests).encode(y=alt.Y("label:N", sort=list(frame["label"]), title=None,
                                             axis=alt.Axis(labels=False, ticks=False)))
    p_panel = alt.layer(
        p_base.mark_point(filled=True, size=70).encode(
            x=alt.X("p_value:Q", title="p-value (tests only; log scale)",
                    scale=alt.Scale(type="log", domain=[1e-6, 1], clamp=True)), color=colour, tooltip=tooltip),
        p_base.mark_tick(thickness=2, size=22, **{k: v for k, v in _rule("threshold").items() if k == "color"}
                         ).encode(x="alpha:Q", tooltip=[alt.Tooltip("alpha:Q", title="alpha")]),
    ).properties(width=220, height=height, title="p against alpha")
    why = alt.Chart(frame).mark_text(align="left", baseline="middle", color="#333", limit=420).encode(
        y=alt.Y("label:N", sort=list(frame["label"]), title=None, axis=alt.Axis(labels=False, ticks=False)),
        x=alt.value(4), text="why:N", tooltip=tooltip).properties(
        width=330, height=height, title="verdict (the condition that decided)")
    return alt.hconcat(effect, p_panel, why, spacing=6).resolve_scale(y="shared", color="shared")
