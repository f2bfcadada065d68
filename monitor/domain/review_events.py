"""The review log (issue 17 item 3): one row per review event of one AI result, validated like the other logs.

A row (``schemas/review_event_log.schema.json``; CSV or NDJSON) says what a reviewer did with a case of the
review worklist: took it (``in_review``), confirmed the AI result (``confirmed``), edited a field
(``edited``: ``field`` with ``new_value``, ``old_value`` optional) or rejected the AI result (``rejected``). A
case without any stored event is ``pending``. ``reviewer`` is a person's name or user name, never a patient
identifier (a value with a run of 4 digits or more is refused as identifier-like). ``note`` is free text: stored,
never logged.

Validation follows :mod:`monitor.domain.logs`: every problem of a row is collected, the row is rejected with its
1-based row number and reason codes, and no reason quotes a value. Versions, duplicates and conflicting re-sends
are decided against the stored events by :mod:`monitor.service.review_events`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Mapping

import numpy as np
import pandas as pd

from monitor.domain.device import DeviceConfig
from monitor.domain.logs import (  # the shared row-validation machinery of the log formats
    MAX_ID_LENGTH,
    MAX_TEXT_LENGTH,
    ValidatedChunk,
    _check_length,
    _device_checks,
    _iso_text,
    _numbers,
    _Problems,
    _rejections,
    _require,
    _row_hashes,
    _text,
    _timestamps,
    keep_known,
)

__all__ = ["EDITABLE_FIELDS", "LatestReview", "StoredReviews", "review_identity", "REVIEW_OPTIONAL", "REVIEW_REQUIRED", "REVIEW_STATUSES", "WORKLIST_STATUSES",
           "review_row_hashes", "validate_review_events"]

#: Statuses a review event records; ``pending`` (no event yet) is implicit.
REVIEW_STATUSES = ("in_review", "confirmed", "edited", "rejected")
#: Every status of a worklist case, in workflow order.
WORKLIST_STATUSES = ("pending", *REVIEW_STATUSES)
#: Fields an ``edited`` event may change, with the values each accepts.
EDITABLE_FIELDS = ("reviewed_volume_mm3", "overlap_volume_mm3", "label")
REVIEW_REQUIRED = ("device_id", "prediction_id", "status", "reviewer", "reviewed_at")
REVIEW_OPTIONAL = ("field", "old_value", "new_value", "note")
MAX_NOTE_LENGTH = 1000
_IDENTIFIER_LIKE = re.compile(r"[0-9]{4}")
_NAME = re.compile(r"[^\W\d_][\w .'\-]*")


def _one_of(problems: _Problems, values: pd.Series, column: str, allowed: tuple[str, ...]) -> None:
    bad = values.notna().to_numpy() & ~values.isin(allowed).to_numpy()
    problems.add(bad, f"invalid_{column}", f"{column} is not one of {', '.join(allowed)}")


def _reviewer(problems: _Problems, raw: pd.DataFrame) -> pd.Series:
    reviewer = _text(raw, "reviewer")
    _require(problems, reviewer, "reviewer")
    _check_length(problems, reviewer, "reviewer", MAX_TEXT_LENGTH)
    present = reviewer.notna().to_numpy()
    shaped = np.array([v is None or bool(_NAME.fullmatch(v)) for v in reviewer], dtype=bool)
    problems.add(present & ~shaped, "invalid_reviewer",
                 "reviewer is not a name (a letter first, then letters, digits, spaces, . ' - or _)")
    identifier_like = np.array([v is not None and bool(_IDENTIFIER_LIKE.search(v)) for v in reviewer], dtype=bool)
    problems.add(present & shaped & identifier_like, "reviewer_looks_like_identifier",
                 "reviewer holds a run of 4 digits or more: give the reviewer's name, never a patient identifier")
    return reviewer


def _edits(problems: _Problems, raw: pd.DataFrame, status: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """``field``, ``old_value`` and ``new_value`` of each row (values as floats, NaN when missing)."""
    edited_field = _text(raw, "field")
    _one_of(problems, edited_field, "field", EDITABLE_FIELDS)
    values = {}
    for column in ("old_value", "new_value"):
        text = _text(raw, column)
        number = _numbers(text).astype(float)
        bad = text.notna().to_numpy() & ~np.isfinite(number.to_numpy())
        problems.add(bad, f"invalid_{column}", f"{column} is not a finite number")
        is_label = (edited_field == "label").to_numpy()
        problems.add(~bad & text.notna().to_numpy() & is_label & ~number.isin([0.0, 1.0]).to_numpy(),
                     f"invalid_{column}", f"{column} of field label is not 0 or 1")
        problems.add(~bad & text.notna().to_numpy() & ~is_label & (number < 0).to_numpy(), f"invalid_{column}",
                     f"{column} of a volume is negative")
        values[column] = number.where(~pd.Series(bad, index=number.index))
    is_edit = (status == "edited").to_numpy()
    problems.add(is_edit & edited_field.isna().to_numpy(), "missing_field", "field is missing: an edit names the "
                 f"field it changes ({', '.join(EDITABLE_FIELDS)})")
    problems.add(is_edit & values["new_value"].isna().to_numpy() & _text(raw, "new_value").isna().to_numpy(),
                 "missing_new_value", "new_value is missing: an edit gives the field's new value")
    given = (edited_field.notna() | _text(raw, "old_value").notna() | _text(raw, "new_value").notna()).to_numpy()
    problems.add(~is_edit & status.notna().to_numpy() & given, "edit_without_edited_status",
                 "field, old_value or new_value is given but status is not edited")
    return edited_field, values["old_value"], values["new_value"]


def validate_review_events(raw: pd.DataFrame, *, first_row: int, devices: Mapping[str, DeviceConfig],
                           now: datetime, device_id: str | None = None) -> ValidatedChunk:
    """Validate a chunk of raw review-event rows (the conventions of :func:`monitor.domain.logs.validate_predictions`).

    ``device_id``: the device the file is for (``--device``): it fills an empty ``device_id``, and a row naming
    another device is rejected. A device that declares no review triggers (``review``) takes no review events.
    """
    raw = raw.reset_index(drop=True)
    problems = _Problems(len(raw))
    ids, device_ids = _text(raw, "prediction_id"), _text(raw, "device_id")
    if device_id is not None:
        problems.add((device_ids.notna() & (device_ids != device_id)).to_numpy(), "other_device",
                     "device_id is not the device the file is ingested for (--device)")
        device_ids = device_ids.fillna(device_id)
    for column, values in (("prediction_id", ids), ("device_id", device_ids)):
        _require(problems, values, column)
        _check_length(problems, values, column, MAX_ID_LENGTH)
    _device_checks(problems, device_ids, devices)
    without = [d for d, c in devices.items() if c.review is None]
    problems.add(device_ids.isin(without).to_numpy(), "device_without_review",
                 "the device declares no review triggers (review in its configuration): it takes no review events")
    status = _text(raw, "status")
    _require(problems, status, "status")
    _one_of(problems, status, "status", REVIEW_STATUSES)
    reviewer = _reviewer(problems, raw)
    reviewed_at = _timestamps(problems, _text(raw, "reviewed_at"), "reviewed_at", now=now, required=True)
    edited_field, old_value, new_value = _edits(problems, raw, status)
    note = _text(raw, "note")
    _check_length(problems, note, "note", MAX_NOTE_LENGTH)
    rejections = _rejections(keep_known(raw, frozenset(REVIEW_REQUIRED + REVIEW_OPTIONAL)), problems, first_row,
                             ids, {})
    keep = ~problems.bad()
    accepted = pd.DataFrame({
        "row_number": np.arange(first_row, first_row + len(raw))[keep],
        "device_id": device_ids[keep].to_numpy(),
        "prediction_id": ids[keep].to_numpy(),
        "status": status[keep].to_numpy(),
        "reviewer": reviewer[keep].to_numpy(),
        "reviewed_at": reviewed_at[keep].array,
        "field": edited_field[keep].to_numpy(),
        "old_value": old_value[keep].to_numpy(dtype=float),
        "new_value": new_value[keep].to_numpy(dtype=float),
        "note": note[keep].to_numpy(),
    })
    accepted["reviewed_at"] = pd.to_datetime(accepted["reviewed_at"], utc=True).dt.floor("us")  # as stored
    accepted["row_hash"] = review_row_hashes(accepted)
    return ValidatedChunk(accepted=accepted, rejections=rejections)


def _value_text(values: pd.Series) -> pd.Series:
    return pd.Series(["" if v != v else repr(float(v)) for v in values.astype(float)], index=values.index, dtype=object)


def review_row_hashes(frame: pd.DataFrame) -> list[str]:
    """Row hashes of accepted review events (every stored field; numbers as Python's shortest repr)."""
    if frame.empty:
        return []
    return _row_hashes(frame["device_id"], frame["prediction_id"], frame["status"], frame["reviewer"],
                       _iso_text(frame["reviewed_at"]), frame["field"], _value_text(frame["old_value"]),
                       _value_text(frame["new_value"]), frame["note"])


@dataclass(frozen=True)
class LatestReview:
    """The latest review event of one case known by a cut-off."""

    prediction_id: str
    version: int
    status: str
    reviewer: str
    reviewed_at: datetime


@dataclass
class StoredReviews:
    """What is stored of one case's reviews: its newest version, the time of its latest event, and the row hash of
    each event by its identity (reviewer, reviewed_at, field)."""

    version: int
    latest_at: datetime | None
    hashes: dict[tuple[str, str, str], str]


def review_identity(reviewer: str, reviewed_at: datetime, field: str | None) -> tuple[str, str, str]:
    """What names one review event: who, when (UTC, ISO) and which field (an edit). The same identity sent again
    with other content is a conflicting re-send."""
    return reviewer, pd.Timestamp(reviewed_at).tz_convert("UTC").floor("us").isoformat(), field or ""
