"""Changes to a CAPA record: a section's fields set by a person, the acceptance criteria frozen, a signature
added, the qualifying analysis recorded. Each returns a new record (records are immutable values); the service
stores it with an audit record of the old and new section."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping, Sequence

from pydantic import BaseModel, ValidationError

from monitor.domain.capa.pathway import PccpModification, decide_pathway
from monitor.domain.capa.record import (
    SIGNATURE_MEANINGS,
    USER_FIELDS,
    CapaRecord,
    CapaSignature,
    ErrorReview,
    JurisdictionAssessment,
    VerificationResult,
    record_sha256,
)
from monitor.domain.capa.reportability import EVENT_CLASSES, reporting_deadline
from monitor.errors import ConflictError, InputError

__all__ = ["Counts", "add_signature", "freeze_acceptance", "record_verification", "update_section"]

#: ``(source, run_id, model_version, successes, trials)`` of the pathway's comparison.
Counts = tuple[str, str, str, int, int]


def _problems(exc: ValidationError, section: str) -> str:
    """Field locations and messages only (never the values given)."""
    return "; ".join(f"{section}." + ".".join(str(p) for p in e["loc"]) + f": {e['msg']}" for e in exc.errors()[:5])


def _assessment(raw: Any, *, aware_default: datetime, actor: str, at: datetime) -> JurisdictionAssessment:
    if not isinstance(raw, Mapping):
        raise InputError("reportability.assessments: each entry is an object with jurisdiction, event_class, "
                         "rationale and optionally aware_at")
    jurisdiction, event_class = raw.get("jurisdiction"), raw.get("event_class")
    table = EVENT_CLASSES.get(str(jurisdiction))
    if table is None:
        raise InputError(f"reportability: unknown jurisdiction: use one of {', '.join(EVENT_CLASSES)}")
    if event_class not in table:
        raise InputError(f"reportability: unknown event class for {jurisdiction}: use one of {', '.join(table)}")
    unknown = set(raw) - {"jurisdiction", "event_class", "rationale", "aware_at"}
    if unknown:
        raise InputError(f"reportability.assessments: unknown field(s) {', '.join(sorted(unknown))}")
    aware = raw.get("aware_at") or aware_default
    try:
        aware_at = JurisdictionAssessment.model_validate({
            "jurisdiction": jurisdiction, "event_class": event_class, "decision": "not_reportable",
            "rationale": raw.get("rationale") or "", "aware_at": aware, "deadline": None, "reference": "-",
            "assessed_by": actor, "assessed_at": at}).aware_at
    except ValidationError as exc:
        raise InputError(_problems(exc, "reportability.assessments")) from None
    if aware_at.tzinfo is None:
        raise InputError("reportability.assessments.aware_at needs a UTC offset")
    return JurisdictionAssessment(
        jurisdiction=jurisdiction, event_class=event_class,  # type: ignore[arg-type]
        decision="not_reportable" if event_class == "not_reportable" else "reportable",
        rationale=str(raw.get("rationale")), aware_at=aware_at,
        deadline=reporting_deadline(str(jurisdiction), str(event_class), aware_at), reference=table[event_class][2],
        assessed_by=actor, assessed_at=at)


def update_section(record: CapaRecord, section: str, values: Mapping[str, Any], *, actor: str, at: datetime,
                   alpha: float, pccp: Sequence[PccpModification] = (), counts: Counts | None = None) -> CapaRecord:
    """``record`` with ``values`` set in ``section`` (only the fields of :data:`USER_FIELDS`); computed fields
    (deadlines, pathway, who and when) follow. ``counts`` are the pathway comparison's counts (default: the
    trigger's)."""
    if section == "trigger":
        raise ConflictError("item 2, the trigger evidence, is immutable")
    if section not in USER_FIELDS:
        raise InputError(f"unknown CAPA section {section!r}: use one of {', '.join(USER_FIELDS)}")
    unknown = set(values) - set(USER_FIELDS[section])
    if unknown:
        raise InputError(f"{section}: unknown or computed field(s) {', '.join(sorted(unknown))}; "
                         f"settable: {', '.join(USER_FIELDS[section])}")
    if section == "acceptance" and record.acceptance.frozen_at is not None:
        raise ConflictError(f"the acceptance criteria of {record.ticket_id} were frozen at "
                            f"{record.acceptance.frozen_at.isoformat()}: they cannot change")
    current: BaseModel = getattr(record, section)
    merged = current.model_dump() | dict(values)
    if section == "reportability":
        assessments = {a.jurisdiction: a for a in record.reportability.assessments}
        for raw in values.get("assessments") or []:
            new = _assessment(raw, aware_default=record.trigger.detected_at, actor=actor, at=at)
            assessments[new.jurisdiction] = new
        merged = {"assessments": [a.model_dump() for a in assessments.values()]}
    elif section == "risk" and merged.get("triage_decision"):
        merged |= {"triaged_by": actor, "triaged_at": at}
    elif section == "containment":
        merged["decided_by"] = actor
    elif section == "root_cause":
        review = merged.pop("error_review", None)
        evidence = record.root_cause.evidence
        if review is not None:
            if not isinstance(review, Mapping) or set(review) - {"reviewed", "summary"}:
                raise InputError("root_cause.error_review: an object with reviewed and summary")
            base = evidence.error_review or ErrorReview(error_kind="errors", errors=0)
            evidence = evidence.model_copy(update={"error_review": base.model_copy(update=dict(review))})
        merged |= {"evidence": evidence.model_dump(), "updated_by": actor}
    try:
        updated = type(current).model_validate(merged)
    except ValidationError as exc:
        raise InputError(_problems(exc, section)) from None
    if section == "modification" and updated.modification_type:  # type: ignore[attr-defined]
        trigger = record.trigger
        source, run_id, version, successes, trials = counts or (
            "trigger", trigger.run_id, trigger.model_version, trigger.successes, trigger.trials)
        updated = updated.model_copy(update={"pathway": decide_pathway(
            updated.modification_type, source=source, run_id=run_id,  # type: ignore[attr-defined,arg-type]
            model_version=version, successes=successes, trials=trials, registered_value=trigger.registered_value,
            alpha=alpha, pccp=pccp)})
    return record.model_copy(update={section: updated})


def freeze_acceptance(record: CapaRecord, *, actor: str, at: datetime) -> CapaRecord:
    """Freeze item 9 (before any newer model is evaluated): later edits are refused."""
    acceptance = record.acceptance
    if acceptance.frozen_at is not None:
        raise ConflictError(f"the acceptance criteria of {record.ticket_id} are already frozen")
    missing = [name for name in ("rule", "primary_endpoint", "statistical_methods")
               if getattr(acceptance, name) in (None, "")]
    if missing:
        raise ConflictError(f"cannot freeze the acceptance criteria of {record.ticket_id}: item 9 "
                            + ", ".join(f"acceptance.{m}" for m in missing) + " empty")
    return record.model_copy(update={"acceptance": acceptance.model_copy(update={"frozen_at": at, "frozen_by": actor})})


def add_signature(record: CapaRecord, *, user_id: str, printed_name: str, meaning: str, at: datetime) -> CapaRecord:
    """``record`` signed by ``user_id`` as ``meaning``, bound to :func:`record_sha256` of the record now.

    One person does not both review and approve the same version of the record (separation of duties)."""
    if meaning not in SIGNATURE_MEANINGS:
        raise InputError(f"unknown signature meaning {meaning!r}: use {', '.join(SIGNATURE_MEANINGS)}")
    digest = record_sha256(record)
    same = [s for s in record.approvals.signatures if s.record_sha256 == digest]
    if any(s.user_id == user_id and s.meaning == meaning for s in same):
        raise ConflictError(f"{user_id} has already signed this version of the record as {meaning}")
    if any(s.user_id == user_id and s.meaning != meaning for s in same):
        raise ConflictError(f"{user_id} signed this version of the record with another meaning and cannot also "
                            f"sign it as {meaning} (separation of duties)")
    signature = CapaSignature(user_id=user_id, printed_name=printed_name, meaning=meaning,  # type: ignore[arg-type]
                              signed_at=at, record_sha256=digest)
    approvals = record.approvals.model_copy(update={"signatures": [*record.approvals.signatures, signature]})
    return record.model_copy(update={"approvals": approvals})


def record_verification(record: CapaRecord, *, run_id: str, model_version: str, at: datetime) -> CapaRecord:
    """``record`` with the analysis that met its acceptance criteria (item 11)."""
    if record.acceptance.frozen_at is None:
        raise ConflictError(f"the acceptance criteria of {record.ticket_id} are not frozen: freeze them before a "
                            "newer model is evaluated against them")
    result = VerificationResult(run_id=run_id, model_version=model_version, at=at)
    return record.model_copy(update={"verification": record.verification.model_copy(update={"result": result})})
