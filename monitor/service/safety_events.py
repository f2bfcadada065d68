"""Ingest a safety-event log (complaints, adverse events, incidents, user feedback, overrides) in one transaction.

Like the other logs (:mod:`monitor.service.ingest`): every row is accepted, a duplicate, or rejected with its
row number and reason (quarantined with the other rejected rows); the batch and its audit record
(``ingest.safety_events``) are stored with the rows or not at all. An event sent again with identical content
(or the content of one of its earlier versions) is a duplicate; with other content it adds a new version (a
decision taken, a report filed: the history is kept, the latest version known by a cut-off counts), except
that its awareness date ``received_at`` cannot change: the reporting clocks start there.
"""

from __future__ import annotations

import pandas as pd

from monitor.domain.logs import Rejection
from monitor.domain.privacy import PatientHasher
from monitor.domain.safety_events import SAFETY_REQUIRED, safety_stored_columns, validate_safety_events
from monitor.service.ingest import (
    BatchSummary, _finish, check_header, count_rejections, open_log_batch, store_source_rejections,
)
from monitor.service.ports import Clock, LogSource, Progress, UnitOfWorkFactory

__all__ = ["KIND", "ingest_safety_events"]

KIND = "safety_events"


def ingest_safety_events(
    log: LogSource, *, source: str, uow: UnitOfWorkFactory, clock: Clock, actor: str,
    hash_patient: PatientHasher | None = None, device_id: str | None = None, chunk_rows: int = 10_000,
    progress: Progress | None = None,
) -> BatchSummary:
    """Ingest a safety-event log file in one transaction; return its :class:`BatchSummary` (kind
    ``safety_events``). ``device_id`` (``--device``) fills rows without one; ``hash_patient`` is needed only
    by rows with a patient or accession reference."""
    check_header(log, source, [c for c in SAFETY_REQUIRED if not (c == "device_id" and device_id is not None)])
    with uow() as unit:
        devices, started, summary = open_log_batch(unit, log, kind=KIND, source=source, clock=clock, actor=actor,
                                                   device_id=device_id)
        ignored = [c for c in log.columns if c not in safety_stored_columns(devices) and c != "device_id"]
        summary.ignored_column_count = len(ignored)
        for first_row, raw in log.chunks(chunk_rows):
            checked = validate_safety_events(raw, first_row=first_row, devices=devices, now=started,
                                             hash_patient=hash_patient, device_id=device_id)
            rejections = list(checked.rejections)
            accepted = checked.accepted
            fresh = []
            for device, group in accepted.groupby("device_id", sort=False):
                stored = unit.safety_events.versions(str(device), group["event_id"].tolist())
                for _, row in group.iterrows():  # in file order: a later row may add to an earlier one's versions
                    version, received_at, hashes = stored.get(row["event_id"], (0, None, set()))
                    if row["row_hash"] in hashes:
                        summary.duplicates += 1
                        continue
                    if received_at is not None and received_at != row["received_at"]:
                        rejections.append(_moved_awareness(row, raw, first_row, safety_stored_columns(devices)))
                        continue
                    stored[row["event_id"]] = (version + 1, row["received_at"], hashes | {row["row_hash"]})
                    fresh.append(row.to_dict() | {"version": version + 1})
            unit.safety_events.insert(pd.DataFrame(fresh), batch_id=summary.batch_id, at=started)
            summary.accepted += len(fresh)
            count_rejections(unit, summary, rejections, rows=len(raw), progress=progress)
        store_source_rejections(unit, log, summary)
        _finish(unit, summary, clock, actor)
    return summary


def _moved_awareness(row: pd.Series, raw: pd.DataFrame, first_row: int, allowed: frozenset[str]) -> Rejection:
    """A new version of a stored event that moves its awareness date: rejected (the clocks start there). Its
    stored content: the format's columns, identifiers as their keyed hash."""
    number = int(row["row_number"])
    content = {k: (None if v is None or v != v else str(v)) for k, v in raw.iloc[number - first_row].items()
               if k in allowed}
    for column, hashed in (("patient_id", row["patient_hash"]), ("accession_number", row["accession_hash"])):
        if column in content:
            content[column] = f"hmac-sha256:{hashed}" if hashed else None
    return Rejection(row_number=number, record_id=str(row["event_id"]), code="received_at_changed",
                     reason="received_at differs from the stored event's awareness date; the reporting clocks start "
                            "there, so it cannot change (send the event with its first received_at)",
                     raw=content)
