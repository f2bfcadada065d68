"""The canonical prediction and ground-truth log records, and row validation.

Input adapters (CSV, Parquet, ...) hand over chunks of raw values as text
(``None`` for empty); this module turns each chunk into accepted canonical rows
and rejections with their 1-based data-row number and reason. Validation is
vectorised over the chunk and collects every problem of a row, not just the
first. The formats are documented in ``schemas/prediction_log.schema.json`` and
``schemas/ground_truth_log.schema.json``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from monitor.domain.device import DeviceConfig
from monitor.domain.privacy import PatientHasher
from monitor.errors import InputError

__all__ = [
    "AGE_CAP",
    "GROUND_TRUTH_OPTIONAL",
    "GROUND_TRUTH_REQUIRED",
    "GROUND_TRUTH_SOURCES",
    "KIND_FIELDS",
    "PREDICTION_OPTIONAL",
    "PREDICTION_REQUIRED",
    "RESULT_STATUSES",
    "RETRACTION_REQUIRED",
    "Rejection",
    "ValidatedChunk",
    "cap_age_text",
    "ground_truth_row_hashes",
    "keep_known",
    "missing_columns",
    "rejection_hashes",
    "retraction_row_hashes",
    "stored_columns",
    "validate_ground_truth",
    "validate_predictions",
    "validate_retractions",
]

PREDICTION_REQUIRED = (
    "prediction_id",
    "device_id",
    "model_version",
    "site_id",
    "predicted_at",
    "score",
    "predicted_label",
    "patient_id",
)
PREDICTION_OPTIONAL = ("age", "sex", "study_uid", "accession_number", "human_label", "ai_volume_mm3", "reviewed_volume_mm3",
                       "result_status", "failure_reason", "low_confidence", "comparator_score", "comparator_label",
                       "overlap_volume_mm3")
#: Optional prediction fields of the device kinds of issue 17 (ordinal level, low-confidence flag, comparator):
#: a row that carries one hashes them after every other field, so rows without them keep their hashes.
KIND_FIELDS = ("predicted_level", "low_confidence", "comparator_score", "comparator_label", "overlap_volume_mm3")
#: ``ok``: the device produced a result (score and call); ``failed``: it tried and failed;
#: ``no_result``: it declined (e.g. the study was outside its scope). Failures carry no score.
RESULT_STATUSES = ("ok", "failed", "no_result")
GROUND_TRUTH_REQUIRED = ("prediction_id", "device_id", "label", "confirmed_at", "source")
#: ``study_uid`` may stand in for ``prediction_id``: the label then applies to every stored
#: prediction of the device with that study.
GROUND_TRUTH_OPTIONAL = ("intervention_at", "correction_reason", "study_uid", "accession_number")
#: Columns holding identifiers that are kept only as their keyed hash (also in rejected rows).
HASHED_COLUMNS = ("patient_id", "accession_number")
RETRACTION_REQUIRED = ("device_id", "prediction_id", "retracted_at", "reason")
#: Ages at or above this are stored as this value, meaning ">= 90" (HIPAA Safe Harbor,
#: 45 CFR 164.514(b)(2)(i)(C): ages over 89 are aggregated into one category).
from monitor.domain.binning import AGE_CAP
GROUND_TRUTH_SOURCES = (
    "histopathology",
    "follow_up",
    "adjudication",
    "audit_sample",
    "clinical_diagnosis",
    "other",
)
MAX_ID_LENGTH = 128
MAX_TEXT_LENGTH = 64
MAX_REASON_LENGTH = 500
#: The plausibility window of every timestamp (predicted_at, confirmed_at, intervention_at, retracted_at):
#: from :data:`EARLIEST_TIMESTAMP` (no device log predates 1970) to :data:`FUTURE_TOLERANCE` after ingestion.
#: Earlier (and unrepresentable, e.g. year 9999) -> ``<column>_out_of_range``; later -> ``<column>_in_future``.
FUTURE_TOLERANCE = timedelta(days=1)
EARLIEST_TIMESTAMP = pd.Timestamp("1970-01-01T00:00:00Z")
_OFFSET_PATTERN = r"(?:Z|[+-]\d{2}(?::?\d{2})?)$"
# A bare calendar date ("2025-08-01", "2025-08") has no time and no offset, although its
# last "-01" looks like one: it must not count as carrying an offset.
_DATE_ONLY_PATTERN = r"\d{4}-?\d{2}(?:-?\d{2})?"
# A DICOM UID (PS3.5 section 9.1): digit components separated by dots, at most 64 characters.
_UID_PATTERN = r"[0-9]+(?:\.[0-9]+)*"
MAX_UID_LENGTH = 64
_FAILURE_REASON_PATTERN = r"[A-Za-z0-9_.-]{1,48}"
# A patient_id already in its pseudonymised form (as shown in rejected rows and their export):
# taken as the keyed hash itself, so an exported row can be corrected and re-sent.
_PSEUDONYM_PREFIX = "hmac-sha256:"
_PSEUDONYM_PATTERN = r"hmac-sha256:[0-9a-f]{64}"


@dataclass(frozen=True)
class Rejection:
    """A row that was not accepted: where it was, why, and what it held (identifiers hashed)."""

    row_number: int
    record_id: str | None
    code: str
    reason: str
    raw: dict[str, str | None]


@dataclass
class ValidatedChunk:
    """The outcome of validating one chunk: canonical accepted rows and rejections."""

    accepted: pd.DataFrame
    rejections: list[Rejection] = field(default_factory=list)


def missing_columns(columns: Sequence[str], *, kind: str) -> list[str]:
    """Required columns of a ``kind`` log (``predictions``, ``ground_truth``, ``retractions``) absent from ``columns``.

    A ground-truth log may identify its rows by ``study_uid`` instead of ``prediction_id``; a
    prediction log with a ``result_status`` column may lack ``score`` and ``predicted_label`` (each
    row with result_status ok still needs them).
    """
    present = set(columns)
    if kind == "predictions":  # a log of AI failures only needs no score nor call columns
        required: Sequence[str] = [c for c in PREDICTION_REQUIRED if not (
            c in ("score", "predicted_label") and "result_status" in present)]
    elif kind == "ground_truth":
        required = [c for c in GROUND_TRUTH_REQUIRED
                    if not (c == "prediction_id" and ("study_uid" in present or "accession_number" in present))]
    else:
        required = RETRACTION_REQUIRED
    return [c for c in required if c not in present]


class _Problems:
    """Accumulates per-row problem codes and messages for one chunk."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.codes: dict[int, list[str]] = {}  # only rows with a problem (most rows have none)
        self.messages: dict[int, list[str]] = {}

    def add(self, mask: np.ndarray, code: str, message: str | Callable[[object], str],
            values: pd.Series | None = None) -> None:
        """Record ``code`` for the rows in ``mask``; a callable message gets the row's raw value."""
        for i in np.flatnonzero(mask):
            i = int(i)
            self.codes.setdefault(i, []).append(code)
            text = message if isinstance(message, str) else message(None if values is None else values.iloc[i])
            self.messages.setdefault(i, []).append(text)

    def bad(self) -> np.ndarray:
        flags = np.zeros(self.n, dtype=bool)
        flags[list(self.codes)] = True
        return flags


_BLANKS = frozenset(["", "null", "NULL", "None", "NaN", "nan", "NA", "N/A"])


def _clean(value: object) -> str | None:
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and value != value):
        return None
    text = (value if isinstance(value, str) else str(value)).strip()
    return None if text in _BLANKS else text


#: The characters ``str.strip()`` removes (those whose ``str.isspace()`` is true), for Arrow's trim.
_WHITESPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
               "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
_BLANK_SET = pa.array(sorted(_BLANKS), type=pa.string())


def _is_text(values: np.ndarray | pd.Series) -> bool:
    """Whether every present value is a ``str`` (missing ones None or NaN): Arrow's string kernels apply."""
    return pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty")


def _text(raw: pd.DataFrame, column: str) -> pd.Series:
    """A column's values as stripped text, ``None`` for missing or blank-like ("", "null", "NaN", ...).

    Columns of text (every reader's output) are cleaned by Arrow's string kernels over the whole chunk;
    anything else value by value (:func:`_clean`), with the same result.
    """
    if column not in raw.columns:
        return pd.Series(np.full(len(raw), None, dtype=object), index=raw.index, dtype=object)
    values = raw[column].to_numpy(dtype=object)
    if _is_text(values):
        stripped = pc.utf8_trim(pa.array(values, type=pa.string(), from_pandas=True), characters=_WHITESPACE)
        cleaned = pc.if_else(pc.is_in(stripped, value_set=_BLANK_SET), pa.scalar(None, pa.string()), stripped)
        return pd.Series(cleaned.to_numpy(zero_copy_only=False), index=raw.index, dtype=object)
    codes, distinct = pd.factorize(values, use_na_sentinel=True)  # each value cleaned once
    result = np.array([None, *(_clean(v) for v in distinct)], dtype=object)
    return pd.Series(result[codes + 1], index=raw.index, dtype=object)


def _require(problems: _Problems, values: pd.Series, column: str) -> np.ndarray:
    missing = values.isna().to_numpy()
    problems.add(missing, f"missing_{column}", f"{column} is missing")
    return missing


def _check_length(problems: _Problems, values: pd.Series, column: str, limit: int) -> None:
    data = values.to_numpy(dtype=object)
    if _is_text(data):
        lengths = pc.fill_null(pc.utf8_length(pa.array(data, type=pa.string(), from_pandas=True)), 0)
        too_long = lengths.to_numpy(zero_copy_only=False) > limit
    else:
        too_long = values.fillna("").str.len().to_numpy() > limit
    problems.add(too_long, f"invalid_{column}", f"{column} is longer than {limit} characters")


def _timestamps(
    problems: _Problems, values: pd.Series, column: str, *, now: datetime, required: bool
) -> pd.Series:
    present = values.notna().to_numpy()
    if required:
        _require(problems, values, column)
    parsed = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
    plain = _plain_timestamps(values, parsed)  # the common form, parsed in one vectorised step
    text = values.fillna("")
    has_offset = plain.copy()
    other = present & ~plain
    if other.any():
        rest = text[other]
        has_offset[other] = (rest.str.contains(_OFFSET_PATTERN, regex=True)
                             & ~rest.str.fullmatch(_DATE_ONLY_PATTERN)).to_numpy()
    no_offset = present & ~has_offset
    garbled = np.zeros(len(values), dtype=bool)  # no offset, and not a timestamp at all ("yesterday")
    if no_offset.any():
        naive = pd.to_datetime(text[no_offset], format="ISO8601", errors="coerce")
        garbled[np.flatnonzero(no_offset)] = naive.isna().to_numpy()
        no_offset &= ~garbled
    problems.add(no_offset, f"{column}_without_offset",
                 f"{column} has no UTC offset (write e.g. 2025-08-01T09:15:00+08:00)")
    candidates = present & has_offset
    others = candidates & ~plain
    if others.any():
        converted = pd.to_datetime(text[others], format="ISO8601", utc=True, errors="coerce")
        parsed.loc[others] = converted
    failed = candidates & parsed.isna().to_numpy()
    beyond = _beyond_representable(text, failed)  # valid ISO 8601, outside pandas' 1677..2262
    problems.add((failed & ~beyond) | garbled, f"invalid_{column}", f"{column} is not a valid ISO-8601 timestamp")
    early = parsed.notna().to_numpy() & (parsed < EARLIEST_TIMESTAMP).to_numpy()
    problems.add(beyond | early, f"{column}_out_of_range",
                 f"{column} is outside the supported range ({EARLIEST_TIMESTAMP:%Y-%m-%d} to one day after ingestion)")
    future = parsed.notna().to_numpy() & (parsed > pd.Timestamp(now) + FUTURE_TOLERANCE).to_numpy()
    problems.add(future, f"{column}_in_future", f"{column} is more than one day after ingestion (in the future)")
    return parsed


def _beyond_representable(text: pd.Series, rows: np.ndarray) -> np.ndarray:
    """Which of ``rows`` hold a valid ISO-8601 timestamp with an offset whose year pandas cannot represent
    (before 1677 or after 2262, e.g. ``9999-12-31T00:00:00Z``): out of range, not malformed."""
    beyond = np.zeros(len(text), dtype=bool)
    for i in np.flatnonzero(rows):
        try:
            moment = datetime.fromisoformat(str(text.iloc[i]))
        except ValueError:
            continue
        beyond[i] = moment.tzinfo is not None and not (1677 < moment.year < 2262)
    return beyond


# ISO 8601 extended form with seconds, optional fraction and an offset, every field in range except the
# day of the month (checked by the parse): the form every device writes.
_PLAIN_TIMESTAMP = (r"^\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d"
                    r"(?:\.\d{1,6})?(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)$")


def _plain_timestamps(values: pd.Series, parsed: pd.Series) -> np.ndarray:
    """Parse, into ``parsed``, the values written in the plain form (``2025-08-01T09:15:00+08:00``) with
    Arrow's ISO 8601 cast; return which rows that covered. Any other form, or a chunk where the cast
    fails (an impossible date such as 02-30), is left to pandas' parser, which gives the same instants."""
    data = values.to_numpy(dtype=object)
    if not len(data) or not _is_text(data):
        return np.zeros(len(values), dtype=bool)
    strings = pa.array(data, type=pa.string(), from_pandas=True)
    plain = pc.fill_null(pc.match_substring_regex(strings, _PLAIN_TIMESTAMP), False).to_numpy(zero_copy_only=False)
    if not plain.any():
        return plain
    try:
        instants = pc.cast(strings.filter(pa.array(plain)), pa.timestamp("ns", tz="UTC"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return np.zeros(len(values), dtype=bool)
    parsed.loc[plain] = pd.Series(instants.to_pandas().array, index=values.index[plain])
    return plain


def _binary(problems: _Problems, values: pd.Series, column: str, required: bool = True) -> pd.Series:
    missing = _require(problems, values, column) if required else values.isna().to_numpy()
    mapped = values.map({"0": 0, "1": 1, "0.0": 0, "1.0": 1})
    bad = ~missing & mapped.isna().to_numpy()
    problems.add(bad, f"invalid_{column}", f"{column} is not 0 or 1")
    return mapped


def _calls(problems: _Problems, values: pd.Series, device_ids: pd.Series, devices: Mapping[str, DeviceConfig],
           column: str, *, required: bool) -> tuple[pd.Series, pd.Series]:
    """The binary call of ``column`` (``predicted_label`` or ``label``) and, for rows of an ordinal device
    (``outputs.type: ordinal``), its level index (None elsewhere).

    An ordinal device's rows give the level by name or by index (0 = the lowest); the call is
    ``level >= outputs.positive_index()``. Other rows give 0 or 1, as before.
    """
    n = len(values)
    levels = pd.Series(np.full(n, None, dtype=object), index=values.index, dtype=object)
    ordinal = {d: c.outputs for d, c in devices.items() if c.outputs is not None and c.outputs.type == "ordinal"}
    on_ordinal = device_ids.isin(list(ordinal)).to_numpy() if ordinal else np.zeros(n, dtype=bool)
    if required:
        _require(problems, values, column)
    calls = _binary(problems, values.where(~on_ordinal, None), column, required=False).astype(object)
    for device, outputs in ordinal.items():
        assert outputs is not None
        rows = (device_ids == device).to_numpy() & values.notna().to_numpy()
        if not rows.any():
            continue
        names = outputs.level_names()
        lookup = {name: i for i, name in enumerate(names)} | {str(i): i for i in range(len(names))} | {
            f"{i}.0": i for i in range(len(names))}
        mapped = values[rows].map(lookup)
        bad = rows.copy()
        bad[rows] = mapped.isna().to_numpy()
        problems.add(bad, f"invalid_{column}",
                     f"{column} is not one of the device's levels ({', '.join(names)}) or their index "
                     f"0..{len(names) - 1}")
        good = rows & ~bad
        found = mapped[mapped.notna()].astype(int)
        levels[good] = found.to_numpy()
        calls[good] = (found.to_numpy() >= outputs.positive_index()).astype(int)
    return calls, levels


_FLAGS = {"0": 0, "1": 1, "0.0": 0, "1.0": 1, "false": 0, "true": 1, "False": 0, "True": 1, "FALSE": 0, "TRUE": 1,
          "no": 0, "yes": 1}


def _flag(problems: _Problems, values: pd.Series, column: str) -> pd.Series:
    """An optional yes/no field (0/1, true/false, yes/no) as 0, 1 or None."""
    mapped = values.map(_FLAGS)
    bad = values.notna().to_numpy() & mapped.isna().to_numpy()
    problems.add(bad, f"invalid_{column}", f"{column} is not 0/1, true/false or yes/no")
    # Python ints (a bad value makes ``mapped`` float: 1.0 would reach PostgreSQL's smallint COPY as "1.0")
    return mapped.astype("Int64").astype(object).where(mapped.notna(), None)


def _optional_number(problems: _Problems, raw: pd.DataFrame, column: str) -> pd.Series:
    """An optional finite number (NaN when missing)."""
    text = _text(raw, column)
    values = _numbers(text)
    bad = text.notna().to_numpy() & ~(values.notna() & np.isfinite(values.astype(float))).to_numpy()
    problems.add(bad, f"invalid_{column}", f"{column} is not a finite number")
    return values.astype(float).where(~pd.Series(bad, index=values.index))


def _numbers(values: pd.Series) -> pd.Series:
    return pd.to_numeric(values, errors="coerce")


def stored_columns(kind: str, devices: Mapping[str, DeviceConfig]) -> frozenset[str]:
    """Columns whose values may be kept (also in rejected rows): the format's fields and configured strata.

    Anything else in a file (free text, stray identifiers) is never stored.
    """
    if kind == "predictions":
        known = set(PREDICTION_REQUIRED) | set(PREDICTION_OPTIONAL)
        for config in devices.values():
            known |= {a.source_column for a in config.strata.attributes}
        return frozenset(known)
    if kind == "retractions":
        return frozenset(RETRACTION_REQUIRED)
    return frozenset(GROUND_TRUTH_REQUIRED) | frozenset(GROUND_TRUTH_OPTIONAL)


def cap_age_text(value: str | None) -> str | None:
    """A raw age as it may be kept in a rejected row: ages of :data:`AGE_CAP` and above become ``"90"``."""
    try:
        return str(AGE_CAP) if value is not None and float(value) >= AGE_CAP else value
    except ValueError:
        return value


def _pseudonymise(patient_ids: pd.Series, hash_patient: PatientHasher) -> pd.Series:
    """Keyed hashes of patient ids; an id already written as ``hmac-sha256:<hash>`` is that hash."""
    def one(p: str | None) -> str | None:
        if p is None:
            return None
        if p.startswith(_PSEUDONYM_PREFIX) and len(p) == len(_PSEUDONYM_PREFIX) + 64:
            tail = p[len(_PSEUDONYM_PREFIX):]
            if all(c in "0123456789abcdef" for c in tail):
                return tail
        return hash_patient(p)
    codes, distinct = pd.factorize(patient_ids.to_numpy(dtype=object), use_na_sentinel=True)
    if _is_text(distinct):  # the usual case: only identifiers looking like pseudonyms go through one()
        marked = pc.starts_with(pa.array(distinct, type=pa.string()), _PSEUDONYM_PREFIX).to_numpy(zero_copy_only=False)
        hashed = np.empty(len(distinct) + 1, dtype=object)
        plain = distinct[~marked].tolist()
        many = getattr(hash_patient, "many", None)  # the bulk form of the keyed hash, when it has one
        hashed[:-1][~marked] = many(plain) if many is not None else [hash_patient(p) for p in plain]
        hashed[:-1][marked] = [one(p) for p in distinct[marked]]
        hashed[-1] = None
        return pd.Series(hashed[codes], index=patient_ids.index, dtype=object)
    hashed = np.array([*(one(p) for p in distinct), None], dtype=object)  # a patient's rows: one hash
    return pd.Series(hashed[codes], index=patient_ids.index, dtype=object)  # code -1 (missing): None


def keep_known(raw: pd.DataFrame, allowed: frozenset[str]) -> pd.DataFrame:
    """``raw`` without the columns that must not be stored."""
    return raw[[c for c in raw.columns if c in allowed]]


def _raw_records(raw: pd.DataFrame, hashed: dict[str, pd.Series], exact_ages: bool = False
                 ) -> list[dict[str, str | None]]:
    """Rejected rows as stored: identifier columns (:data:`HASHED_COLUMNS`) as their keyed hash, or left out
    when no hash is at hand; ages of 90 and above as 90."""
    frame = raw.astype(object).where(raw.notna(), None)
    frame = _mask_own_identifiers(frame)
    for column in HASHED_COLUMNS:
        if column in frame.columns:
            values = hashed[column].map(lambda h: f"hmac-sha256:{h}" if h else None) if column in hashed else None
            frame = frame.assign(**{column: values})
    if "age" in frame.columns and not exact_ages:
        frame = frame.assign(age=frame["age"].map(lambda a: cap_age_text(None if a is None else str(a))))
    return [{k: (None if v is None else str(v)) for k, v in row.items()} for row in frame.to_dict("records")]


def rejection_hashes(kind: str, rejections: Sequence[Rejection], *, source_sha256: str) -> list[str]:
    """Content hash of each rejection, by which a rejected row sent again is recognised (SHA-256 of the JSON
    of the log kind, record id, reason code, reason and stored content; not the row number, so a re-sent
    row is recognised wherever it sits in the new file). A unit rejected before it became a row (a line
    that is not JSON, a resource that cannot be mapped) keeps no content: its hash covers the whole
    source's SHA-256 and its row number instead, so only the identical source repeats it."""
    def digest(r: Rejection) -> str:
        where = [] if r.raw else [source_sha256, r.row_number]
        text = json.dumps([kind, r.record_id, r.code, r.reason, r.raw, *where], sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()
    return [digest(r) for r in rejections]


def _mask_own_identifiers(frame: pd.DataFrame) -> pd.DataFrame:
    """A rejected row's values that carry the row's own patient id or accession number (a row whose columns
    are shifted, an identifier typed into the wrong column) replaced by ``[identifier]``: only the keyed hash
    of an identifier is ever kept. Identifiers shorter than 4 characters are not looked for."""
    present = [c for c in HASHED_COLUMNS if c in frame.columns]
    others = [c for c in frame.columns if c not in HASHED_COLUMNS]
    if not present or not others or frame.empty:
        return frame
    records = frame.to_dict("records")
    changed = False
    for record in records:
        own = [str(record[c]).strip() for c in present if record[c] is not None and len(str(record[c]).strip()) >= 4]
        for column in others:
            value = record[column]
            if own and value is not None and any(i in str(value) for i in own):
                record[column] = "[identifier]"
                changed = True
    return pd.DataFrame(records, index=frame.index, columns=frame.columns, dtype=object) if changed else frame


def _iso_text(values: pd.Series) -> pd.Series:
    """UTC timestamps as fixed-width text ('' for missing), the form used in row hashes
    (``%Y-%m-%dT%H:%M:%S.%fZ``)."""
    moments = values.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[us]")
    texts = np.char.add(np.datetime_as_string(moments, unit="us"), "Z").astype(object)
    texts[values.isna().to_numpy()] = ""
    return pd.Series(texts, index=values.index, dtype=object)


def _hash_field(column: pd.Series) -> pa.Array:
    """A column as the text a row hash takes: ``str`` as is, ``""`` for missing, anything else ``str(v)``."""
    values = column.to_numpy(dtype=object)
    if not _is_text(values):
        values = np.array(["" if v is None or (isinstance(v, float) and v != v) else v if isinstance(v, str)
                           else str(v) for v in values], dtype=object)
    return pc.fill_null(pa.array(values, type=pa.string(), from_pandas=True), "")


def _row_hashes(*columns: pd.Series) -> list[str]:
    """SHA-256 of each row's canonical content (UTF-8 of the fields joined by the unit separator).

    The fields are joined by Arrow over the whole chunk; only the digest is taken row by row, straight
    from the joined buffer.
    """
    if not columns or not len(columns[0]):
        return []
    joined = pc.binary_join_element_wise(*(_hash_field(c) for c in columns), "\x1f")
    if joined.offset:
        joined = pa.concat_arrays([joined])  # rebase the offsets at 0
    offsets = np.frombuffer(joined.buffers()[1], dtype=np.int32, count=len(joined) + 1).tolist()
    data = joined.buffers()[2]
    content = memoryview(data) if data is not None else memoryview(b"")
    sha256 = hashlib.sha256
    return [sha256(content[a:b]).hexdigest() for a, b in zip(offsets[:-1], offsets[1:])]


def _device_checks(problems: _Problems, device_ids: pd.Series, devices: Mapping[str, DeviceConfig]) -> None:
    unknown = device_ids.notna().to_numpy() & ~device_ids.isin(list(devices)).to_numpy()
    problems.add(unknown, "unknown_device",
                 "device_id is not a registered device (run `samd-monitor device add CONFIG`)")


def _rejections(raw: pd.DataFrame, problems: _Problems, first_row: int, ids: pd.Series,
                hashed: dict[str, pd.Series], exact_ages: bool = False) -> list[Rejection]:
    bad = problems.bad()
    if not bad.any():
        return []
    positions = np.flatnonzero(bad)
    records = _raw_records(raw.iloc[positions], {c: v.iloc[positions] for c, v in hashed.items()}, exact_ages)
    return [
        Rejection(
            row_number=first_row + int(i),
            record_id=ids.iloc[i],
            code=problems.codes[i][0],
            reason="; ".join(problems.messages[i]),
            raw=record,
        )
        for i, record in zip(positions, records, strict=True)
    ]


def _json_values(values: np.ndarray) -> np.ndarray:
    """JSON text of each value (``None`` -> ``null``), encoding each distinct value once."""
    encoded = {v: json.dumps(v) for v in pd.unique(values)}
    return np.array([encoded[v] for v in values], dtype=object)


def _attribute_values(
    raw: pd.DataFrame, device_ids: pd.Series, devices: Mapping[str, DeviceConfig], problems: _Problems
) -> np.ndarray:
    """Per row, the configured stratification columns that are not core fields, as the JSON text of
    an object with sorted keys (``json.dumps(..., sort_keys=True)``); numbers are floats."""
    core = set(PREDICTION_REQUIRED) | set(PREDICTION_OPTIONAL)
    columns: dict[str, np.ndarray] = {}
    owner: dict[str, np.ndarray] = {}
    for device_id, config in devices.items():
        rows = (device_ids == device_id).to_numpy()
        if not rows.any():
            continue
        for spec in config.strata.attributes:
            column = spec.source_column
            if column in core:
                continue
            values = _text(raw, column)
            if spec.is_numeric:
                numbers = _numbers(values).astype(float)
                bad = rows & values.notna().to_numpy() & numbers.isna().to_numpy()
                problems.add(bad, f"invalid_{column}", f"{column} is not a number")
                converted = numbers.astype(object).where(numbers.notna(), None).to_numpy()
            else:
                _check_length(problems, values.where(pd.Series(rows, index=values.index)), column, MAX_TEXT_LENGTH)
                converted = values.to_numpy(dtype=object)
            merged = columns.setdefault(column, np.full(len(raw), None, dtype=object))
            mask = owner.setdefault(column, np.zeros(len(raw), dtype=bool))
            merged[rows] = converted[rows]
            mask |= rows
    text = np.full(len(raw), "", dtype=object)
    for name in sorted(columns):
        piece = json.dumps(name) + ": " + _json_values(columns[name])
        separator = np.where(text == "", "", ", ").astype(object)
        text = np.where(owner[name], text + separator + piece, text)
    return "{" + text + "}"


def _optional_volume(problems: _Problems, raw: pd.DataFrame, column: str) -> pd.Series:
    """An optional non-negative, finite volume in mm³ (NaN when missing)."""
    text = _text(raw, column)
    values = _numbers(text)
    bad = text.notna().to_numpy() & ~(values.notna() & np.isfinite(values.astype(float)) & (values >= 0)).to_numpy()
    problems.add(bad, f"invalid_{column}", f"{column} is not a finite, non-negative number")
    return values.astype(float).where(~pd.Series(bad, index=values.index))


def _accession_numbers(problems: _Problems, raw: pd.DataFrame) -> pd.Series:
    """The optional accession number (DICOM (0008,0050), at most 16 characters there; up to 64 accepted)."""
    accession = _text(raw, "accession_number")
    _check_length(problems, accession, "accession_number", MAX_TEXT_LENGTH)
    return accession


def _full_matches(values: pd.Series, pattern: str, max_length: int | None = None) -> np.ndarray:
    """Which present values match ``pattern`` as a whole (and are at most ``max_length`` characters); the
    pattern spells its character classes out in ASCII, so Arrow's RE2 and Python's ``re`` agree."""
    data = values.to_numpy(dtype=object)
    if not _is_text(data):
        text = values.fillna("")
        fits = text.str.fullmatch(pattern).to_numpy(dtype=bool)
        return fits & (text.str.len().to_numpy() <= max_length) if max_length is not None else fits
    strings = pa.array(data, type=pa.string(), from_pandas=True)
    fits = pc.fill_null(pc.match_substring_regex(strings, f"^(?:{pattern})$"), False)
    if max_length is not None:
        fits = pc.and_(fits, pc.fill_null(pc.less_equal(pc.utf8_length(strings), max_length), False))
    return fits.to_numpy(zero_copy_only=False)


def _study_uids(problems: _Problems, raw: pd.DataFrame) -> pd.Series:
    uid = _text(raw, "study_uid")
    present = uid.notna().to_numpy()
    bad = present & ~_full_matches(uid, _UID_PATTERN, MAX_UID_LENGTH)
    problems.add(bad, "invalid_study_uid",
                 f"study_uid is not a DICOM UID (digits and dots, at most {MAX_UID_LENGTH} characters)")
    return uid


def _result_status(problems: _Problems, raw: pd.DataFrame) -> tuple[pd.Series, np.ndarray, pd.Series]:
    """``result_status`` (``ok`` when empty), the mask of failures, and the failure code to store."""
    status = _text(raw, "result_status").fillna("ok")
    unknown = ~status.isin(RESULT_STATUSES).to_numpy()
    problems.add(unknown, "invalid_result_status",
                 f"result_status is not one of {', '.join(RESULT_STATUSES)}")
    failed = status.isin(["failed", "no_result"]).to_numpy()
    reason = _text(raw, "failure_reason")
    bad_reason = reason.notna().to_numpy() & ~_full_matches(reason, _FAILURE_REASON_PATTERN)
    problems.add(bad_reason, "invalid_failure_reason",
                 "failure_reason is not a code (1 to 48 letters, digits, '_', '.', '-')")
    stray = reason.notna().to_numpy() & ~bad_reason & ~failed & ~unknown
    problems.add(stray, "failure_reason_without_failure",
                 "failure_reason is given but result_status is not failed or no_result")
    code = status.where(reason.isna(), status + ":" + reason.fillna(""))
    return status, failed, code


def validate_predictions(
    raw: pd.DataFrame,
    *,
    first_row: int,
    devices: Mapping[str, DeviceConfig],
    hash_patient: PatientHasher,
    now: datetime,
    exact_ages: bool = False,
) -> ValidatedChunk:
    """Validate a chunk of raw prediction-log rows.

    Parameters
    ----------
    raw
        Text values (or ``None``) with the log's columns; row ``i`` is data row ``first_row + i``.
    first_row
        1-based number of the chunk's first data row (the header is not counted).
    devices
        Registered device configurations by device id.
    hash_patient
        Keyed hash applied to ``patient_id`` before anything is kept.
    now
        Current time (timezone-aware) for the far-future check.
    exact_ages
        Keep ages of 90 and above as given; by default they become :data:`AGE_CAP` (">= 90").

    The accepted frame has a ``result_status`` column: rows other than ``ok`` are AI failures
    (no score, no call; ``failure_code`` says why) and carry their own kind of row hash.
    """
    raw = raw.reset_index(drop=True)
    problems = _Problems(len(raw))
    ids = _text(raw, "prediction_id")
    device_ids = _text(raw, "device_id")
    for column in ("prediction_id", "device_id", "model_version", "site_id", "patient_id"):
        values = ids if column == "prediction_id" else device_ids if column == "device_id" else _text(raw, column)
        _require(problems, values, column)
        _check_length(problems, values, column, MAX_ID_LENGTH if column in ("prediction_id", "patient_id") else MAX_TEXT_LENGTH)
    _device_checks(problems, device_ids, devices)
    predicted_at = _timestamps(problems, _text(raw, "predicted_at"), "predicted_at", now=now, required=True)
    status, failed, failure_code = _result_status(problems, raw)

    score_text = _text(raw, "score")
    score_missing = score_text.isna().to_numpy() & ~failed
    problems.add(score_missing, "missing_score", "score is missing")
    score = _numbers(score_text)
    not_number = score_text.notna().to_numpy() & score.isna().to_numpy()
    problems.add(not_number, "invalid_score", "score is not a number")
    out_of_range = score.notna().to_numpy() & ((score < 0) | (score > 1)).to_numpy()
    problems.add(out_of_range, "score_out_of_range", "score is outside 0..1")

    label_text = _text(raw, "predicted_label")
    label_missing = label_text.isna().to_numpy() & ~failed
    problems.add(label_missing, "missing_predicted_label", "predicted_label is missing")
    call, level = _calls(problems, label_text, device_ids, devices, "predicted_label", required=False)
    human = _binary(problems, _text(raw, "human_label"), "human_label", required=False)
    ai_volume = _optional_volume(problems, raw, "ai_volume_mm3")
    reviewed_volume = _optional_volume(problems, raw, "reviewed_volume_mm3")
    low_confidence = _flag(problems, _text(raw, "low_confidence"), "low_confidence")
    comparator_score = _optional_number(problems, raw, "comparator_score")
    comparator_label = _binary(problems, _text(raw, "comparator_label"), "comparator_label", required=False)
    overlap_volume = _optional_volume(problems, raw, "overlap_volume_mm3")
    too_large = (overlap_volume.notna() & ((overlap_volume > ai_volume) | (overlap_volume > reviewed_volume)
                                           | ai_volume.isna() | reviewed_volume.isna())).to_numpy()
    problems.add(too_large, "invalid_overlap_volume_mm3",
                 "overlap_volume_mm3 needs both volumes and cannot exceed either of them")
    for column, values in (("score", score_text), ("predicted_label", label_text),
                           ("ai_volume_mm3", _text(raw, "ai_volume_mm3")),
                           ("low_confidence", _text(raw, "low_confidence")),
                           ("comparator_score", _text(raw, "comparator_score")),
                           ("comparator_label", _text(raw, "comparator_label")),
                           ("overlap_volume_mm3", _text(raw, "overlap_volume_mm3"))):
        problems.add(failed & values.notna().to_numpy(), "result_on_failed_row",
                     lambda v, c=column: f"{c} must be empty when result_status is {v!r}", status)
    study_uid = _study_uids(problems, raw)

    age_text = _text(raw, "age")
    age = _numbers(age_text)
    bad_age = age_text.notna().to_numpy() & (age.isna() | (age < 0) | (age > 130)).to_numpy()
    problems.add(bad_age, "invalid_age", "age is not a number of years in 0..130")
    if not exact_ages:
        age = age.where(~(age >= AGE_CAP), float(AGE_CAP))
    sex = _text(raw, "sex")
    _check_length(problems, sex, "sex", 16)
    attributes = _attribute_values(raw, device_ids, devices, problems)

    accession = _accession_numbers(problems, raw)
    hashed = _pseudonymise(_text(raw, "patient_id"), hash_patient)
    accession_hash = _pseudonymise(accession, hash_patient)
    rejections = _rejections(keep_known(raw, stored_columns("predictions", devices)), problems, first_row, ids,
                             {"patient_id": hashed, "accession_number": accession_hash}, exact_ages)

    keep = ~problems.bad()
    accepted = pd.DataFrame(
        {
            "row_number": np.arange(first_row, first_row + len(raw))[keep],
            "device_id": device_ids[keep].to_numpy(),
            "prediction_id": ids[keep].to_numpy(),
            "model_version": _text(raw, "model_version")[keep].to_numpy(),
            "site_id": _text(raw, "site_id")[keep].to_numpy(),
            "predicted_at": predicted_at[keep].array,
            "score": score[keep].astype(float).to_numpy(),
            "predicted_label": np.array([-1 if v is None or v != v else int(v) for v in call[keep]], dtype=np.int64),
            "patient_hash": hashed[keep].to_numpy(),
            "age": age[keep].astype(float).to_numpy(),
            "sex": sex[keep].to_numpy(),
            "attributes": attributes[keep],
            "study_uid": study_uid[keep].to_numpy(),
            "accession_hash": accession_hash[keep].to_numpy(),
            "human_label": np.array([None if v != v else int(v) for v in human[keep]], dtype=object),
            "ai_volume_mm3": ai_volume[keep].to_numpy(),
            "reviewed_volume_mm3": reviewed_volume[keep].to_numpy(),
            "predicted_level": level[keep].to_numpy(),
            "low_confidence": low_confidence[keep].to_numpy(),
            "comparator_score": comparator_score[keep].to_numpy(),
            "comparator_label": np.array([None if v is None or v != v else int(v) for v in comparator_label[keep]],
                                         dtype=object),
            "overlap_volume_mm3": overlap_volume[keep].to_numpy(),
            "result_status": status[keep].to_numpy(),
            "failure_code": failure_code[keep].where(failed[keep], None).to_numpy(),
        }
    )
    accepted["predicted_at"] = pd.to_datetime(accepted["predicted_at"], utc=True)
    accepted["row_hash"] = _prediction_hashes(accepted)
    return ValidatedChunk(accepted=accepted, rejections=rejections)


def _number_text(values: pd.Series) -> pd.Series:
    """Numbers as ``repr`` of their float (``""`` when missing), the form used in row hashes."""
    numbers = values.astype(float).to_numpy()
    text = np.array(list(map(repr, numbers.tolist())), dtype=object)
    text[np.isnan(numbers)] = ""
    return pd.Series(text, index=values.index, dtype=object)


def _float_text(values: pd.Series) -> pd.Series:
    """``repr`` of each float (``nan`` included), the form used in row hashes."""
    return pd.Series(list(map(repr, values.astype(float).tolist())), index=values.index, dtype=object)


def _prediction_hashes(frame: pd.DataFrame) -> list[str]:
    """Row hashes of accepted prediction rows.

    A result (``ok``) hashes the original fields and, only when one of them is given, the
    clinical-context fields (so rows without them keep the hashes they had before those columns
    existed). A failure hashes a distinct field set starting with ``failure``, so a prediction id
    can never be both a result and a failure: the second is a conflicting duplicate.
    """
    if frame.empty:
        return []
    attributes = frame["attributes"]
    common = [frame["device_id"], frame["prediction_id"], frame["model_version"], frame["site_id"],
              _iso_text(frame["predicted_at"])]
    person = [frame["patient_hash"], _number_text(frame["age"]), frame["sex"], attributes]
    base = _row_hashes(*common, _float_text(frame["score"]), frame["predicted_label"].astype(str), *person)
    context = [frame["study_uid"], frame["human_label"], _number_text(frame["ai_volume_mm3"]),
               _number_text(frame["reviewed_volume_mm3"])]
    has_context = np.column_stack([c.notna().to_numpy() & (c.astype(object) != "").to_numpy() for c in context]).any(1)
    hashes = np.array(base, dtype=object)
    if has_context.any():
        rows = frame.loc[has_context]
        hashes[has_context] = _row_hashes(
            *[c.loc[has_context] for c in common], _float_text(rows["score"]), rows["predicted_label"].astype(str),
            *[c.loc[has_context] for c in person], *[c.loc[has_context] for c in context])
    accession = frame["accession_hash"].notna().to_numpy() if "accession_hash" in frame.columns else has_context & False
    if accession.any():  # an accession number extends the context fields, only on the rows that carry one
        rows = frame.loc[accession]
        hashes[accession] = _row_hashes(
            *[c.loc[accession] for c in common], _float_text(rows["score"]), rows["predicted_label"].astype(str),
            *[c.loc[accession] for c in person], *[c.loc[accession] for c in context], rows["accession_hash"])
    kinds = [frame[c] if c in frame.columns else pd.Series(None, index=frame.index, dtype=object) for c in KIND_FIELDS]
    kinds[2], kinds[4] = _number_text(kinds[2]), _number_text(kinds[4])
    has_kind = np.column_stack([c.notna().to_numpy() & (c.astype(object) != "").to_numpy() for c in kinds]).any(1)
    if has_kind.any():  # the device-kind fields extend every other field, only on the rows that carry one
        rows = frame.loc[has_kind]
        accession_text = (rows["accession_hash"] if "accession_hash" in frame.columns
                          else pd.Series(None, index=rows.index, dtype=object))
        hashes[has_kind] = _row_hashes(
            pd.Series("kinds", index=rows.index), *[c.loc[has_kind] for c in common], _float_text(rows["score"]),
            rows["predicted_label"].astype(str), *[c.loc[has_kind] for c in person],
            *[c.loc[has_kind] for c in context], accession_text, *[c.loc[has_kind].astype(object) .map(
                lambda v: None if v is None or v != v else str(v)) for c in kinds])
    failed = (frame["result_status"] != "ok").to_numpy()
    if failed.any():
        rows = frame.loc[failed]
        hashes[failed] = _row_hashes(
            pd.Series("failure", index=rows.index), *[c.loc[failed] for c in common], rows["failure_code"],
            *[c.loc[failed] for c in person], rows["study_uid"])
    return list(hashes)


def ground_truth_row_hashes(frame: pd.DataFrame) -> list[str]:
    """Row hashes of ground-truth rows (each with its ``prediction_id``; a row given by study gets,
    once expanded to a prediction, the hash of the same row given by that prediction's id)."""
    hashes = np.array(_row_hashes(
        frame["device_id"], frame["prediction_id"], frame["label"].astype(str),
        _iso_text(frame["confirmed_at"]), frame["source"], _iso_text(frame["intervention_at"]),
    ), dtype=object)
    if "label_level" in frame.columns and frame["label_level"].notna().any():  # an ordinal reference grade
        graded = frame["label_level"].notna().to_numpy()
        rows = frame.loc[graded]
        hashes[graded] = _row_hashes(
            rows["device_id"], rows["prediction_id"], rows["label"].astype(str), _iso_text(rows["confirmed_at"]),
            rows["source"], _iso_text(rows["intervention_at"]), rows["label_level"].map(lambda v: str(int(v))))
    return list(hashes)


def validate_ground_truth(
    raw: pd.DataFrame,
    *,
    first_row: int,
    devices: Mapping[str, DeviceConfig],
    now: datetime,
    hash_patient: PatientHasher | None = None,
) -> ValidatedChunk:
    """Validate a chunk of raw ground-truth rows (same conventions as :func:`validate_predictions`).

    A row names its case by exactly one of ``prediction_id``, ``study_uid`` or ``accession_number``
    (kept only as its keyed hash ``accession_hash``: ``hash_patient`` is then required). Rows given by
    study or accession have ``prediction_id`` None and ``row_hash`` None until the service expands them
    to the stored predictions of that study or accession.
    """
    raw = raw.reset_index(drop=True)
    problems = _Problems(len(raw))
    ids = _text(raw, "prediction_id")
    device_ids = _text(raw, "device_id")
    study_uid = _study_uids(problems, raw)
    accession = _accession_numbers(problems, raw)
    if accession.notna().any() and hash_patient is None:
        raise InputError("ground truth given by accession_number needs the patient-identifier key "
                         "(MONITOR_PATIENT_ID_KEY): accession numbers are kept only as their keyed hash")
    accession_hash = (_pseudonymise(accession, hash_patient) if hash_patient is not None
                      else pd.Series([None] * len(raw), index=raw.index, dtype=object))
    given = ids.notna().astype(int) + study_uid.notna().astype(int) + accession.notna().astype(int)
    problems.add((given == 0).to_numpy(), "missing_prediction_id",
                 "prediction_id (or study_uid, or accession_number) is missing")
    problems.add((given > 1).to_numpy(), "ambiguous_case",
                 "give exactly one of prediction_id, study_uid or accession_number")
    _check_length(problems, ids, "prediction_id", MAX_ID_LENGTH)
    _require(problems, device_ids, "device_id")
    _check_length(problems, device_ids, "device_id", MAX_ID_LENGTH)
    _device_checks(problems, device_ids, devices)
    label, label_level = _calls(problems, _text(raw, "label"), device_ids, devices, "label", required=True)
    confirmed_at = _timestamps(problems, _text(raw, "confirmed_at"), "confirmed_at", now=now, required=True)
    intervention_at = _timestamps(problems, _text(raw, "intervention_at"), "intervention_at", now=now, required=False)
    source = _text(raw, "source")
    source_missing = _require(problems, source, "source")
    unknown_source = ~source_missing & ~source.isin(GROUND_TRUTH_SOURCES).to_numpy()
    problems.add(unknown_source, "invalid_source",
                 f"source is not one of {', '.join(GROUND_TRUTH_SOURCES)}")
    reason = _text(raw, "correction_reason")
    _check_length(problems, reason, "correction_reason", MAX_REASON_LENGTH)
    record_ids = ids.where(ids.notna(), study_uid)
    record_ids = record_ids.where(record_ids.notna(), accession_hash.map(lambda h: h and f"hmac-sha256:{h}"))
    rejections = _rejections(keep_known(raw, stored_columns("ground_truth", devices)), problems, first_row,
                             record_ids, {"accession_number": accession_hash})

    keep = ~problems.bad()
    accepted = pd.DataFrame(
        {
            "row_number": np.arange(first_row, first_row + len(raw))[keep],
            "device_id": device_ids[keep].to_numpy(),
            "prediction_id": ids[keep].to_numpy(),
            "study_uid": study_uid[keep].to_numpy(),
            "accession_hash": accession_hash[keep].to_numpy(),
            "label": label[keep].astype(int).to_numpy(),
            "label_level": label_level[keep].to_numpy(),
            "confirmed_at": confirmed_at[keep].array,
            "source": source[keep].to_numpy(),
            "intervention_at": intervention_at[keep].array,
            "correction_reason": reason[keep].to_numpy(),
        }
    )
    for column in ("confirmed_at", "intervention_at"):
        accepted[column] = pd.to_datetime(accepted[column], utc=True)
    by_id = accepted["prediction_id"].notna()
    accepted["row_hash"] = None
    if by_id.any():
        accepted.loc[by_id, "row_hash"] = ground_truth_row_hashes(accepted.loc[by_id])
    return ValidatedChunk(accepted=accepted, rejections=rejections)


def validate_retractions(
    raw: pd.DataFrame,
    *,
    first_row: int,
    devices: Mapping[str, DeviceConfig],
    now: datetime,
) -> ValidatedChunk:
    """Validate a chunk of raw retraction rows: a device withdrawing one of its results.

    Columns ``device_id``, ``prediction_id``, ``retracted_at`` (ISO-8601 with offset) and
    ``reason`` (at most 500 characters; it must not hold patient information).
    """
    raw = raw.reset_index(drop=True)
    problems = _Problems(len(raw))
    ids = _text(raw, "prediction_id")
    device_ids = _text(raw, "device_id")
    for column, values in (("prediction_id", ids), ("device_id", device_ids)):
        _require(problems, values, column)
        _check_length(problems, values, column, MAX_ID_LENGTH)
    _device_checks(problems, device_ids, devices)
    retracted_at = _timestamps(problems, _text(raw, "retracted_at"), "retracted_at", now=now, required=True)
    reason = _text(raw, "reason")
    _require(problems, reason, "reason")
    _check_length(problems, reason, "reason", MAX_REASON_LENGTH)
    rejections = _rejections(keep_known(raw, stored_columns("retractions", devices)), problems, first_row, ids, {})
    keep = ~problems.bad()
    accepted = pd.DataFrame({
        "row_number": np.arange(first_row, first_row + len(raw))[keep],
        "device_id": device_ids[keep].to_numpy(),
        "prediction_id": ids[keep].to_numpy(),
        "retracted_at": retracted_at[keep].array,
        "reason": reason[keep].to_numpy(),
    })
    accepted["retracted_at"] = pd.to_datetime(accepted["retracted_at"], utc=True)
    accepted["row_hash"] = retraction_row_hashes(accepted)
    return ValidatedChunk(accepted=accepted, rejections=rejections)


def retraction_row_hashes(frame: pd.DataFrame) -> list[str]:
    """Row hashes of retraction rows (``device_id``, ``prediction_id``, ``retracted_at``, ``reason``)."""
    if frame.empty:
        return []
    return _row_hashes(frame["device_id"], frame["prediction_id"], _iso_text(frame["retracted_at"]), frame["reason"])
