"""The evidence of the claimable metrics measurable from the logs every device has (issue 17 item 5): accuracy
from the confusion cells, AUC from the score histograms, agreement with the reader (``human_label``) and the
share of confirmed positives with intervention within the SLA, per model version and stratum, as
:class:`~monitor.domain.metric_claims.MetricEvidence` for :func:`~monitor.domain.metric_claims.decide_metric_claims`.

* ``accuracy`` = (tp + tn) / n of the cases with ground truth (every monitored stratum, intersections too).
  With verification by an audit sample (``labels.verification: audit_sample``) the verified cases are a
  call-dependent sample, and the accuracy is corrected as Begg and Greenes correct sensitivity: accuracy =
  P(call+) PPV + P(call-) NPV, with P(call) from every call and PPV / NPV from the verified cases of each call
  (missing at random given the call), its delta-method variance, and the Korn-Graubard effective counts
  n* = a(1 - a) / Var(a).
* ``auc``: the empirical AUC with DeLong's standard error from the score histogram
  (:func:`monitor.stats.auc.auc_from_histograms`, the function the discrimination section uses; overall and
  single strata with at least :data:`monitor.domain.discrimination.MIN_CASES_PER_CLASS` of each class).
* Agreement of the AI call with the reader's (overall and single strata; the 2x2 table of the human-AI agreement
  section): ``kappa`` (Cohen's, Fleiss-Cohen-Everitt standard error: :func:`monitor.stats.agreement.cohen_kappa`),
  ``ppa`` = both positive / reader positive, ``npa`` = both negative / reader negative and
  ``overall_agreement`` = concordant / cases (proportions: the analysis gives them the configured interval).
* ``within_sla``: among the confirmed positives whose SLA window has closed by the cut-off (an intervention
  seen, or followed for at least ``monitoring.intervention_sla_days`` without one), the share with
  intervention within the SLA. A case still inside its window at the cut-off (right-censored before the SLA)
  is left out: whether it will meet the SLA is unknown, and counting it either way would bias the share.

References
----------
Begg CB, Greenes RA. Biometrics 1983;39:207-215. Korn EL, Graubard BI. Survey Methodology 1998;24:193-201.
DeLong ER, DeLong DM, Clarke-Pearson DL. Biometrics 1988;44:837-845. Cohen J. Educ Psychol Meas 1960;20:37-46.
Fleiss JL, Cohen J, Everitt BS. Psychol Bull 1969;72:323-327. FDA CDRH, Statistical Guidance on Reporting Results
from Studies Evaluating Diagnostic Tests, 2007 (PPA / NPA / overall agreement).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from monitor.domain.device import DeviceConfig
from monitor.domain.discrimination import MIN_CASES_PER_CLASS, SCORE_BIN_COUNT
from monitor.domain.grouping import iter_strata
from monitor.domain.metric_claims import MetricEvidence
from monitor.domain.numbers import finite_or_none
from monitor.stats.agreement import cohen_kappa
from monitor.stats.auc import auc_from_histograms

__all__ = ["AGREEMENT_METRICS", "accuracy_evidence", "agreement_evidence", "auc_evidence",
           "corrected_accuracy", "within_sla_evidence"]

AGREEMENT_METRICS = frozenset({"kappa", "ppa", "npa", "overall_agreement"})


def corrected_accuracy(tp: int, fp: int, fn: int, tn: int, calls_positive: int, calls_negative: int
                       ) -> tuple[float, float] | None:
    """Accuracy corrected for verification of a call-dependent sample, and its variance.

    ``a = P1 PPV + P0 NPV`` with ``P1 = calls_positive / N`` (every call), ``PPV = tp / (tp + fp)`` and
    ``NPV = tn / (tn + fn)`` (verified cases); delta method: ``Var(a) = P1^2 PPV(1-PPV)/(tp+fp) +
    P0^2 NPV(1-NPV)/(tn+fn) + (PPV - NPV)^2 P1 P0 / N``. ``None`` when a call has no verified case.

    References
    ----------
    Begg CB, Greenes RA. Biometrics 1983;39:207-215.
    """
    n_pos, n_neg, calls = tp + fp, tn + fn, calls_positive + calls_negative
    if n_pos == 0 or n_neg == 0 or calls == 0:
        return None
    p1, ppv, npv = calls_positive / calls, tp / n_pos, tn / n_neg
    p0 = 1.0 - p1
    accuracy = p1 * ppv + p0 * npv
    variance = (p1 ** 2 * ppv * (1 - ppv) / n_pos + p0 ** 2 * npv * (1 - npv) / n_neg
                + (ppv - npv) ** 2 * p1 * p0 / calls)
    return accuracy, variance


def _effective(accuracy: float, variance: float, cases: int) -> tuple[float, float]:
    """Korn-Graubard effective (events, trials): n* = a(1-a)/Var(a), capped at the verified cases' count
    when the variance is 0 (an accuracy of 0 or 1)."""
    trials = accuracy * (1 - accuracy) / variance if variance > 0 else float(cases)
    return accuracy * trials, trials


def accuracy_evidence(cells: pd.DataFrame, verification: pd.DataFrame | None, config: DeviceConfig
                      ) -> list[MetricEvidence]:
    """Accuracy of every monitored stratum (``cells``: ``model_version``, stratum labels, ``tp, fp, fn, tn`` of
    the cases with ground truth); verification-corrected when the labels are an audit sample (``verification``:
    ``model_version``, stratum labels, ``predicted_label``, ``verified``, ``n`` of every call)."""
    audit = config.labels.verification == "audit_sample" and verification is not None
    calls: dict[tuple[str, str], tuple[int, int]] = {}
    if audit and not verification.empty:  # type: ignore[union-attr]
        for model_version, stratum, part in iter_strata(verification, config):  # type: ignore[arg-type]
            by_call = part.groupby("predicted_label")["n"].sum()
            calls[(model_version, stratum.key)] = (int(by_call.get(1, 0)), int(by_call.get(0, 0)))
    out = []
    for model_version, stratum, part in iter_strata(cells, config):
        tp, fp, fn, tn = (int(part[c].sum()) for c in ("tp", "fp", "fn", "tn"))
        n = tp + fp + fn + tn
        if not audit:
            out.append(MetricEvidence("accuracy", model_version, stratum, "proportion", "counts", events=tp + tn,
                                      trials=n))
            continue
        corrected = corrected_accuracy(tp, fp, fn, tn, *calls.get((model_version, stratum.key), (tp + fp, fn + tn)))
        if corrected is None:
            out.append(MetricEvidence("accuracy", model_version, stratum, "proportion", "verification",
                                      events=0, trials=0))
            continue
        events, trials = _effective(*corrected, cases=n)
        out.append(MetricEvidence("accuracy", model_version, stratum, "proportion", "verification",
                                  events=events, trials=trials))
    return out


def auc_evidence(histogram: pd.DataFrame, config: DeviceConfig) -> list[MetricEvidence]:
    """AUC with DeLong's standard error and interval of every overall and single stratum (``histogram`` as
    :func:`monitor.domain.discrimination.discrimination_by_stratum` reads it); a stratum with fewer than
    MIN_CASES_PER_CLASS of a class gives an estimate without standard error (insufficient)."""
    labelled = histogram.loc[histogram["label"] >= 0]
    out = []
    for model_version, stratum, part in iter_strata(labelled, config, max_level=1):
        by_bin = part.groupby(["score_bin", "label"])["n"].sum().unstack(fill_value=0)
        by_bin = by_bin.reindex(index=range(SCORE_BIN_COUNT), columns=[0, 1], fill_value=0)
        positives, negatives = by_bin[1].to_numpy(), by_bin[0].to_numpy()
        cases = int(positives.sum() + negatives.sum())
        if positives.sum() < MIN_CASES_PER_CLASS or negatives.sum() < MIN_CASES_PER_CLASS:
            out.append(MetricEvidence("auc", model_version, stratum, "estimate", "discrimination", trials=cases))
            continue
        auc = auc_from_histograms(positives, negatives, confidence=config.monitoring.confidence)
        out.append(MetricEvidence("auc", model_version, stratum, "estimate", "discrimination", trials=cases,
                                  estimate=finite_or_none(auc.auc), standard_error=finite_or_none(auc.se),
                                  ci_low=finite_or_none(auc.ci_low), ci_high=finite_or_none(auc.ci_high)))
    return out


def agreement_evidence(table: pd.DataFrame, config: DeviceConfig, metrics: frozenset[str] = AGREEMENT_METRICS
                       ) -> list[MetricEvidence]:
    """Kappa, PPA, NPA and overall agreement of the AI call with the reader's, every overall and single stratum
    (``table`` as :func:`monitor.domain.human_ai_agreement.human_ai_agreement_by_stratum` reads it)."""
    out = []
    for model_version, stratum, part in iter_strata(table, config, max_level=1):
        ai, human = part["predicted_label"], part["human_label"]
        both, ai_only, human_only, neither = (int(part.loc[mask, "n"].sum()) for mask in (
            (ai == 1) & (human == 1), (ai == 1) & (human == 0), (ai == 0) & (human == 1), (ai == 0) & (human == 0)))
        cases = both + ai_only + human_only + neither
        source = "human_ai_agreement"
        if "kappa" in metrics:
            kappa = cohen_kappa(both, ai_only, human_only, neither, confidence=config.monitoring.confidence)
            out.append(MetricEvidence("kappa", model_version, stratum, "estimate", source, trials=cases,
                                      estimate=finite_or_none(kappa.kappa), standard_error=finite_or_none(kappa.se),
                                      ci_low=finite_or_none(kappa.ci_low), ci_high=finite_or_none(kappa.ci_high)))
        for metric, events, trials in (("ppa", both, both + human_only), ("npa", neither, neither + ai_only),
                                       ("overall_agreement", both + neither, cases)):
            if metric in metrics:
                out.append(MetricEvidence(metric, model_version, stratum, "proportion", source, events=events,
                                          trials=trials))
    return out


def within_sla_evidence(days: pd.DataFrame, config: DeviceConfig) -> list[MetricEvidence]:
    """Share of confirmed positives with intervention within the SLA, among those whose SLA window has closed
    by the cut-off (``days``: ``model_version``, stratum labels, ``days``, ``observed``, ``n``; every monitored
    stratum)."""
    sla = config.monitoring.intervention_sla_days
    if sla is None:
        return []
    out = []
    for model_version, stratum, part in iter_strata(days, config):
        observed = part["observed"].to_numpy() == 1
        elapsed = part["days"].to_numpy(dtype=float)
        n = part["n"].to_numpy(dtype=np.int64)
        met = int(n[observed & (elapsed <= sla)].sum())
        closed = met + int(n[observed & (elapsed > sla)].sum()) + int(n[~observed & (elapsed >= sla)].sum())
        out.append(MetricEvidence("within_sla", model_version, stratum, "proportion", "time_to_intervention",
                                  events=met, trials=closed))
    return out
