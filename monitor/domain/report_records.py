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

from pydantic import BaseModel, ConfigDict

__all__ = ["AuditActions", "AuditAnchor", "Annexes", "AnalysisPlan", "FamilyPlan", "Integrity", "Recipient", "retained_until"]

VERIFY_COMMAND = "samd-monitor audit verify --head <audit head>"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AuditAnchor(_Model):
    """The audit record of the analysis run: what the chain covers up to the run."""

    seq: int
    hash: str
    at: str
    action: str


class Recipient(_Model):
    role: str
    name: str | None


class Integrity(_Model):
    analysis_record: AuditAnchor | None
    verify_command: str
    head_recorded_with: Literal["report_revision"]
    distribution: list[Recipient]
    retention_years: int | None
    retention_basis: str | None
    retained_until: date | None


class FamilyPlan(_Model):
    model_version: str
    family: str
    size: int
    method: str
    level: float
    error_rate: str


class AnalysisPlan(_Model):
    """The pre-specified analysis plan the run applied: the decision rule and the configuration."""

    decision_rule: str | None
    families: list[FamilyPlan]
    config_hash: str
    current_config_hash: str
    current_config_version: int | None
    interval_method: str
    confidence: float
    alpha: float
    fdr: float


class AuditActions(_Model):
    action: str
    records: int


class Annexes(_Model):
    analysis_plan: AnalysisPlan
    software_version: str
    analysis_software_version: str
    run_id: str
    input_fingerprint: str
    baseline_period: str | None
    baseline_run_id: str | None
    audit_actions_since_baseline: list[AuditActions]


def retained_until(last_day: date, years: int | None) -> date | None:
    """The last day a report of a period ending on ``last_day`` is kept (29 February moves to the 28th)."""
    if years is None:
        return None
    try:
        return last_day.replace(year=last_day.year + years)
    except ValueError:
        return last_day.replace(year=last_day.year + years, day=28)
