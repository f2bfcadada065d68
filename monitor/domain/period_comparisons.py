"""Comparisons of each claimed stratum-metric with the reference period and with the rest of the population.

* **vs reference period**: difference current − reference with the Newcombe hybrid-score interval and a
  one-sided Fisher exact p-value for a drop (H1: current < reference);
* **stratum vs rest**: the stratum against the population without it, same methods (an equity signal).

Both families get Benjamini-Hochberg q-values over their own tests. These are signals reported beside
the claims test; the flag (and the tickets) stay with the pre-specified claims rule.

References
----------
Newcombe RG. Stat Med 1998;17:873-890. Fisher RA. J R Stat Soc 1922;85:87-94.
Benjamini Y, Hochberg Y. J R Stat Soc B 1995;57:289-300.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from monitor.domain.device import DeviceConfig
from monitor.domain.numbers import finite_or_none
from monitor.domain.evaluation import stratum_counts
from monitor.stats.comparisons import compare_proportions
from monitor.stats.metrics import metric_fraction
from monitor.stats.multiplicity import benjamini_hochberg

__all__ = ["compare_periods", "compare_strata_with_rest"]

_MIN_TRIALS = 1


def _claimed_metrics(config: DeviceConfig) -> list[str]:
    claims = config.claims
    return [m for m in ("sensitivity", "specificity", "ppv", "npv") if getattr(claims, m) is not None]



def _with_q(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if rows:
        q = benjamini_hochberg(np.array([r["p_value"] if r["p_value"] is not None else np.nan for r in rows]))
        for r, value in zip(rows, q, strict=True):
            r["q_value"] = finite_or_none(value)
    return rows


def _row(base: dict[str, Any], sa: int, na: int, sb: int, nb: int, confidence: float) -> dict[str, Any]:
    if na < _MIN_TRIALS or nb < _MIN_TRIALS:
        return base | {"successes": sa, "trials": na, "reference_successes": sb, "reference_trials": nb,
                       "estimate": None, "reference_estimate": None, "difference": None, "ci_low": None,
                       "ci_high": None, "p_value": None}
    result = compare_proportions(sa, na, sb, nb, alternative="less", test="fisher", confidence=confidence)
    return base | {"successes": sa, "trials": na, "reference_successes": sb, "reference_trials": nb,
                   "estimate": finite_or_none(result.estimate_a), "reference_estimate": finite_or_none(result.estimate_b),
                   "difference": finite_or_none(result.difference), "ci_low": finite_or_none(result.ci_low),
                   "ci_high": finite_or_none(result.ci_high), "p_value": finite_or_none(result.p_value)}


def compare_periods(current: pd.DataFrame, reference: pd.DataFrame, config: DeviceConfig, *,
                    max_level: int = 3) -> list[dict[str, Any]]:
    """Each claimed stratum-metric of the current cells against the same stratum in the reference cells."""
    ref = {(c.model_version, c.stratum.key): c for c in stratum_counts(reference, config)}
    ref_any = {c.stratum.key: c for c in stratum_counts(reference.assign(model_version="*"), config)} \
        if not reference.empty else {}
    rows = []
    for c in stratum_counts(current, config):
        if c.stratum.level > max_level:  # every monitored stratum by default (triples are level 3)
            continue
        r = ref.get((c.model_version, c.stratum.key)) or ref_any.get(c.stratum.key)
        for metric in _claimed_metrics(config):
            sa, na = (int(x) for x in metric_fraction(metric, c.tp, c.fp, c.fn, c.tn))
            sb, nb = (0, 0) if r is None else (int(x) for x in metric_fraction(metric, r.tp, r.fp, r.fn, r.tn))
            base = {"model_version": c.model_version, "stratum": c.stratum.key, "level": c.stratum.level,
                    "metric": metric}
            rows.append(_row(base, sa, na, sb, nb, config.monitoring.confidence))
    return _with_q(rows)


def compare_strata_with_rest(current: pd.DataFrame, config: DeviceConfig, *, max_level: int = 3) -> list[dict[str, Any]]:
    """Each claimed stratum-metric against the rest of the population (same model version)."""
    counts = stratum_counts(current, config)
    totals = {c.model_version: c for c in counts if c.stratum.level == 0}
    rows = []
    for c in counts:
        if c.stratum.level == 0 or c.stratum.level > max_level:
            continue
        t = totals[c.model_version]
        for metric in _claimed_metrics(config):
            sa, na = (int(x) for x in metric_fraction(metric, c.tp, c.fp, c.fn, c.tn))
            st, nt = (int(x) for x in metric_fraction(metric, t.tp, t.fp, t.fn, t.tn))
            base = {"model_version": c.model_version, "stratum": c.stratum.key, "level": c.stratum.level,
                    "metric": metric}
            rows.append(_row(base, sa, na, st - sa, nt - na, config.monitoring.confidence))
    return _with_q(rows)
