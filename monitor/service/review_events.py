"""Ingest a review log (the events of the review worklist) in one transaction.

Like the other logs (:mod:`monitor.service.ingest`): every row is accepted, a duplicate, or rejected with its row
number and reason (quarantined with the other rejected rows); the batch and its audit record (``review.ingest``)
are stored with the rows or not at all. Every event is kept: an event of a case already reviewed adds a version
(version + 1; the file's events of one case are taken in ``reviewed_at`` order). An event is named by its case,
reviewer, ``reviewed_at`` and field: sent again identical it is a duplicate; with other content it is a
conflicting re-send (rejected ``conflicting_review``: the history is append-only). An event older than the case's
latest stored event is rejected (``review_before_latest``), so that versions follow time; an event of a case that is
neither a stored result nor a stored failure of the device is rejected (``unknown_prediction``).
"""

from __future__ import annotations

import pandas as pd

from monitor.domain.logs import Rejection
from monitor.domain.review_events import REVIEW_OPTIONAL, REVIEW_REQUIRED, StoredReviews, review_identity, \
    validate_review_events
from monitor.errors import InputError
from monitor.service.ingest import (
    NO_DATA_ROWS, BatchSummary, check_header, count_rejections, masked_source, open_log_batch, store_source_rejections,
)
from monitor.service.ports import Clock, LogSource, UnitOfWorkFactory

__all__ = ["AUDIT_ACTION", "KIND", "ingest_review_events"]

KIND = "review_events"
AUDIT_ACTION = "review.ingest"


def _rejection(row: pd.Series, code: str, reason: str) -> Rejection:
    return Rejection(row_number=int(row["row_number"]), record_id=str(row["prediction_id"]), code=code,
                     reason=reason, raw={})


_UNKNOWN = ("unknown_prediction", "prediction_id is not a stored result or failure of the row's device (ingest the "
                                  "prediction log first)")
_CONFLICT = ("conflicting_review", "a review event of this case by the same reviewer at the same reviewed_at (and "
                                   "field) is stored with other content; the history is append-only: send a new "
                                   "event with its own reviewed_at")
_EARLY = ("review_before_latest", "reviewed_at is before the latest stored review event of this case; events are "
                                  "versioned in time order")


def _versions(group: pd.DataFrame, stored: dict[str, StoredReviews], known: set[str], summary: BatchSummary,
              rejections: list[Rejection]) -> list[dict[str, object]]:
    """The group's new events with their version; duplicates counted, the others rejected."""
    fresh = []
    for _, row in group.sort_values(["prediction_id", "reviewed_at", "row_number"], kind="stable").iterrows():
        case = row["prediction_id"]
        if case not in known:
            rejections.append(_rejection(row, *_UNKNOWN))
            continue
        reviews = stored.setdefault(case, StoredReviews(0, None, {}))
        key = review_identity(row["reviewer"], row["reviewed_at"], row["field"] if isinstance(row["field"], str)
                              else None)
        if key in reviews.hashes:
            if reviews.hashes[key] == row["row_hash"]:
                summary.duplicates += 1
            else:
                rejections.append(_rejection(row, *_CONFLICT))
            continue
        if reviews.latest_at is not None and row["reviewed_at"] < reviews.latest_at:
            rejections.append(_rejection(row, *_EARLY))
            continue
        reviews.version += 1
        reviews.latest_at = row["reviewed_at"]
        reviews.hashes[key] = row["row_hash"]
        fresh.append(row.to_dict() | {"version": reviews.version})
    return fresh


def ingest_review_events(log: LogSource, *, source: str, uow: UnitOfWorkFactory, clock: Clock, actor: str,
                         device_id: str | None = None, chunk_rows: int = 10_000) -> BatchSummary:
    """Ingest a review log file in one transaction; return its :class:`BatchSummary` (kind ``review_events``),
    audited as ``review.ingest``. ``device_id`` (``--device``) fills rows without one."""
    check_header(log, source, [c for c in REVIEW_REQUIRED if not (c == "device_id" and device_id is not None)])
    with uow() as unit:
        devices, started, summary = open_log_batch(unit, log, kind=KIND, source=source, clock=clock, actor=actor,
                                                   device_id=device_id)
        allowed = set(REVIEW_REQUIRED) | set(REVIEW_OPTIONAL)
        summary.ignored_column_count = len([c for c in log.columns if c not in allowed])
        for first_row, raw in log.chunks(chunk_rows):
            checked = validate_review_events(raw, first_row=first_row, devices=devices, now=started,
                                             device_id=device_id)
            rejections = list(checked.rejections)
            fresh: list[dict[str, object]] = []
            for device, group in checked.accepted.groupby("device_id", sort=False):
                ids = group["prediction_id"].tolist()
                fresh += _versions(group, unit.review.versions(str(device), ids),
                                   unit.review.known_cases(str(device), ids), summary, rejections)
            unit.review.insert(pd.DataFrame(fresh), batch_id=summary.batch_id, at=started)
            summary.accepted += len(fresh)
            count_rejections(unit, summary, rejections, rows=len(raw))
        store_source_rejections(unit, log, summary)
        _finish(unit, summary, clock, actor)
    return summary


def _finish(unit, summary: BatchSummary, clock: Clock, actor: str) -> None:  # type: ignore[no-untyped-def]
    """Close the batch and audit it (``review.ingest``); an input without rows stores nothing."""
    if not summary.rows:
        raise InputError(f"{summary.source}: {NO_DATA_ROWS}")
    finished = clock()
    summary.source = masked_source(summary.source, summary.named_identifiers)
    unit.logs.finish_batch(summary.batch_id, rows_total=summary.rows, accepted=summary.accepted,
                           duplicates=summary.duplicates, rejected=summary.rejected, at=finished,
                           source_name=summary.source)
    unit.audit.append(at=finished, actor=actor, action=AUDIT_ACTION, entity="ingestion_batch",
                      entity_id=str(summary.batch_id), details=summary.as_dict())
