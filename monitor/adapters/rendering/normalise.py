"""The analysis document's rows in the one shape the report and its annexes print, whichever software
version stored them.

Documents stored before the pre-specified decision rule (issue 19) lack its fields (family, one-sided
tests against the performance goal, provisional outcomes), count alarms by position instead of dating
them and compare data drift with one window only. They keep rendering: a missing field reads as absent
(``None``), the old status ``ok`` stays ``ok`` (printed as the earlier rule's "not flagged", never as a
conformity shown), a flat data-drift list is the one comparison with the preceding window, and a flat
drift row with an empty reference reads "no reference" (that is what it was) rather than "not drifted".
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = [
    "DECIDING_STATUSES", "FAMILIES", "OUTCOMES", "RESULT_DEFAULTS", "alarm_chart", "decision_families",
    "P_VALUE_METHODS", "drift_comparisons", "drift_rule", "drift_verdict", "ewma_chart", "result_row",
]

#: Outcomes of the rule on a claimed stratum-metric, in the order the report lists them.
OUTCOMES = ("flagged", "conforming", "inconclusive", "insufficient")
#: Outcomes the rule reached by a test (``ok`` is the earlier rule's "tested, not flagged").
DECIDING_STATUSES = ("flagged", "conforming", "inconclusive", "ok")
FAMILIES = ("confirmatory", "exploratory")
METHODS = {"confirmatory": "holm", "exploratory": "bh"}

#: Every field of a result (or finding) row the report reads, with its value when a document lacks it.
RESULT_DEFAULTS: dict[str, Any] = {
    "family": None, "family_size": None, "family_level": None, "confirmatory": False,
    "p_value": None, "log10_p_value": None, "q_value": None, "log10_q_value": None, "holm_p": None,
    "p_shortfall": None, "log10_p_shortfall": None, "p_conformity": None, "log10_p_conformity": None,
    "q_conformity": None, "log10_q_conformity": None,
    "effective_successes": None, "effective_trials": None, "basis": [], "design_effect": None,
    "expected_share": None, "provisional": None, "minimal_detectable_drop": None, "additional_needed": None,
    "claim": None, "margin": None, "performance_goal": None, "ticket_id": None,
    "ci_low": None, "ci_high": None, "estimate": None,
}


def result_row(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with every field the report reads (absent ones ``None``, ``provisional`` false)."""
    return RESULT_DEFAULTS | {k: v for k, v in row.items() if v is not None or k not in RESULT_DEFAULTS}


def _family_rules(rules: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """``rules.families`` as ``{(model_version, family): {size, level, method}}`` (a mapping per model
    version, or a list of rows naming their model version and family)."""
    stated = rules.get("families") or {}
    out: dict[tuple[str, str], dict[str, Any]] = {}
    if isinstance(stated, dict):
        for version, families in stated.items():
            for family, spec in (families or {}).items():
                if isinstance(spec, dict):
                    out[(str(version), str(family))] = spec
    elif isinstance(stated, list):
        for spec in stated:
            if isinstance(spec, dict) and "model_version" in spec and "family" in spec:
                out[(str(spec["model_version"]), str(spec["family"]))] = spec
    return out


def decision_families(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Per model version and family: its multiplicity method, level and pre-specified size, and its
    stratum-metrics by outcome (``rows[outcome]``), with how many tested outcomes are provisional (counted
    as the analysis summary counts them).

    Empty for a document of the earlier rule (its rows carry no family).
    """
    stated = _family_rules(document.get("rules") or {})
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for key, spec in stated.items():
        groups[key] = {"model_version": key[0], "family": key[1], "size": spec.get("size"),
                       "level": spec.get("level"), "method": spec.get("method") or METHODS.get(key[1]),
                       "rows": {o: [] for o in OUTCOMES}, "provisional": 0, "members": 0}
    for row in map(result_row, document.get("results") or []):
        if row["family"] is None:
            continue
        key = (row["model_version"], row["family"])
        group = groups.setdefault(key, {"model_version": key[0], "family": key[1], "size": row["family_size"],
                                        "level": row["family_level"], "method": METHODS.get(key[1]),
                                        "rows": {o: [] for o in OUTCOMES}, "provisional": 0, "members": 0})
        group["size"] = group["size"] if group["size"] is not None else row["family_size"]
        group["level"] = group["level"] if group["level"] is not None else row["family_level"]
        group["rows"].setdefault(row["status"], []).append(row)
        group["provisional"] += bool(row["provisional"]) and row["status"] in DECIDING_STATUSES  # as summary.outcomes
        group["members"] += 1
    order = {f: i for i, f in enumerate(FAMILIES)}
    return sorted(groups.values(), key=lambda g: (g["model_version"], order.get(g["family"], 9), g["family"]))


def alarm_chart(chart: dict[str, Any]) -> dict[str, Any]:
    """A CUSUM chart (or an alarm row) with its dated alarm records (``alarms``, oldest first, empty
    for none or for a document that stored only a position), ``peak`` (the highest statistic reached at
    an alarm of the period) and ``legacy_first_case`` (the earlier documents' position of the first
    alarm in the period; it could move at a later cut-off, so it is printed as such)."""
    alarms = [a for a in chart.get("alarms") or [] if isinstance(a, dict)]
    peaks = [a["statistic"] for a in alarms if isinstance(a.get("statistic"), (int, float))]
    return chart | {"alarms": alarms, "first_alarm": chart.get("first_alarm") or (alarms[0] if alarms else None),
                    "peak": max(peaks) if peaks else None,
                    "legacy_first_case": chart.get("first_alarm_case_in_period"),
                    "restarted_at_utc": chart.get("restarted_at_utc"), "order": chart.get("order"),
                    "verification": chart.get("verification"), "ticket_id": chart.get("ticket_id")}


def ewma_chart(chart: dict[str, Any]) -> dict[str, Any]:
    """An EWMA chart with its centre line: ``reference`` and where it comes from (``reference_source``:
    configured, established or claim); documents before the reference level was centred on the claim."""
    source = chart.get("reference_source") or ("claim" if chart.get("reference") is None else None)
    return chart | {"reference": chart.get("reference", chart.get("claim")), "reference_source": source,
                    "reference_periods": chart.get("reference_periods") or [],
                    "reference_trials": chart.get("reference_trials"),
                    "periods_above_upper_limit": chart.get("periods_above_upper_limit") or []}


def drift_verdict(row: dict[str, Any]) -> str:
    """``drifted``, ``not_drifted``, ``no_reference`` or ``not_compared`` (no case this period)."""
    if row.get("drifted") is True:
        return "drifted"
    if row.get("drifted") is False:
        return "not_drifted"
    return "not_compared" if row.get("reason") == "no_current_cases" else "no_reference"


#: Drift methods whose ``value`` is a p-value and ``threshold`` its level alpha (monitor.domain.data_drift).
P_VALUE_METHODS = ("chisquare", "two-proportion-z")


def drift_rule(row: dict[str, Any]) -> dict[str, Any]:
    """The quantities the drift rule decided on (monitor.domain.data_drift ``REASONS``), in the columns the
    report prints: ``effect`` (the effect size; a distance is its own), ``floor`` (the effect-size floor; a
    distance's is its threshold), ``p`` and ``alpha`` (tests only: the p-value and its level; None for a
    distance). A test's row stored before the floor existed has ``floor`` None.

    Examples
    --------
    >>> drift_rule({"method": "two-proportion-z", "value": 0.0001, "threshold": 0.05, "effect_size": 0.03,
    ...             "effect_floor": 0.1})
    {'effect': 0.03, 'floor': 0.1, 'p': 0.0001, 'alpha': 0.05}
    >>> drift_rule({"method": "wasserstein", "value": 0.04, "threshold": 0.1, "effect_size": 0.04, "effect_floor": 0.1})
    {'effect': 0.04, 'floor': 0.1, 'p': None, 'alpha': None}
    """
    if row.get("method") in P_VALUE_METHODS:
        return {"effect": row.get("effect_size"), "floor": row.get("effect_floor"), "p": row.get("value"),
                "alpha": row.get("threshold")}
    effect = row.get("effect_size") if row.get("effect_size") is not None else row.get("value")
    floor = row.get("effect_floor") if row.get("effect_floor") is not None else row.get("threshold")
    return {"effect": effect, "floor": floor, "p": None, "alpha": None}


def _drift_row(row: dict[str, Any]) -> dict[str, Any]:
    row = {"method": None, "value": None, "threshold": None, "effect_size": None, "effect_floor": None,
           "reason": None, "reference_n": None, "current_n": None, "drifted": None} | row
    if row["reason"] is None and row["drifted"] is False and not row["reference_n"]:
        row = row | {"drifted": None, "reason": "no_reference"}  # an earlier document's empty reference
    return row | drift_rule(row) | {"verdict": drift_verdict(row)}


def drift_comparisons(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The data-drift comparisons (the preceding window, then the fixed baseline), each with its window
    (``periods``, ``baseline``) and rows carrying ``verdict``; a flat list of an earlier document is the
    one comparison with the preceding window."""
    stored: Iterable[Any] = document.get("data_drift") or []
    stored = list(stored)
    if not stored:
        return []
    if all(isinstance(g, dict) and "rows" in g for g in stored):
        groups = stored
    else:
        window = document.get("reference_window") or {}
        groups = [{"reference": "preceding", "baseline": None, "model_versions": [],
                   "periods": window.get("periods") or [], "rows": stored}]
    return [{"reference": g.get("reference") or "preceding", "baseline": g.get("baseline"),
             "model_versions": g.get("model_versions") or [], "periods": g.get("periods") or [],
             "start_utc": g.get("start_utc"), "end_utc": g.get("end_utc"),
             "rows": [_drift_row(r) for r in g.get("rows") or []]} for g in groups]
