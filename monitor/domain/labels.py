"""Label maturity, verification fraction and verification-bias-corrected accuracy per stratum.

* **Maturity-aware evidence** (:func:`label_arrival`, docs/maturity.md): a label is final on arrival
  unless its source is one of ``labels.provisional_sources`` (then final once the maturity window has
  passed since the prediction); each stratum-metric is decided on its final labels, with the share of
  the labels expected by the cut-off that are final, from the label-arrival distribution per outcome
  (Lynden-Bell, :func:`monitor.stats.maturity.arrival_cdf`); a delay-weighted estimate (each final
  label weighted by 1 / F_y(elapsed) of its outcome) accounts for a delay that depends on the outcome.

* **Maturity**: share of the period's predictions whose reference standard has arrived by the cut-off,
  label delay (Kaplan-Meier on whole days, pending cases censored at the cut-off), and whether the
  cohort is *mature*: its newest case is older than the maturity window, or at least 95% of labels
  are in. A stratum whose labels are mostly pending is marked, so that it cannot look healthy.
* **Verification bias**: the verification fraction by AI call, and sensitivity and specificity
  corrected by Begg and Greenes (missing at random given the call), with the audit-sampling plan:
  how many negative calls to over-read for the false-omission rate to be known within the target width.

References
----------
Begg CB, Greenes RA. Biometrics 1983;39:207-215. Kohn MA. J Clin Epidemiol 2022;145:179-182.
Lynden-Bell D. Mon Not R Astron Soc 1971;155:95-118. Horvitz DG, Thompson DJ. J Am Stat Assoc
1952;47:663-685.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Mapping

import numpy as np
import pandas as pd

from monitor.domain.device import DeviceConfig
from monitor.domain.evidence import EvidenceKey, FinalCounts
from monitor.domain.numbers import finite_or_none
from monitor.domain.grouping import iter_strata
from monitor.stats.maturity import ArrivalCDF, arrival_cdf
from monitor.stats.survival import time_to_event_summary
from monitor.stats.verification import audit_size_for_false_omission, begg_greenes

__all__ = ["COMPLETENESS_FOR_MATURITY", "HISTOGRAM_COLUMNS", "METRIC_CELLS", "MIN_MATURE_LABELS", "OUTCOME_DEPENDENCE",
           "Arrival", "LabelMaturity", "add_histograms", "arrival_distributions", "arrival_from_delays", "label_arrival",
           "maturity_by_stratum", "verification_by_stratum"]

#: The columns of the label-arrival histograms (:meth:`LabelArrivalRepository.arrival_histograms`).
HISTOGRAM_COLUMNS = ["model_version", "label", "predicted_label", "kind", "days", "n"]

COMPLETENESS_FOR_MATURITY = 0.95
MOSTLY_PENDING = 0.5



def maturity_by_stratum(delays: pd.DataFrame, config: DeviceConfig, *, period_end: datetime,
                        cutoff: datetime, max_level: int | None = 1) -> list[dict[str, Any]]:
    """Label completeness, delay and maturity of each monitored stratum of at most ``max_level`` attributes
    (1: overall and single strata; ``None``: the intersections too).

    ``delays`` has ``model_version``, stratum labels, ``days`` (to confirmation, or to the cut-off when
    pending), ``observed`` (1 labelled) and ``n`` (full combination, or grouping sets holding the groupings read).
    """
    window = timedelta(days=config.monitoring.maturity_window_days)
    aged = period_end + window <= cutoff
    rows: list[dict[str, Any]] = []
    for model_version, stratum, part in iter_strata(delays, config, max_level=max_level):
        n = int(part["n"].sum())
        labelled = int(part.loc[part["observed"] == 1, "n"].sum())
        completeness = labelled / n if n else float("nan")
        median = p90 = float("nan")
        if labelled:
            summary = time_to_event_summary(part["days"].to_numpy(dtype=float).clip(min=0),
                                            part["observed"].to_numpy(dtype=int),
                                            confidence=config.monitoring.confidence,
                                            counts=part["n"].to_numpy(dtype=np.int64))
            median, p90 = summary.median, summary.p90
        mature = bool(aged or (n > 0 and completeness >= COMPLETENESS_FOR_MATURITY))
        reason = ("maturity window elapsed" if aged else
                  f"{completeness:.0%} of labels received" if mature else
                  f"provisional: {config.monitoring.maturity_window_days}-day window not elapsed, "
                  f"{completeness:.0%} of labels received")
        rows.append({"model_version": model_version, "stratum": stratum.key, "level": stratum.level,
                     "predictions": n, "labelled": labelled, "pending": n - labelled,
                     "completeness": finite_or_none(completeness), "median_delay_days": finite_or_none(median),
                     "p90_delay_days": finite_or_none(p90), "mature": mature, "reason": reason,
                     "mostly_pending": bool(n > 0 and completeness < MOSTLY_PENDING)})
    return rows


def verification_by_stratum(verification: pd.DataFrame, cells: pd.DataFrame, config: DeviceConfig, *,
                            max_level: int | None = 1) -> list[dict[str, Any]]:
    """Verification fractions, Begg-Greenes corrected sensitivity/specificity and the audit-sampling plan, of
    each monitored stratum of at most ``max_level`` attributes (1: overall and single; ``None``: intersections too).

    ``verification`` has ``model_version``, stratum labels, ``predicted_label``, ``verified`` and ``n``;
    ``cells`` is the confusion cell table of the verified cases.
    """
    rules = config.monitoring
    confusion = {(mv, s.key): part[["tp", "fp", "fn", "tn"]].sum() for mv, s, part in
                 iter_strata(cells, config, max_level=max_level)} if not cells.empty else {}
    rows: list[dict[str, Any]] = []
    for model_version, stratum, part in iter_strata(verification, config, max_level=max_level):
        calls = part.groupby("predicted_label")["n"].sum().to_dict()
        verified = part.loc[part["verified"] == 1].groupby("predicted_label")["n"].sum().to_dict()
        pos_calls, neg_calls = int(calls.get(1, 0)), int(calls.get(0, 0))
        c = confusion.get((model_version, stratum.key))
        row: dict[str, Any] = {
            "model_version": model_version, "stratum": stratum.key, "level": stratum.level,
            "positive_calls": pos_calls, "negative_calls": neg_calls,
            "verified_positive_calls": int(verified.get(1, 0)), "verified_negative_calls": int(verified.get(0, 0)),
        }
        row["verification_fraction_positive_calls"] = finite_or_none(row["verified_positive_calls"] / pos_calls) if pos_calls else None
        row["verification_fraction_negative_calls"] = finite_or_none(row["verified_negative_calls"] / neg_calls) if neg_calls else None
        if c is None or not (row["verified_positive_calls"] and row["verified_negative_calls"]):
            rows.append(row | {k: None for k in ("corrected_sensitivity", "corrected_sensitivity_ci_low",
                                                 "corrected_sensitivity_ci_high", "corrected_specificity",
                                                 "corrected_specificity_ci_low", "corrected_specificity_ci_high",
                                                 "audit_sample_negative_calls")})
            continue
        tp, fp, fn, tn = (int(c[k]) for k in ("tp", "fp", "fn", "tn"))
        corrected = begg_greenes(tp, fp, fn, tn, pos_calls, neg_calls, confidence=rules.confidence)
        false_omission = fn / (fn + tn) if (fn + tn) else 0.05
        audit = min(neg_calls, audit_size_for_false_omission(
            min(max(false_omission, 1e-3), 0.999), relative_half_width=config.labels.audit_relative_half_width,
            confidence=rules.confidence)) if neg_calls else 0
        rows.append(row | {
            "corrected_sensitivity": finite_or_none(corrected.sensitivity),
            "corrected_sensitivity_ci_low": finite_or_none(corrected.sensitivity_ci[0]),
            "corrected_sensitivity_ci_high": finite_or_none(corrected.sensitivity_ci[1]),
            "corrected_specificity": finite_or_none(corrected.specificity),
            "corrected_specificity_ci_low": finite_or_none(corrected.specificity_ci[0]),
            "corrected_specificity_ci_high": finite_or_none(corrected.specificity_ci[1]),
            "audit_sample_negative_calls": int(audit),
        })
    return rows


# ---------------------------------------------------------------------------------------------------------
# Maturity-aware evidence: final labels, the share of expected labels, the delay-weighted estimate

#: The confusion cell of each (label, call): tp = (1, 1), fp = (0, 1), fn = (1, 0), tn = (0, 0).
_CELL = {(1, 1): "tp", (0, 1): "fp", (1, 0): "fn", (0, 0): "tn"}
#: Each metric's numerator cell and denominator cells (whose labels it rests on): sensitivity on the
#: positives' labels, specificity on the negatives', PPV on the positive calls', NPV on the negative calls'.
METRIC_CELLS: dict[str, tuple[str, tuple[str, ...]]] = {
    "sensitivity": ("tp", ("tp", "fn")), "specificity": ("tn", ("tn", "fp")),
    "ppv": ("tp", ("tp", "fp")), "npv": ("tn", ("tn", "fn")),
}
#: Reported beside the metrics (never decided): the share of final labels that are positive.
_PREVALENCE = ("prevalence", ("tp", "fn"), ("tp", "fp", "fn", "tn"))
#: An arrival distribution rests on at least this many final labels from cohorts that reached the horizon.
MIN_MATURE_LABELS = 30
#: The label delay depends on the outcome when the two arrival distributions differ by at least this much
#: on some day within the horizon (Kolmogorov distance; an effect size, not a test: with thousands of
#: labels any difference is significant).
OUTCOME_DEPENDENCE = 0.10
_CDF_DAYS = (30, 90, 180)


@dataclass(frozen=True)
class Arrival:
    """The label-arrival distributions of one model version within ``horizon`` days: per confusion cell
    (tp, fp, fn, tn: outcome and AI call) the distribution of the delay until the label is final, with where
    it comes from (``model_version|cell``, ``model_version|outcome``, ``device|cell``, ``device|outcome``:
    the model version's or every model version's earlier cohorts, the cell's labels or the outcome's with
    both calls pooled), and per outcome (1 positive, 0 negative) the calls-pooled distribution."""

    model_version: str
    horizon: int
    by_cell: Mapping[str, tuple[str, ArrivalCDF] | None]
    by_outcome: Mapping[int, tuple[str, ArrivalCDF] | None]

    def at(self, cell: str, elapsed_days: np.ndarray) -> np.ndarray:
        """F_cell(elapsed) per case group; 1 from the horizon on (every label is final by then, by the
        definition of the window), NaN where no distribution could be estimated."""
        elapsed = np.asarray(elapsed_days, dtype=np.int64)
        fitted = self.by_cell.get(cell)
        if fitted is None:
            return np.where(elapsed >= self.horizon, 1.0, np.nan)
        cdf = fitted[1]
        return np.maximum(cdf.at(elapsed), 0.5 / cdf.labels)  # a final label exists: F > 0 (floor: half a case)

    def distance(self) -> float | None:
        """Largest difference between the positives' and the negatives' distributions (Kolmogorov)."""
        pos, neg = self.by_outcome.get(1), self.by_outcome.get(0)
        if pos is None or neg is None:
            return None
        return float(np.abs(pos[1].cdf - neg[1].cdf).max())


@dataclass(frozen=True)
class LabelMaturity:
    """What label maturity gives a run: the final counts of every monitored stratum-metric (keyed by model
    version, stratum key and metric, for :class:`monitor.domain.evidence.Adjustments`) and the document
    section ``label_arrival`` (arrival distributions, outcome dependence, per-stratum rows)."""

    final_counts: dict[EvidenceKey, FinalCounts]
    section: dict[str, Any]


def _fit(rows: pd.DataFrame, horizon: int) -> ArrivalCDF | None:
    delay = rows.loc[rows["kind"] == "delay"].groupby("days")["n"].sum()
    elapsed = rows.loc[rows["kind"] == "elapsed"].groupby("days")["n"].sum()
    if delay.empty:
        return None
    fitted = arrival_cdf(delay.index.to_numpy(), delay.to_numpy(), elapsed.index.to_numpy(), elapsed.to_numpy(),
                         horizon=horizon)
    return fitted if fitted is not None and fitted.mature_labels >= MIN_MATURE_LABELS else None


def _first_fit(candidates: list[tuple[str, pd.DataFrame]], horizon: int) -> tuple[str, ArrivalCDF] | None:
    for source, rows in candidates:
        fitted = _fit(rows, horizon) if not rows.empty else None
        if fitted is not None:
            return source, fitted
    return None


def arrival_from_delays(delays: pd.DataFrame, *, provisional_sources: list[str], window_days: int,
                        horizon_days: int) -> pd.DataFrame:
    """The label-arrival histograms (:data:`HISTOGRAM_COLUMNS`) of cohorts that are old at the cut-off (every
    prediction more than ``horizon_days`` + 1 and ``window_days`` days before it), from their
    ``label_delays`` aggregate (:mod:`monitor.domain.window_aggregates`, no ``late`` row): what the rows give
    for them. A label of a provisional source is final at the larger of its delay and the maturity window;
    a label final after the horizon is left out; every case's elapsed time is the horizon (capped)."""
    if (delays["late"] != 0).any():
        raise ValueError("label delays capped at an earlier cut-off hold for that cut-off only")
    provisional = delays["source"].isin(list(provisional_sources)).to_numpy()
    final_after = np.where(provisional, np.maximum(delays["days"].to_numpy(), window_days), delays["days"].to_numpy())
    final = delays.assign(until_final=final_after).loc[final_after <= horizon_days]
    keys = ["model_version", "label", "predicted_label"]
    delay = final.groupby([*keys, "until_final"], as_index=False)["n"].sum().rename(columns={"until_final": "days"})
    elapsed = final.groupby(keys, as_index=False)["n"].sum().assign(days=horizon_days)
    return add_histograms(delay.assign(kind="delay"), elapsed.assign(kind="elapsed"))


def add_histograms(*parts: pd.DataFrame) -> pd.DataFrame:
    """Label-arrival histograms of disjoint cohorts summed by key, in the repository's row order."""
    filled = [p[HISTOGRAM_COLUMNS] for p in parts if not p.empty]
    if not filled:
        return pd.DataFrame({c: pd.Series(dtype=object if c in ("model_version", "kind") else "int64")
                             for c in HISTOGRAM_COLUMNS})
    whole = pd.concat(filled, ignore_index=True)
    summed = whole.groupby(HISTOGRAM_COLUMNS[:-1], as_index=False, sort=False)["n"].sum()
    summed = summed.loc[summed["n"] > 0]
    summed = summed.astype({"label": "int64", "predicted_label": "int64", "days": "int64", "n": "int64"})
    return summed.sort_values(HISTOGRAM_COLUMNS[:-1], kind="stable").reset_index(drop=True)


def arrival_distributions(histograms: pd.DataFrame, model_versions: list[str], *, horizon: int
                          ) -> dict[str, Arrival]:
    """Per model version, the label-arrival distribution of each confusion cell and each outcome, from the
    earlier cohorts' histograms (:meth:`LabelArrivalRepository.arrival_histograms`).

    A cell's distribution is the first of: the model version's labels of the cell, of the outcome (both
    calls), the device's labels of the cell, of the outcome, that holds :data:`MIN_MATURE_LABELS` final
    labels from cohorts that reached the horizon (else there is none)."""
    if histograms.empty:
        histograms = pd.DataFrame(columns=["model_version", "label", "predicted_label", "kind", "days", "n"])
    result: dict[str, Arrival] = {}
    for model_version in model_versions:
        own = histograms.loc[histograms["model_version"] == model_version]
        by_outcome = {y: _first_fit([("model_version|outcome", own.loc[own["label"] == y]),
                                     ("device|outcome", histograms.loc[histograms["label"] == y])], horizon)
                      for y in (1, 0)}
        by_cell = {}
        for (y, c), cell in _CELL.items():
            mine = (own["label"] == y) & (own["predicted_label"] == c)
            every = (histograms["label"] == y) & (histograms["predicted_label"] == c)
            by_cell[cell] = _first_fit([("model_version|cell", own.loc[mine]),
                                        ("model_version|outcome", own.loc[own["label"] == y]),
                                        ("device|cell", histograms.loc[every]),
                                        ("device|outcome", histograms.loc[histograms["label"] == y])], horizon)
        result[model_version] = Arrival(model_version, horizon, by_cell, by_outcome)
    return result


def _weighted_cells(cells: pd.DataFrame, arrivals: Mapping[str, Arrival], names: list[str]) -> pd.DataFrame:
    """Per model version and full combination of stratum labels: per confusion cell the received and final
    labels, the delay weights (sum of final / F_y(elapsed)) and the final labels without a distribution."""
    frame = cells.copy()
    frame["cell"] = [_CELL[(int(y), int(c))] for y, c in zip(frame["label"], frame["predicted_label"], strict=True)]
    share = np.full(len(frame), np.nan)
    for model_version, arrival in arrivals.items():
        for cell in _CELL.values():
            rows = ((frame["model_version"] == model_version) & (frame["cell"] == cell)).to_numpy()
            share[rows] = arrival.at(cell, frame.loc[rows, "elapsed_days"].to_numpy())
    known = ~np.isnan(share)
    frame["weight"] = np.where(known, frame["final"] / np.where(known, share, 1.0), 0.0)
    frame["unknown"] = np.where(known, 0, frame["final"])
    wide = frame.pivot_table(index=["model_version", *names], columns="cell",
                             values=["received", "final", "weight", "unknown"], aggfunc="sum", fill_value=0,
                             observed=True)
    wide.columns = [f"{cell}_{value}" for value, cell in wide.columns]
    for cell in _CELL.values():
        for value in ("received", "final", "weight", "unknown"):
            if f"{cell}_{value}" not in wide.columns:
                wide[f"{cell}_{value}"] = 0
    return wide.reset_index()


def _metric(totals: pd.Series, name: str, numerator: tuple[str, ...], denominator: tuple[str, ...]
            ) -> dict[str, Any]:
    """One stratum-metric from the summed cell columns; a cell's expected labels are its delay weights
    (Horvitz-Thompson), never fewer than the labels it has received."""
    received = int(sum(totals[f"{c}_received"] for c in denominator))
    final = int(sum(totals[f"{c}_final"] for c in denominator))
    successes = int(sum(totals[f"{c}_final"] for c in numerator))
    unknown = int(sum(totals[f"{c}_unknown"] for c in denominator))
    expected = {c: max(float(totals[f"{c}_weight"]), float(totals[f"{c}_received"])) for c in denominator}
    total = sum(expected.values())
    if unknown or total <= 0:
        share = weighted = expected_labels = None
    else:
        share, expected_labels = final / total, total
        weighted = sum(expected[c] for c in numerator) / total
    return {"metric": name, "received": received, "final": final, "successes": successes,
            "expected_labels": finite_or_none(expected_labels), "expected_share": finite_or_none(share),
            "estimate": successes / final if final else None, "delay_weighted_estimate": finite_or_none(weighted)}


def _summary(fitted: tuple[str, ArrivalCDF] | None) -> dict[str, Any] | None:
    if fitted is None:
        return None
    source, cdf = fitted
    return {"reference": source.split("|")[0], "labels": cdf.labels, "mature_labels": cdf.mature_labels,
            "median_days": cdf.quantile(0.5), "p90_days": cdf.quantile(0.9),
            "final_by": [{"days": d, "share": float(cdf.at(d))} for d in _CDF_DAYS if d < cdf.horizon]}


def label_arrival(cells: pd.DataFrame, histograms: pd.DataFrame, config: DeviceConfig) -> LabelMaturity:
    """The final counts of every monitored stratum-metric with the share of expected labels received,
    and the ``label_arrival`` section.

    ``cells`` are the window's labelled cases by model version, stratum labels, ``label``,
    ``predicted_label``, ``elapsed_days`` with ``received`` and ``final``
    (:meth:`LabelArrivalRepository.final_cells`); ``histograms`` the earlier cohorts' arrival
    histograms (:meth:`LabelArrivalRepository.arrival_histograms`, horizon = the maturity window).

    Each confusion cell c (tp, fp, fn, tn: the outcome y and the AI call) has an arrival distribution F_c
    (:func:`arrival_distributions`). A stratum-metric rests on the labels of its denominator cells
    (:data:`METRIC_CELLS`: sensitivity on the positives' labels tp + fn, specificity on the negatives'
    tn + fp, PPV on the positive calls' tp + fp, NPV on the negative calls' tn + fn):

    * ``successes`` / ``trials`` count its final labels;
    * the labels each cell is expected to have once every case has reached the horizon are estimated by
      N_c = sum over its final labels i of 1 / F_c(e_i) (Horvitz-Thompson, e_i the elapsed days), never
      fewer than the labels the cell has received (final or not: a cell whose labels are all provisional
      has no final label to weight);
    * ``expected_share`` = trials / sum of N_c: the share of the expected labels that are final by the
      cut-off; None when a final label's cell has no distribution (nor reached the horizon) or nothing
      was received;
    * the delay-weighted estimate N_numerator / sum of N_c weights every final label by 1 / F_c(e_i):
      it accounts for a delay that depends on the outcome (PPV, NPV, prevalence).

    Both assume that, given the cell, the delay does not depend on the stratum or the period
    (docs/maturity.md).
    """
    rules = config.monitoring
    horizon = rules.maturity_window_days
    names = [a.name for a in config.strata.attributes]
    versions = sorted(cells["model_version"].astype(str).unique()) if not cells.empty else []
    arrivals = arrival_distributions(histograms, versions, horizon=horizon)
    final_counts: dict[EvidenceKey, FinalCounts] = {}
    rows: list[dict[str, Any]] = []
    if versions:
        wide = _weighted_cells(cells, arrivals, names)
        counts = [c for c in wide.columns if c not in ("model_version", *names)]
        for model_version, stratum, part in iter_strata(wide, config):
            totals = part[counts].sum()
            for name, (numerator, denominator) in METRIC_CELLS.items():
                metric = _metric(totals, name, (numerator,), denominator)
                final_counts[(model_version, stratum.key, name)] = FinalCounts(
                    metric["successes"], metric["final"], metric["expected_share"])
                if stratum.level <= 1:
                    rows.append({"model_version": model_version, "stratum": stratum.key, "level": stratum.level}
                                | metric | {"provisional": _provisional(metric["expected_share"], config)})
            if stratum.level <= 1:
                metric = _metric(totals, *_PREVALENCE)
                rows.append({"model_version": model_version, "stratum": stratum.key, "level": stratum.level}
                            | metric | {"provisional": _provisional(metric["expected_share"], config)})
    distributions = []
    for model_version, arrival in arrivals.items():
        distance = arrival.distance()
        distributions.append({"model_version": model_version, "positives": _summary(arrival.by_outcome[1]),
                              "negatives": _summary(arrival.by_outcome[0]),
                              "cells": {cell: _summary(arrival.by_cell[cell]) | {"basis": arrival.by_cell[cell][0]}
                                        if arrival.by_cell[cell] is not None else None for cell in _CELL.values()},
                              "distance": finite_or_none(distance) if distance is not None else None,
                              "outcome_dependent_delay": None if distance is None else distance >= OUTCOME_DEPENDENCE})
    flags = [d["outcome_dependent_delay"] for d in distributions if d["outcome_dependent_delay"] is not None]
    section = {
        "horizon_days": horizon, "provisional_sources": list(config.labels.provisional_sources),
        "min_expected_share": config.labels.min_expected_share, "outcome_dependence_threshold": OUTCOME_DEPENDENCE,
        "outcome_dependent_delay": any(flags) if flags else None,
        "distributions": distributions, "strata": rows,
    }
    return LabelMaturity(final_counts, section)


def _provisional(share: float | None, config: DeviceConfig) -> bool:
    return share is not None and share < config.labels.min_expected_share
