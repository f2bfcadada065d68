"""Coded values that mean a positive or a negative call or label (FHIR and DICOM SR).

Only codes that say "positive/present/detected" or "negative/absent/not detected" in
general are recognised; a diagnosis code (e.g. a specific carcinoma) is not read as a label,
because whether it is the device's target condition is a clinical decision.
"""

from __future__ import annotations

__all__ = ["SNOMED", "V3_INTERPRETATION", "binary_code"]

SNOMED = "http://snomed.info/sct"
V3_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
# DICOM coding scheme designators (PS3.16 section 8) for the same code systems.
_DESIGNATORS = {"SCT": SNOMED, "SRT": SNOMED, "HL7": V3_INTERPRETATION}
_LABELS = {
    (SNOMED, "10828004"): 1,   # Positive
    (SNOMED, "52101004"): 1,   # Present
    (SNOMED, "373066001"): 1,  # Yes
    (SNOMED, "260385009"): 0,  # Negative
    (SNOMED, "2667000"): 0,    # Absent
    (SNOMED, "373067005"): 0,  # No
    (V3_INTERPRETATION, "POS"): 1,
    (V3_INTERPRETATION, "DET"): 1,
    (V3_INTERPRETATION, "A"): 1,
    (V3_INTERPRETATION, "NEG"): 0,
    (V3_INTERPRETATION, "ND"): 0,
    (V3_INTERPRETATION, "N"): 0,
}


def binary_code(system: str | None, code: str | None) -> int | None:
    """1 or 0 for a recognised positive / negative code, else ``None``; DICOM designators are accepted."""
    if system is None or code is None:
        return None
    return _LABELS.get((_DESIGNATORS.get(system, system), code))
