"""The executive summary's conclusion rule and the benefit-risk determination (monitor.domain.report_summary)."""

from __future__ import annotations

from typing import Any

import pytest

from monitor.domain.report_summary import benefit_risk, conclude, shortfalls, summarise

CLOSED = frozenset({"closed", "rejected"})


def _result(status: str = "flagged", family: str = "exploratory", provisional: bool = False, **kw: Any) -> dict[str, Any]:
    return {"model_version": "2.1.0", "stratum": kw.pop("stratum", "age_band=>=75"), "metric": "sensitivity",
            "level": kw.pop("level", 1), "status": status, "family": family, "provisional": provisional,
            "successes": 80, "trials": 100, "estimate": 0.8, "ci_low": 0.71, "ci_high": 0.87, "claim": 0.9,
            "performance_goal": 0.88, "q_value": 0.01, **kw}


def _alarm(ticket: str | None = "RT-2") -> dict[str, Any]:
    return {"model_version": "2.1.0", "stratum": "sex=F", "metric": "specificity", "alarms_in_period": 2,
            "first_alarm": {"known_on": "2025-08-03"}, "ticket_id": ticket}


@pytest.mark.parametrize(("results", "alarms", "status", "expected", "basis"), [
    ([], [], {}, "within_claims", []),
    ([_result("conforming")], [], {}, "within_claims", []),
    ([_result()], [], {}, "signal_under_investigation", ["exploratory_flagged"]),
    ([_result(family="confirmatory", provisional=True)], [], {}, "signal_under_investigation",
     ["provisional_flagged"]),
    ([], [_alarm()], {"RT-2": "open"}, "signal_under_investigation", ["open_sequential_alarm"]),
    ([], [_alarm()], {"RT-2": "closed"}, "within_claims", []),
    ([_result(family="confirmatory"), _result()], [], {}, "confirmed_degradation",
     ["confirmatory_flagged", "exploratory_flagged"]),
])
def test_the_conclusion_follows_the_documented_rule(results, alarms, status, expected, basis) -> None:  # type: ignore[no-untyped-def]
    found = shortfalls(results, [], alarms, status)
    assert conclude(found, CLOSED) == (expected, basis)


def test_shortfalls_carry_the_ticket_of_their_finding_and_list_tests_before_alarms() -> None:
    finding = {"model_version": "2.1.0", "stratum": "age_band=>=75", "metric": "sensitivity", "ticket_id": "RT-1"}
    found = shortfalls([_result()], [finding], [_alarm()], {"RT-1": "open", "RT-2": "triaged"})
    assert [(s.kind, s.ticket_id, s.ticket_status) for s in found] == [
        ("claim_test", "RT-1", "open"), ("cusum_alarm", "RT-2", "triaged")]
    assert found[0].ci_low == 0.71 and found[0].performance_goal == 0.88 and found[1].first_alarm == "2025-08-03"


def test_summary_and_benefit_risk_of_a_document() -> None:
    document = {"results": [_result(), _result("conforming", "confirmatory", stratum="overall", level=0)],
                "findings": [], "sequential_alarms": [], "summary": {"tests": 2},
                "counts": [{"level": 0, "tp": 90, "fn": 10, "fp": 30, "tn": 870},
                           {"level": 1, "tp": 9, "fn": 1, "fp": 3, "tn": 87}]}
    change_log = {"baseline": {"period": "2025Q2", "report_id": None}, "new_model_versions": [],
                  "retired_model_versions": [], "config_changed": False,
                  "tickets_opened": [{"ticket_id": "RT-1"}], "tickets_changed": [{"ticket_id": "RT-0", "status": "closed"}]}
    s = summarise(document, {"studies": 1200, "with_ground_truth": 1000, "sites": 3}, change_log, {}, CLOSED)
    assert (s.conclusion, s.flagged, s.tests) == ("signal_under_investigation", 1, 2)
    assert s.changes.tickets_opened == ["RT-1"] and s.changes.tickets_changed == ["RT-0 → closed"]
    b = benefit_risk(document, s.shortfalls, s.conclusion, CLOSED)
    assert b.determination == "favourable_with_open_signals"
    assert (b.true_positives, b.false_negatives, b.false_positives) == (90, 10, 30)  # level 0 only
    assert [m.status for m in b.overall] == ["conforming"] and len(b.open_risks) == 1


def test_a_claim_test_and_an_alarm_of_one_stratum_metric_are_one_open_risk() -> None:
    alarm = _alarm("RT-1") | {"stratum": "age_band=>=75", "metric": "sensitivity"}
    finding = {"model_version": "2.1.0", "stratum": "age_band=>=75", "metric": "sensitivity", "ticket_id": "RT-1"}
    found = shortfalls([_result()], [finding], [alarm], {"RT-1": "open"})
    document = {"results": [], "counts": []}
    assert len(found) == 2 and len(benefit_risk(document, found, "signal_under_investigation", CLOSED).open_risks) == 1
