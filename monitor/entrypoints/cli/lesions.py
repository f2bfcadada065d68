"""``samd-monitor ingest lesions`` and ``ingest reference-lesions``: the lesion logs of a lesion-level detector
(issue 17 item 2; docs/lesion-detection.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

import typer

from monitor.entrypoints.cli._common import build_app, say
from monitor.entrypoints.cli.ingest import _exact_ages, _open, _print_summary, ingest_app
from monitor.errors import InputError

LesionFormat = Literal["csv", "parquet", "ndjson", "dicom-sr"]
_FORMAT_HELP = ("Format of FILE: csv, parquet, ndjson or dicom-sr (TID 1500 measurement reports, "
                "docs/dicom-sr-mapping.md); default: from the suffix (.csv, .parquet, .ndjson/.jsonl, .dcm or a folder).")


def _is_sr(file: Path, fmt: Optional[str]) -> bool:
    return fmt == "dicom-sr" or (fmt is None and (file.is_dir() or file.suffix.lower() == ".dcm"))


@ingest_app.command("lesions")
def ingest_lesions_cmd(
    file: Path = typer.Argument(..., help="Lesion-finding log (.csv, .parquet, .ndjson/.jsonl), or DICOM SR TID 1500 "
                                          "reports (.dcm or a folder): one row per AI finding of a study."),
    fmt: Optional[LesionFormat] = typer.Option(None, "--input-format", help=_FORMAT_HELP),
    device: Optional[str] = typer.Option(None, "--device", help="Registered lesion device the DICOM SR reports are "
                                                               "of, when they do not name it."),
    as_json: bool = typer.Option(False, "--json", help="Print the batch summary (or summaries) as JSON."),
) -> None:
    """Ingest the AI's lesion findings (one transaction; re-sending changes nothing). From DICOM SR reports the
    study's prediction row is ingested first (a predictions batch), then one lesion row per measurement group."""
    from monitor.adapters.formats.dicom_sr import DicomSrLog
    from monitor.service.ingest import ingest_predictions
    from monitor.service.lesion_ingest import ingest_lesion_findings

    application = build_app()
    if not _is_sr(file, fmt):
        log = _open(application, file, fmt)
        _print_summary(ingest_lesion_findings(log, source=str(file), uow=application.uow, clock=application.clock,
                                              actor=application.actor), as_json)
        return
    if not file.exists():
        raise InputError(f"{file}: no such file or folder")
    reports = DicomSrLog(file, device_id=device, lesions=True)
    studies = ingest_predictions(reports, source=str(file), uow=application.uow,
                                 hash_patient=application.patient_hasher(), clock=application.clock,
                                 actor=application.actor, exact_ages=_exact_ages(application))
    _print_summary(studies, as_json)
    lesions = reports.lesion_log()
    if not lesions.count_rows():
        if not as_json:
            say("  no measurement group: no lesion rows to ingest")
        return
    _print_summary(ingest_lesion_findings(lesions, source=str(file), uow=application.uow, clock=application.clock,
                                          actor=application.actor), as_json)


@ingest_app.command("reference-lesions")
def ingest_reference_lesions_cmd(
    file: Path = typer.Argument(..., help="Reference-lesion log (.csv, .parquet, .ndjson/.jsonl): one row per lesion "
                                          "of the reference standard (docs/lesion-detection.md)."),
    fmt: Optional[Literal["csv", "parquet", "ndjson"]] = typer.Option(None, "--input-format",
                                                                       help="Format of FILE (default: the suffix)."),
    as_json: bool = typer.Option(False, "--json", help="Print the batch summary as JSON."),
) -> None:
    """Ingest reference lesions; a row changing a stored lesion needs correction_reason and adds a version."""
    from monitor.service.lesion_ingest import ingest_reference_lesions

    application = build_app()
    log = _open(application, file, fmt)
    _print_summary(ingest_reference_lesions(log, source=str(file), uow=application.uow, clock=application.clock,
                                            actor=application.actor), as_json)
