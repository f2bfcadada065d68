"""The dashboard's read model: plain frames and dicts built from stored analysis runs only.

Every function reads what :func:`monitor.service.analyze.analyze_period` stored (run headers, the
analysis document, stratum results, findings, ticket counts, report files); none of them recomputes a
statistic, so a page costs a few indexed queries whatever the size of the prediction logs. The tickets
themselves come from :func:`monitor.service.tickets.list_tickets`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from monitor.domain.strata import MISSING_LABEL, StratumDefinition
from monitor.domain.tickets import TERMINAL
from monitor.service.ports import UnitOfWorkFactory

__all__ = [
    "attribute_levels", "data_drift", "device_periods", "findings", "newest_run_id", "overview",
    "report_files", "strata", "stratum_grid", "stratum_trend",
]

GRID_COLUMNS = ["row", "column", "stratum", "successes", "trials", "estimate", "ci_low", "ci_high", "claim",
                "margin", "difference", "q_value", "status", "family", "provisional", "expected_share",
                "q_conformity", "minimal_detectable_drop"]
#: Fields of the decision rule read from the run's document (the stratum_results table does not hold them).
DECISION_FIELDS = ("family", "family_size", "family_level", "provisional", "expected_share", "q_conformity",
                   "minimal_detectable_drop", "design_effect")


def _decisions(document: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """The decision fields of each result of an analysis document, by (model version, stratum, metric);
    a document of the earlier rule has none of them (absent fields are None)."""
    return {(r["model_version"], r["stratum"], r["metric"]): {k: r.get(k) for k in DECISION_FIELDS}
            for r in document.get("results", [])}


def _dated_alarms(chart: dict[str, Any]) -> str:
    """A CUSUM chart's alarm dates in the period ("2025-08-14 (case 1,712)"), or the undated position an
    earlier document stored."""
    dated = [f"{a['known_on']} (case {a['case_index']:,})" for a in chart.get("alarms") or [] if a.get("known_on")]
    if dated:
        return "; ".join(dated)
    first = chart.get("first_alarm_case_in_period")
    return f"case {first} of the period (undated)" if first else ""


def _run_of(unit: Any, device_id: str, period: str) -> dict[str, Any] | None:
    return next((r for r in unit.dashboard.latest_runs(device_id) if r["period"] == period), None)


def newest_run_id(uow: UnitOfWorkFactory) -> str | None:
    """Id of the newest stored analysis run (changes whenever an analysis is stored)."""
    with uow() as unit:
        return unit.dashboard.newest_run_id()


def device_periods(uow: UnitOfWorkFactory, device_id: str) -> list[str]:
    """Analysed periods of a device, newest first."""
    with uow() as unit:
        return [r["period"] for r in reversed(unit.dashboard.latest_runs(device_id))]


def overview(uow: UnitOfWorkFactory) -> list[dict[str, Any]]:
    """One row per device: its current (newest analysed) period, label completeness, tests, flags,
    findings, tickets by status and drifted features."""
    rows = []
    with uow() as unit:
        for device in unit.dashboard.devices():
            runs = unit.dashboard.latest_runs(device["device_id"])
            counts = unit.dashboard.ticket_counts(device["device_id"])
            row: dict[str, Any] = {
                "device_id": device["device_id"], "name": device["name"], "periods": len(runs),
                "open_tickets": sum(n for s, n in counts.items() if s not in TERMINAL), "tickets_by_status": counts,
            }
            if runs:
                current = runs[-1]
                doc = unit.dashboard.document(current["run_id"])
                total = doc["completeness"]["total"]
                row |= {
                    "period": current["period"], "run_id": current["run_id"], "analysed_at": current["created_at"],
                    "data_cutoff": current["data_cutoff"],
                    "model_versions": [c["model_version"] for c in doc["completeness"]["by_model_version"]],
                    "predictions": total["predictions"], "with_ground_truth": total["with_ground_truth"],
                    "label_completeness": (total["with_ground_truth"] / total["predictions"]
                                           if total["predictions"] else None),
                    "tests": doc["summary"]["tests"], "flagged": doc["summary"]["flagged"],
                    "insufficient": doc["summary"]["insufficient"], "outcomes": doc["summary"].get("outcomes"),
                    "open_findings": len(unit.dashboard.findings([current["run_id"]])),
                    "drifted_features": sorted({d["feature"] for g in doc.get("data_drift", [])
                                                for d in g.get("rows", [g]) if d.get("drifted")}),
                }
            rows.append(row)
    return rows


def attribute_levels(uow: UnitOfWorkFactory, device_id: str) -> dict[str, list[str]]:
    """Stratification attributes of a device and their labels in report order."""
    with uow() as unit:
        config = unit.devices.get(device_id)
    return {a.name: a.labels() for a in config.strata.attributes}


def strata(uow: UnitOfWorkFactory, device_id: str, period: str) -> pd.DataFrame:
    """The strata of a period's newest run with their status per metric (one row per model version,
    stratum and metric)."""
    with uow() as unit:
        run = _run_of(unit, device_id, period)
        rows = unit.dashboard.stratum_results([run["run_id"]]) if run else []
        decided = _decisions(unit.dashboard.document(run["run_id"])) if run else {}
    columns = ["model_version", "stratum", "level", "metric", "status", "estimate", "trials", "family",
               "provisional", "expected_share", "minimal_detectable_drop"]
    return pd.DataFrame([{k: r[k] for k in columns[:7]}
                         | {k: decided.get((r["model_version"], r["stratum"], r["metric"]), {}).get(k)
                            for k in columns[7:]} for r in rows], columns=columns)


def stratum_grid(uow: UnitOfWorkFactory, device_id: str, period: str, *, metric: str, rows: str, columns: str,
                 model_version: str | None = None) -> pd.DataFrame:
    """The stored results of the intersection ``rows x columns`` in a period, one row per cell.

    Cells are ordered by the attributes' labels; a cell without a stored result (no case, or an
    intersection the device does not monitor) has status ``no_data``. ``difference`` is the
    estimate minus the claim (negative: below the claim).
    """
    if rows == columns:
        raise ValueError("choose two different attributes")
    levels = attribute_levels(uow, device_id)
    with uow() as unit:
        run = _run_of(unit, device_id, period)
        stored = unit.dashboard.stratum_results([run["run_id"]], metric=metric, level=2) if run else []
        decided = _decisions(unit.dashboard.document(run["run_id"])) if run else {}
    versions = sorted({r["model_version"] for r in stored})
    version = model_version or (versions[-1] if versions else None)
    by_key = {r["stratum"]: r for r in stored if r["model_version"] == version}
    cells = []
    for row_label in [*levels[rows], MISSING_LABEL]:
        for col_label in [*levels[columns], MISSING_LABEL]:
            key = StratumDefinition.of({rows: row_label, columns: col_label}).key
            found = by_key.get(key)
            if found is None:
                if MISSING_LABEL in (row_label, col_label):
                    continue
                cells.append({"row": row_label, "column": col_label, "stratum": key, "status": "no_data",
                              "successes": 0, "trials": 0})
                continue
            difference = (found["estimate"] - found["claim"]
                          if found["estimate"] is not None and found["claim"] is not None else None)
            found = found | decided.get((found["model_version"], key, found["metric"]), {})
            cells.append({"row": row_label, "column": col_label, "difference": difference,
                          **{k: found[k] for k in GRID_COLUMNS if k in found}})
    return pd.DataFrame(cells, columns=GRID_COLUMNS)


def stratum_trend(uow: UnitOfWorkFactory, device_id: str, *, stratum: str, metric: str,
                  model_version: str) -> dict[str, pd.DataFrame]:
    """A stratum-metric over the analysed periods: ``estimates`` (estimate, interval, claim and
    performance goal per period, from each period's newest run), ``ewma`` (the newest run's EWMA
    chart with its control limits) and ``cusum`` (each period's CUSUM statistic and decision limit h)."""
    with uow() as unit:
        runs = unit.dashboard.latest_runs(device_id)
        period_of = {r["run_id"]: r["period"] for r in runs}
        stored = unit.dashboard.stratum_results(list(period_of), metric=metric, stratum=stratum)
        documents = [(r["period"], unit.dashboard.document(r["run_id"])) for r in runs]
    decided = {r["run_id"]: _decisions(doc) for r, (_, doc) in zip(runs, documents, strict=True)}
    estimates = pd.DataFrame([{
        "period": period_of[r["run_id"]], "estimate": r["estimate"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
        "claim": r["claim"], "goal": (r["claim"] - r["margin"]) if r["claim"] is not None else None,
        "successes": r["successes"], "trials": r["trials"], "status": r["status"], "q_value": r["q_value"],
        "provisional": decided[r["run_id"]].get((model_version, stratum, metric), {}).get("provisional"),
    } for r in stored if r["model_version"] == model_version],
        columns=["period", "estimate", "ci_low", "ci_high", "claim", "goal", "successes", "trials", "status",
                 "q_value", "provisional"])

    def chart(doc: dict[str, Any], kind: str) -> dict[str, Any] | None:
        return next((c for c in doc.get("sequential", {}).get(kind, []) if c["stratum"] == stratum
                     and c["metric"] == metric and c["model_version"] == model_version), None)

    ewma_rows: list[dict[str, Any]] = []
    if documents and (latest := chart(documents[-1][1], "ewma")) is not None:
        reference = latest.get("reference", latest["claim"])
        ewma_rows = [{"period": p, "rate": rate, "ewma": e, "lower": lo, "upper": hi, "claim": latest["claim"],
                      "reference": reference, "reference_source": latest.get("reference_source")}
                     for p, rate, e, lo, hi in zip(latest["periods"], latest["rates"], latest["ewma"],
                                                   latest["lower"], latest["upper"], strict=True)]
    cusum_rows = [{"period": p, "statistic": c["statistic"], "h": c["h"], "alarms": c["alarms_in_period"],
                   "cases": c["cases_in_period"],
                   "peak": max([a["statistic"] for a in c.get("alarms") or []], default=None),
                   "alarm_dates": _dated_alarms(c)}
                  for p, doc in documents if (c := chart(doc, "cusum")) is not None]
    return {"estimates": estimates,
            "ewma": pd.DataFrame(ewma_rows, columns=["period", "rate", "ewma", "lower", "upper", "claim", "reference",
                                                     "reference_source"]),
            "cusum": pd.DataFrame(cusum_rows, columns=["period", "statistic", "h", "alarms", "cases", "peak",
                                                       "alarm_dates"])}


def findings(uow: UnitOfWorkFactory, device_id: str, period: str) -> list[dict[str, Any]]:
    """The findings of a period's newest run with their evidence, performance findings first."""
    with uow() as unit:
        run = _run_of(unit, device_id, period)
        found = unit.dashboard.findings([run["run_id"]]) if run else []
    return sorted(found, key=lambda f: (f["kind"] != "performance", f["stratum"], f["metric"]))


def data_drift(uow: UnitOfWorkFactory, device_id: str, period: str) -> pd.DataFrame:
    """Per-feature data drift of a period, one row per comparison (the preceding window, the fixed baseline)
    and feature: method, value, threshold, effect size and the floor that decided, ``drifted`` (None: no
    reference, never "not drifted") and the reason."""
    columns = ["reference", "reference_periods", "feature", "kind", "method", "value", "threshold", "effect_size",
               "effect_floor", "drifted", "reason", "reference_n", "current_n"]
    with uow() as unit:
        run = _run_of(unit, device_id, period)
        stored = unit.dashboard.document(run["run_id"]).get("data_drift", []) if run else []
    if stored and not all("rows" in g for g in stored):  # a document before the fixed baseline: one flat list
        stored = [{"reference": "preceding", "periods": None, "rows": stored}]
    return pd.DataFrame([{k: r.get(k) for k in columns[2:]}
                         | {"reference": g.get("reference"), "reference_periods": ", ".join(g.get("periods") or [])}
                         for g in stored for r in g.get("rows", [])], columns=columns)


def report_files(uow: UnitOfWorkFactory, device_id: str) -> pd.DataFrame:
    """Report files recorded for a device, newest first, with whether each file is still on disk."""
    columns = ["period", "format", "language", "created_at", "path", "sha256", "run_id", "report_id", "exists"]
    with uow() as unit:
        rows = unit.dashboard.report_files(device_id)
    return pd.DataFrame([{k: r.get(k) for k in columns[:-1]} | {"exists": Path(r["path"]).is_file()}
                         for r in rows], columns=columns)
