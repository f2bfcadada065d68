"""DICOM SR from hostile files: malformed (truncated, bad preamble, wrong or deflated transfer syntax), huge
(deeply nested content trees, 100 000 items), wrong SOP classes, missing tags, non-numeric measurements,
wrong VRs, private tags and a patient id planted in many tags. Each file ends as rows or one rejection
naming it, never an exception, in bounded memory and time; no reason quotes a value read from a file.
Limits: ``MAX_SEQUENCE_ITEMS`` and ``MAX_CONTENT_DEPTH`` in monitor/adapters/formats/dicom_sr.py."""

from __future__ import annotations

import copy
import io
import struct
import time
import tracemalloc
import zlib
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from fuzz_strategies import sr_factory  # type: ignore[import-not-found]
from pydicom.sequence import Sequence
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian

from monitor.adapters.formats.dicom_sr import MAX_CONTENT_DEPTH, MAX_SEQUENCE_ITEMS, DicomSrLog

MARKER = "ZQXPATIENT7731"
#: Per file: parsed memory (tracemalloc peak) within this multiple of the file's size plus the constant.
MEMORY_FACTOR, MEMORY_CONSTANT = 20, 16 << 20
SECONDS = 5.0




@pytest.fixture(scope="module")
def report_bytes(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    """A valid TID 1500 report and the CT image it refers to (their bytes)."""
    sr_path, image_path = sr_factory().write_study(tmp_path_factory.mktemp("sr"))
    return sr_path.read_bytes(), image_path.read_bytes()


def _read(path: Path) -> tuple[int, list[Any], int, float]:
    """Rows, rejections, tracemalloc peak and seconds of reading ``path``."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        log = DicomSrLog(path)
        rows = sum(len(frame) for _, frame in log.chunks(64))
        rejections = log.rejections()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return rows, rejections, peak, time.perf_counter() - started


def _check(path: Path, *, rows: int | None = None, code: str | None = None) -> list[Any]:
    count, rejections, peak, seconds = _read(path)
    size = path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    assert peak <= MEMORY_FACTOR * size + MEMORY_CONSTANT, f"{peak >> 20} MiB for {size} bytes"
    assert seconds < SECONDS
    if rows is not None:
        assert count == rows
    if code is not None:
        assert [r.code for r in rejections] == [code], [(r.code, r.reason) for r in rejections]
        assert rejections[0].record_id == (path.name if path.is_file() else rejections[0].record_id)
        assert path.name in rejections[0].reason or not path.is_file()
    for rejection in rejections:
        assert MARKER not in rejection.reason and MARKER not in str(rejection.record_id)
    return rejections


def _dataset(data: bytes) -> Dataset:
    return pydicom.dcmread(io.BytesIO(data))


def _save(ds: Dataset) -> bytes:
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=False)
    return out.getvalue()


# malformed files ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("cut", [200, 500, 0.5, -3])
def test_truncated_report_is_one_rejection(tmp_path: Path, report_bytes: tuple[bytes, bytes], cut: float) -> None:
    """Before the fix a report cut short inside its content tree gave a partial row (or none, silently)."""
    good = report_bytes[0]
    end = int(len(good) * cut) if isinstance(cut, float) else cut if cut > 0 else len(good) + cut
    path = tmp_path / "cut.dcm"
    path.write_bytes(good[:end])
    _check(path, rows=0, code="missing_sop_class" if end == 200 else "truncated_dicom")  # 200: inside the meta


@pytest.mark.parametrize("body", [b"", b"DICM", b"\0" * 128 + b"DICX" + b"\0" * 300, b"not a dicom file at all" * 50])
def test_bad_preamble_is_not_dicom(tmp_path: Path, body: bytes) -> None:
    path = tmp_path / "x.dcm"
    path.write_bytes(body)
    _check(path, rows=0, code="not_dicom")


def test_wrong_transfer_syntax_in_the_meta_is_read_or_rejected(tmp_path: Path,
                                                                report_bytes: tuple[bytes, bytes]) -> None:
    """A meta header naming implicit VR (or an unknown syntax) over an explicit-VR data set: pydicom detects the
    encoding; the report is read."""
    for syntax in ("1.2.840.10008.1.2", "1.2.3.4", "1.2.840.10008.1.2.4.50"):
        ds = _dataset(report_bytes[0])
        ds.file_meta.TransferSyntaxUID = syntax
        path = tmp_path / f"ts-{syntax}.dcm"
        path.write_bytes(_save(ds))
        _check(path, rows=1)


def test_deflated_data_set_is_never_inflated(tmp_path: Path, report_bytes: tuple[bytes, bytes]) -> None:
    """A deflated data set is a decompression bomb candidate: 200 MB of zeros in 200 KB. Before the fix pydicom
    inflated it whole in memory."""
    ds = _dataset(report_bytes[0])
    meta = io.BytesIO()
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    pydicom.filewriter.write_file_meta_info(meta, ds.file_meta, enforce_standard=True)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    element = struct.pack("<HH2sHI", 0x0009, 0x0010, b"UN", 0, 200_000_000)  # a private UN element, 200 MB
    bomb = compressor.compress(element) + b"".join(compressor.compress(b"\0" * (1 << 20)) for _ in range(190))
    path = tmp_path / "bomb.dcm"
    path.write_bytes(b"\0" * 128 + b"DICM" + meta.getvalue() + bomb + compressor.flush())
    _check(path, rows=0, code="unsupported_transfer_syntax")


# huge sequences ---------------------------------------------------------------------------------------------

_CONTENT = struct.pack("<HH", 0x0040, 0xA730)
_ITEM, _ITEM_END, _SEQ_END = b"\xfe\xff\x00\xe0", b"\xfe\xff\x0d\xe0\0\0\0\0", b"\xfe\xff\xdd\xe0\0\0\0\0"
_CONTAINER = struct.pack("<HH2sH", 0x0040, 0xA040, b"CS", 10) + b"CONTAINER "


def _with_content(report: bytes, content: bytes) -> bytes:
    """The report with its ContentSequence (the data set's last element) replaced by raw bytes."""
    ds = _dataset(report)
    del ds.ContentSequence
    return _save(ds) + content


def _nested(depth: int, *, undefined: bool) -> bytes:
    """A ContentSequence nested ``depth`` levels deep: undefined lengths (parsed eagerly by pydicom) or explicit."""
    if undefined:
        open_ = _CONTENT + b"SQ\0\0\xff\xff\xff\xff" + _ITEM + b"\xff\xff\xff\xff" + _CONTAINER
        return open_ * depth + (_ITEM_END + _SEQ_END) * depth
    inner = b""
    for _ in range(depth):
        item = _CONTAINER + inner
        sequence = _ITEM + struct.pack("<I", len(item)) + item
        inner = _CONTENT + b"SQ\0\0" + struct.pack("<I", len(sequence)) + sequence
    return inner


@pytest.mark.parametrize(("depth", "undefined"), [(5000, True), (5000, False), (MAX_CONTENT_DEPTH + 1, False)])
def test_deeply_nested_content_is_one_rejection(tmp_path: Path, report_bytes: tuple[bytes, bytes], depth: int,
                                                undefined: bool) -> None:
    """Before the fix: RecursionError (undefined lengths, while pydicom reads) escaped the reader."""
    path = tmp_path / "deep.dcm"
    path.write_bytes(_with_content(report_bytes[0], _nested(depth, undefined=undefined)))
    _check(path, rows=0, code="nested_too_deeply")


def test_hundred_thousand_items_are_refused_before_parsing(tmp_path: Path,
                                                           report_bytes: tuple[bytes, bytes]) -> None:
    """Before the fix: 100 000 items took 48 s and 200 MiB (tracemalloc) for a 3 MB file."""
    item = _ITEM + struct.pack("<I", len(_CONTAINER)) + _CONTAINER
    body = item * 100_000
    path = tmp_path / "wide.dcm"
    path.write_bytes(_with_content(report_bytes[0], _CONTENT + b"SQ\0\0" + struct.pack("<I", len(body)) + body))
    _check(path, rows=0, code="too_many_items")
    assert MAX_SEQUENCE_ITEMS < 100_000


# wrong content ---------------------------------------------------------------------------------------------

def test_an_image_alone_is_not_an_sr(tmp_path: Path, report_bytes: tuple[bytes, bytes]) -> None:
    ds = _dataset(report_bytes[1])
    ds.Modality, ds.SOPClassUID = MARKER, MARKER  # free text in coded fields is never quoted back
    path = tmp_path / "ct.dcm"
    path.write_bytes(_save(ds))
    rejection, = _check(path, rows=0, code="not_an_sr")
    assert "unrecognised" in rejection.reason


def test_other_document_title_is_named_by_code_only(tmp_path: Path, report_bytes: tuple[bytes, bytes]) -> None:
    ds = _dataset(report_bytes[0])
    ds.ConceptNameCodeSequence[0].CodeValue = MARKER + " free text"
    path = tmp_path / "title.dcm"
    path.write_bytes(_save(ds))
    _check(path, rows=0, code="not_a_measurement_report")


def test_missing_required_tags_give_rows_that_validation_rejects(tmp_path: Path,
                                                                 report_bytes: tuple[bytes, bytes]) -> None:
    ds = _dataset(report_bytes[0])
    for keyword in ("ContentDate", "ContentTime", "PatientID", "InstitutionName", "StudyInstanceUID", "SOPInstanceUID"):
        delattr(ds, keyword)
    path = tmp_path / "bare.dcm"
    path.write_bytes(_save(ds))
    log = DicomSrLog(path)
    frame = next(iter(log.chunks()))[1]
    assert frame.loc[0, "predicted_at"] is None and frame.loc[0, "patient_id"] is None


def _measured_values(ds: Dataset) -> list[Dataset]:
    found = []
    stack = list(ds.ContentSequence)
    while stack:
        item = stack.pop()
        found += list(getattr(item, "MeasuredValueSequence", []))
        stack += list(getattr(item, "ContentSequence", []))
    return found


def test_non_numeric_measurement_is_no_score(tmp_path: Path, report_bytes: tuple[bytes, bytes]) -> None:
    ds = _dataset(report_bytes[0])
    for measured in _measured_values(ds):
        measured["NumericValue"].value = "NaN"
    path = tmp_path / "nan.dcm"
    path.write_bytes(_save(ds))
    log = DicomSrLog(path)
    frame = next(iter(log.chunks()))[1]
    assert frame.loc[0, "score"] is None and frame.loc[0, "ai_volume_mm3"] is None


def test_wrong_vr_is_a_rejection_not_an_exception(tmp_path: Path, report_bytes: tuple[bytes, bytes]) -> None:
    """ContentSequence written with VR UL and 3 bytes: pydicom fails only when the value is decoded."""
    path = tmp_path / "vr.dcm"
    path.write_bytes(_with_content(report_bytes[0], _CONTENT + b"UL\x03\x00abc"))
    _check(path, rows=0)
    _, rejections, _, _ = _read(path)
    assert len(rejections) == 1


def test_patient_id_in_many_tags_and_private_tags(tmp_path: Path, report_bytes: tuple[bytes, bytes]) -> None:
    """A patient id in PatientID, PatientName, OtherPatientIDs, a private tag, a text item and the image's
    header: the row carries it only in patient_id (hashed at ingestion); no reason quotes it."""
    folder = tmp_path / "study"
    folder.mkdir()
    for name, data in (("report.dcm", report_bytes[0]), ("ct.dcm", report_bytes[1])):
        ds = _dataset(data)
        ds.PatientID, ds.PatientName, ds.OtherPatientIDs = MARKER, MARKER, MARKER
        ds.StudyDescription = ds.InstitutionAddress = MARKER
        block = ds.private_block(0x0011, "EVIL PRIVATE", create=True)
        block.add_new(0x01, "LO", MARKER)
        block.add_new(0x02, "UN", MARKER.encode())
        (folder / name).write_bytes(_save(ds))
    (folder / "orphan.dcm").write_bytes((folder / "ct.dcm").read_bytes().replace(b"CT", b"MR"))
    (folder / "cut.dcm").write_bytes((folder / "report.dcm").read_bytes()[:-5])
    _check(folder)
    log = DicomSrLog(folder)
    frame = next(iter(log.chunks()))[1]
    holders = [c for c in frame.columns if frame[c].astype(str).str.contains(MARKER).any()]
    assert holders == ["patient_id"]


def test_forged_element_length_allocates_nothing_near_it(tmp_path: Path, report_bytes: tuple[bytes, bytes]) -> None:
    """Found by bench/bench_fuzz.py: a byte edit that makes a declared length huge made Python allocate that
    length (pydicom reads a value at once): 1.7 GB (tracemalloc) for a 6 KB file. A 1 GiB length here."""
    path = tmp_path / "forged.dcm"
    path.write_bytes(_with_content(report_bytes[0], _CONTENT + b"SQ\0\0" + struct.pack("<I", 1 << 30) + b"\0" * 64))
    _check(path, rows=0)
    assert len(_read(path)[1]) == 1


def test_unknown_vr_in_the_header_is_a_rejection(tmp_path: Path, report_bytes: tuple[bytes, bytes]) -> None:
    """Found by bench/bench_fuzz.py: an unknown VR (one flipped byte) raised NotImplementedError out of the
    truncation check, which decodes top-level elements."""
    data = report_bytes[0]
    position = data.index(struct.pack("<HH", 0x0018, 0xA001) + b"SQ")
    path = tmp_path / "vr.dcm"
    path.write_bytes(data[:position + 4] + b"S\xc3" + data[position + 6:])
    _check(path, rows=0, code="malformed_dicom")
