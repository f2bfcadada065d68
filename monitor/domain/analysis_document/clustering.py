"""Patients counted once where it matters: cases, patients and the design effect of each metric per stratum
(monitor.domain.clustering; docs/clustering.md)."""

from __future__ import annotations

from pydantic import Field

from monitor.domain.analysis_document.base import ClosedPart
from monitor.domain.analysis_document.values import (
    Count, Level, Metric, ModelVersion, NonNegative, StratumAttributes, StratumKey, Text,
)

__all__ = ["Clustering", "ClusteringRow"]


class ClusteringRow(ClosedPart):
    """The patients of one stratum of one model version and the design effect of each metric
    (monitor.domain.clustering.StratumClustering)."""

    model_version: ModelVersion = Field(description="Model version.")
    stratum: StratumKey = Field(description="Stratum key.")
    level: Level = Field(description="Stratum level.")
    attributes: StratumAttributes = Field(description="Stratum assignments.")
    cases: Count = Field(description="Confirmed cases of the stratum (tp + fp + fn + tn).")
    patients: Count = Field(description="Distinct patients (keyed hash of the patient id) among those cases.")
    patients_with_several_cases: Count = Field(description="Patients with two or more confirmed cases in the stratum.")
    design_effects: dict[Metric, NonNegative | None] = Field(description=(
        "Design effect per metric: cluster-robust variance with patients as clusters over the same with every"
        " case its own cluster; 1 when no patient has two trials of the metric in the stratum, null when "
        "undefined (no trial, a single patient, or an estimate of 0 or 1)."))


class Clustering(ClosedPart):
    """Patients counted once where it matters (monitor.service.patient_clusters): per monitored stratum of each model
    version, the confirmed cases, the patients they come from, and the design effect of each metric (patient-level
    cluster-robust variance over the same estimator with every case its own cluster; docs/clustering.md). The decision
    rule divides the counts of a stratum-metric by its design effect truncated at 1."""

    method: Text = Field(description="The method in one paragraph, with its references.")
    repeated_patients: Count = Field(description=(
        "Patients with two or more confirmed cases in the window (any model version, any stratum): the only "
        "patients whose cases were read one by one."))
    strata: list[ClusteringRow] = Field(description=(
        "Every monitored stratum (overall, single attributes, monitored intersections) per model version, in "
        "the order of counts."))
