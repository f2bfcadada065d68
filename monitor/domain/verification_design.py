"""Verification by design: the corrected evidence, the design check and the audit plan of an audit design.

A device whose configuration declares ``labels.verification: audit_sample`` verifies every positive
call (or a known fraction of them) and only a random audit sample of the negative calls, at the known
``labels.sampling_fractions``. The naive counts of the verified cases are then biased by design
(sensitivity up, specificity down: a 10% audit of low-risk calls leaves nine in ten true negatives
out of the specificity). This module gives, per monitored stratum:

* :func:`corrected_estimates`: the inverse-probability-weighted (Begg-Greenes) estimate of sensitivity,
  specificity, PPV and NPV and its variance, the ``Adjustments.corrected`` mapping of
  :mod:`monitor.domain.evidence` that the decision rule decides on instead of the naive counts;
* :func:`design_check`: whether the data agree with the declared design (the verified fractions by
  call against the declared ones; ground truth with label source ``audit_sample`` under a
  configuration that declares complete verification, or negative calls verified outside the audit);
* :func:`audit_plan`: how many negative calls to over-read for the corrected sensitivity to be known
  within the claim's margin and the false-omission rate within a relative half-width, and the drop
  of corrected sensitivity the current design detects with the configured power.

The statistics are in :mod:`monitor.stats.verification`; this module only sums the period's calls
and verified confusion counts to the monitored strata (the frames of
``aggregates.verification_cells`` and ``aggregates.confusion_cells``, or the count cells).

References
----------
Begg CB, Greenes RA. Biometrics 1983;39:207-215. Kohn MA. J Clin Epidemiol 2022;145:179-182.
Alonzo TA, Pepe MS. J R Stat Soc C 2005;54:173-190. Korn EL, Graubard BI. Survey Methodology
1998;24:193-201.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from monitor.domain.device import DeviceConfig
from monitor.domain.evidence import EvidenceKey
from monitor.domain.grouping import iter_strata
from monitor.domain.numbers import finite_or_none
from monitor.domain.strata import StratumDefinition
from monitor.stats.verification import (
    DESIGN_METRICS,
    audit_size_for_false_omission,
    audit_size_for_sensitivity,
    design_corrected,
    detectable_sensitivity_drop,
)

__all__ = ["AUDIT_SOURCE", "DEFAULT_RELATIVE_HALF_WIDTH", "audit_plan", "corrected_estimates", "design_check",
           "labels_by_source", "stratum_design_counts"]

#: The ground-truth label source of an audit over-read (``monitor.domain.logs``).
AUDIT_SOURCE = "audit_sample"
#: False-omission rate within +/- 50% of itself (about 15 missed cases found by the audit).
DEFAULT_RELATIVE_HALF_WIDTH = 0.5
#: Two-sided level below which a verified fraction is reported as disagreeing with the declared one.
_DESIGN_TEST_LEVEL = 0.001
_COUNTS = ("tp", "fp", "fn", "tn", "calls_positive", "calls_negative", "verified_positive", "verified_negative")


def stratum_design_counts(verification: pd.DataFrame, cells: pd.DataFrame, config: DeviceConfig, *,
                          max_level: int | None = None) -> pd.DataFrame:
    """Calls by kind and verified confusion counts of every monitored stratum.

    ``verification`` has ``model_version``, the attribute labels, ``predicted_label``, ``verified`` and
    ``n`` (``aggregates.verification_cells``); ``cells`` has ``model_version``, the attribute labels and
    ``tp, fp, fn, tn`` of the verified cases. Returns one row per model version and stratum (report order)
    with ``model_version, stratum, level`` and :data:`_COUNTS`.
    """
    confusion: dict[tuple[str, str], np.ndarray] = {}
    if not cells.empty:
        for model_version, stratum, part in iter_strata(cells, config, max_level=max_level):
            confusion[(model_version, stratum.key)] = part[["tp", "fp", "fn", "tn"]].to_numpy(np.int64).sum(axis=0)
    rows = []
    for model_version, stratum, part in iter_strata(verification, config, max_level=max_level):
        call = part["predicted_label"].astype(int).to_numpy()
        n = part["n"].to_numpy(np.int64)
        verified = part["verified"].astype(int).to_numpy() == 1
        tp, fp, fn, tn = confusion.get((model_version, stratum.key), np.zeros(4, dtype=np.int64))
        rows.append({"model_version": model_version, "stratum": stratum.key, "level": stratum.level,
                     "definition": stratum, "tp": int(tp), "fp": int(fp), "fn": int(fn), "tn": int(tn),
                     "calls_positive": int(n[call == 1].sum()), "calls_negative": int(n[call == 0].sum()),
                     "verified_positive": int(n[(call == 1) & verified].sum()),
                     "verified_negative": int(n[(call == 0) & verified].sum())})
    return pd.DataFrame(rows, columns=["model_version", "stratum", "level", "definition", *_COUNTS])


def corrected_estimates(verification: pd.DataFrame, cells: pd.DataFrame, config: DeviceConfig
                        ) -> dict[EvidenceKey, tuple[float, float]]:
    """``Adjustments.corrected``: ``{(model_version, stratum key, metric): (estimate, variance)}``.

    Empty unless the configuration declares ``labels.verification: audit_sample``: under complete
    verification the naive counts are the estimate. Every monitored stratum (overall, single attributes,
    monitored intersections) and each of sensitivity, specificity, PPV and NPV that can be estimated
    (:func:`monitor.stats.verification.design_corrected`) is in the mapping; a key left out is one
    whose naive proportion is exact (a stratum without calls of one kind) or that has no verified call.
    """
    if config.labels.verification != "audit_sample" or verification.empty:
        return {}
    table = stratum_design_counts(verification, cells, config)
    if table.empty:
        return {}
    result = design_corrected(*(table[c].to_numpy() for c in ("tp", "fp", "fn", "tn", "calls_positive",
                                                             "calls_negative")))
    corrected: dict[EvidenceKey, tuple[float, float]] = {}
    for metric in DESIGN_METRICS:
        estimate, variance = result[metric]
        for i, row in enumerate(table.itertuples(index=False)):
            if math.isfinite(estimate[i]) and math.isfinite(variance[i]):
                corrected[(str(row.model_version), str(row.stratum), metric)] = (float(estimate[i]),
                                                                                 float(variance[i]))
    return corrected


def _fraction_test(verified: int, calls: int, declared: float) -> float | None:
    """Two-sided exact binomial p-value of ``verified`` of ``calls`` at the declared fraction."""
    if calls == 0 or declared >= 1.0:
        return None
    return float(stats.binomtest(verified, calls, declared).pvalue)


def design_check(verification: pd.DataFrame, config: DeviceConfig, *,
                 label_sources: pd.DataFrame | None = None) -> dict[str, Any]:
    """Whether the period's labels agree with the declared verification design.

    ``label_sources`` (optional) has ``predicted_label``, ``source`` and ``n``: the verified cases of
    the window by call and ground-truth label source. Returns the declared design and fractions, per
    model version the realised verified fractions by call with an exact binomial p-value against the
    declared fraction, ``looks_like_audit_sample`` (labels with source ``audit_sample`` exist) and the
    ``warnings`` to print in the report's limitations, and ``labels_by_source`` (the labelled cases by
    source, for the report's reference-standard section):

    * the configuration says ``complete`` but ground truth comes from an audit sample: the naive
      estimates are then biased (the rule does **not** switch estimator on its own: the design is part
      of the pre-specified protocol; the warning asks for ``labels.verification: audit_sample``);
    * the design is ``audit_sample`` and a verified fraction differs from the declared one
      (p < 0.001): labels still pending, or an audit not carried out as designed; the correction
      weights by the realised fractions, which stays valid only if the verified cases are a random
      sample of their call;
    * the design is ``audit_sample`` and some negative calls were verified by another source than the
      audit (e.g. a low-risk patient who came back with symptoms): such labels depend on the outcome
      and bias the corrected sensitivity downward.
    """
    labels = config.labels
    declared = labels.sampling_fractions
    fractions = {"positive_calls": declared.positive_calls, "negative_calls": declared.negative_calls} \
        if declared is not None else {"positive_calls": 1.0, "negative_calls": 1.0}
    warnings: list[str] = []
    realised = []
    if not verification.empty:
        for model_version, _, part in iter_strata(verification, config, max_level=0):
            row: dict[str, Any] = {"model_version": model_version}
            for call, name in ((1, "positive_calls"), (0, "negative_calls")):
                of_call = part.loc[part["predicted_label"].astype(int) == call]
                calls = int(of_call["n"].sum())
                verified = int(of_call.loc[of_call["verified"].astype(int) == 1, "n"].sum())
                p = _fraction_test(verified, calls, fractions[name]) if labels.verification == "audit_sample" \
                    else None
                row[name] = {"calls": calls, "verified": verified,
                             "fraction": finite_or_none(verified / calls) if calls else None, "p_value": p}
                if p is not None and p < _DESIGN_TEST_LEVEL:
                    warnings.append(f"model {model_version}: {verified / calls:.1%} of {name.replace('_', ' ')} "
                                    f"verified against the declared {fractions[name]:.1%} (labels pending, or the "
                                    "audit not carried out as designed)")
            realised.append(row)
    audit_labels = outside_audit = 0
    if label_sources is not None and not label_sources.empty:
        source = label_sources["source"].astype(str)
        audit_labels = int(label_sources.loc[source == AUDIT_SOURCE, "n"].sum())
        outside_audit = int(label_sources.loc[(source != AUDIT_SOURCE)
                                              & (label_sources["predicted_label"].astype(int) == 0), "n"].sum())
    looks_like_audit = audit_labels > 0
    if labels.verification == "complete" and looks_like_audit:
        warnings.append(f"{audit_labels} labels come from an audit sample (label source {AUDIT_SOURCE}) while the "
                        "configuration declares complete verification: the naive estimates are biased unless every "
                        "call is verified; declare labels.verification: audit_sample with its sampling_fractions")
    if labels.verification == "audit_sample" and outside_audit > 0:
        warnings.append(f"{outside_audit} negative calls were verified outside the audit sample: labels that depend "
                        "on the outcome bias the corrected sensitivity downward")
    return {"verification": labels.verification, "declared_fractions": fractions, "realised": realised,
            "audit_sample_labels": audit_labels, "negative_calls_verified_outside_audit": outside_audit,
            "looks_like_audit_sample": looks_like_audit, "warnings": warnings,
            "labels_by_source": labels_by_source(label_sources)}


def labels_by_source(label_sources: pd.DataFrame | None) -> dict[str, int]:
    """Labelled cases per ground-truth source (``label_sources``: ``predicted_label``, ``source``, ``n``),
    summed over calls, sources without labels left out, in source order."""
    if label_sources is None or label_sources.empty:
        return {}
    summed = label_sources.groupby(label_sources["source"].astype(str))["n"].sum()
    return {str(name): int(n) for name, n in summed.items() if n > 0}


def _family_sizes(config: DeviceConfig, strata: list[StratumDefinition]) -> tuple[int, int]:
    """Sizes of the confirmatory and exploratory families of claimed stratum-metrics (planning only)."""
    confirmatory = set(config.strata.confirmatory)
    chosen = [frozenset(w.items()) for w in config.strata.confirmatory_intersections]
    sizes = [0, 0]
    for stratum in strata:
        claims = sum(config.claims.claim_for(m, stratum) is not None  # type: ignore[arg-type]
                     for m in DESIGN_METRICS)
        is_confirmatory = (stratum.level == 0 or (stratum.level == 1 and stratum.attributes[0] in confirmatory)
                           or frozenset(stratum.assignments) in chosen)
        sizes[0 if is_confirmatory else 1] += claims
    return max(sizes[0], 1), max(sizes[1], 1)


def audit_plan(verification: pd.DataFrame, cells: pd.DataFrame, config: DeviceConfig, *,
               relative_half_width: float = DEFAULT_RELATIVE_HALF_WIDTH) -> list[dict[str, Any]]:
    """The audit-sampling plan of each overall and single stratum with a sensitivity claim.

    Per stratum: the period's calls, the audit done (verified negative calls), the corrected
    sensitivity and its standard error, the planning values (prevalence: the corrected estimate of the
    stratum; sensitivity and specificity: the claims), and

    * ``audit_for_sensitivity``: negative calls to over-read per period for the corrected sensitivity's
      interval to be within +/- the claim's margin (``None``: not reachable with these volumes);
    * ``audit_for_false_omission``: negative calls to over-read for the false-omission rate to be known
      within +/- ``relative_half_width`` of itself;
    * ``detectable_drop``: the drop of the corrected sensitivity below the performance goal that the
      declared design (``labels.sampling_fractions``, or the realised fraction under complete
      verification) detects with ``monitoring.power`` at the stratum's one-sided level, Bonferroni over its
      family (confirmatory: ``monitoring.alpha / m``; exploratory: ``monitoring.fdr / m``; conservative for
      Holm and Benjamini-Hochberg), with ``detectable_sensitivity`` = goal - drop.
    """
    rules, labels = config.monitoring, config.labels
    table = stratum_design_counts(verification, cells, config, max_level=1)
    if table.empty:
        return []
    all_strata = list(stratum_design_counts(verification, cells, config)["definition"])
    m_confirmatory, m_exploratory = _family_sizes(config, all_strata)
    confirmatory = set(config.strata.confirmatory)
    corrected = design_corrected(*(table[c].to_numpy() for c in ("tp", "fp", "fn", "tn", "calls_positive",
                                                                "calls_negative")))
    rows = []
    for i, row in enumerate(table.itertuples(index=False)):
        stratum: StratumDefinition = row.definition
        claim = config.claims.claim_for("sensitivity", stratum)
        if claim is None:
            continue
        specificity_claim = config.claims.claim_for("specificity", stratum)
        calls = row.calls_positive + row.calls_negative
        se_hat, se_var = (float(x[i]) for x in corrected["sensitivity"])
        prevalence = _prevalence(row)
        fractions = _design_fractions(config, row)
        is_confirmatory = stratum.level == 0 or stratum.attributes[0] in confirmatory
        level = rules.alpha / m_confirmatory if is_confirmatory else rules.fdr / m_exploratory
        out: dict[str, Any] = {
            "model_version": row.model_version, "stratum": row.stratum, "level": row.level,
            "calls": int(calls), "negative_calls": int(row.calls_negative),
            "audited_negative_calls": int(row.verified_negative),
            "design_fraction_negative_calls": fractions[1],
            "corrected_sensitivity": finite_or_none(se_hat),
            "corrected_sensitivity_se": finite_or_none(math.sqrt(se_var)) if math.isfinite(se_var) else None,
            "claim": claim.value, "performance_goal": claim.value - claim.margin,
            "planning_prevalence": finite_or_none(prevalence),
            "one_sided_level": level, "power": rules.power,
            "audit_for_sensitivity": None, "audit_for_false_omission": None,
            "detectable_drop": None, "detectable_sensitivity": None,
        }
        specificity = specificity_claim.value if specificity_claim is not None else None
        if prevalence is not None and specificity is not None and calls > 0 and 0 < claim.value < 1:
            out |= _plan_figures(calls, prevalence, claim.value, claim.value - claim.margin, specificity,
                                 fractions, level, rules.power, rules.confidence, relative_half_width, claim.margin)
        rows.append(out)
    return rows


def _prevalence(row: Any) -> float | None:
    """The corrected prevalence ``pi p1 + (1 - pi) p0`` of a stratum (None when not estimable)."""
    n1, n0 = row.tp + row.fp, row.fn + row.tn
    calls = row.calls_positive + row.calls_negative
    if calls == 0 or (row.calls_positive and not n1) or (row.calls_negative and not n0):
        return None
    p1 = row.tp / n1 if n1 else 0.0
    p0 = row.fn / n0 if n0 else 0.0
    value = (row.calls_positive * p1 + row.calls_negative * p0) / calls
    return value if 0.0 < value < 1.0 else None


def _design_fractions(config: DeviceConfig, row: Any) -> tuple[float, float]:
    """The verification fractions the plan assumes: the declared ones, else the realised ones."""
    declared = config.labels.sampling_fractions
    if declared is not None:
        return declared.positive_calls, declared.negative_calls
    f1 = row.verified_positive / row.calls_positive if row.calls_positive else 1.0
    f0 = row.verified_negative / row.calls_negative if row.calls_negative else 1.0
    return max(f1, 1e-6), max(f0, 1e-6)


def _plan_figures(calls: int, prevalence: float, sensitivity: float, goal: float, specificity: float,
                  fractions: tuple[float, float], level: float, power: float, confidence: float,
                  relative_half_width: float, margin: float) -> dict[str, Any]:
    if not (0 < specificity < 1 and 0 < goal < 1):
        return {}
    positive = prevalence * sensitivity + (1 - prevalence) * (1 - specificity)
    false_omission = prevalence * (1 - sensitivity) / (1 - positive)
    drop = detectable_sensitivity_drop(calls, prevalence, specificity, goal=goal, fraction_positive=fractions[0],
                                       fraction_negative=fractions[1], alpha=level, power=power)
    return {
        "planning_false_omission": false_omission,
        "audit_for_sensitivity": audit_size_for_sensitivity(calls, prevalence, sensitivity, specificity,
                                                            half_width=margin, fraction_positive=fractions[0],
                                                            confidence=confidence) if margin > 0 else None,
        "audit_for_false_omission": min(audit_size_for_false_omission(false_omission,
                                                                      relative_half_width=relative_half_width,
                                                                      confidence=confidence),
                                         round(calls * (1 - positive))),
        "detectable_drop": finite_or_none(drop) if drop is not None else None,
        "detectable_sensitivity": finite_or_none(goal - drop) if drop is not None else None,
    }
