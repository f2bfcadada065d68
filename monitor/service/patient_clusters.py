"""Patients counted once where it matters: the design effect of each stratum-metric for the decision rule,
and the analysis document's ``clustering`` section (:mod:`monitor.domain.clustering`)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from monitor.domain.clustering import design_effects, stratum_clustering
from monitor.domain.device import DeviceConfig
from monitor.domain.evidence import EvidenceKey
from monitor.service.ports import UnitOfWork

__all__ = ["CLUSTERING_METHOD", "patient_clustering"]

CLUSTERING_METHOD = (
    "Patient-level cluster-robust variance of each stratum-metric (the GEE independence sandwich of the ratio "
    "estimator, small-sample factor G/(G-1), patients told apart by the keyed hash of their id); design effect = "
    "that variance over the same estimator with every case its own cluster (1 when no patient has two cases in "
    "the stratum-metric). The decision rule divides the stratum-metric's counts by the design effect truncated "
    "at 1 (Liang & Zeger 1986; Rao & Scott 1992; Obuchowski 1998). See docs/clustering.md."
)


def patient_clustering(unit: UnitOfWork, config: DeviceConfig, cells: pd.DataFrame, cases: Any
                       ) -> tuple[dict[EvidenceKey, float], dict[str, Any]]:
    """``(design effects, section)`` of the window: the design effects keyed by (model version, stratum
    key, metric) for :attr:`monitor.domain.evidence.Adjustments.design_effects`, and the ``clustering``
    section of the analysis document (``schemas/analysis.schema.json``).

    ``cells`` are the confusion cells the claims are evaluated on (per model version and full combination
    of labels); only the confirmed cases of patients seen two or more times in the window are read besides,
    from the window's materialised ``cases`` (:func:`monitor.service.window.materialised_cases`).
    """
    repeated = unit.patient_clusters.repeated_patient_cells(cases)
    rows = stratum_clustering(cells, repeated, config)
    section = {"method": CLUSTERING_METHOD,
               "repeated_patients": int(repeated["patient"].nunique()) if not repeated.empty else 0,
               "strata": [r.as_dict() for r in rows]}
    return design_effects(rows), section
