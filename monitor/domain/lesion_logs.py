"""The lesion logs of a lesion-level detector (issue 17 item 2): the AI's findings and the reference lesions.

Two flat formats (CSV or NDJSON; DICOM SR TID 1500 for findings, ``docs/dicom-sr-mapping.md``), validated like
the other logs (:mod:`monitor.domain.logs`): every problem of a row is collected, the row is rejected with its
1-based row number and reason codes, and no reason quotes a value.

* **Lesion findings** (``samd-monitor ingest lesions``): one row per AI finding of a study: ``device_id``,
  ``prediction_id`` (the study's patient-level prediction row, which carries the patient, model version, site and
  strata), ``lesion_id`` (the finding's id, e.g. its DICOM Tracking Unique Identifier), the centre
  ``centre_x_mm`` / ``centre_y_mm`` / ``centre_z_mm`` (patient coordinates, mm), ``score`` (0..1) and optionally
  ``tracking_id`` (the Tracking Identifier text), ``finding_type`` (the Finding code, ``SCHEME:VALUE``) and
  ``diameter_mm``. A finding is a device output: re-sent identical it is a duplicate, with other content a conflict.
* **Reference lesions** (``samd-monitor ingest reference-lesions``): one row per lesion of the reference standard:
  ``device_id``, ``prediction_id``, ``lesion_id``, centre, ``confirmed_at``, ``source`` (as ground truth) and
  ``diameter_mm`` (required by the ``centre_within_reference`` rule), optionally ``lesion_type`` (e.g. solid,
  part_solid, ground_glass), ``withdrawn`` (1: the lesion is withdrawn from the reference standard) and
  ``correction_reason``. Reference lesions are **versioned** like ground-truth labels: a row that changes a stored
  lesion needs ``correction_reason`` and adds a version (nothing is overwritten; an analysis reads the latest version
  received by its cut-off); a withdrawal is such a correction.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import numpy as np
import pandas as pd

from monitor.domain.device import DeviceConfig
from monitor.domain.logs import (  # the shared row-validation machinery of the log formats
    GROUND_TRUTH_SOURCES,
    MAX_ID_LENGTH,
    MAX_REASON_LENGTH,
    MAX_TEXT_LENGTH,
    ValidatedChunk,
    _check_length,
    _device_checks,
    _flag,
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

__all__ = [
    "FINDING_OPTIONAL",
    "FINDING_REQUIRED",
    "REFERENCE_OPTIONAL",
    "REFERENCE_REQUIRED",
    "finding_row_hashes",
    "lesion_stored_columns",
    "reference_row_hashes",
    "validate_findings",
    "validate_reference_lesions",
]

_CENTRE = ("centre_x_mm", "centre_y_mm", "centre_z_mm")
FINDING_REQUIRED = ("device_id", "prediction_id", "lesion_id", *_CENTRE, "score")
FINDING_OPTIONAL = ("tracking_id", "finding_type", "diameter_mm")
REFERENCE_REQUIRED = ("device_id", "prediction_id", "lesion_id", *_CENTRE, "confirmed_at", "source")
REFERENCE_OPTIONAL = ("diameter_mm", "lesion_type", "withdrawn", "correction_reason")
#: Largest plausible coordinate magnitude and lesion diameter (mm): a body is well within a metre.
MAX_COORDINATE_MM = 10_000.0
MAX_DIAMETER_MM = 500.0


def lesion_stored_columns(kind: str) -> frozenset[str]:
    """The columns of a ``lesions`` or ``ref_lesions`` log that may be kept (also in rejected rows)."""
    if kind == "lesions":
        return frozenset(FINDING_REQUIRED) | frozenset(FINDING_OPTIONAL)
    return frozenset(REFERENCE_REQUIRED) | frozenset(REFERENCE_OPTIONAL)


def _ids(problems: _Problems, raw: pd.DataFrame, devices: Mapping[str, DeviceConfig]) -> dict[str, pd.Series]:
    """``device_id``, ``prediction_id`` and ``lesion_id``: required, at most 128 characters, a lesion device."""
    values = {c: _text(raw, c) for c in ("device_id", "prediction_id", "lesion_id")}
    for column, series in values.items():
        _require(problems, series, column)
        _check_length(problems, series, column, MAX_ID_LENGTH)
    _device_checks(problems, values["device_id"], devices)
    known = values["device_id"].isin(list(devices)).to_numpy()
    plain = known & values["device_id"].map(lambda d: d in devices and devices[d].lesions is None).to_numpy()
    problems.add(plain, "not_a_lesion_device",
                 "device_id is not a lesion-level device (its configuration has no 'lesions' section)")
    return values


def _finite(problems: _Problems, raw: pd.DataFrame, column: str, *, required: bool, low: float, high: float,
            low_open: bool = False) -> pd.Series:
    """A number within ``low..high`` (``low`` excluded when ``low_open``); NaN when missing or bad."""
    text = _text(raw, column)
    if required:
        _require(problems, text, column)
    values = _numbers(text).astype(float)
    present = text.notna().to_numpy()
    numeric = values.notna().to_numpy() & np.isfinite(values.to_numpy())
    problems.add(present & ~numeric, f"invalid_{column}", f"{column} is not a finite number")
    above = (values <= low) if low_open else (values < low)
    outside = numeric & (above | (values > high)).to_numpy()
    bound = f"above {low:g}" if low_open else f"within {low:g}..{high:g}"
    problems.add(outside, f"{column}_out_of_range", f"{column} is not {bound}" + (
        f" and at most {high:g}" if low_open else ""))
    return values.where(pd.Series(numeric & ~outside, index=values.index))


def _centre(problems: _Problems, raw: pd.DataFrame) -> dict[str, pd.Series]:
    return {c: _finite(problems, raw, c, required=True, low=-MAX_COORDINATE_MM, high=MAX_COORDINATE_MM)
            for c in _CENTRE}


def _number_text(values: pd.Series) -> pd.Series:
    numbers = values.astype(float).to_numpy()
    text = np.array(list(map(repr, numbers.tolist())), dtype=object)
    text[np.isnan(numbers)] = ""
    return pd.Series(text, index=values.index, dtype=object)


def finding_row_hashes(frame: pd.DataFrame) -> list[str]:
    """Row hashes of accepted finding rows (every stored field, numbers as ``repr`` of their float)."""
    if frame.empty:
        return []
    return _row_hashes(pd.Series("lesion_finding", index=frame.index), frame["device_id"], frame["prediction_id"],
                       frame["lesion_id"], frame["tracking_id"], frame["finding_type"],
                       *[_number_text(frame[c]) for c in (*_CENTRE, "diameter_mm", "score")])


def reference_row_hashes(frame: pd.DataFrame) -> list[str]:
    """Row hashes of accepted reference-lesion rows (the lesion's content; not its ``correction_reason``)."""
    if frame.empty:
        return []
    return _row_hashes(pd.Series("reference_lesion", index=frame.index), frame["device_id"], frame["prediction_id"],
                       frame["lesion_id"], *[_number_text(frame[c]) for c in (*_CENTRE, "diameter_mm")],
                       frame["lesion_type"], _iso_text(frame["confirmed_at"]), frame["source"],
                       frame["withdrawn"].astype(str))


def validate_findings(raw: pd.DataFrame, *, first_row: int, devices: Mapping[str, DeviceConfig]) -> ValidatedChunk:
    """Validate a chunk of raw lesion-finding rows (text values; row ``i`` is data row ``first_row + i``)."""
    raw = raw.reset_index(drop=True)
    problems = _Problems(len(raw))
    ids = _ids(problems, raw, devices)
    centre = _centre(problems, raw)
    score = _finite(problems, raw, "score", required=True, low=0.0, high=1.0)
    diameter = _finite(problems, raw, "diameter_mm", required=False, low=0.0, high=MAX_DIAMETER_MM, low_open=True)
    tracking = _text(raw, "tracking_id")
    _check_length(problems, tracking, "tracking_id", MAX_TEXT_LENGTH)
    finding_type = _text(raw, "finding_type")
    _check_length(problems, finding_type, "finding_type", MAX_TEXT_LENGTH)
    rejections = _rejections(keep_known(raw, lesion_stored_columns("lesions")), problems, first_row,
                             ids["lesion_id"], {})
    keep = ~problems.bad()
    accepted = pd.DataFrame({
        "row_number": np.arange(first_row, first_row + len(raw))[keep],
        **{c: ids[c][keep].to_numpy() for c in ("device_id", "prediction_id", "lesion_id")},
        "tracking_id": tracking[keep].to_numpy(), "finding_type": finding_type[keep].to_numpy(),
        **{c: centre[c][keep].to_numpy() for c in _CENTRE},
        "diameter_mm": diameter[keep].to_numpy(), "score": score[keep].to_numpy(),
    })
    accepted["row_hash"] = finding_row_hashes(accepted)
    return ValidatedChunk(accepted=accepted, rejections=rejections)


def validate_reference_lesions(raw: pd.DataFrame, *, first_row: int, devices: Mapping[str, DeviceConfig],
                               now: datetime) -> ValidatedChunk:
    """Validate a chunk of raw reference-lesion rows (same conventions as :func:`validate_findings`)."""
    raw = raw.reset_index(drop=True)
    problems = _Problems(len(raw))
    ids = _ids(problems, raw, devices)
    centre = _centre(problems, raw)
    diameter = _finite(problems, raw, "diameter_mm", required=False, low=0.0, high=MAX_DIAMETER_MM, low_open=True)
    needs_diameter = ids["device_id"].map(
        lambda d: d in devices and devices[d].lesions is not None
        and devices[d].lesions.rule == "centre_within_reference").to_numpy()  # type: ignore[union-attr]
    problems.add(needs_diameter & _text(raw, "diameter_mm").isna().to_numpy(), "missing_diameter_mm",
                 "diameter_mm is missing (the device's matching rule centre_within_reference needs it)")
    confirmed_at = _timestamps(problems, _text(raw, "confirmed_at"), "confirmed_at", now=now, required=True)
    source = _text(raw, "source")
    missing_source = _require(problems, source, "source")
    problems.add(~missing_source & ~source.isin(GROUND_TRUTH_SOURCES).to_numpy(), "invalid_source",
                 f"source is not one of {', '.join(GROUND_TRUTH_SOURCES)}")
    lesion_type = _text(raw, "lesion_type")
    _check_length(problems, lesion_type, "lesion_type", MAX_TEXT_LENGTH)
    withdrawn = _flag(problems, _text(raw, "withdrawn"), "withdrawn")
    reason = _text(raw, "correction_reason")
    _check_length(problems, reason, "correction_reason", MAX_REASON_LENGTH)
    problems.add((withdrawn == 1).to_numpy() & reason.isna().to_numpy(), "withdrawn_without_reason",
                 "withdrawn is 1 but correction_reason is missing (a withdrawal is a correction: say why)")
    rejections = _rejections(keep_known(raw, lesion_stored_columns("ref_lesions")), problems, first_row,
                             ids["lesion_id"], {})
    keep = ~problems.bad()
    accepted = pd.DataFrame({
        "row_number": np.arange(first_row, first_row + len(raw))[keep],
        **{c: ids[c][keep].to_numpy() for c in ("device_id", "prediction_id", "lesion_id")},
        **{c: centre[c][keep].to_numpy() for c in _CENTRE},
        "diameter_mm": diameter[keep].to_numpy(), "lesion_type": lesion_type[keep].to_numpy(),
        "confirmed_at": confirmed_at[keep].array, "source": source[keep].to_numpy(),
        "withdrawn": np.array([v == 1 for v in withdrawn[keep]], dtype=bool),
        "correction_reason": reason[keep].to_numpy(),
    })
    accepted["confirmed_at"] = pd.to_datetime(accepted["confirmed_at"], utc=True)
    accepted["row_hash"] = reference_row_hashes(accepted)
    return ValidatedChunk(accepted=accepted, rejections=rejections)
