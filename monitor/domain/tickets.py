"""Corrective-action tickets: the lifecycle state machine, and what a ticket fixes when it opens.

Lifecycle (ISO 13485 §8.5.2 CAPA; IEC 62304 §9 problem resolution)::

    open -> triaged -> in_progress -> validating -> closed
      \\________\\____________\\_____________\\-----> rejected (with a reason)

Closing needs a qualifying analysis (see :func:`unmet_criteria`); rejecting needs a reason.
``closed`` and ``rejected`` are terminal.

At creation a ticket fixes, besides its immutable trigger evidence:

* **severity** from the metric's clinical risk and the size of the drop (:data:`SEVERITY_TABLE`);
* a **suggested containment** measure (:data:`CONTAINMENT`);
* the **data-collection target**: cases (confirmed positives for sensitivity, confirmed negatives
  for specificity) needed in the stratum for the exact one-sided binomial test to detect a drop to
  claim - margin with the configured power (Chernick & Liu, Am Stat 2002;56:149-155, via
  :func:`monitor.stats.power.required_trials`);
* **acceptance criteria** that a newer model version must meet before the ticket can close
  (set before unblinding, as FDA PCCP modification protocols require).

References: regulatory.md section 3 (ticket content); ISO 14971 (risk = severity of harm x probability).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Literal, Mapping

from monitor.domain.evaluation import TESTED_STATUSES
from monitor.errors import ConflictError, InputError
from monitor.stats.power import required_trials

__all__ = [
    "CONTAINMENT", "METRIC_RISK", "SEVERITY_TABLE", "STATUSES", "TERMINAL", "TRANSITIONS", "TicketPlan",
    "acceptance_criteria", "check_transition", "drop_size", "plan_ticket", "severity", "unmet_criteria",
]

STATUSES = ("open", "triaged", "in_progress", "validating", "closed", "rejected")
TERMINAL = frozenset({"closed", "rejected"})
#: Allowed moves; ``rejected`` is reachable from every non-terminal state.
TRANSITIONS: Mapping[str, frozenset[str]] = {
    "open": frozenset({"triaged", "rejected"}),
    "triaged": frozenset({"in_progress", "rejected"}),
    "in_progress": frozenset({"validating", "rejected"}),
    "validating": frozenset({"closed", "rejected"}),
    "closed": frozenset(),
    "rejected": frozenset(),
}

#: Clinical risk of a shortfall in each metric. A sensitivity (or NPV) shortfall means missed actionable
#: disease (delayed diagnosis: the higher-risk harm); a specificity (or PPV) shortfall means false alarms
#: (extra work-up, radiation, anxiety).
METRIC_RISK: Mapping[str, str] = {"sensitivity": "high", "npv": "high", "specificity": "moderate", "ppv": "moderate"}

#: Severity by (clinical risk, drop size). The drop is *large* when the estimate is at least two margins
#: below the claim, otherwise *moderate* (a flagged finding is always at least one margin below).
SEVERITY_TABLE: Mapping[tuple[str, str], str] = {
    ("high", "large"): "critical",
    ("high", "moderate"): "major",
    ("moderate", "large"): "major",
    ("moderate", "moderate"): "minor",
}

#: Suggested containment per metric; ``{stratum}`` is the stratum key.
CONTAINMENT: Mapping[str, str] = {
    "sensitivity": ("Mandatory double read (independent second radiologist) of all studies in {stratum} "
                    "until the ticket closes; notify users that AI-negative results in this subgroup are less reliable."),
    "npv": ("Mandatory double read of AI-negative studies in {stratum} until the ticket closes; "
            "notify users that AI-negative results in this subgroup are less reliable."),
    "specificity": ("Second-reader review of AI-positive calls in {stratum} before follow-up is ordered, "
                    "until the ticket closes."),
    "ppv": "Second-reader review of AI-positive calls in {stratum} before follow-up is ordered, until the ticket closes.",
}


#: Containment of a claim of claims.metrics (accuracy, agreement, a rate that must stay low, ...).
_CLAIMED_METRIC_CONTAINMENT = ("Second-reader review of AI results in {stratum} until the ticket closes; notify users "
                               "that the claimed performance is not met in this subgroup.")
Direction = Literal["minimum", "maximum"]


def check_transition(current: str, target: str, *, reason: str) -> None:
    """Raise :class:`ConflictError` unless ``current -> target`` is allowed (a reason is always required)."""
    if target not in STATUSES:
        raise InputError(f"unknown ticket status {target!r}: use one of {', '.join(STATUSES)}")
    if not reason.strip():
        raise InputError("a transition needs a reason")
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "none (terminal)"
        raise ConflictError(f"a ticket in status {current!r} cannot move to {target!r} (allowed: {allowed})")


def drop_size(claim: float, estimate: float, margin: float, direction: Direction = "minimum") -> str:
    """``large`` when the estimate is at least two margins on the wrong side of the claim (below a minimum,
    above a maximum), else ``moderate``."""
    departure = claim - estimate if direction == "minimum" else estimate - claim
    return "large" if departure >= 2 * margin - 1e-12 else "moderate"


def severity(metric: str, claim: float, estimate: float, margin: float, direction: Direction = "minimum") -> str:
    """Severity from :data:`SEVERITY_TABLE` (a metric of claims.metrics is of moderate clinical risk)."""
    return SEVERITY_TABLE[(METRIC_RISK.get(metric, "moderate"), drop_size(claim, estimate, margin, direction))]


def acceptance_criteria(*, metric: str, stratum: str, claim: float, margin: float, min_trials: int,
                        confidence: float, direction: Direction = "minimum") -> dict[str, Any]:
    """The criteria a newer model version must meet to close the ticket (fixed at creation): for a claimed
    minimum the stratum's lower confidence bound at least the goal (claim - margin), for a claimed maximum
    (a rate that must stay low, claims.metrics) its upper bound at most the goal (claim + margin)."""
    if direction == "maximum":
        goal = round(claim + margin, 10)
        return {
            "metric": metric, "stratum": stratum, "confidence": confidence,
            "stratum_upper_bound_at_most": goal, "min_trials": int(min_trials),
            "other_strata_estimate_at_least": "each other claimed stratum-metric on the claimed side of its goal",
            "text": (f"{metric} in {stratum}: upper {confidence:.0%} confidence bound at most {goal:.3f} (maximum "
                     f"{claim:.3f} + margin {margin:.3f}) with at least {int(min_trials)} cases; no other tested "
                     "stratum-metric with a claim estimated on the wrong side of its goal"),
        }
    goal = round(claim - margin, 10)
    return {
        "metric": metric,
        "stratum": stratum,
        "confidence": confidence,
        "stratum_lower_bound_at_least": goal,
        "min_trials": int(min_trials),
        "other_strata_estimate_at_least": "claim - margin of each stratum-metric with a claim",
        "text": (f"{metric} in {stratum}: lower {confidence:.0%} confidence bound >= {goal:.3f} (claim {claim:.3f} - "
                 f"margin {margin:.3f}) with at least {int(min_trials)} cases; no other tested stratum-metric "
                 f"with a claim estimated below its claim - margin"),
    }


@dataclass(frozen=True)
class TicketPlan:
    """What a new ticket fixes at creation."""

    severity: str
    containment: str
    data_collection_target: int
    acceptance_criteria: dict[str, Any]


def _target(claim: float, margin: float, *, alpha: float, power: float, direction: Direction) -> int:
    """Cases for the exact one-sided test to detect a move of one margin from the claim (a proportion in
    (0, 1)); 0 when there is no margin or the claim is not a proportion (e.g. false positives per scan)."""
    if margin <= 0:
        return 0
    if direction == "maximum":  # an excess of the rate p is a shortfall of 1 - p
        claim = 1.0 - claim
    if not 0.0 < claim - margin < claim < 1.0:
        return 0
    return required_trials(claim, claim - margin, alpha=alpha, power=power)


def plan_ticket(*, metric: str, stratum: str, claim: float, margin: float, estimate: float, alpha: float,
                power: float, confidence: float, direction: Direction = "minimum") -> TicketPlan:
    """Severity, containment, data-collection target and acceptance criteria of a flagged stratum-metric
    (``direction`` 'maximum': a rate of claims.metrics that must stay low, flagged on an excess)."""
    target = _target(claim, margin, alpha=alpha, power=power, direction=direction)
    return TicketPlan(
        severity=severity(metric, claim, estimate, margin, direction),
        containment=CONTAINMENT.get(metric, _CLAIMED_METRIC_CONTAINMENT).format(stratum=stratum),
        data_collection_target=target,
        acceptance_criteria=acceptance_criteria(metric=metric, stratum=stratum, claim=claim, margin=margin,
                                                min_trials=target, confidence=confidence, direction=direction),
    )


def unmet_criteria(criteria: Mapping[str, Any], results: Iterable[Mapping[str, Any]]) -> list[str]:
    """The criteria that stored stratum results (of one model version of one run) fail; empty when all are met.

    ``results`` are ``stratum_results`` rows: ``stratum, metric, trials, estimate, ci_low, claim, margin, status``.
    """
    rows = list(results)
    unmet: list[str] = []
    target = [r for r in rows if r["stratum"] == criteria["stratum"] and r["metric"] == criteria["metric"]]
    if not target:
        unmet.append(f"no result for {criteria['metric']} in {criteria['stratum']}")
    else:
        row = target[0]
        if row["trials"] < criteria["min_trials"]:
            unmet.append(f"minimum sample: {row['trials']} cases in {criteria['stratum']}, "
                         f"{criteria['min_trials']} needed")
        if "stratum_upper_bound_at_most" in criteria:
            goal = criteria["stratum_upper_bound_at_most"]
            if row.get("ci_high") is None or row["ci_high"] > goal + 1e-12:
                high = "none" if row.get("ci_high") is None else f"{row['ci_high']:.4f}"
                unmet.append(f"upper confidence bound of {criteria['metric']} in {criteria['stratum']} is {high}, "
                             f"needs <= {goal:.4f}")
        else:
            goal = criteria["stratum_lower_bound_at_least"]
            if row["ci_low"] is None or row["ci_low"] < goal - 1e-12:
                low = "none" if row["ci_low"] is None else f"{row['ci_low']:.4f}"
                unmet.append(f"lower confidence bound of {criteria['metric']} in {criteria['stratum']} is {low}, "
                             f"needs >= {goal:.4f}")
    for r in rows:
        if (r["stratum"], r["metric"]) == (criteria["stratum"], criteria["metric"]):
            continue
        if r["status"] not in TESTED_STATUSES or r.get("provisional") or r["claim"] is None or r["estimate"] is None:
            continue
        if r.get("direction") == "maximum":
            if r["estimate"] > r["claim"] + r["margin"] + 1e-12:
                unmet.append(f"other stratum above maximum + margin: {r['metric']} in {r['stratum']} is "
                             f"{r['estimate']:.4f} > {r['claim'] + r['margin']:.4f}")
        elif r["estimate"] < r["claim"] - r["margin"] - 1e-12:
            unmet.append(f"other stratum below claim - margin: {r['metric']} in {r['stratum']} is "
                         f"{r['estimate']:.4f} < {r['claim'] - r['margin']:.4f}")
    return unmet
