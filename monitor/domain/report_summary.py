"""The report's executive summary and benefit-risk statement: pure rules over the analysis document.

The **conclusion** (regulatory.md section 2, item 16: within claims / signal under investigation / confirmed
degradation) follows from the pre-specified decision rule's outcomes (docs/methods.md section 8), never from a
judgement typed into a template:

1. ``confirmed_degradation``: a stratum-metric of the *confirmatory* family is flagged (Holm at
   ``monitoring.alpha``) on final labels (not provisional);
2. ``signal_under_investigation``: otherwise, a flagged stratum-metric of the exploratory family
   (Benjamini-Hochberg at ``monitoring.fdr``), a provisional flag (too few final labels to decide), or a CUSUM
   alarm in the period whose ticket is not closed or rejected;
3. ``within_claims``: none of these.

The **benefit-risk determination** (regulatory.md section 2, item 15; MDR Art. 86(1)(a); NMPA PRER 八) follows
the conclusion: ``favourable`` within claims, ``favourable_with_open_signals`` while signals are investigated under
their tickets' containment, ``to_be_reassessed`` on confirmed degradation (the risk file's residual risk of a
false negative / false positive changed).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["BENEFIT_RISK_RULE", "CONCLUSION_RULE", "BenefitRisk", "ChangeSummary", "Conclusion", "OverallMetric",
           "Shortfall", "Summary", "benefit_risk", "conclude", "shortfalls", "summarise"]

Conclusion = Literal["within_claims", "signal_under_investigation", "confirmed_degradation"]
Basis = Literal["confirmatory_flagged", "exploratory_flagged", "provisional_flagged", "open_sequential_alarm"]
Determination = Literal["favourable", "favourable_with_open_signals", "to_be_reassessed"]
#: Where the rules are documented (printed under the conclusion).
CONCLUSION_RULE = "regulatory.md section 2 item 16; docs/reports.md (conclusion rule)"
BENEFIT_RISK_RULE = "regulatory.md section 2 item 15; MDR Art. 86(1)(a); NMPA PRER section 8"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Shortfall(_Model):
    """A flagged stratum-metric (``kind`` claim_test) or a CUSUM alarm of the period (``kind`` cusum_alarm)."""

    kind: Literal["claim_test", "cusum_alarm"]
    model_version: str
    stratum: str
    metric: str
    family: str | None = None
    provisional: bool = False
    successes: int | None = None
    trials: int | None = None
    estimate: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    claim: float | None = None
    performance_goal: float | None = None
    q_value: float | None = None
    alarms: int | None = None
    first_alarm: str | None = None
    ticket_id: str | None = None
    ticket_status: str | None = None


class ChangeSummary(_Model):
    """What changed since the previous report (from the report's change log)."""

    baseline_period: str | None
    baseline_report_id: str | None
    new_model_versions: list[str]
    retired_model_versions: list[str]
    config_changed: bool
    tickets_opened: list[str]
    tickets_changed: list[str]


class Summary(_Model):
    """Page 1: the conclusion, its basis, the shortfalls with their tickets, the volume and what changed."""

    conclusion: Conclusion
    basis: list[Basis]
    rule: str
    studies: int
    with_ground_truth: int
    sites: int
    tests: int
    flagged: int
    shortfalls: list[Shortfall]
    changes: ChangeSummary


class OverallMetric(_Model):
    """A claimed metric of the whole population of a model version (the benefit side)."""

    model_version: str
    metric: str
    status: str
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    claim: float | None
    performance_goal: float | None


class BenefitRisk(_Model):
    """Benefit-risk from the period's data: the overall claimed metrics, the detected and missed cases,
    the false alarms, the strata where a residual risk is open, and the determination."""

    determination: Determination
    rule: str
    overall: list[OverallMetric]
    true_positives: int
    false_negatives: int
    false_positives: int
    true_negatives: int
    open_risks: list[Shortfall]


def shortfalls(results: Sequence[Mapping[str, Any]], findings: Sequence[Mapping[str, Any]],
               alarms: Sequence[Mapping[str, Any]], ticket_status: Mapping[str, str]) -> list[Shortfall]:
    """The flagged results (with the ticket of their finding) then the period's CUSUM alarms."""
    tickets = {(f["model_version"], f["stratum"], f["metric"]): f.get("ticket_id") for f in findings}
    out = []
    for r in results:
        if r.get("status") != "flagged":
            continue
        key = (r["model_version"], r["stratum"], r["metric"])
        ticket = tickets.get(key)
        out.append(Shortfall(kind="claim_test", model_version=r["model_version"], stratum=r["stratum"],
                             metric=r["metric"], family=r.get("family"), provisional=bool(r.get("provisional")),
                             successes=r.get("successes"), trials=r.get("trials"), estimate=r.get("estimate"),
                             ci_low=r.get("ci_low"), ci_high=r.get("ci_high"), claim=r.get("claim"),
                             performance_goal=r.get("performance_goal"), q_value=r.get("q_value"),
                             ticket_id=ticket, ticket_status=ticket_status.get(ticket) if ticket else None))
    for a in alarms:
        ticket = a.get("ticket_id")
        first = a.get("first_alarm") or {}
        out.append(Shortfall(kind="cusum_alarm", model_version=a["model_version"], stratum=a["stratum"],
                             metric=a["metric"], alarms=a.get("alarms_in_period"),
                             first_alarm=first.get("known_on") if isinstance(first, Mapping) else None,
                             ticket_id=ticket, ticket_status=ticket_status.get(ticket) if ticket else None))
    out.sort(key=lambda s: (s.kind != "claim_test", s.provisional, s.family != "confirmatory", s.model_version,
                            s.metric, s.stratum))
    return out


def conclude(found: Sequence[Shortfall], closed: Collection[str]) -> tuple[Conclusion, list[Basis]]:
    """The conclusion and every reason for it (module docstring); ``closed``: the terminal ticket statuses."""
    basis: list[Basis] = []
    tests = [s for s in found if s.kind == "claim_test"]
    if any(s.family == "confirmatory" and not s.provisional for s in tests):
        basis.append("confirmatory_flagged")
    if any(s.family != "confirmatory" and not s.provisional for s in tests):
        basis.append("exploratory_flagged")
    if any(s.provisional for s in tests):
        basis.append("provisional_flagged")
    if any(s.kind == "cusum_alarm" and s.ticket_status not in closed for s in found):
        basis.append("open_sequential_alarm")
    if "confirmatory_flagged" in basis:
        return "confirmed_degradation", basis
    return ("signal_under_investigation" if basis else "within_claims"), basis


def _changes(change_log: Mapping[str, Any]) -> ChangeSummary:
    baseline = change_log.get("baseline") or {}
    return ChangeSummary(baseline_period=baseline.get("period"), baseline_report_id=baseline.get("report_id"),
                         new_model_versions=list(change_log.get("new_model_versions") or []),
                         retired_model_versions=list(change_log.get("retired_model_versions") or []),
                         config_changed=bool(change_log.get("config_changed")),
                         tickets_opened=[t["ticket_id"] for t in change_log.get("tickets_opened") or []],
                         tickets_changed=[f"{t['ticket_id']} → {t['status']}"
                                          for t in change_log.get("tickets_changed") or []])


def summarise(document: Mapping[str, Any], usage: Mapping[str, Any], change_log: Mapping[str, Any],
              ticket_status: Mapping[str, str], closed: Collection[str]) -> Summary:
    """The executive summary of an analysis document (``usage`` and ``change_log``: the report's core parts)."""
    found = shortfalls(document["results"], document["findings"], document.get("sequential_alarms") or [],
                       ticket_status)
    conclusion, basis = conclude(found, closed)
    summary = document["summary"]
    return Summary(conclusion=conclusion, basis=basis, rule=CONCLUSION_RULE, studies=int(usage["studies"]),
                   with_ground_truth=int(usage["with_ground_truth"]), sites=int(usage["sites"]),
                   tests=int(summary["tests"]), flagged=sum(1 for s in found if s.kind == "claim_test"),
                   shortfalls=found, changes=_changes(change_log))


def benefit_risk(document: Mapping[str, Any], found: Sequence[Shortfall], conclusion: Conclusion,
                 closed: Collection[str]) -> BenefitRisk:
    """Benefit-risk of the period (module docstring): overall claimed metrics and confusion counts of level 0."""
    overall = [OverallMetric(model_version=r["model_version"], metric=r["metric"], status=r["status"],
                             estimate=r.get("estimate"), ci_low=r.get("ci_low"), ci_high=r.get("ci_high"),
                             claim=r.get("claim"), performance_goal=r.get("performance_goal"))
               for r in document["results"] if r.get("level") == 0 and r.get("claim") is not None]
    cells = {k: sum(int(c[k]) for c in document["counts"] if c.get("level") == 0) for k in ("tp", "fn", "fp", "tn")}
    determination: Determination = {"within_claims": "favourable",
                                     "signal_under_investigation": "favourable_with_open_signals",
                                     "confirmed_degradation": "to_be_reassessed"}[conclusion]
    return BenefitRisk(determination=determination, rule=BENEFIT_RISK_RULE, overall=overall,
                       true_positives=cells["tp"], false_negatives=cells["fn"], false_positives=cells["fp"],
                       true_negatives=cells["tn"], open_risks=[s for s in found if s.ticket_status not in closed])
