"""DICOM SR TID 1500 in lesion mode (issue 17 item 2): a highdicom report with three tracked lesions round-trips to
three lesion rows with their tracking UIDs, finding type, centre and diameter, and one study-level prediction row."""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import numpy as np
import yaml
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid
from sr_factory import STUDY_UID, ct_image

from monitor.adapters.formats.dicom_sr import DicomSrLog
from monitor.domain.device import DeviceConfig
from monitor.domain.lesion_logs import validate_findings

EXAMPLE = Path(__file__).parents[4] / "examples" / "lung-nodule-lesions.yaml"
NODULE = hd.sr.CodedConcept("786838002", "SCT", "Pulmonary nodule")
POSITIVE, NEGATIVE = hd.sr.CodedConcept("10828004", "SCT", "Positive"), hd.sr.CodedConcept("260385009", "SCT", "Negative")
LESIONS = [  # tracking UID, identifier, centre (mm), diameter (mm), score, call
    ("1.2.826.0.1.3680043.8.498.30001.1", "Nodule 1", (10.5, -20.0, 33.0), 7.5, 0.91, POSITIVE),
    ("1.2.826.0.1.3680043.8.498.30001.2", "Nodule 2", (-40.0, 12.25, 80.0), 4.0, 0.35, NEGATIVE),
    ("1.2.826.0.1.3680043.8.498.30001.3", "Nodule 3", (5.0, 5.0, 5.0), 12.0, 0.77, POSITIVE),
]


def _report(path: Path) -> None:
    image = ct_image()
    algorithm = hd.sr.AlgorithmIdentification(name="lung-lesions", version="3.0.0")
    groups = []
    for uid, identifier, centre, diameter, score, call in LESIONS:
        region = hd.sr.ImageRegion3D(graphic_type=hd.sr.GraphicTypeValues3D.POINT, graphic_data=np.array([centre]),
                                     frame_of_reference_uid=image.FrameOfReferenceUID)
        groups.append(hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=uid, identifier=identifier), referenced_region=region,
            finding_type=NODULE, algorithm_id=algorithm,
            measurements=[hd.sr.Measurement(name=codes.SCT.Diameter, value=diameter, unit=codes.UCUM.Millimeter),
                          hd.sr.Measurement(name=hd.sr.CodedConcept("RID50249", "RADLEX", "Probability"), value=score,
                                            unit=hd.sr.CodedConcept("1", "UCUM", "no units"))],
            qualitative_evaluations=[hd.sr.QualitativeEvaluation(
                name=hd.sr.CodedConcept("RID49492", "RADLEX", "Actionable nodule"), value=call)]))
    observer = hd.sr.ObserverContext(observer_type=codes.DCM.Device,
                                     observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
                                         uid=generate_uid(), name="lung-lesions"))
    report = hd.sr.MeasurementReport(observation_context=hd.sr.ObservationContext(observer_device_context=observer),
                                     procedure_reported=codes.LN.CTUnspecifiedBodyRegion, imaging_measurements=groups)
    sr = hd.sr.Comprehensive3DSR(evidence=[image], content=report, series_number=99,
                                 series_instance_uid=generate_uid(), sop_instance_uid=generate_uid(), instance_number=1,
                                 manufacturer="Example Medical AI Co., Ltd.", institution_name="SH-01")
    sr.ContentDate, sr.ContentTime, sr.TimezoneOffsetFromUTC = "20251014", "091500", "+0800"
    sr.save_as(path)


def _rows(chunks) -> list[dict]:  # type: ignore[no-untyped-def, type-arg]
    return [frame.iloc[i].to_dict() for _, frame in chunks for i in range(len(frame))]


def test_three_tracked_lesions_round_trip_to_three_lesion_rows(tmp_path: Path) -> None:
    _report(tmp_path / "report.dcm")
    log = DicomSrLog(tmp_path / "report.dcm", device_id="lung-nodule-lesions", lesions=True)
    assert log.rejections() == []
    [study] = _rows(log.chunks())
    assert (study["prediction_id"], study["study_uid"], study["model_version"], study["score"],
            study["predicted_label"], study["site_id"]) == (STUDY_UID, STUDY_UID, "3.0.0", "0.91", "1", "SH-01")
    lesions = log.lesion_log()
    assert lesions.count_rows() == 3 and lesions.rejections() == []
    assert _rows(lesions.chunks()) == [{
        "device_id": "lung-nodule-lesions", "prediction_id": STUDY_UID, "lesion_id": uid, "tracking_id": identifier,
        "finding_type": "SCT:786838002", "centre_x_mm": format(x, "g"), "centre_y_mm": format(y, "g"),
        "centre_z_mm": format(z, "g"), "diameter_mm": format(diameter, "g"), "score": format(score, "g")}
        for uid, identifier, (x, y, z), diameter, score, _ in LESIONS]
    # ... and the rows pass the lesion-log validation of a lesion device
    config = DeviceConfig.model_validate(yaml.safe_load(EXAMPLE.read_text(encoding="utf-8")))
    [(_, frame)] = list(lesions.chunks())
    checked = validate_findings(frame, first_row=1, devices={config.device.id: config})
    assert checked.rejections == [] and checked.accepted["lesion_id"].tolist() == [uid for uid, *_ in LESIONS]
    assert checked.accepted["centre_y_mm"].tolist() == [-20.0, 12.25, 5.0]


def test_default_mode_is_unchanged(tmp_path: Path) -> None:
    """Without lesion mode each group stays its own prediction row (prediction_id = tracking UID)."""
    _report(tmp_path / "report.dcm")
    rows = _rows(DicomSrLog(tmp_path / "report.dcm").chunks())
    assert [r["prediction_id"] for r in rows] == [uid for uid, *_ in LESIONS]
