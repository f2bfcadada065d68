"""Evaluate one period's confusion cells against the device's claims: the pre-specified decision rule.

Input is a *cell table*: one row per (model version, stratification labels) with the confusion counts
``tp, fp, fn, tn`` of the cases whose ground truth has arrived. Every monitored stratum (overall, each
single attribute, each monitored intersection: pairs and triples) is a marginal sum of the cells.

For each stratum and metric: the estimate with its interval, and, where a claim exists, the decision.
The rule decides on the stratum-metric's :class:`~monitor.domain.evidence.Evidence` (the counts of final
labels, verification-corrected and cluster-adjusted as effective counts where the run's
:class:`~monitor.domain.evidence.Adjustments` say so; the plain counts otherwise). With the performance
goal ``goal = claim - margin`` and the two exact one-sided tests of
:func:`monitor.stats.binomial_tests.goal_tests`, each claimed stratum-metric gets one of three outcomes:

* ``flagged`` ("shortfall shown"): the test of H0: p >= goal rejects after its family's multiplicity
  control, i.e. the one-sided upper confidence bound at the adjusted level lies below the goal; it opens or
  updates a ticket;
* ``conforming`` ("conformity shown"): the test of H0: p <= goal rejects after the same control (the lower
  bound lies at or above the goal);
* ``inconclusive``: neither; reported with the further cases that would decide it. Evidence that is
  ``provisional`` (fewer than ``labels.min_expected_share`` of the expected labels have arrived: the labels
  final early are an outcome-dependent subset, docs/maturity.md) is never decided: it stays inconclusive and
  enters its family with p = 1 until its labels have arrived.

A stratum-metric below ``min_positives`` / ``min_negatives`` is ``insufficient`` (too few to test; it
enters its family with p = 1); one without a claim, or outside the pre-specified families, is
``not_tested``. The families (:mod:`monitor.domain.families`) are fixed by the configuration per model
version: the confirmatory family is decided by Holm at ``monitoring.alpha`` (family-wise error rate of
false shortfalls, and separately of false conformity, at most alpha), the exploratory family by
Benjamini-Hochberg at ``monitoring.fdr`` (false discovery rate at most q; valid under the positive
regression dependence of one-sided tests on nested strata, docs/methods.md). The claim-versus-estimate
exact test of H0: p >= claim (the NMPA "difference from the registered value") is reported as
``p_value``; it does not decide. Every p-value is also kept as a log10 value so that none prints as 0.

Power: ``minimal_detectable_drop`` is the drop below the claim at which this stratum's rule (its effective
n, its family's first-step level ``level / m``) flags with ``monitoring.power``; ``additional_needed`` (for
inconclusive and insufficient stratum-metrics) is the number of further cases after which the rule would
show a shortfall of one margin below the goal and conformity at the claim, each with that power.

References
----------
Clopper & Pearson, Biometrika 1934;26:404-413. Holm, Scand J Stat 1979;6:65-70. Benjamini & Hochberg,
J R Stat Soc B 1995;57:289-300. Benjamini & Yekutieli, Ann Stat 2001;29:1165-1188. Korn & Graubard,
Survey Methodology 1998;24:193-201. Wilson, JASA 1927;22:209-212. FDA CDRH, Statistical Guidance on
Reporting Results from Studies Evaluating Diagnostic Tests, 2007.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Iterator

import numpy as np
import pandas as pd

from monitor.domain.device import DeviceConfig
from monitor.domain.evidence import Adjustments, Evidence, combine
from monitor.domain.families import Family, FamilyName, decision_families, family_of
from monitor.domain.grouping import label_rank, monitored_groupings
from monitor.domain.numbers import finite_or_none
from monitor.domain.strata import StratumDefinition
from monitor.stats.binomial_tests import exact_interval, goal_tests
from monitor.stats.cells import COUNT_COLUMNS
from monitor.stats.intervals import proportion_intervals
from monitor.stats.metrics import METRIC_NAMES, metric_fraction
from monitor.stats.multiplicity import adjust_log10
from monitor.stats.power import minimal_detectable_drops, required_trials

__all__ = ["DECISION_RULE", "STATUSES", "STATUS_LABELS", "TESTED_STATUSES", "StratumCounts", "StratumMetricResult",
           "evaluate_cells", "evaluate_counts", "family_summary", "stratum_counts"]

#: ``flagged``: shortfall shown; ``conforming``: conformity shown; ``inconclusive``: neither;
#: ``insufficient``: too few cases to test; ``not_tested``: no claim, or outside the pre-specified families.
STATUSES = ("flagged", "conforming", "inconclusive", "insufficient", "not_tested")
#: The outcomes of a stratum-metric the rule tested this period.
TESTED_STATUSES = ("flagged", "conforming", "inconclusive")
#: How the outcomes read in reports.
STATUS_LABELS = {"flagged": "shortfall shown", "conforming": "conformity shown", "inconclusive": "inconclusive",
                 "insufficient": "insufficient data", "not_tested": "not tested"}
#: The rule as every analysis document states it (``rules.decision_rule``).
DECISION_RULE = (
    "Per model version and claimed stratum-metric, with performance goal = claim - margin and the exact one-sided "
    "binomial tests on the evidence (final labels; verification-corrected and cluster-adjusted effective counts "
    "where applicable): 'shortfall shown' (flagged; opens or updates a ticket) when H0: p >= goal "
    "is rejected after the family's multiplicity control (the one-sided upper bound lies below the goal); "
    "'conformity shown' when H0: p <= goal is rejected after the same control (the lower bound lies at or above "
    "the goal); otherwise 'inconclusive', with the further cases that would decide it. Families fixed by the "
    "configuration: confirmatory (overall, strata.confirmatory attributes, strata.confirmatory_intersections) by "
    "Holm at monitoring.alpha (FWER); exploratory (every other pre-specified stratum with a claim) by "
    "Benjamini-Hochberg at monitoring.fdr (FDR), findings labelled exploratory. A member below min_positives / "
    "min_negatives is 'insufficient' and enters its family with p = 1; a member with fewer than "
    "labels.min_expected_share of its expected labels is provisional: 'inconclusive', with p = 1 in its family, "
    "until its labels have arrived. The exact test of H0: p >= claim (p_value) is reported and does not decide."
)
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
    """One metric in one stratum: evidence, estimate, interval, tests against the claim and the goal, outcome."""

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
    effective_successes: float | None
    effective_trials: float | None
    basis: list[str]
    design_effect: float
    expected_share: float | None
    provisional: bool
    claim: float | None
    margin: float | None
    performance_goal: float | None
    p_value: float | None
    log10_p_value: float | None
    p_shortfall: float | None
    log10_p_shortfall: float | None
    q_value: float | None
    log10_q_value: float | None
    p_conformity: float | None
    log10_p_conformity: float | None
    q_conformity: float | None
    log10_q_conformity: float | None
    family: FamilyName | None
    family_size: int | None
    family_level: float | None
    confirmatory: bool
    status: str
    minimal_detectable_drop: float | None
    additional_needed: int | None = field(default=None)

    def as_dict(self) -> dict[str, object]:
        """Plain-data form (NaN as ``None``)."""
        return asdict(self)


def stratum_counts(cells: pd.DataFrame, config: DeviceConfig, *, max_level: int | None = None) -> list[StratumCounts]:
    """Counts of every monitored stratum (of at most ``max_level`` attributes; ``None``: all), per model
    version, in report order: model versions sorted; within one, the groupings of
    :func:`monitored_groupings`; within a grouping, its strata by the configured order of each attribute's
    labels (labels the configuration does not list after them, alphabetically).

    Summed in plain Python over the rows of the cell table (a few hundred rows: one per model version and
    combination of labels), not with a pandas group-by per grouping, whose fixed cost per call is about a
    hundred times the work here and which the analysis pays on every table it counts."""
    result: list[StratumCounts] = []
    if cells.empty:
        return result
    groupings = monitored_groupings(config, max_level=max_level)
    names = sorted({name for grouping in groupings for name in grouping})
    versions = cells["model_version"].to_numpy()
    labels = {name: [str(v) for v in cells[name].to_numpy()] for name in names}
    counts = cells[list(COUNT_COLUMNS)].to_numpy(dtype=np.int64).tolist()
    ranks = {name: label_rank(config, name) for name in names}
    for model_version in sorted(pd.unique(versions)):
        rows = [i for i, v in enumerate(versions) if v == model_version]
        for grouping in groupings:
            sums: dict[tuple[str, ...], list[int]] = {}
            for i in rows:
                total = sums.setdefault(tuple(labels[g][i] for g in grouping), [0, 0, 0, 0])
                tp, fp, fn, tn = counts[i]
                total[0] += tp
                total[1] += fp
                total[2] += fn
                total[3] += tn
            order = sorted(sums, key=lambda key: tuple((ranks[g].get(v, len(ranks[g])), v)
                                                       for g, v in zip(grouping, key, strict=True)))
            for key in order:
                stratum = StratumDefinition.of(dict(zip(grouping, key, strict=True)))
                result.append(StratumCounts(str(model_version), stratum, *sums[key]))
    return result


@lru_cache(maxsize=1024)
def _decisive_trials(claim: float, margin: float, level: float, power: float) -> int | None:
    """Effective trials at which the rule (level = the family's first step) shows a shortfall when the true value
    is one margin below the goal, and conformity when it is at the claim, each with ``power``; ``None`` where
    the design is degenerate (no margin, or a goal at 0 or 1)."""
    goal = claim - margin
    if not (margin > 0 and 0.0 < goal < 1.0):
        return None
    targets = []
    try:
        if goal - margin > 0.0:
            targets.append(required_trials(goal, goal - margin, alpha=level, power=power))
        targets.append(required_trials(1.0 - goal, 1.0 - claim, alpha=level, power=power))
    except ValueError:
        return None
    return max(targets)


def _rows(counts: list[StratumCounts], config: DeviceConfig, adjustments: Adjustments,
          families: dict[FamilyName, Family]) -> Iterator[dict[str, object]]:
    rules = config.monitoring
    for sc in counts:
        for metric in METRIC_NAMES:
            successes, trials = metric_fraction(metric, sc.tp, sc.fp, sc.fn, sc.tn)
            claim = config.claims.claim_for(metric, sc.stratum)  # type: ignore[arg-type]
            minimum = rules.min_positives if _NEEDS_POSITIVES[metric] else rules.min_negatives
            evidence = combine((sc.model_version, sc.stratum.key, metric), int(successes), int(trials), adjustments)
            family = family_of(families, sc.stratum.key, metric) if claim is not None else None
            yield {
                "model_version": sc.model_version, "stratum": sc.stratum.key, "level": sc.stratum.level,
                "attributes": sc.stratum.as_dict(), "metric": metric,
                "successes": int(successes), "trials": int(trials), "evidence": evidence,
                "claim": None if claim is None else claim.value,
                "margin": None if claim is None else claim.margin,
                "minimum": minimum, "family": family,
                "testable": claim is not None and evidence.trials >= minimum and evidence.trials > 0,
            }


def _intervals(evidence: list[Evidence], config: DeviceConfig) -> tuple[np.ndarray, np.ndarray]:
    """The configured interval on whole counts; Clopper-Pearson on effective counts (Korn-Graubard)."""
    x = np.array([e.successes for e in evidence], dtype=np.float64)
    n = np.array([e.trials for e in evidence], dtype=np.float64)
    whole = (np.abs(x - np.round(x)) < 1e-9) & (np.abs(n - np.round(n)) < 1e-9)
    rules = config.monitoring
    low, high = proportion_intervals(np.where(whole, np.round(x), 0).astype(np.int64),
                                     np.where(whole, np.round(n), 0).astype(np.int64),
                                     confidence=rules.confidence, method=rules.interval_method)
    if not whole.all():
        kg_low, kg_high = exact_interval(x[~whole], n[~whole], rules.confidence)
        low, high = np.asarray(low, dtype=np.float64).copy(), np.asarray(high, dtype=np.float64).copy()
        low[~whole], high[~whole] = kg_low, kg_high
    return low, high


def evaluate_cells(cells: pd.DataFrame, config: DeviceConfig,
                   adjustments: Adjustments = Adjustments()) -> list[StratumMetricResult]:  # noqa: B008
    """Evaluate every monitored stratum-metric of a cell table (see the module docstring).

    Parameters
    ----------
    cells
        Columns ``model_version``, one column per stratification attribute name (labels as text,
        ``unknown`` for missing), and ``tp, fp, fn, tn``.
    config
        The device configuration (strata, claims, monitoring rules).
    adjustments
        The run's evidence adjustments (label maturity, verification by design, patient clustering);
        none by default.
    """
    return evaluate_counts(stratum_counts(cells, config), config, adjustments)


def _float(values: np.ndarray, i: int) -> float | None:
    return finite_or_none(values[i])


def evaluate_counts(counts: list[StratumCounts], config: DeviceConfig,
                    adjustments: Adjustments = Adjustments()) -> list[StratumMetricResult]:  # noqa: B008
    """Evaluate every metric of the given stratum counts (the second half of :func:`evaluate_cells`; also
    used on counts summed over periods, e.g. the annual roll-up of quarterly runs)."""
    families = decision_families(config)
    rows = list(_rows(counts, config, adjustments, families))
    if not rows:
        return []
    rules = config.monitoring
    size = len(rows)
    evidence: list[Evidence] = [r["evidence"] for r in rows]  # type: ignore[misc]
    x_eff = np.array([e.successes for e in evidence], dtype=np.float64)
    n_eff = np.array([e.trials for e in evidence], dtype=np.float64)
    low, high = _intervals(evidence, config)
    testable = np.array([bool(r["testable"]) for r in rows])
    claims = np.array([np.nan if r["claim"] is None else float(r["claim"]) for r in rows])  # type: ignore[arg-type]
    margins = np.array([np.nan if r["margin"] is None else float(r["margin"]) for r in rows])  # type: ignore[arg-type]
    goals = claims - margins
    nan = np.full(size, np.nan)
    log_claim, log_short, log_conf = nan.copy(), nan.copy(), nan.copy()
    if testable.any():
        log_claim[testable] = goal_tests(x_eff[testable], n_eff[testable], claims[testable]).log10_p_shortfall
        tests = goal_tests(x_eff[testable], n_eff[testable], goals[testable])
        log_short[testable], log_conf[testable] = tests.log10_p_shortfall, tests.log10_p_conformity
    log_q_short, log_q_conf = nan.copy(), nan.copy()
    groups: dict[tuple[str, str], list[int]] = {}
    for i, r in enumerate(rows):
        if r["family"] is not None and testable[i]:
            groups.setdefault((str(r["model_version"]), r["family"].name), []).append(i)  # type: ignore[union-attr]
    # Provisional evidence (too few of the expected labels have arrived, docs/maturity.md) is not decided:
    # its tests are reported, but it enters its family with p = 1 and its outcome stays inconclusive until
    # the labels have arrived, so that labels final early (an outcome-dependent subset) never decide.
    provisional = np.array([bool(e.provisional) for e in evidence])
    for key in list(groups):
        groups[key] = [i for i in groups[key] if not provisional[i]]
    for (_, name), members in groups.items():
        family = families[name]  # type: ignore[index]
        log_q_short[members] = adjust_log10(log_short[members], family.method, family.size)
        log_q_conf[members] = adjust_log10(log_conf[members], family.method, family.size)
    mdd = nan.copy()
    for family in families.values():
        members = np.array([r["family"] is family and 0.0 < goals[i] < 1.0 and n_eff[i] >= 1
                            for i, r in enumerate(rows)], dtype=bool)
        if members.any():
            mdd[members] = minimal_detectable_drops(np.floor(n_eff[members] + 1e-9), goals[members], claims[members],
                                                    alpha=family.first_step_level, power=rules.power)
    results = []
    for i, r in enumerate(rows):
        family: Family | None = r["family"]  # type: ignore[assignment, no-redef]
        has_claim = r["claim"] is not None
        if family is None:
            status = "not_tested"
        elif not testable[i]:
            status = "insufficient"
        elif provisional[i]:
            status = "inconclusive"
        elif 10.0 ** log_q_short[i] <= family.level:
            status = "flagged"
        elif 10.0 ** log_q_conf[i] <= family.level:
            status = "conforming"
        else:
            status = "inconclusive"
        needed = None
        if status in ("insufficient", "inconclusive"):
            target = _decisive_trials(float(claims[i]), float(margins[i]), family.first_step_level,  # type: ignore[union-attr]
                                      float(rules.power))
            target = max(target or 0, int(r["minimum"]))  # type: ignore[call-overload]
            ratio = r["trials"] / n_eff[i] if n_eff[i] > 0 else 1.0  # raw cases per effective case
            needed = max(0, math.ceil((target - n_eff[i]) * ratio - 1e-9))
        e = evidence[i]
        results.append(StratumMetricResult(
            model_version=str(r["model_version"]), stratum=str(r["stratum"]), level=int(r["level"]),  # type: ignore[call-overload]
            attributes=dict(r["attributes"]), metric=str(r["metric"]),  # type: ignore[call-overload]
            successes=int(r["successes"]), trials=int(r["trials"]),  # type: ignore[call-overload]
            estimate=finite_or_none(e.estimate), ci_low=_float(low, i), ci_high=_float(high, i),
            effective_successes=float(e.successes) if e.trials > 0 else None,
            effective_trials=float(e.trials) if e.trials > 0 else None,
            basis=list(e.basis), design_effect=float(e.design_effect), expected_share=finite_or_none(e.expected_share),
            provisional=bool(e.provisional),
            claim=float(claims[i]) if has_claim else None, margin=float(margins[i]) if has_claim else None,
            performance_goal=float(goals[i]) if has_claim else None,
            p_value=_power10(log_claim[i]), log10_p_value=_float(log_claim, i),
            p_shortfall=_power10(log_short[i]), log10_p_shortfall=_float(log_short, i),
            q_value=_power10(log_q_short[i]), log10_q_value=_float(log_q_short, i),
            p_conformity=_power10(log_conf[i]), log10_p_conformity=_float(log_conf, i),
            q_conformity=_power10(log_q_conf[i]), log10_q_conformity=_float(log_q_conf, i),
            family=None if family is None else family.name, family_size=None if family is None else family.size,
            family_level=None if family is None else family.level,
            confirmatory=family is not None and family.name == "confirmatory",
            status=status, minimal_detectable_drop=_float(mdd, i), additional_needed=needed,
        ))
    return results


def _power10(log10_value: float) -> float | None:
    """``10 ** log10_value`` as a float (0.0 below the float range: the log10 field keeps the value)."""
    return None if not np.isfinite(log10_value) else float(10.0 ** log10_value)


def family_summary(config: DeviceConfig, results: list[dict[str, object]]) -> dict[str, object]:
    """The family sizes per model version and the count of each outcome (the analysis document's summary)."""
    families = {name: family.as_dict() for name, family in decision_families(config).items()}
    versions = sorted({str(r["model_version"]) for r in results})
    outcomes = {status: sum(1 for r in results if r["status"] == status) for status in STATUSES}
    outcomes["provisional"] = sum(1 for r in results if r["status"] in TESTED_STATUSES and r.get("provisional"))
    exploratory = sum(1 for r in results if r["status"] == "flagged" and r.get("family") == "exploratory")
    return {"families": {version: families for version in versions}, "outcomes": outcomes,
            "exploratory_flags": exploratory}
