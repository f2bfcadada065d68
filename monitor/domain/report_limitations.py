"""The report's limitations and stratum-vs-rest differences, generated from the data (pure).

Limitations (regulatory.md section 2, item 17; MDCG 2022-21 section 9(a) "validity of the collected data"):
one typed row per limitation that the period's data show, with the values its sentence prints; the template
words each kind. Stratum vs rest (item 11: "difference from the rest of the population"): the rows the analysis
computed (Newcombe interval, one-sided Fisher p, Benjamini-Hochberg q over the section), every single stratum
and the intersections that are a signal (q at or below ``monitoring.fdr``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DifferenceRow", "Limitation", "StratumVsRest", "limitations", "stratum_vs_rest"]

#: Outcomes that decide (a provisional one among them is counted as provisional; normalise.DECIDING_STATUSES).
_DECIDING = ("flagged", "conforming", "inconclusive", "ok")

LimitationKind = Literal[
    "label_immaturity", "small_strata", "verification", "provisional_outcomes", "exploratory_family",
    "indicators", "outcome_dependent_delay", "clustered", "independence", "strata_below_goal",
    "mostly_pending_strata", "sites_not_covered", "undefined_reference_standard", "undeclared_model_version",
    "scanner_models_not_logged"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Limitation(_Model):
    """One limitation: its kind (the sentence) and the values the sentence prints."""

    kind: LimitationKind = Field(description="Which limitation (the template words each kind).")
    values: dict[str, str | int | float] = Field(default_factory=dict, description="The values its sentence prints.")


class DifferenceRow(_Model):
    """A stratum-metric against the rest of its model version's population (analysis.stratum_vs_rest)."""

    model_version: str = Field(description="Model version.")
    stratum: str = Field(description="Stratum key.")
    level: int = Field(description="1 single attribute, 2 pairwise intersection.")
    metric: str = Field(description="The metric.")
    successes: int = Field(description="Numerator in the stratum.")
    trials: int = Field(description="Denominator in the stratum.")
    estimate: float | None = Field(description="Estimate in the stratum.")
    reference_estimate: float | None = Field(description="Estimate in the rest of the population.")
    difference: float | None = Field(description="estimate - reference_estimate.")
    ci_low: float | None = Field(description="Lower limit of the Newcombe interval of the difference.")
    ci_high: float | None = Field(description="Upper limit of the Newcombe interval of the difference.")
    p_value: float | None = Field(description="One-sided Fisher exact p-value (stratum lower).")
    q_value: float | None = Field(description="Benjamini-Hochberg q-value over the section.")
    signal: bool = Field(description="q_value at or below monitoring.fdr.")


class StratumVsRest(_Model):
    """The printed rows (single strata, then intersections that are a signal) and how many the JSON holds."""

    fdr: float = Field(description="The level a q-value is a signal at (monitoring.fdr).")
    total: int = Field(description="Rows of analysis.stratum_vs_rest.")
    signals: int = Field(description="Of these, signals.")
    rows: list[DifferenceRow] = Field(description="Every single stratum and each intersection that is a signal.")


def stratum_vs_rest(document: Mapping[str, Any]) -> StratumVsRest | None:
    """The stratum-vs-rest rows of an analysis document; None when it has none (a roll-up)."""
    source = document.get("stratum_vs_rest") or []
    if not source:
        return None
    fdr = float(document["rules"]["fdr"])
    rows = [DifferenceRow(**{k: r.get(k) for k in DifferenceRow.model_fields if k != "signal"},
                          signal=r.get("q_value") is not None and r["q_value"] <= fdr)
            for r in source]
    shown = [r for r in rows if r.level <= 1 or r.signal]
    shown.sort(key=lambda r: (r.model_version, r.level, not r.signal, r.metric, r.stratum))
    return StratumVsRest(fdr=fdr, total=len(rows), signals=sum(r.signal for r in rows), rows=shown)


def _below_goal(results: Sequence[Mapping[str, Any]]) -> list[str]:
    """Stratum-metrics whose point estimate is below the performance goal without a decided shortfall (the
    provisional ones are counted among the provisional outcomes)."""
    return [f"{r['metric']} · {r['stratum']}" for r in results
            if r.get("status") != "flagged" and not r.get("provisional") and r.get("estimate") is not None
            and r.get("performance_goal") is not None and r["estimate"] < r["performance_goal"]]


def limitations(document: Mapping[str, Any], *, sites_not_covered: Sequence[str] = (),
                undefined_sources: Sequence[str] = (), undeclared_versions: Sequence[str] = (),
                scanner_basis: str | None = None) -> list[Limitation]:
    """Every limitation the document (and the product sections' findings) show, in a fixed order."""
    out: list[Limitation] = []
    rules = document["rules"]
    for m in document.get("maturity") or []:
        if m.get("level") == 0 and not m.get("mature"):
            out.append(Limitation(kind="label_immaturity", values={
                "model": m["model_version"], "completeness": m.get("completeness") or 0.0,
                "days": int(rules["maturity_window_days"])}))
    pending = [m for m in document.get("maturity") or [] if m.get("level") == 1 and m.get("mostly_pending")]
    if pending:
        out.append(Limitation(kind="mostly_pending_strata", values={"count": len(pending)}))
    insufficient = int(document["summary"].get("insufficient") or 0)
    if insufficient:
        out.append(Limitation(kind="small_strata", values={"count": insufficient}))
    below = _below_goal(document["results"])
    if below:
        out.append(Limitation(kind="strata_below_goal", values={"count": len(below), "examples": "; ".join(below[:3])}))
    for v in document.get("verification") or []:
        if v.get("level") == 0:
            out.append(Limitation(kind="verification", values={
                "model": v["model_version"], "pos": v.get("verification_fraction_positive_calls") or 0.0,
                "neg": v.get("verification_fraction_negative_calls") or 0.0}))
    provisional = sum(1 for r in document["results"] if r.get("provisional") and r.get("status") in _DECIDING)
    if provisional:
        out.append(Limitation(kind="provisional_outcomes", values={"count": provisional}))
    if any(r.get("family") == "exploratory" for r in document["results"]):
        out.append(Limitation(kind="exploratory_family"))
    out.append(Limitation(kind="indicators"))
    arrival = document.get("label_arrival") or {}
    for d in arrival.get("distributions") or []:
        if d.get("outcome_dependent_delay") and d.get("positives") and d.get("negatives"):
            out.append(Limitation(kind="outcome_dependent_delay", values={
                "model": d["model_version"], "pos": d["positives"].get("median_days") or 0,
                "neg": d["negatives"].get("median_days") or 0}))
    clustering = document.get("clustering")
    if clustering:
        out.append(Limitation(kind="clustered", values={"repeated": int(clustering.get("repeated_patients") or 0)}))
    else:
        out.append(Limitation(kind="independence"))
    if sites_not_covered:
        out.append(Limitation(kind="sites_not_covered", values={"sites": ", ".join(sites_not_covered)}))
    if undefined_sources:
        out.append(Limitation(kind="undefined_reference_standard", values={"sources": ", ".join(undefined_sources)}))
    if undeclared_versions:
        out.append(Limitation(kind="undeclared_model_version", values={"versions": ", ".join(undeclared_versions)}))
    if scanner_basis in ("configured_models", "manufacturer_only"):
        out.append(Limitation(kind="scanner_models_not_logged"))
    return out
