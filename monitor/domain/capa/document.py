"""The tickets export (``schemas/tickets.schema.json``, generated from these models by schemas/generate.py):
each ticket with its plan, the evidence of every analysis run that flagged it, its transitions, comments and
its CAPA record (:class:`monitor.domain.capa.record.CapaRecord`).

Output models: unknown properties are allowed (an additive field keeps the schema version); the CAPA record's
own sections are strict.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from monitor.domain.capa.record import CapaRecord

__all__ = ["Comment", "Evidence", "FindingEvidence", "GroupedUnder", "RelatedFinding", "Ticket",
           "TicketsDocument", "Transition"]

Metric = Literal["sensitivity", "specificity", "ppv", "npv",  # and the metrics of claims.metrics
                 "accuracy", "auc", "kappa", "weighted_kappa", "ppa", "npa", "overall_agreement", "within_sla",
                 "lowest_level_fnr", "low_confidence_rate", "review_rate", "lesion_sensitivity", "fp_per_scan"]
Family = Literal["confirmatory", "exploratory"]
_UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


class _Out(BaseModel):
    model_config = ConfigDict(extra="allow")


class RelatedFinding(_Out):
    """A related shortfall finding of the same run, model version and metric, grouped under this ticket."""

    finding_id: str = Field(description="The related finding (findings[].finding_id of the run's analysis document).")
    own_ticket_id: str | None = Field(description="An open ticket of the related finding's own stratum (opened by "
                                      "an earlier run), which received this run's evidence with grouped_under; null "
                                      "when none.")
    stratum: str = Field(description="Its stratum key.")
    attributes: dict[str, str] = Field(description="Its stratum's assignments.")
    metric: Metric = Field(description="The metric.")
    successes: int | None = Field(default=None, description="Successes of the related stratum-metric (raw counts).")
    trials: int | None = Field(default=None, description="Trials of the related stratum-metric (raw counts).")
    estimate: float | None = Field(default=None, description="Its estimate.")
    ci_low: float | None = Field(default=None, description="Lower limit of its two-sided interval.")
    ci_high: float | None = Field(default=None, description="Upper limit of its two-sided interval.")
    performance_goal: float | None = Field(default=None, description="claim - margin.")
    p_value: float | None = Field(default=None, description="Exact test of H0: p >= claim (reported, not deciding).")
    p_shortfall: float | None = Field(default=None, description="Exact one-sided p-value of H0: metric >= "
                                      "performance_goal (raw, before the family's adjustment).")
    q_value: float | None = Field(default=None, description="p_shortfall adjusted within its family.")
    family: Family | None = Field(default=None, description="The pre-specified decision family.")


class GroupedUnder(_Out):
    """The ticket a finding of this ticket's stratum was grouped under in a run."""

    ticket_id: str = Field(description="The ticket this finding belongs to.")
    finding_id: str = Field(description="That ticket's primary finding.")
    stratum: str = Field(description="That ticket's stratum.")


class FindingEvidence(_Out):
    """The finding's statistics (as in the analysis document's results) with the run, period and cut-off they
    come from (docs/methods.md for each statistic)."""

    stratum: str = Field(description="Stratum key.")
    attributes: dict[str, str] = Field(description="Stratum assignments.")
    metric: Metric = Field(description="The metric.")
    successes: int = Field(ge=0, description="Numerator of the metric.")
    trials: int = Field(ge=0, description="Denominator of the metric.")
    estimate: float | None = Field(description="Point estimate successes/trials.")
    ci_low: float | None = Field(description="Lower limit of the two-sided interval.")
    ci_high: float | None = Field(description="Upper limit of the two-sided interval.")
    claim: float | None = Field(description="Claimed value of the metric for this stratum.")
    margin: float | None = Field(description="Clinically relevant drop below the claim.")
    performance_goal: float | None = Field(description="claim - margin.")
    p_value: float | None = Field(description="Exact one-sided p-value of H0: metric >= claim (reported, not deciding).")
    q_value: float | None = Field(description="p_shortfall adjusted within its family.")
    minimal_detectable_drop: float | None = Field(description="Drop below the claim the rule flags with rules.power.")
    run_id: str = Field(description="The analysis run that produced this evidence.")
    period: str = Field(description="Label of the analysed period.")
    data_cutoff: str = Field(description="Data cut-off of that analysis run (UTC).")
    related_findings: list[RelatedFinding] | None = Field(default=None, description="The run's other shortfall "
                                                          "findings whose strata overlap this one's (this finding is "
                                                          "their group's primary).")
    grouped_under: GroupedUnder | None = Field(default=None, description="Present when this stratum was grouped "
                                               "under a more specific finding's ticket.")
    log10_p_value: float | None = Field(default=None, description="log10 of p_value.")
    p_shortfall: float | None = Field(default=None, description="Exact one-sided p-value of H0: metric >= "
                                      "performance_goal (raw).")
    log10_p_shortfall: float | None = Field(default=None, description="log10 of p_shortfall.")
    log10_q_value: float | None = Field(default=None, description="log10 of q_value.")
    family: Family | None = Field(default=None, description="The pre-specified decision family.")
    family_size: int | None = Field(default=None, description="Number of stratum-metrics in the family.")
    family_level: float | None = Field(default=None, description="The family's level.")
    effective_successes: float | None = Field(default=None, description="Successes of the evidence the rule decides "
                                              "on (Korn-Graubard effective count).")
    effective_trials: float | None = Field(default=None, description="Trials of the evidence the rule decides on.")
    basis: list[Literal["final_labels", "verification_corrected", "cluster_robust"]] | None = Field(
        default=None, description="Adjustments of the evidence, in the order applied ([] = the plain counts).")
    design_effect: float | None = Field(default=None, description="Design effect of patient clustering (1 = none).")
    expected_share: float | None = Field(default=None, description="Share of the expected labels that are final.")
    provisional: bool | None = Field(default=None, description="The evidence rests on too few of the expected "
                                     "labels to be decided.")


class Evidence(_Out):
    """The evidence one analysis run added to a ticket."""

    run_id: str = Field(pattern=_UUID, description="The analysis run.")
    finding_id: str = Field(pattern=_UUID, description="The finding of that run.")
    evidence: FindingEvidence = Field(description="The finding's statistics.")
    added_at: datetime = Field(description="When the evidence was added (UTC).")


class Transition(_Out):
    """One status change."""

    from_status: str | None = Field(description="Status before (null for the opening).")
    to_status: str = Field(description="Status after.")
    actor: str = Field(description="Who made the change.")
    reason: str = Field(description="Why.")
    run_id: str | None = Field(description="The analysis run that opened the ticket, or that met the acceptance "
                               "criteria when closing.")
    at: datetime = Field(description="When (UTC).")


class Comment(_Out):
    """A comment."""

    actor: str = Field(description="Author.")
    body: str = Field(description="Text.")
    at: datetime = Field(description="When (UTC).")


class Ticket(_Out):
    """One ticket: a performance shortfall of one model version in one stratum and metric."""

    ticket_id: str = Field(pattern=r"^[A-Z]+-[0-9]+$", description="Ticket id (RT-000001 style), in order of creation.")
    status: Literal["open", "triaged", "in_progress", "validating", "closed", "rejected"] = Field(
        description="Lifecycle status: open -> triaged -> in_progress (investigation) -> validating "
                    "(implementation and verification) -> closed, or rejected (with a reason) before closed; a ticket "
                    "with a CAPA record moves only when the record holds what the target needs (docs/tickets.md).")
    device_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", description="Device id.")
    model_version: str = Field(description="Model version whose performance fell short.")
    stratum: str = Field(description="Stratum key where it fell short.")
    metric: Metric = Field(description="The metric that fell short.")
    title: str = Field(min_length=1, description="One-line summary written when the ticket was opened.")
    created_at: datetime = Field(description="When the ticket was opened (UTC).")
    updated_at: datetime = Field(description="When evidence, a transition, a comment or the CAPA record last changed.")
    evidence: list[Evidence] = Field(description="Evidence of each analysis run that flagged the combination while "
                                     "the ticket was open, oldest first (at most one entry per run).")
    severity: Literal["critical", "major", "minor"] | None = Field(default=None, description="Severity fixed at "
                                                                    "creation (docs/tickets.md severity table).")
    containment: str | None = Field(default=None, description="Suggested containment while the ticket is open.")
    acceptance_criteria: dict[str, Any] | None = Field(default=None, description="Acceptance criteria fixed when the "
                                                       "ticket was opened (the CAPA record's acceptance.rule).")
    data_collection_target: int | None = Field(default=None, ge=0, description="Cases needed in the stratum for the "
                                               "exact one-sided binomial test to detect a drop to claim - margin.")
    closed_run_id: str | None = Field(default=None, description="The analysis run that met the acceptance criteria.")
    resolution: str | None = Field(default=None, description="Why the ticket was closed or rejected.")
    transitions: list[Transition] = Field(default_factory=list, description="Every status change, oldest first.")
    comments: list[Comment] = Field(default_factory=list, description="Comments, oldest first.")
    capa: CapaRecord | None = Field(default=None, description="The CAPA record of regulatory.md section 3 (null on "
                                    "tickets opened before records were kept).")


class TicketsDocument(_Out):
    """Corrective-action tickets with their evidence and CAPA records, oldest first."""

    schema_: Literal["samd-monitor/tickets"] = Field(alias="schema", description="Kind of document: always "
                                                     "samd-monitor/tickets.")
    schema_version: Literal[1] = Field(description="Version of this format. Additive changes keep it.")
    tickets: list[Ticket] = Field(description="The tickets selected by the export's filters, in order of creation.")
