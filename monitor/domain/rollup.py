"""Roll stored per-period results up into a longer period (e.g. four quarters into a year).

Confusion counts are recovered from each period's stored stratum results (sensitivity gives
TP of TP+FN, specificity TN of TN+FP), summed per model version and stratum, and evaluated again
with :func:`monitor.domain.evaluation.evaluate_counts`: intervals, the exact tests against the claim
and the goal, the same pre-specified rule with the same fixed families (Holm over the confirmatory
family, Benjamini-Hochberg over the exploratory one), minimal detectable drops. Counts add because the periods are disjoint and each case belongs to one
period (by its prediction time); see docs/methods.md for the decision rule itself. The roll-up decides on the plain
summed counts (the stored results keep no evidence adjustments).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from monitor.domain.device import DeviceConfig
from monitor.domain.evaluation import (
    StratumCounts,
    StratumMetricResult,
    evaluate_counts,
)
from monitor.domain.strata import OVERALL_KEY, StratumDefinition

__all__ = ["counts_from_results", "rollup_results"]


def _stratum(key: str) -> StratumDefinition:
    if key == OVERALL_KEY:
        return StratumDefinition.of({})
    return StratumDefinition.of(dict(part.split("=", 1) for part in key.split(" & ")))


def counts_from_results(rows: Iterable[dict[str, Any]]) -> dict[tuple[str, str], dict[str, int]]:
    """``{(model_version, stratum): {tp, fp, fn, tn}}`` from one run's stored stratum results."""
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for r in rows:
        cell = counts.setdefault((r["model_version"], r["stratum"]), {"tp": 0, "fp": 0, "fn": 0, "tn": 0})
        if r["metric"] == "sensitivity":
            cell["tp"], cell["fn"] = int(r["successes"]), int(r["trials"]) - int(r["successes"])
        elif r["metric"] == "specificity":
            cell["tn"], cell["fp"] = int(r["successes"]), int(r["trials"]) - int(r["successes"])
    return counts


def rollup_results(periods: Sequence[Sequence[dict[str, Any]]], config: DeviceConfig
                   ) -> tuple[list[StratumCounts], list[StratumMetricResult]]:
    """Summed counts and their evaluation for the stored results of several disjoint periods.

    Strata keep the order of their first appearance (the stored report order of the earliest period).
    """
    total: dict[tuple[str, str], dict[str, int]] = {}
    for rows in periods:
        for key, cell in counts_from_results(rows).items():
            into = total.setdefault(key, {"tp": 0, "fp": 0, "fn": 0, "tn": 0})
            for name, value in cell.items():
                into[name] += value
    counts = [StratumCounts(model_version, _stratum(stratum), c["tp"], c["fp"], c["fn"], c["tn"])
              for (model_version, stratum), c in total.items()]
    counts.sort(key=lambda c: c.model_version)  # stable: strata keep their order within a model version
    return counts, evaluate_counts(counts, config)
