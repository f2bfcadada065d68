"""The core of the periodic report's content as typed models (``schemas/report.schema.json`` is generated from
them with the registered content sections).

The service (``monitor.service.report.build_content``) builds the content as JSON values and checks it with
:func:`validated` before it is written; the models are strict (no coercion) and frozen like the analysis
document's parts (:mod:`monitor.domain.analysis_document.base`), so that a content validated and dumped with
:func:`as_json` is the same JSON text. ``sections`` is not declared here: its model is composed from the section
registry by the service (the domain knows no section), and :func:`validated` takes that composed model.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import Field, StrictBool, StrictStr

from monitor.domain.analysis_document import AnalysisDocument
from monitor.domain.analysis_document.base import Part
from monitor.domain.analysis_document.metric_claims import ClaimableMetricName
from monitor.domain.analysis_document.values import Count, Metric, Sha256, Text, TimestampUtc, Uuid
from monitor.domain.capa.document import Ticket
from monitor.domain.documents import validate_document

__all__ = ["REPORT_SCHEMA_VERSION", "Baseline", "Batch", "ChangeLog", "OpenedTicket", "Provenance", "RejectedCount",
           "ReportContent", "Rollup", "TicketChange", "Usage", "as_json", "validated"]

#: Version of the report content format (the schema's ``schema_version`` constant).
REPORT_SCHEMA_VERSION = 3

TicketStatus = Literal["open", "triaged", "in_progress", "validating", "closed", "rejected"]


class Batch(Part):
    """An ingestion batch."""

    batch_id: Count = Field(description="Batch id.")
    kind: Literal["predictions", "ground_truth", "retractions"] = Field(description=(
        "predictions, ground_truth or retractions."))
    source: StrictStr = Field(description="Source name (file path or upload name) as recorded at ingestion.")
    source_format: StrictStr = Field(description="csv, parquet, fhir, dicom-sr ...")
    sha256: Sha256 = Field(description="SHA-256 of the ingested file.")
    rows_total: Count = Field(description="Rows in the file.")
    accepted: Count = Field(description="Rows accepted.")
    duplicates: Count = Field(description="Exact duplicates skipped.")
    rejected: Count = Field(description="Rows rejected.")
    finished_at: TimestampUtc = Field(description="When the batch finished.")
    rows_used: Count = Field(description="Rows of this batch used by the analysis (predictions in the period, or "
                                         "their labels).")


class RejectedCount(Part):
    """A count of rejected rows."""

    batch_id: Count = Field(description="Batch id.")
    reason_code: StrictStr = Field(description="Reason code.")
    count: Count = Field(description="Rows.")


class Provenance(Part):
    """Where the data came from: the ingestion batches feeding the period and their rejected rows."""

    batches: list[Batch] = Field(description="One entry per ingestion batch with rows in the period, by batch id.")
    rejected_by_reason: list[RejectedCount] = Field(description="Rejected rows of these batches by batch and reason "
                                                                "code.")


class Usage(Part):
    """Usage in the period."""

    studies: Count = Field(description="AI results (studies processed) in the period.")
    with_ground_truth: Count = Field(description="Of these, with ground truth by the cut-off.")
    awaiting_ground_truth: Count = Field(description="Awaiting ground truth.")
    ai_failures: Count = Field(description="AI failures logged in the period (overall rows of the failure_rate "
                                           "section; 0 when the analysis has none).")
    estimated_uses: Count = Field(description="Estimated uses of the device (用械人次): studies plus AI failures.")
    uses_method: Literal["ai_results_plus_failures"] = Field(description="How estimated_uses is computed.")
    sites: Count = Field(description="Sites with AI results in the period.")


class Baseline(Part):
    """The baseline run."""

    run_id: Uuid = Field(description="Run id.")
    period: StrictStr = Field(description="Its period.")
    config_hash: Sha256 = Field(description="Its configuration hash.")
    created_at: TimestampUtc = Field(description="Its creation time.")
    report_id: Uuid | None = Field(description="Its newest report revision, if any.")
    revision: Count | None = Field(description="That revision's number.")


class OpenedTicket(Part):
    """A ticket."""

    ticket_id: StrictStr = Field(description="Ticket id.")
    model_version: StrictStr = Field(description="Model version.")
    stratum: StrictStr = Field(description="Stratum.")
    metric: Metric | ClaimableMetricName = Field(description="Metric (a claims.metrics metric for a metric-claim ticket).")
    created_at: TimestampUtc = Field(description="Opened.")


class TicketChange(Part):
    """A status change."""

    ticket_id: StrictStr = Field(description="Ticket id.")
    status: TicketStatus = Field(description="Status after the change.")
    at: TimestampUtc = Field(description="When.")


class ChangeLog(Part):
    """Changes since the previous period's analysis of the same device."""

    baseline: Baseline | None = Field(description="The newest stored run of a period ending at or before this "
                                                   "period's start, and its newest report revision; null when none.")
    new_model_versions: list[StrictStr] = Field(description="Model versions with results now but not in the "
                                                            "baseline.")
    retired_model_versions: list[StrictStr] = Field(description="Model versions in the baseline but not now.")
    config_changed: StrictBool = Field(description="Whether the device configuration hash differs from the "
                                                   "baseline's.")
    tickets_opened: list[OpenedTicket] = Field(description="Tickets created after the baseline run and up to this "
                                                           "run.")
    tickets_changed: list[TicketChange] = Field(description="Tickets whose status changed after the baseline run "
                                                            "and up to this run (their last transition).")


class Rollup(Part):
    """The roll-up."""

    periods: list[StrictStr] = Field(min_length=1, description="Quarter labels with a stored run, in order.")
    runs: list[Uuid] = Field(description="The newest run of each of those quarters.")
    method: StrictStr = Field(description="How the roll-up was computed.")


class ReportContent(Part):
    """The machine-readable periodic report of one device and period (monitor.service.report.write_report): the
    content every other format of the same revision (HTML and PDF per language, CSV and XLSX annexes) is rendered
    from. Written by `samd-monitor report --device ID --period P [--rollup] --format json [--out DIR]` as
    DIR/<device>_<period>_r<revision>.json (keys sorted, UTF-8, two-space indent) and by `samd-monitor demo`. It is
    built from stored data only and carries no wall-clock time and no identity of the revision, so the same stored
    data, configuration and software version give byte-identical files; the revision (report id, revision number,
    status, audit-chain head) and the SHA-256 of this file (content_sha256) are recorded in the report_revisions
    table and the audit log, and printed in the HTML/PDF. Timestamps are UTC, written with a Z suffix."""

    schema_: Literal["samd-monitor/report"] = Field(alias="schema", description=(
        "Kind of document: always samd-monitor/report."))
    schema_version: Literal[3] = Field(description=(
        "Version of this format. 2: content without revision identity, with provenance, usage, change log and "
        "roll-up; 3: with the registered content sections (sections)."))
    device_id: Text = Field(description="Device id.")
    period: Text = Field(description="Period label (2025Q3, 2025-07, 2025 or a window).")
    run_id: Uuid = Field(description="The analysis run presented (for a roll-up: the newest quarterly run).")
    generated_at: TimestampUtc = Field(description=(
        "The analysis run's creation time: the report's date (never the wall clock at rendering)."))
    software_version: StrictStr = Field(description="samd-monitor version that wrote the report.")
    analysis: AnalysisDocument = Field(description=(
        "The analysis document the report presents (analysis.schema.json), unchanged; for a roll-up, an "
        "analysis-shaped document built from the quarterly runs (results recomputed from summed counts; sections "
        "that do not add up across quarters are empty)."))
    tickets: list[Ticket] = Field(description=(
        "The retraining tickets named by the findings and control-chart alarms, with their evidence and "
        "transitions, in order of creation (tickets.schema.json)."))
    provenance: Provenance = Field(description=(
        "Where the data came from: the ingestion batches feeding the period and their rejected rows."))
    usage: Usage = Field(description="Usage in the period.")
    change_log: ChangeLog = Field(description="Changes since the previous period's analysis of the same device.")
    rollup: Rollup | None = Field(description=(
        "For an annual roll-up (--rollup): the quarters and runs summed; null otherwise."))


C = TypeVar("C", bound=ReportContent)


def validated(content: dict[str, Any], model: type[C]) -> C:
    """The typed content (``model``: :class:`ReportContent` with the registered sections), checked by
    :func:`monitor.domain.documents.validate_document` (an :class:`~monitor.errors.IntegrityError` naming fields,
    not values)."""
    return validate_document(model, content, what="the report content", unstored="nothing was written")


def as_json(content: ReportContent) -> dict[str, Any]:
    """The content as JSON values, as the service wrote it (fields it did not write stay absent)."""
    return content.model_dump(mode="json", by_alias=True, exclude_unset=True)
