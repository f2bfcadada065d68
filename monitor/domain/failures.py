"""AI failure / no-result rate per model version and stratum, against an optional registered maximum.

A study the device was asked to read either got a result (a row of ``predictions``) or did not
(a row of ``prediction_failures``, result status ``failed`` or ``no_result``, with a failure code).
The failure rate is ``failures / (results + failures)`` with the configured binomial interval
(Wilson by default). When the device configuration sets ``claims.failure_rate`` (a maximum and a
margin), each stratum gets the exact one-sided binomial test of H0: rate <= maximum; the
p-values get Benjamini-Hochberg q-values over the failure-rate tests of the run, and a stratum is
**flagged** when its q-value is at most ``monitoring.fdr`` and its rate is above maximum + margin
(the same two-part rule as the performance claims). Overall and single strata, per model version.

References
----------
Wilson EB. JASA 1927;22:209-212. Clopper CJ, Pearson ES. Biometrika 1934;26:404-413.
Benjamini Y, Hochberg Y. J R Stat Soc B 1995;57:289-300.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from monitor.domain.device import DeviceConfig
from monitor.domain.grouping import iter_strata
from monitor.domain.numbers import finite_or_none
from monitor.stats.intervals import proportion_interval
from monitor.stats.multiplicity import benjamini_hochberg
from monitor.stats.rate_limits import rate_excess_pvalues

__all__ = ["failure_rates_by_stratum"]


def _by_code(failed: pd.DataFrame) -> dict[str, int]:
    counts = failed.groupby("failure_code")["n"].sum()
    return {str(code): int(n) for code, n in sorted(counts.items(), key=lambda item: (-int(item[1]), str(item[0])))}


def failure_rates_by_stratum(counts: pd.DataFrame, config: DeviceConfig) -> list[dict[str, Any]]:
    """Failure rate of every overall and single stratum of each model version.

    Parameters
    ----------
    counts
        Columns ``model_version``, stratum label columns, ``failure_code`` (missing for delivered
        results) and ``n``.
    """
    rules, limit = config.monitoring, config.claims.failure_rate
    rows: list[dict[str, Any]] = []
    for model_version, stratum, part in iter_strata(counts, config, max_level=1):
        failed = part.loc[part["failure_code"].notna()]
        failures = int(failed["n"].sum())
        attempts = int(part["n"].sum())
        low, high = proportion_interval(failures, attempts, confidence=rules.confidence, method=rules.interval_method)
        rows.append({
            "model_version": model_version, "stratum": stratum.key, "level": stratum.level,
            "attributes": stratum.as_dict(), "results": attempts - failures, "failures": failures,
            "attempts": attempts, "rate": failures / attempts if attempts else None,
            "ci_low": finite_or_none(low), "ci_high": finite_or_none(high),
            "maximum": limit.maximum if limit else None, "margin": limit.margin if limit else None,
            "p_value": None, "q_value": None, "status": "not_tested", "by_code": _by_code(failed),
            "finding_id": None,  # set by the analysis for a flagged row
        })
    if limit is None or not rows:
        return rows
    p_values = rate_excess_pvalues([r["failures"] for r in rows], [r["attempts"] for r in rows], limit.maximum)
    q_values = benjamini_hochberg(p_values)
    for row, p, q in zip(rows, p_values, q_values, strict=True):
        if not np.isfinite(p):
            continue
        row["p_value"], row["q_value"] = float(p), finite_or_none(q)
        exceeds = row["rate"] > limit.maximum + limit.margin
        row["status"] = "flagged" if (q <= rules.fdr and exceeds) else "ok"
    return rows
