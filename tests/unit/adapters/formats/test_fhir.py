"""FHIR R4 Bundles: the mapping of the examples, precise rejections, and the official HL7 example corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.adapters.files.readers import open_log
from monitor.adapters.formats.fhir import EXTENSION_URL, FhirBundleLog

ROOT = Path(__file__).resolve().parents[4]
EXAMPLES = ROOT / "examples" / "fhir"
HL7_EXAMPLES = ROOT / ".cache" / "fhir-r4-examples" / "package"


def rows(log: FhirBundleLog) -> dict[int, dict]:  # type: ignore[type-arg]
    return {first + i: frame.iloc[i].to_dict() for first, frame in log.chunks() for i in range(len(frame))}


def bundle(*resources: dict) -> bytes:  # type: ignore[type-arg]
    return json.dumps({"resourceType": "Bundle", "type": "collection",
                       "entry": [{"resource": r} for r in resources]}).encode()


def example() -> dict:  # type: ignore[type-arg]
    return json.loads((EXAMPLES / "predictions.fhir.json").read_text())


def test_prediction_example_maps_every_element() -> None:
    log = open_log(EXAMPLES / "predictions.fhir.json", kind="predictions")
    assert isinstance(log, FhirBundleLog) and log.rejections() == []
    mapped = rows(log)
    assert sorted(mapped) == [7, 9]  # rows are numbered by their position in Bundle.entry
    assert mapped[7] == {
        "prediction_id": "FHIR-AI-0001", "device_id": "lung-nodule-ct", "model_version": "2.1.0", "site_id": "SH-01",
        "predicted_at": "2025-10-14T09:15:00+08:00", "score": "0.87", "predicted_label": "1",
        "patient_id": "MRN-000481", "age": "67", "sex": "F", "study_uid": "1.2.826.0.1.3680043.8.498.10001",
        "accession_number": "ACC-2025-0001",
        "result_status": "ok", "failure_reason": None, "ai_volume_mm3": "412.5", "scanner_vendor": "Siemens",
        "emphysema_grade": "mild"}
    # wrapped in a DiagnosticReport performed by the Device; score in %; patient by urn:uuid fullUrl
    assert (mapped[9]["device_id"], mapped[9]["score"], mapped[9]["patient_id"], mapped[9]["study_uid"]) == \
        ("lung-nodule-ct", "0.12", "MRN-000482", "1.2.826.0.1.3680043.8.498.10002")


def test_ground_truth_example_links_by_ai_result_and_by_study() -> None:
    log = FhirBundleLog(EXAMPLES / "ground-truth.fhir.json", kind="ground_truth", device_id="lung-nodule-ct")
    assert log.rejections() == []
    assert rows(log) == {
        1: {"prediction_id": "FHIR-AI-0001", "study_uid": None, "accession_number": None, "device_id": "lung-nodule-ct", "label": "1",
            "confirmed_at": "2025-11-24T16:30:00+08:00", "source": "histopathology", "correction_reason": None},
        2: {"prediction_id": None, "study_uid": "1.2.826.0.1.3680043.8.498.10002", "accession_number": None,
            "device_id": "lung-nodule-ct",
            "label": "0", "confirmed_at": "2026-01-12T15:00:00+08:00", "source": "follow_up",
            "correction_reason": None}}


def test_ground_truth_from_condition_with_the_ai_observation_in_the_bundle() -> None:
    source = example()
    ai = source["entry"][6]["resource"]
    device = source["entry"][0]["resource"]
    condition = {"resourceType": "Condition", "id": "c1", "recordedDate": "2026-01-05T10:00:00+08:00",
                 "subject": {"reference": "Patient/p1"},
                 "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                                              "condition-ver-status", "code": "refuted"}]},
                 "evidence": [{"detail": [{"reference": "Observation/ai-1"}]}]}
    patient = source["entry"][2]["resource"]
    log = FhirBundleLog(bundle(condition, ai, device, patient,
                               source["entry"][4]["resource"], source["entry"][1]["resource"]), kind="ground_truth")
    assert rows(log)[1] == {"prediction_id": "FHIR-AI-0001", "study_uid": None, "accession_number": None,
                            "device_id": "lung-nodule-ct",
                            "label": "0", "confirmed_at": "2026-01-05T10:00:00+08:00",
                            "source": "clinical_diagnosis", "correction_reason": None}
    assert log.rejections() == []  # the AI Observation, Device, Patient and study are context


@pytest.mark.parametrize(("document", "code", "reason"), [
    (b"{not json", "invalid_json", "the document is not valid JSON: Expecting property name"),
    (b'{"resourceType": "Observation", "id": "o1"}', "not_a_bundle", "the document is Observation/o1, not a FHIR"),
    (b"[1, 2]", "not_a_bundle", "the document is list, not a FHIR Bundle"),
])
def test_documents_that_are_not_bundles(document: bytes, code: str, reason: str) -> None:
    log = FhirBundleLog(document, kind="predictions")
    [rejection] = log.rejections()
    assert (rejection.row_number, rejection.code) == (0, code) and rejection.reason.startswith(reason)
    assert rows(log) == {} and "prediction_id" in log.columns


def test_unrelated_dangling_and_unmappable_resources() -> None:
    source = example()
    source["entry"][6]["resource"]["device"] = {"reference": "Device/missing"}
    source["entry"][8]["resource"]["interpretation"] = [{"coding": [{"system": "http://snomed.info/sct",
                                                                    "code": "254637007"}]}]
    source["entry"].append({"resource": {"resourceType": "Medication", "id": "m1"}})
    source["entry"].append({"resource": {"resourceType": "Observation", "id": "bp", "status": "final",
                                         "code": {"text": "blood pressure"}}})
    source["entry"].append({"resource": {"resourceType": "Observation", "id": "bad", "status": "final",
                                         "code": {"text": "x"}, "valueQuantity": "high"}})
    log = FhirBundleLog(json.dumps(source).encode(), kind="predictions")
    found = {r.row_number: (r.record_id, r.code, r.reason) for r in log.rejections()}
    assert found[7] == ("Observation/ai-1", "dangling_reference",
                        "Observation/ai-1: device references Device/missing, which is not in the Bundle")
    assert found[9][1] == "unmapped_code" and "254637007" in found[9][2]
    assert found[10] == ("Medication/m1", "unrelated_resource", ("Medication/m1: resource type Medication does not "
                         "map to a prediction row (expected Observation (an AI result))"))
    assert found[11][1] == "not_an_ai_result"
    assert found[12][1] == "invalid_resource" and "valueQuantity" in found[12][2]
    assert rows(log) == {}


def test_extension_cannot_replace_a_fhir_element() -> None:
    source = example()
    source["entry"][6]["resource"]["extension"] = [{"url": EXTENSION_URL, "extension": [
        {"url": "name", "valueString": "score"}, {"url": "value", "valueDecimal": 0.1}]}]
    log = FhirBundleLog(json.dumps(source).encode(), kind="predictions")
    [rejection] = log.rejections()
    assert (rejection.row_number, rejection.code) == (7, "invalid_extension")


def test_failed_ai_result_and_unlinked_ground_truth() -> None:
    source = example()
    ai = source["entry"][6]["resource"]
    del ai["valueQuantity"], ai["interpretation"]
    ai["dataAbsentReason"] = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/data-absent-reason",
                                          "code": "error"}]}
    log = FhirBundleLog(json.dumps(source).encode(), kind="predictions")
    assert {k: rows(log)[7][k] for k in ("result_status", "failure_reason", "score")} == \
        {"result_status": "failed", "failure_reason": "error", "score": None}
    orphan = {"resourceType": "DiagnosticReport", "id": "r", "status": "final", "code": {"text": "x"},
              "conclusionCode": [{"coding": [{"system": "http://snomed.info/sct", "code": "10828004"}]}]}
    [rejection] = FhirBundleLog(bundle(orphan), kind="ground_truth").rejections()
    assert (rejection.record_id, rejection.code) == ("DiagnosticReport/r", "unlinked")


def _hl7_documents() -> list[tuple[str, bytes]]:
    if not HL7_EXAMPLES.is_dir():
        pytest.fail(f"the official HL7 FHIR R4 examples are missing at {HL7_EXAMPLES}: run `scripts/setup.sh test`")
    documents = []
    for index, path in enumerate(sorted(HL7_EXAMPLES.glob("*.json"))):
        data = path.read_bytes()
        if path.name.startswith("Bundle-"):
            documents.append((path.name, data))
        elif path.name.split("-")[0] in ("Observation", "DiagnosticReport", "Condition", "ImagingStudy", "Patient",
                                         "Device") or index % 10 == 0:  # every mapped type; a tenth of the rest
            resource = json.loads(data)
            documents.append((path.name, json.dumps({"resourceType": "Bundle", "type": "collection",
                                                     "entry": [{"fullUrl": "urn:uuid:0", "resource": resource}]})
                              .encode()))
    return documents


def test_official_hl7_examples_are_mapped_or_rejected_with_reasons() -> None:
    documents = _hl7_documents()
    assert sum(name.startswith("Bundle-") for name, _ in documents) == 44
    for name, data in documents:
        entries = json.loads(data).get("entry") or []
        for kind in ("predictions", "ground_truth"):
            log = FhirBundleLog(data, kind=kind)
            mapped = rows(log)
            rejected = log.rejections()
            assert all(r.reason and r.code for r in rejected), name
            numbers = set(mapped) | {r.row_number for r in rejected}
            assert numbers <= set(range(len(entries) + 1)), name
            assert not set(mapped) & {r.row_number for r in rejected}, name
            if len(entries) == 1:
                assert numbers == {1}, (name, kind)  # a lone resource is a row or a rejection, never lost
