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
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
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
    Column("row_hash", String(64), nullable=False),
    Column("batch_id", Integer, ForeignKey("ingestion_batches.batch_id"), nullable=False),
    Column("ingested_at", UtcDateTime, nullable=False),
    UniqueConstraint("device_id", "prediction_id"),
    Index(None, "device_id", "predicted_at"),
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
    Index(None, "batch_id", "row_number"),
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
    UniqueConstraint("report_id", "format"),
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
)
