"""The findings and tickets of the decided claims of claims.metrics (issue 17 item 5): each flagged row (a
shortfall below a claimed minimum, or an excess above a claimed maximum, not provisional) is a finding of kind
``metric_claim`` that opens a ticket, or adds evidence to the open ticket of the same device, model version,
stratum and metric (:func:`monitor.service.tickets.open_ticket`, acceptance criteria on the claimed side of the
goal). Inconclusive, provisional and insufficient rows never open a ticket."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from monitor.domain.analysis_document.metric_claims import MetricClaimRow
from monitor.domain.device import DeviceConfig
from monitor.domain.finding_groups import Shortfall, group_findings
from monitor.service.ports import UnitOfWork
from monitor.service.tickets import RELATED_FIELDS, GroupTickets, open_ticket

__all__ = ["ClaimFindings", "metric_claim_findings", "metric_claim_title"]

_TESTS = {"exact_binomial": "exact one-sided binomial test", "wald_z": "one-sided Wald z-test"}


@dataclass
class ClaimFindings:
    """The decided rows with their finding and ticket ids, the findings to store, the tickets to attach to."""

    rows: list[MetricClaimRow]
    findings: list[dict[str, Any]] = field(default_factory=list)
    tickets: GroupTickets = field(default_factory=GroupTickets)


def metric_claim_title(row: MetricClaimRow) -> str:
    """The ticket's one-line summary."""
    side = "below claimed minimum" if row.direction == "minimum" else "above claimed maximum"
    return (f"{row.metric} {side} in {row.stratum} (model {row.model_version}): {row.estimate:.3f} vs "
            f"{row.direction} {row.claim:.3f}")


def _evidence(row: MetricClaimRow) -> dict[str, Any]:
    """The row as a ticket's evidence (tickets.schema.json FindingEvidence: the counts, goal and p-values)."""
    data = row.model_dump(mode="json", exclude={"finding_id", "ticket_id"})
    trials = int(round(row.trials or 0))
    successes = int(round(row.events)) if row.kind == "proportion" and row.events is not None else trials
    comparison = ">=" if row.direction == "minimum" else "<="
    return data | {
        "successes": successes, "trials": trials, "performance_goal": row.goal, "minimal_detectable_drop": None,
        "test_description": (f"{_TESTS.get(row.test or '', 'test')} of H0: {row.metric} {comparison} goal "
                             f"({row.direction} claim of claims.metrics), adjusted within its decision family"),
    }


def _shortfall(finding_id: str, row: MetricClaimRow) -> Shortfall:
    """The row as the grouping sees it: a maximum claim mirrored (its lower bound above the goal is the excess
    shown), so that the most specific and most clearly short or excessive stratum leads its group."""
    if row.direction == "minimum":
        bound, goal = row.ci_high, row.goal
    else:
        bound = -row.ci_low if row.ci_low is not None else None
        goal = -row.goal if row.goal is not None else None
    return Shortfall(finding_id=finding_id, model_version=row.model_version, metric=row.metric, stratum=row.stratum,
                     attributes=dict(row.attributes), upper_bound=bound, goal=goal, trials=int(round(row.trials or 0)))


def metric_claim_findings(unit: UnitOfWork, rows: Sequence[MetricClaimRow], config: DeviceConfig, *, run_id: str,
                          at: datetime, actor: str) -> ClaimFindings:
    """Findings and tickets of the flagged rows (inside the analysis' unit of work); the evidence is attached
    after the run is stored (:func:`monitor.service.tickets.attach_group_evidence`).

    Flagged rows of one model version and metric on overlapping strata are one cause
    (:func:`monitor.domain.finding_groups.group_findings`, as for the performance findings): the group's most
    specific finding opens or updates the ticket, and the others are its related evidence."""
    out = ClaimFindings(rows=[], tickets=GroupTickets(actor=actor))
    device_id = config.device.id
    flagged = {str(uuid.uuid4()): row for row in rows if row.status == "flagged" and not row.provisional}
    ticket_of: dict[str, str] = {}
    for group in group_findings(_shortfall(fid, row) for fid, row in flagged.items()):
        primary = flagged[group.primary.finding_id]
        existing = unit.tickets.find_open(device_id, primary.model_version, primary.stratum, primary.metric)
        if existing is None:
            ticket_id = open_ticket(unit, primary, config, title=metric_claim_title(primary), at=at, actor=actor,
                                    run_id=run_id)
            out.tickets.opened.append(ticket_id)
        else:
            ticket_id = existing["ticket_id"]
            out.tickets.updated.append(ticket_id)
        related = []
        for member in group.related:
            other = flagged[member.finding_id]
            own = unit.tickets.find_open(device_id, other.model_version, other.stratum, other.metric)
            own_id = own["ticket_id"] if own is not None and own["ticket_id"] != ticket_id else None
            evidence = _evidence(other)
            related.append({"finding_id": member.finding_id, "own_ticket_id": own_id,
                            **{k: evidence.get(k) for k in RELATED_FIELDS}})
            if own_id is not None:  # its own open ticket hears of it, naming the group's ticket
                out.tickets.updated.append(own_id)
                out.tickets.evidence.append((own_id, member.finding_id, evidence | {"grouped_under": {
                    "ticket_id": ticket_id, "finding_id": group.primary.finding_id, "stratum": primary.stratum}}))
        for member in group.members:
            ticket_of[member.finding_id] = ticket_id
        out.tickets.evidence.append((ticket_id, group.primary.finding_id,
                                     _evidence(primary) | {"related_findings": related}))
    ids = {id(row): fid for fid, row in flagged.items()}
    for row in rows:
        finding_id = ids.get(id(row))
        if finding_id is None:
            out.rows.append(row)
            continue
        ticket_id = ticket_of[finding_id]
        out.findings.append({
            "finding_id": finding_id, "run_id": run_id, "device_id": device_id, "model_version": row.model_version,
            "stratum": row.stratum, "metric": row.metric, "kind": "metric_claim", "evidence": _evidence(row),
            "ticket_id": ticket_id, "created_at": at})
        out.rows.append(row.model_copy(update={"finding_id": finding_id, "ticket_id": ticket_id}))
    return out
