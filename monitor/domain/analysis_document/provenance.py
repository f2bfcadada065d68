"""Where the numbers come from: the ingestion batches that feed the period (sources), how much of the
period's predictions have ground truth by the cut-off (completeness) and the predictions per site."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, MISSING

from monitor.domain.analysis_document.base import Part
from monitor.domain.analysis_document.values import Count, ModelVersion, PositiveCount, Sha256, Text

__all__ = ["Completeness", "CompletenessCounts", "ModelVersionCompleteness", "Site", "Source"]


class Source(Part):
    """An ingestion batch that feeds the period."""

    kind: Literal["predictions", "ground_truth", "retractions"] = Field(description="Kind of log of the batch.")
    batch_id: PositiveCount = Field(description="Ingestion batch id (batch_id of the batch summary).")
    rows: PositiveCount = Field(description="Rows of this batch that the analysis uses.")
    sha256: Sha256 = Field(description="SHA-256 of the ingested file.")
    source: str = Field(description="The ingested file as named at ingestion.")


class ModelVersionCompleteness(Part):
    """Completeness counts of one model version's predictions in the period."""

    model_version: ModelVersion = Field(description="Model version.")
    predictions: Count = Field(description="Predictions in the period ingested by the cut-off.")
    with_ground_truth: Count = Field(description="Of these, predictions with ground truth received by the cut-off.")
    awaiting_ground_truth: Count = Field(description=(
        "Of these, predictions still without ground truth (predictions - with_ground_truth)."))
    positives: Count = Field(description="Predictions whose latest ground-truth label is 1.")
    negatives: Count = Field(description="Predictions whose latest ground-truth label is 0.")


class CompletenessCounts(Part):
    """Completeness counts of predictions in the period."""

    predictions: Count = Field(description="Predictions in the period ingested by the cut-off.")
    with_ground_truth: Count = Field(description="Of these, predictions with ground truth received by the cut-off.")
    awaiting_ground_truth: Count = Field(description=(
        "Of these, predictions still without ground truth (predictions - with_ground_truth)."))
    positives: Count = Field(description="Predictions whose latest ground-truth label is 1.")
    negatives: Count = Field(description="Predictions whose latest ground-truth label is 0.")


class Completeness(Part):
    """How much of the period's predictions have ground truth by the cut-off."""

    by_model_version: list[ModelVersionCompleteness] = Field(description=(
        "One entry per model version with predictions in the period, ordered by model version."))
    total: CompletenessCounts = Field(description="Sums over all model versions.")
    retracted: Count | MISSING = Field(MISSING, description=(
        "Predictions of the period ingested by the cut-off that the device retracted (samd-monitor ingest "
        "retractions) with the retraction ingested by the cut-off. They are left out of every count and "
        "result of this document (also of predictions and by_model_version). Absent in documents written "
        "before retractions existed."))


class Site(Part):
    """Predictions of one site in the period."""

    site_id: Text = Field(description="Site id (site_id of the prediction log).")
    predictions: PositiveCount = Field(description="Predictions of this site in the period.")
