"""Corrective-action tickets: open (from an analysis), move through the lifecycle, comment, export; and their
CAPA record (regulatory.md section 3): filled section by section, acceptance criteria frozen, e-signed.

Every state change and every change of the CAPA record writes an audit record (old and new value) and a
webhook event carrying the record in the same transaction (the outbox; :mod:`monitor.service.webhook`
delivers it); a state change also writes a ``ticket_transitions`` row. The lifecycle rules are in
:mod:`monitor.domain.tickets`, the CAPA record and its workflow gates in :mod:`monitor.domain.capa`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from monitor.domain import capa as capa_rules
from monitor.domain.capa import CapaRecord, PccpModification
from monitor.domain.capa.editing import Counts
from monitor.domain.device import DeviceConfig
from monitor.domain.evaluation import StratumMetricResult
from monitor.domain.finding_groups import Shortfall, group_findings
from monitor.domain.tickets import check_transition, plan_ticket, unmet_criteria
from monitor.errors import ConflictError, InputError, NotFoundError
from monitor.service.ports import Clock, UnitOfWork, UnitOfWorkFactory

__all__ = [
    "TICKET_CSV_COLUMNS", "TRANSITION_CSV_COLUMNS", "Authenticate", "FlaggedClaim", "GroupTickets", "attach_group_evidence",
    "capa_record", "comment_ticket", "freeze_capa_acceptance", "get_ticket", "list_tickets", "open_ticket",
    "sign_capa", "ticket_finding_groups", "tickets_as_csv", "tickets_as_json", "transition_ticket",
    "transitions_as_csv", "update_capa", "verify_capa",
]

#: ``authenticate(user_id, password)`` returns the principal or raises AuthenticationError (as for reports).
Authenticate = Callable[[str, str], Any]

TICKET_CSV_COLUMNS = (
    "ticket_id", "status", "severity", "device_id", "model_version", "stratum", "metric", "title", "created_at",
    "updated_at", "evidence_runs", "latest_period", "latest_estimate", "latest_ci_low", "latest_ci_high", "claim",
    "margin", "latest_q_value", "latest_successes", "latest_trials", "data_collection_target", "containment",
    "acceptance_criteria", "closed_run_id", "resolution", "transitions",
)
TRANSITION_CSV_COLUMNS = ("ticket_id", "from_status", "to_status", "at", "actor", "reason", "run_id")
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _event(ticket: dict[str, Any], *, event: str, at: datetime, actor: str, from_status: str | None,
           reason: str) -> dict[str, Any]:
    """The generic JSON a webhook receives for a ticket event."""
    return _jsonable({
        "event": event, "ticket_id": ticket["ticket_id"], "device_id": ticket["device_id"],
        "model_version": ticket["model_version"], "stratum": ticket["stratum"], "metric": ticket["metric"],
        "severity": ticket.get("severity"), "title": ticket["title"], "from_status": from_status,
        "status": ticket["status"], "reason": reason, "actor": actor, "at": at, "capa": ticket.get("capa"),
    })


class FlaggedClaim(Protocol):
    """What a ticket is opened for: a flagged stratum-metric of a model version with its claim (a performance
    result, :class:`~monitor.domain.evaluation.StratumMetricResult`, or a decided claim of claims.metrics,
    :class:`~monitor.domain.analysis_document.metric_claims.MetricClaimRow`, which adds its ``direction``)."""

    @property
    def model_version(self) -> str: ...
    @property
    def stratum(self) -> str: ...
    @property
    def metric(self) -> str: ...
    @property
    def claim(self) -> float | None: ...
    @property
    def margin(self) -> float | None: ...
    @property
    def estimate(self) -> float | None: ...


def open_ticket(unit: UnitOfWork, result: FlaggedClaim, config: DeviceConfig, *, title: str,
                at: datetime, actor: str, run_id: str) -> str:
    """Open a ticket for a flagged result inside the caller's unit of work; return its id. A claimed maximum
    (``result.direction == 'maximum'``, claims.metrics) gets acceptance criteria on its upper bound (at most the
    goal)."""
    assert result.claim is not None and result.margin is not None and result.estimate is not None
    rules = config.monitoring
    plan = plan_ticket(metric=result.metric, stratum=result.stratum, claim=result.claim, margin=result.margin,
                       estimate=result.estimate, alpha=rules.alpha, power=rules.power, confidence=rules.confidence,
                       direction=getattr(result, "direction", "minimum"))
    ticket_id = unit.tickets.create(
        device_id=config.device.id, model_version=result.model_version, stratum=result.stratum, metric=result.metric,
        title=title, at=at, severity=plan.severity, containment=plan.containment,
        acceptance_criteria=plan.acceptance_criteria, data_collection_target=plan.data_collection_target)
    reason = f"opened by analysis run {run_id}"
    unit.tickets.record_transition(ticket_id, from_status=None, to_status="open", actor=actor, reason=reason,
                                   at=at, run_id=run_id)
    unit.audit.append(at=at, actor=actor, action="ticket.open", entity="ticket", entity_id=ticket_id,
                      details={"old": None, "new": {"status": "open", "severity": plan.severity,
                                                    "data_collection_target": plan.data_collection_target,
                                                    "acceptance_criteria": plan.acceptance_criteria},
                               "run_id": run_id, "stratum": result.stratum, "metric": result.metric,
                               "model_version": result.model_version})
    ticket = {"ticket_id": ticket_id, "device_id": config.device.id, "model_version": result.model_version,
              "stratum": result.stratum, "metric": result.metric, "severity": plan.severity, "title": title,
              "status": "open"}
    unit.tickets.enqueue_event(ticket_id, event="ticket.opened", payload=_event(
        ticket, event="ticket.opened", at=at, actor=actor, from_status=None, reason=reason), at=at)
    return ticket_id


#: What a related finding contributes to its group's ticket evidence.
RELATED_FIELDS = ("stratum", "attributes", "metric", "successes", "trials", "estimate", "ci_low", "ci_high",
                   "performance_goal", "p_value", "p_shortfall", "q_value", "family")


@dataclass
class GroupTickets:
    """Tickets opened and updated for a run's grouped shortfall findings, and the evidence to attach to them
    once the run and its findings are stored (:func:`attach_group_evidence`): ``(ticket_id, finding_id,
    evidence)``, one entry per ticket."""

    opened: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    evidence: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    actor: str = "system"  #: who ran the analysis (the CAPA records of the opened tickets are theirs)


def _shortfall(finding: dict[str, Any], result: StratumMetricResult) -> Shortfall:
    return Shortfall(finding_id=finding["finding_id"], model_version=result.model_version, metric=result.metric,
                     stratum=result.stratum, attributes=dict(result.attributes), upper_bound=result.ci_high,
                     goal=result.performance_goal, trials=result.trials)


def ticket_finding_groups(unit: UnitOfWork, findings: Sequence[dict[str, Any]],
                          results: Sequence[StratumMetricResult], config: DeviceConfig, *, run_id: str,
                          at: datetime, actor: str, title: Callable[[StratumMetricResult], str]) -> GroupTickets:
    """One ticket per group of overlapping shortfall findings (:func:`monitor.domain.finding_groups.group_findings`).

    ``findings`` are the run's performance findings and ``results`` their flagged results, in the same
    order. Each group's ticket is the open ticket of its primary finding's model version, stratum and
    metric, opened when there is none (:func:`open_ticket`). Every finding of the group gets that
    ticket's id (``finding["ticket_id"]``, and ``created_at``); the ticket's evidence of this run is the
    primary's, with the related findings listed under ``related_findings``. A related finding whose own
    stratum still has an open ticket (opened by an earlier run) adds its evidence there too, naming the
    group's ticket under ``grouped_under``, so that ticket is not left without news while it is open.
    """
    pairs = {f["finding_id"]: (f, r) for f, r in zip(findings, results, strict=True)}
    device_id = config.device.id
    done = GroupTickets(actor=actor)
    for group in group_findings(_shortfall(f, r) for f, r in pairs.values()):
        finding, result = pairs[group.primary.finding_id]
        existing = unit.tickets.find_open(device_id, result.model_version, result.stratum, result.metric)
        if existing is None:
            ticket_id = open_ticket(unit, result, config, title=title(result), at=at, actor=actor, run_id=run_id)
            done.opened.append(ticket_id)
        else:
            ticket_id = existing["ticket_id"]
            done.updated.append(ticket_id)
        related = []
        for member in group.related:
            other, other_result = pairs[member.finding_id]
            own = unit.tickets.find_open(device_id, other_result.model_version, other_result.stratum,
                                         other_result.metric)
            own_id = own["ticket_id"] if own is not None and own["ticket_id"] != ticket_id else None
            related.append({"finding_id": member.finding_id, "own_ticket_id": own_id,
                            **{k: other["evidence"].get(k) for k in RELATED_FIELDS}})
            if own_id is not None:
                done.updated.append(own_id)
                done.evidence.append((own_id, member.finding_id, other["evidence"] | {"grouped_under": {
                    "ticket_id": ticket_id, "finding_id": finding["finding_id"], "stratum": result.stratum}}))
            other["ticket_id"], other["created_at"] = ticket_id, at
        finding["ticket_id"], finding["created_at"] = ticket_id, at
        done.evidence.append((ticket_id, finding["finding_id"], finding["evidence"] | {"related_findings": related}))
    return done


def attach_group_evidence(unit: UnitOfWork, tickets: GroupTickets, *, run_id: str, period: str, data_cutoff: str,
                          at: datetime) -> None:
    """Attach the evidence of :func:`ticket_finding_groups` (after the run and its findings are stored), with
    the run, period and cut-off it comes from."""
    opened = set(tickets.opened)
    for ticket_id, finding_id, evidence in tickets.evidence:
        stored = evidence | {"run_id": run_id, "period": period, "data_cutoff": data_cutoff}
        unit.tickets.add_evidence(ticket_id, run_id=run_id, finding_id=finding_id, at=at, evidence=stored)
        if ticket_id in opened and "grouped_under" not in evidence:
            opened.discard(ticket_id)
            _open_capa(unit, ticket_id, finding_id=finding_id, evidence=stored, run_id=run_id, at=at,
                       actor=tickets.actor)


def _open_capa(unit: UnitOfWork, ticket_id: str, *, finding_id: str, evidence: dict[str, Any], run_id: str,
               at: datetime, actor: str, detected_at: datetime | None = None) -> None:
    """The CAPA record of a ticket just opened (items 1 and 2 from the finding and its stored run); ``detected_at``:
    when the finding was detected (default ``at``, the time of this record)."""
    ticket = unit.tickets.lock(ticket_id)
    record = capa_rules.open_record(
        ticket_id=ticket_id, config=unit.devices.get(ticket["device_id"]), model_version=ticket["model_version"],
        finding_id=finding_id, evidence=evidence, run=unit.results.get_run(run_id), detected_at=detected_at or at,
        severity=ticket["severity"], containment=ticket["containment"], acceptance=ticket["acceptance_criteria"])
    _store_capa(unit, ticket | {"capa": None}, record, action="ticket.capa.open", section=None, at=at, actor=actor)


def _locked_with_record(unit: UnitOfWork, ticket_id: str, *, at: datetime, actor: str) -> dict[str, Any]:
    """The locked ticket, with its CAPA record. A ticket opened before records were kept (before migration 0011)
    gets its record on its first CAPA edit: items 1 and 2 from its first evidence (the finding and stored run that
    opened it, detected when that evidence was added), audited as ``ticket.capa.open`` like any other."""
    ticket = unit.tickets.lock(ticket_id)
    if ticket.get("capa") is not None or ticket["status"] in ("closed", "rejected"):
        return ticket
    first = next((e for e in unit.tickets.get(ticket_id)["evidence"]
                  if "grouped_under" not in (e["evidence"] or {})), None)
    if first is None:  # no evidence to build items 1 and 2 from: _record says so
        return ticket
    _open_capa(unit, ticket_id, finding_id=first["finding_id"], evidence=first["evidence"], run_id=first["run_id"],
               at=at, actor=actor, detected_at=first["added_at"])
    return unit.tickets.lock(ticket_id)


def _store_capa(unit: UnitOfWork, ticket: dict[str, Any], record: CapaRecord, *, action: str, section: str | None,
                at: datetime, actor: str) -> None:
    """Store ``record`` with an audit record of the old and new value (of ``section``, or the whole record) and a
    ``ticket.capa_updated`` webhook event carrying the record."""
    old, new = ticket.get("capa"), record.model_dump(mode="json")
    unit.tickets.set_capa(ticket["ticket_id"], new, at=at)
    details: dict[str, Any] = {"old": old, "new": new} if section is None else {
        "section": section, "old": (old or {}).get(section), "new": new[section]}
    unit.audit.append(at=at, actor=actor, action=action, entity="ticket", entity_id=ticket["ticket_id"],
                      details=details)
    unit.tickets.enqueue_event(ticket["ticket_id"], event="ticket.capa_updated", payload=_event(
        ticket | {"capa": new}, event="ticket.capa_updated", at=at, actor=actor, from_status=None,
        reason=action.removeprefix("ticket.capa.") + (f" {section}" if section else "")), at=at)


def _record(ticket: dict[str, Any]) -> CapaRecord:
    if ticket.get("capa") is None:
        raise ConflictError(f"{ticket['ticket_id']} has no CAPA record and no evidence to build one from (opened "
                            "outside an analysis): reject it with a reason, or open a new ticket from an analysis")
    return CapaRecord.model_validate(ticket["capa"])


def _editable(ticket: dict[str, Any]) -> CapaRecord:
    if ticket["status"] in ("closed", "rejected"):
        raise ConflictError(f"{ticket['ticket_id']} is {ticket['status']}: its CAPA record no longer changes")
    return _record(ticket)


def capa_record(ticket_id: str, *, uow: UnitOfWorkFactory) -> CapaRecord:
    """The CAPA record of a ticket."""
    with uow() as unit:
        return _record(unit.tickets.get(ticket_id))


def _jurisdictions(record: CapaRecord) -> tuple[str, ...]:
    """The reportability jurisdictions of the product's registrations (EU* counts as EU-MDR)."""
    names = []
    for registration in record.identification.registrations:
        name = registration.jurisdiction.upper()
        name = "EU-MDR" if name.startswith("EU") else name
        if name in capa_rules.EVENT_CLASSES and name not in names:
            names.append(name)
    return tuple(names)


def _pccp(config: DeviceConfig) -> list[PccpModification]:
    """The modifications the device's authorised PCCP covers, when its configuration declares one."""
    if config.pccp is None:
        return []
    return [PccpModification(id=m.id, modification_type=m.modification_type) for m in config.pccp.modifications]


def _validation_counts(unit: UnitOfWork, record: CapaRecord, run_id: str) -> Counts:
    """The modified model's counts in the trigger's stratum and metric, from the analysis run ``run_id``."""
    trigger = record.trigger
    for row in unit.results.get_run(run_id)["document"].get("results") or []:
        if (row["stratum"], row["metric"]) == (trigger.stratum, trigger.metric) \
                and row["model_version"] != trigger.model_version and row["trials"]:
            return ("validation_run", run_id, row["model_version"], int(row["successes"]), int(row["trials"]))
    raise ConflictError(f"analysis run {run_id} has no other model version's {trigger.metric} in {trigger.stratum}")


def update_capa(ticket_id: str, section: str, values: dict[str, Any], *, actor: str, uow: UnitOfWorkFactory,
                clock: Clock) -> CapaRecord:
    """Set fields of one section of a ticket's CAPA record (audited: old and new section)."""
    with uow() as unit:
        ticket = _locked_with_record(unit, ticket_id, at=clock(), actor=actor)
        record = _editable(ticket)
        if section == "identification":
            for report_id in values.get("report_ids") or []:
                unit.revisions.get(str(report_id))  # NotFoundError names an unknown revision
        config = unit.devices.get(ticket["device_id"])
        counts = None
        if section == "modification" and values.get("validation_run_id"):
            counts = _validation_counts(unit, record, str(values["validation_run_id"]))
        at = clock()
        updated = capa_rules.update_section(record, section, values, actor=actor, at=at,
                                            alpha=config.monitoring.alpha, pccp=_pccp(config), counts=counts)
        _store_capa(unit, ticket, updated, action="ticket.capa.update", section=section, at=at, actor=actor)
        return updated


def freeze_capa_acceptance(ticket_id: str, *, actor: str, uow: UnitOfWorkFactory, clock: Clock) -> CapaRecord:
    """Freeze the acceptance criteria (item 9) before a newer model is evaluated; later edits are refused."""
    with uow() as unit:
        at = clock()
        ticket = _locked_with_record(unit, ticket_id, at=at, actor=actor)
        updated = capa_rules.freeze_acceptance(_editable(ticket), actor=actor, at=at)
        _store_capa(unit, ticket, updated, action="ticket.capa.freeze", section="acceptance", at=at, actor=actor)
        return updated


def sign_capa(ticket_id: str, *, meaning: str, user_id: str, password: str, authenticate: Authenticate,
              uow: UnitOfWorkFactory, clock: Clock) -> CapaRecord:
    """Sign a ticket's CAPA record as ``meaning`` after re-authenticating the signer (21 CFR 11.200(a)(1)),
    bound to the record's SHA-256 (11.70), with the printed name and time (11.50), as report sign-off does."""
    authenticate(user_id, password)
    with uow() as unit:
        ticket = _locked_with_record(unit, ticket_id, at=clock(), actor=user_id)
        record = _editable(ticket)
        user = unit.access.user(user_id)
        if user is None:
            raise NotFoundError(f"user {user_id!r} does not exist")
        at = clock()
        updated = capa_rules.add_signature(record, user_id=user_id, printed_name=user["display_name"],
                                           meaning=meaning, at=at)
        _store_capa(unit, ticket, updated, action="ticket.capa.sign", section="approvals", at=at, actor=user_id)
        return updated


def verify_capa(ticket_id: str, run_id: str, *, actor: str, uow: UnitOfWorkFactory, clock: Clock) -> CapaRecord:
    """Record the analysis run of a newer model version that meets the frozen acceptance criteria (item 11)."""
    with uow() as unit:
        ticket = _locked_with_record(unit, ticket_id, at=clock(), actor=actor)
        record = _editable(ticket)
        version = _meets_criteria(unit, ticket, run_id)
        at = clock()
        updated = capa_rules.record_verification(record, run_id=run_id, model_version=version, at=at)
        _store_capa(unit, ticket, updated, action="ticket.capa.verify", section="verification", at=at, actor=actor)
        return updated


def _meets_criteria(unit: UnitOfWork, ticket: dict[str, Any], run_id: str) -> str:
    """The model version of ``run_id`` that meets the ticket's acceptance criteria; ConflictError naming the
    first unmet criterion otherwise."""
    ticket_id = ticket["ticket_id"]
    if not ticket["acceptance_criteria"]:
        raise ConflictError(f"{ticket_id} has no acceptance criteria (opened before they were fixed); "
                            "reject it with a reason instead")
    version, results = _qualifying_version(unit, ticket, unit.results.get_run(run_id))
    unmet = unmet_criteria(ticket["acceptance_criteria"], results)
    if unmet:
        raise ConflictError(f"cannot close {ticket_id} with run {run_id} (model {version}): "
                            f"unmet criterion: {unmet[0]}" + (f" (and {len(unmet) - 1} more)" if len(unmet) > 1 else ""))
    return version


def _qualifying_version(unit: UnitOfWork, ticket: dict[str, Any], run: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """The newest model version in ``run`` registered after the ticket's version, with its results (from the
    run's analysis document)."""
    if run["device_id"] != ticket["device_id"]:
        raise ConflictError(f"analysis run {run['run_id']} is of device {run['device_id']!r}, "
                            f"the ticket of {ticket['device_id']!r}")
    registered = unit.devices.model_versions(ticket["device_id"])
    rank = {v: i for i, v in enumerate(registered)}
    # the run's document: the rule's outcomes with their provisional marks (and the claims of claims.metrics)
    results = run["document"]["results"] + [
        r | {"trials": int(r["trials"] or 0)} for r in run["document"].get("metric_claims") or []]
    newer = sorted({r["model_version"] for r in results
                    if rank.get(r["model_version"], -1) > rank.get(ticket["model_version"], len(rank))},
                   key=lambda v: rank[v])
    if not newer:
        raise ConflictError(f"cannot close {ticket['ticket_id']}: analysis run {run['run_id']} has no model version "
                            f"registered after {ticket['model_version']}")
    version = newer[-1]
    return version, [r for r in results if r["model_version"] == version]


def transition_ticket(ticket_id: str, to_status: str, *, reason: str, actor: str, uow: UnitOfWorkFactory,
                      clock: Clock, run_id: str | None = None) -> dict[str, Any]:
    """Move a ticket to ``to_status``.

    A ticket with a CAPA record moves only when the record holds what the target needs
    (:func:`monitor.domain.capa.missing_for`); closing checks the acceptance criteria on ``run_id`` (default: the
    run recorded by :func:`verify_capa`). A ticket without a record (opened before records were kept) keeps the
    earlier lifecycle but cannot close."""
    with uow() as unit:
        ticket = unit.tickets.lock(ticket_id)
        check_transition(ticket["status"], to_status, reason=reason)
        record = None if ticket.get("capa") is None else CapaRecord.model_validate(ticket["capa"])
        if record is not None and to_status != "rejected":
            missing = capa_rules.missing_for(record, to_status, jurisdictions=_jurisdictions(record))
            if missing:
                raise ConflictError(f"cannot move {ticket_id} to {to_status!r}: the CAPA record lacks "
                                    + "; ".join(missing))
        details: dict[str, Any] = {"old": {"status": ticket["status"]}, "new": {"status": to_status},
                                   "reason": reason}
        resolution = None
        if to_status == "closed":
            if record is None:
                _record(ticket)  # raises: closing needs a CAPA record
            assert record is not None
            run_id = run_id or (record.verification.result.run_id if record.verification.result else None)
            if not run_id:
                raise InputError("closing a ticket needs --run: the analysis run of the newer model version")
            version = _meets_criteria(unit, ticket, run_id)
            resolution = f"acceptance criteria met by model {version} in analysis run {run_id}: {reason}"
            details |= {"run_id": run_id, "model_version": version}
        elif run_id:
            raise InputError("--run is only used when closing a ticket")
        at = clock()
        unit.tickets.record_transition(ticket_id, from_status=ticket["status"], to_status=to_status, actor=actor,
                                       reason=reason, at=at, run_id=run_id, resolution=resolution)
        unit.audit.append(at=at, actor=actor, action="ticket.transition", entity="ticket", entity_id=ticket_id,
                          details=details)
        unit.tickets.enqueue_event(ticket_id, event=f"ticket.{to_status}", payload=_event(
            ticket | {"status": to_status}, event=f"ticket.{to_status}", at=at, actor=actor,
            from_status=ticket["status"], reason=reason), at=at)
        return unit.tickets.get(ticket_id)


def comment_ticket(ticket_id: str, body: str, *, actor: str, uow: UnitOfWorkFactory, clock: Clock) -> None:
    """Add a comment to a ticket (audited)."""
    if not body.strip():
        raise InputError("a comment cannot be empty")
    with uow() as unit:
        unit.tickets.lock(ticket_id)
        at = clock()
        comment_id = unit.tickets.add_comment(ticket_id, actor=actor, body=body, at=at)
        unit.audit.append(at=at, actor=actor, action="ticket.comment", entity="ticket", entity_id=ticket_id,
                          details={"comment_id": comment_id, "old": None, "new": {"comment": body}})


def list_tickets(*, uow: UnitOfWorkFactory, device_id: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
    """Tickets with their evidence, transitions and comments, oldest first."""
    with uow() as unit:
        return unit.tickets.list(device_id=device_id, status=status)


def get_ticket(ticket_id: str, *, uow: UnitOfWorkFactory) -> dict[str, Any]:
    """One ticket with its evidence, transitions and comments."""
    with uow() as unit:
        return unit.tickets.get(ticket_id)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def tickets_as_json(tickets: list[dict[str, Any]]) -> str:
    """Tickets as a JSON document (``schemas/tickets.schema.json``)."""
    return json.dumps({"schema": "samd-monitor/tickets", "schema_version": 1, "tickets": _jsonable(tickets)},
                      indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def _cell(value: Any) -> str:
    if isinstance(value, (dict, list)):
        value = json.dumps(_jsonable(value), ensure_ascii=False, sort_keys=True)
    text = "" if value is None else str(_jsonable(value))
    return "'" + text if text.startswith(_FORMULA_PREFIXES) else text


def tickets_as_csv(tickets: list[dict[str, Any]]) -> str:
    """Tickets as CSV, one row per ticket with its latest evidence and its transitions (``from>to@at by actor``
    joined by `` | ``); cells neutralised against formula injection."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(TICKET_CSV_COLUMNS)
    for t in tickets:
        latest = t["evidence"][-1]["evidence"] if t["evidence"] else {}
        moves = " | ".join(f"{m['from_status'] or ''}>{m['to_status']}@{_jsonable(m['at'])} by {m['actor']}"
                           for m in t.get("transitions", []))
        writer.writerow([_cell(v) for v in (
            t["ticket_id"], t["status"], t.get("severity"), t["device_id"], t["model_version"], t["stratum"],
            t["metric"], t["title"], t["created_at"], t["updated_at"], len(t["evidence"]), latest.get("period"),
            latest.get("estimate"), latest.get("ci_low"), latest.get("ci_high"), latest.get("claim"),
            latest.get("margin"), latest.get("q_value"), latest.get("successes"), latest.get("trials"),
            t.get("data_collection_target"), t.get("containment"), t.get("acceptance_criteria"),
            t.get("closed_run_id"), t.get("resolution"), moves)])
    return out.getvalue()


def transitions_as_csv(tickets: list[dict[str, Any]]) -> str:
    """Every transition of ``tickets`` as CSV, one row each, oldest first within a ticket; neutralised cells."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(TRANSITION_CSV_COLUMNS)
    for t in tickets:
        for m in t.get("transitions", []):
            writer.writerow([_cell(v) for v in (t["ticket_id"], m["from_status"], m["to_status"], m["at"],
                                                m["actor"], m["reason"], m["run_id"])])
    return out.getvalue()
