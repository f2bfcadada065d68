"""Section ``lesions`` (block 058_lesions): lesion-level detection per model version and stratum (overall and each
single stratum): lesion sensitivity and false positives per scan at the operating point, the CPM and the JAFROC
figure of merit, each with its patient-bootstrap interval, the decision of the lesion_sensitivity and fp_per_scan
claims (from the analysis' metric_claims when decided there), the sensitivity at the predefined FP rates and by
reference lesion size (overall rows); the FROC figure is drawn from analysis.lesions. None when the analysis has no
lesion section or for a roll-up."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from monitor.domain.analysis_document.lesions import LesionEstimate, LesionSection, LesionSizeRow, SensitivityAtRate
from monitor.service.report_sections import ContentSection, ReportSource

__all__ = ["LesionClaim", "LesionReport", "LesionReportRow", "SECTION", "build"]

ClaimStatus = Literal["flagged", "conforming", "inconclusive", "insufficient", "not_tested"]


class LesionClaim(BaseModel):
    """The decision of one lesion metric's claim in one stratum (analysis metric_claims)."""

    metric: Literal["lesion_sensitivity", "fp_per_scan"] = Field(description="The claimed metric.")
    goal: float | None = Field(description="The claim's performance goal.")
    status: ClaimStatus | None = Field(description="The decision; null when not decided there.")
    q_value: float | None = Field(description="The decision's adjusted p-value; null without one.")
    ticket_id: str | None = Field(description="The ticket a flagged claim opened or updated; null otherwise.")


class LesionReportRow(BaseModel):
    """One stratum of one model version."""

    model_version: str = Field(description="Model version.")
    stratum: str = Field(description="Stratum key.")
    level: int = Field(description="0 overall, 1 single attribute.")
    scans: int = Field(description="Evaluated scans.")
    patients: int = Field(description="Distinct patients (bootstrap clusters).")
    lesions: int = Field(description="Reference lesions.")
    true_positives: int = Field(description="Lesions hit at the operating threshold.")
    false_positives: int = Field(description="False-positive findings at the operating threshold.")
    lesion_sensitivity: LesionEstimate = Field(description="Lesion sensitivity with its bootstrap interval.")
    fp_per_scan: LesionEstimate = Field(description="False positives per scan with its bootstrap interval.")
    cpm: LesionEstimate = Field(description="Mean sensitivity at the predefined FP rates.")
    jafroc_fom: LesionEstimate = Field(description="JAFROC figure of merit.")
    claims: list[LesionClaim] = Field(description="Decisions of the lesion metrics' claims in this stratum.")
    sensitivity_at: list[SensitivityAtRate] = Field(description="Sensitivity at each FP rate (overall rows).")
    by_size: list[LesionSizeRow] = Field(description="Sensitivity by reference diameter (overall rows).")


class LesionReport(BaseModel):
    """The lesion-level section of the report."""

    rule: str = Field(description="The matching rule.")
    max_distance_mm: float | None = Field(description="Distance limit of centre_distance.")
    operating_threshold: float = Field(description="Finding score at or above which a finding is reported.")
    bootstrap_replicates: int = Field(description="Replicates of the bootstrap over patients.")
    confidence: float = Field(description="Confidence of the percentile intervals.")
    scans_pending: int = Field(description="Scans without a patient-level label by the cut-off (not evaluated).")
    positive_scans_without_lesions: int = Field(description="Positive scans without a reference lesion.")
    negative_scans_with_lesions: int = Field(description="Negative scans with reference lesions.")
    rows: list[LesionReportRow] = Field(description="Overall then single strata, per model version.")


def _claims(document: dict[str, Any], version: str, stratum: str) -> list[LesionClaim]:
    out = []
    for row in document.get("metric_claims") or []:
        if (row.get("model_version"), row.get("stratum")) == (version, stratum) and \
                row.get("metric") in ("lesion_sensitivity", "fp_per_scan"):
            out.append(LesionClaim(metric=row["metric"], goal=row.get("goal"), status=row.get("status"),
                                   q_value=row.get("q_value"), ticket_id=row.get("ticket_id")))
    return out


def build(source: ReportSource) -> LesionReport | None:
    found = source.document.get("lesions")
    if source.rollup or not found:
        return None
    section = LesionSection.model_validate(found)
    rows = [LesionReportRow(
        model_version=r.model_version, stratum=r.stratum, level=r.level, scans=r.scans, patients=r.patients,
        lesions=r.lesions, true_positives=r.true_positives, false_positives=r.false_positives,
        lesion_sensitivity=r.lesion_sensitivity, fp_per_scan=r.fp_per_scan, cpm=r.cpm, jafroc_fom=r.jafroc_fom,
        claims=_claims(source.document, r.model_version, r.stratum), sensitivity_at=r.sensitivity_at,
        by_size=r.by_size) for r in section.rows]
    return LesionReport(rule=section.rule, max_distance_mm=section.max_distance_mm,
                        operating_threshold=section.operating_threshold,
                        bootstrap_replicates=section.bootstrap_replicates, confidence=section.confidence,
                        scans_pending=section.scans_pending,
                        positive_scans_without_lesions=section.positive_scans_without_lesions,
                        negative_scans_with_lesions=section.negative_scans_with_lesions, rows=rows)


SECTION = ContentSection("lesions", LesionReport, build)
