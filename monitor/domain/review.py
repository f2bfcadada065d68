"""Secondary review of AI results (issue 17 item 3): which triggers send a case to review, the share of results
sent per stratum, and the overlap of the AI and the reviewed segmentation masks.

A case is one AI result (a row of ``predictions``) or one AI failure (a row of ``prediction_failures``). Each
trigger the device declares (:class:`monitor.domain.device_kinds.ReviewTriggers`) is decided on the case alone:

* ``volume_disagreement`` (tolerance t): both volumes given and ``|AI - reviewed| > t x reviewed`` (the rule of
  ``monitoring.volume_tolerance`` in :mod:`monitor.domain.volume_agreement`; a reviewed volume of 0 with an AI
  volume above 0 fires);
* ``reader_disagreement``: the reader's call given and ``predicted_label != human_label``;
* ``low_confidence``: ``low_confidence == 1``;
* ``failure``: the AI returned no result.

The **review rate** of a stratum is ``events / trials``: events are the cases with any trigger fired, trials the
delivered results, plus the failures when the failure trigger is declared (otherwise a failure is not a case of
the rate). Its two-sided interval is the configured binomial interval (``monitoring.interval_method`` at
``monitoring.confidence``; Wilson 1927, Clopper & Pearson 1934, Brown, Cai & DasGupta 2001).

**Overlap** where ``overlap_volume_mm3`` is given (o, with AI volume a and reviewed volume r): Dice =
2o / (a + r) (Dice 1945), IoU = o / (a + r - o) (Jaccard 1912). A case whose overlap exceeds the smaller volume
(impossible for two masks) or whose volumes are both 0 is counted as ``invalid_overlap`` and left out. Each is
summarised by its mean with the Student t interval (mean +/- t(1 - alpha/2, n - 1) s / sqrt(n), Student 1908;
clipped to [0, 1]) and its median with the distribution-free order-statistic interval (x(l), x(n - l + 1)),
l the largest with P(Bin(n, 1/2) <= l - 1) <= alpha / 2 (coverage >= the nominal level; Conover 1999, section
3.2).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from monitor.domain.device import DeviceConfig
from monitor.domain.device_kinds import ReviewTriggers
from monitor.domain.grouping import iter_strata
from monitor.domain.metric_claims import MetricEvidence
from monitor.domain.strata import StratumDefinition
from monitor.stats.intervals import proportion_interval

__all__ = [
    "CASE_COLUMNS",
    "TRIGGERS",
    "OverlapSummary",
    "ReviewRate",
    "declared_triggers",
    "fired_triggers",
    "mean_t_interval",
    "median_interval",
    "overlap_by_stratum",
    "overlap_scores",
    "review_rate_evidence",
    "review_rates",
    "trigger_flags",
]

#: The review triggers, in report order.
TRIGGERS = ("volume_disagreement", "reader_disagreement", "low_confidence", "failure")
#: The case columns the triggers read (stratum label columns come beside them).
CASE_COLUMNS = ("model_version", "failed", "predicted_label", "human_label", "low_confidence", "ai_volume_mm3",
                "reviewed_volume_mm3", "overlap_volume_mm3")


def declared_triggers(triggers: ReviewTriggers) -> tuple[str, ...]:
    """The triggers the device declares, in :data:`TRIGGERS` order."""
    on = {"volume_disagreement": triggers.volume_disagreement is not None,
          "reader_disagreement": triggers.reader_disagreement, "low_confidence": triggers.low_confidence,
          "failure": triggers.failure}
    return tuple(t for t in TRIGGERS if on[t])


def _number(value: object) -> float | None:
    if value is None or value is pd.NA:
        return None
    number = float(value)  # type: ignore[arg-type]
    return None if math.isnan(number) else number


def fired_triggers(triggers: ReviewTriggers, *, failed: bool, predicted_label: int | None = None,
                   human_label: int | None = None, low_confidence: int | None = None,
                   ai_volume_mm3: float | None = None, reviewed_volume_mm3: float | None = None) -> tuple[str, ...]:
    """The declared triggers that fire for one case (the rules of the module docstring), in :data:`TRIGGERS`
    order; a failure fires only ``failure``."""
    if failed:
        return ("failure",) if triggers.failure else ()
    fired = []
    ai, reviewed = _number(ai_volume_mm3), _number(reviewed_volume_mm3)
    tolerance = triggers.volume_disagreement
    if tolerance is not None and ai is not None and reviewed is not None and abs(ai - reviewed) > tolerance * reviewed:
        fired.append("volume_disagreement")
    human = _number(human_label)
    if triggers.reader_disagreement and human is not None and int(human) != int(predicted_label or 0):
        fired.append("reader_disagreement")
    if triggers.low_confidence and _number(low_confidence) == 1:
        fired.append("low_confidence")
    return tuple(fired)


def trigger_flags(cases: pd.DataFrame, triggers: ReviewTriggers) -> pd.DataFrame:
    """Per case (columns :data:`CASE_COLUMNS`; missing values NaN): one boolean column per declared trigger,
    ``any`` (some trigger fired) and ``counted`` (the case is a trial of the review rate). The vectorised form of
    :func:`fired_triggers` (a test checks they agree case by case)."""
    failed = cases["failed"].astype(bool).to_numpy()
    out = pd.DataFrame(index=cases.index)
    number = {c: pd.to_numeric(cases[c], errors="coerce").to_numpy(dtype=float)
              for c in ("predicted_label", "human_label", "low_confidence", "ai_volume_mm3", "reviewed_volume_mm3")}
    for trigger in declared_triggers(triggers):
        if trigger == "volume_disagreement":
            ai, reviewed = number["ai_volume_mm3"], number["reviewed_volume_mm3"]
            with np.errstate(invalid="ignore"):
                fired = np.abs(ai - reviewed) > float(triggers.volume_disagreement) * reviewed  # type: ignore[arg-type]
        elif trigger == "reader_disagreement":
            human = number["human_label"]
            fired = ~np.isnan(human) & (human != np.nan_to_num(number["predicted_label"]))
        elif trigger == "low_confidence":
            fired = number["low_confidence"] == 1
        else:
            fired = failed.copy()
        out[trigger] = fired & (~failed if trigger != "failure" else True)
    declared = list(declared_triggers(triggers))
    out["any"] = out[declared].any(axis=1) if declared else False
    out["counted"] = ~failed | bool(triggers.failure)
    return out


@dataclass(frozen=True)
class ReviewRate:
    """The review rate of one stratum of one model version: cases sent to review of the cases counted."""

    model_version: str
    stratum: StratumDefinition
    trials: int
    events: int
    ci_low: float | None
    ci_high: float | None
    by_trigger: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float | None:
        return self.events / self.trials if self.trials else None


def review_rates(cases: pd.DataFrame, config: DeviceConfig) -> list[ReviewRate]:
    """The review rate of the whole population, each single stratum and each monitored intersection, per model
    version (:func:`monitor.domain.grouping.iter_strata`), with its binomial interval.

    ``cases``: :data:`CASE_COLUMNS` and the stratum label columns, one row per case.
    """
    if config.review is None:
        raise ValueError("the device declares no review triggers (review)")
    declared = declared_triggers(config.review)
    flags = trigger_flags(cases, config.review)
    frame = pd.concat([cases.drop(columns=[c for c in flags.columns if c in cases.columns]), flags], axis=1)
    frame = frame.loc[frame["counted"]]
    rules = config.monitoring
    rows = []
    for model_version, stratum, part in iter_strata(frame, config, max_level=None):
        trials, events = len(part), int(part["any"].sum())
        low, high = proportion_interval(events, trials, confidence=rules.confidence, method=rules.interval_method)
        rows.append(ReviewRate(model_version, stratum, trials, events, _finite(low), _finite(high),
                               {t: int(part[t].sum()) for t in declared}))
    return rows


def review_rate_evidence(rates: Sequence[ReviewRate]) -> list[MetricEvidence]:
    """The ``review_rate`` evidence of every rate (a proportion: events of trials), for ``claims.metrics``."""
    return [MetricEvidence(metric="review_rate", model_version=r.model_version, stratum=r.stratum,
                           kind="proportion", source="review", events=r.events, trials=r.trials, estimate=r.rate,
                           ci_low=r.ci_low, ci_high=r.ci_high) for r in rates]


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


# --- overlap (Dice / IoU) -----------------------------------------------------------------------------------


def overlap_scores(ai: np.ndarray, reviewed: np.ndarray, overlap: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                                        np.ndarray]:
    """Dice and IoU of each case, and which cases are valid (overlap given, 0 <= overlap <= min(AI, reviewed),
    AI + reviewed > 0); Dice and IoU are NaN elsewhere."""
    ai, reviewed, overlap = (np.asarray(x, dtype=float) for x in (ai, reviewed, overlap))
    with np.errstate(invalid="ignore", divide="ignore"):
        valid = (~np.isnan(overlap) & ~np.isnan(ai) & ~np.isnan(reviewed) & (overlap >= 0)
                 & (overlap <= np.minimum(ai, reviewed)) & (ai + reviewed > 0))
        dice = np.where(valid, 2 * overlap / (ai + reviewed), np.nan)
        iou = np.where(valid, overlap / (ai + reviewed - overlap), np.nan)
    return dice, iou, valid


def mean_t_interval(values: np.ndarray, *, confidence: float) -> tuple[float | None, float | None, float | None]:
    """Mean and its two-sided Student t interval (Student 1908), clipped to [0, 1]; limits None below 2 values."""
    n = len(values)
    if n == 0:
        return None, None, None
    mean = float(np.mean(values))
    if n < 2:
        return mean, None, None
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * float(np.std(values, ddof=1)) / math.sqrt(n)
    return mean, max(0.0, mean - half), min(1.0, mean + half)


def median_interval(values: np.ndarray, *, confidence: float) -> tuple[float | None, float | None, float | None]:
    """Median and its distribution-free order-statistic interval (Conover 1999, 3.2); limits None when n is too
    small for the level (no l >= 1)."""
    n = len(values)
    if n == 0:
        return None, None, None
    ordered = np.sort(values)
    median = float(np.median(ordered))
    alpha = 1 - confidence
    l = int(stats.binom.ppf(alpha / 2, n, 0.5))  # smallest l with P(B <= l) >= alpha/2: P(B <= l - 1) < alpha/2
    if l < 1:
        return median, None, None
    return median, float(ordered[l - 1]), float(ordered[n - l])


@dataclass(frozen=True)
class OverlapSummary:
    """Dice and IoU of one stratum of one model version."""

    model_version: str
    stratum: StratumDefinition
    cases: int
    invalid_overlap: int
    dice: tuple[float | None, float | None, float | None]  # mean, t interval
    dice_median: tuple[float | None, float | None, float | None]  # median, order-statistic interval
    iou: tuple[float | None, float | None, float | None]
    iou_median: tuple[float | None, float | None, float | None]


def overlap_by_stratum(cases: pd.DataFrame, config: DeviceConfig) -> list[OverlapSummary]:
    """Dice / IoU summaries of the whole population and each single stratum per model version, over the
    delivered results with ``overlap_volume_mm3`` given; empty when no case gives it."""
    given = cases.loc[~cases["failed"].astype(bool) & pd.to_numeric(cases["overlap_volume_mm3"],
                                                                      errors="coerce").notna()]
    if given.empty:
        return []
    dice, iou, valid = overlap_scores(*(pd.to_numeric(given[c], errors="coerce").to_numpy(dtype=float)
                                        for c in ("ai_volume_mm3", "reviewed_volume_mm3", "overlap_volume_mm3")))
    frame = given.assign(_dice=dice, _iou=iou, _valid=valid)
    confidence = config.monitoring.confidence
    out = []
    for model_version, stratum, part in iter_strata(frame, config, max_level=1):
        ok = part.loc[part["_valid"]]
        d, i = ok["_dice"].to_numpy(), ok["_iou"].to_numpy()
        out.append(OverlapSummary(model_version, stratum, len(ok), int((~part["_valid"]).sum()),
                                  mean_t_interval(d, confidence=confidence), median_interval(d, confidence=confidence),
                                  mean_t_interval(i, confidence=confidence), median_interval(i, confidence=confidence)))
    return out
