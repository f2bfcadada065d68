"""DICOM Structured Reports (TID 1500 "Imaging Measurement Report") as prediction logs.

Mapping in ``docs/dicom-sr-mapping.md``. Each Measurement Group (DCM 125007) of an SR is one
prediction row: its Tracking Unique Identifier is the prediction id, its Algorithm
Identification (TID 4019) names the model version, a dimensionless numeric measurement is the
score and a positive/negative qualitative evaluation the call; the SR header gives the
patient, study and site. The content tree is read with pydicom (``highdicom`` writes the test
reports); a folder may also hold the CT images the SR refers to, whose headers give the
scanner's manufacturer and model.

Row numbers count the units read, in path order: every measurement group, and every file
that is rejected (not DICOM, not an SR, not a TID 1500 report, no measurement group).

Hostile files end as one rejection each, in bounded memory and time: a file is counted for its
sequence items (item tags) while it is hashed and refused above :data:`MAX_SEQUENCE_ITEMS` before
it is parsed; a deflated data set (a decompression bomb) is not inflated; a truncated file, a
content tree nested deeper than :data:`MAX_CONTENT_DEPTH` and any element pydicom cannot decode are
rejections. Reasons name the file and the problem, never a value read from the file (DICOM values
may hold patient data).
"""

from __future__ import annotations

import hashlib
import io
import logging
import os

import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pandas as pd
import pydicom
from pydicom.errors import BytesLengthException, InvalidDicomError
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian

from monitor.adapters.formats.codes import binary_code
from monitor.adapters.formats.records import DEFAULT_CHUNK_ROWS, frames
from monitor.domain.logs import Rejection

__all__ = ["LESION_COLUMNS", "MAX_CONTENT_DEPTH", "MAX_SEQUENCE_ITEMS", "DicomSrLesions", "DicomSrLog", "normalise_vendor"]

#: Sequence items (item tags, counted in the bytes before parsing) a file may hold. A TID 1500 report
#: has about 45 per measurement group, so this admits some 400 groups; parsed, an item costs about
#: 2 KB, so the limit bounds a file's parsed tree to some 40 MB and its reading to a few seconds.
MAX_SEQUENCE_ITEMS = 20_000
#: Nesting levels of the SR content tree that are read (TID 1500 needs about 6).
MAX_CONTENT_DEPTH = 32
#: Files up to this size are read from the bytes kept while hashing (one read of the file).
_IN_MEMORY_BYTES = 64 << 20
_ITEM_TAGS = (b"\xfe\xff\x00\xe0", b"\xff\xfe\xe0\x00")  # (FFFE,E000), little and big endian
# What pydicom may raise on a malformed element, when the file is read or a value decoded.
# (RuntimeError covers RecursionError and NotImplementedError.)
_DECODE_ERRORS = (EOFError, OSError, ValueError, TypeError, AttributeError, LookupError, OverflowError,
                  RuntimeError, BytesLengthException, struct.error)
#: Modalities named in a reason (defined terms of PS3.3 C.7.3.1.1.1); any other value is not quoted.
_MODALITIES = frozenset({"CT", "MR", "PT", "NM", "US", "CR", "DX", "MG", "XA", "RF", "OT", "SR", "SEG", "KO", "PR",
                         "SC", "RTSTRUCT", "RTPLAN", "RTDOSE", "RTIMAGE", "DOC", "ECG", "IO", "PX", "OP", "OPT", "XC",
                         "SM", "ES", "REG", "PLAN"})

COLUMNS = ("prediction_id", "device_id", "model_version", "site_id", "predicted_at", "score", "predicted_label",
           "patient_id", "age", "sex", "study_uid", "ai_volume_mm3", "scanner_vendor", "scanner_model")
_MEASUREMENT_REPORT = ("126000", "DCM")
_MEASUREMENT_GROUP = ("125007", "DCM")
_TRACKING_UID, _FINDING = ("112040", "DCM"), ("121071", "DCM")
_TRACKING_ID = ("112039", "DCM")
#: Lesion diameter concepts (SNOMED CT Diameter, Long axis); any other length in mm is taken when none is given.
_DIAMETERS = {("81827009", "SCT"), ("103339001", "SCT"), ("G-D785", "SRT"), ("G-A185", "SRT")}
_LENGTH_FACTORS = {"mm": Decimal(1), "cm": Decimal(10)}
#: The columns of the lesion rows of an SR read in lesion mode (monitor.domain.lesion_logs).
LESION_COLUMNS = ("device_id", "prediction_id", "lesion_id", "tracking_id", "finding_type", "centre_x_mm",
                  "centre_y_mm", "centre_z_mm", "diameter_mm", "score")
_ALGORITHM_NAME, _ALGORITHM_VERSION = ("111001", "DCM"), ("111003", "DCM")
_UNITLESS = {"1", "{ratio}", "{probability}", "{score}"}
_VOLUME_FACTORS = {"mm3": Decimal(1), "cm3": Decimal(1000), "ml": Decimal(1000), "mL": Decimal(1000)}
_VENDORS = (("united imaging", "United Imaging"), ("uih", "United Imaging"), ("siemens", "Siemens"),
            ("ge ", "GE"), ("ge medical", "GE"), ("philips", "Philips"), ("canon", "Canon"), ("toshiba", "Canon"))


def normalise_vendor(manufacturer: str | None) -> str | None:
    """A scanner vendor as the device configurations name it (``GE MEDICAL SYSTEMS`` -> ``GE``); else as given."""
    if not manufacturer or not manufacturer.strip():
        return None
    text = manufacturer.strip()
    lowered = text.lower() + " "
    return next((name for prefix, name in _VENDORS if lowered.startswith(prefix)), text)


def _code(item: Any, attribute: str = "ConceptNameCodeSequence") -> tuple[str, str] | None:
    sequence = getattr(item, attribute, None)
    if not sequence:
        return None
    first = sequence[0]
    return str(getattr(first, "CodeValue", "")), str(getattr(first, "CodingSchemeDesignator", ""))


class _TooDeep(Exception):
    """A content tree nested deeper than :data:`MAX_CONTENT_DEPTH`."""


def _walk(items: Any) -> Iterator[Any]:
    """Every content item below ``items``, depth first; :class:`_TooDeep` below :data:`MAX_CONTENT_DEPTH`."""
    stack = [(iter(items or []), 1)]
    while stack:
        level, depth = stack[-1]
        item = next(level, None)
        if item is None:
            stack.pop()
            continue
        yield item
        children = getattr(item, "ContentSequence", None)
        if children:
            if depth >= MAX_CONTENT_DEPTH:
                raise _TooDeep
            stack.append((iter(children), depth + 1))


def _modality(value: Any) -> str:
    """A defined modality as given, else ``unrecognised`` (a reason never quotes a value that may be free text)."""
    text = str(value or "").strip()
    return text if text in _MODALITIES else "unrecognised"


def _decoded(ds: Any, keyword: str, show: Any) -> str:
    """``show`` of the element ``keyword``; ``unrecognised`` when pydicom cannot decode it (found by the
    fuzzing campaign: an undecodable Modality of an image raised NotImplementedError from the rejection)."""
    try:
        return str(show(getattr(ds, keyword, None)))
    except _DECODE_ERRORS:
        return "unrecognised"


def _sop_class(value: Any) -> str:
    """The registered name of a SOP class UID (pydicom's dictionary), else ``unrecognised``."""
    text = str(value or "").strip()
    name = UID(text).name if text else ""
    return f"{name} {text}" if name and name != text else "unrecognised"


class _PydicomWarnings(logging.Handler):
    """The warnings pydicom logs while this thread reads a file (a truncated file is only warned about)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.thread = threading.get_ident()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.messages.append(record.getMessage())


class _CappedFile(io.FileIO):
    """A file whose ``read(n)`` never asks the OS for more than the bytes left: pydicom reads an element's
    declared length at once, and Python allocates the size asked for before reading, so a forged 4 GB
    length in a 6 KB file would allocate 4 GB (found by the fuzzing campaign: 1.7 GB for a 6 KB file)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, "rb")
        self._size = os.fstat(self.fileno()).st_size

    def read(self, size: int | None = -1) -> bytes:
        if size is not None and size >= 0:
            size = min(size, max(self._size - self.tell(), 0))
        return super().read(size)


def _source(path: Path, kept: list[bytes] | None) -> Any:
    """The file to hand to pydicom: in memory when it was kept while hashing (BytesIO never allocates more
    than it holds), else a :class:`_CappedFile`."""
    return io.BytesIO(b"".join(kept)) if kept is not None else _CappedFile(path)


_LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"})


def _transfer_syntax(head: bytes) -> str | None:
    """The Transfer Syntax UID (0002,0010) of a Part 10 file's meta group (explicit VR little endian), read
    from its first bytes without pydicom (which would inflate a deflated data set whole to read on)."""
    position = 132
    while position + 8 <= len(head) and head[position:position + 2] == b"\x02\x00":
        element, vr = struct.unpack_from("<H", head, position + 2)[0], head[position + 4:position + 6]
        if vr in _LONG_VRS:
            length, start = struct.unpack_from("<I", head, position + 8)[0] if position + 12 <= len(head) else 0, \
                position + 12
        else:
            length, start = struct.unpack_from("<H", head, position + 6)[0], position + 8
        if element == 0x0010:
            return head[start:start + length].rstrip(b"\x00 ").decode("ascii", "replace")
        position = start + length
    return None


def _count_items(handle: Any, digest: Any, kept: list[bytes] | None) -> int:
    """Hash the file and count its sequence item tags (an upper bound of its items), block by block;
    the blocks are appended to ``kept`` unless it is ``None``."""
    count, tail = 0, b""
    for block in iter(lambda: handle.read(1 << 20), b""):
        digest.update(block)
        if kept is not None:
            kept.append(block)
        window = tail + block  # a tag across two blocks is counted once: the 3-byte tail holds no whole tag
        count += sum(window.count(tag) for tag in _ITEM_TAGS)
        tail = window[-3:]
    return count


def _decimal(text: Any) -> Decimal | None:
    try:
        value = Decimal(str(text).strip())
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() else None


def _number(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"


def _timestamp(ds: Any) -> str | None:
    """ContentDate + ContentTime (+ TimezoneOffsetFromUTC) as ISO-8601 text; no offset stays without one."""
    day, time = str(getattr(ds, "ContentDate", "") or ""), str(getattr(ds, "ContentTime", "") or "")
    if len(day) != 8 or len(time) < 4:
        return None
    text = f"{day[:4]}-{day[4:6]}-{day[6:]}T{time[:2]}:{time[2:4]}:{time[4:6] or '00'}"
    offset = str(getattr(ds, "TimezoneOffsetFromUTC", "") or "")
    if len(offset) == 5 and offset[0] in "+-":
        text += f"{offset[:3]}:{offset[3:]}"
    return text


def _age(ds: Any) -> str | None:
    age = str(getattr(ds, "PatientAge", "") or "")
    if len(age) == 4 and age[:3].isdigit() and age[3] in "DWMY":
        years = int(age[:3]) / {"D": 365.25, "W": 52.18, "M": 12, "Y": 1}[age[3]]
        return str(int(years))
    return None


def _referenced_instances(ds: Any) -> list[str]:
    uids = []
    for study in getattr(ds, "CurrentRequestedProcedureEvidenceSequence", None) or []:
        for series in getattr(study, "ReferencedSeriesSequence", None) or []:
            uids += [str(s.ReferencedSOPInstanceUID) for s in getattr(series, "ReferencedSOPSequence", None) or []
                     if "ReferencedSOPInstanceUID" in s]
    uids += [str(getattr(s, "ReferencedSOPInstanceUID", "")) for item in _walk(getattr(ds, "ContentSequence", None))
             for s in getattr(item, "ReferencedSOPSequence", None) or []]
    return uids


def _short_element(ds: Any) -> bool:
    """Whether a top-level element read from the file holds fewer bytes than its declared length (truncation)."""
    for element in ds.elements():
        value, length = getattr(element, "value", None), getattr(element, "length", None)
        if isinstance(value, bytes) and isinstance(length, int) and length != 0xFFFFFFFF and len(value) < length:
            return True
    return False


@dataclass
class _Group:
    tracking_uid: str | None = None
    tracking_id: str | None = None
    finding: str | None = None
    centre: tuple[Decimal, Decimal, Decimal] | None = None
    diameter: Decimal | None = None
    length: Decimal | None = None
    algorithm: str | None = None
    version: str | None = None
    score: Decimal | None = None
    volume: Decimal | None = None
    label: int | None = None


def _group(container: Any) -> _Group:
    group = _Group()
    for item in _walk(getattr(container, "ContentSequence", None)):
        concept, kind = _code(item), getattr(item, "ValueType", None)
        if concept == _TRACKING_UID:
            group.tracking_uid = str(getattr(item, "UID", "") or "") or None
        elif concept == _TRACKING_ID:
            group.tracking_id = group.tracking_id or str(getattr(item, "TextValue", "") or "") or None
        elif concept == _FINDING and kind == "CODE":
            value = _code(item, "ConceptCodeSequence")
            group.finding = group.finding or (f"{value[1]}:{value[0]}" if value else None)
        elif kind == "SCOORD3D":
            group.centre = group.centre or _centroid(getattr(item, "GraphicData", None))
        elif concept == _ALGORITHM_NAME:
            group.algorithm = group.algorithm or str(getattr(item, "TextValue", "") or "") or None
        elif concept == _ALGORITHM_VERSION:
            group.version = group.version or str(getattr(item, "TextValue", "") or "") or None
        elif kind == "NUM":
            _measurement(item, group)
        elif kind == "CODE" and concept != _FINDING and group.label is None:
            value = _code(item, "ConceptCodeSequence")
            group.label = binary_code(value[1], value[0]) if value else None
    return group


def _measurement(item: Any, group: _Group) -> None:
    measured = (getattr(item, "MeasuredValueSequence", None) or [None])[0]
    if measured is None:
        return
    value = _decimal(getattr(measured, "NumericValue", None))
    unit = _code(measured, "MeasurementUnitsCodeSequence")
    if value is None or unit is None:
        return
    if unit[0] in _UNITLESS and group.score is None:
        group.score = value
    elif unit[0] == "%" and group.score is None:
        group.score = value / 100
    elif unit[0] in _VOLUME_FACTORS and group.volume is None:
        group.volume = value * _VOLUME_FACTORS[unit[0]]
    elif unit[0] in _LENGTH_FACTORS:
        if _code(item) in _DIAMETERS and group.diameter is None:
            group.diameter = value * _LENGTH_FACTORS[unit[0]]
        elif group.length is None:
            group.length = value * _LENGTH_FACTORS[unit[0]]


def _centroid(data: Any) -> tuple[Decimal, Decimal, Decimal] | None:
    """The centre of a 3D spatial coordinate (patient coordinates, mm): the point of a POINT, the mean of the
    points of a MULTIPOINT, POLYLINE, POLYGON or ELLIPSE/ELLIPSOID (an ellipse's axis end points average to its
    centre); ``None`` when the data are not whole (x, y, z) triples of finite numbers."""
    values = [_decimal(v) for v in (list(data) if data is not None else [])]
    if not values or len(values) % 3 or any(v is None for v in values):
        return None
    points = [values[i:i + 3] for i in range(0, len(values), 3)]
    if len(points) > 1 and points[0] == points[-1]:
        points = points[:-1]  # a closed polygon repeats its first point
    n = Decimal(len(points))
    return tuple(sum((p[axis] for p in points), Decimal(0)) / n for axis in range(3))  # type: ignore[return-value]


class DicomSrLog:
    """A log source over one DICOM SR file, or a folder of DICOM files (read recursively)."""

    format = "dicom-sr"

    def __init__(self, source: Path, *, device_id: str | None = None, lesions: bool = False) -> None:
        self.name = str(source)
        self._lesions = lesions
        self._lesion_rows: list[tuple[int, dict[str, str | None]]] = []
        files = sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source]
        digest = hashlib.sha256()
        self._device_id = device_id
        self._rows: list[tuple[int, dict[str, str | None]]] = []
        self._rejections: list[Rejection] = []
        reports: list[tuple[str, Any]] = []
        images: dict[str, tuple[str, Any]] = {}
        for path in files:
            name = path.relative_to(source).as_posix() if source.is_dir() else path.name
            digest.update(name.encode("utf-8") + b"\x00")
            kept: list[bytes] | None = [] if path.stat().st_size <= _IN_MEMORY_BYTES else None
            with path.open("rb") as handle:
                items = _count_items(handle, digest, kept)
            if items > MAX_SEQUENCE_ITEMS:
                self._reject(name, "too_many_items", f"{name} holds more than {MAX_SEQUENCE_ITEMS} sequence items "
                                                     "(the limit of one file); it was not parsed")
                continue
            ds = self._read(path, name, kept)
            kept = None
            if ds is None:
                continue
            try:
                is_report = str(getattr(ds, "Modality", "")) == "SR" or "ContentSequence" in ds
                uid = str(getattr(ds, "SOPInstanceUID", "") or "") or name
                sop_class = getattr(ds, "SOPClassUID", None)
            except _DECODE_ERRORS:
                self._reject(name, "malformed_dicom", f"{name}: a header element cannot be decoded")
                continue
            if not sop_class and not is_report:
                self._reject(name, "missing_sop_class", f"{name}: the data set has no SOP Class UID (0008,0016); "
                                                        "it is not a DICOM object that can be read")
                continue
            if is_report:
                reports.append((name, ds))
            else:
                images[uid] = (name, ds)
        self.sha256 = digest.hexdigest()
        used: set[str] = set()
        for name, ds in reports:
            try:
                rows = self._report(name, ds, images, used)
            except _TooDeep:
                self._reject(name, "nested_too_deeply", f"{name}: the content tree is nested deeper than "
                                                        f"{MAX_CONTENT_DEPTH} levels")
                continue
            except _DECODE_ERRORS:
                self._reject(name, "malformed_dicom", f"{name}: an element of the report cannot be decoded")
                continue
            for row in rows:
                self._rows.append((len(self._rows) + len(self._rejections) + 1, row))
        for uid, (name, ds) in images.items():
            if uid not in used:
                self._reject(name, "not_an_sr", f"{name} is a DICOM {_decoded(ds, 'Modality', _modality)} object "
                                                f"(SOP class {_decoded(ds, 'SOPClassUID', _sop_class)}), "
                                                "not a structured report, and no SR of this folder refers to it")
        self.columns: tuple[str, ...] = COLUMNS

    def _reject(self, record_id: str, code: str, reason: str) -> None:
        number = len(self._rows) + len(self._rejections) + 1
        self._rejections.append(Rejection(number, record_id, code, reason, {}))

    def _read(self, path: Path, name: str, kept: list[bytes] | None = None) -> Any:
        """The file's data set (values decoded lazily), or ``None`` after rejecting it."""
        warned = _PydicomWarnings()
        logger = logging.getLogger("pydicom")
        logger.addHandler(warned)
        try:
            with _source(path, kept) as handle:
                syntax = _transfer_syntax(handle.read(1 << 16))
            if syntax == DeflatedExplicitVRLittleEndian:
                self._reject(name, "unsupported_transfer_syntax",
                             f"{name} uses the deflated transfer syntax, which is not inflated here (re-encode it "
                             "as explicit VR little endian)")
                return None
            with _source(path, kept) as handle:
                ds = pydicom.dcmread(handle, stop_before_pixels=True)
        except InvalidDicomError:
            self._reject(name, "not_dicom", f"{name} is not a readable DICOM file (no DICM preamble)")
            return None
        except RecursionError:
            self._reject(name, "nested_too_deeply", f"{name}: its sequences are nested too deeply to be read")
            return None
        except _DECODE_ERRORS as exc:
            self._reject(name, "not_dicom", f"{name} is not a readable DICOM file ({type(exc).__name__} while "
                                            "reading its structure)")
            return None
        finally:
            logger.removeHandler(warned)
        if any("EOF" in m or "Expected" in m or "delimit" in m for m in warned.messages):
            self._reject(name, "truncated_dicom", f"{name} is truncated or malformed: the file ends inside an "
                                                  "element or a sequence")
            return None
        try:
            short = _short_element(ds)
        except _DECODE_ERRORS:  # found by the fuzzing campaign: an unknown VR raised NotImplementedError here
            self._reject(name, "malformed_dicom", f"{name}: a header element cannot be decoded")
            return None
        if short:
            self._reject(name, "truncated_dicom", f"{name} is truncated: its last element is shorter than its "
                                                  "declared length")
            return None
        return ds

    def _report(self, name: str, ds: Any, images: dict[str, tuple[str, Any]],
                used: set[str]) -> list[dict[str, str | None]]:
        """The rows of one SR (none after rejecting it); decoding errors propagate, and reject the whole file."""
        title = _code(ds)
        if title != _MEASUREMENT_REPORT:
            shown = "missing" if title is None else "another code"  # the code is not quoted (it may be free text)
            self._reject(name, "not_a_measurement_report",
                         f"{name}: the SR's document title is {shown}, not (126000, DCM) Imaging Measurement Report "
                         "(TID 1500)")
            return []
        groups = [item for item in _walk(getattr(ds, "ContentSequence", None))
                  if getattr(item, "ValueType", None) == "CONTAINER" and _code(item) == _MEASUREMENT_GROUP]
        if not groups:
            self._reject(name, "no_measurement_group", f"{name}: the measurement report has no Measurement Group")
            return []
        scanner, referenced = None, []
        for uid in _referenced_instances(ds):
            if uid in images:
                referenced.append(uid)
                scanner = scanner or images[uid][1]
        if self._lesions:
            return self._lesion_report(name, ds, [_group(c) for c in groups], scanner, referenced, used)
        rows = []
        for index, container in enumerate(groups, start=1):
            group = _group(container)
            row = {
                "prediction_id": group.tracking_uid or f"{getattr(ds, 'SOPInstanceUID', name)}/{index}",
                "device_id": self._device_id or group.algorithm,
                "model_version": group.version,
                "site_id": str(getattr(ds, "InstitutionName", "") or "") or None,
                "predicted_at": _timestamp(ds),
                "score": None if group.score is None else _number(group.score),
                "predicted_label": None if group.label is None else str(group.label),
                "patient_id": str(getattr(ds, "PatientID", "") or "") or None,
                "age": _age(ds),
                "sex": str(getattr(ds, "PatientSex", "") or "") or None,
                "study_uid": str(getattr(ds, "StudyInstanceUID", "") or "") or None,
                "ai_volume_mm3": None if group.volume is None else _number(group.volume),
                "scanner_vendor": normalise_vendor(str(getattr(scanner, "Manufacturer", "") or "")),
                "scanner_model": str(getattr(scanner, "ManufacturerModelName", "") or "") or None,
            }
            rows.append(row)
        used.update(referenced)
        return rows

    def _lesion_report(self, name: str, ds: Any, groups: list[_Group], scanner: Any, referenced: list[str],
                       used: set[str]) -> list[dict[str, str | None]]:
        """Lesion mode: the study's one prediction row (score: the highest group score; call: positive when a
        group's evaluation is) and one lesion row per measurement group, kept for :meth:`lesion_log`."""
        study = str(getattr(ds, "StudyInstanceUID", "") or "") or str(getattr(ds, "SOPInstanceUID", name))
        device = self._device_id or next((g.algorithm for g in groups if g.algorithm), None)
        scores = [g.score for g in groups if g.score is not None]
        labels = [g.label for g in groups if g.label is not None]
        for index, group in enumerate(groups, start=1):
            centre = group.centre or (None, None, None)
            diameter = group.diameter if group.diameter is not None else group.length
            self._lesion_rows.append((len(self._lesion_rows) + 1, {
                "device_id": device, "prediction_id": study,
                "lesion_id": group.tracking_uid or f"{getattr(ds, 'SOPInstanceUID', name)}/{index}",
                "tracking_id": group.tracking_id, "finding_type": group.finding,
                **{f"centre_{axis}_mm": None if value is None else _number(value)
                   for axis, value in zip("xyz", centre, strict=True)},
                "diameter_mm": None if diameter is None else _number(diameter),
                "score": None if group.score is None else _number(group.score)}))
        used.update(referenced)
        return [{
            "prediction_id": study, "device_id": device,
            "model_version": next((g.version for g in groups if g.version), None),
            "site_id": str(getattr(ds, "InstitutionName", "") or "") or None, "predicted_at": _timestamp(ds),
            "score": _number(max(scores)) if scores else None,
            "predicted_label": str(max(labels)) if labels else None,
            "patient_id": str(getattr(ds, "PatientID", "") or "") or None, "age": _age(ds),
            "sex": str(getattr(ds, "PatientSex", "") or "") or None, "study_uid": study if study != name else None,
            "ai_volume_mm3": None,
            "scanner_vendor": normalise_vendor(str(getattr(scanner, "Manufacturer", "") or "")),
            "scanner_model": str(getattr(scanner, "ManufacturerModelName", "") or "") or None}]

    def lesion_log(self) -> DicomSrLesions:
        """Lesion mode: the lesion rows of every report read (a log source of its own, ``ingest lesions``)."""
        return DicomSrLesions(self.name, self.sha256, list(self._lesion_rows))

    def chunks(self, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[tuple[int, pd.DataFrame]]:
        """Yield ``(first_row, frame_of_text)`` chunks of the measurement groups."""
        yield from frames(iter(self._rows), self.columns, chunk_rows)

    def rejections(self) -> list[Rejection]:
        """Files that gave no row."""
        return list(self._rejections)

    def count_rows(self) -> int:
        """Number of measurement groups."""
        return len(self._rows)


class DicomSrLesions:
    """The lesion rows of a :class:`DicomSrLog` read in lesion mode: one per measurement group (its Tracking Unique
    Identifier, Tracking Identifier, Finding, centre, diameter and score), numbered from 1."""

    format = "dicom-sr"
    columns: tuple[str, ...] = LESION_COLUMNS

    def __init__(self, name: str, sha256: str, rows: list[tuple[int, dict[str, str | None]]]) -> None:
        self.name, self.sha256, self._rows = name, sha256, rows

    def chunks(self, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[tuple[int, pd.DataFrame]]:
        """Yield ``(first_row, frame_of_text)`` chunks of the lesion rows."""
        yield from frames(iter(self._rows), self.columns, chunk_rows)

    def rejections(self) -> list[Rejection]:
        """None: the files that gave no row are the study log's rejections."""
        return []

    def count_rows(self) -> int:
        """Number of lesion rows."""
        return len(self._rows)
