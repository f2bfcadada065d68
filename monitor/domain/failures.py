"""AI failure / no-result rate per model version and stratum, against an optional registered maximum.

A study the device was asked to read either got a result (a row of ``predictions``) or did not
(a row of ``prediction_failures``, result status ``failed`` or ``no_result``, with a failure code).
The failure rate is ``failures / (results + failures)`` with the configured binomial interval
(Wilson by default). Overall and single strata, per model version.

When the device configuration sets ``claims.failure_rate`` (a maximum and a margin), each stratum is
decided by the same pre-specified rule as the performance claims (:mod:`monitor.domain.evaluation`), with
the goal ``maximum + margin`` and the direction reversed (a rate must stay low):

* ``flagged`` (excess shown): the exact one-sided test of H0: rate <= goal rejects after the family's
  multiplicity control (the one-sided lower bound lies above the goal);
* ``conforming``: the exact test of H0: rate >= goal rejects after the same control;
* ``inconclusive``: neither; ``insufficient``: no attempts (enters its family with p = 1); ``not_tested``: no
  maximum configured, or a label the configuration does not enumerate.

Families per model version, fixed by the configuration: the overall rate and the single strata of the
``strata.confirmatory`` attributes (Holm at ``monitoring.alpha``), every other enumerated single stratum
(Benjamini-Hochberg at ``monitoring.fdr``). ``p_value`` is the exact test of H0: rate <= maximum (the
registered value), reported, not deciding; every p-value is also kept in log10.

References
----------
Wilson EB. JASA 1927;22:209-212. Clopper CJ, Pearson ES. Biometrika 1934;26:404-413.
Holm S. Scand J Stat 1979;6:65-70. Benjamini Y, Hochberg Y. J R Stat Soc B 1995;57:289-300.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from monitor.domain.device import DeviceConfig
from monitor.domain.grouping import iter_strata
from monitor.domain.numbers import finite_or_none
from monitor.domain.strata import StratumDefinition
from monitor.domain.metric_claims import decide_family, proportion_goal_tests
from monitor.stats.intervals import proportion_interval

__all__ = ["failure_families", "failure_rates_by_stratum"]


def _by_code(failed: pd.DataFrame) -> dict[str, int]:
    counts = failed.groupby("failure_code")["n"].sum()
    return {str(code): int(n) for code, n in sorted(counts.items(), key=lambda item: (-int(item[1]), str(item[0])))}


def failure_families(config: DeviceConfig) -> dict[str, set[str]]:
    """The stratum keys of the confirmatory and exploratory failure-rate families (per model version)."""
    confirmatory = {StratumDefinition().key}
    exploratory: set[str] = set()
    for spec in config.strata.attributes:
        into = confirmatory if spec.name in config.strata.confirmatory else exploratory
        into.update(StratumDefinition.of({spec.name: label}).key for label in spec.labels())
    return {"confirmatory": confirmatory, "exploratory": exploratory}


def _power10(value: float) -> float | None:
    return float(10.0 ** value) if np.isfinite(value) else None


def failure_rates_by_stratum(counts: pd.DataFrame, config: DeviceConfig) -> list[dict[str, Any]]:
    """Failure rate of every overall and single stratum of each model version, decided against the goal.

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
            "goal": limit.maximum + limit.margin if limit else None,
            "p_value": None, "log10_p_value": None, "p_excess": None, "log10_p_excess": None,
            "q_value": None, "log10_q_value": None, "p_conformity": None, "q_conformity": None,
            "family": None, "family_size": None, "family_level": None,
            "status": "not_tested", "by_code": _by_code(failed),
            "finding_id": None,  # set by the analysis for a flagged row
        })
    if limit is None or not rows:
        return rows
    families = failure_families(config)
    methods = {"confirmatory": ("holm", float(rules.alpha)), "exploratory": ("bh", float(rules.fdr))}
    groups: dict[tuple[str, str], list[int]] = {}
    for i, row in enumerate(rows):
        name = next((n for n, keys in families.items() if row["stratum"] in keys), None)
        if name is None:
            continue
        method, level = methods[name]
        row.update(family=name, family_size=len(families[name]), family_level=level, status="insufficient")
        if row["attempts"] > 0:
            groups.setdefault((row["model_version"], name), []).append(i)
    for (_, name), members in groups.items():
        method, level = methods[name]
        x = np.array([rows[i]["failures"] for i in members], dtype=np.float64)
        n = np.array([rows[i]["attempts"] for i in members], dtype=np.float64)
        # a maximum: departure is the excess (H0: rate <= value), decided as every claimed maximum is
        registered = proportion_goal_tests(x, n, limit.maximum, "maximum")
        decided = proportion_goal_tests(x, n, limit.maximum + limit.margin, "maximum")
        decision = decide_family(decided, method, len(families[name]), level)  # type: ignore[arg-type]
        q_excess, q_below = decision.log10_q_departure, decision.log10_q_conformity
        for j, i in enumerate(members):
            rows[i].update(p_value=_power10(registered.log10_p_departure[j]),
                           log10_p_value=finite_or_none(registered.log10_p_departure[j]),
                           p_excess=_power10(decided.log10_p_departure[j]),
                           log10_p_excess=finite_or_none(decided.log10_p_departure[j]),
                           q_value=_power10(q_excess[j]), log10_q_value=finite_or_none(q_excess[j]),
                           p_conformity=_power10(decided.log10_p_conformity[j]), q_conformity=_power10(q_below[j]),
                           status=decision.statuses[j])
    return rows
