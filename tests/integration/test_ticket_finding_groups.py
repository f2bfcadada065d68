"""One ticket per group of overlapping shortfall findings, on both engines (monitor.service.tickets): the
primary's stratum opens (or updates) the ticket, the related findings point to it and are listed in its
evidence; a related stratum that still has its own open ticket gets this run's evidence there, naming the
group's ticket."""

from __future__ import annotations

import json
import uuid
from dataclasses import fields
from datetime import datetime, timedelta, timezone
from typing import Any

from monitor.domain.evaluation import StratumMetricResult
from monitor.domain.strata import StratumDefinition
from monitor.service.tickets import attach_group_evidence, ticket_finding_groups, tickets_as_json
from tests.unit.test_schemas import assert_valid

DEVICE = "lung-nodule-ct"
START = datetime(2025, 6, 30, 16, 0, tzinfo=timezone.utc)


def _result(attrs: dict[str, str], *, estimate: float, ci_high: float, trials: int) -> StratumMetricResult:
    values: dict[str, Any] = {
        "model_version": "2.1.0", "stratum": StratumDefinition.of(attrs).key if attrs else "overall",
        "level": len(attrs), "attributes": attrs, "metric": "sensitivity", "successes": round(estimate * trials),
        "trials": trials, "estimate": estimate, "ci_low": estimate - 0.05, "ci_high": ci_high, "claim": 0.92,
        "margin": 0.03, "performance_goal": 0.89, "p_value": 1e-4, "q_value": 1e-3, "confirmatory": False,
        "status": "flagged", "minimal_detectable_drop": 0.05}
    return StratumMetricResult(**{f.name: values.get(f.name) for f in fields(StratumMetricResult)})


def _run(app, flagged: list[StratumMetricResult], label: str):  # type: ignore[no-untyped-def]
    """What analyze_period does with its flagged results, with the grouping: tickets, stored run, evidence."""
    run_id = str(uuid.uuid4())
    found = [{"finding_id": str(uuid.uuid4()), "run_id": run_id, "device_id": DEVICE, "model_version": r.model_version,
              "stratum": r.stratum, "metric": r.metric, "kind": "performance",
              "evidence": {k: v for k, v in r.as_dict().items()
                           if k in ("stratum", "attributes", "metric", "successes", "trials", "estimate", "ci_low",
                                    "ci_high", "claim", "margin", "performance_goal", "p_value", "q_value",
                                    "minimal_detectable_drop")}}
             for r in flagged]
    with app.uow() as unit:
        config = unit.devices.get(DEVICE)
        at = app.clock()
        linked = ticket_finding_groups(unit, found, flagged, config, run_id=run_id, at=at, actor="t",
                                       title=lambda r: f"sensitivity below claim in {r.stratum}")
        unit.results.save_run({"run_id": run_id, "device_id": DEVICE, "period": label, "period_start": START,
                               "period_end": START + timedelta(days=92), "data_cutoff": at, "created_at": at,
                               "software_version": "t", "config_hash": config.config_hash(),
                               "input_fingerprint": "0" * 64, "document": {}, "actor": "t"}, [], found)
        attach_group_evidence(unit, linked, run_id=run_id, period=label, data_cutoff="2026-01-31T16:00:00Z", at=at)
    return linked, {f["stratum"]: f for f in found}


def test_overlapping_findings_share_one_ticket_and_an_older_ticket_is_told(app) -> None:  # type: ignore[no-untyped-def]
    severe = {"emphysema_grade": "severe"}
    severe_key = StratumDefinition.of(severe).key
    first, _ = _run(app, [_result(severe, estimate=0.84, ci_high=0.88, trials=900)], "2025Q2")
    (older,) = first.opened

    cell = _result({"age_band": ">=75", "emphysema_grade": "severe"}, estimate=0.78, ci_high=0.84, trials=300)
    women = _result({"age_band": ">=75", "sex": "F"}, estimate=0.85, ci_high=0.88, trials=700)
    apart = _result({"age_band": "<45", "sex": "M"}, estimate=0.80, ci_high=0.87, trials=200)
    linked, found = _run(app, [_result(severe, estimate=0.85, ci_high=0.885, trials=950), women, apart, cell],
                         "2025Q3")
    assert len(linked.opened) == 2 and linked.updated == [older]
    group = found[cell.stratum]["ticket_id"]
    assert found[women.stratum]["ticket_id"] == found[severe_key]["ticket_id"] == group
    assert found[apart.stratum]["ticket_id"] not in (group, older)

    with app.uow() as unit:
        stored = unit.tickets.list(device_id=DEVICE)
    assert_valid("tickets", json.loads(tickets_as_json(stored)))
    tickets = {t["ticket_id"]: t for t in stored}
    assert tickets[group]["stratum"] == cell.stratum and len(tickets) == 3
    (evidence,) = tickets[group]["evidence"]
    assert evidence["finding_id"] == found[cell.stratum]["finding_id"]
    related = evidence["evidence"]["related_findings"]
    assert [(r["stratum"], r["own_ticket_id"]) for r in related] == [(women.stratum, None), (severe_key, older)]
    assert evidence["evidence"]["period"] == "2025Q3"
    latest = tickets[older]["evidence"][-1]
    assert latest["finding_id"] == found[severe_key]["finding_id"]
    assert latest["evidence"]["grouped_under"] == {"ticket_id": group, "finding_id": found[cell.stratum]["finding_id"],
                                                   "stratum": cell.stratum}
    assert [len(tickets[t]["evidence"]) for t in (older, group)] == [2, 1]
