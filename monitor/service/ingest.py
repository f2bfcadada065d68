"""Ingest prediction and ground-truth logs: every row accepted, recognised as a duplicate, or rejected.

A file is one transaction: either all its outcomes (accepted rows, rejections,
the batch record and its audit entry) are stored, or none. A row whose id is
already stored with identical content is a duplicate and changes nothing; with
different content it is rejected as a conflict, never overwritten. Ground truth
is versioned: a row carrying ``correction_reason`` that changes a stored label
adds a new version; a row given by ``study_uid`` applies to every stored prediction of that study.
A prediction row whose ``result_status`` is not ``ok`` is an AI failure, stored apart. A retraction
withdraws a stored prediction from every analysis whose cut-off is at or after its ingestion.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from monitor.domain.logs import (
    GROUND_TRUTH_OPTIONAL,
    GROUND_TRUTH_REQUIRED,
    HASHED_COLUMNS,
    PREDICTION_OPTIONAL,
    PREDICTION_REQUIRED,
    RETRACTION_REQUIRED,
    Rejection,
    cap_age_text,
    ground_truth_row_hashes,
    keep_known,
    MAX_ID_LENGTH,
    missing_columns,
    rejection_hashes,
    stored_columns,
    validate_ground_truth,
    validate_predictions,
    retraction_row_hashes,
    validate_retractions,
)
from monitor.domain.privacy import PatientHasher
from monitor.errors import InputError
from monitor.service.cells import mark_dirty_for_ids, mark_dirty_for_times
from monitor.service.ports import Clock, LogSource, Progress, UnitOfWorkFactory

__all__ = ["BatchSummary", "check_header", "count_rejections", "ingest_ground_truth", "ingest_predictions",
           "ingest_retractions", "open_log_batch", "store_source_rejections"]


#: Columns whose values must not appear in the recorded name of their file, and what replaces them.
_NAME_CHECKED_COLUMNS = ("patient_id", "accession_number", "study_uid")
_MIN_MASKED_LENGTH = 4
_MASK = "[identifier]"
_KNOWN_COLUMNS = frozenset({*PREDICTION_REQUIRED, *PREDICTION_OPTIONAL, *GROUND_TRUTH_REQUIRED,
                            *GROUND_TRUTH_OPTIONAL, *RETRACTION_REQUIRED})


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
    #: Rejected rows identical to an *open* rejected row of an earlier batch (the same bad row sent again):
    #: counted in ``rejected`` but not stored a second time (the earlier quarantine entry stands for them).
    repeated_rejections: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    #: Extra label records made by ground-truth rows given by study_uid (a study with k stored
    #: predictions makes k records: k - 1 extra), so rows + expanded == accepted + duplicates + rejected.
    expanded: int = 0
    ignored_columns: tuple[str, ...] = ()
    ignored_column_count: int = 0
    new_model_versions: list[str] = field(default_factory=list)
    new_sites: list[str] = field(default_factory=list)
    #: Identifier values of the file's own rows found in its name (masked in ``source`` at the end).
    named_identifiers: set[str] = field(default_factory=set, repr=False)

    def as_dict(self) -> dict[str, object]:
        """Plain-data form for JSON output and the audit log."""
        return {
            "schema": "samd-monitor/batch_summary", "schema_version": 1,
            "batch_id": self.batch_id, "kind": self.kind, "source": self.source, "sha256": self.sha256,
            "rows": self.rows, "accepted": self.accepted, "duplicates": self.duplicates, "rejected": self.rejected,
            "expanded": self.expanded, "repeated_rejections": self.repeated_rejections,
            "reasons": dict(sorted(self.reasons.items())), "ignored_columns": list(self.ignored_columns), "ignored_column_count": self.ignored_column_count,
            "new_model_versions": self.new_model_versions, "new_sites": self.new_sites,
        }


def _conflict(row: pd.Series, what: str) -> Rejection:
    return Rejection(
        row_number=int(row["row_number"]), record_id=str(row["prediction_id"]), code="conflicting_duplicate",
        reason=f"{what} with this prediction_id was already received with different content; "
               "a re-send must be identical (corrections of ground truth need correction_reason)",
        raw={},
    )


#: An input without a single data row (or record) is an error, not a batch of 0 rows (issue 18).
NO_DATA_ROWS = "no data rows (an empty file, a header without rows, or an empty folder): nothing to ingest"


def _check_header(log: LogSource, kind: str, source: str) -> None:
    """Refuse a log lacking a required column. The message names the missing columns and *counts* the
    columns found, never quoting them: a file without a header row has its first data row (patient id
    included) where the column names should be. A record-shaped log (NDJSON, JSON array, FHIR, DICOM SR)
    none of whose units could be read at all has no columns, but is ingested: each unit is rejected with
    its own reason (nothing is lost)."""
    if set(log.columns) <= {"device_id"} and hasattr(log, "rejections") and log.rejections():
        return  # (an API body's log has the URL's device_id as a column even when no record was read)
    if set(log.columns) <= {"device_id"} and getattr(log, "count_rows", lambda: None)() == 0:
        raise InputError(f"{source_text(source)}: {NO_DATA_ROWS}")
    missing = missing_columns(log.columns, kind=kind)
    if missing:
        cells = [c for c in log.columns if len(c) >= _MIN_MASKED_LENGTH and c not in _KNOWN_COLUMNS]
        shown = re.sub("|".join(map(re.escape, sorted(cells, key=len, reverse=True))), _MASK, source,
                       flags=re.IGNORECASE) if cells else source
        raise InputError(f"{shown}: missing required column(s): {', '.join(missing)} "
                         f"({_found(log.columns, kind)})")


def _found(columns: tuple[str, ...], kind: str) -> str:
    """What the header held, told without echoing it: how many columns, how many of them known names."""
    if not columns:
        return "found no columns"
    named = [c for c in columns if c in _KNOWN_COLUMNS]
    if not named:
        return (f"found {len(columns)} column(s), none of them a column of the {kind} format; "
                "is the header row missing?")
    return f"found {len(columns)} column(s): {', '.join(named)} and {len(columns) - len(named)} other(s)" \
        if len(named) < len(columns) else f"found {len(columns)} column(s): {', '.join(named)}"


def _split_repeats(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """First occurrence of each (device, id) in the chunk, and the later repeats."""
    repeat = frame.duplicated(["device_id", "prediction_id"], keep="first")
    return frame.loc[~repeat], frame.loc[repeat]


def _raw_for(rejection: Rejection, raw: pd.DataFrame, first_row: int,
             hash_patient: PatientHasher | None = None, exact_ages: bool = False) -> Rejection:
    """Attach the row's stored-format content to a rejection (patient identifier as its keyed hash, ages
    of 90 and above as 90; columns outside the format are dropped: they are never stored)."""
    row = raw.iloc[rejection.row_number - first_row]
    values = {k: (None if v is None or (isinstance(v, float) and pd.isna(v)) else str(v)) for k, v in row.items()}
    for column in HASHED_COLUMNS:  # identifiers: only their keyed hash is ever kept
        if values.get(column) is not None:
            given = values[column]
            pseudonym = given.startswith("hmac-sha256:") and len(given) == 76
            values[column] = given if pseudonym else f"hmac-sha256:{hash_patient(given)}" if hash_patient else None
    if "age" in values and not exact_ages:
        values["age"] = cap_age_text(values["age"])
    return Rejection(rejection.row_number, rejection.record_id, rejection.code, rejection.reason, values)


def ingest_predictions(
    log: LogSource, *, source: str, uow: UnitOfWorkFactory, hash_patient: PatientHasher, clock: Clock,
    actor: str, chunk_rows: int = 50_000, progress: Progress | None = None, exact_ages: bool = False,
) -> BatchSummary:
    """Ingest a prediction log file in one transaction; return its :class:`BatchSummary`.

    Ages of 90 and above are stored as 90 (">= 90") unless ``exact_ages``. AI failures
    (``result_status`` failed / no_result) count as accepted and go to their own table.
    """
    _check_header(log, "predictions", source)
    with uow() as unit:
        devices, started, summary = _open_batch(unit, log, "predictions", source, clock, actor)
        batch_id = summary.batch_id
        seen_versions: dict[str, set[str]] = {}
        seen_sites: dict[str, set[str]] = {}
        for first_row, raw in log.chunks(chunk_rows):
            checked = validate_predictions(raw, first_row=first_row, devices=devices, hash_patient=hash_patient,
                                           now=started, exact_ages=exact_ages)
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
            failure = inserted["result_status"] != "ok"
            unit.logs.insert_predictions(inserted.loc[~failure], batch_id=batch_id, at=started)
            for device_id, group in inserted.loc[~failure].groupby("device_id", sort=False):
                mark_dirty_for_times(unit, devices[device_id], group["predicted_at"])
            unit.logs.insert_failures(inserted.loc[failure], batch_id=batch_id, at=started)
            summary.accepted += len(inserted)
            _close_chunk(unit, summary, raw, first_row, rejections, devices, progress, hash_patient, exact_ages)
        store_source_rejections(unit, log, summary)
        for device_id, versions in seen_versions.items():
            summary.new_model_versions += unit.logs.register_model_versions(device_id, versions, batch_id=batch_id,
                                                                            at=started)
            summary.new_sites += unit.logs.register_sites(device_id, seen_sites[device_id], batch_id=batch_id,
                                                          at=started)
        _finish(unit, summary, clock, actor)
    return summary


def _open_batch(unit, log: LogSource, kind: str, source: str, clock: Clock,  # type: ignore[no-untyped-def]
                actor: str) -> tuple[dict, datetime, BatchSummary]:  # type: ignore[type-arg]
    """Serialise ingestion, then start the batch record of ``log``: the device configurations, the batch's
    start time and its (empty) summary."""
    unit.logs.lock_ingestion()
    devices = unit.devices.configs()
    started = clock()
    source = source_text(source)
    batch_id = unit.logs.start_batch(kind=kind, source_name=source, source_format=log.format,
                                     source_sha256=log.sha256, at=started, actor=actor)
    summary = BatchSummary(batch_id, kind, source, log.sha256)
    summary.ignored_columns, summary.ignored_column_count = _ignored_columns(log.columns, kind, devices)
    return devices, started, summary


#: A column name shown in a batch summary: it reads like a column name (no run of four or more digits,
#: which a patient or accession number in a header cell or a JSON key would have). Any other name is
#: only counted: header cells and JSON keys are caller-chosen text and may carry identifiers.
_NAMEABLE_COLUMN = re.compile(r"(?!.*[0-9]{4})[a-z][a-z0-9_]{0,63}")
MAX_NAMED_IGNORED_COLUMNS = 64


def _ignored_columns(columns: tuple[str, ...], kind: str, devices: dict) -> tuple[tuple[str, ...], int]:  # type: ignore[type-arg]
    """Columns of the file that are not stored (outside the format and the configured strata): the
    column-like names among them (at most :data:`MAX_NAMED_IGNORED_COLUMNS`) and how many there are."""
    kept = stored_columns(kind, devices)
    ignored = [c for c in columns if c not in kept]
    named = [c for c in ignored if _NAMEABLE_COLUMN.fullmatch(c)][:MAX_NAMED_IGNORED_COLUMNS]
    return tuple(named), len(ignored)


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


def _close_chunk(unit, summary: BatchSummary, raw: pd.DataFrame, first_row: int,  # type: ignore[no-untyped-def]
                 rejections: list[Rejection], devices: dict, progress: Progress | None,  # type: ignore[type-arg]
                 hash_patient: PatientHasher | None = None, exact_ages: bool = False) -> None:
    """Store a chunk's rejections with their stored-format content and count the chunk's rows."""
    summary.named_identifiers |= _identifiers_named(summary.source, raw)
    known = keep_known(raw, stored_columns(summary.kind, devices))
    rejections = [_raw_for(r, known, first_row, hash_patient, exact_ages) if not r.raw else r for r in rejections]
    _store_rejections(unit, summary, rejections)
    summary.rows += len(raw)
    summary.rejected += len(rejections)
    summary.reasons.update(r.code for r in rejections)
    if progress:
        progress(len(raw))


def store_source_rejections(unit, log: LogSource, summary: BatchSummary) -> None:  # type: ignore[no-untyped-def]
    """Store the source units that could not even become a row (formats whose log offers ``rejections()``:
    a line that is not JSON, a FHIR resource that cannot be mapped, a file that is not a DICOM SR)."""
    count_rejections(unit, summary, log.rejections() if hasattr(log, "rejections") else [], rows=None)


def count_rejections(unit, summary: BatchSummary, rejections: list[Rejection], *,  # type: ignore[no-untyped-def]
                     rows: int | None, progress: Progress | None = None) -> None:
    """Store a chunk's ``rejections`` and count the chunk in ``summary``: its ``rows`` read (None: the rejections
    are the rows, as for source units), the rejected rows and their reasons; report the rows to ``progress``."""
    _store_rejections(unit, summary, rejections)
    summary.rows += len(rejections) if rows is None else rows
    summary.rejected += len(rejections)
    summary.reasons.update(r.code for r in rejections)
    if progress is not None and rows is not None:
        progress(rows)


def open_log_batch(unit, log: LogSource, *, kind: str, source: str, clock: Clock, actor: str,  # type: ignore[no-untyped-def]
                   device_id: str | None = None) -> tuple[dict, datetime, BatchSummary]:  # type: ignore[type-arg]
    """Start the batch of a log intake inside ``unit``: take the ingestion lock, read the registered devices
    (a ``--device`` that is not one of them is a user error), record the batch; return the devices, the batch's
    start time and its :class:`BatchSummary`."""
    unit.logs.lock_ingestion()
    devices = unit.devices.configs()
    if device_id is not None and device_id not in devices:
        raise InputError(f"--device {device_id!r} is not a registered device (run `samd-monitor device add CONFIG`)")
    started = clock()
    summary = BatchSummary(unit.logs.start_batch(kind=kind, source_name=source_text(source), source_format=log.format,
                                                 source_sha256=log.sha256, at=started, actor=actor),
                           kind, source_text(source), log.sha256)
    return devices, started, summary


def check_header(log: LogSource, source: str, required: Sequence[str]) -> None:
    """Refuse a log without a ``required`` column (named; the header's other cells are only counted). A
    record-shaped log (NDJSON, DICOM SR) with no readable unit passes: each unit is rejected with its reason."""
    if not log.columns and hasattr(log, "rejections") and log.rejections():
        return
    if not log.columns:
        raise InputError(f"{source_text(source)}: {NO_DATA_ROWS}")
    missing = [c for c in required if c not in log.columns]
    if missing:
        known = [c for c in log.columns if c in required]
        raise InputError(f"{source_text(source)}: missing required column(s): {', '.join(missing)} (found "
                         f"{len(log.columns)} column(s), {len(known)} of them required ones)")


def _store_rejections(unit, summary: BatchSummary, rejections: list[Rejection]) -> None:  # type: ignore[no-untyped-def]
    """Store rejections, except those repeating an open rejected row of an earlier batch (counted apart)."""
    hashes = rejection_hashes(summary.kind, rejections, source_sha256=summary.sha256)
    summary.repeated_rejections += unit.logs.insert_rejections(summary.batch_id, rejections, hashes)


def _identifiers_named(name: str, raw: pd.DataFrame) -> set[str]:
    """Values of the chunk's identifier columns (:data:`_NAME_CHECKED_COLUMNS`, at least
    :data:`_MIN_MASKED_LENGTH` characters) that occur in the file's ``name``: one Arrow set lookup of the
    values among the name's substrings per column."""
    present = [c for c in _NAME_CHECKED_COLUMNS if c in raw.columns]
    if not present or len(raw) == 0:
        return set()
    pieces = _substrings(name)
    if not pieces:
        return set()
    found: set[str] = set()
    for column in present:
        values = pa.array([v if isinstance(v, str) else None for v in raw[column].to_numpy(dtype=object)],
                          type=pa.string())
        trimmed = pc.utf8_trim_whitespace(values)
        hits = pc.filter(trimmed, pc.fill_null(pc.is_in(trimmed, value_set=pieces), False))
        found.update(hits.unique().to_pylist())
    return found


@functools.lru_cache(maxsize=8)
def _substrings(name: str) -> pa.Array:
    """Every substring of ``name`` of :data:`_MIN_MASKED_LENGTH` to ``MAX_ID_LENGTH`` characters (the name's
    last 1024 characters)."""
    text = name[-1024:]
    return pa.array(sorted({text[i:j] for i in range(len(text))
                            for j in range(i + _MIN_MASKED_LENGTH, min(i + MAX_ID_LENGTH, len(text)) + 1)}),
                    type=pa.string())


def source_text(name: str) -> str:
    """A file name as text for the database, JSON and logs: bytes of the name that are not UTF-8 (carried
    by Python as surrogate escapes, PEP 383) become U+FFFD, which every encoder accepts."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def masked_source(name: str, identifiers: set[str]) -> str:
    """``name`` with each of ``identifiers`` (longest first) replaced by ``[identifier]``.

    A file named after a patient, study or accession of its own rows (``PAT-0042.csv``) must not carry
    that identifier into the batch record, the audit log or the summary. Limitation: only values of the
    file's rows are known; a file refused before any row is read (header, encoding) cannot be checked
    against them, and values shorter than 4 characters are not masked (too many false matches).
    """
    for value in sorted(identifiers, key=len, reverse=True):
        name = name.replace(value, _MASK)
    return name


def _finish(unit, summary: BatchSummary, clock: Clock, actor: str) -> None:  # type: ignore[no-untyped-def]
    if not summary.rows:  # raised inside the transaction: the batch record is rolled back, nothing is stored
        raise InputError(f"{summary.source}: {NO_DATA_ROWS}")
    if summary.accepted:
        unit.logs.refresh_statistics(new_values=bool(summary.new_model_versions or summary.new_sites))
    finished = clock()
    masked = masked_source(summary.source, summary.named_identifiers)
    renamed = masked != summary.source
    summary.source = masked
    unit.logs.finish_batch(summary.batch_id, rows_total=summary.rows, accepted=summary.accepted,
                           duplicates=summary.duplicates, rejected=summary.rejected, at=finished,
                           **({"source_name": masked} if renamed else {}))
    unit.audit.append(at=finished, actor=actor, action=f"ingest.{summary.kind}", entity="ingestion_batch",
                      entity_id=str(summary.batch_id), details=summary.as_dict())


def ingest_ground_truth(
    log: LogSource, *, source: str, uow: UnitOfWorkFactory, clock: Clock, actor: str,
    chunk_rows: int = 50_000, progress: Progress | None = None, hash_patient: PatientHasher | None = None,
) -> BatchSummary:
    """Ingest a ground-truth log file in one transaction; corrections add label versions.

    ``hash_patient`` (the keyed hash of identifiers) is needed only by rows given by ``accession_number``.
    """
    _check_header(log, "ground_truth", source)
    with uow() as unit:
        devices, started, summary = _open_batch(unit, log, "ground_truth", source, clock, actor)
        batch_id = summary.batch_id
        for first_row, raw in log.chunks(chunk_rows):
            checked = validate_ground_truth(raw, first_row=first_row, devices=devices, now=started,
                                            hash_patient=hash_patient)
            rejections = list(checked.rejections)
            pending = _expand_studies(unit, checked.accepted, summary, rejections)
            while not pending.empty:  # one round per repeated occurrence of an id inside the chunk
                current, pending = _split_repeats(pending)
                versions = []
                for device_id, group in current.groupby("device_id", sort=False):
                    versions.append(_ground_truth_versions(unit, str(device_id), group, summary, rejections))
                inserted = pd.concat(versions) if versions else current.iloc[0:0]
                unit.logs.insert_ground_truth(inserted, batch_id=batch_id, at=started)
                _mark_months_of(unit, devices, inserted)
                summary.accepted += len(inserted)
            _close_chunk(unit, summary, raw, first_row, rejections, devices, progress, hash_patient)
        store_source_rejections(unit, log, summary)
        _finish(unit, summary, clock, actor)
    return summary


def _expand_studies(unit, accepted: pd.DataFrame, summary: BatchSummary,  # type: ignore[no-untyped-def]
                    rejections: list[Rejection]) -> pd.DataFrame:
    """Rows given by ``study_uid`` or ``accession_number`` replaced by one row per stored prediction of
    that study or accession (in file order); one with no stored prediction of the device is rejected."""
    by_key = accepted["prediction_id"].isna()
    if not by_key.any():
        return accepted
    expanded = []
    keyed = accepted.loc[by_key]
    for column, lookup, code, what in (
            ("study_uid", unit.logs.predictions_by_study, "unknown_study", "study_uid"),
            ("accession_hash", unit.logs.predictions_by_accession, "unknown_accession", "accession_number")):
        if column not in keyed.columns:
            continue
        for device_id, group in keyed.loc[keyed[column].notna()].groupby("device_id", sort=False):
            found = lookup(str(device_id), group[column].tolist())
            unknown = ~group[column].isin(list(found))
            rejections.extend(Rejection(
                row_number=int(r["row_number"]),
                record_id=str(r[column]) if column == "study_uid" else f"hmac-sha256:{r[column]}", code=code,
                reason=f"{what} matches no stored prediction of the row's device "
                       "(send the prediction log first, then re-send this row)", raw={})
                for _, r in group.loc[unknown].iterrows())
            known = group.loc[~unknown]
            if not known.empty:
                rows = known.assign(prediction_id=known[column].map(found)).explode("prediction_id")
                summary.expanded += len(rows) - len(known)
                expanded.append(rows)
    result = pd.concat([accepted.loc[~by_key], *expanded]).sort_values("row_number", kind="stable")
    result = result.reset_index(drop=True)
    keyed_rows = result["row_hash"].isna()
    if keyed_rows.any():
        result.loc[keyed_rows, "row_hash"] = ground_truth_row_hashes(result.loc[keyed_rows])
    return result


def ingest_retractions(
    log: LogSource, *, source: str, uow: UnitOfWorkFactory, clock: Clock, actor: str,
    chunk_rows: int = 50_000, progress: Progress | None = None,
) -> BatchSummary:
    """Ingest a retraction log file (a device withdrawing results) in one transaction.

    A retraction of a prediction that is not stored is rejected (``unknown_prediction``); a re-sent
    identical retraction is a duplicate, a different one for the same prediction a conflict.
    """
    _check_header(log, "retractions", source)
    with uow() as unit:
        devices, started, summary = _open_batch(unit, log, "retractions", source, clock, actor)
        batch_id = summary.batch_id
        for first_row, raw in log.chunks(chunk_rows):
            checked = validate_retractions(raw, first_row=first_row, devices=devices, now=started)
            rejections = list(checked.rejections)
            first, repeats = _split_repeats(checked.accepted)
            reference = first["row_hash"].copy()
            new_rows, unknown_keys = [], set()
            for device_id, group in first.groupby("device_id", sort=False):
                stored = unit.logs.retractions(str(device_id), group["prediction_id"].tolist())
                stored_frame = pd.DataFrame(
                    [(device_id, pid, at, why) for pid, (at, why) in stored.items()],
                    columns=["device_id", "prediction_id", "retracted_at", "reason"])
                stored_frame["retracted_at"] = pd.to_datetime(stored_frame["retracted_at"], utc=True)
                stored_hash = dict(zip(stored_frame["prediction_id"], retraction_row_hashes(stored_frame),
                                       strict=True))
                known = group["prediction_id"].map(stored_hash)
                reference.loc[group.index] = known.where(known.notna(), group["row_hash"])
                same = known.notna() & (known == group["row_hash"])
                summary.duplicates += int(same.sum())
                rejections.extend(_conflict(r, "retraction of prediction")
                                  for _, r in group.loc[known.notna() & ~same].iterrows())
                fresh = group.loc[known.isna()]
                present = unit.logs.stored_prediction_ids(str(device_id), fresh["prediction_id"].tolist())
                missing = ~fresh["prediction_id"].isin(list(present))
                for _, r in fresh.loc[missing].iterrows():
                    unknown_keys.add((r["device_id"], r["prediction_id"]))
                    rejections.append(_unknown_prediction(r))
                new_rows.append(fresh.loc[~missing])
            orphan = pd.Series([(d, i) in unknown_keys for d, i in zip(repeats["device_id"], repeats["prediction_id"],
                                                                      strict=True)], index=repeats.index, dtype=bool)
            rejections.extend(_unknown_prediction(r) for _, r in repeats.loc[orphan].iterrows())
            _handle_repeats(first.assign(row_hash=reference), repeats.loc[~orphan], summary, rejections,
                            "retraction of prediction")
            inserted = pd.concat(new_rows) if new_rows else first.iloc[0:0]
            unit.logs.insert_retractions(inserted, batch_id=batch_id, at=started)
            _mark_months_of(unit, devices, inserted)
            summary.accepted += len(inserted)
            _close_chunk(unit, summary, raw, first_row, rejections, devices, progress)
        store_source_rejections(unit, log, summary)
        _finish(unit, summary, clock, actor)
    return summary


def _mark_months_of(unit, devices: dict, rows: pd.DataFrame) -> None:  # type: ignore[no-untyped-def, type-arg]
    """Mark dirty the count-cell months of the stored predictions that ``rows`` (labels, retractions) change."""
    for device_id, group in rows.groupby("device_id", sort=False):
        mark_dirty_for_ids(unit, devices[device_id], group["prediction_id"].tolist())


def _unknown_prediction(row: pd.Series) -> Rejection:
    return Rejection(row_number=int(row["row_number"]), record_id=str(row["prediction_id"]),
                     code="unknown_prediction",
                     reason="prediction_id is not a stored prediction of the row's device "
                            "(only a stored result can be retracted)", raw={})


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
