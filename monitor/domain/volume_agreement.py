"""Agreement of the AI segmentation volume with the reviewed volume (Bland-Altman on log ratios).

For each case with both volumes positive, ``d = ln(AI volume / reviewed volume)``; the database
returns ``n``, ``sum d``, ``sum d^2`` and the count of cases outside the relative tolerance
(``|AI - reviewed| > tolerance x reviewed``, ``monitoring.volume_tolerance``) per stratum cell, and
strata are sums of cells, so nothing is loaded case by case. Bias and limits of agreement are
computed on the log scale (Bland & Altman 1999, section 3) with the exact intervals of the limits
(Carkeet 2015) and reported back-transformed as ratios AI / reviewed (a ratio of 1.10 means the AI
volume is 10% larger). The share outside the tolerance gets the configured binomial interval.

References
----------
Bland JM, Altman DG. Lancet 1986;i:307-310. Bland JM, Altman DG. Stat Methods Med Res
1999;8:135-160. Carkeet A. Optom Vis Sci 2015;92:e71-e80. Wilson EB. JASA 1927;22:209-212.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from monitor.domain.device import DeviceConfig
from monitor.domain.grouping import iter_strata
from monitor.domain.numbers import finite_or_none
from monitor.stats.intervals import proportion_interval
from monitor.stats.volumes import bland_altman_from_sums

__all__ = ["volume_agreement_by_stratum"]

_RATIO_FIELDS = ("bias_ci_low", "bias_ci_high", "loa_low", "loa_high", "loa_low_ci_low", "loa_low_ci_high",
                 "loa_high_ci_low", "loa_high_ci_high")


def _ratio(value: float) -> float | None:
    return finite_or_none(math.exp(value)) if math.isfinite(value) else None


def volume_agreement_by_stratum(sums: pd.DataFrame, config: DeviceConfig) -> list[dict[str, Any]]:
    """Bland-Altman agreement of every overall and single stratum of each model version.

    Parameters
    ----------
    sums
        Columns ``model_version``, stratum label columns, ``n``, ``sum_d``, ``sum_d2``, ``outside``.
    """
    rules = config.monitoring
    rows: list[dict[str, Any]] = []
    for model_version, stratum, part in iter_strata(sums, config, max_level=1):
        n, outside = int(part["n"].sum()), int(part["outside"].sum())
        ba = bland_altman_from_sums(n, float(part["sum_d"].sum()), float(part["sum_d2"].sum()),
                                    confidence=rules.confidence, method="exact")
        low, high = proportion_interval(outside, n, confidence=rules.confidence, method=rules.interval_method)
        rows.append({
            "model_version": model_version, "stratum": stratum.key, "level": stratum.level, "cases": n,
            "mean_log_ratio": finite_or_none(ba.bias), "sd_log_ratio": finite_or_none(ba.sd),
            "ratio": _ratio(ba.bias), **{f"ratio_{name}": _ratio(getattr(ba, name)) for name in _RATIO_FIELDS},
            "tolerance": rules.volume_tolerance, "outside_tolerance": outside,
            "outside_share": outside / n if n else None,
            "outside_ci_low": finite_or_none(low), "outside_ci_high": finite_or_none(high),
        })
    return rows
