"""The ticket lifecycle is a state machine (property-tested), and what a ticket fixes at creation follows
its documented tables; closing criteria are checked against stored stratum results."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.domain.tickets import (
    STATUSES,
    TERMINAL,
    TRANSITIONS,
    check_transition,
    plan_ticket,
    severity,
    unmet_criteria,
)
from monitor.errors import ConflictError, InputError
from monitor.stats.power import required_trials

FORWARD = ("open", "triaged", "in_progress", "validating", "closed")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(STATUSES), max_size=12))
def test_any_sequence_of_requests_follows_the_lifecycle(requests: list[str]) -> None:
    """Accepted moves are exactly the forward step or a rejection from a non-terminal state; nothing leaves
    a terminal state; the status only ever moves forward."""
    status, path = "open", ["open"]
    for target in requests:
        allowed = (target == "rejected" and status not in TERMINAL) or (
            status in FORWARD[:-1] and target == FORWARD[FORWARD.index(status) + 1])
        try:
            check_transition(status, target, reason="because")
        except ConflictError:
            assert not allowed
            continue
        assert allowed
        status = target
        path.append(status)
    assert path == [s for s in FORWARD if s in path] + (["rejected"] if "rejected" in path else [])
    assert all(TRANSITIONS[s] == frozenset() for s in TERMINAL)


def test_a_reason_is_required_and_unknown_statuses_are_refused() -> None:
    with pytest.raises(InputError, match="reason"):
        check_transition("open", "triaged", reason=" ")
    with pytest.raises(InputError, match="unknown"):
        check_transition("open", "done", reason="x")


@pytest.mark.parametrize(("metric", "estimate", "expected"), [
    ("sensitivity", 0.85, "major"),      # drop 0.05 < 2 x 0.04
    ("sensitivity", 0.80, "critical"),   # drop 0.10 >= 2 x 0.04
    ("npv", 0.80, "critical"),
    ("specificity", 0.85, "minor"),
    ("specificity", 0.80, "major"),
    ("ppv", 0.85, "minor"),
])
def test_severity_table(metric: str, estimate: float, expected: str) -> None:
    assert severity(metric, claim=0.90, estimate=estimate, margin=0.04) == expected


def test_plan_fixes_target_containment_and_criteria() -> None:
    plan = plan_ticket(metric="specificity", stratum="site_id=H3", claim=0.85, margin=0.05, estimate=0.78,
                       alpha=0.05, power=0.8, confidence=0.95)
    assert plan.data_collection_target == required_trials(0.85, 0.80) == 360
    assert plan.containment.startswith("Second-reader review of AI-positive calls in site_id=H3")
    assert plan.acceptance_criteria["stratum_lower_bound_at_least"] == pytest.approx(0.80)
    assert plan.acceptance_criteria["min_trials"] == 360 and plan.severity == "minor"


def _row(stratum: str, metric: str, trials: int, estimate: float, ci_low: float, status: str = "inconclusive") -> dict:
    return {"stratum": stratum, "metric": metric, "trials": trials, "estimate": estimate, "ci_low": ci_low,
            "claim": 0.90, "margin": 0.10, "status": status}


def test_unmet_criteria_name_each_failure() -> None:
    criteria = plan_ticket(metric="sensitivity", stratum="sex=F", claim=0.90, margin=0.10, estimate=0.7,
                           alpha=0.05, power=0.8, confidence=0.95).acceptance_criteria
    good = [_row("sex=F", "sensitivity", 100, 0.9, 0.83), _row("sex=M", "sensitivity", 100, 0.9, 0.83)]
    assert unmet_criteria(criteria, good) == []
    assert unmet_criteria(criteria, [])[0] == "no result for sensitivity in sex=F"
    few = unmet_criteria(criteria, [_row("sex=F", "sensitivity", 40, 0.95, 0.85)])
    assert few == ["minimum sample: 40 cases in sex=F, 78 needed"]
    low = unmet_criteria(criteria, [_row("sex=F", "sensitivity", 100, 0.85, 0.77)])
    assert low == ["lower confidence bound of sensitivity in sex=F is 0.7700, needs >= 0.8000"]
    other = unmet_criteria(criteria, good + [_row("age_band=>=75", "specificity", 80, 0.75, 0.65)])
    assert other == ["other stratum below claim - margin: specificity in age_band=>=75 is 0.7500 < 0.8000"]
    untested = unmet_criteria(criteria, good + [_row("age_band=>=75", "specificity", 8, 0.5, 0.2, "insufficient")])
    assert untested == []
