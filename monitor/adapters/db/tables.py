"""SQLAlchemy Core tables: the one schema, created and changed only by Alembic.

Timestamps are stored as timezone-aware UTC (``DateTime(timezone=True)``); on
SQLite they round-trip through :class:`UtcDateTime`, which re-attaches UTC.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.types import TypeDecorator

__all__ = ["metadata"]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime stored as UTC; naive values are refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


devices = Table(
    "devices",
    metadata,
    Column("device_id", String(64), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("config", JSON, nullable=False),
    Column("config_hash", String(64), nullable=False),
    Column("config_version", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

device_config_versions = Table(
    "device_config_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("device_id", String(64), ForeignKey("devices.device_id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("config", JSON, nullable=False),
    Column("config_hash", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", String(128), nullable=False),
    UniqueConstraint("device_id", "version"),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("device_id", String(64), ForeignKey("devices.device_id"), primary_key=True),
    Column("model_version", String(64), primary_key=True),
    Column("first_seen_at", UtcDateTime, nullable=False),
    Column("first_batch_id", Integer, nullable=False),
)

sites = Table(
    "sites",
    metadata,
    Column("device_id", String(64), ForeignKey("devices.device_id"), primary_key=True),
    Column("site_id", String(64), primary_key=True),
    Column("first_seen_at", UtcDateTime, nullable=False),
    Column("first_batch_id", Integer, nullable=False),
)

ingestion_batches = Table(
    "ingestion_batches",
    metadata,
    Column("batch_id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),  # predictions | ground_truth
    Column("source_name", String(512), nullable=False),
    Column("source_format", String(16), nullable=False),
    Column("source_sha256", String(64), nullable=False),
    Column("rows_total", Integer, nullable=False),
    Column("accepted", Integer, nullable=False),
    Column("duplicates", Integer, nullable=False),
    Column("rejected", Integer, nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=False),
    Column("actor", String(128), nullable=False),
    Index(None, "source_sha256"),
)

predictions = Table(
    "predictions",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("device_id", String(64), nullable=False),
    Column("prediction_id", String(128), nullable=False),
    Column("model_version", String(64), nullable=False),
    Column("site_id", String(64), nullable=False),
    Column("predicted_at", UtcDateTime, nullable=False),
    Column("score", Float, nullable=False),
    Column("predicted_label", SmallInteger, nullable=False),
    Column("patient_hash", String(64), nullable=False),
    Column("age", Float, nullable=True),
    Column("sex", String(16), nullable=True),
    Column("attributes", JSON, nullable=False),
    # Optional clinical context (issue 4): the imaging study, the reading clinician's call, and the
    # AI's and the reviewer's segmentation volumes.
    Column("study_uid", String(128), nullable=True),
    # Keyed hash of the accession number (an identifier: never stored in the clear), for ground truth
    # that names the exam by accession only.
    Column("accession_hash", String(64), nullable=True),
    Column("human_label", SmallInteger, nullable=True),
    Column("ai_volume_mm3", Float, nullable=True),
    Column("reviewed_volume_mm3", Float, nullable=True),
    # Device kinds (issue 17, migration 0013): the level of an ordinal output (predicted_label holds the binary
    # call at outputs.positive_from), the low-confidence flag, and a comparator's score and call.
    Column("predicted_level", SmallInteger, nullable=True),
    Column("low_confidence", SmallInteger, nullable=True),
    Column("comparator_score", Float, nullable=True),
    Column("comparator_label", SmallInteger, nullable=True),
    Column("overlap_volume_mm3", Float, nullable=True),  # AI and reviewed masks' overlap (Dice / IoU)
    Column("row_hash", String(64), nullable=False),
    Column("batch_id", Integer, ForeignKey("ingestion_batches.batch_id"), nullable=False),
    Column("ingested_at", UtcDateTime, nullable=False),
    UniqueConstraint("device_id", "prediction_id"),
    Index(None, "device_id", "predicted_at"),
    # Partial: lookups are always of a given study or accession (migration 0005).
    Index("ix_predictions_device_study", "device_id", "study_uid",
          postgresql_where=text("study_uid IS NOT NULL"), sqlite_where=text("study_uid IS NOT NULL")),
    Index("ix_predictions_device_accession", "device_id", "accession_hash",
          postgresql_where=text("accession_hash IS NOT NULL"), sqlite_where=text("accession_hash IS NOT NULL")),
)

ground_truth = Table(
    "ground_truth",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("device_id", String(64), nullable=False),
    Column("prediction_id", String(128), nullable=False),
    Column("version", Integer, nullable=False),
    Column("label", SmallInteger, nullable=False),
    Column("confirmed_at", UtcDateTime, nullable=False),
    Column("source", String(32), nullable=False),
    Column("intervention_at", UtcDateTime, nullable=True),
    Column("correction_reason", Text, nullable=True),
    # The reference grade of an ordinal device (label holds the binary truth at outputs.positive_from).
    Column("label_level", SmallInteger, nullable=True),
    Column("row_hash", String(64), nullable=False),
    Column("batch_id", Integer, ForeignKey("ingestion_batches.batch_id"), nullable=False),
    Column("ingested_at", UtcDateTime, nullable=False),
    Column("is_latest", Boolean, nullable=False),
    UniqueConstraint("device_id", "prediction_id", "version"),
    Index(None, "device_id", "prediction_id", "is_latest"),
)

rejected_rows = Table(
    "rejected_rows",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("batch_id", Integer, ForeignKey("ingestion_batches.batch_id"), nullable=False),
    Column("row_number", Integer, nullable=False),
    Column("record_id", String(128), nullable=True),
    Column("reason_code", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    Column("raw", JSON, nullable=False),
    # Quarantine workflow: open -> resubmitted (a later batch accepted the corrected row) | dismissed.
    Column("status", String(16), nullable=False, server_default="open"),
    Column("resolved_batch_id", Integer, nullable=True),
    Column("resolved_at", UtcDateTime, nullable=True),
    Column("resolved_by", String(128), nullable=True),
    Column("resolution_note", Text, nullable=True),
    # SHA-256 of the log kind, reason and stored content: an open entry re-sent unchanged is recognised.
    Column("content_hash", String(64), nullable=True),
    Index(None, "batch_id", "row_number"),
    Index("ix_rejected_rows_content_hash", "content_hash"),
)

analysis_runs = Table(
    "analysis_runs",
    metadata,
    Column("run_id", String(36), primary_key=True),
    Column("device_id", String(64), ForeignKey("devices.device_id"), nullable=False),
    Column("period", String(32), nullable=False),
    Column("period_start", UtcDateTime, nullable=False),
    Column("period_end", UtcDateTime, nullable=False),
    Column("data_cutoff", UtcDateTime, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("software_version", String(32), nullable=False),
    Column("config_hash", String(64), nullable=False),
    Column("input_fingerprint", String(64), nullable=False),
    Column("document", JSON, nullable=False),
    Column("actor", String(128), nullable=False),
    Index(None, "device_id", "period"),
)

stratum_results = Table(
    "stratum_results",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("run_id", String(36), ForeignKey("analysis_runs.run_id"), nullable=False),
    Column("model_version", String(64), nullable=False),
    Column("stratum", String(512), nullable=False),
    Column("level", SmallInteger, nullable=False),
    Column("metric", String(32), nullable=False),
    Column("successes", Integer, nullable=False),
    Column("trials", Integer, nullable=False),
    Column("estimate", Float, nullable=True),
    Column("ci_low", Float, nullable=True),
    Column("ci_high", Float, nullable=True),
    Column("claim", Float, nullable=True),
    Column("margin", Float, nullable=True),
    Column("p_value", Float, nullable=True),
    Column("q_value", Float, nullable=True),
    Column("status", String(24), nullable=False),  # ok | flagged | insufficient | not_tested
    Column("additional_needed", Integer, nullable=True),
    Index(None, "run_id", "stratum"),
)

findings = Table(
    "findings",
    metadata,
    Column("finding_id", String(36), primary_key=True),
    Column("run_id", String(36), ForeignKey("analysis_runs.run_id"), nullable=False),
    Column("device_id", String(64), nullable=False),
    Column("model_version", String(64), nullable=False),
    Column("stratum", String(512), nullable=False),
    Column("metric", String(32), nullable=False),
    Column("kind", String(32), nullable=False),  # performance
    Column("evidence", JSON, nullable=False),
    Column("ticket_id", String(32), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
)

tickets = Table(
    "tickets",
    metadata,
    Column("ticket_id", String(32), primary_key=True),
    Column("seq", Integer, nullable=False, unique=True),
    Column("device_id", String(64), nullable=False),
    Column("model_version", String(64), nullable=False),
    Column("stratum", String(512), nullable=False),
    Column("metric", String(32), nullable=False),
    Column("status", String(24), nullable=False),
    # Set while the ticket is open, NULL once closed: a portable "one open ticket per key".
    Column("open_key", String(700), nullable=True, unique=True),
    Column("title", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    # Corrective-action fields fixed at creation (issue 5).
    Column("severity", String(16), nullable=True),
    Column("containment", Text, nullable=True),
    Column("acceptance_criteria", JSON, nullable=True),
    Column("data_collection_target", Integer, nullable=True),
    Column("closed_run_id", String(36), nullable=True),
    Column("resolution", Text, nullable=True),
    # The CAPA record of regulatory.md section 3 (monitor.domain.capa.CapaRecord as JSON; issue 16, migration 0011).
    Column("capa", JSON, nullable=True),
)

ticket_evidence = Table(
    "ticket_evidence",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ticket_id", String(32), ForeignKey("tickets.ticket_id"), nullable=False),
    Column("run_id", String(36), ForeignKey("analysis_runs.run_id"), nullable=False),
    Column("finding_id", String(36), ForeignKey("findings.finding_id"), nullable=False),
    Column("evidence", JSON, nullable=False),
    Column("added_at", UtcDateTime, nullable=False),
    UniqueConstraint("ticket_id", "run_id"),
)

reports = Table(
    "reports",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("report_id", String(36), nullable=False),
    Column("run_id", String(36), ForeignKey("analysis_runs.run_id"), nullable=False),
    Column("device_id", String(64), nullable=False),
    Column("period", String(32), nullable=False),
    Column("format", String(16), nullable=False),
    Column("path", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("language", String(16), nullable=True),
    UniqueConstraint("report_id", "format", "language"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("action", String(64), nullable=False),
    Column("entity", String(64), nullable=False),
    Column("entity_id", String(255), nullable=False),
    Column("details", JSON, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    # The keyed chain (issue 16, migration 0010): the key's fingerprint (NULL: a legacy unkeyed record) and the
    # digests of the regulated rows of the record's entity (monitor.domain.audit_chain).
    Column("key_id", String(16), nullable=True),
    Column("row_digests", JSON(none_as_null=True), nullable=True),
    Index("ix_audit_log_entity", "entity", "entity_id", "seq"),
)


# --- ingestion (issue 3) ---------------------------------------------------------------------

prediction_retractions = Table(
    "prediction_retractions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("device_id", String(64), nullable=False),
    Column("prediction_id", String(128), nullable=False),
    Column("retracted_at", UtcDateTime, nullable=False),
    Column("reason", Text, nullable=False),
    Column("batch_id", Integer, ForeignKey("ingestion_batches.batch_id"), nullable=False),
    Column("ingested_at", UtcDateTime, nullable=False),
    UniqueConstraint("device_id", "prediction_id"),
)

prediction_failures = Table(
    "prediction_failures",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("device_id", String(64), nullable=False),
    Column("prediction_id", String(128), nullable=False),
    Column("model_version", String(64), nullable=False),
    Column("site_id", String(64), nullable=False),
    Column("predicted_at", UtcDateTime, nullable=False),
    Column("failure_code", String(64), nullable=False),
    Column("patient_hash", String(64), nullable=False),
    Column("age", Float, nullable=True),
    Column("sex", String(16), nullable=True),
    Column("attributes", JSON, nullable=False),
    Column("study_uid", String(128), nullable=True),
    Column("row_hash", String(64), nullable=False),
    Column("batch_id", Integer, ForeignKey("ingestion_batches.batch_id"), nullable=False),
    Column("ingested_at", UtcDateTime, nullable=False),
    UniqueConstraint("device_id", "prediction_id"),
    Index("ix_prediction_failures_device_time", "device_id", "predicted_at"),
)

# --- access control (issues 3 and 6) -----------------------------------------------------------

users = Table(
    "users",
    metadata,
    Column("user_id", String(64), primary_key=True),
    Column("display_name", String(255), nullable=False),
    Column("role", String(16), nullable=False),  # qa | auditor | admin
    Column("password_hash", String(255), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("disabled_at", UtcDateTime, nullable=True),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("token_id", String(32), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("role", String(16), nullable=False),  # device | qa | auditor | admin
    Column("device_id", String(64), nullable=True),
    Column("user_id", String(64), nullable=True),
    Column("secret_hash", String(255), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("expires_at", UtcDateTime, nullable=True),
    Column("revoked_at", UtcDateTime, nullable=True),
    Column("last_used_at", UtcDateTime, nullable=True),
)

# --- tickets, reports and signatures (issue 5) --------------------------------------------------

ticket_transitions = Table(
    "ticket_transitions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ticket_id", String(32), ForeignKey("tickets.ticket_id"), nullable=False),
    Column("from_status", String(24), nullable=True),
    Column("to_status", String(24), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("reason", Text, nullable=False),
    Column("run_id", String(36), nullable=True),
    Column("at", UtcDateTime, nullable=False),
)

ticket_comments = Table(
    "ticket_comments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ticket_id", String(32), ForeignKey("tickets.ticket_id"), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("body", Text, nullable=False),
    Column("at", UtcDateTime, nullable=False),
)

webhook_outbox = Table(
    "webhook_outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ticket_id", String(32), nullable=False),
    Column("event", String(32), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("delivered_at", UtcDateTime, nullable=True),
    Column("last_error", Text, nullable=True),
)

report_revisions = Table(
    "report_revisions",
    metadata,
    Column("report_id", String(36), primary_key=True),
    Column("device_id", String(64), nullable=False),
    Column("period", String(32), nullable=False),
    Column("run_id", String(36), ForeignKey("analysis_runs.run_id"), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("status", String(16), nullable=False),  # draft | signed | superseded
    Column("supersedes", String(36), nullable=True),
    Column("languages", String(32), nullable=False),
    Column("content_sha256", String(64), nullable=False),
    Column("audit_head", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("frozen_at", UtcDateTime, nullable=True),
    UniqueConstraint("device_id", "period", "revision"),
)

report_signatures = Table(
    "report_signatures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("report_id", String(36), ForeignKey("report_revisions.report_id"), nullable=False),
    Column("user_id", String(64), nullable=False),
    Column("printed_name", String(255), nullable=False),
    Column("meaning", String(16), nullable=False),  # authored | reviewed | approved
    Column("signed_at", UtcDateTime, nullable=False),
    Column("content_sha256", String(64), nullable=False),
    UniqueConstraint("report_id", "meaning", "user_id"),
)

# --- the running service (issue 6) ---------------------------------------------------------------

job_runs = Table(
    "job_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_name", String(64), nullable=False),
    Column("job_key", String(255), nullable=False),
    Column("host", String(255), nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=True),
    Column("outcome", String(16), nullable=False),  # running | succeeded | failed | skipped
    Column("error", Text, nullable=True),
    Column("details", JSON, nullable=False),
    Index("ix_job_runs_job_key", "job_key"),
)

job_locks = Table(
    "job_locks",
    metadata,
    Column("job_key", String(255), primary_key=True),
    Column("holder", String(255), nullable=False),
    Column("acquired_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
)

completed_jobs = Table(
    "completed_jobs",
    metadata,
    Column("job_key", String(255), primary_key=True),
    Column("completed_at", UtcDateTime, nullable=False),
    Column("run_id", Integer, nullable=False),
    Column("result", JSON, nullable=False),
)

# Count cells (issue 7): confusion counts per device, local calendar month of the AI result,
# model version and stratum key (every configured attribute's label), rebuilt per month after
# an ingest marks it dirty, so an analysis reads cells instead of rows.
cell_months = Table(
    "cell_months",
    metadata,
    Column("device_id", String(64), primary_key=True),
    Column("month", String(7), primary_key=True),  # YYYY-MM in the device's monitoring time zone
    Column("state", String(8), nullable=False),  # dirty | fresh
    Column("config_hash", String(64), nullable=True),
    Column("refreshed_at", UtcDateTime, nullable=True),
    Column("predictions", BigInteger, nullable=True),
)

case_cells = Table(
    "case_cells",
    metadata,
    Column("device_id", String(64), primary_key=True),
    Column("month", String(7), primary_key=True),
    Column("model_version", String(64), primary_key=True),
    Column("stratum_key", Text, primary_key=True),  # JSON object: attribute name -> stratum label
    Column("tp", BigInteger, nullable=False),
    Column("fp", BigInteger, nullable=False),
    Column("fn", BigInteger, nullable=False),
    Column("tn", BigInteger, nullable=False),
    Column("pending", BigInteger, nullable=False),  # predictions whose ground truth has not arrived
)

# Federated site summaries (issue 7, item 4): the sites' Ed25519 public keys, the signed count-table
# bundles they send (kept exactly as received; a newer bundle of a site supersedes an older one month
# by month, both stay stored) and the bundles' cells.
site_keys = Table(
    "site_keys",
    metadata,
    Column("key_id", String(64), primary_key=True),  # SHA-256 of the raw public key, hex
    Column("site_id", String(64), nullable=False),
    Column("public_key", String(64), nullable=False),  # raw 32-byte Ed25519 public key, hex
    Column("devices", JSON, nullable=False),  # device ids the site may send summaries of
    Column("registered_at", UtcDateTime, nullable=False),
    Column("registered_by", String(128), nullable=False),
    Column("revoked_at", UtcDateTime, nullable=True),  # replaced by a newer key of the site
    Column("revoked_by", String(128), nullable=True),
    Index(None, "site_id"),
)

site_summaries = Table(
    "site_summaries",
    metadata,
    Column("bundle_id", String(64), primary_key=True),  # SHA-256 of the signed payload
    Column("device_id", String(64), nullable=False),
    Column("site_id", String(64), nullable=False),
    Column("key_id", String(64), ForeignKey("site_keys.key_id"), nullable=False),
    Column("config_hash", String(64), nullable=False),
    Column("period", String(32), nullable=False),
    Column("first_month", String(7), nullable=False),
    Column("last_month", String(7), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),  # at the site, signed
    Column("received_at", UtcDateTime, nullable=False),
    Column("received_by", String(128), nullable=False),
    Column("min_cell_size", Integer, nullable=False),
    Column("cells", Integer, nullable=False),
    Column("small_cells", Integer, nullable=False),
    Column("bundle", Text, nullable=False),  # the bundle file as received (UTF-8 JSON), for re-verification
    Index(None, "device_id", "site_id", "first_month"),
)

site_summary_cells = Table(
    "site_summary_cells",
    metadata,
    Column("bundle_id", String(64), ForeignKey("site_summaries.bundle_id"), primary_key=True),
    Column("month", String(7), primary_key=True),  # YYYY-MM in the device's monitoring time zone
    Column("model_version", String(64), primary_key=True),
    Column("stratum_key", Text, primary_key=True),  # JSON object: attribute name -> stratum label
    Column("tp", BigInteger, nullable=False),
    Column("fp", BigInteger, nullable=False),
    Column("fn", BigInteger, nullable=False),
    Column("tn", BigInteger, nullable=False),
    Column("pending", BigInteger, nullable=False),
    Column("small", Boolean, nullable=False),  # fewer cases than the site's minimum cell size
)

# Per-month aggregates beside the count cells (issue 20): every window aggregate that is a sum of its months'
# values (verification cells, score and feature histograms, label sources), one payload per device, local
# month and kind, recounted in the same pass as the month's count cells and sharing its cell_months state.
month_aggregates = Table(
    "month_aggregates",
    metadata,
    Column("device_id", String(64), primary_key=True),
    Column("month", String(7), primary_key=True),  # YYYY-MM in the device's monitoring time zone
    Column("kind", String(32), primary_key=True),  # a WindowAggregates frame: verification, score_histogram, ...
    Column("payload", LargeBinary, nullable=False),  # the month's frame as an Arrow IPC stream
    Column("config_hash", String(64), nullable=False),
    Column("refreshed_at", UtcDateTime, nullable=False),
)

# CUSUM checkpoints (issue 20, docs/sequential.md section 1c): the state of a model version's charts over
# the cases known before an instant (a period's end), as of the cut-off it was computed at, under each
# chart's design; a later period's analysis resumes the charts there instead of replaying the history.
cusum_checkpoints = Table(
    "cusum_checkpoints",
    metadata,
    Column("checkpoint_id", Integer, primary_key=True, autoincrement=True),
    Column("device_id", String(64), nullable=False),
    Column("model_version", String(64), nullable=False),
    Column("known_before", UtcDateTime, nullable=False),  # the state covers the cases known before this instant
    Column("config_hash", String(64), nullable=False),
    Column("cutoff", UtcDateTime, nullable=False),  # the data cut-off it was computed at
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_cusum_checkpoints_lookup", "device_id", "model_version", "config_hash", "known_before"),
)

cusum_checkpoint_charts = Table(
    "cusum_checkpoint_charts",
    metadata,
    Column("checkpoint_id", Integer, ForeignKey("cusum_checkpoints.checkpoint_id"), primary_key=True),
    Column("stratum", Text, primary_key=True),  # JSON object: attribute name -> stratum label ({} overall)
    Column("metric", String(16), primary_key=True),
    Column("q0", Float, nullable=False),  # the design: charted in-control and designed event rates, threshold
    Column("q1", Float, nullable=False),
    Column("h", Float, nullable=False),
    # The Lindley recursion's state, S = running_sum - running_min (the running sum of the weights since the
    # chart's last restart, and its running minimum): kept as the pair so that a resumed chart adds the same
    # floating-point terms in the same order as a replay (docs/sequential.md, section 1c).
    Column("running_sum", Float, nullable=False),
    Column("running_min", Float, nullable=False),
    Column("cases", BigInteger, nullable=False),  # cases since the chart's start
    Column("corrected", BigInteger, nullable=False),  # of which entered by a label correction
    Column("restarted_ns", BigInteger, nullable=True),  # known-at instant (ns, UTC) of the last alarm's case
)

# The CUSUM design basis of a period (issue 20): each chart's confirmed cases known by the period's start
# and predicted in the year before it (immutable once the period has started), counted once.
cusum_design_bases = Table(
    "cusum_design_bases",
    metadata,
    Column("device_id", String(64), primary_key=True),
    Column("period_start", UtcDateTime, primary_key=True),
    Column("config_hash", String(64), primary_key=True),
    Column("chart_cases", Text, nullable=False),  # JSON: model version -> [[stratum JSON, metric, cases], ...]
    Column("counted_at", UtcDateTime, nullable=False),
)

# The complaints / adverse-event log (issue 16 item 2, migration 0012; monitor.domain.safety_events): one row per
# version of an event (a re-sent event with other content adds a version; the latest known by a cut-off counts).
# Identifiers only as their keyed hash; description is free text (stored, never logged).
safety_events = Table(
    "safety_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("device_id", String(64), nullable=False),
    Column("event_id", String(128), nullable=False),
    Column("version", Integer, nullable=False),
    Column("site_id", String(64), nullable=False),
    Column("received_at", UtcDateTime, nullable=False),  # the awareness date: the reporting clocks start here
    Column("occurred_at", UtcDateTime, nullable=True),
    Column("kind", String(32), nullable=False),
    Column("seriousness", String(32), nullable=False),
    Column("imdrf_codes", JSON, nullable=False),  # list of IMDRF AE codes
    Column("model_version", String(64), nullable=True),
    Column("patient_hash", String(64), nullable=True),
    Column("accession_hash", String(64), nullable=True),
    Column("attributes", JSON, nullable=False),  # attribute name -> stratum label
    Column("description", Text, nullable=False),
    Column("decisions", JSON, nullable=False),  # jurisdiction -> {decision, event_class, rationale, reported_at}
    Column("row_hash", String(64), nullable=False),
    Column("batch_id", Integer, ForeignKey("ingestion_batches.batch_id"), nullable=False),
    Column("ingested_at", UtcDateTime, nullable=False),
    UniqueConstraint("device_id", "event_id", "version"),
    Index(None, "device_id", "received_at"),
)

# The review log (issue 17 item 3, migration 0014; monitor.domain.review_events): one row per version of the review of
# one AI result (a later event of the same case adds a version; the latest known by a cut-off gives its status; a case
# without a row is pending). reviewer is a name, never a patient identifier; note is free text (stored, never logged).
review_events = Table(
    "review_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("device_id", String(64), nullable=False),
    Column("prediction_id", String(128), nullable=False),
    Column("version", Integer, nullable=False),
    Column("status", String(16), nullable=False),  # in_review | confirmed | edited | rejected
    Column("reviewer", String(64), nullable=False),
    Column("reviewed_at", UtcDateTime, nullable=False),
    Column("field", String(32), nullable=True),  # the field an edit changes (reviewed_volume_mm3, label, ...)
    Column("old_value", Float, nullable=True),
    Column("new_value", Float, nullable=True),
    Column("note", Text, nullable=True),
    Column("row_hash", String(64), nullable=False),
    Column("batch_id", Integer, ForeignKey("ingestion_batches.batch_id"), nullable=False),
    Column("ingested_at", UtcDateTime, nullable=False),
    UniqueConstraint("device_id", "prediction_id", "version"),
)

# Lesion-level detection (issue 17 item 2, migration 0015; monitor.domain.lesion_logs). ``lesion_findings``: the
# AI's findings of a study, each tied to the study's prediction row (patient, model version, site, strata); a device
# output, never changed (a different re-send is a conflict). ``reference_lesions``: the reference standard's lesions,
# one row per version (a correction or withdrawal adds a version; an analysis reads the latest received by its
# cut-off).
lesion_findings = Table(
    "lesion_findings",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("device_id", String(64), nullable=False),
    Column("prediction_id", String(128), nullable=False),
    Column("lesion_id", String(128), nullable=False),  # e.g. the DICOM Tracking Unique Identifier
    Column("tracking_id", String(64), nullable=True),  # the DICOM Tracking Identifier text
    Column("finding_type", String(64), nullable=True),  # the Finding code, SCHEME:VALUE
    Column("centre_x_mm", Float, nullable=False),
    Column("centre_y_mm", Float, nullable=False),
    Column("centre_z_mm", Float, nullable=False),
    Column("diameter_mm", Float, nullable=True),
    Column("score", Float, nullable=False),
    Column("row_hash", String(64), nullable=False),
    Column("batch_id", Integer, ForeignKey("ingestion_batches.batch_id"), nullable=False),
    Column("ingested_at", UtcDateTime, nullable=False),
    UniqueConstraint("device_id", "prediction_id", "lesion_id"),
)

reference_lesions = Table(
    "reference_lesions",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("device_id", String(64), nullable=False),
    Column("prediction_id", String(128), nullable=False),
    Column("lesion_id", String(128), nullable=False),
    Column("version", Integer, nullable=False),
    Column("centre_x_mm", Float, nullable=False),
    Column("centre_y_mm", Float, nullable=False),
    Column("centre_z_mm", Float, nullable=False),
    Column("diameter_mm", Float, nullable=True),
    Column("lesion_type", String(64), nullable=True),
    Column("confirmed_at", UtcDateTime, nullable=False),
    Column("source", String(32), nullable=False),
    Column("withdrawn", Boolean, nullable=False),
    Column("correction_reason", Text, nullable=True),
    Column("row_hash", String(64), nullable=False),
    Column("batch_id", Integer, ForeignKey("ingestion_batches.batch_id"), nullable=False),
    Column("ingested_at", UtcDateTime, nullable=False),
    UniqueConstraint("device_id", "prediction_id", "lesion_id", "version"),
)
