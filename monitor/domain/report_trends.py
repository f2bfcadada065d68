"""Which stratum-metrics the report draws over the stored periods, and their points (issue 16, item 6).

The report's trend figure follows what the period found: every stratum-metric the claims test flagged
(``findings``) and every one whose CUSUM chart alarmed (``sequential_alarms``), each over the stored periods
up to the report's own, against its claim and performance goal (regulatory.md section 2: performance per
stratum against the pre-specified acceptance criteria, over time). The overall trend stays in the EWMA
figure of the drift section.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["MAX_TREND_SERIES", "trend_points", "watched_series"]

#: At most this many stratum-metrics are drawn; the section says how many more were watched.
MAX_TREND_SERIES = 6

Key = tuple[str, str, str]  # (model version, stratum, metric)


def watched_series(document: Mapping[str, Any]) -> list[tuple[Key, list[str]]]:
    """The stratum-metrics to draw and why (``flagged``, ``cusum_alarm``): the flagged ones first (in the
    findings' order), then the alarmed ones not flagged.

    Examples
    --------
    >>> doc = {"findings": [{"model_version": "2", "stratum": "s", "metric": "sensitivity"}],
    ...        "sequential_alarms": [{"model_version": "2", "stratum": "s", "metric": "sensitivity"},
    ...                              {"model_version": "2", "stratum": "overall", "metric": "specificity"}]}
    >>> watched_series(doc)
    [(('2', 's', 'sensitivity'), ['flagged', 'cusum_alarm']), (('2', 'overall', 'specificity'), ['cusum_alarm'])]
    """
    reasons: dict[Key, list[str]] = {}
    for kind, rows in (("flagged", document.get("findings") or []),
                       ("cusum_alarm", document.get("sequential_alarms") or [])):
        for row in rows:
            key = (str(row["model_version"]), str(row["stratum"]), str(row["metric"]))
            if kind not in reasons.setdefault(key, []):
                reasons[key].append(kind)
    return list(reasons.items())


def trend_points(results: Iterable[Any], period_of: Mapping[str, str], order: Sequence[str], key: Key
                 ) -> list[dict[str, Any]]:
    """The points of one stratum-metric: one per period of ``order`` (oldest first) whose run (``period_of``:
    run id -> period) has a stored result for ``key``; the goal is claim - margin.

    ``results`` are stored stratum results (attributes ``run_id``, ``model_version``, ``stratum``, ``metric``,
    ``successes``, ``trials``, ``estimate``, ``ci_low``, ``ci_high``, ``claim``, ``margin``, ``status``).
    """
    found: dict[str, dict[str, Any]] = {}
    for r in results:
        if (r.model_version, r.stratum, r.metric) != key or r.run_id not in period_of:
            continue
        goal = r.claim - r.margin if r.claim is not None and r.margin is not None else None
        found[period_of[r.run_id]] = {
            "period": period_of[r.run_id], "run_id": r.run_id, "successes": int(r.successes), "trials": int(r.trials),
            "estimate": r.estimate, "ci_low": r.ci_low, "ci_high": r.ci_high, "claim": r.claim,
            "performance_goal": goal, "status": r.status}
    return [found[p] for p in order if p in found]
