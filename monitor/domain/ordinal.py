"""The ordinal section: metrics of an ordered output (``outputs.type: ordinal``) against the reference grade.

Per model version and monitored stratum (overall, single attributes, monitored intersections), from the counts
of the period's predictions by AI level and reference grade (:meth:`OrdinalRepository.level_counts`):

* the per-level confusion matrix of the verified cases and the calls by level;
* at every cut ``k`` between levels (positive = level >= k) sensitivity and specificity with intervals;
* weighted kappa (``outputs.kappa_weights``, Cohen 1968) with its large-sample standard error (Fleiss, Cohen &
  Everitt 1969) and Wald interval;
* the false-negative rate of the lowest level: among cases whose grade >= ``outputs.positive_from``, the share
  the AI called the lowest level.

Under ``labels.verification: audit_sample`` (only a sample of some binary calls verified) every figure is
verification-corrected: each verified case weighs the calls over the verified cases of its binary call
(Begg & Greenes 1983, the calibrated weights of :mod:`monitor.domain.verification_design`), variances by the
delta method of the two-phase design (:mod:`monitor.stats.ordinal`), and the proportions carry the Korn-Graubard
effective counts of :func:`monitor.domain.evidence.combine`, as the binary metrics do (docs/verification.md).

The section hands over :class:`~monitor.domain.metric_claims.MetricEvidence` of ``lowest_level_fnr`` (a
proportion, effective counts under an audit design) and ``weighted_kappa`` (an estimate with its standard
error) for every model version and stratum; the claims of ``claims.metrics`` are decided elsewhere.

References
----------
Cohen J. Psychol Bull 1968;70:213-220. Fleiss JL, Cohen J, Everitt BS. Psychol Bull 1969;72:323-327.
Begg CB, Greenes RA. Biometrics 1983;39:207-215. Korn EL, Graubard BI. Survey Methodology 1998;24:193-201.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from monitor.domain.analysis_document.ordinal import (
    OrdinalCut, OrdinalLevel, OrdinalRate, OrdinalSection, OrdinalStratum,
)
from monitor.domain.device import DeviceConfig
from monitor.domain.evidence import Adjustments, combine
from monitor.domain.grouping import iter_strata
from monitor.domain.metric_claims import MetricEvidence
from monitor.domain.strata import StratumDefinition
from monitor.stats.binomial_tests import exact_interval
from monitor.stats.intervals import proportion_interval
from monitor.stats.ordinal import (
    design_proportions, design_ratio, kappa_weights, multinomial_variance, two_phase_variance, weighted_kappa,
)

__all__ = ["SOURCE", "OrdinalResult", "ordinal_section"]

#: The section's key in the analysis document, and the ``source`` of its evidence.
SOURCE = "ordinal"
#: Label level of a prediction without ground truth by the cut-off (:meth:`OrdinalRepository.level_counts`).
UNVERIFIED = -1


@dataclass(frozen=True)
class OrdinalResult:
    """The section's content and the evidence of its claimable metrics."""

    section: OrdinalSection
    evidence: list[MetricEvidence]


@dataclass(frozen=True)
class _Design:
    """How the figures of one stratum are estimated."""

    levels: int
    positive_from: int
    corrected: bool
    confidence: float
    method: str


def _counts(part: pd.DataFrame, levels: int) -> tuple[np.ndarray, np.ndarray]:
    """Calls by AI level (every prediction) and the verified K x K matrix (AI level x reference grade)."""
    predicted = part["predicted_level"].to_numpy(np.int64)
    grade = part["label_level"].to_numpy(np.int64)
    n = part["n"].to_numpy(np.int64)
    calls = np.bincount(predicted, weights=n, minlength=levels).astype(np.int64)
    matrix = np.zeros((levels, levels), dtype=np.int64)
    known = grade != UNVERIFIED
    np.add.at(matrix, (predicted[known], grade[known]), n[known])
    return calls, matrix


def _interval(successes: float, trials: float, design: _Design) -> tuple[float | None, float | None]:
    """The configured interval on whole counts, Clopper-Pearson on effective counts (as the claims test)."""
    if trials <= 0:
        return None, None
    if float(successes).is_integer() and float(trials).is_integer():
        low, high = proportion_interval(int(successes), int(trials), confidence=design.confidence,
                                        method=design.method)  # type: ignore[arg-type]
    else:
        lows, highs = exact_interval([successes], [trials], design.confidence)
        low, high = lows[0], highs[0]
    return _finite(low), _finite(high)


def _finite(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(float(value)) else None


def _rate(calls: np.ndarray, matrix: np.ndarray, numerator: np.ndarray, denominator: np.ndarray,
          design: _Design) -> OrdinalRate:
    """A proportion of cells: the raw counts, and the corrected estimate with effective counts."""
    successes, trials = int(matrix[numerator].sum()), int(matrix[denominator].sum())
    if not design.corrected:
        low, high = _interval(successes, trials, design)
        return OrdinalRate(successes=successes, trials=trials, estimate=successes / trials if trials else None,
                           ci_low=low, ci_high=high, effective_successes=None, effective_trials=None)
    estimate, variance = design_ratio(matrix, calls, design.positive_from, numerator, denominator)
    if trials == 0 or not (math.isfinite(estimate) and math.isfinite(variance)):
        return OrdinalRate(successes=successes, trials=trials, estimate=None, ci_low=None, ci_high=None,
                           effective_successes=None, effective_trials=None)
    key = ("", "", "ratio")
    evidence = combine(key, successes, trials, Adjustments(corrected={key: (estimate, variance)}))
    low, high = _interval(evidence.successes, evidence.trials, design)
    return OrdinalRate(successes=successes, trials=trials, estimate=float(estimate), ci_low=low, ci_high=high,
                       effective_successes=float(evidence.successes), effective_trials=float(evidence.trials))


def _masks(levels: int, cut: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Numerator and denominator cells (AI level i in rows, grade j in columns) of the metrics at ``cut``."""
    i, j = np.indices((levels, levels))
    return {"sensitivity": ((i >= cut) & (j >= cut), j >= cut),
            "specificity": ((i < cut) & (j < cut), j < cut)}


def _kappa(calls: np.ndarray, matrix: np.ndarray, weights: np.ndarray, design: _Design
           ) -> tuple[float | None, float | None]:
    """Weighted kappa and its standard error (FCE 1969; the two-phase delta method under an audit design)."""
    total = matrix.sum()
    if total == 0:
        return None, None
    if design.corrected:
        p = design_proportions(matrix, calls, design.positive_from)
        if np.isnan(p).any():
            return None, None
        kappa, gradient = weighted_kappa(p, weights)
        variance = two_phase_variance(matrix, calls, design.positive_from, gradient) if math.isfinite(kappa) \
            else math.nan
    else:
        p = matrix / total
        kappa, gradient = weighted_kappa(p, weights)
        variance = multinomial_variance(p, gradient, float(total)) if math.isfinite(kappa) else math.nan
    if not (math.isfinite(kappa) and math.isfinite(variance)):
        return None, None
    return float(kappa), math.sqrt(variance)


def _stratum(model_version: str, stratum: StratumDefinition, part: pd.DataFrame, config: DeviceConfig,
             design: _Design) -> OrdinalStratum:
    outputs = config.outputs
    assert outputs is not None
    names = outputs.level_names()
    calls, matrix = _counts(part, design.levels)
    cuts = []
    for cut in range(1, design.levels):
        masks = _masks(design.levels, cut)
        cuts.append(OrdinalCut(cut=cut, positive_from=names[cut], primary=cut == design.positive_from,
                               **{m: _rate(calls, matrix, *masks[m], design) for m in masks}))
    kappa, se = _kappa(calls, matrix, kappa_weights(design.levels, outputs.kappa_weights), design)
    z = float(stats.norm.ppf(0.5 + design.confidence / 2.0))
    i, j = np.indices((design.levels, design.levels))
    fnr = _rate(calls, matrix, (i == 0) & (j >= design.positive_from), j >= design.positive_from, design)
    return OrdinalStratum(
        model_version=model_version, stratum=stratum.key, level=stratum.level,  # type: ignore[arg-type]
        attributes=stratum.as_dict(), calls=[int(c) for c in calls], matrix=matrix.tolist(),
        verified=int(matrix.sum()), basis="verification_corrected" if design.corrected else "counts", cuts=cuts,
        weighted_kappa=kappa, kappa_standard_error=se,
        kappa_ci_low=None if kappa is None or se is None else max(-1.0, kappa - z * se),
        kappa_ci_high=None if kappa is None or se is None else min(1.0, kappa + z * se),
        lowest_level_fnr=fnr)


def _evidence(row: OrdinalStratum, stratum: StratumDefinition) -> list[MetricEvidence]:
    fnr = row.lowest_level_fnr
    corrected = fnr.effective_trials is not None
    out = [MetricEvidence(
        metric="lowest_level_fnr", model_version=row.model_version, stratum=stratum, kind="proportion",
        source=SOURCE, events=fnr.effective_successes if corrected else fnr.successes,  # type: ignore[arg-type]
        trials=fnr.effective_trials if corrected else fnr.trials,  # type: ignore[arg-type]
        estimate=fnr.estimate, ci_low=fnr.ci_low, ci_high=fnr.ci_high)]
    if row.weighted_kappa is not None:
        out.append(MetricEvidence(
            metric="weighted_kappa", model_version=row.model_version, stratum=stratum, kind="estimate",
            source=SOURCE, trials=row.verified, estimate=row.weighted_kappa,
            standard_error=row.kappa_standard_error, ci_low=row.kappa_ci_low, ci_high=row.kappa_ci_high))
    return out


def ordinal_section(counts: pd.DataFrame, config: DeviceConfig) -> OrdinalResult:
    """The ordinal section of ``counts`` (columns ``model_version``, the stratum labels, ``predicted_level``,
    ``label_level`` (:data:`UNVERIFIED` without ground truth) and ``n``) for an ordinal ``config``."""
    outputs = config.outputs
    if outputs is None or outputs.type != "ordinal":
        raise ValueError("the ordinal section needs outputs.type ordinal")
    rules = config.monitoring
    design = _Design(levels=len(outputs.levels), positive_from=outputs.positive_index(),
                     corrected=config.labels.verification == "audit_sample", confidence=rules.confidence,
                     method=rules.interval_method)
    rows: list[OrdinalStratum] = []
    evidence: list[MetricEvidence] = []
    for model_version, stratum, part in iter_strata(counts, config):
        row = _stratum(model_version, stratum, part, config, design)
        rows.append(row)
        evidence.extend(_evidence(row, stratum))
    section = OrdinalSection(
        levels=[OrdinalLevel(name=level.name, name_zh=level.name_zh) for level in outputs.levels],
        positive_from=outputs.level_names()[design.positive_from], kappa_weights=outputs.kappa_weights,
        verification=config.labels.verification, strata=rows)
    return OrdinalResult(section, evidence)
