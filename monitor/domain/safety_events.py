"""The complaints / adverse-event log (safety and feedback, regulatory.md section 2 item 14): row validation.

One row is one event known to the manufacturer: a complaint, an adverse event, an incident, user feedback or
a radiologist's override of / discordance with the AI. The format is ``schemas/safety_event_log.schema.json``
(CSV or NDJSON, one flat row per event). Validation follows the other logs (:mod:`monitor.domain.logs`):
every problem of a row is collected, the row is rejected with its 1-based row number and reason codes, and no
reason quotes a value. ``patient_id`` and ``accession_number`` are kept only as their keyed hash; the free
``description`` is stored but never logged.

Reportability: per jurisdiction (NMPA, EU-MDR, FDA; column prefixes ``nmpa_``, ``eu_mdr_``, ``fda_``) a row
may carry the decision (``reportable`` / ``not_reportable`` / ``pending``), its rationale, the event class
of the clock (:data:`monitor.domain.capa.reportability.EVENT_CLASSES`; derived from ``seriousness`` when not
given, :data:`DERIVED_EVENT_CLASS`) and the date the report was filed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Mapping

import numpy as np
import pandas as pd

from monitor.domain.capa.reportability import EVENT_CLASSES
from monitor.domain.device import DeviceConfig
from monitor.domain.logs import (  # the shared row-validation machinery of the log formats
    MAX_ID_LENGTH,
    MAX_TEXT_LENGTH,
    Rejection,
    ValidatedChunk,
    _check_length,
    _device_checks,
    _iso_text,
    _Problems,
    _pseudonymise,
    _rejections,
    _require,
    _row_hashes,
    _text,
    _timestamps,
    keep_known,
)
from monitor.domain.privacy import PatientHasher
from monitor.errors import InputError

__all__ = [
    "DECISIONS",
    "DERIVED_EVENT_CLASS",
    "EVENT_KINDS",
    "JURISDICTIONS",
    "SAFETY_OPTIONAL",
    "SAFETY_REQUIRED",
    "SERIOUSNESS",
    "SafetyJurisdiction",
    "effective_event_class",
    "parse_imdrf_codes",
    "safety_stored_columns",
    "validate_safety_events",
]

EVENT_KINDS = ("complaint", "adverse_event", "incident", "user_feedback", "override_discordance")
#: Kinds that are adverse events or incidents: they need at least one IMDRF code (MDCG 2022-21 Annex III:
#: vigilance data use the IMDRF adverse-event terminology).
CODED_KINDS = ("adverse_event", "incident")
SERIOUSNESS = ("death", "serious_injury", "malfunction_could_lead", "non_serious")
DECISIONS = ("reportable", "not_reportable", "pending")


@dataclass(frozen=True)
class SafetyJurisdiction:
    """A jurisdiction of the reportability clock and the column prefix of its fields."""

    name: str
    prefix: str


JURISDICTIONS = (SafetyJurisdiction("NMPA", "nmpa"), SafetyJurisdiction("EU-MDR", "eu_mdr"),
                 SafetyJurisdiction("FDA", "fda"))
_FIELDS = ("decision", "rationale", "reported_at", "event_class")

#: The event class a seriousness falls into when the row names none (the conservative reading):
#: NMPA Decree No. 1 (2018) art. 25: death 7 days; serious injury, or could cause serious injury or death,
#: 20 days (an overseas event, 30 days, and a group event, 12 hours, are named by ``nmpa_event_class``).
#: MDR Art. 87(3)/(5): death and (taken as unanticipated) serious deterioration 10 days; an incident that could
#: have led to them 15 days; a public-health threat (2 days) is named by ``eu_mdr_event_class``.
#: 21 CFR 803.50(a): death, serious injury and a malfunction that could cause them, 30 days; the 5-work-day
#: report of 803.53(a) is named by ``fda_event_class`` (mdr_5_day). A non-serious event has no individual
#: report in any of them (it is trended: MDR Art. 88, the NMPA periodic risk evaluation report).
DERIVED_EVENT_CLASS: Mapping[str, Mapping[str, str]] = {
    "NMPA": {"death": "death", "serious_injury": "serious_injury", "malfunction_could_lead": "serious_injury",
             "non_serious": "not_reportable"},
    "EU-MDR": {"death": "death_or_unanticipated_serious_deterioration",
               "serious_injury": "death_or_unanticipated_serious_deterioration",
               "malfunction_could_lead": "serious_incident", "non_serious": "not_reportable"},
    "FDA": {"death": "mdr_30_day", "serious_injury": "mdr_30_day", "malfunction_could_lead": "mdr_30_day",
            "non_serious": "not_reportable"},
}

SAFETY_REQUIRED = ("event_id", "device_id", "site_id", "received_at", "kind", "seriousness", "description")
SAFETY_OPTIONAL = ("occurred_at", "imdrf_codes", "model_version", "patient_id", "accession_number",
                   *(f"{j.prefix}_{f}" for j in JURISDICTIONS for f in _FIELDS))
#: IMDRF adverse-event terminology codes (IMDRF/AE WG/N43): an annex letter (A device problem, B cause
#: investigation, C component, D evaluation result, E health effect - clinical signs, F health effect -
#: health impact, G component) and 2, 4 or 6 digits (levels 1 to 3), e.g. A0901, E0123. The shape only:
#: no code list ships with a library this project uses.
IMDRF_CODE = re.compile(r"[A-G](?:[0-9]{2}){1,3}")
_CODE_SEPARATOR = re.compile(r"[;,|\s]+")
MAX_CODES = 20
MAX_DESCRIPTION_LENGTH = 4000
MAX_RATIONALE_LENGTH = 1000


def effective_event_class(jurisdiction: str, seriousness: str, given: str | None) -> str:
    """The row's event class in ``jurisdiction``: the one it names, else the one its seriousness falls into."""
    return given if given else DERIVED_EVENT_CLASS[jurisdiction][seriousness]


def parse_imdrf_codes(text: str | None) -> tuple[list[str], bool]:
    """The codes of a ``imdrf_codes`` cell (separated by ``;``, ``,``, ``|`` or spaces; upper-cased, each once,
    in the order given) and whether every one has the IMDRF shape and there are at most :data:`MAX_CODES`."""
    if text is None:
        return [], True
    codes = list(dict.fromkeys(c.upper() for c in _CODE_SEPARATOR.split(text) if c))
    return codes, len(codes) <= MAX_CODES and all(IMDRF_CODE.fullmatch(c) for c in codes)


def safety_stored_columns(devices: Mapping[str, DeviceConfig]) -> frozenset[str]:
    """Columns whose values may be kept (also in rejected rows): the format's and the devices' strata columns."""
    known = set(SAFETY_REQUIRED) | set(SAFETY_OPTIONAL)
    for config in devices.values():
        known |= {a.source_column for a in config.strata.attributes}
    return frozenset(known)


def _one_of(problems: _Problems, values: pd.Series, column: str, allowed: tuple[str, ...]) -> None:
    bad = values.notna().to_numpy() & ~values.isin(allowed).to_numpy()
    problems.add(bad, f"invalid_{column}", f"{column} is not one of {', '.join(allowed)}")


def _codes(problems: _Problems, raw: pd.DataFrame, kind: pd.Series) -> pd.Series:
    text = _text(raw, "imdrf_codes")
    parsed = [parse_imdrf_codes(v) for v in text]
    bad = np.array([not ok for _, ok in parsed], dtype=bool)
    problems.add(bad, "invalid_imdrf_codes",
                 f"imdrf_codes holds a code that is not an IMDRF code (an annex letter A-G and 2, 4 or 6 digits, "
                 f"e.g. A0901; E0123) or more than {MAX_CODES} codes")
    uncoded = np.array([not codes for codes, _ in parsed], dtype=bool) & kind.isin(CODED_KINDS).to_numpy()
    problems.add(uncoded, "missing_imdrf_codes",
                 f"imdrf_codes is missing: an event of kind {' or '.join(CODED_KINDS)} needs at least one IMDRF code")
    return pd.Series([json.dumps(codes) for codes, _ in parsed], index=raw.index, dtype=object)


def _attributes(raw: pd.DataFrame, device_ids: pd.Series, devices: Mapping[str, DeviceConfig],
                problems: _Problems) -> pd.Series:
    """Per row, the stratum label of each of its device's attributes whose column the row fills (JSON text of
    ``{attribute: label}``, sorted keys): the label only is stored, never the raw value (an age is kept as its
    age band)."""
    labels: list[dict[str, str]] = [{} for _ in range(len(raw))]
    for device_id, config in devices.items():
        rows = (device_ids == device_id).to_numpy()
        if not rows.any():
            continue
        for spec in config.strata.attributes:
            values = _text(raw, spec.source_column)
            present = rows & values.notna().to_numpy()
            if spec.is_numeric:
                numbers = pd.to_numeric(values, errors="coerce")
                bad = present & numbers.isna().to_numpy()
                problems.add(bad, f"invalid_{spec.source_column}", f"{spec.source_column} is not a number")
                present &= ~bad
            else:
                _check_length(problems, values.where(pd.Series(rows, index=values.index)), spec.source_column,
                              MAX_TEXT_LENGTH)
            for i in np.flatnonzero(present):
                value: float | str = float(values.iloc[i]) if spec.is_numeric else str(values.iloc[i])
                labels[i][spec.name] = spec.bin_label(value)
    return pd.Series([json.dumps(d, sort_keys=True) for d in labels], index=raw.index, dtype=object)


def _decisions(problems: _Problems, raw: pd.DataFrame, seriousness: pd.Series, received_at: pd.Series,
               now: datetime) -> pd.Series:
    """Per row, the JSON text of its reportability decisions: ``{jurisdiction: {decision, event_class,
    rationale, reported_at}}`` for each jurisdiction whose columns the row fills (sorted keys)."""
    decisions: list[dict[str, dict[str, str | None]]] = [{} for _ in range(len(raw))]
    known_seriousness = seriousness.isin(SERIOUSNESS).to_numpy()
    for j in JURISDICTIONS:
        p = j.prefix
        decision = _text(raw, f"{p}_decision")
        rationale = _text(raw, f"{p}_rationale")
        event_class = _text(raw, f"{p}_event_class")
        reported_at = _timestamps(problems, _text(raw, f"{p}_reported_at"), f"{p}_reported_at", now=now,
                                  required=False)
        _one_of(problems, decision, f"{p}_decision", DECISIONS)
        classes = tuple(EVENT_CLASSES[j.name])
        _one_of(problems, event_class, f"{p}_event_class", classes)
        _check_length(problems, rationale, f"{p}_rationale", MAX_RATIONALE_LENGTH)
        given = (decision.notna() | rationale.notna() | event_class.notna()).to_numpy() | reported_at.notna().to_numpy()
        problems.add(given & decision.isna().to_numpy(), f"missing_{p}_decision",
                     f"{p}_decision is missing although other {p}_ fields are given")
        problems.add((decision == "not_reportable").to_numpy() & rationale.isna().to_numpy(), f"missing_{p}_rationale",
                     f"{p}_rationale is missing: a decision not to report needs its rationale (21 CFR 803.17; "
                     "ISO 13485 8.2.3)")
        problems.add(reported_at.notna().to_numpy() & (decision != "reportable").to_numpy(),
                     f"{p}_reported_at_without_report", f"{p}_reported_at is given but {p}_decision is not reportable")
        early = (reported_at.notna() & received_at.notna() & (reported_at < received_at)).to_numpy()
        problems.add(early, f"{p}_reported_before_awareness", f"{p}_reported_at is before received_at")
        valid_class = event_class.isna().to_numpy() | event_class.isin(classes).to_numpy()
        effective = [effective_event_class(j.name, s, c) if ok and known else None
                     for s, c, ok, known in zip(seriousness, event_class, valid_class, known_seriousness, strict=True)]
        no_clock = np.array([e == "not_reportable" for e in effective], dtype=bool)
        problems.add(no_clock & (decision == "reportable").to_numpy(), f"{p}_reportable_without_class",
                     f"{p}_decision is reportable but the event's seriousness gives no report class: "
                     f"name it in {p}_event_class")
        problems.add(event_class.notna().to_numpy() & ~no_clock & (decision == "not_reportable").to_numpy(),
                     f"{p}_class_contradicts_decision",
                     f"{p}_event_class names a reportable class but {p}_decision is not_reportable")
        reported_text = _iso_text(reported_at)
        for i in np.flatnonzero(decision.notna().to_numpy()):
            decisions[i][j.name] = {"decision": decision.iloc[i], "event_class": event_class.iloc[i],
                                    "rationale": rationale.iloc[i], "reported_at": reported_text.iloc[i] or None}
    return pd.Series([json.dumps(d, sort_keys=True, ensure_ascii=False) for d in decisions], index=raw.index,
                     dtype=object)


def validate_safety_events(
    raw: pd.DataFrame, *, first_row: int, devices: Mapping[str, DeviceConfig], now: datetime,
    hash_patient: PatientHasher | None = None, device_id: str | None = None,
) -> ValidatedChunk:
    """Validate a chunk of raw safety-event rows (the conventions of :func:`monitor.domain.logs.validate_predictions`).

    ``device_id``: the device the file is for (``--device``): it fills an empty ``device_id``, and a row naming
    another device is rejected. ``hash_patient`` is required only by rows with ``patient_id`` or
    ``accession_number`` (kept only as their keyed hash).
    """
    raw = raw.reset_index(drop=True)
    problems = _Problems(len(raw))
    ids = _text(raw, "event_id")
    device_ids = _text(raw, "device_id")
    if device_id is not None:
        problems.add((device_ids.notna() & (device_ids != device_id)).to_numpy(), "other_device",
                     "device_id is not the device the file is ingested for (--device)")
        device_ids = device_ids.fillna(device_id)
    for column, values in (("event_id", ids), ("device_id", device_ids), ("site_id", _text(raw, "site_id"))):
        _require(problems, values, column)
        _check_length(problems, values, column, MAX_ID_LENGTH if column == "event_id" else MAX_TEXT_LENGTH)
    _device_checks(problems, device_ids, devices)
    received_at = _timestamps(problems, _text(raw, "received_at"), "received_at", now=now, required=True)
    occurred_at = _timestamps(problems, _text(raw, "occurred_at"), "occurred_at", now=now, required=False)
    problems.add((occurred_at.notna() & received_at.notna() & (occurred_at > received_at)).to_numpy(),
                 "occurred_after_awareness", "occurred_at is after received_at (the awareness date)")
    kind, seriousness = _text(raw, "kind"), _text(raw, "seriousness")
    for column, values, allowed in (("kind", kind, EVENT_KINDS), ("seriousness", seriousness, SERIOUSNESS)):
        _require(problems, values, column)
        _one_of(problems, values, column, allowed)
    codes = _codes(problems, raw, kind)
    model_version = _text(raw, "model_version")
    _check_length(problems, model_version, "model_version", MAX_TEXT_LENGTH)
    description = _text(raw, "description")
    _require(problems, description, "description")
    _check_length(problems, description, "description", MAX_DESCRIPTION_LENGTH)
    decisions = _decisions(problems, raw, seriousness, received_at, now)
    attributes = _attributes(raw, device_ids, devices, problems)
    patient, accession = _text(raw, "patient_id"), _text(raw, "accession_number")
    for column, values in (("patient_id", patient), ("accession_number", accession)):
        _check_length(problems, values, column, MAX_ID_LENGTH)
    if (patient.notna().any() or accession.notna().any()) and hash_patient is None:
        raise InputError("safety events with patient_id or accession_number need the patient-identifier key "
                         "(MONITOR_PATIENT_ID_KEY): identifiers are kept only as their keyed hash")
    description = _without_own_identifiers(description, patient, accession)
    none = pd.Series([None] * len(raw), index=raw.index, dtype=object)
    patient_hash = _pseudonymise(patient, hash_patient) if hash_patient is not None else none
    accession_hash = _pseudonymise(accession, hash_patient) if hash_patient is not None else none
    rejections: list[Rejection] = _rejections(
        keep_known(raw, safety_stored_columns(devices)), problems, first_row, ids,
        {"patient_id": patient_hash, "accession_number": accession_hash})

    keep = ~problems.bad()
    accepted = pd.DataFrame({
        "row_number": np.arange(first_row, first_row + len(raw))[keep],
        "device_id": device_ids[keep].to_numpy(),
        "event_id": ids[keep].to_numpy(),
        "site_id": _text(raw, "site_id")[keep].to_numpy(),
        "received_at": received_at[keep].array,
        "occurred_at": occurred_at[keep].array,
        "kind": kind[keep].to_numpy(),
        "seriousness": seriousness[keep].to_numpy(),
        "imdrf_codes": codes[keep].to_numpy(),
        "model_version": model_version[keep].to_numpy(),
        "patient_hash": patient_hash[keep].to_numpy(),
        "accession_hash": accession_hash[keep].to_numpy(),
        "attributes": attributes[keep].to_numpy(),
        "description": description[keep].to_numpy(),
        "decisions": decisions[keep].to_numpy(),
    })
    for column in ("received_at", "occurred_at"):
        accepted[column] = pd.to_datetime(accepted[column], utc=True)
    accepted["row_hash"] = safety_row_hashes(accepted)
    return ValidatedChunk(accepted=accepted, rejections=rejections)


def _without_own_identifiers(description: pd.Series, *identifiers: pd.Series) -> pd.Series:
    """The description with the row's own patient id and accession number (4 characters or more) replaced by
    ``[identifier]``: identifiers are kept only as their keyed hash, also when typed into the free text."""
    texts = description.tolist()
    for values in identifiers:
        for i, (text, value) in enumerate(zip(texts, values, strict=True)):
            if text is not None and value is not None and len(value) >= 4 and value in text:
                texts[i] = text.replace(value, "[identifier]")
    return pd.Series(texts, index=description.index, dtype=object)


def safety_row_hashes(frame: pd.DataFrame) -> list[str]:
    """Row hashes of accepted safety-event rows (every stored field; identifiers as their keyed hash)."""
    if frame.empty:
        return []
    return _row_hashes(frame["device_id"], frame["event_id"], frame["site_id"], _iso_text(frame["received_at"]),
                       _iso_text(frame["occurred_at"]), frame["kind"], frame["seriousness"], frame["imdrf_codes"],
                       frame["model_version"], frame["patient_hash"], frame["accession_hash"], frame["attributes"],
                       frame["description"], frame["decisions"])
