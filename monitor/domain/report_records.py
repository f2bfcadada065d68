"""The report's integrity and annex records (regulatory.md section 2, items 18-19 and the annexes; 21 CFR
11.10(e) audit trail available for review, ALCOA+ "enduring / available"): typed rows and their pure rules.

- Audit-trail review attestation: the audit record of the analysis run the report presents (its sequence
  number and chain hash: every record before it is covered by the chain), the head of the chain at generation
  (recorded with the revision, printed in the control block and checked by every ``samd-monitor audit verify``)
  and the command that verifies it.
- Retention: the report and its evidence are kept ``records.retention_years`` after the period's last day.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["AuditActions", "AuditAnchor", "Annexes", "AnalysisPlan", "FamilyPlan", "Integrity", "Recipient", "retained_until"]

VERIFY_COMMAND = "samd-monitor audit verify --head <audit head>"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AuditAnchor(_Model):
    """The audit record of the analysis run: what the chain covers up to the run."""

    seq: int = Field(description="Sequence number of the record in the audit chain.")
    hash: str = Field(description="Its chain hash.")
    at: str = Field(description="When it was recorded.")
    action: str = Field(description="Its action (analysis.run).")


class Recipient(_Model):
    """One entry of the distribution list."""

    role: str = Field(description="Role of the recipient.")
    name: str | None = Field(description="Person or organisation.")


class Integrity(_Model):
    """Audit-trail review attestation, distribution list and retention (regulatory.md section 2, item 18)."""

    analysis_record: AuditAnchor | None = Field(description="The audit record of the analysis run.")
    verify_command: str = Field(description="The command that verifies the chain against the recorded head.")
    head_recorded_with: Literal["report_revision"] = Field(
        description="Where the chain head at generation is recorded (the revision; printed in the control block).")
    distribution: list[Recipient] = Field(description="Distribution list (records.distribution).")
    retention_years: int | None = Field(description="Retention period in years (records.retention_years).")
    retention_basis: str | None = Field(description="Why that long (records.retention_basis).")
    retained_until: date | None = Field(description="The period's last day plus the retention period.")


class FamilyPlan(_Model):
    """One decision family of the analysis plan (analysis.rules.families)."""

    model_version: str = Field(description="Model version.")
    family: str = Field(description="confirmatory or exploratory.")
    size: int = Field(description="Stratum-metrics in the family.")
    method: str = Field(description="holm or bh.")
    level: float = Field(description="Its level (alpha or fdr).")
    error_rate: str = Field(description="FWER or FDR.")


class AnalysisPlan(_Model):
    """The pre-specified analysis plan the run applied: the decision rule and the configuration."""

    decision_rule: str | None = Field(description="The decision rule in words (analysis.rules.decision_rule).")
    families: list[FamilyPlan] = Field(description="The decision families.")
    config_hash: str = Field(description="SHA-256 of the configuration the analysis applied.")
    current_config_hash: str = Field(description="SHA-256 of the device's current configuration.")
    current_config_version: int | None = Field(description="Version number of the current configuration.")
    interval_method: str = Field(description="Confidence-interval method.")
    confidence: float = Field(description="Two-sided confidence level.")
    alpha: float = Field(description="Family-wise level of the confirmatory family.")
    fdr: float = Field(description="False-discovery level of the exploratory family.")


class AuditActions(_Model):
    """Audited actions of one kind since the previous report's analysis."""

    action: str = Field(description="Audit action.")
    records: int = Field(description="Records of that action.")


class Annexes(_Model):
    """Annexes (regulatory.md section 2, item 19): plan, versions, the audited change log since the previous report."""

    analysis_plan: AnalysisPlan = Field(description="The analysis plan and its version.")
    software_version: str = Field(description="samd-monitor version that built the report.")
    analysis_software_version: str = Field(description="samd-monitor version that ran the analysis.")
    run_id: str = Field(description="The analysis run.")
    input_fingerprint: str = Field(description="Fingerprint of the analysis inputs.")
    baseline_period: str | None = Field(description="Period of the previous analysis (None: first report).")
    baseline_run_id: str | None = Field(description="The previous analysis run.")
    audit_actions_since_baseline: list[AuditActions] = Field(
        description="Audited actions between the previous analysis and this one, by action.")


def retained_until(last_day: date, years: int | None) -> date | None:
    """The last day a report of a period ending on ``last_day`` is kept (29 February moves to the 28th)."""
    if years is None:
        return None
    try:
        return last_day.replace(year=last_day.year + years)
    except ValueError:
        return last_day.replace(year=last_day.year + years, day=28)
