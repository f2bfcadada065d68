"""The CAPA record a ticket gets when an analysis opens it: items 1 and 2 from the finding and its run, the
suggested containment, severity and acceptance rule from the ticket's plan, and the root-cause evidence the run
already holds (input drift, the stratum against the rest, the errors to review)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping, Sequence

from monitor.domain.capa.record import (
    AcceptanceCriteria,
    AcceptanceRule,
    CapaRecord,
    ChartState,
    Containment,
    DriftEvidence,
    ErrorReview,
    Identification,
    LabelMaturity,
    RegistrationRef,
    RiskAssessment,
    RootCause,
    RootCauseEvidence,
    StratumVsRest,
    TriggerEvidence,
)
from monitor.domain.device import DeviceConfig

__all__ = ["TRIALS_ARE", "open_record", "root_cause_evidence", "stratum_definition"]

#: What the trials of each metric count (the n of the trigger evidence).
TRIALS_ARE = {"sensitivity": "confirmed positives", "specificity": "confirmed negatives",
              "ppv": "AI-positive calls with ground truth", "npv": "AI-negative calls with ground truth"}
_ERRORS = {"sensitivity": "false_negatives", "npv": "false_negatives", "specificity": "false_positives",
           "ppv": "false_positives"}


def stratum_definition(attributes: Mapping[str, str]) -> str:
    """``age_band = >=75 AND emphysema_grade = severe``; ``overall population`` without attributes."""
    return " AND ".join(f"{k} = {v}" for k, v in attributes.items()) or "overall population"


def _match(rows: Sequence[Mapping[str, Any]], model_version: str, stratum: str,
           metric: str | None = None) -> Mapping[str, Any] | None:
    return next((r for r in rows if r.get("model_version") == model_version and r.get("stratum") == stratum
                 and (metric is None or r.get("metric") == metric)), None)


def root_cause_evidence(document: Mapping[str, Any], *, model_version: str, stratum: str, metric: str,
                        successes: int, trials: int) -> RootCauseEvidence:
    """The input drift, stratum-vs-rest difference and error count of one stratum-metric in a run's document."""
    drift = []
    for comparison in document.get("data_drift") or []:
        for row in comparison.get("rows") or []:
            drift.append(DriftEvidence(reference=str(comparison.get("reference")), feature=str(row["feature"]),
                                       method=str(row.get("method")), value=row.get("value"),
                                       effect_size=row.get("effect_size"), drifted=bool(row.get("drifted"))))
    rest = _match(document.get("stratum_vs_rest") or [], model_version, stratum, metric)
    versus = None if rest is None else StratumVsRest(**{k: rest.get(k) for k in (
        "estimate", "reference_estimate", "difference", "ci_low", "ci_high", "p_value")})
    return RootCauseEvidence(input_drift=drift, stratum_vs_rest=versus, error_review=ErrorReview(
        error_kind=_ERRORS.get(metric, "errors"), errors=trials - successes))


def _chart(document: Mapping[str, Any], model_version: str, stratum: str, metric: str) -> ChartState | None:
    chart = _match((document.get("sequential") or {}).get("cusum") or [], model_version, stratum, metric)
    if chart is None:
        return None
    alarms = int(chart.get("alarms_in_period") or 0)
    return ChartState(state="alarm" if alarms else "in_control", statistic=float(chart["statistic"]),
                      h=float(chart["h"]), arl0=chart.get("arl0"), alarms_in_period=alarms,
                      first_alarm=chart.get("first_alarm"))


def _sites(document: Mapping[str, Any], attributes: Mapping[str, str]) -> list[str]:
    if "site_id" in attributes:
        return [attributes["site_id"]]
    return [str(s["site_id"]) for s in document.get("sites") or []]


def open_record(*, ticket_id: str, config: DeviceConfig, model_version: str, finding_id: str,
                evidence: Mapping[str, Any],
                run: Mapping[str, Any], detected_at: datetime, severity: str | None, containment: str | None,
                acceptance: Mapping[str, Any] | None) -> CapaRecord:
    """The record of a ticket opened by ``run`` (a stored analysis run with its ``document``) for the finding
    whose ``evidence`` it stored."""
    document = run["document"]
    stratum, metric = str(evidence["stratum"]), str(evidence["metric"])
    attributes = dict(evidence.get("attributes") or {})
    maturity = _match(document.get("maturity") or [], model_version, stratum) or {}
    alarm_ids = [finding_id] + [r["finding_id"] for r in evidence.get("related_findings") or []] + [
        a["finding_id"] for a in document.get("sequential_alarms") or []
        if (a.get("model_version"), a.get("stratum"), a.get("metric")) == (model_version, stratum, metric)]
    trigger = TriggerEvidence(
        finding_id=finding_id, run_id=str(run["run_id"]), period=str(run["period"]),
        data_cutoff=str(document.get("data_cutoff") or evidence.get("data_cutoff")), detected_at=detected_at,
        input_fingerprint=str(run["input_fingerprint"]), config_hash=str(run["config_hash"]),
        model_version=model_version, metric=metric, stratum=stratum, stratum_definition=stratum_definition(attributes),
        registered_value=float(evidence["claim"]), margin=float(evidence["margin"]),
        performance_goal=float(evidence["performance_goal"]), observed=float(evidence["estimate"]),
        ci_low=evidence.get("ci_low"), ci_high=evidence.get("ci_high"), confidence=config.monitoring.confidence,
        test=str(evidence.get("test_description") or "exact one-sided binomial test of H0: metric >= performance "
                 "goal, adjusted within its decision family"),
        p_value=evidence.get("p_departure", evidence.get("p_shortfall", evidence.get("p_value"))), q_value=evidence.get("q_value"),
        family=evidence.get("family"), successes=int(evidence["successes"]), trials=int(evidence["trials"]),
        trials_are=TRIALS_ARE.get(metric, "cases"),
        label_maturity=LabelMaturity(completeness=maturity.get("completeness"), mature=maturity.get("mature"),
                                     expected_share=evidence.get("expected_share")),
        chart=_chart(document, model_version, stratum, metric),
    )
    identity = config.device
    return CapaRecord(
        ticket_id=ticket_id,
        identification=Identification(
            device_id=identity.id, product=identity.name, model_versions=[model_version],
            registrations=[RegistrationRef(jurisdiction=r.jurisdiction, number=r.number, device_class=r.device_class)
                           for r in identity.registrations],
            sites=_sites(document, attributes), alarm_ids=list(dict.fromkeys(alarm_ids))),
        trigger=trigger,
        risk=RiskAssessment(severity=severity),  # type: ignore[arg-type]
        containment=Containment(suggested=containment),
        root_cause=RootCause(evidence=root_cause_evidence(document, model_version=model_version, stratum=stratum,
                                                          metric=metric, successes=trigger.successes,
                                                          trials=trigger.trials)),
        acceptance=AcceptanceCriteria(rule=AcceptanceRule(**acceptance) if acceptance else None),
    )
