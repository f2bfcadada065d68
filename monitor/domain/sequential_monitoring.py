"""Sequential monitoring: Bernoulli CUSUM charts case by case, EWMA charts period by period
(docs/sequential.md).

**CUSUM** (per model version, per monitored stratum): misses among confirmed positives (the
sensitivity chart) and false positives among confirmed negatives (the specificity chart), **in the order
the outcomes became known to the service**: a case enters when both its prediction and its current label
had been ingested (the later of the two ingestion instants; ties by clinical time, then row id). A later
data cut-off therefore only appends cases: an alarm once raised keeps its case, its position and its date
(corrections of a label and retractions of a prediction are the exception, see docs/sequential.md). A
period's segment of a chart is the cases that became known in the period's window (up to the cut-off);
each alarm is dated by the instant its case became known (calendar date in the device time zone, and
UTC) and placed by its case index since the chart's start.

Restart rules: a chart starts at 0 with the model version's first known case (a new model version
starts new charts; nothing carries over); after an alarm the chart restarts at 0 with the next case.

In control the event rate is the claimed one (1 - claim); each chart is designed for a rise of
``cusum_drop`` (default: the claim's margin), with the threshold h chosen for the target in-control run
length; the expected detection delay (ARL1) is reported beside it. Under an audit design
(``labels.verification: audit_sample``) the chart sees only the verified cases, whose event rate is the
design's image of the metric's (:func:`charted_rate`, Begg & Greenes 1983): the chart is designed on those
rates, so it is the likelihood-ratio CUSUM of the observed data and the naive (biased) rates never
decide. Cases arrive in chunks and each chart carries its statistic across chunks, using the closed form
of the Lindley recursion, S_t = C_t - min(-S_0, min_{k<=t} C_k), where C is the running sum of the
log-likelihood-ratio weights: vectorised, exact.

**EWMA** (overall and single strata): the per-period rate of each claimed metric, with exact
time-varying limits around a reference level: ``monitoring.ewma_reference``, else the model version's
established level (its first ``monitoring.ewma_reference_periods`` periods pooled), else the claim.

References
----------
Reynolds MR Jr, Stoumbos ZG. J Qual Technol 1999;31:87-108 (Bernoulli CUSUM).
Page ES. Biometrika 1954;41:100-115. Lucas JM, Saccucci MS. Technometrics 1990;32:1-12 (EWMA).
Begg CB, Greenes RA. Biometrics 1983;39:207-215 (verification depending on the test result).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from monitor.domain.device import DeviceConfig
from monitor.domain.evaluation import stratum_counts
from monitor.domain.grouping import monitored_groupings
from monitor.domain.periods import Period
from monitor.domain.strata import StratumDefinition
from monitor.stats.metrics import metric_fraction
from monitor.stats.sequential import (
    bernoulli_cusum_weights,
    design_bernoulli_cusum,
    ewma_proportion_chart,
    rate_among_verified,
    rate_from_verified,
)

__all__ = ["ChartState", "CusumMonitor", "advance_cusum", "advance_lindley", "chart_arl0", "chart_cases",
           "chart_volumes", "charted_rate", "day_edges", "ewma_by_stratum", "path_by_day", "reference_periods",
           "verification_fractions"]

PERIODS_PER_YEAR = {"quarter": 4, "month": 12, "year": 1}

#: metric -> (label of the cases it watches, call that counts as an event)
_WATCHED = {"sensitivity": (1, 0), "specificity": (0, 1)}


def advance_cusum(weights: np.ndarray, *, start: float, h: float) -> tuple[float, list[tuple[int, float]]]:
    """Run a CUSUM over ``weights`` from statistic ``start``; return the final statistic and the alarms as
    ``(position, statistic reached)`` (the chart restarts at 0 after each)."""
    (running, floor), alarms = advance_lindley(weights, running=0.0, floor=-float(start), h=h)
    return running - floor, alarms


def advance_lindley(weights: np.ndarray, *, running: float, floor: float, h: float,
                    trace: list[np.ndarray] | None = None) -> tuple[tuple[float, float], list[tuple[int, float]]]:
    """The closed form of the Lindley recursion, S_t = C_t - min(floor, min_{k<=t} C_k), carried across
    calls: ``running`` is C (the sum of the weights since the last restart, added left to right) and
    ``floor`` the minimum so far (``-S_0`` at a start from S_0; -0.0 at a restart). Return the new pair and
    the alarms as ``(position, statistic reached)``; after an alarm the chart restarts at 0.

    The pair, not S, is the state: feeding the weights in any number of calls adds the same floating-point
    terms in the same order as one call (numpy's cumulative sum is sequential), so a chart resumed from a
    stored pair (a CUSUM checkpoint) gives bit for bit what a replay from its start gives.

    ``trace``, when given, receives the statistic after each case (at an alarming case the value reached,
    before the restart), in pieces that concatenate to one value per weight: arrays the recursion computes
    anyway, so the state and the alarms are the same with or without it."""
    alarms: list[tuple[int, float]] = []
    offset = 0
    limit = h * (1.0 - 1e-9)  # the threshold rule of monitor.stats.sequential (S_t >= h, relative tolerance)
    while offset < len(weights):
        sums = np.cumsum(np.concatenate(([running], weights[offset:])))[1:]
        floors = np.minimum(floor, np.minimum.accumulate(sums))
        statistic = sums - floors
        hits = np.flatnonzero(statistic >= limit)
        if hits.size == 0:
            if trace is not None:
                trace.append(statistic)
            return (float(sums[-1]), float(floors[-1])), alarms
        if trace is not None:
            trace.append(statistic[:hits[0] + 1])
        alarms.append((offset + int(hits[0]), float(statistic[hits[0]])))
        offset, running, floor = offset + int(hits[0]) + 1, 0.0, -0.0
    return (running, floor), alarms


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


#: metric -> (AI call of the chart's events, AI call of its other cases), for the verification design
_EVENT_CALLS = {"sensitivity": (0, 1), "specificity": (1, 0)}


def verification_fractions(config: DeviceConfig) -> dict[int, float] | None:
    """The audit design's verification probability by AI call (1 positive, 0 negative), or None when
    verification is complete."""
    labels = config.labels
    if labels.verification != "audit_sample" or labels.sampling_fractions is None:
        return None
    fractions = labels.sampling_fractions
    return {1: float(fractions.positive_calls), 0: float(fractions.negative_calls)}


def charted_rate(metric: str, event_rate: float, config: DeviceConfig) -> float:
    """The event rate among the cases a chart sees: ``event_rate`` itself under complete verification;
    under an audit design, its image among the verified cases (:func:`rate_among_verified`)."""
    fractions = verification_fractions(config)
    if fractions is None:
        return event_rate
    event_call, other_call = _EVENT_CALLS[metric]
    return float(rate_among_verified(event_rate, fractions[event_call], fractions[other_call]))


def day_edges(segment: tuple[datetime, datetime], timezone: ZoneInfo) -> tuple[np.ndarray, list[str]]:
    """The local days of a segment: the UTC instants (ns) of their midnights in ``timezone``, one more than
    the days (the end of the last), and the days as ISO dates; naive instants are UTC.

    Examples
    --------
    >>> edges, days = day_edges((datetime(2025, 6, 30, 16), datetime(2025, 7, 2, 1)), ZoneInfo("Asia/Shanghai"))
    >>> days, [pd.Timestamp(e, tz="UTC").isoformat() for e in edges][:2]
    (['2025-07-01', '2025-07-02'], ['2025-06-30T16:00:00+00:00', '2025-07-01T16:00:00+00:00'])
    """
    start, end = (pd.Timestamp(t).tz_localize("UTC") if pd.Timestamp(t).tzinfo is None else pd.Timestamp(t)
                  for t in segment)
    first, last = start.tz_convert(timezone).date(), end.tz_convert(timezone).date()
    count = max((last - first).days + 1, 1)
    days = [first + timedelta(days=i) for i in range(count + 1)]
    edges = np.asarray([pd.Timestamp(datetime(d.year, d.month, d.day, tzinfo=timezone)).value for d in days],
                       dtype=np.int64)
    return edges, [d.isoformat() for d in days[:-1]]


def path_by_day(statistic: np.ndarray, alarmed: np.ndarray, day: np.ndarray) -> dict[int, tuple[float, float, int]]:
    """A chart's path over some of its cases, per day: ``{day: (highest statistic reached, statistic after the
    day's last case, cases)}``. ``statistic`` is the value after each case (at an alarm, the value reached),
    ``alarmed`` marks the alarming cases (the chart restarts at 0 after them, so a day ending on an alarm ends
    at 0), ``day`` is each case's day index (cases in the order fed).

    Examples
    --------
    >>> path_by_day(np.array([1.0, 5.2, 0.4, 0.9]), np.array([False, True, False, False]), np.array([0, 0, 1, 1]))
    {0: (5.2, 0.0, 2), 1: (0.9, 0.9, 2)}
    """
    if statistic.size == 0:
        return {}
    after = np.where(alarmed, 0.0, statistic)
    days, inverse = np.unique(day, return_inverse=True)
    highest = np.full(days.size, -np.inf)
    np.maximum.at(highest, inverse, statistic)
    last = np.full(days.size, -1, dtype=np.int64)
    np.maximum.at(last, inverse, np.arange(day.size))
    cases = np.bincount(inverse, minlength=days.size)
    return {int(d): (float(highest[i]), float(after[last[i]]), int(cases[i])) for i, d in enumerate(days)}


#: Decimals of the statistic in a chart's recorded path (a drawing aid; the alarms keep the exact value).
PATH_DECIMALS = 4


def _utc_iso(ns: int) -> str:
    return pd.Timestamp(ns, unit="ns", tz="UTC").isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class ChartState:
    """A chart's state over the cases known before an instant, under its design (a CUSUM checkpoint,
    docs/sequential.md section 1c): the Lindley pair (:func:`advance_lindley`), the cases since the chart's
    start, those that entered by a label correction, and the known-at instant of the last restart."""

    stratum: StratumDefinition
    metric: str
    design: tuple[float, float, float]  # charted in-control rate q0, designed rate q1, threshold h
    running: float
    floor: float
    cases: int
    corrected: int
    restarted_ns: int | None


class CusumMonitor:
    """The CUSUM charts of one model version, fed with chunks of labelled cases in the order they became
    known to the service (``known_at``, :meth:`CaseStreamRepository.known_case_stream`).

    ``volumes`` gives each chart's expected cases per year, keyed by ``(stratum key, metric)``; with
    the false-alarm budget it sets each chart's ARL0 (see :func:`chart_arl0`). ``segment`` is the period's
    known-at window ``[start, end)`` (UTC): cases known in it form the period's segment of each chart;
    ``timezone`` dates the alarms.
    """

    def __init__(self, config: DeviceConfig, model_version: str, volumes: dict[tuple[str, str], float], *,
                 segment: tuple[datetime, datetime], timezone: ZoneInfo,
                 design_basis: str = "cases_known_before_period") -> None:
        self.config = config
        self.model_version = model_version
        self.volumes = volumes
        self.segment = segment
        self.segment_ns = (pd.Timestamp(segment[0]).value, pd.Timestamp(segment[1]).value)
        self.timezone = timezone
        #: the segment's local days (their midnights in UTC ns, and their dates): a chart's path is per day
        self._day_edges, self._days = day_edges(segment, timezone)
        self.charts: dict[tuple[str, str], dict[str, Any]] = {}
        #: where the volumes come from: cases known before the period, or the pre-specified yearly volume
        self.design_basis = design_basis
        #: resumed from a checkpoint: the charts skip the cases known before this instant (ns), except those
        #: in ``_replayed`` (their stored design differs: they are replayed from their start)
        self._resumed_ns: int | None = None
        self._replayed: dict[tuple[str, str], StratumDefinition] = {}

    def _chart(self, stratum: StratumDefinition, metric: str) -> dict[str, Any] | None:
        key = (stratum.key, metric)
        if key not in self.charts:
            self.charts[key] = self._new_chart(stratum, metric)
        return self.charts[key] or None

    def _new_chart(self, stratum: StratumDefinition, metric: str) -> dict[str, Any]:
        """A chart at its start (empty when the metric has no claim in the stratum)."""
        key = (stratum.key, metric)
        claim = self.config.claims.claim_for(metric, stratum)  # type: ignore[arg-type]
        if claim is None:
            return {}
        drop = self.config.monitoring.cusum_drop or claim.margin
        p0 = round(1.0 - claim.value, 6)
        p1 = round(min(p0 + drop, 0.999), 6)
        q0, q1 = round(charted_rate(metric, p0, self.config), 6), round(charted_rate(metric, p1, self.config), 6)
        arl0 = chart_arl0(self.volumes.get(key, 0.0), max(len(self.volumes), 1), self.config)
        design = _design(q0, q1, arl0)
        w_event, w_other = bernoulli_cusum_weights(q0, q1)
        return {
            "stratum": stratum, "metric": metric, "p0": p0, "p1": p1, "q0": q0, "q1": q1, "h": float(design.h),
            "arl0": float(design.arl0), "arl1": float(design.arl1), "w": (w_event, w_other),
            "running": 0.0, "floor": -0.0, "cases": 0, "cases_in_period": 0, "events_in_period": 0, "alarms": [],
            "restarted_ns": None, "corrected": 0, "path_start": None, "path": {},
            "design_basis": self.design_basis if self.volumes.get(key) else "minimum_arl0",
        }

    def resume(self, known_before: datetime, states: list[ChartState]) -> bool:
        """Start from a checkpoint: the charts' states over the cases known before ``known_before`` (at or
        before the segment's start; a chart without a state had no case then). A chart whose stored design
        differs from this period's is replayed from its start instead. Return True when no chart needs the
        cases known before ``known_before`` (the caller then streams only the later ones)."""
        self._resumed_ns = pd.Timestamp(known_before).value
        for state in states:
            key = (state.stratum.key, state.metric)
            chart = self._new_chart(state.stratum, state.metric)
            if not self._same_design(chart, state):
                self._replayed[key] = state.stratum
                continue
            chart.update(running=state.running, floor=state.floor, cases=state.cases, corrected=state.corrected,
                         restarted_ns=state.restarted_ns)
            self.charts[key] = chart
        return not self._replayed

    @staticmethod
    def _same_design(chart: dict[str, Any], state: ChartState) -> bool:
        return bool(chart) and (chart["q0"], chart["q1"], chart["h"]) == state.design

    def designed_as(self, states: list[ChartState]) -> bool:
        """Whether every chart of a checkpoint has this period's design (resuming from it replays none)."""
        return all(self._same_design(self._new_chart(s.stratum, s.metric), s) for s in states)

    @property
    def replayed(self) -> dict[tuple[str, str], StratumDefinition]:
        """The charts resumed from their start instead of the checkpoint (their design changed)."""
        return dict(self._replayed)

    def states(self) -> list[ChartState]:
        """Every chart's state over the cases fed so far (to store as a checkpoint)."""
        return [ChartState(chart["stratum"], chart["metric"], (chart["q0"], chart["q1"], chart["h"]),
                           chart["running"], chart["floor"], chart["cases"], chart["corrected"], chart["restarted_ns"])
                for chart in self.charts.values() if chart]

    def update(self, chunk: pd.DataFrame, feed: str = "all") -> None:
        """Feed the next labelled cases (stratum labels, ``label``, ``predicted_label``, ``known_at`` in ns,
        ``corrected``), in the order they became known; cases known before the segment are the history.

        After :meth:`resume`, ``feed`` says which charts the cases are for: ``all`` (the whole stream: the
        resumed charts skip the cases their checkpoint holds), ``resumed`` (a stream from the checkpoint on:
        every chart but the replayed ones) or ``replayed`` (a stream from the start restricted to the
        replayed charts' cases: only those)."""
        if chunk.empty:
            return
        labels = chunk["label"].to_numpy()
        calls = chunk["predicted_label"].to_numpy()
        known = chunk["known_at"].to_numpy()
        corrected = chunk["corrected"].to_numpy() if "corrected" in chunk else np.zeros(len(chunk), dtype=np.int8)
        for grouping in monitored_groupings(self.config):
            if grouping:
                groups = chunk.groupby(list(grouping), sort=False, observed=True).indices
            else:
                groups = {(): np.arange(len(chunk))}
            for key, positions in groups.items():
                values = key if isinstance(key, tuple) else (key,)
                stratum = StratumDefinition.of(dict(zip(grouping, map(str, values), strict=True)))
                for metric, (watched_label, event_call) in _WATCHED.items():
                    rows = positions[labels[positions] == watched_label]  # keeps the known-at order
                    replayed = (stratum.key, metric) in self._replayed
                    if (feed == "resumed" and replayed) or (feed == "replayed" and not replayed):
                        continue
                    if self._resumed_ns is not None and not replayed:
                        rows = rows[known[rows] >= self._resumed_ns]  # in the checkpoint already
                    if rows.size == 0:
                        continue
                    chart = self._chart(stratum, metric)
                    if chart is None:
                        continue
                    self._advance(chart, rows, calls[rows] == event_call, known[rows], corrected[rows])

    def _advance(self, chart: dict[str, Any], rows: np.ndarray, events: np.ndarray, known: np.ndarray,
                 corrected: np.ndarray) -> None:
        weights = np.where(events, chart["w"][0], chart["w"][1])
        in_period = known >= self.segment_ns[0]
        before = int(rows.size - in_period.sum())  # known-at order: the segment's cases are a suffix
        trace: list[np.ndarray] | None = [] if before < rows.size else None
        previous = chart["running"] - chart["floor"]
        (chart["running"], chart["floor"]), alarms = advance_lindley(weights, running=chart["running"],
                                                                     floor=chart["floor"], h=chart["h"], trace=trace)
        if trace is not None:
            self._record_path(chart, np.concatenate(trace), [p for p, _ in alarms], known, before, previous)
        for position, value in alarms:
            chart["restarted_ns"] = int(known[position])
            if position >= before:
                chart["alarms"].append({
                    "known_ns": int(known[position]), "case_index": chart["cases"] + position + 1,
                    "case_in_period": chart["cases_in_period"] + position - before + 1, "statistic": value})
        chart["cases_in_period"] += int(rows.size) - before
        chart["events_in_period"] += int(events[before:].sum())
        chart["cases"] += int(rows.size)
        chart["corrected"] += int(corrected.sum())

    def _record_path(self, chart: dict[str, Any], statistic: np.ndarray, alarm_positions: list[int],
                     known: np.ndarray, before: int, previous: float) -> None:
        """Add the segment's cases of a chunk (from position ``before``) to the chart's daily path; the
        statistic at the segment's start is the one before its first case (``previous``: before the chunk)."""
        alarmed = np.zeros(statistic.size, dtype=bool)
        alarmed[alarm_positions] = True
        if chart["path_start"] is None:
            chart["path_start"] = previous if before == 0 else (0.0 if alarmed[before - 1] else
                                                                float(statistic[before - 1]))
        day = np.clip(np.searchsorted(self._day_edges, known[before:], side="right") - 1, 0, len(self._days) - 1)
        for index, (highest, end, cases) in path_by_day(statistic[before:], alarmed[before:], day).items():
            kept = chart["path"].get(index)
            chart["path"][index] = (highest, end, cases) if kept is None else (max(kept[0], highest), end,
                                                                                kept[2] + cases)

    def _path(self, chart: dict[str, Any]) -> dict[str, list[Any]]:
        """The chart's recorded path in the period's segment, one entry per local day with cases."""
        days = sorted(chart["path"])
        return {"days": [self._days[d] for d in days],
                "max": [round(chart["path"][d][0], PATH_DECIMALS) for d in days],
                "end": [round(chart["path"][d][1], PATH_DECIMALS) for d in days],
                "cases": [chart["path"][d][2] for d in days]}

    def _alarm(self, alarm: dict[str, Any]) -> dict[str, Any]:
        moment = pd.Timestamp(alarm["known_ns"], unit="ns", tz="UTC")
        return {"known_on": moment.tz_convert(self.timezone).date().isoformat(), "known_at_utc": _utc_iso(alarm["known_ns"]),
                "case_index": alarm["case_index"], "case_in_period": alarm["case_in_period"],
                "statistic": alarm["statistic"]}

    def results(self) -> list[dict[str, Any]]:
        """One row per chart: design, current statistic and the dated alarms raised in the period's segment."""
        verification = self.config.labels.verification
        start, end = (_utc_iso(ns) for ns in self.segment_ns)
        rows = []
        for chart in self.charts.values():
            if not chart:
                continue
            alarms = [self._alarm(a) for a in chart["alarms"]]
            rows.append({
                "model_version": self.model_version, "stratum": chart["stratum"].key,
                "level": chart["stratum"].level, "metric": chart["metric"], "order": "known_at",
                "verification": verification,
                "in_control_event_rate": chart["p0"], "designed_event_rate": chart["p1"],
                "charted_in_control_event_rate": chart["q0"], "charted_designed_event_rate": chart["q1"],
                "h": chart["h"], "arl0": chart["arl0"], "detection_delay": chart["arl1"],
                "design_basis": chart["design_basis"],
                "segment_start_utc": start, "segment_end_utc": end, "cases_since_start": chart["cases"],
                "cases_in_period": chart["cases_in_period"], "events_in_period": chart["events_in_period"],
                "corrected_labels": chart["corrected"],
                "statistic": chart["running"] - chart["floor"], "alarms_in_period": len(alarms), "alarms": alarms,
                "first_alarm": alarms[0] if alarms else None,
                "restarted_at_utc": _utc_iso(chart["restarted_ns"]) if chart["restarted_ns"] is not None else None,
                "statistic_at_segment_start": round(chart["path_start"] if chart["path_start"] is not None
                                                    else chart["running"] - chart["floor"], PATH_DECIMALS),
                "path": self._path(chart),
            })
        rows.sort(key=lambda r: (r["level"], r["stratum"], r["metric"]))
        return rows


def prespecified_volumes(config: DeviceConfig) -> dict[tuple[str, str], float]:
    """Every chart of the configuration (monitored strata its labels enumerate x claimed sensitivity and
    specificity) at ``monitoring.cusum_cases_per_year``: the design of a period with no cases known before
    it. Taking each chart at the device's whole volume is conservative (a larger ARL0) for small strata."""
    from monitor.domain.families import enumerated_strata

    per_year = float(config.monitoring.cusum_cases_per_year or 0.0)
    return {(stratum.key, metric): per_year for stratum in enumerated_strata(config)
            for metric in ("sensitivity", "specificity")
            if config.claims.claim_for(metric, stratum) is not None}  # type: ignore[arg-type]


def chart_volumes(cells: pd.DataFrame, config: DeviceConfig, model_version: str, *, periods_per_year: float
                  ) -> dict[tuple[str, str], float]:
    """Expected confirmed cases per year of every chart, from the current period's counts."""
    return volumes_from_cases(chart_cases(cells, config, model_version), periods_per_year)


def chart_cases(cells: pd.DataFrame, config: DeviceConfig, model_version: str) -> dict[tuple[str, str], int]:
    """Confirmed cases of every chart (stratum key, metric) of ``model_version`` in the confusion ``cells``."""
    counted: dict[tuple[str, str], int] = {}
    for c in stratum_counts(cells.loc[cells["model_version"].astype(str) == model_version], config):
        for metric in _WATCHED:
            if config.claims.claim_for(metric, c.stratum) is None:  # type: ignore[arg-type]
                continue
            counted[(c.stratum.key, metric)] = int(c.tp + c.fn if metric == "sensitivity" else c.tn + c.fp)
    return counted


def volumes_from_cases(cases: dict[tuple[str, str], int], periods_per_year: float) -> dict[tuple[str, str], float]:
    """Each chart's yearly volume: its cases times the periods per year (:func:`chart_volumes`)."""
    return {key: float(n) * periods_per_year for key, n in cases.items()}


#: metric -> (AI call of its successes, AI call of its failures): PPV and NPV are sampled within one call
_SUCCESS_CALLS = {"sensitivity": (1, 0), "specificity": (0, 1), "ppv": (1, 1), "npv": (0, 0)}


def _pooled(cells: pd.DataFrame | None, config: DeviceConfig) -> dict[tuple[str, str, str], tuple[int, int]]:
    pooled: dict[tuple[str, str, str], tuple[int, int]] = {}
    if cells is None or cells.empty:
        return pooled
    for c in stratum_counts(cells, config, max_level=1):
        for metric in _SUCCESS_CALLS:
            s, n = metric_fraction(metric, c.tp, c.fp, c.fn, c.tn)
            pooled[(c.model_version, c.stratum.key, metric)] = (int(s), int(n))
    return pooled


def ewma_by_stratum(history: list[tuple[str, pd.DataFrame]], config: DeviceConfig,
                    established: dict[str, tuple[list[str], pd.DataFrame]] | None = None) -> list[dict[str, Any]]:
    """EWMA of each claimed metric's per-period rate, overall and per single stratum, centred on a
    reference level.

    ``history`` is ``[(period label, cell table), ...]`` oldest first; the last entry is the current period.
    The centre line (and start value) is, in this order: ``monitoring.ewma_reference`` when set
    (``configured``); the model version's established level, the metric pooled over the cells of its first
    ``monitoring.ewma_reference_periods`` periods given in ``established`` (model version -> (period labels,
    cell table); ``established``); else the claim (``claim``: level not yet established, or an established
    level of 0 or 1, on which no binomial limits can be set).

    Under an audit design (``labels.verification: audit_sample``) the chart runs on the verified cases,
    whose success share is the design's image of the metric (:func:`rate_among_verified`), centred on the
    image of the reference; the rates, statistic, limits and reference are reported mapped back to the
    metric's scale (:func:`rate_from_verified`, the Begg-Greenes corrected rate; monotone, so the alarms
    are unchanged). PPV and NPV are sampled at random within one call and need no mapping.
    """
    rules = config.monitoring
    fractions = verification_fractions(config)
    series: dict[tuple[str, str, str], dict[str, Any]] = {}
    labels = [label for label, _ in history]
    for position, (_, cells) in enumerate(history):
        for c in stratum_counts(cells, config, max_level=1):
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
    pooled = {version: (periods, _pooled(cells, config)) for version, (periods, cells) in (established or {}).items()}
    rows = []
    for (model_version, stratum, metric), item in series.items():
        present = item["trials"] > 0
        if not present.any():
            continue
        a, b = (fractions[_SUCCESS_CALLS[metric][0]], fractions[_SUCCESS_CALLS[metric][1]]) if fractions else (1.0, 1.0)

        def forward(p: float) -> float:
            return float(rate_among_verified(p, a, b))

        def back(values: np.ndarray) -> list[float]:
            return [float(v) for v in np.asarray(rate_from_verified(np.clip(values, 0.0, 1.0), a, b))] \
                if fractions else [float(v) for v in values]

        source, periods_pooled, pooled_trials = "claim", [], None
        centre = forward(item["claim"])
        if rules.ewma_reference is not None:
            source, centre = "configured", forward(float(rules.ewma_reference))
        elif model_version in pooled:
            periods_ref, counts = pooled[model_version]
            ref_s, ref_n = counts.get((model_version, stratum, metric), (0, 0))
            if ref_n > 0 and 0 < ref_s < ref_n:
                source, centre, periods_pooled, pooled_trials = "established", ref_s / ref_n, list(periods_ref), ref_n
        chart = ewma_proportion_chart(item["successes"][present], item["trials"][present], p0=centre,
                                      lam=rules.ewma_lambda, L=rules.ewma_limit)
        periods = [p for p, keep in zip(labels, present, strict=True) if keep]
        statistic = np.asarray(chart.statistic)
        below = [periods[i] for i in np.flatnonzero(statistic < np.asarray(chart.lower))]
        above = [periods[i] for i in np.flatnonzero(statistic > np.asarray(chart.upper))]
        rows.append({
            "model_version": model_version, "stratum": stratum, "level": item["level"], "metric": metric,
            "claim": item["claim"], "reference": back(np.asarray([centre]))[0], "reference_source": source,
            "reference_periods": periods_pooled, "reference_trials": pooled_trials,
            "verification": config.labels.verification, "lambda": rules.ewma_lambda, "L": rules.ewma_limit,
            "periods": periods,
            "rates": back(item["successes"][present] / item["trials"][present]),
            "ewma": back(statistic), "lower": back(np.asarray(chart.lower)) if fractions else [float(v) for v in chart.lower],
            "upper": back(np.asarray(chart.upper)) if fractions else [float(v) for v in chart.upper],
            "periods_below_lower_limit": below, "periods_above_upper_limit": above,
        })
    rows.sort(key=lambda r: (r["model_version"], r["level"], r["stratum"], r["metric"]))
    return rows


def _period_holding(day: date, kind: str) -> Period:
    if kind == "quarter":
        return Period.parse(f"{day.year}Q{(day.month - 1) // 3 + 1}")
    if kind == "month":
        return Period.parse(f"{day.year}-{day.month:02d}")
    return Period.parse(f"{day.year}")


def reference_periods(first_local: date, kind: str, count: int) -> list[Period]:
    """The ``count`` periods of ``kind`` (quarter, month, year) from the one holding ``first_local`` (a model
    version's first prediction, as a local date): the periods pooled for its established level."""
    periods = [_period_holding(first_local, kind)]
    for _ in range(count - 1):
        periods.append(_period_holding(periods[-1].end_local, kind))
    return periods
