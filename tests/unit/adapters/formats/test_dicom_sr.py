"""DICOM SR (TID 1500): a highdicom report round-trips into the canonical record; other files are rejected precisely."""

from __future__ import annotations

from pathlib import Path

import pydicom.data
import pytest
from sr_factory import (
    STUDY_UID,
    TRACKING_UID,
    ct_image,
    measurement_report,
    write_study,
)

from monitor.adapters.files.readers import open_log
from monitor.adapters.formats.codes import binary_code
from monitor.adapters.formats.dicom_sr import DicomSrLog, normalise_vendor


def rows(log: DicomSrLog) -> list[dict]:  # type: ignore[type-arg]
    return [frame.iloc[i].to_dict() for _, frame in log.chunks() for i in range(len(frame))]


def test_highdicom_report_round_trips_into_the_canonical_record(tmp_path: Path) -> None:
    write_study(tmp_path / "study")
    log = open_log(tmp_path / "study")
    assert isinstance(log, DicomSrLog) and log.format == "dicom-sr" and log.rejections() == []
    assert rows(log) == [{
        "prediction_id": TRACKING_UID, "device_id": "lung-nodule-ct", "model_version": "2.1.0", "site_id": "SH-01",
        "predicted_at": "2025-10-14T09:15:00+08:00", "score": "0.87", "predicted_label": "1", "patient_id": "MRN-7",
        "age": "67", "sex": "F", "study_uid": STUDY_UID, "ai_volume_mm3": "412.5", "scanner_vendor": "Siemens",
        "scanner_model": "SOMATOM Force"}]


def test_single_file_and_caller_device(tmp_path: Path) -> None:
    image = ct_image()
    path = tmp_path / "r.dcm"
    measurement_report(image, score=None, label=None, algorithm="PulmoScan", offset=None).save_as(path)
    [row] = rows(DicomSrLog(path, device_id="lung-nodule-ct"))
    assert (row["device_id"], row["score"], row["predicted_label"], row["scanner_vendor"]) == \
        ("lung-nodule-ct", None, None, None)  # the validator then rejects the missing score and call
    assert row["predicted_at"] == "2025-10-14T09:15:00"  # no TimezoneOffsetFromUTC: rejected as without offset


def test_non_dicom_and_non_sr_files_are_rejected_precisely(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("hello")
    ct_image().save_as(tmp_path / "b.dcm", enforce_file_format=True)
    log = DicomSrLog(tmp_path)
    assert rows(log) == []
    found = {r.record_id: (r.code, r.reason) for r in log.rejections()}
    assert found["a.txt"] == ("not_dicom", "a.txt is not a readable DICOM file (no DICM preamble)")
    assert found["b.dcm"][0] == "not_an_sr" and "DICOM CT object" in found["b.dcm"][1]
    assert sorted(r.row_number for r in log.rejections()) == [1, 2]


# pydicom's bundled test files only (get_testdata_files would also try to download external ones).
PYDICOM_FILES = sorted((Path(pydicom.data.__file__).parent / "test_files").glob("*.dcm"))


@pytest.mark.parametrize("path", [p for p in PYDICOM_FILES if "SR" in p.name] + PYDICOM_FILES[::4],
                         ids=lambda p: p.name)
def test_pydicom_test_files_are_read_or_rejected_cleanly(path: Path) -> None:
    log = DicomSrLog(path)
    rejected = log.rejections()
    assert len(rows(log)) + len(rejected) >= 1
    assert all(r.code in {"not_dicom", "not_an_sr", "not_a_measurement_report", "no_measurement_group",
                          "missing_sop_class", "truncated_dicom", "unsupported_transfer_syntax"}
               and r.reason for r in rejected)


def test_vendor_names_and_label_codes() -> None:
    assert [normalise_vendor(v) for v in ("GE MEDICAL SYSTEMS", "SIEMENS", "Philips Medical Systems", "UIH", "Acme",
                                          " ")] == ["GE", "Siemens", "Philips", "United Imaging", "Acme", None]
    assert (binary_code("SCT", "10828004"), binary_code("SRT", "2667000"), binary_code("SCT", "254637007")) == \
        (1, 0, None)
