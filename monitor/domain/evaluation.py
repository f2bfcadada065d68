"""Evaluate one period's confusion cells against the device's claims.

Input is a *cell table*: one row per (model version, stratification labels) with
the confusion counts ``tp, fp, fn, tn`` of the cases whose ground truth has
arrived. Every monitored stratum (overall, each single attribute, each monitored
pairwise intersection) is a marginal sum of the cells.

For each stratum and metric: the estimate with its interval (Wilson by default);
where a claim exists and the stratum has enough cases, a one-sided exact binomial
test of H0: metric >= claim. Benjamini-Hochberg adjusts the p-values over all
tests of the run; a stratum-metric is **flagged** when its q-value is at most the
configured FDR **and** its estimate is below claim - margin (an effect-size
floor, so that a large sample cannot flag a clinically irrelevant shortfall).
Strata below the minimum count are reported as *insufficient evidence* with the
additional cases needed for the configured power to detect the margin. Holm-
adjusted p-values are also reported for the strata pre-specified as confirmatory.

References
----------
Benjamini & Hochberg, J R Stat Soc B 1995;57:289-300. Holm, Scand J Stat 1979;6:65-70.
Wilson, JASA 1927;22:209-212. FDA CDRH, Statistical Guidance on Reporting Results from
Studies Evaluating Diagnostic Tests, 2007.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterator

import numpy as np
import pandas as pd

from monitor.domain.device import DeviceConfig
from monitor.domain.numbers import finite_or_none
from monitor.domain.strata import StratumDefinition
from monitor.stats.binomial_tests import claim_shortfall_pvalues
from monitor.stats.cells import COUNT_COLUMNS, marginal_counts
from monitor.stats.intervals import proportion_intervals
from monitor.stats.metrics import METRIC_NAMES, estimate, metric_fraction
from monitor.stats.multiplicity import benjamini_hochberg, holm
from functools import lru_cache

from monitor.stats.power import minimal_detectable_drops, required_trials

__all__ = ["STATUSES", "StratumCounts", "StratumMetricResult", "evaluate_cells", "evaluate_counts", "stratum_counts"]

#: ``flagged``: significant shortfall beyond the margin; ``ok``: tested, not flagged;
#: ``insufficient``: too few cases to test; ``not_tested``: no claim for this metric.
STATUSES = ("flagged", "ok", "insufficient", "not_tested")
_NEEDS_POSITIVES = {"sensitivity": True, "npv": False, "specificity": False, "ppv": True}


@dataclass(frozen=True)
class StratumCounts:
    """Confusion counts of one stratum for one model version."""

    model_version: str
    stratum: StratumDefinition
    tp: int
    fp: int
    fn: int
    tn: int

    def as_dict(self) -> dict[str, object]:
        """Plain-data form."""
        return {"model_version": self.model_version, "stratum": self.stratum.key, "level": self.stratum.level,
                "attributes": self.stratum.as_dict(), "tp": self.tp, "fp": self.fp, "fn": self.fn, "tn": self.tn}


@dataclass(frozen=True)
class StratumMetricResult:
    """One metric in one stratum: estimate, interval, comparison with the claim, decision."""

    model_version: str
    stratum: str
    level: int
    attributes: dict[str, str]
    metric: str
    successes: int
    trials: int
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    claim: float | None
    margin: float | None
    performance_goal: float | None
    p_value: float | None
    q_value: float | None
    holm_p: float | None
    confirmatory: bool
    status: str
    additional_needed: int | None
    minimal_detectable_drop: float | None

    def as_dict(self) -> dict[str, object]:
        """Plain-data form (NaN as ``None``)."""
        return asdict(self)


def _monitored_groupings(config: DeviceConfig) -> list[tuple[str, ...]]:
    singles = [(a.name,) for a in config.strata.attributes]
    return [(), *singles, *config.strata.pairs()]


def _label_order(config: DeviceConfig, name: str, labels: list[str]) -> list[str]:
    known = config.strata.attribute(name).labels()
    rank = {label: i for i, label in enumerate(known)}
    return sorted(labels, key=lambda v: (rank.get(v, len(rank)), v))


def stratum_counts(cells: pd.DataFrame, config: DeviceConfig) -> list[StratumCounts]:
    """Counts of every monitored stratum, per model version, in report order."""
    result: list[StratumCounts] = []
    if cells.empty:
        return result
    for model_version in sorted(cells["model_version"].unique()):
        version_cells = cells.loc[cells["model_version"] == model_version]
        for grouping in _monitored_groupings(config):
            table = marginal_counts(version_cells, list(grouping))
            if grouping:
                orders = [_label_order(config, g, table[g].astype(str).unique().tolist()) for g in grouping]
                table = table.assign(**{
                    f"_rank_{g}": table[g].map({v: i for i, v in enumerate(order)})
                    for g, order in zip(grouping, orders, strict=True)
                }).sort_values([f"_rank_{g}" for g in grouping])
            for row in table.itertuples(index=False):
                values = row._asdict()
                stratum = StratumDefinition.of({g: str(values[g]) for g in grouping})
                result.append(StratumCounts(str(model_version), stratum,
                                            *(int(values[c]) for c in COUNT_COLUMNS)))
    return result


@lru_cache(maxsize=256)
def _required(claim: float, goal: float, alpha: float, power: float) -> int:
    return required_trials(claim, goal, alpha=alpha, power=power)


def _rows(counts: list[StratumCounts], config: DeviceConfig) -> Iterator[dict[str, object]]:
    rules = config.monitoring
    confirmatory = set(config.strata.confirmatory)
    for sc in counts:
        for metric in METRIC_NAMES:
            successes, trials = metric_fraction(metric, sc.tp, sc.fp, sc.fn, sc.tn)
            claim = config.claims.claim_for(metric, sc.stratum)  # type: ignore[arg-type]
            minimum = rules.min_positives if _NEEDS_POSITIVES[metric] else rules.min_negatives
            is_confirmatory = sc.stratum.level == 1 and sc.stratum.attributes[0] in confirmatory
            yield {
                "model_version": sc.model_version, "stratum": sc.stratum.key, "level": sc.stratum.level,
                "attributes": sc.stratum.as_dict(), "metric": metric,
                "successes": int(successes), "trials": int(trials),
                "claim": None if claim is None else claim.value,
                "margin": None if claim is None else claim.margin,
                "testable": claim is not None and int(trials) >= minimum,
                "confirmatory": is_confirmatory,
            }


def evaluate_cells(cells: pd.DataFrame, config: DeviceConfig) -> list[StratumMetricResult]:
    """Evaluate every monitored stratum-metric of a cell table (see the module docstring).

    Parameters
    ----------
    cells
        Columns ``model_version``, one column per stratification attribute name (labels as text,
        ``unknown`` for missing), and ``tp, fp, fn, tn``.
    config
        The device configuration (strata, claims, monitoring rules).
    """
    return evaluate_counts(stratum_counts(cells, config), config)


def evaluate_counts(counts: list[StratumCounts], config: DeviceConfig) -> list[StratumMetricResult]:
    """Evaluate every metric of the given stratum counts (the second half of :func:`evaluate_cells`; also
    used on counts summed over periods, e.g. the annual roll-up of quarterly runs)."""
    rows = pd.DataFrame(list(_rows(counts, config)))
    if rows.empty:
        return []
    rules = config.monitoring
    successes, trials = rows["successes"].to_numpy(), rows["trials"].to_numpy()
    point = estimate(successes, trials)
    low, high = proportion_intervals(successes, trials, confidence=rules.confidence, method=rules.interval_method)
    testable = rows["testable"].to_numpy(dtype=bool)
    claims = rows["claim"].astype(float).to_numpy()
    margins = rows["margin"].astype(float).to_numpy()
    pvalues = np.full(len(rows), np.nan)
    if testable.any():
        pvalues[testable] = claim_shortfall_pvalues(successes[testable], trials[testable], claims[testable])
    qvalues = benjamini_hochberg(pvalues)
    confirm = testable & rows["confirmatory"].to_numpy(dtype=bool)
    holm_p = np.full(len(rows), np.nan)
    if confirm.any():
        holm_p[confirm] = holm(pvalues[confirm])
    goal = claims - margins
    mdd = np.full(len(rows), np.nan)
    measurable = ~np.isnan(claims) & (trials > 0)
    if measurable.any():
        mdd[measurable] = minimal_detectable_drops(trials[measurable], claims[measurable],
                                                   alpha=rules.alpha, power=rules.power)
    flagged = testable & (qvalues <= rules.fdr) & (point < goal)
    results = []
    for i, row in enumerate(rows.itertuples(index=False)):
        has_claim = row.claim is not None and not pd.isna(row.claim)
        if flagged[i]:
            status = "flagged"
        elif testable[i]:
            status = "ok"
        elif has_claim:
            status = "insufficient"
        else:
            status = "not_tested"
        needed = None
        if status == "insufficient":
            target = _required(float(claims[i]), float(goal[i]), rules.alpha, rules.power) \
                if margins[i] > 0 else None
            minimum = rules.min_positives if _NEEDS_POSITIVES[row.metric] else rules.min_negatives
            needed = max(int(target or 0), minimum) - int(row.trials)
        results.append(StratumMetricResult(
            model_version=row.model_version, stratum=row.stratum, level=int(row.level),
            attributes=dict(row.attributes), metric=row.metric, successes=int(row.successes),
            trials=int(row.trials), estimate=finite_or_none(point[i]), ci_low=finite_or_none(low[i]), ci_high=finite_or_none(high[i]),
            claim=float(claims[i]) if has_claim else None, margin=float(margins[i]) if has_claim else None,
            performance_goal=finite_or_none(goal[i]) if has_claim else None,
            p_value=finite_or_none(pvalues[i]), q_value=finite_or_none(qvalues[i]), holm_p=finite_or_none(holm_p[i]),
            confirmatory=bool(row.confirmatory), status=status, additional_needed=needed,
            minimal_detectable_drop=finite_or_none(mdd[i]),
        ))
    return results
