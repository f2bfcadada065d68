"""Ingest the lesion logs (issue 17 item 2): the AI's lesion findings and the reference lesions, one transaction
per file.

Like the other logs (:mod:`monitor.service.ingest`): every row is accepted, a duplicate, or rejected with its row
number and reason (quarantined with the other rejected rows); the batch and its audit record
(``ingest.lesions`` / ``ingest.ref_lesions``) are stored with the rows or not at all.

* A **finding** must belong to a stored prediction of its device (``unknown_prediction`` otherwise: send the
  study's prediction row first); re-sent identical it is a duplicate, with other content a conflict (a device output
  is never changed).
* A **reference lesion** of a stored prediction is versioned like a ground-truth label: identical to its latest
  version (or to an earlier version with the same correction reason) it is a duplicate; with other content and a
  ``correction_reason`` it adds a version (a withdrawal included); without one it is a conflict.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from monitor.domain.lesion_logs import (
    FINDING_REQUIRED,
    REFERENCE_REQUIRED,
    lesion_stored_columns,
    validate_findings,
    validate_reference_lesions,
)
from monitor.domain.logs import Rejection, ValidatedChunk
from monitor.service.ingest import (
    BatchSummary, _finish, check_header, count_rejections, open_log_batch, store_source_rejections,
)
from monitor.service.ports import Clock, LogSource, Progress, UnitOfWorkFactory

__all__ = ["FINDINGS_KIND", "REFERENCES_KIND", "ingest_lesion_findings", "ingest_reference_lesions"]

FINDINGS_KIND = "lesions"
REFERENCES_KIND = "ref_lesions"


def _rejected(row: pd.Series, code: str, reason: str) -> Rejection:
    return Rejection(row_number=int(row["row_number"]), record_id=str(row["lesion_id"]), code=code, reason=reason,
                     raw={})


_UNKNOWN = "prediction_id is not a stored prediction of the row's device (send the study's prediction row first)"
_CONFLICT = ("{what} with this prediction_id and lesion_id was already received with different content; "
             "a re-send must be identical{hint}")


def _findings(unit, summary: BatchSummary, checked: ValidatedChunk,  # type: ignore[no-untyped-def]
              rejections: list[Rejection]) -> pd.DataFrame:
    """New finding rows of a chunk; duplicates counted, unknown studies and conflicts rejected (file order)."""
    fresh = []
    for device, group in checked.accepted.groupby("device_id", sort=False):
        known = unit.logs.stored_prediction_ids(str(device), group["prediction_id"].tolist())
        stored = unit.lesions.finding_hashes(str(device), list(zip(group["prediction_id"], group["lesion_id"],
                                                                   strict=True)))
        for _, row in group.iterrows():
            key = (row["prediction_id"], row["lesion_id"])
            if row["prediction_id"] not in known:
                rejections.append(_rejected(row, "unknown_prediction", _UNKNOWN))
            elif key not in stored:
                stored[key] = row["row_hash"]
                fresh.append(row)
            elif stored[key] == row["row_hash"]:
                summary.duplicates += 1
            else:
                rejections.append(_rejected(row, "conflicting_duplicate",
                                            _CONFLICT.format(what="a lesion finding", hint="")))
    return pd.DataFrame(fresh)


def _references(unit, summary: BatchSummary, checked: ValidatedChunk,  # type: ignore[no-untyped-def]
                rejections: list[Rejection]) -> pd.DataFrame:
    """New reference-lesion versions of a chunk (file order: a later row may correct an earlier one)."""
    fresh = []
    for device, group in checked.accepted.groupby("device_id", sort=False):
        known = unit.logs.stored_prediction_ids(str(device), group["prediction_id"].tolist())
        stored = unit.lesions.reference_versions(str(device), list(zip(group["prediction_id"], group["lesion_id"],
                                                                       strict=True)))
        for _, row in group.iterrows():
            key = (row["prediction_id"], row["lesion_id"])
            reason = None if pd.isna(row["correction_reason"]) else row["correction_reason"]
            version, latest, history = stored.get(key, (0, "", set()))
            if row["prediction_id"] not in known:
                rejections.append(_rejected(row, "unknown_prediction", _UNKNOWN))
            elif version and (row["row_hash"] == latest or (row["row_hash"], reason) in history):
                summary.duplicates += 1
            elif version and reason is None:
                rejections.append(_rejected(row, "conflicting_duplicate", _CONFLICT.format(
                    what="a reference lesion", hint=" (a correction or withdrawal needs correction_reason)")))
            else:
                stored[key] = (version + 1, row["row_hash"], history | {(row["row_hash"], reason)})
                fresh.append(row.to_dict() | {"version": version + 1})
    return pd.DataFrame(fresh)


def _ingest(log: LogSource, *, kind: str, source: str, uow: UnitOfWorkFactory, clock: Clock, actor: str,
            validate: Callable[..., ValidatedChunk], store: Callable[..., pd.DataFrame],
            insert: str, chunk_rows: int, progress: Progress | None) -> BatchSummary:
    with uow() as unit:
        devices, started, summary = open_log_batch(unit, log, kind=kind, source=source, clock=clock, actor=actor)
        summary.ignored_column_count = len([c for c in log.columns if c not in lesion_stored_columns(kind)])
        for first_row, raw in log.chunks(chunk_rows):
            checked = validate(raw, first_row=first_row, devices=devices, now=started)
            rejections = list(checked.rejections)
            fresh = store(unit, summary, checked, rejections)
            getattr(unit.lesions, insert)(fresh, batch_id=summary.batch_id, at=started)
            summary.accepted += len(fresh)
            count_rejections(unit, summary, rejections, rows=len(raw), progress=progress)
        store_source_rejections(unit, log, summary)
        _finish(unit, summary, clock, actor)
    return summary


def ingest_lesion_findings(log: LogSource, *, source: str, uow: UnitOfWorkFactory, clock: Clock, actor: str,
                           chunk_rows: int = 20_000, progress: Progress | None = None) -> BatchSummary:
    """Ingest a lesion-finding log in one transaction; return its :class:`BatchSummary` (kind ``lesions``)."""
    check_header(log, source, FINDING_REQUIRED)
    return _ingest(log, kind=FINDINGS_KIND, source=source, uow=uow, clock=clock, actor=actor,
                   validate=lambda raw, *, first_row, devices, now: validate_findings(raw, first_row=first_row,
                                                                                     devices=devices),
                   store=_findings, insert="insert_findings", chunk_rows=chunk_rows, progress=progress)


def ingest_reference_lesions(log: LogSource, *, source: str, uow: UnitOfWorkFactory, clock: Clock, actor: str,
                             chunk_rows: int = 20_000, progress: Progress | None = None) -> BatchSummary:
    """Ingest a reference-lesion log in one transaction; corrections add versions (kind ``ref_lesions``)."""
    check_header(log, source, REFERENCE_REQUIRED)
    return _ingest(log, kind=REFERENCES_KIND, source=source, uow=uow, clock=clock, actor=actor,
                   validate=validate_reference_lesions, store=_references, insert="insert_references",
                   chunk_rows=chunk_rows, progress=progress)
