"""Input formats beyond CSV and Parquet: JSON records, NDJSON, HL7 FHIR R4 Bundles, DICOM SR (TID 1500).

Each module offers a log source (``monitor.service.ports.LogSource``) whose chunks hold the
canonical log columns as text, like the CSV reader's, so that one validator serves every
format. Source units that cannot even become a row (a line that is not JSON, a FHIR
resource that cannot be mapped, a DICOM file that is not an SR) are listed by
``rejections()`` with their position and reason.
"""
