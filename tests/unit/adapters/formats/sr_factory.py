"""Build TID 1500 measurement reports with highdicom (and the CT image they refer to) for the tests."""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

STUDY_UID = "1.2.826.0.1.3680043.8.498.20001"
TRACKING_UID = "1.2.826.0.1.3680043.8.498.20001.1"
POSITIVE = hd.sr.CodedConcept("10828004", "SCT", "Positive")


def ct_image(manufacturer: str = "SIEMENS", model: str = "SOMATOM Force") -> Dataset:
    """A one-slice CT image header (tiny pixel data), as a scanner would write it."""
    ds = Dataset()
    ds.file_meta = Dataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = STUDY_UID, generate_uid()
    ds.Modality, ds.Manufacturer, ds.ManufacturerModelName = "CT", manufacturer, model
    ds.PatientID, ds.PatientName, ds.PatientSex, ds.PatientAge, ds.PatientBirthDate = "MRN-7", "Doe^Jane", "F", "067Y", ""
    ds.StudyDate, ds.StudyTime, ds.AccessionNumber, ds.ReferringPhysicianName, ds.StudyID = "20251014", "085000", "A1", "", "1"
    ds.SeriesNumber, ds.InstanceNumber = 1, 1
    ds.Rows = ds.Columns = 2
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.PixelData = np.zeros((2, 2), dtype=np.uint16).tobytes()
    ds.ImagePositionPatient, ds.ImageOrientationPatient, ds.PixelSpacing = [0, 0, 0], [1, 0, 0, 0, 1, 0], [1, 1]
    ds.SliceThickness, ds.FrameOfReferenceUID = 1.0, generate_uid()
    return ds


def measurement_report(image: Dataset, *, score: float | None = 0.87, label: hd.sr.CodedConcept | None = POSITIVE,
                       algorithm: str = "lung-nodule-ct", version: str = "2.1.0",
                       offset: str | None = "+0800") -> hd.sr.Comprehensive3DSR:
    """A Comprehensive 3D SR with one TID 1501 group: algorithm id, a probability and a qualitative evaluation."""
    algorithm_id = hd.sr.AlgorithmIdentification(name=algorithm, version=version)
    measurements = []
    if score is not None:
        measurements.append(hd.sr.Measurement(
            name=hd.sr.CodedConcept("RID50249", "RADLEX", "Probability of malignancy"), value=score,
            unit=hd.sr.CodedConcept("1", "UCUM", "no units"), algorithm_id=algorithm_id))
    measurements.append(hd.sr.Measurement(name=codes.SCT.Volume, value=412.5,
                                          unit=hd.sr.CodedConcept("mm3", "UCUM", "cubic millimeter")))
    evaluations = [] if label is None else [hd.sr.QualitativeEvaluation(
        name=hd.sr.CodedConcept("RID49492", "RADLEX", "Actionable nodule"), value=label)]
    group = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=TRACKING_UID, identifier="Nodule 1"),
        finding_type=hd.sr.CodedConcept("786838002", "SCT", "Pulmonary nodule"), algorithm_id=algorithm_id,
        measurements=measurements, qualitative_evaluations=evaluations)
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=generate_uid(), name=algorithm, manufacturer_name="Example Medical AI Co., Ltd."))
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=codes.LN.CTUnspecifiedBodyRegion, imaging_measurements=[group])
    sr = hd.sr.Comprehensive3DSR(
        evidence=[image], content=report, series_number=99, series_instance_uid=generate_uid(), sop_instance_uid=generate_uid(),
        instance_number=1, manufacturer="Example Medical AI Co., Ltd.", institution_name="SH-01")
    sr.ContentDate, sr.ContentTime = "20251014", "091500"
    if offset:
        sr.TimezoneOffsetFromUTC = offset
    return sr


def write_study(folder: Path, **kwargs: object) -> tuple[Path, Path]:
    """An SR and the CT image it refers to, written into ``folder``; their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    image = ct_image()
    image_path, sr_path = folder / "ct.dcm", folder / "report.dcm"
    image.save_as(image_path, enforce_file_format=True)
    measurement_report(image, **kwargs).save_as(sr_path)  # type: ignore[arg-type]
    return sr_path, image_path
