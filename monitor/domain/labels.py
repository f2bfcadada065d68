"""Label maturity, verification fraction and verification-bias-corrected accuracy per stratum.

* **Maturity**: share of the period's predictions whose reference standard has arrived by the cut-off,
  label delay (Kaplan-Meier on whole days, pending cases censored at the cut-off), and whether the
  cohort is *mature*: its newest case is older than the maturity window, or at least 95% of labels
  are in. A stratum whose labels are mostly pending is marked, so that it cannot look healthy.
* **Verification bias**: the verification fraction by AI call, and sensitivity and specificity
  corrected by Begg and Greenes (missing at random given the call), with the audit-sampling plan:
  how many negative calls to over-read for the false-omission rate to be known within the target width.

References
----------
Begg CB, Greenes RA. Biometrics 1983;39:207-215. Kohn MA. J Clin Epidemiol 2022;148:75-80.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from monitor.domain.device import DeviceConfig
from monitor.domain.numbers import finite_or_none
from monitor.domain.grouping import iter_strata
from monitor.stats.survival import time_to_event_summary
from monitor.stats.verification import audit_sample_size, begg_greenes

__all__ = ["COMPLETENESS_FOR_MATURITY", "maturity_by_stratum", "verification_by_stratum"]

COMPLETENESS_FOR_MATURITY = 0.95
MOSTLY_PENDING = 0.5



def maturity_by_stratum(delays: pd.DataFrame, config: DeviceConfig, *, period_end: datetime,
                        cutoff: datetime) -> list[dict[str, Any]]:
    """Label completeness, delay and maturity of each overall and single stratum.

    ``delays`` has ``model_version``, stratum labels, ``days`` (to confirmation, or to the cut-off when
    pending), ``observed`` (1 labelled) and ``n``.
    """
    window = timedelta(days=config.monitoring.maturity_window_days)
    aged = period_end + window <= cutoff
    rows: list[dict[str, Any]] = []
    for model_version, stratum, part in iter_strata(delays, config, max_level=1):
        n = int(part["n"].sum())
        labelled = int(part.loc[part["observed"] == 1, "n"].sum())
        completeness = labelled / n if n else float("nan")
        median = p90 = float("nan")
        if labelled:
            summary = time_to_event_summary(part["days"].to_numpy(dtype=float).clip(min=0),
                                            part["observed"].to_numpy(dtype=int),
                                            confidence=config.monitoring.confidence,
                                            counts=part["n"].to_numpy(dtype=np.int64))
            median, p90 = summary.median, summary.p90
        mature = bool(aged or (n > 0 and completeness >= COMPLETENESS_FOR_MATURITY))
        reason = ("maturity window elapsed" if aged else
                  f"{completeness:.0%} of labels received" if mature else
                  f"provisional: {config.monitoring.maturity_window_days}-day window not elapsed, "
                  f"{completeness:.0%} of labels received")
        rows.append({"model_version": model_version, "stratum": stratum.key, "level": stratum.level,
                     "predictions": n, "labelled": labelled, "pending": n - labelled,
                     "completeness": finite_or_none(completeness), "median_delay_days": finite_or_none(median),
                     "p90_delay_days": finite_or_none(p90), "mature": mature, "reason": reason,
                     "mostly_pending": bool(n > 0 and completeness < MOSTLY_PENDING)})
    return rows


def verification_by_stratum(verification: pd.DataFrame, cells: pd.DataFrame, config: DeviceConfig
                            ) -> list[dict[str, Any]]:
    """Verification fractions, Begg-Greenes corrected sensitivity/specificity and the audit-sampling plan.

    ``verification`` has ``model_version``, stratum labels, ``predicted_label``, ``verified`` and ``n``;
    ``cells`` is the confusion cell table of the verified cases.
    """
    rules = config.monitoring
    confusion = {(mv, s.key): part[["tp", "fp", "fn", "tn"]].sum() for mv, s, part in
                 iter_strata(cells, config, max_level=1)} if not cells.empty else {}
    rows: list[dict[str, Any]] = []
    for model_version, stratum, part in iter_strata(verification, config, max_level=1):
        calls = part.groupby("predicted_label")["n"].sum().to_dict()
        verified = part.loc[part["verified"] == 1].groupby("predicted_label")["n"].sum().to_dict()
        pos_calls, neg_calls = int(calls.get(1, 0)), int(calls.get(0, 0))
        c = confusion.get((model_version, stratum.key))
        row: dict[str, Any] = {
            "model_version": model_version, "stratum": stratum.key, "level": stratum.level,
            "positive_calls": pos_calls, "negative_calls": neg_calls,
            "verified_positive_calls": int(verified.get(1, 0)), "verified_negative_calls": int(verified.get(0, 0)),
        }
        row["verification_fraction_positive_calls"] = finite_or_none(row["verified_positive_calls"] / pos_calls) if pos_calls else None
        row["verification_fraction_negative_calls"] = finite_or_none(row["verified_negative_calls"] / neg_calls) if neg_calls else None
        if c is None or not (row["verified_positive_calls"] and row["verified_negative_calls"]):
            rows.append(row | {k: None for k in ("corrected_sensitivity", "corrected_sensitivity_ci_low",
                                                 "corrected_sensitivity_ci_high", "corrected_specificity",
                                                 "corrected_specificity_ci_low", "corrected_specificity_ci_high",
                                                 "audit_sample_negative_calls")})
            continue
        tp, fp, fn, tn = (int(c[k]) for k in ("tp", "fp", "fn", "tn"))
        corrected = begg_greenes(tp, fp, fn, tn, pos_calls, neg_calls, confidence=rules.confidence)
        false_omission = fn / (fn + tn) if (fn + tn) else 0.05
        audit = audit_sample_size(neg_calls, max(false_omission, 1e-3), half_width=rules.audit_half_width,
                                  confidence=rules.confidence) if neg_calls else 0
        rows.append(row | {
            "corrected_sensitivity": finite_or_none(corrected.sensitivity),
            "corrected_sensitivity_ci_low": finite_or_none(corrected.sensitivity_ci[0]),
            "corrected_sensitivity_ci_high": finite_or_none(corrected.sensitivity_ci[1]),
            "corrected_specificity": finite_or_none(corrected.specificity),
            "corrected_specificity_ci_low": finite_or_none(corrected.specificity_ci[0]),
            "corrected_specificity_ci_high": finite_or_none(corrected.specificity_ci[1]),
            "audit_sample_negative_calls": int(audit),
        })
    return rows
