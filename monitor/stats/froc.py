"""Lesion-level detection figures: lesion sensitivity, false positives per scan, the FROC curve, the CPM and the
JAFROC figure of merit, with intervals from the bootstrap over patients.

The input is a matched case set (:class:`LesionCases`, from :mod:`monitor.domain.lesion_matching`): every
finding with its score and whether it hit a reference lesion (TP) or not (FP), every reference lesion with the
score of the finding that hit it (``-inf`` when none did: FN), and every scan with its patient.

* **Lesion sensitivity** at a threshold ``t``: reference lesions hit by a finding scored ``>= t``, over all
  reference lesions. **FPs per scan**: FP findings scored ``>= t`` over the number of scans (every evaluated scan,
  with or without reference lesions).
* **FROC curve** (Bunch et al., 1978; Chakraborty 1989): (mean FPs per scan, lesion sensitivity) at every
  distinct finding score taken as the threshold, from the highest down, starting at (0, 0).
* **Sensitivity at predefined FP rates** and their mean, the **CPM** (competition performance metric; Niemeijer
  et al., IEEE TMI 2011;30:1313-1323, rates 1/8 ... 8 per scan): the sensitivity at a rate ``r`` is the highest
  sensitivity of an FROC point whose FPs per scan do not exceed ``r`` (the curve read as a step function, no
  interpolation; 0 when no point does).
* **JAFROC figure of merit** (the original JAFROC FOM, Chakraborty & Berbaum, Med Phys 2004;31:2313-2330):
  ``theta = 1 / (N_normal * N_lesion) * sum_i sum_j psi(X_i, Y_j)`` over the *normal* scans ``i`` (scans without
  a reference lesion) and the reference lesions ``j``, where ``X_i`` is the highest score of the FPs on normal
  scan ``i`` and ``Y_j`` the score of the finding that hit lesion ``j`` (``-inf`` when none: unmarked) and
  ``psi = 1`` if ``Y > X``, ``0.5`` if equal, ``0`` otherwise: the probability that a lesion is rated above the
  highest false positive of a normal scan. It is a Mann-Whitney statistic, so equals the ROC AUC of the lesions'
  scores against the normal scans' highest FP scores (the test's package oracle). ``None`` without a normal scan.
* **Intervals**: the bootstrap over *patients* (clusters: every scan, finding and lesion of a drawn patient comes
  along, so the correlation of lesions within a patient is respected; Efron & Tibshirani 1993, ch. 13; the
  patient-level cluster bootstrap of regulatory.md 4.1). Replicate ``b`` draws ``P`` patients with replacement
  (numpy ``default_rng(seed)``); a figure's standard error is the replicates' standard deviation (ddof 1) and its
  interval the Efron percentile interval (the ``(1-c)/2`` and ``(1+c)/2`` quantiles of the replicates, linear
  interpolation; replicates where a figure is undefined, e.g. no reference lesion drawn, are left out).

Every figure is computed for a matrix of patient weights (one row per replicate; the estimate is the row of ones),
so the estimate and the replicates share one code path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Estimate", "FrocPoint", "LesionCases", "LesionFigures", "froc_curve", "lesion_figures", "patient_draws"]


@dataclass(frozen=True)
class LesionCases:
    """A matched case set. Patients are numbered ``0 .. patients-1``; scans ``0 .. len(scan_patient)-1``."""

    patients: int
    scan_patient: np.ndarray  # (S,) patient of each scan
    finding_scan: np.ndarray  # (F,) scan of each finding
    finding_score: np.ndarray  # (F,) score
    finding_hit: np.ndarray  # (F,) bool: matched to a reference lesion (TP)
    lesion_scan: np.ndarray  # (L,) scan of each reference lesion
    lesion_score: np.ndarray  # (L,) score of the finding that hit it, -inf when missed

    @property
    def scan_normal(self) -> np.ndarray:
        """Scans without any reference lesion."""
        normal = np.ones(len(self.scan_patient), dtype=bool)
        normal[self.lesion_scan] = False
        return normal


@dataclass(frozen=True)
class Estimate:
    """A figure's estimate, its bootstrap standard error and percentile interval (``None`` when undefined)."""

    estimate: float | None
    standard_error: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None


@dataclass(frozen=True)
class FrocPoint:
    """One point of the FROC curve: findings scored ``>= threshold`` are reported."""

    threshold: float
    true_positives: int
    false_positives: int
    sensitivity: float | None
    fp_per_scan: float


@dataclass(frozen=True)
class LesionFigures:
    """The lesion-level figures of one case set at the operating threshold."""

    scans: int
    patients: int
    lesions: int
    normal_scans: int
    true_positives: int
    false_positives: int
    false_negatives: int
    sensitivity: Estimate
    fp_per_scan: Estimate
    sensitivity_at: tuple[tuple[float, Estimate], ...]  # (FP/scan rate, sensitivity)
    cpm: Estimate
    jafroc_fom: Estimate
    curve: tuple[FrocPoint, ...]


def patient_draws(patients: int, replicates: int, seed: int) -> np.ndarray:
    """The bootstrap's patient weights: row ``b`` counts how often each patient was drawn in replicate ``b``
    (``patients`` draws with replacement, ``numpy.random.default_rng(seed).integers``)."""
    rng = np.random.default_rng(seed)
    drawn = rng.integers(0, patients, size=(replicates, patients))
    offsets = (np.arange(replicates) * patients)[:, None]
    return np.bincount((drawn + offsets).ravel(), minlength=replicates * patients).reshape(replicates, patients) \
        .astype(float)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1), np.nan)


def _curve_matrices(cases: LesionCases, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Thresholds (distinct finding scores, highest first) and the weighted TP and FP counts at each (rows:
    weight rows)."""
    order = np.lexsort((np.arange(len(cases.finding_score)), -cases.finding_score))
    scores = cases.finding_score[order]
    patient = cases.scan_patient[cases.finding_scan[order]]
    hit = cases.finding_hit[order]
    each = weights[:, patient]
    tp = np.cumsum(each * hit, axis=1)
    fp = np.cumsum(each * ~hit, axis=1)
    last = np.flatnonzero(np.append(scores[1:] != scores[:-1], True)) if len(scores) else np.array([], dtype=int)
    return scores[last], tp[:, last], fp[:, last]


def _sensitivity_at(sensitivity: np.ndarray, fp_rate: np.ndarray, rate: float) -> np.ndarray:
    """Per row, the highest sensitivity of a point with FPs per scan <= rate (the origin (0, 0) included)."""
    allowed = np.where(fp_rate <= rate, np.nan_to_num(sensitivity, nan=0.0), 0.0)
    return allowed.max(axis=1, initial=0.0)


def _jafroc(cases: LesionCases, weights: np.ndarray) -> np.ndarray:
    """The JAFROC FOM for each weight row (NaN without weighted normal scans or lesions)."""
    normal = np.flatnonzero(cases.scan_normal)
    highest = np.full(len(cases.scan_patient), -np.inf)
    np.maximum.at(highest, cases.finding_scan, cases.finding_score)  # on a normal scan every finding is an FP
    x = highest[normal]
    order = np.argsort(x, kind="stable")
    x_sorted = x[order]
    w_normal = weights[:, cases.scan_patient[normal][order]]
    cumulative = np.concatenate([np.zeros((len(weights), 1)), np.cumsum(w_normal, axis=1)], axis=1)
    below = np.searchsorted(x_sorted, cases.lesion_score, side="left")
    upto = np.searchsorted(x_sorted, cases.lesion_score, side="right")
    w_lesion = weights[:, cases.scan_patient[cases.lesion_scan]]
    wins = (w_lesion * (cumulative[:, below] + 0.5 * (cumulative[:, upto] - cumulative[:, below]))).sum(axis=1)
    return _ratio(wins, cumulative[:, -1] * w_lesion.sum(axis=1))


def _figures(cases: LesionCases, weights: np.ndarray, threshold: float,
             rates: Sequence[float]) -> dict[str, np.ndarray]:
    """Every figure for each weight row."""
    lesions = weights[:, cases.scan_patient[cases.lesion_scan]].sum(axis=1)
    scans = weights[:, cases.scan_patient].sum(axis=1)
    finding_patient = cases.scan_patient[cases.finding_scan]
    reported = cases.finding_score >= threshold
    tp = weights[:, cases.scan_patient[cases.lesion_scan[cases.lesion_score >= threshold]]].sum(axis=1)
    fp = weights[:, finding_patient[reported & ~cases.finding_hit]].sum(axis=1)
    _, tp_curve, fp_curve = _curve_matrices(cases, weights)
    sensitivity_curve = _ratio(tp_curve, lesions[:, None])
    fp_rate_curve = _ratio(fp_curve, scans[:, None])
    at = [np.where(lesions > 0, _sensitivity_at(sensitivity_curve, fp_rate_curve, rate), np.nan) for rate in rates]
    return {"sensitivity": _ratio(tp, lesions), "fp_per_scan": _ratio(fp, scans),
            **{f"at_{i}": a for i, a in enumerate(at)},
            "cpm": np.mean(at, axis=0) if at else np.full(len(weights), np.nan),
            "jafroc_fom": _jafroc(cases, weights)}


def froc_curve(cases: LesionCases) -> tuple[FrocPoint, ...]:
    """The FROC curve: one point per distinct finding score (highest first)."""
    thresholds, tp, fp = _curve_matrices(cases, np.ones((1, cases.patients)))
    lesions, scans = len(cases.lesion_scan), len(cases.scan_patient)
    return tuple(FrocPoint(threshold=float(t), true_positives=int(round(a)), false_positives=int(round(b)),
                           sensitivity=a / lesions if lesions else None, fp_per_scan=b / scans if scans else 0.0)
                 for t, a, b in zip(thresholds, tp[0], fp[0], strict=True))


def _estimate(point: float, replicates: np.ndarray | None, confidence: float) -> Estimate:
    if np.isnan(point):
        return Estimate(None)
    if replicates is None:
        return Estimate(float(point))
    kept = replicates[~np.isnan(replicates)]
    if len(kept) < 2:
        return Estimate(float(point))
    low, high = np.quantile(kept, [(1 - confidence) / 2, (1 + confidence) / 2])
    return Estimate(float(point), float(np.std(kept, ddof=1)), float(low), float(high))


def lesion_figures(cases: LesionCases, *, threshold: float, rates: Sequence[float], replicates: int = 0,
                   seed: int = 0, confidence: float = 0.95) -> LesionFigures:
    """Every lesion-level figure of ``cases`` at ``threshold``, with bootstrap intervals when ``replicates``."""
    point = _figures(cases, np.ones((1, cases.patients)), threshold, rates)
    boot = (_figures(cases, patient_draws(cases.patients, replicates, seed), threshold, rates)
            if replicates and cases.patients else None)

    def estimate(name: str) -> Estimate:
        return _estimate(float(point[name][0]), None if boot is None else boot[name], confidence)

    reported = cases.finding_score >= threshold
    tp = int((cases.lesion_score >= threshold).sum())
    return LesionFigures(
        scans=len(cases.scan_patient), patients=cases.patients, lesions=len(cases.lesion_scan),
        normal_scans=int(cases.scan_normal.sum()), true_positives=tp,
        false_positives=int((reported & ~cases.finding_hit).sum()), false_negatives=len(cases.lesion_scan) - tp,
        sensitivity=estimate("sensitivity"), fp_per_scan=estimate("fp_per_scan"),
        sensitivity_at=tuple((float(rate), estimate(f"at_{i}")) for i, rate in enumerate(rates)),
        cpm=estimate("cpm"), jafroc_fom=estimate("jafroc_fom"), curve=froc_curve(cases))
