"""The lesion-level section of one analysis (issue 17 item 2): match the window's findings to its reference lesions
(:mod:`monitor.domain.lesion_matching`) and compute the figures per model version and stratum
(:mod:`monitor.stats.froc`), with the evidence of ``lesion_sensitivity`` and ``fp_per_scan`` for the metric claims.

Evaluated scans are the period's prediction rows with a patient-level ground-truth label by the cut-off (a scan
without one is pending: its reference lesions may not be read yet). Strata are the scan's (its prediction row's):
overall and each single attribute label. Both claimed metrics are handed over as **estimates with their patient-
bootstrap standard error** (kind ``estimate``: the decision is the one-sided Wald z-test against the goal), so the
clustering of lesions and false positives within patients is in the standard error (regulatory.md 4.1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from monitor.domain.analysis_document.lesions import (
    FrocPointRow,
    LesionEstimate,
    LesionSection,
    LesionSizeRow,
    LesionStratumRow,
    SensitivityAtRate,
)
from monitor.domain.device import DeviceConfig
from monitor.domain.lesion_matching import Finding, ReferenceLesion, match_scan
from monitor.domain.metric_claims import MetricEvidence
from monitor.domain.strata import StratumDefinition
from monitor.stats.froc import Estimate, LesionCases, LesionFigures, lesion_figures

__all__ = ["SIZE_BANDS", "LesionEvaluation", "evaluate_lesions", "matched"]

SOURCE = "lesions"
#: Reference diameter bands (mm) of the size breakdown: Lung-RADS v2022 solid-nodule size cuts.
SIZE_BANDS = (6.0, 8.0, 15.0)
_CENTRE = ["centre_x_mm", "centre_y_mm", "centre_z_mm"]


@dataclass(frozen=True)
class LesionEvaluation:
    """The section's content and the evidence of its claimable metrics."""

    section: LesionSection
    evidence: list[MetricEvidence]


def matched(findings: pd.DataFrame, references: pd.DataFrame, config: DeviceConfig) -> tuple[pd.DataFrame,
                                                                                                pd.DataFrame]:
    """Findings with ``hit`` (bool) and reference lesions with ``score`` (the matched finding's, -inf when missed),
    each scan matched on its own (greedy by score, one-to-one)."""
    assert config.lesions is not None
    hit = pd.Series(False, index=findings.index, dtype=bool)
    score = pd.Series(-np.inf, index=references.index, dtype=float)
    by_scan = dict(tuple(references.groupby("prediction_id", sort=False)))
    for scan, group in findings.groupby("prediction_id", sort=False):
        lesions = by_scan.get(scan)
        if lesions is None:
            continue
        result = match_scan(
            [Finding(r.lesion_id, (r.centre_x_mm, r.centre_y_mm, r.centre_z_mm), r.score) for r in group.itertuples()],
            [ReferenceLesion(r.lesion_id, (r.centre_x_mm, r.centre_y_mm, r.centre_z_mm),
                             None if pd.isna(r.diameter_mm) else float(r.diameter_mm)) for r in lesions.itertuples()],
            config.lesions)
        finding_index = dict(zip(group["lesion_id"], group.index, strict=True))
        lesion_index = dict(zip(lesions["lesion_id"], lesions.index, strict=True))
        scores = dict(zip(group["lesion_id"], group["score"], strict=True))
        for finding, lesion in result.items():
            if lesion is not None:
                hit[finding_index[finding]] = True
                score[lesion_index[lesion]] = float(scores[finding])
    return findings.assign(hit=hit), references.assign(score=score)


def _cases(scans: pd.DataFrame, findings: pd.DataFrame, references: pd.DataFrame) -> LesionCases:
    """The matched case set of ``scans`` (patients numbered in order of first appearance)."""
    patient_codes, _ = pd.factorize(scans["patient_hash"])
    scan_index = pd.Series(np.arange(len(scans)), index=scans["prediction_id"].to_numpy())
    f = findings.loc[findings["prediction_id"].isin(scan_index.index)]
    r = references.loc[references["prediction_id"].isin(scan_index.index)]
    return LesionCases(patients=int(patient_codes.max()) + 1 if len(scans) else 0,
                       scan_patient=patient_codes.astype(int),
                       finding_scan=scan_index.loc[f["prediction_id"]].to_numpy(dtype=int),
                       finding_score=f["score"].to_numpy(dtype=float), finding_hit=f["hit"].to_numpy(dtype=bool),
                       lesion_scan=scan_index.loc[r["prediction_id"]].to_numpy(dtype=int),
                       lesion_score=r["score"].to_numpy(dtype=float))


def _estimate(value: Estimate) -> dict[str, float | None]:
    return {"estimate": value.estimate, "standard_error": value.standard_error, "ci_low": value.ci_low,
            "ci_high": value.ci_high}


def _size_band(diameter: float | None) -> str:
    if diameter is None or pd.isna(diameter):
        return "unknown"
    low, mid, high = SIZE_BANDS
    return "<6" if diameter < low else "6-8" if diameter < mid else "8-15" if diameter < high else ">=15"


def _by_size(references: pd.DataFrame, threshold: float) -> list[LesionSizeRow]:
    bands = references["diameter_mm"].map(_size_band)
    rows = []
    for band in ["<6", "6-8", "8-15", ">=15", "unknown"]:
        chosen = references.loc[bands == band]
        if band == "unknown" and chosen.empty:
            continue
        detected = int((chosen["score"] >= threshold).sum())
        rows.append(LesionSizeRow(size_band=band, lesions=len(chosen), detected=detected,
                                  sensitivity=detected / len(chosen) if len(chosen) else None))
    return rows


def _row(version: str, stratum: StratumDefinition, figures: LesionFigures, findings: int,
         references: pd.DataFrame | None, threshold: float) -> LesionStratumRow:
    overall = stratum.level == 0
    return LesionStratumRow(
        model_version=version, stratum=stratum.key, level=stratum.level, attributes=stratum.as_dict(),
        scans=figures.scans, patients=figures.patients, normal_scans=figures.normal_scans, lesions=figures.lesions,
        findings=findings, true_positives=figures.true_positives, false_positives=figures.false_positives,
        false_negatives=figures.false_negatives,
        lesion_sensitivity=LesionEstimate(**_estimate(figures.sensitivity)),
        fp_per_scan=LesionEstimate(**_estimate(figures.fp_per_scan)),
        sensitivity_at=[SensitivityAtRate(fp_per_scan=rate, **_estimate(value)) for rate, value in figures.sensitivity_at],
        cpm=LesionEstimate(**_estimate(figures.cpm)), jafroc_fom=LesionEstimate(**_estimate(figures.jafroc_fom)),
        froc=[FrocPointRow(threshold=p.threshold, true_positives=p.true_positives, false_positives=p.false_positives,
                           sensitivity=p.sensitivity, fp_per_scan=p.fp_per_scan) for p in figures.curve] if overall else [],
        by_size=_by_size(references, threshold) if overall and references is not None else [])


def _evidence(version: str, stratum: StratumDefinition, figures: LesionFigures) -> list[MetricEvidence]:
    out = []
    for metric, value, trials in (("lesion_sensitivity", figures.sensitivity, figures.lesions),
                                  ("fp_per_scan", figures.fp_per_scan, figures.scans)):
        if value.estimate is None:
            continue
        out.append(MetricEvidence(metric=metric, model_version=version, stratum=stratum, kind="estimate",
                                  source=SOURCE, trials=trials, estimate=value.estimate,
                                  standard_error=value.standard_error, ci_low=value.ci_low, ci_high=value.ci_high))
    return out


def _strata(scans: pd.DataFrame, attributes: Sequence[str]) -> list[tuple[StratumDefinition, np.ndarray]]:
    """Overall, then each single attribute label present (in sorted order), with the scans in it."""
    found = [(StratumDefinition(), np.ones(len(scans), dtype=bool))]
    for name in attributes:
        for label in sorted(scans[name].dropna().astype(str).unique()):
            found.append((StratumDefinition.of({name: label}), (scans[name].astype(str) == label).to_numpy()))
    return found


def evaluate_lesions(scans: pd.DataFrame, findings: pd.DataFrame, references: pd.DataFrame, config: DeviceConfig,
                     ) -> LesionEvaluation:
    """The lesion section of a window.

    ``scans``: ``prediction_id``, ``model_version``, ``patient_hash``, one column per stratum attribute (its label)
    and ``label`` (None while pending); ``findings``: ``prediction_id``, ``lesion_id``, centre, ``score``;
    ``references``: ``prediction_id``, ``lesion_id``, centre, ``diameter_mm``.
    """
    matching = config.lesions
    assert matching is not None
    threshold = matching.operating_threshold if matching.operating_threshold is not None else config.operating_threshold
    rates = [float(r) for r in matching.fp_per_scan_points]
    evaluated = scans.loc[scans["label"].notna()].reset_index(drop=True)
    findings, references = matched(findings, references, config)
    with_lesions = set(references["prediction_id"])
    has = evaluated["prediction_id"].isin(with_lesions)
    labels = evaluated["label"].astype(int)
    rows, evidence = [], []
    attributes = [a.name for a in config.strata.attributes]
    for version in sorted(evaluated["model_version"].unique()):
        in_version = evaluated.loc[evaluated["model_version"] == version].reset_index(drop=True)
        for stratum, mask in _strata(in_version, attributes):
            chosen = in_version.loc[mask].reset_index(drop=True)
            if chosen.empty:
                continue
            cases = _cases(chosen, findings, references)
            figures = lesion_figures(cases, threshold=threshold, rates=rates,
                                     replicates=matching.bootstrap_replicates, seed=matching.seed,
                                     confidence=config.monitoring.confidence)
            ids = set(chosen["prediction_id"])
            rows.append(_row(version, stratum, figures, int(findings["prediction_id"].isin(ids).sum()),
                             references.loc[references["prediction_id"].isin(ids)], threshold))
            evidence += _evidence(version, stratum, figures)
    section = LesionSection(
        rule=matching.rule, max_distance_mm=matching.max_distance_mm, operating_threshold=float(threshold),
        fp_per_scan_points=rates, bootstrap_replicates=matching.bootstrap_replicates, seed=matching.seed,
        confidence=float(config.monitoring.confidence), scans_pending=int(scans["label"].isna().sum()),
        positive_scans_without_lesions=int(((labels == 1) & ~has).sum()),
        negative_scans_with_lesions=int(((labels == 0) & has).sum()), rows=rows)
    return LesionEvaluation(section, evidence)
