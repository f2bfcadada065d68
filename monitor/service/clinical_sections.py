"""The clinical sections of the analysis document, present only when the logs carry their inputs:

* ``failure_rate``: AI failure / no-result rate per stratum (when failures were logged, or a
  maximum is registered in ``claims.failure_rate``); flagged strata become findings of kind
  ``failure_rate``;
* ``human_ai_agreement``: AI call against the clinician's call (when ``human_label`` is logged);
* ``volume_agreement``: AI against reviewed segmentation volume (when both volumes are logged);
* ``model_version_comparison``: two model versions on the same studies (when a ``study_uid`` was
  scored by two versions and has ground truth).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from monitor.domain.device import DeviceConfig
from monitor.domain.failures import failure_rates_by_stratum
from monitor.domain.human_ai_agreement import human_ai_agreement_by_stratum
from monitor.domain.model_comparison import compare_model_versions
from monitor.domain.volume_agreement import volume_agreement_by_stratum

__all__ = ["build_clinical_sections", "failure_rate_findings"]


def build_clinical_sections(unit: Any, config: DeviceConfig, window: Any) -> dict[str, Any]:
    """The clinical sections that have data in ``window`` (a :class:`monitor.service.sections.Window`)."""
    attributes = config.strata.attributes
    span = window.kwargs()
    sections: dict[str, Any] = {}
    failures = unit.clinical.failure_counts(window.device_id, attributes=attributes, **span)
    if config.claims.failure_rate is not None or failures["failure_code"].notna().any():
        sections["failure_rate"] = failure_rates_by_stratum(failures, config)
    agreement = unit.clinical.agreement_table(window.device_id, attributes=attributes, **span)
    if not agreement.empty:
        sections["human_ai_agreement"] = human_ai_agreement_by_stratum(agreement, config)
    volumes = unit.clinical.volume_sums(window.device_id, attributes=attributes,
                                        tolerance=config.monitoring.volume_tolerance, **span)
    if not volumes.empty:
        sections["volume_agreement"] = volume_agreement_by_stratum(volumes, config)
    comparison = compare_model_versions(unit.clinical.paired_score_histogram(window.device_id, **span),
                                        confidence=config.monitoring.confidence)
    if comparison:
        sections["model_version_comparison"] = comparison
    return sections


def failure_rate_findings(rows: list[dict[str, Any]], run_id: str, device_id: str,
                          created: datetime) -> list[dict[str, Any]]:
    """A finding of kind ``failure_rate`` per flagged failure-rate row, whose ``finding_id`` it sets.
    The findings open no ticket (``ticket_id`` null)."""
    found = []
    for row in rows:
        if row["status"] != "flagged":
            continue
        row["finding_id"] = str(uuid.uuid4())
        found.append({
            "finding_id": row["finding_id"], "run_id": run_id, "device_id": device_id,
            "model_version": row["model_version"], "stratum": row["stratum"], "metric": "failure_rate",
            "kind": "failure_rate", "created_at": created, "ticket_id": None,
            "evidence": {k: row[k] for k in ("model_version", "stratum", "failures", "attempts", "rate", "ci_low",
                                             "ci_high", "maximum", "margin", "p_value", "q_value", "by_code")},
        })
    return found
