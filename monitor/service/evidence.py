"""Gather the adjustments of a run's evidence from the database, for the decision rule
(:mod:`monitor.domain.evidence`), with the document sections that report them:

* label maturity (``label_arrival``: final labels and the share of expected labels; docs/maturity.md);
* verification by design (``verification_design`` and ``audit_plan``; docs/verification.md), whose
  corrected estimates replace the naive counts only when the device declares an audit design;
* patient clustering (``clustering``: design effects; docs/clustering.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from monitor.domain.device import DeviceConfig
from monitor.domain.evidence import Adjustments
from monitor.domain.verification_design import audit_plan, corrected_estimates, design_check
from monitor.domain.window_aggregates import WindowAggregates
from monitor.service.cells import window_aggregates
from monitor.service.label_maturity import assess_label_maturity
from monitor.service.patient_clusters import patient_clustering
from monitor.service.sections import Window

__all__ = ["GatheredEvidence", "gather_evidence"]


@dataclass(frozen=True)
class GatheredEvidence:
    """The run's adjustments and the sections of the analysis document that report them."""

    adjustments: Adjustments
    sections: dict[str, Any] = field(default_factory=dict)


def gather_evidence(unit: Any, config: DeviceConfig, window: Window, cells: pd.DataFrame, *, cases: Any,
                    current: WindowAggregates | None = None) -> GatheredEvidence:
    """Every adjustment of the run's stratum-metrics (keyed by model version, stratum key and metric) and
    the sections ``label_arrival``, ``clustering``, ``verification_design`` and ``audit_plan``.

    ``cells`` are the confusion cells the claims are evaluated on; ``cases`` the window's cases,
    materialised once for the analysis (:func:`monitor.service.window.materialised_cases`: the final labels
    and the repeated patients are counted from them). ``current``: the window's aggregates
    when the caller has read them (:func:`monitor.service.cells.window_aggregates`, from the months or
    the rows): their verification cells and label sources are used instead of counting the window's rows
    again; without it they are read the same way (months already fresh for the cut-off, else rows)."""
    maturity = assess_label_maturity(unit, config, window, cases)
    design_effects, clustering = patient_clustering(unit, config, cells, cases)
    if current is None:
        current = window_aggregates(unit, config, window, None).aggregates
    verification, sources = current.verification, current.label_sources
    adjustments = Adjustments(
        final_counts=maturity.final_counts,
        corrected=corrected_estimates(verification, cells, config),
        design_effects=design_effects,
        min_expected_share=config.labels.min_expected_share,
    )
    return GatheredEvidence(adjustments, {
        "label_arrival": maturity.section,
        "clustering": clustering,
        "verification_design": design_check(verification, config, label_sources=sources),
        "audit_plan": audit_plan(verification, cells, config,
                                 relative_half_width=config.labels.audit_relative_half_width),
    })
