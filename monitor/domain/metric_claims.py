"""Claims on any metric (issue 17 item 5): the evidence each device-kind section gives for a stratum and metric,
and the pre-specified decision of every claim of ``claims.metrics``.

A section (ordinal outputs, low-confidence flags, review triggers, agreement with the reader, lesions, ...)
measures its metrics per model version and stratum and hands them over as :class:`MetricEvidence`:

* a **proportion** (accuracy, agreement, a false-negative or flag rate, lesion sensitivity, share within the SLA)
  as ``events`` of ``trials``: decided by the exact one-sided binomial tests of the proportions
  (:func:`monitor.stats.binomial_tests.goal_tests`), as sensitivity and specificity are;
* an **estimate** with its standard error (AUC with DeLong's, kappa with Fleiss-Cohen-Everitt's, false
  positives per scan with the patient bootstrap's): decided by the one-sided Wald z-test against the goal.

:func:`decide_metric_claims` decides each claimed (model version, stratum, metric) with the goal of its claim
(:meth:`monitor.domain.device.Claims.metric_claim_for`) and the families of the proportions; the rule is
:data:`DECISION_RULE`. A claim with ``minimum`` (a metric that must stay high) is flagged on a shortfall shown
below ``goal = minimum - margin``; a claim with ``maximum`` (a rate that must stay low) on an excess shown above
``goal = maximum + margin`` (the mirror test, as :mod:`monitor.domain.failures` decides the failure rate; both use
:func:`proportion_goal_tests` and :func:`decide_family`).

References
----------
Clopper CJ, Pearson ES. Biometrika 1934;26:404-413 (exact binomial test and interval). Korn EL, Graubard BI.
Survey Methodology 1998;24:193-201 (effective counts). Wald A. Trans Am Math Soc 1943;54:426-482 (z-test of an
asymptotically normal estimate). Holm S. Scand J Stat 1979;6:65-70. Benjamini Y, Hochberg Y. J R Stat Soc B
1995;57:289-300.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from monitor.domain.analysis_document.metric_claims import MetricClaimRow
from monitor.domain.device import DeviceConfig
from monitor.domain.device_kinds import MINIMUM_METRICS
from monitor.domain.families import Family, FamilyName, enumerated_strata
from monitor.domain.numbers import finite_or_none
from monitor.domain.strata import StratumDefinition
from monitor.stats.binomial_tests import exact_interval, goal_tests
from monitor.stats.intervals import proportion_interval
from monitor.stats.multiplicity import adjust_log10

__all__ = ["DECISION_RULE", "DirectionalTests", "FamilyDecision", "MetricEvidence", "decide_family",
           "decide_metric_claims", "metric_families", "proportion_goal_tests", "wald_goal_tests"]

Direction = Literal["minimum", "maximum"]
_LN10 = math.log(10.0)

#: The rule as every analysis document states it (``metric_claims`` rows; docs/methods.md "Claims on any metric").
DECISION_RULE = (
    "Per model version, metric and pre-specified stratum with a claim of claims.metrics: goal = minimum - margin "
    "(a metric that must stay high) or maximum + margin (a rate that must stay low). A proportion (events of "
    "trials) is tested by the exact one-sided binomial tests against the goal (Clopper-Pearson duality; "
    "Korn-Graubard on effective counts), an estimate with a standard error by the one-sided Wald z-test "
    "z = (estimate - goal) / SE. 'flagged' (shortfall or excess shown; opens or updates a ticket) when the test "
    "of H0: metric on the claimed side of the goal rejects after its family's multiplicity control; 'conforming' "
    "when the mirror test rejects after the same control; otherwise 'inconclusive'. Families per model version "
    "and metric, fixed by the configuration: confirmatory (overall, strata.confirmatory attributes, "
    "strata.confirmatory_intersections) by Holm at monitoring.alpha (family-wise error rate of false flags, and "
    "separately of false conformity, at most alpha); exploratory (every other pre-specified stratum with the "
    "claim) by Benjamini-Hochberg at monitoring.fdr (false discovery rate at most fdr). A member without trials "
    "or without a standard error is 'insufficient', a provisional one (labels not yet arrived) 'inconclusive': "
    "both enter the family with p = 1 and never open a ticket. The Wald test's error rates hold asymptotically "
    "(large n). The test against the registered value itself (p_value) is reported and does not decide."
)


@dataclass(frozen=True)
class MetricEvidence:
    """What a section measured of one metric in one stratum of one model version.

    ``kind`` ``proportion``: ``events`` of ``trials`` (the estimate is their ratio; effective, possibly fractional
    counts when the evidence is verification-corrected); ``estimate``: ``estimate`` and ``standard_error``
    (``trials`` is then the number of cases it rests on, for the report). ``ci_low`` / ``ci_high``: the section's
    own interval when it has one (else the analysis forms it). ``provisional``: the labels behind it have not yet
    arrived in the expected share (never decided). ``source`` names the section that measured it (its key in the
    analysis document).
    """

    metric: str
    model_version: str
    stratum: StratumDefinition
    kind: Literal["proportion", "estimate"]
    source: str
    events: float | None = None
    trials: float | None = None
    estimate: float | None = None
    standard_error: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    provisional: bool = False


@dataclass(frozen=True)
class DirectionalTests:
    """The two one-sided tests against a goal, in log10 (NaN where untestable): ``log10_p_departure`` rejects
    when the metric is shown on the wrong side of the goal (a shortfall below a minimum, an excess above a
    maximum), ``log10_p_conformity`` when it is shown on the claimed side."""

    log10_p_departure: np.ndarray
    log10_p_conformity: np.ndarray


def proportion_goal_tests(events: ArrayLike, trials: ArrayLike, goals: ArrayLike,
                          direction: Direction) -> DirectionalTests:
    """Exact one-sided binomial tests of a proportion against its goal, oriented by the claim's direction.

    ``minimum``: departure is H0: p >= goal (``P(X <= x)``), conformity H0: p <= goal; ``maximum``: the mirror,
    departure H0: p <= goal (``P(X >= x)``), conformity H0: p >= goal.

    References
    ----------
    Clopper CJ, Pearson ES. Biometrika 1934;26:404-413 (oracle: ``scipy.stats.binomtest``).
    """
    tests = goal_tests(events, trials, goals)
    if direction == "minimum":
        return DirectionalTests(tests.log10_p_shortfall, tests.log10_p_conformity)
    return DirectionalTests(tests.log10_p_conformity, tests.log10_p_shortfall)


def wald_goal_tests(estimates: ArrayLike, standard_errors: ArrayLike, goals: ArrayLike,
                    direction: Direction) -> tuple[np.ndarray, DirectionalTests]:
    """One-sided Wald z-tests of an asymptotically normal estimate against its goal.

    ``z = (estimate - goal) / SE``; ``minimum``: departure ``Phi(z)`` (H0: theta >= goal), conformity
    ``Phi(-z)``; ``maximum``: the mirror. Returns ``(z, tests)``; the log10 p-values come from
    ``scipy.stats.norm.logcdf`` (finite far into the tail).

    References
    ----------
    Wald A. Trans Am Math Soc 1943;54:426-482. Oracle: ``scipy.stats.norm.cdf``.
    """
    est, se, goal = (np.asarray(v, dtype=np.float64) for v in np.broadcast_arrays(
        *(np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in (estimates, standard_errors, goals))))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, (est - goal) / se, np.nan)
    low_side = stats.norm.logcdf(z) / _LN10  # small when the estimate lies well below the goal
    high_side = stats.norm.logcdf(-z) / _LN10
    if direction == "minimum":
        return z, DirectionalTests(low_side, high_side)
    return z, DirectionalTests(high_side, low_side)


@dataclass(frozen=True)
class FamilyDecision:
    """The adjusted log10 p-values of a family's tested members and each member's outcome."""

    log10_q_departure: np.ndarray
    log10_q_conformity: np.ndarray
    statuses: list[Literal["flagged", "conforming", "inconclusive"]]


def decide_family(tests: DirectionalTests, method: Literal["holm", "bh"], size: int, level: float) -> FamilyDecision:
    """Decide the tested members of one pre-specified family of ``size`` members (the others count as p = 1):
    Holm (FWER) or Benjamini-Hochberg (FDR) on each direction; ``flagged`` when the adjusted departure p-value is
    at most ``level``, else ``conforming`` when the adjusted conformity p-value is, else ``inconclusive``.

    References
    ----------
    Holm S. Scand J Stat 1979;6:65-70. Benjamini Y, Hochberg Y. J R Stat Soc B 1995;57:289-300.
    """
    q_dep = adjust_log10(tests.log10_p_departure, method, size)
    q_conf = adjust_log10(tests.log10_p_conformity, method, size)
    statuses: list[Literal["flagged", "conforming", "inconclusive"]] = []
    for dep, conf in zip(q_dep, q_conf, strict=True):
        if 10.0 ** dep <= level:
            statuses.append("flagged")
        elif 10.0 ** conf <= level:
            statuses.append("conforming")
        else:
            statuses.append("inconclusive")
    return FamilyDecision(q_dep, q_conf, statuses)


def _family_name(stratum: StratumDefinition, config: DeviceConfig) -> FamilyName:
    """Confirmatory: overall, a single stratum of a strata.confirmatory attribute, a confirmatory intersection
    (as :mod:`monitor.domain.families` enumerates them); exploratory: every other pre-specified stratum."""
    confirmatory = (stratum.level == 0
                    or (stratum.level == 1 and stratum.attributes[0] in config.strata.confirmatory)
                    or any(StratumDefinition.of(w) == stratum for w in config.strata.confirmatory_intersections))
    return "confirmatory" if confirmatory else "exploratory"


def metric_families(config: DeviceConfig, metric: str) -> dict[FamilyName, Family]:
    """The confirmatory and exploratory families of ``metric`` (per model version): every stratum the
    configuration pre-specifies (:func:`monitor.domain.families.enumerated_strata`) that has a claim of it."""
    members: dict[FamilyName, set[tuple[str, str]]] = {"confirmatory": set(), "exploratory": set()}
    for stratum in enumerated_strata(config):
        if config.claims.metric_claim_for(metric, stratum) is not None:
            members[_family_name(stratum, config)].add((stratum.key, metric))
    rules = config.monitoring
    return {"confirmatory": Family("confirmatory", "holm", float(rules.alpha), frozenset(members["confirmatory"])),
            "exploratory": Family("exploratory", "bh", float(rules.fdr), frozenset(members["exploratory"]))}


def _power10(log10_value: float) -> float | None:
    return float(10.0 ** log10_value) if np.isfinite(log10_value) else None


def _number(value: float | None) -> float | int | None:
    """A count as an int when whole (the document keeps the JSON type), else the float."""
    if value is None:
        return None
    return int(value) if float(value).is_integer() else float(value)


def _interval(e: MetricEvidence, estimate: float | None, config: DeviceConfig) -> tuple[float | None, float | None,
                                                                                          str | None]:
    """The evidence's own interval, else: the configured binomial interval (whole counts), Clopper-Pearson on
    effective counts (Korn-Graubard), or the Wald interval estimate +/- z * SE."""
    rules = config.monitoring
    if e.ci_low is not None and e.ci_high is not None:
        return finite_or_none(e.ci_low), finite_or_none(e.ci_high), "section"
    if estimate is None:
        return None, None, None
    if e.kind == "proportion":
        x, n = float(e.events or 0), float(e.trials or 0)
        if x.is_integer() and n.is_integer():
            low, high = proportion_interval(int(x), int(n), confidence=rules.confidence, method=rules.interval_method)
            return finite_or_none(low), finite_or_none(high), rules.interval_method
        low_a, high_a = exact_interval([x], [n], rules.confidence)
        return finite_or_none(low_a[0]), finite_or_none(high_a[0]), "clopper-pearson"
    if e.standard_error is None or not e.standard_error > 0:
        return None, None, None
    half = float(stats.norm.ppf(0.5 + rules.confidence / 2.0)) * float(e.standard_error)
    return estimate - half, estimate + half, "wald"


def _testable(e: MetricEvidence) -> bool:
    if e.kind == "proportion":
        return e.events is not None and e.trials is not None and e.trials > 0
    return (e.estimate is not None and math.isfinite(e.estimate) and e.standard_error is not None
            and math.isfinite(e.standard_error) and e.standard_error > 0)


def _estimate(e: MetricEvidence) -> float | None:
    if e.kind == "proportion":
        return float(e.events) / float(e.trials) if e.events is not None and e.trials else None  # type: ignore[arg-type]
    return finite_or_none(e.estimate)


def decide_metric_claims(evidence: Sequence[MetricEvidence], config: DeviceConfig) -> list[MetricClaimRow]:
    """Decide every evidence against its claim of ``claims.metrics`` (the rule :data:`DECISION_RULE`).

    One row per evidence, in the order given: estimate and interval, claim and goal, the two one-sided tests
    (exact binomial for a proportion, Wald z for an estimate), their family's adjusted values and the outcome.
    An evidence without a claim, or in a stratum the configuration does not enumerate, is ``not_tested``.
    ``finding_id`` and ``ticket_id`` are left null (the analysis sets them for a flagged row).

    Raises
    ------
    ValueError
        Two evidences of the same model version, stratum and metric (a section measured it twice).
    """
    seen: set[tuple[str, str, str]] = set()
    for e in evidence:
        key = (e.model_version, e.stratum.key, e.metric)
        if key in seen:
            raise ValueError(f"metric {e.metric!r} of model version {e.model_version!r} in stratum {e.stratum.key!r} "
                             "was measured twice")
        seen.add(key)
    families_by_metric = {m: metric_families(config, m) for m in sorted({e.metric for e in evidence})}
    size = len(evidence)
    nan = np.full(size, np.nan)
    log_dep, log_conf, log_registered, log_q_dep, log_q_conf, z_values = (nan.copy() for _ in range(6))
    claims = [config.claims.metric_claim_for(e.metric, e.stratum) for e in evidence]
    family: list[Family | None] = []
    for e, claim in zip(evidence, claims, strict=True):
        fams = families_by_metric[e.metric]
        family.append(next((f for f in fams.values() if (e.stratum.key, e.metric) in f.members), None)
                      if claim is not None else None)
    testable = [family[i] is not None and _testable(e) for i, e in enumerate(evidence)]
    for i, e in enumerate(evidence):
        claim = claims[i]
        if not testable[i] or claim is None:
            continue
        if e.kind == "proportion":
            decided = proportion_goal_tests([e.events], [e.trials], [claim.goal], claim.direction)
            registered = proportion_goal_tests([e.events], [e.trials], [claim.value], claim.direction)
        else:
            z, decided = wald_goal_tests([e.estimate], [e.standard_error], [claim.goal], claim.direction)
            _, registered = wald_goal_tests([e.estimate], [e.standard_error], [claim.value], claim.direction)
            z_values[i] = z[0]
        log_dep[i], log_conf[i] = decided.log10_p_departure[0], decided.log10_p_conformity[0]
        log_registered[i] = registered.log10_p_departure[0]
    statuses: list[str] = ["not_tested" if f is None else "insufficient" for f in family]
    for i, e in enumerate(evidence):
        if testable[i] and e.provisional:
            statuses[i] = "inconclusive"
    groups: dict[tuple[str, str, FamilyName], list[int]] = {}
    for i, e in enumerate(evidence):
        f = family[i]
        if f is not None and testable[i] and not e.provisional:
            groups.setdefault((e.model_version, e.metric, f.name), []).append(i)
    for members in groups.values():
        f = family[members[0]]
        assert f is not None
        decision = decide_family(DirectionalTests(log_dep[members], log_conf[members]), f.method, f.size, f.level)
        log_q_dep[members], log_q_conf[members] = decision.log10_q_departure, decision.log10_q_conformity
        for j, i in enumerate(members):
            statuses[i] = decision.statuses[j]
    rows = []
    for i, e in enumerate(evidence):
        claim, f = claims[i], family[i]
        estimate = _estimate(e)
        low, high, interval_method = _interval(e, estimate, config)
        tested = testable[i] and claim is not None and f is not None
        rows.append(MetricClaimRow(
            model_version=e.model_version, stratum=e.stratum.key, level=e.stratum.level,  # type: ignore[arg-type]
            attributes=e.stratum.as_dict(), metric=e.metric, source=e.source, kind=e.kind,  # type: ignore[arg-type]
            direction="minimum" if e.metric in MINIMUM_METRICS else "maximum",
            events=_number(e.events), trials=_number(e.trials), estimate=estimate,
            standard_error=finite_or_none(e.standard_error), ci_low=low, ci_high=high,
            interval_method=interval_method,
            claim=None if claim is None else float(claim.value), margin=None if claim is None else float(claim.margin),
            goal=None if claim is None else round(float(claim.goal), 12),  # 0.95 - 0.02 prints 0.93
            test=None if not tested else ("exact_binomial" if e.kind == "proportion" else "wald_z"),
            z=finite_or_none(z_values[i]),
            p_value=_power10(log_registered[i]), log10_p_value=finite_or_none(log_registered[i]),
            p_departure=_power10(log_dep[i]), log10_p_departure=finite_or_none(log_dep[i]),
            q_value=_power10(log_q_dep[i]), log10_q_value=finite_or_none(log_q_dep[i]),
            p_conformity=_power10(log_conf[i]), log10_p_conformity=finite_or_none(log_conf[i]),
            q_conformity=_power10(log_q_conf[i]), log10_q_conformity=finite_or_none(log_q_conf[i]),
            family=None if f is None else f.name, family_size=None if f is None else f.size,
            family_level=None if f is None else f.level, provisional=bool(e.provisional),
            status=statuses[i],  # type: ignore[arg-type]
            finding_id=None, ticket_id=None,
        ))
    return rows
