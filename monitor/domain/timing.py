"""Time from the AI result to intervention (biopsy, treatment) per stratum, by Kaplan-Meier.

Confirmed positives only; a case without intervention by the data cut-off is right-censored there.
Durations arrive from the database as whole days with counts. The analysis reports every monitored
stratum: the whole population, each single attribute and each monitored intersection (pairs and triples
of ``strata.intersections``), per model version, in report order; a stratum with fewer than
:data:`MIN_CASES` confirmed positives gets its counts and no estimate.

References
----------
Kaplan EL, Meier P. JASA 1958;53:457-481. Brookmeyer R, Crowley J. Biometrics 1982;38:29-41.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from monitor.domain.device import DeviceConfig
from monitor.domain.numbers import finite_or_none
from monitor.domain.grouping import iter_strata
from monitor.stats.survival import time_to_event_summary

__all__ = ["time_to_intervention_by_stratum"]

#: Fewer confirmed positives than this: counts only, no Kaplan-Meier estimate.
MIN_CASES = 5


def time_to_intervention_by_stratum(days: pd.DataFrame, config: DeviceConfig, *, max_level: int | None = 1
                                    ) -> list[dict[str, Any]]:
    """Median, 90th percentile and share within the SLA (with intervals), and censoring counts.

    ``days`` has ``model_version``, stratum labels, ``days``, ``observed`` (1 intervention seen,
    0 censored at the cut-off) and ``n``: one row per full combination of labels, or grouping sets holding
    the groupings read. ``max_level``: the strata of at most that many attributes (1: overall and single
    strata; ``None``: every monitored stratum, intersections too; :func:`monitor.domain.grouping.iter_strata`).
    """
    sla = config.monitoring.intervention_sla_days
    rows: list[dict[str, Any]] = []
    for model_version, stratum, part in iter_strata(days, config, max_level=max_level):
        n = int(part["n"].sum())
        base = {"model_version": model_version, "stratum": stratum.key, "level": stratum.level, "n": n,
                "events": int(part.loc[part["observed"] == 1, "n"].sum()),
                "censored": int(part.loc[part["observed"] == 0, "n"].sum()), "sla_days": sla}
        if n < MIN_CASES:
            rows.append(base | {k: None for k in ("median", "median_ci_low", "median_ci_high", "p90", "p90_ci_low",
                                                 "p90_ci_high", "within_sla", "within_sla_ci_low",
                                                 "within_sla_ci_high")})
            continue
        s = time_to_event_summary(part["days"].to_numpy(dtype=float).clip(min=0), part["observed"].to_numpy(dtype=int),
                                  sla=sla, confidence=config.monitoring.confidence,
                                  counts=part["n"].to_numpy(dtype=np.int64))  # one row per (days, observed)
        rows.append(base | {
            "median": finite_or_none(s.median), "median_ci_low": finite_or_none(s.median_ci[0]),
            "median_ci_high": finite_or_none(s.median_ci[1]), "p90": finite_or_none(s.p90), "p90_ci_low": finite_or_none(s.p90_ci[0]),
            "p90_ci_high": finite_or_none(s.p90_ci[1]), "within_sla": finite_or_none(s.within_sla),
            "within_sla_ci_low": finite_or_none(s.within_sla_ci[0]), "within_sla_ci_high": finite_or_none(s.within_sla_ci[1]),
        })
    return rows
