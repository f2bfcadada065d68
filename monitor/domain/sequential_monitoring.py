"""Sequential monitoring: Bernoulli CUSUM charts case by case, EWMA charts period by period.

**CUSUM** (per model version, per monitored stratum): misses among confirmed positives (the
sensitivity chart) and false positives among confirmed negatives (the specificity chart), in the
order the AI results were produced, from the model version's first prediction (a new model version
restarts its charts). In control the event rate is the claimed one (1 - claim); each chart is designed
for a rise of ``cusum_drop`` (default: the claim's margin), with the threshold h chosen for the target
in-control run length ``cusum_arl0``; the expected detection delay (ARL1) is reported beside it. After
an alarm the chart restarts at 0. Cases arrive in chunks and each chart carries its statistic across
chunks, using the closed form of the Lindley recursion, S_t = C_t - min(-S_0, min_{k<=t} C_k), where C
is the running sum of the log-likelihood-ratio weights: vectorised, exact.

**EWMA** (overall and single strata): the per-period rate of each claimed metric, with exact
time-varying limits around the claim (unequal period sizes).

References
----------
Reynolds MR Jr, Stoumbos ZG. J Qual Technol 1999;31:87-108 (Bernoulli CUSUM).
Page ES. Biometrika 1954;41:100-115. Lucas JM, Saccucci MS. Technometrics 1990;32:1-12 (EWMA).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from monitor.domain.device import DeviceConfig
from monitor.domain.evaluation import stratum_counts
from monitor.domain.grouping import monitored_groupings
from monitor.domain.strata import StratumDefinition
from monitor.stats.metrics import metric_fraction
from monitor.stats.sequential import bernoulli_cusum_weights, design_bernoulli_cusum, ewma_proportion_chart

__all__ = ["CusumMonitor", "advance_cusum", "chart_arl0", "chart_volumes", "ewma_by_stratum"]

PERIODS_PER_YEAR = {"quarter": 4, "month": 12, "year": 1}

#: metric -> (label of the cases it watches, call that counts as an event)
_WATCHED = {"sensitivity": (1, 0), "specificity": (0, 1)}


def advance_cusum(weights: np.ndarray, *, start: float, h: float) -> tuple[float, list[int]]:
    """Run a CUSUM over ``weights`` from statistic ``start``; return the final statistic and the
    positions of alarms (the chart restarts at 0 after each)."""
    alarms: list[int] = []
    offset, state = 0, float(start)
    while offset < len(weights):
        running = np.cumsum(weights[offset:])
        statistic = running - np.minimum(-state, np.minimum.accumulate(running))
        hits = np.flatnonzero(statistic >= h)
        if hits.size == 0:
            return float(statistic[-1]), alarms
        alarms.append(offset + int(hits[0]))
        offset, state = offset + int(hits[0]) + 1, 0.0
    return state, alarms


DESIGN_GRID = 4_000


@lru_cache(maxsize=256)
def _design(p0: float, p1: float, arl0: float):  # type: ignore[no-untyped-def]
    """The chart design for ``arl0``; at extreme volumes (ARL0 of 10^9 cases and more) the exact chain
    (:func:`design_bernoulli_cusum`) cannot resolve the target, and the largest ARL0 it resolves on the
    grid (halving) is used: the chart then reports that ``arl0``, and its false-alarm share is larger
    than the budget asked for (docs/methods.md, section 17)."""
    target = arl0
    while True:
        try:
            return design_bernoulli_cusum(p0, p1, arl0=target, grid=DESIGN_GRID)
        except ValueError:
            if target <= 1000.0:
                raise
            target /= 2.0


def _arl0_grid(value: float) -> float:
    """Round an ARL0 up to the grid 1000 * 2**k, so that few distinct designs are needed."""
    k = max(0, int(np.ceil(np.log2(max(value, 1000.0) / 1000.0) - 1e-9)))
    return float(1000 * 2**k)


def chart_arl0(volume_per_year: float, charts: int, config: DeviceConfig) -> float:
    """In-control ARL0 of one chart: its yearly volume spread over the yearly false-alarm budget
    shared by ``charts`` charts (at least ``cusum_arl0``), on a coarse grid."""
    rules = config.monitoring
    target = volume_per_year * charts / rules.cusum_false_alarms_per_year if volume_per_year > 0 else 0.0
    return _arl0_grid(max(target, rules.cusum_arl0))


class CusumMonitor:
    """The CUSUM charts of one model version, fed with chunks of confirmed cases in time order.

    ``volumes`` gives each chart's expected cases per year, keyed by ``(stratum key, metric)``; with
    the false-alarm budget it sets each chart's ARL0 (see :func:`chart_arl0`).
    """

    def __init__(self, config: DeviceConfig, model_version: str, volumes: dict[tuple[str, str], float]) -> None:
        self.config = config
        self.model_version = model_version
        self.volumes = volumes
        self.charts: dict[tuple[str, str], dict[str, Any]] = {}

    def _chart(self, stratum: StratumDefinition, metric: str) -> dict[str, Any] | None:
        key = (stratum.key, metric)
        if key not in self.charts:
            claim = self.config.claims.claim_for(metric, stratum)  # type: ignore[arg-type]
            if claim is None:
                self.charts[key] = {}
                return None
            drop = self.config.monitoring.cusum_drop or claim.margin
            p0 = round(1.0 - claim.value, 6)
            p1 = round(min(p0 + drop, 0.999), 6)
            arl0 = chart_arl0(self.volumes.get(key, 0.0), max(len(self.volumes), 1), self.config)
            design = _design(p0, p1, arl0)
            w_event, w_other = bernoulli_cusum_weights(p0, p1)
            self.charts[key] = {
                "stratum": stratum, "metric": metric, "p0": p0, "p1": p1, "h": float(design.h),
                "arl0": float(design.arl0), "arl1": float(design.arl1), "w": (w_event, w_other),
                "statistic": 0.0, "cases": 0, "cases_in_period": 0, "events_in_period": 0, "alarms": [],
            }
        return self.charts[key] or None

    def update(self, chunk: pd.DataFrame, *, in_period: bool) -> None:
        """Feed the next confirmed cases (stratum labels, ``label``, ``predicted_label``), in time order."""
        if chunk.empty:
            return
        labels = chunk["label"].to_numpy()
        calls = chunk["predicted_label"].to_numpy()
        for grouping in monitored_groupings(self.config):
            if grouping:
                groups = chunk.groupby(list(grouping), sort=False, observed=True).indices
            else:
                groups = {(): np.arange(len(chunk))}
            for key, positions in groups.items():
                values = key if isinstance(key, tuple) else (key,)
                stratum = StratumDefinition.of(dict(zip(grouping, map(str, values), strict=True)))
                for metric, (watched_label, event_call) in _WATCHED.items():
                    rows = positions[labels[positions] == watched_label]  # keeps time order
                    if rows.size == 0:
                        continue
                    chart = self._chart(stratum, metric)
                    if chart is None:
                        continue
                    events = calls[rows] == event_call
                    weights = np.where(events, chart["w"][0], chart["w"][1])
                    chart["statistic"], alarms = advance_cusum(weights, start=chart["statistic"], h=chart["h"])
                    if in_period:
                        chart["alarms"] += [chart["cases_in_period"] + a for a in alarms]
                        chart["cases_in_period"] += int(rows.size)
                        chart["events_in_period"] += int(events.sum())
                    chart["cases"] += int(rows.size)

    def results(self) -> list[dict[str, Any]]:
        """One row per chart: design, current statistic and the alarms raised in the period."""
        rows = []
        for chart in self.charts.values():
            if not chart:
                continue
            rows.append({
                "model_version": self.model_version, "stratum": chart["stratum"].key,
                "level": chart["stratum"].level, "metric": chart["metric"],
                "in_control_event_rate": chart["p0"], "designed_event_rate": chart["p1"], "h": chart["h"],
                "arl0": chart["arl0"], "detection_delay": chart["arl1"], "cases_since_start": chart["cases"],
                "cases_in_period": chart["cases_in_period"], "events_in_period": chart["events_in_period"],
                "statistic": chart["statistic"], "alarms_in_period": len(chart["alarms"]),
                "first_alarm_case_in_period": chart["alarms"][0] + 1 if chart["alarms"] else None,
            })
        rows.sort(key=lambda r: (r["level"], r["stratum"], r["metric"]))
        return rows


def chart_volumes(cells: pd.DataFrame, config: DeviceConfig, model_version: str, *, periods_per_year: float
                  ) -> dict[tuple[str, str], float]:
    """Expected confirmed cases per year of every chart, from the current period's counts."""
    volumes: dict[tuple[str, str], float] = {}
    for c in stratum_counts(cells.loc[cells["model_version"].astype(str) == model_version], config):
        for metric in _WATCHED:
            if config.claims.claim_for(metric, c.stratum) is None:  # type: ignore[arg-type]
                continue
            cases = c.tp + c.fn if metric == "sensitivity" else c.tn + c.fp
            volumes[(c.stratum.key, metric)] = float(cases) * periods_per_year
    return volumes


def ewma_by_stratum(history: list[tuple[str, pd.DataFrame]], config: DeviceConfig) -> list[dict[str, Any]]:
    """EWMA of each claimed metric's per-period rate, overall and per single stratum.

    ``history`` is ``[(period label, cell table), ...]`` oldest first; the last entry is the current period.
    """
    rules = config.monitoring
    series: dict[tuple[str, str, str], dict[str, Any]] = {}
    labels = [label for label, _ in history]
    for position, (_, cells) in enumerate(history):
        for c in stratum_counts(cells, config):
            if c.stratum.level > 1:
                continue
            for metric in ("sensitivity", "specificity", "ppv", "npv"):
                claim = config.claims.claim_for(metric, c.stratum)  # type: ignore[arg-type]
                if claim is None:
                    continue
                s, n = metric_fraction(metric, c.tp, c.fp, c.fn, c.tn)
                item = series.setdefault((c.model_version, c.stratum.key, metric), {
                    "level": c.stratum.level, "claim": claim.value,
                    "successes": np.zeros(len(history), dtype=np.int64),
                    "trials": np.zeros(len(history), dtype=np.int64)})
                item["successes"][position], item["trials"][position] = int(s), int(n)
    rows = []
    for (model_version, stratum, metric), item in series.items():
        present = item["trials"] > 0
        if not present.any():
            continue
        chart = ewma_proportion_chart(item["successes"][present], item["trials"][present], p0=item["claim"],
                                      lam=rules.ewma_lambda, L=rules.ewma_limit)
        periods = [p for p, keep in zip(labels, present, strict=True) if keep]
        below = [periods[i] for i in np.flatnonzero(np.asarray(chart.statistic) < np.asarray(chart.lower))]
        rows.append({
            "model_version": model_version, "stratum": stratum, "level": item["level"], "metric": metric,
            "claim": item["claim"], "lambda": rules.ewma_lambda, "L": rules.ewma_limit, "periods": periods,
            "rates": [float(s / n) for s, n in zip(item["successes"][present], item["trials"][present], strict=True)],
            "ewma": [float(v) for v in chart.statistic], "lower": [float(v) for v in chart.lower],
            "upper": [float(v) for v in chart.upper], "periods_below_lower_limit": below,
        })
    rows.sort(key=lambda r: (r["model_version"], r["level"], r["stratum"], r["metric"]))
    return rows
