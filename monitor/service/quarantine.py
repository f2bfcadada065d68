"""The quarantine of rejected rows: list, export for correction, re-submit, dismiss.

A rejected row is ``open`` until either a corrected file re-sent for its batch gets its
record id accepted (``resubmitted``, with the re-submission's batch id) or a person
dismisses it with a note (``dismissed``). Every change is in the audit log. Rejected rows
never hold a patient identifier in the clear: ``patient_id`` is ``hmac-sha256:<hash>``,
which a re-submitted file may carry as is (it is taken as the pseudonym itself).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from monitor.domain.logs import (
    GROUND_TRUTH_OPTIONAL,
    GROUND_TRUTH_REQUIRED,
    PREDICTION_OPTIONAL,
    PREDICTION_REQUIRED,
    RETRACTION_REQUIRED,
)
from monitor.domain.privacy import PatientHasher
from monitor.errors import InputError, NotFoundError
from monitor.service.ingest import BatchSummary, ingest_ground_truth, ingest_predictions, ingest_retractions
from monitor.service.ports import Clock, LogSource, UnitOfWorkFactory

__all__ = ["QUARANTINE_STATUSES", "Resubmission", "dismiss_rejections", "export_rejections", "list_rejections",
           "rejections_as_csv", "resubmit"]

QUARANTINE_STATUSES = ("open", "resubmitted", "dismissed")
_KINDS = ("predictions", "ground_truth", "retractions")
_LAYOUT = {"predictions": (*PREDICTION_REQUIRED, *PREDICTION_OPTIONAL),
           "ground_truth": (*GROUND_TRUTH_REQUIRED, *GROUND_TRUTH_OPTIONAL),
           "retractions": RETRACTION_REQUIRED}
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
MAX_NOTE_LENGTH = 2000


def _check_filters(status: str | None, kind: str | None) -> None:
    if status is not None and status not in QUARANTINE_STATUSES:
        raise InputError(f"unknown status {status!r} (use {', '.join(QUARANTINE_STATUSES)})")
    if kind is not None and kind not in _KINDS:
        raise InputError(f"unknown kind {kind!r} (use {', '.join(_KINDS)})")


def list_rejections(uow: UnitOfWorkFactory, *, batch_id: int | None = None, code: str | None = None,
                    status: str | None = None, kind: str | None = None, since: datetime | None = None,
                    limit: int | None = 100, offset: int = 0) -> list[dict[str, Any]]:
    """Rejected rows, filtered by batch, reason code, quarantine status, log kind and batch start time."""
    _check_filters(status, kind)
    with uow() as unit:
        return unit.logs.rejections(batch_id=batch_id, code=code, status=status, kind=kind, since=since,
                                    limit=limit, offset=offset)


def _cell(value: str | None) -> str:
    """A CSV cell neutralised against formula injection (OWASP: a leading ``'``)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_PREFIXES) else text


def rejections_as_csv(rows: list[dict[str, Any]]) -> str:
    """The raw content of rejected rows of one log kind as CSV in that log's column layout.

    Columns: the format's required columns, then its optional and device-attribute columns that
    any of the rows holds. Cells starting with ``= + - @``, tab or carriage return get a leading
    ``'`` (remove it when a value legitimately starts so, e.g. a negative number, before re-sending).
    """
    kinds = {r["kind"] for r in rows}
    if len(kinds) > 1:
        raise InputError(f"rejected rows of several log kinds ({', '.join(sorted(kinds))}): export one kind "
                         "at a time (--kind)")
    kind = kinds.pop() if kinds else "predictions"
    layout = _LAYOUT[kind]
    present = {k for r in rows for k in (r["raw"] or {})}
    required = PREDICTION_REQUIRED if kind == "predictions" else RETRACTION_REQUIRED if kind == "retractions" \
        else GROUND_TRUTH_REQUIRED
    columns = [c for c in layout if c in required or c in present] + sorted(present - set(layout))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for r in rows:
        raw = r["raw"] or {}
        writer.writerow([_cell(raw.get(c)) for c in columns])
    return out.getvalue()


def export_rejections(uow: UnitOfWorkFactory, *, clock: Clock, actor: str, batch_id: int | None = None,
                      code: str | None = None, status: str | None = None, kind: str | None = None,
                      since: datetime | None = None, destination: str = "") -> tuple[str, int]:
    """All rejected rows matching the filters as CSV (:func:`rejections_as_csv`); the export is audited.

    Returns the CSV text and the number of rows.
    """
    _check_filters(status, kind)
    with uow() as unit:
        rows = unit.logs.rejections(batch_id=batch_id, code=code, status=status, kind=kind, since=since, limit=None)
        text = rejections_as_csv(rows)
        unit.audit.append(at=clock(), actor=actor, action="quarantine.export", entity="rejected_rows",
                          entity_id=str(batch_id) if batch_id is not None else "*",
                          details={"batch_id": batch_id, "reason_code": code, "status": status, "kind": kind,
                                   "since": since.isoformat() if since else None, "rows": len(rows),
                                   "destination": destination})
    return text, len(rows)


@dataclass
class Resubmission:
    """The outcome of re-sending a corrected file for a batch's rejected rows."""

    summary: BatchSummary
    original_batch_id: int
    resolved_rows: list[int]

    def as_dict(self) -> dict[str, object]:
        return {"original_batch_id": self.original_batch_id, "resolved_rows": self.resolved_rows,
                "batch": self.summary.as_dict()}


def _record_ids(log: LogSource, kind: str) -> set[str]:
    """The record ids a file carries (prediction ids; for ground truth also study UIDs)."""
    columns = ["prediction_id"] + (["study_uid"] if kind == "ground_truth" else [])
    found: set[str] = set()
    for _, raw in log.chunks():
        for column in columns:
            if column in raw.columns:
                found.update(str(v).strip() for v in raw[column] if v is not None and str(v).strip())
    return found


def resubmit(log: LogSource, *, batch_id: int, source: str, uow: UnitOfWorkFactory, clock: Clock, actor: str,
             hash_patient: PatientHasher | None = None, exact_ages: bool = False) -> Resubmission:
    """Ingest a corrected file as a new batch of the same kind as batch ``batch_id``, then mark the open
    rejected rows of ``batch_id`` whose record id the new batch accepted (or found already stored
    identically) as ``resubmitted``.

    The ingest is one transaction and the marking another: if the marking fails, re-running the same
    command ingests nothing new (all duplicates) and marks the rows.
    """
    with uow() as unit:
        original = unit.logs.batch(batch_id)
    if original is None:
        raise NotFoundError(f"ingestion batch {batch_id} does not exist")
    kind = original["kind"]
    if kind == "predictions":
        if hash_patient is None:
            raise InputError("re-submitting predictions needs the patient-id key")
        summary = ingest_predictions(log, source=source, uow=uow, hash_patient=hash_patient, clock=clock, actor=actor,
                                     exact_ages=exact_ages)
    elif kind == "ground_truth":
        summary = ingest_ground_truth(log, source=source, uow=uow, clock=clock, actor=actor, hash_patient=hash_patient)
    else:
        summary = ingest_retractions(log, source=source, uow=uow, clock=clock, actor=actor)
    with uow() as unit:
        still_rejected = {r["record_id"] for r in unit.logs.rejections(batch_id=summary.batch_id, limit=None)}
        accepted = sorted(_record_ids(log, kind) - still_rejected)
        at = clock()
        resolved = unit.logs.resolve_rejections(batch_id, status="resubmitted", record_ids=accepted, at=at, by=actor,
                                                resolved_batch_id=summary.batch_id)
        unit.audit.append(at=at, actor=actor, action="quarantine.resubmit", entity="ingestion_batch",
                          entity_id=str(batch_id), details={"resubmission_batch_id": summary.batch_id,
                                                            "resolved_rows": resolved, "source": source})
    return Resubmission(summary=summary, original_batch_id=batch_id, resolved_rows=resolved)


def dismiss_rejections(uow: UnitOfWorkFactory, *, batch_id: int, note: str, clock: Clock, actor: str,
                       row_number: int | None = None) -> list[int]:
    """Dismiss the open rejected rows of a batch (or the one at ``row_number``) with a note; audited.

    Returns the row numbers dismissed.
    """
    note = note.strip()
    if not note:
        raise InputError("a dismissal needs a note saying why (--note)")
    if len(note) > MAX_NOTE_LENGTH:
        raise InputError(f"the note is longer than {MAX_NOTE_LENGTH} characters")
    with uow() as unit:
        if unit.logs.batch(batch_id) is None:
            raise NotFoundError(f"ingestion batch {batch_id} does not exist")
        at = clock()
        dismissed = unit.logs.resolve_rejections(batch_id, status="dismissed", row_number=row_number, at=at, by=actor,
                                                 note=note)
        if not dismissed:
            where = f"row {row_number} of batch {batch_id}" if row_number is not None else f"batch {batch_id}"
            raise NotFoundError(f"no open rejected row at {where}")
        unit.audit.append(at=at, actor=actor, action="quarantine.dismiss", entity="ingestion_batch",
                          entity_id=str(batch_id), details={"rows": dismissed, "note": note})
    return dismissed
