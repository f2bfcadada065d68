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

from pydantic import BaseModel, ConfigDict, Field

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

    kind: Literal["claim_test", "cusum_alarm"] = Field(
        description="claim_test: a flagged result of the claims test; cusum_alarm: a CUSUM chart that alarmed.")
    model_version: str = Field(description="Model version.")
    stratum: str = Field(description="Stratum key.")
    metric: str = Field(description="The metric.")
    family: str | None = Field(default=None, description="Decision family of the result (confirmatory, exploratory).")
    provisional: bool = Field(default=False, description="Whether the flag rests on too few final labels.")
    successes: int | None = Field(default=None, description="Numerator of the metric (claim tests).")
    trials: int | None = Field(default=None, description="Denominator of the metric (claim tests).")
    estimate: float | None = Field(default=None, description="Estimate of the metric (claim tests).")
    ci_low: float | None = Field(default=None, description="Lower limit of its two-sided interval.")
    ci_high: float | None = Field(default=None, description="Upper limit of its two-sided interval.")
    claim: float | None = Field(default=None, description="Registered claim.")
    performance_goal: float | None = Field(default=None, description="Performance goal: claim minus margin.")
    q_value: float | None = Field(default=None, description="Multiplicity-adjusted p-value of the shortfall.")
    alarms: int | None = Field(default=None, description="Alarms in the period (CUSUM alarms).")
    first_alarm: str | None = Field(default=None, description="Date the first alarm of the period was known on.")
    ticket_id: str | None = Field(default=None, description="The ticket of the finding (None: provisional, no ticket).")
    ticket_status: str | None = Field(default=None, description="The ticket's status at generation.")


class ChangeSummary(_Model):
    """What changed since the previous report (from the report's change log)."""

    baseline_period: str | None = Field(description="Period of the previous analysis (None: first report).")
    baseline_report_id: str | None = Field(description="Latest report of the previous analysis.")
    new_model_versions: list[str] = Field(description="Model versions new in this period.")
    retired_model_versions: list[str] = Field(description="Model versions no longer seen.")
    config_changed: bool = Field(description="Whether the device configuration changed.")
    tickets_opened: list[str] = Field(description="Tickets opened since the previous analysis.")
    tickets_changed: list[str] = Field(description="Tickets whose status changed since, as 'id → status'.")


class Summary(_Model):
    """Page 1: the conclusion, its basis, the shortfalls with their tickets, the volume and what changed."""

    conclusion: Conclusion = Field(description="The conclusion by the rule of monitor.domain.report_summary.")
    basis: list[Basis] = Field(description="Every reason for the conclusion.")
    rule: str = Field(description="Where the conclusion rule is documented.")
    studies: int = Field(description="AI results in the period.")
    with_ground_truth: int = Field(description="Of these, with ground truth by the cut-off.")
    sites: int = Field(description="Sites with predictions in the period.")
    tests: int = Field(description="Stratum-metrics tested against the claims.")
    flagged: int = Field(description="Flagged stratum-metrics (provisional ones included).")
    shortfalls: list[Shortfall] = Field(description="Flagged results, then CUSUM alarms of the period.")
    changes: ChangeSummary = Field(description="What changed since the previous report.")


class OverallMetric(_Model):
    """A claimed metric of the whole population of a model version (the benefit side)."""

    model_version: str = Field(description="Model version.")
    metric: str = Field(description="The metric.")
    status: str = Field(description="Outcome of the claims test.")
    estimate: float | None = Field(description="Estimate.")
    ci_low: float | None = Field(description="Lower limit of the two-sided interval.")
    ci_high: float | None = Field(description="Upper limit of the two-sided interval.")
    claim: float | None = Field(description="Registered claim.")
    performance_goal: float | None = Field(description="Performance goal: claim minus margin.")
    provisional: bool = Field(description="Whether the outcome rests on too few final labels (not decided yet).")
    expected_share: float | None = Field(description="Share of the expected labels that are final.")


class BenefitRisk(_Model):
    """Benefit-risk from the period's data: the overall claimed metrics, the detected and missed cases,
    the false alarms, the strata where a residual risk is open, and the determination."""

    determination: Determination = Field(description="Benefit-risk determination (module docstring rule).")
    rule: str = Field(description="Where the rule is documented.")
    overall: list[OverallMetric] = Field(description="Claimed metrics of the whole population per model version.")
    true_positives: int = Field(description="Confirmed positives the AI called positive (benefit).")
    false_negatives: int = Field(description="Confirmed positives the AI missed (risk).")
    false_positives: int = Field(description="Confirmed negatives the AI called positive (risk).")
    true_negatives: int = Field(description="Confirmed negatives the AI called negative.")
    open_risks: list[Shortfall] = Field(description="Shortfalls whose ticket is not closed: open residual risks.")


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
                             claim=r.get("claim"), performance_goal=r.get("performance_goal"),
                             provisional=bool(r.get("provisional")), expected_share=r.get("expected_share"))
               for r in document["results"] if r.get("level") == 0 and r.get("claim") is not None]
    cells = {k: sum(int(c[k]) for c in document["counts"] if c.get("level") == 0) for k in ("tp", "fn", "fp", "tn")}
    determination: Determination = {"within_claims": "favourable",
                                     "signal_under_investigation": "favourable_with_open_signals",
                                     "confirmed_degradation": "to_be_reassessed"}[conclusion]
    risks: dict[tuple[str, str, str], Shortfall] = {}  # a claim test and an alarm of one stratum-metric: one risk
    for s in found:
        if s.ticket_status not in closed:
            risks.setdefault((s.model_version, s.stratum, s.metric), s)
    return BenefitRisk(determination=determination, rule=BENEFIT_RISK_RULE, overall=overall,
                       true_positives=cells["tp"], false_negatives=cells["fn"], false_positives=cells["fp"],
                       true_negatives=cells["tn"], open_risks=list(risks.values()))
