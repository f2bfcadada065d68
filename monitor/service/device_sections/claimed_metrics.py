"""Evidence of the claimed metrics the logs of every device measure (accuracy, AUC, agreement with the reader,
share within the SLA; :mod:`monitor.domain.claimed_metrics`): read only for the metrics ``claims.metrics``
claims. It adds no section to the analysis document (its numbers are the ``metric_claims`` rows, beside the
sections they come from: counts, discrimination, human_ai_agreement, time_to_intervention)."""

from __future__ import annotations

from typing import Any

from monitor.domain.claimed_metrics import AGREEMENT_METRICS, accuracy_evidence, agreement_evidence, auc_evidence, \
    within_sla_evidence
from monitor.domain.device import DeviceConfig
from monitor.domain.metric_claims import MetricEvidence
from monitor.service.device_sections import DeviceSection, SectionResult
from monitor.service.window import WindowReads

__all__ = ["SECTION"]


def build(unit: Any, config: DeviceConfig, reads: WindowReads) -> SectionResult | None:
    """The evidence of each claimed metric of this module (``None`` when none is claimed)."""
    claimed = {claim.metric for claim in config.claims.metrics}
    if not claimed & ({"accuracy", "auc", "within_sla"} | AGREEMENT_METRICS):
        return None
    evidence: list[MetricEvidence] = []
    if claimed & {"accuracy", "auc"}:
        aggregates = reads.aggregates
        if "accuracy" in claimed:
            evidence += accuracy_evidence(aggregates.confusion, aggregates.verification, config)
        if "auc" in claimed:
            evidence += auc_evidence(aggregates.score_histogram, config)
    if claimed & AGREEMENT_METRICS:
        window = reads.window
        table = unit.clinical.agreement_table(window.device_id, attributes=config.strata.attributes,
                                              **window.kwargs())
        evidence += agreement_evidence(table, config, frozenset(claimed & AGREEMENT_METRICS))
    if "within_sla" in claimed:
        days = unit.aggregates.intervention_days(reads.cases)
        evidence += within_sla_evidence(days, config)
    return SectionResult(content=None, evidence=evidence)


SECTION = DeviceSection("claimed_metrics", build)
