"""HL7 FHIR R4 Bundles as prediction or ground-truth logs (mapping in ``docs/fhir-mapping.md``).

A prediction is an AI-result Observation (it names a ``device``, or a DiagnosticReport
performed by a Device lists it in ``result``); ground truth is a DiagnosticReport,
Observation or Condition linked to the AI Observation or to the imaging study. References
are resolved inside the Bundle (``fullUrl``, relative ``Type/id``, ``#contained``); a
reference carrying only an ``identifier`` is used as a logical key. Each resource the
mapping reads is validated against the ``fhir.resources`` R4B model first.

Every entry ends as exactly one of: a row (numbered by its 1-based position in
``Bundle.entry``), a resource used by a row (Patient, Device, ImagingStudy, ...), or a
rejection with its position, ``Type/id`` and reason. A document that is not JSON or not a
Bundle is one rejection with row number 0.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pandas as pd
from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from monitor.adapters.formats.codes import binary_code
from monitor.adapters.formats.records import (
    DEFAULT_CHUNK_ROWS,
    MAX_FIELDS,
    ColumnUnion,
    RequestBudget,
    frames,
    text_value,
)
from monitor.domain.logs import Rejection

__all__ = ["DEVICE_ID_SYSTEM", "EXTENSION_URL", "GROUND_TRUTH_SOURCE_SYSTEM", "FhirBundleLog"]

EXTENSION_URL = "https://samd-monitor.example/fhir/StructureDefinition/stratification-attribute"
DEVICE_ID_SYSTEM = "https://samd-monitor.example/fhir/NamingSystem/device-id"
GROUND_TRUTH_SOURCE_SYSTEM = "https://samd-monitor.example/fhir/CodeSystem/ground-truth-source"
DICOM_UID_SYSTEM = "urn:dicom:uid"
_V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"
_OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
_UCUM = "http://unitsofmeasure.org"

PREDICTION_COLUMNS = ("prediction_id", "device_id", "model_version", "site_id", "predicted_at", "score",
                      "predicted_label", "patient_id", "age", "sex", "study_uid", "accession_number", "result_status",
                      "failure_reason", "ai_volume_mm3")
GROUND_TRUTH_COLUMNS = ("prediction_id", "study_uid", "accession_number", "device_id", "label", "confirmed_at",
                        "source", "correction_reason")
# Fields that only FHIR elements may fill (an extension naming one is refused).
_CORE = frozenset({"prediction_id", "device_id", "model_version", "predicted_at", "score", "predicted_label",
                   "patient_id", "label", "confirmed_at", "source", "study_uid", "accession_number"})
_CONTEXT_TYPES = frozenset({"Patient", "Device", "ImagingStudy", "Location", "Organization", "Practitioner",
                            "PractitionerRole", "ServiceRequest", "Specimen", "Encounter", "Provenance", "Media"})
_VALIDATED = frozenset({"Observation", "DiagnosticReport", "Condition", "Patient", "Device", "ImagingStudy",
                        "Location"})
_FINAL = frozenset({"final", "amended", "corrected", "appended"})
_PATHOLOGY = frozenset({"PAT", "SP", "CP", "OSL"})
_IMAGING = frozenset({"RAD", "CT", "RX", "NMR", "NMS", "VUS", "CUS"})
_SEX = {"male": "M", "female": "F", "other": "O"}
_VOLUME_FACTORS = {"mm3": Decimal(1), "cm3": Decimal(1000), "mL": Decimal(1000)}


class _Unmappable(Exception):
    """A resource that cannot become a row: code and reason."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass
class _Entry:
    number: int
    full_url: str | None
    resource: dict[str, Any]
    used: bool = False

    @property
    def key(self) -> str:
        return f"{self.resource.get('resourceType')}/{self.resource.get('id')}"


def _key(resource: dict[str, Any]) -> str:
    rid = resource.get("id")
    return f"{resource.get('resourceType')}/{rid}" if rid else str(resource.get("resourceType"))


def _type_id(literal: str) -> str:
    """``Type/id`` of a relative or absolute literal reference (a ``_history`` suffix dropped)."""
    parts = literal.split("/_history/")[0].rstrip("/").split("/")
    return "/".join(parts[-2:])


def _codings(concept: Any) -> list[dict[str, Any]]:
    return [c for c in (concept or {}).get("coding", []) if isinstance(c, dict)] if isinstance(concept, dict) else []


def _label_of(concepts: list[Any], where: str) -> int | None:
    """0/1 from the first recognised coding of ``concepts``; a coded value with no known code is refused."""
    codings = [c for concept in concepts for c in _codings(concept)]
    for coding in codings:
        value = binary_code(coding.get("system"), coding.get("code"))
        if value is not None:
            return value
    if codings:
        shown = ", ".join(f"{c.get('system')}|{c.get('code')}" for c in codings[:3])
        raise _Unmappable("unmapped_code", f"{where} ({shown}) is not a recognised positive or negative code "
                                           "(see docs/fhir-mapping.md)")
    return None


def _identifier(resource: dict[str, Any], system: str | None = None) -> str | None:
    for ident in resource.get("identifier") or []:
        if isinstance(ident, dict) and ident.get("value") and (system is None or ident.get("system") == system):
            return str(ident["value"])
    return None


def _uid(value: str | None) -> str | None:
    return value[len("urn:oid:"):] if value and value.startswith("urn:oid:") else value


def _time_text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _age(birth: Any, at: str | None) -> str | None:
    """Completed years between a full birth date and the date of an ISO timestamp (its own offset)."""
    if not isinstance(birth, str) or len(birth) != 10 or not at:
        return None
    try:
        born = date.fromisoformat(birth)
        when = datetime.fromisoformat(at).date()
    except ValueError:
        return None
    years = when.year - born.year - ((when.month, when.day) < (born.month, born.day))
    return str(years) if years >= 0 else None


class _Bundle:
    """The entries of one Bundle, indexed for reference resolution."""

    def __init__(self, entries: list[_Entry]) -> None:
        self.entries = entries
        self.by_url = {e.full_url: e for e in entries if e.full_url}
        self.by_key = {e.key: e for e in entries if e.resource.get("id")}

    def resolve(self, ref: Any, owner: dict[str, Any], field: str) -> dict[str, Any] | None:
        """The resource a literal reference points to (marked used); ``None`` when there is no literal."""
        literal = ref.get("reference") if isinstance(ref, dict) else None
        if not isinstance(literal, str) or not literal:
            return None
        if literal.startswith("#"):
            for contained in owner.get("contained") or []:
                if isinstance(contained, dict) and contained.get("id") == literal[1:]:
                    return contained
        else:
            entry = self.by_url.get(literal) or self.by_key.get(_type_id(literal))
            if entry is not None:
                entry.used = True
                return entry.resource
        raise _Unmappable("dangling_reference",
                          f"{_key(owner)}: {field} references {literal}, which is not in the Bundle")

    def refs(self, resource: dict[str, Any], *fields: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """``(field, reference)`` for the references in ``fields`` (lists flattened)."""
        for name in fields:
            value = resource.get(name)
            for ref in value if isinstance(value, list) else [value]:
                if isinstance(ref, dict):
                    yield name, ref


class FhirBundleLog:
    """A log source over one FHIR R4 Bundle (JSON), mapped to ``kind`` rows (``predictions`` or ``ground_truth``).

    ``device_id`` is the caller's context: the registered device that ground-truth resources
    (or an AI Device without a samd-monitor device-id identifier) refer to. Columns from extensions share
    the limits of every record-shaped source (``records.MAX_FIELDS`` per row, ``records.MAX_COLUMNS`` in
    all); with a ``budget``, every entry and every row's fields are charged to it.
    """

    format = "fhir"

    def __init__(self, source: Path | bytes, *, kind: str, device_id: str | None = None,
                 name: str | None = None, budget: RequestBudget | None = None) -> None:
        if kind not in ("predictions", "ground_truth"):
            raise ValueError(f"kind must be predictions or ground_truth, not {kind!r}")
        data = source.read_bytes() if isinstance(source, Path) else bytes(source)
        self.kind = kind
        self.name = name or (str(source) if isinstance(source, Path) else "fhir")
        self.sha256 = hashlib.sha256(data).hexdigest()
        self._device_id = device_id
        self._rows: list[tuple[int, dict[str, str | None]]] = []
        self._rejections: list[Rejection] = []
        self._budget = budget
        union = ColumnUnion(PREDICTION_COLUMNS if kind == "predictions" else GROUND_TRUTH_COLUMNS)
        bundle = self._read(data)
        if bundle is not None:
            self._map(bundle)
            rows, self._rows = self._rows, []
            for number, row in rows:
                if budget is not None:
                    budget.charge(len(row) - 1, records=0)  # (the entry itself was charged when read)
                record_id = row.get("prediction_id")
                rejection = union.add(row, number, unit="entry", record_id=record_id)
                if rejection is None:
                    self._rows.append((number, row))
                else:
                    self._rejections.append(rejection)
        self.columns: tuple[str, ...] = union.columns

    # reading -----------------------------------------------------------------------------------
    def _reject(self, number: int, record_id: str | None, code: str, reason: str) -> None:
        self._rejections.append(Rejection(number, record_id, code, reason, {}))

    def _read(self, data: bytes) -> _Bundle | None:
        if self._budget is not None:
            self._budget.admit_document(data)  # parsed whole: bounded before parsing
        try:
            document = json.loads(data.decode("utf-8-sig"), parse_float=Decimal)
        except UnicodeDecodeError as exc:
            self._reject(0, None, "invalid_encoding", f"the document is not UTF-8 text (byte {exc.start + 1})")
            return None
        except (json.JSONDecodeError, RecursionError) as exc:
            where = f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
            self._reject(0, None, "invalid_json", f"the document is not valid JSON: {exc}{where}")
            return None
        if not isinstance(document, dict) or document.get("resourceType") != "Bundle":
            what = _key(document) if isinstance(document, dict) and document.get("resourceType") else \
                type(document).__name__
            self._reject(0, what if isinstance(document, dict) else None, "not_a_bundle",
                         f"the document is {what}, not a FHIR Bundle (wrap resources in a Bundle)")
            return None
        entries = []
        raw_entries = document.get("entry") or []
        if not isinstance(raw_entries, list):
            self._reject(0, _key(document), "invalid_bundle", "Bundle.entry is not a list")
            return None
        if self._budget is not None:
            self._budget.charge(len(raw_entries), records=len(raw_entries))
        for number, entry in enumerate(raw_entries, start=1):
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
                self._reject(number, None, "invalid_entry", f"entry {number} holds no resource with a resourceType")
                continue
            full_url = entry.get("fullUrl") if isinstance(entry.get("fullUrl"), str) else None
            entries.append(_Entry(number, full_url, resource))
        return _Bundle(entries)

    def _valid(self, entry: _Entry) -> bool:
        kind = entry.resource["resourceType"]
        if kind not in _VALIDATED:
            return True
        try:
            get_fhir_model_class(kind).model_validate(entry.resource)
        except (ValidationError, ValueError, TypeError) as exc:
            errors = exc.errors() if isinstance(exc, ValidationError) else []
            detail = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors[:3]) or str(exc)
            self._reject(entry.number, _key(entry.resource), "invalid_resource",
                         f"{_key(entry.resource)} is not a valid FHIR R4 {kind}: {detail}"[:1000])
            return False
        return True

    # mapping -----------------------------------------------------------------------------------
    def _map(self, bundle: _Bundle) -> None:
        valid = [e for e in bundle.entries if self._valid(e)]
        invalid = {e.number for e in bundle.entries} - {e.number for e in valid}
        bundle.entries = valid
        wrappers = self._wrappers(bundle)
        ai = {id(e.resource) for e in valid if e.resource["resourceType"] == "Observation"
              and (e.resource.get("device") or id(e.resource) in wrappers)}
        candidates = [e for e in valid if self._is_candidate(e.resource, ai)]
        members = set()
        if self.kind == "ground_truth":  # results of a ground-truth report are part of it, not rows of their own
            for entry in candidates:
                if entry.resource["resourceType"] == "DiagnosticReport":
                    members |= {e.number for _, ref in bundle.refs(entry.resource, "result")
                                if (e := _target(bundle, ref)) is not None}
        for entry in candidates:
            if entry.number in members:
                continue
            entry.used = True
            _touch(bundle, entry.resource)
            if id(entry.resource) in wrappers:
                _touch(bundle, wrappers[id(entry.resource)])
                for wrapper in valid:
                    wrapper.used = wrapper.used or wrapper.resource is wrappers[id(entry.resource)]
            try:
                if self.kind == "predictions":
                    row = self._prediction(bundle, entry.resource, ai, wrappers.get(id(entry.resource)))
                else:
                    row = self._ground_truth(bundle, entry.resource, ai)
                row = self._limited(row, _key(entry.resource))
            except _Unmappable as exc:
                self._reject(entry.number, _key(entry.resource), exc.code, exc.reason)
                continue
            self._rows.append((entry.number, row))
        self._reject_unused([e for e in valid if not (e.used or e.number in members or e.number in invalid)], ai)
        self._rows.sort(key=lambda item: item[0])

    def _is_candidate(self, resource: dict[str, Any], ai: set[int]) -> bool:
        """Whether ``resource`` is meant to become a row of this log's kind."""
        kind = resource["resourceType"]
        if self.kind == "predictions":
            return bool(kind == "Observation")
        return kind in ("DiagnosticReport", "Condition") or (kind == "Observation" and id(resource) not in ai)

    def _reject_unused(self, unused: list[_Entry], ai: set[int]) -> None:
        """Reject the entries that are neither rows nor used by a row, each with the reason."""
        for entry in unused:
            kind = entry.resource["resourceType"]
            if self.kind == "predictions" and kind == "DiagnosticReport":
                self._reject(entry.number, _key(entry.resource), "unused_resource",
                             f"{_key(entry.resource)} lists no AI-result Observation of this Bundle in result")
            elif self.kind == "ground_truth" and id(entry.resource) in ai:
                self._reject(entry.number, _key(entry.resource), "not_ground_truth",
                             f"{_key(entry.resource)} is an AI result (it names a device) that no ground-truth "
                             "resource refers to; ingest it as predictions")
            elif kind in _CONTEXT_TYPES:
                self._reject(entry.number, _key(entry.resource), "unused_resource",
                             f"{_key(entry.resource)} is referenced by no "
                             f"{'AI result' if self.kind == 'predictions' else 'ground-truth resource'} "
                             "of this Bundle")
            else:
                expected = "Observation (an AI result)" if self.kind == "predictions" else \
                    "DiagnosticReport, Observation or Condition"
                self._reject(entry.number, _key(entry.resource), "unrelated_resource",
                             f"{_key(entry.resource)}: resource type {kind} does not map to a "
                             f"{'prediction' if self.kind == 'predictions' else 'ground-truth'} row "
                             f"(expected {expected})")

    def _wrappers(self, bundle: _Bundle) -> dict[int, dict[str, Any]]:
        """Observations listed in a DiagnosticReport's ``result`` (prediction logs), with that report.

        Such an Observation is an AI result when the report's performer is a Device (checked by the mapping).
        """
        wrapped: dict[int, dict[str, Any]] = {}
        for entry in bundle.entries:
            report = entry.resource
            if report["resourceType"] != "DiagnosticReport" or self.kind != "predictions":
                continue
            for _, ref in bundle.refs(report, "result"):
                target = _target(bundle, ref)
                if target is not None:
                    wrapped[id(target.resource)] = report
        return wrapped

    def _prediction(self, bundle: _Bundle, obs: dict[str, Any], ai: set[int],
                    report: dict[str, Any] | None) -> dict[str, str | None]:
        where = _key(obs)
        if obs.get("status") == "entered-in-error":
            raise _Unmappable("entered_in_error", f"{where} has status entered-in-error")
        device_ref = obs.get("device")
        owner = obs
        if device_ref is None and report is not None:
            device_ref = next((ref for _, ref in bundle.refs(report, "performer")
                               if _points_to(bundle, ref, report, "Device")), None)
            owner = report
        if id(obs) not in ai or device_ref is None:
            raise _Unmappable("not_an_ai_result", f"{where} names no device (Observation.device, or a "
                                                  "DiagnosticReport performed by a Device): not an AI result")
        device = bundle.resolve(device_ref, owner, "device")
        subject_ref = obs.get("subject") or (report or {}).get("subject")
        patient = bundle.resolve(subject_ref, obs if obs.get("subject") else report or obs, "subject")
        study = self._study(bundle, obs, report)
        predicted_at = _time_text(obs.get("effectiveDateTime") or obs.get("effectiveInstant") or obs.get("issued")
                                  or (report or {}).get("effectiveDateTime") or (report or {}).get("issued"))
        row: dict[str, str | None] = {
            "prediction_id": _identifier(obs) or obs.get("id"),
            "device_id": self._device_id_of(device, device_ref),
            "model_version": _version(device),
            "site_id": self._site(bundle, study),
            "predicted_at": predicted_at,
            "patient_id": _patient_id(patient, subject_ref),
            "age": _age((patient or {}).get("birthDate"), predicted_at),
            "sex": _SEX.get(str((patient or {}).get("gender"))),
            "study_uid": _study_uid(study[0] if study else None, study[1] if study else None),
            "accession_number": _accession(study[0] if study else None, study[1] if study else None),
        }
        row.update(_result(obs, where))
        for source in (obs, study[0] if study else None, report):
            _merge_extensions(row, source)
        return row

    @staticmethod
    def _limited(row: dict[str, str | None], where: str) -> dict[str, str | None]:
        if len(row) > MAX_FIELDS:
            raise _Unmappable("too_many_fields", f"{where} maps to {len(row)} fields with its extensions "
                                                 f"(at most {MAX_FIELDS})")
        return row

    def _study(self, bundle: _Bundle, obs: dict[str, Any], report: dict[str, Any] | None
               ) -> tuple[dict[str, Any] | None, dict[str, Any]] | None:
        """(ImagingStudy or None when only logically referenced, its reference) of an Observation or its report."""
        for owner, fields in ((obs, ("derivedFrom", "partOf")), (report or {}, ("imagingStudy",))):
            for field, ref in bundle.refs(owner, *fields):
                if _points_to(bundle, ref, owner, "ImagingStudy"):
                    return bundle.resolve(ref, owner, field), ref
        return None

    def _site(self, bundle: _Bundle, study: tuple[dict[str, Any] | None, dict[str, Any]] | None) -> str | None:
        resource = study[0] if study else None
        for _, ref in bundle.refs(resource or {}, "location"):
            location = bundle.resolve(ref, resource or {}, "location")
            if location is not None:
                return _identifier(location) or location.get("id")
            if isinstance(ref.get("identifier"), dict):
                return ref["identifier"].get("value")
        return None

    def _device_id_of(self, device: dict[str, Any] | None, ref: dict[str, Any] | None) -> str | None:
        logical = (ref or {}).get("identifier") if isinstance((ref or {}).get("identifier"), dict) else {}
        if device is not None and _identifier(device, DEVICE_ID_SYSTEM):
            return _identifier(device, DEVICE_ID_SYSTEM)
        if logical.get("system") == DEVICE_ID_SYSTEM and logical.get("value"):
            return str(logical["value"])
        return self._device_id or (_identifier(device) if device else None) or logical.get("value")

    def _ground_truth(self, bundle: _Bundle, resource: dict[str, Any], ai: set[int]) -> dict[str, str | None]:
        where = _key(resource)
        kind = resource["resourceType"]
        if kind != "Condition" and resource.get("status") not in _FINAL:
            raise _Unmappable("not_final", f"{where} has status {resource.get('status')!r}; ground truth must be "
                                           f"final ({', '.join(sorted(_FINAL))})")
        fields = {"DiagnosticReport": ("basedOn", "imagingStudy"), "Observation": ("basedOn", "derivedFrom", "partOf",
                                                                                  "focus"),
                  "Condition": ()}[kind]
        refs = list(bundle.refs(resource, *fields))
        for evidence in (resource.get("evidence") or []) if kind == "Condition" else []:
            details = evidence.get("detail") if isinstance(evidence, dict) else None
            refs += [("evidence.detail", ref) for ref in details or [] if isinstance(ref, dict)]
        prediction_id = study_uid = accession = device_id = None
        for field, ref in refs:
            target = bundle.resolve(ref, resource, field)
            logical = ref.get("identifier") if isinstance(ref.get("identifier"), dict) else {}
            if target is not None and id(target) in ai:
                prediction_id = prediction_id or _identifier(target) or target.get("id")
                device_ref = target.get("device")
                device = bundle.resolve(device_ref, target, "device")
                device_id = device_id or self._device_id_of(device, device_ref)
            elif target is not None and target.get("resourceType") == "ImagingStudy":
                study_uid = study_uid or _study_uid(target, ref)
                accession = accession or _accession(target, ref)
            elif target is None and logical.get("value"):
                if ref.get("type") == "Observation":
                    prediction_id = prediction_id or str(logical["value"])
                elif _is_accession(logical):
                    accession = accession or str(logical["value"])
                elif logical.get("system") == DICOM_UID_SYSTEM or ref.get("type") == "ImagingStudy":
                    study_uid = study_uid or _study_uid(None, ref)
        if prediction_id is None and study_uid is None and accession is None:
            raise _Unmappable("unlinked", f"{where} refers neither to an AI result (an Observation naming a device) "
                                          "nor to an imaging study with a Study Instance UID or an accession number")
        if prediction_id is not None or study_uid is not None:
            accession = None  # the most specific link wins: one row names its case once
        status = resource.get("status")
        return {
            "prediction_id": prediction_id,
            "study_uid": study_uid,
            "accession_number": accession,
            "device_id": device_id or self._device_id,
            "label": _text(_ground_truth_label(resource, where)),
            "confirmed_at": _time_text(resource.get("issued") or resource.get("effectiveDateTime")
                                       or resource.get("recordedDate")),
            "source": _source(resource),
            "correction_reason": f"FHIR {kind} status {status}" if status in ("amended", "corrected") else None,
        }

    # log source ------------------------------------------------------------------------------
    def chunks(self, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[tuple[int, pd.DataFrame]]:
        """Yield ``(first_row, frame_of_text)`` chunks; row numbers are positions in ``Bundle.entry``."""
        yield from frames(iter(self._rows), self.columns, chunk_rows)

    def rejections(self) -> list[Rejection]:
        """Entries (or the document) that could not become a row."""
        return sorted(self._rejections, key=lambda r: r.row_number)

    def count_rows(self) -> int:
        """Number of entries that became rows."""
        return len(self._rows)


def _target(bundle: _Bundle, ref: dict[str, Any]) -> _Entry | None:
    literal = ref.get("reference")
    if not isinstance(literal, str) or literal.startswith("#"):
        return None
    return bundle.by_url.get(literal) or bundle.by_key.get(_type_id(literal))


def _points_to(bundle: _Bundle, ref: dict[str, Any], owner: dict[str, Any], kind: str) -> bool:
    """Whether ``ref`` designates a resource of type ``kind`` (by its target, its literal, or its ``type``)."""
    literal = ref.get("reference")
    target = _target(bundle, ref)
    if target is not None:
        return bool(target.resource["resourceType"] == kind)
    if isinstance(literal, str) and literal.startswith("#"):
        return any(isinstance(c, dict) and c.get("id") == literal[1:] and c.get("resourceType") == kind
                   for c in owner.get("contained") or [])
    if isinstance(literal, str) and "/" in literal and not literal.startswith("urn:"):
        return _type_id(literal).split("/")[0] == kind
    logical = ref.get("identifier") if isinstance(ref.get("identifier"), dict) else {}
    return ref.get("type") == kind or (kind == "ImagingStudy" and logical.get("system") == DICOM_UID_SYSTEM)


def _touch(bundle: _Bundle, value: Any) -> None:
    """Mark every entry that ``value`` (a resource, recursively) references literally as used."""
    if isinstance(value, dict):
        literal = value.get("reference")
        if isinstance(literal, str):
            target = _target(bundle, value)
            if target is not None and not target.used:
                target.used = True
                _touch(bundle, target.resource)
        for item in value.values():
            if isinstance(item, (dict, list)):
                _touch(bundle, item)
    elif isinstance(value, list):
        for item in value:
            _touch(bundle, item)


def _number(value: Decimal) -> str:
    """Plain decimal text without exponent or trailing zeros."""
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"


def _version(device: dict[str, Any] | None) -> str | None:
    for version in (device or {}).get("version") or []:
        if isinstance(version, dict) and version.get("value"):
            return str(version["value"])
    return None


def _patient_id(patient: dict[str, Any] | None, ref: Any) -> str | None:
    if patient is not None:
        return _identifier(patient) or patient.get("id")
    logical = ref.get("identifier") if isinstance(ref, dict) else None
    return str(logical["value"]) if isinstance(logical, dict) and logical.get("value") else None


def _study_uid(study: dict[str, Any] | None, ref: dict[str, Any] | None) -> str | None:
    if study is not None:
        return _uid(_identifier(study, DICOM_UID_SYSTEM))
    logical = (ref or {}).get("identifier")
    return _uid(str(logical["value"])) if isinstance(logical, dict) and logical.get("value") else None


def _is_accession(identifier: dict[str, Any]) -> bool:
    """An Identifier typed as an accession number (HL7 v2-0203 ``ACSN``)."""
    concept = identifier.get("type")
    return any(c.get("code") == "ACSN" for c in _codings(concept)) if isinstance(concept, dict) else False


def _accession(study: dict[str, Any] | None, ref: dict[str, Any] | None) -> str | None:
    """The accession number of an ImagingStudy (its identifier typed ``ACSN``), or of a logical reference."""
    for ident in (study or {}).get("identifier") or []:
        if isinstance(ident, dict) and ident.get("value") and _is_accession(ident):
            return str(ident["value"])
    logical = (ref or {}).get("identifier")
    return str(logical["value"]) if isinstance(logical, dict) and logical.get("value") and _is_accession(logical) \
        else None


def _text(value: int | None) -> str | None:
    return None if value is None else str(value)


def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)) if value is not None and not isinstance(value, bool) else None
    except InvalidOperation:
        return None


def _result(obs: dict[str, Any], where: str) -> dict[str, str | None]:
    """score, predicted_label, result_status, failure_reason and ai_volume_mm3 of an AI Observation."""
    absent = obs.get("dataAbsentReason")
    quantity = obs.get("valueQuantity") if isinstance(obs.get("valueQuantity"), dict) else None
    row: dict[str, str | None] = {"result_status": "ok", "failure_reason": None}
    if absent and quantity is None and "valueCodeableConcept" not in obs:
        code = next((c.get("code") for c in _codings(absent) if c.get("code")), None)
        row.update(result_status="failed" if code == "error" else "no_result", failure_reason=code)
    score = _decimal((quantity or {}).get("value"))
    if score is not None and "%" in ((quantity or {}).get("code"), (quantity or {}).get("unit")):
        score = score / 100
    row["score"] = None if score is None else _number(score)
    concepts = list(obs.get("interpretation") or [])
    if not concepts and isinstance(obs.get("valueCodeableConcept"), dict):
        concepts = [obs["valueCodeableConcept"]]
    row["predicted_label"] = _text(_label_of(concepts, f"{where}: interpretation"))
    for component in obs.get("component") or []:
        volume = component.get("valueQuantity") if isinstance(component, dict) else None
        factor = _VOLUME_FACTORS.get(str((volume or {}).get("code"))) if (volume or {}).get("system") == _UCUM \
            else None
        value = _decimal((volume or {}).get("value"))
        if factor is not None and value is not None:
            row["ai_volume_mm3"] = _number(value * factor)
            break
    return row


def _ground_truth_label(resource: dict[str, Any], where: str) -> int | None:
    kind = resource["resourceType"]
    if kind == "DiagnosticReport":
        return _label_of(list(resource.get("conclusionCode") or []), f"{where}: conclusionCode")
    if kind == "Condition":
        status = next((c.get("code") for c in _codings(resource.get("verificationStatus"))), None)
        if status in ("confirmed", "refuted"):
            return 1 if status == "confirmed" else 0
        if status is not None:
            raise _Unmappable("unmapped_code", f"{where}: verificationStatus {status!r} is neither confirmed "
                                               "nor refuted")
        return None
    if isinstance(resource.get("valueBoolean"), bool):
        return int(resource["valueBoolean"])
    concepts = [resource["valueCodeableConcept"]] if isinstance(resource.get("valueCodeableConcept"), dict) else \
        list(resource.get("interpretation") or [])
    return _label_of(concepts, f"{where}: value")


def _source(resource: dict[str, Any]) -> str:
    """The reference-standard source from the resource's category (``other`` when none is recognised)."""
    if resource["resourceType"] == "Condition":
        return "clinical_diagnosis"
    codings = [c for concept in resource.get("category") or [] for c in _codings(concept)]
    for coding in codings:
        if coding.get("system") == GROUND_TRUTH_SOURCE_SYSTEM and coding.get("code"):
            return str(coding["code"])
    for coding in codings:
        if coding.get("system") == _V2_0074 and coding.get("code") in _PATHOLOGY:
            return "histopathology"
        if (coding.get("system") == _V2_0074 and coding.get("code") in _IMAGING) or \
                (coding.get("system") == _OBSERVATION_CATEGORY and coding.get("code") == "imaging"):
            return "follow_up"
    return "other"


def _merge_extensions(row: dict[str, str | None], resource: dict[str, Any] | None) -> None:
    """Columns from the stratification-attribute extension, where the elements left them empty."""
    for extension in (resource or {}).get("extension") or []:
        if not isinstance(extension, dict) or extension.get("url") != EXTENSION_URL:
            continue
        parts = {p.get("url"): p for p in extension.get("extension") or [] if isinstance(p, dict)}
        name_part = parts.get("name", {})
        name = name_part.get("valueString") or name_part.get("valueCode")
        value_part = parts.get("value", {})
        values = [v for k, v in value_part.items() if k.startswith("value")]
        if not isinstance(name, str) or not name.strip() or len(values) != 1:
            raise _Unmappable("invalid_extension", f"{_key(resource or {})}: extension {EXTENSION_URL} needs one "
                                                   "name (valueString) and one value[x]")
        column = name.strip().lower()
        if column in _CORE:
            raise _Unmappable("invalid_extension", f"{_key(resource or {})}: extension names {column!r}, which "
                                                   "comes from a FHIR element (see docs/fhir-mapping.md)")
        kind, value = next((k, v) for k, v in value_part.items() if k.startswith("value"))
        if isinstance(value, dict):
            value = value.get("code") if kind == "valueCoding" else value.get("value")
        try:
            text = text_value(float(value) if isinstance(value, Decimal) else value)
        except ValueError as exc:
            raise _Unmappable("invalid_extension", f"{_key(resource or {})}: extension {column!r} {exc}") from exc
        if row.get(column) is None:
            row[column] = text
