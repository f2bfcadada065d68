"""Ingest prediction and ground-truth logs: every row accepted, recognised as a duplicate, or rejected.

A file is one transaction: either all its outcomes (accepted rows, rejections,
the batch record and its audit entry) are stored, or none. A row whose id is
already stored with identical content is a duplicate and changes nothing; with
different content it is rejected as a conflict, never overwritten. Ground truth
is versioned: a row carrying ``correction_reason`` that changes a stored label
adds a new version.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from monitor.domain.logs import (
    Rejection,
    keep_known,
    missing_columns,
    stored_columns,
    validate_ground_truth,
    validate_predictions,
)
from monitor.domain.privacy import PatientHasher
from monitor.errors import InputError
from monitor.service.ports import Clock, LogSource, Progress, UnitOfWorkFactory

__all__ = ["BatchSummary", "ingest_ground_truth", "ingest_predictions"]


@dataclass
class BatchSummary:
    """What became of each row of one ingested file."""

    batch_id: int
    kind: str
    source: str
    sha256: str
    rows: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    ignored_columns: tuple[str, ...] = ()
    new_model_versions: list[str] = field(default_factory=list)
    new_sites: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        """Plain-data form for JSON output and the audit log."""
        return {
            "schema": "samd-monitor/batch_summary", "schema_version": 1,
            "batch_id": self.batch_id, "kind": self.kind, "source": self.source, "sha256": self.sha256,
            "rows": self.rows, "accepted": self.accepted, "duplicates": self.duplicates, "rejected": self.rejected,
            "reasons": dict(sorted(self.reasons.items())), "ignored_columns": list(self.ignored_columns),
            "new_model_versions": self.new_model_versions, "new_sites": self.new_sites,
        }


def _conflict(row: pd.Series, what: str) -> Rejection:
    return Rejection(
        row_number=int(row["row_number"]), record_id=str(row["prediction_id"]), code="conflicting_duplicate",
        reason=f"{what} {row['prediction_id']!r} was already received with different content; "
               "a re-send must be identical (corrections of ground truth need correction_reason)",
        raw={},
    )


def _check_header(log: LogSource, kind: str, source: str) -> None:
    missing = missing_columns(log.columns, kind=kind)
    if missing:
        raise InputError(f"{source}: missing required column(s): {', '.join(missing)} "
                         f"(found: {', '.join(log.columns) or 'none'})")


def _split_repeats(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """First occurrence of each (device, id) in the chunk, and the later repeats."""
    repeat = frame.duplicated(["device_id", "prediction_id"], keep="first")
    return frame.loc[~repeat], frame.loc[repeat]


def _raw_for(rejection: Rejection, raw: pd.DataFrame, first_row: int,
             hash_patient: PatientHasher | None = None) -> Rejection:
    """Attach the row's stored-format content to a rejection (patient identifier as its keyed hash;
    columns outside the format are dropped: they are never stored)."""
    row = raw.iloc[rejection.row_number - first_row]
    values = {k: (None if v is None or (isinstance(v, float) and pd.isna(v)) else str(v)) for k, v in row.items()}
    if values.get("patient_id") is not None:
        values["patient_id"] = f"hmac-sha256:{hash_patient(values['patient_id'])}" if hash_patient else None
    return Rejection(rejection.row_number, rejection.record_id, rejection.code, rejection.reason, values)


def ingest_predictions(
    log: LogSource, *, source: str, uow: UnitOfWorkFactory, hash_patient: PatientHasher, clock: Clock,
    actor: str, chunk_rows: int = 50_000, progress: Progress | None = None,
) -> BatchSummary:
    """Ingest a prediction log file in one transaction; return its :class:`BatchSummary`."""
    _check_header(log, "predictions", source)
    with uow() as unit:
        devices = unit.devices.configs()
        started = clock()
        batch_id = unit.logs.start_batch(kind="predictions", source_name=source, source_format=log.format,
                                         source_sha256=log.sha256, at=started, actor=actor)
        summary = BatchSummary(batch_id, "predictions", source, log.sha256)
        summary.ignored_columns = _ignored_columns(log.columns, "predictions", devices)
        seen_versions: dict[str, set[str]] = {}
        seen_sites: dict[str, set[str]] = {}
        for first_row, raw in log.chunks(chunk_rows):
            checked = validate_predictions(raw, first_row=first_row, devices=devices, hash_patient=hash_patient,
                                           now=started)
            rejections = list(checked.rejections)
            first, repeats = _split_repeats(checked.accepted)
            reference = first["row_hash"].copy()  # what a repeat must equal: the stored row, else the first
            new_rows = []
            for device_id, group in first.groupby("device_id", sort=False):
                stored = unit.logs.prediction_hashes(str(device_id), group["prediction_id"].tolist())
                known = group["prediction_id"].map(stored)
                reference.loc[group.index] = known.where(known.notna(), group["row_hash"])
                same = known.notna() & (known == group["row_hash"])
                differ = known.notna() & ~same
                summary.duplicates += int(same.sum())
                rejections.extend(_conflict(r, "prediction") for _, r in group.loc[differ].iterrows())
                fresh = group.loc[known.isna()]
                new_rows.append(fresh)
                seen_versions.setdefault(str(device_id), set()).update(fresh["model_version"].unique())
                seen_sites.setdefault(str(device_id), set()).update(fresh["site_id"].unique())
            _handle_repeats(first.assign(row_hash=reference), repeats, summary, rejections, "prediction")
            inserted = pd.concat(new_rows) if new_rows else first.iloc[0:0]
            unit.logs.insert_predictions(inserted, batch_id=batch_id, at=started)
            known = keep_known(raw, stored_columns("predictions", devices))
            rejections = [_raw_for(r, known, first_row, hash_patient) if not r.raw else r for r in rejections]
            unit.logs.insert_rejections(batch_id, rejections)
            summary.rows += len(raw)
            summary.accepted += len(inserted)
            summary.rejected += len(rejections)
            summary.reasons.update(r.code for r in rejections)
            if progress:
                progress(len(raw))
        for device_id, versions in seen_versions.items():
            summary.new_model_versions += unit.logs.register_model_versions(device_id, versions, batch_id=batch_id,
                                                                            at=started)
            summary.new_sites += unit.logs.register_sites(device_id, seen_sites[device_id], batch_id=batch_id,
                                                          at=started)
        _finish(unit, summary, clock, actor)
    return summary


def _ignored_columns(columns: tuple[str, ...], kind: str, devices: dict) -> tuple[str, ...]:  # type: ignore[type-arg]
    """Columns of the file that are not stored (outside the format and the configured strata)."""
    kept = stored_columns(kind, devices)
    return tuple(c for c in columns if c not in kept)


def _handle_repeats(first: pd.DataFrame, repeats: pd.DataFrame, summary: BatchSummary,
                    rejections: list[Rejection], what: str) -> None:
    """Rows repeating an id earlier in the same chunk: identical -> duplicate, else conflict.

    ``first`` carries, per id, the hash a repeat must equal: the stored row's when the id was
    already stored (so the outcome does not depend on how the file is split into chunks).
    """
    if repeats.empty:
        return
    first_hash = first.set_index(["device_id", "prediction_id"])["row_hash"]
    keys = pd.MultiIndex.from_frame(repeats[["device_id", "prediction_id"]])
    same = first_hash.reindex(keys).to_numpy() == repeats["row_hash"].to_numpy()
    summary.duplicates += int(same.sum())
    rejections.extend(_conflict(r, what) for _, r in repeats.loc[~same].iterrows())


def _finish(unit, summary: BatchSummary, clock: Clock, actor: str) -> None:  # type: ignore[no-untyped-def]
    if summary.accepted:
        unit.logs.refresh_statistics()
    finished = clock()
    unit.logs.finish_batch(summary.batch_id, rows_total=summary.rows, accepted=summary.accepted,
                           duplicates=summary.duplicates, rejected=summary.rejected, at=finished)
    unit.audit.append(at=finished, actor=actor, action=f"ingest.{summary.kind}", entity="ingestion_batch",
                      entity_id=str(summary.batch_id), details=summary.as_dict())


def ingest_ground_truth(
    log: LogSource, *, source: str, uow: UnitOfWorkFactory, clock: Clock, actor: str,
    chunk_rows: int = 50_000, progress: Progress | None = None,
) -> BatchSummary:
    """Ingest a ground-truth log file in one transaction; corrections add label versions."""
    _check_header(log, "ground_truth", source)
    with uow() as unit:
        devices = unit.devices.configs()
        started = clock()
        batch_id = unit.logs.start_batch(kind="ground_truth", source_name=source, source_format=log.format,
                                         source_sha256=log.sha256, at=started, actor=actor)
        summary = BatchSummary(batch_id, "ground_truth", source, log.sha256)
        summary.ignored_columns = _ignored_columns(log.columns, "ground_truth", devices)
        for first_row, raw in log.chunks(chunk_rows):
            checked = validate_ground_truth(raw, first_row=first_row, devices=devices, now=started)
            rejections = list(checked.rejections)
            pending = checked.accepted
            while not pending.empty:  # one round per repeated occurrence of an id inside the chunk
                current, pending = _split_repeats(pending)
                versions = []
                for device_id, group in current.groupby("device_id", sort=False):
                    versions.append(_ground_truth_versions(unit, str(device_id), group, summary, rejections))
                inserted = pd.concat(versions) if versions else current.iloc[0:0]
                unit.logs.insert_ground_truth(inserted, batch_id=batch_id, at=started)
                summary.accepted += len(inserted)
            known = keep_known(raw, stored_columns("ground_truth", devices))
            rejections = [_raw_for(r, known, first_row) if not r.raw else r for r in rejections]
            unit.logs.insert_rejections(batch_id, rejections)
            summary.rows += len(raw)
            summary.rejected += len(rejections)
            summary.reasons.update(r.code for r in rejections)
            if progress:
                progress(len(raw))
        _finish(unit, summary, clock, actor)
    return summary


def _ground_truth_versions(unit, device_id: str, group: pd.DataFrame, summary: BatchSummary,  # type: ignore[no-untyped-def]
                           rejections: list[Rejection]) -> pd.DataFrame:
    ids = group["prediction_id"].tolist()
    stored = unit.logs.latest_ground_truth(device_id, ids)
    latest = group["prediction_id"].map(lambda i: stored.get(i, (0, None)))
    version = latest.map(lambda t: t[0]).astype(int)
    stored_hash = latest.map(lambda t: t[1])
    is_new = version == 0
    same = ~is_new & (stored_hash == group["row_hash"])
    # A re-send of an earlier version (e.g. the original row of a file that also holds its correction)
    # changes nothing: identical content with the same correction_reason (none for an original).
    differs = ~is_new & ~same
    history = unit.logs.ground_truth_history(device_id, group.loc[differs, "prediction_id"].tolist()) \
        if bool(differs.any()) else {}
    earlier = differs & pd.Series(
        [(h, None if pd.isna(c) else c) in history.get(i, set())
         for i, h, c in zip(group["prediction_id"], group["row_hash"], group["correction_reason"], strict=True)],
        index=group.index, dtype=bool)
    correction = differs & ~earlier & group["correction_reason"].notna()
    conflict = differs & ~earlier & ~correction
    summary.duplicates += int((same | earlier).sum())
    rejections.extend(_conflict(r, "ground truth for prediction") for _, r in group.loc[conflict].iterrows())
    keep = group.loc[is_new | correction].copy()
    keep["version"] = version[is_new | correction] + 1
    return keep
