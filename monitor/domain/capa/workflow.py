"""What a CAPA record must hold before each ticket transition, and the 12-item checklist.

The ticket lifecycle (:mod:`monitor.domain.tickets`) maps onto the CAPA workflow (ISO 13485 8.5.2; IEC 62304
9; regulatory.md section 3)::

    open --triage--> triaged --investigate--> in_progress --implement--> validating --close--> closed

* **to triaged**: the patient-safety triage is done: item 3 (hazard, harm, risk-file item, IEC 62304 class,
  triage decision), item 4 (an assessment for every jurisdiction the product is registered in: the clock runs
  from awareness) and item 5 (containment measures with their effective date);
* **to in_progress** (investigation): item 6's plan;
* **to validating** (leaving the investigation, implementing): item 6's category and findings, item 7 (the
  modification type and its pathway), item 8 (the data-management plan, with three distinct annotation roles,
  Beijing AI-device GMP inspection guide 2024, regulatory.md 1.1), item 9 frozen, item 10;
* **to closed**: item 11 (plan and the qualifying analysis), item 12 (RACI with QA and the algorithm owner,
  the closure rationale, and a QA ``approved`` signature over the record as it is now).

``rejected`` needs only its reason. Items 1 and 2 are filled when the ticket opens.
"""

from __future__ import annotations

from typing import Any, Mapping

from monitor.domain.capa.record import CapaRecord, record_sha256

__all__ = ["CHECKLIST", "GATES", "checklist", "missing_for"]

#: Item number, title (regulatory.md section 3) and the fields of the record that carry it.
CHECKLIST: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    (1, "Identification", ("identification.capa_type", "identification.product", "identification.registrations",
                           "identification.model_versions", "identification.sites", "identification.alarm_ids",
                           "identification.report_ids")),
    (2, "Trigger evidence (immutable)", ("trigger.metric", "trigger.stratum_definition", "trigger.registered_value",
                                         "trigger.observed", "trigger.ci_low", "trigger.ci_high", "trigger.q_value",
                                         "trigger.trials", "trigger.label_maturity", "trigger.input_fingerprint",
                                         "trigger.detected_at")),
    (3, "Severity and risk linkage", ("risk.severity", "risk.hazard", "risk.harm", "risk.risk_file_item",
                                      "risk.iec62304_class", "risk.triage_decision", "risk.triaged_by")),
    (4, "Reportability assessment", ("reportability.assessments",)),
    (5, "Containment", ("containment.measures", "containment.effective_at")),
    (6, "Root cause", ("root_cause.plan", "root_cause.category", "root_cause.findings", "root_cause.evidence")),
    (7, "Proposed modification and pathway", ("modification.modification_type", "modification.description",
                                              "modification.pathway")),
    (8, "Data management plan", ("data_management.training_data", "data_management.annotation_protocol",
                                 "data_management.annotator", "data_management.reviewer",
                                 "data_management.arbitrator", "data_management.test_set_sequestration")),
    (9, "Acceptance criteria before unblinding", ("acceptance.rule", "acceptance.primary_endpoint",
                                                  "acceptance.statistical_methods", "acceptance.frozen_at")),
    (10, "Impact assessment", ("impact.benefits_risks", "impact.other_strata", "impact.labeling",
                               "impact.communication_plan")),
    (11, "Verification of effectiveness", ("verification.monitoring_plan", "verification.success_criterion",
                                           "verification.result")),
    (12, "Approvals and records", ("approvals.raci", "approvals.signatures", "approvals.closure_rationale")),
)

#: Target status -> the fields that must be filled first (as ``item number``, ``field``).
GATES: Mapping[str, tuple[tuple[int, str], ...]] = {
    "triaged": ((3, "risk.hazard"), (3, "risk.harm"), (3, "risk.risk_file_item"), (3, "risk.iec62304_class"),
                (3, "risk.triage_decision"), (4, "reportability.assessments"), (5, "containment.measures"),
                (5, "containment.effective_at")),
    "in_progress": ((6, "root_cause.plan"),),
    "validating": ((6, "root_cause.category"), (6, "root_cause.findings"), (7, "modification.modification_type"),
                   (7, "modification.pathway"), (8, "data_management.training_data"),
                   (8, "data_management.annotation_protocol"), (8, "data_management.annotator"),
                   (8, "data_management.reviewer"), (8, "data_management.arbitrator"),
                   (8, "data_management.test_set_sequestration"), (9, "acceptance.primary_endpoint"),
                   (9, "acceptance.frozen_at"), (10, "impact.benefits_risks"), (10, "impact.other_strata")),
    "closed": ((11, "verification.monitoring_plan"), (11, "verification.success_criterion"),
               (11, "verification.result"), (12, "approvals.raci"), (12, "approvals.closure_rationale")),
}
_ORDER = ("open", "triaged", "in_progress", "validating", "closed")


def _value(record: CapaRecord, path: str) -> Any:
    node: Any = record
    for part in path.split("."):
        node = getattr(node, part)
    return node


def _empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (list, tuple, dict)):
        return not value
    if hasattr(value, "model_dump"):
        return all(_empty(v) for v in value.model_dump().values())
    return False


def missing_for(record: CapaRecord, target: str, *, jurisdictions: tuple[str, ...] = ()) -> list[str]:
    """What must be filled before the ticket moves to ``target`` (empty when it may), each as
    ``item N field: why``. A move skips no gate: every gate up to ``target`` applies."""
    if target not in _ORDER:
        return []
    missing = [f"item {n} {path}" for step in _ORDER[1:_ORDER.index(target) + 1]
               for n, path in GATES[step] if _empty(_value(record, path))]
    if target != "open":
        assessed = {a.jurisdiction for a in record.reportability.assessments}
        missing += [f"item 4 reportability.assessments: no assessment for {j}" for j in jurisdictions
                    if j not in assessed]
    if _ORDER.index(target) >= _ORDER.index("validating"):
        dm = record.data_management
        roles = [r for r in (dm.annotator, dm.reviewer, dm.arbitrator) if r]
        if len(roles) == 3 and len(set(roles)) < 3:
            missing.append("item 8 data_management: annotator, reviewer and arbitrator must be three different people")
    if target == "closed":
        roles = {r.role for r in record.approvals.raci}
        missing += [f"item 12 approvals.raci: no {role}" for role in ("qa", "algorithm_owner") if role not in roles]
        digest = record_sha256(record)
        qa = {r.user_id for r in record.approvals.raci if r.role == "qa"}
        approved = [s for s in record.approvals.signatures if s.meaning == "approved"]
        if not approved:
            missing.append("item 12 approvals.signatures: no 'approved' signature")
        elif not any(s.record_sha256 == digest for s in approved):
            missing.append("item 12 approvals.signatures: the approval was signed on an earlier version of the "
                           "record (SHA-256 differs): sign again")
        elif qa and not any(s.user_id in qa and s.record_sha256 == digest for s in approved):
            missing.append("item 12 approvals.signatures: the approval is not by the RACI's QA")
    return missing


def _plain(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat().replace("+00:00", "Z")
    return value


def checklist(record: CapaRecord) -> list[dict[str, Any]]:
    """The 12 items: each with the fields that carry it, the empty ones, and an example value."""
    rows = []
    for number, title, paths in CHECKLIST:
        empty = [p for p in paths if _empty(_value(record, p))]
        first = next((p for p in paths if p not in empty), None)
        example = None if first is None else _plain(_value(record, first))
        rows.append({"item": number, "title": title, "fields": list(paths), "empty": empty,
                     "example": example})
    return rows
