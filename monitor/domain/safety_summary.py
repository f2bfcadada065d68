"""Safety and feedback of a reporting period (regulatory.md section 2 item 14; ≡PRER 五/六/七, ≡PSUR 6-7).

Pure: from the stored safety events (the latest version of each known by the data cut-off) it counts the
period's events by kind, seriousness, IMDRF code and stratum, evaluates every reportability decision against
its clock (:func:`monitor.domain.capa.reportability.reporting_deadline`, from the awareness date
``received_at``) as of the cut-off, lists the overdue reports (of any period: an open clock is carried until
it is closed) and the rate of radiologist overrides / discordance per 1,000 studies.

Clock states: ``met`` (reported by the deadline), ``late`` (reported after it), ``overdue`` (not reported,
deadline passed), ``due`` (not reported, deadline ahead), ``not_required`` (decided not reportable, or an
event class without an individual report).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Literal, Sequence

from pydantic import BaseModel, ConfigDict, Field

from monitor.domain.capa.reportability import EVENT_CLASSES, reporting_deadline
from monitor.domain.safety_events import EVENT_KINDS, JURISDICTIONS, SERIOUSNESS, effective_event_class

__all__ = ["ClockStatus", "Decision", "SafetyEvent", "SafetySummary", "clock_status", "summarise_safety"]

Decision = Literal["reportable", "not_reportable", "pending"]
ClockStatus = Literal["met", "late", "overdue", "due", "not_required"]
CLOCK_STATUSES: tuple[ClockStatus, ...] = ("overdue", "due", "late", "met", "not_required")
_ANNEXES = {"A": "device_problem", "B": "cause_investigation", "C": "component", "D": "evaluation_result",
            "E": "health_effect_clinical", "F": "health_effect_impact", "G": "component"}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class JurisdictionDecision(_Model):
    """A stored reportability decision of one event in one jurisdiction."""

    decision: Decision = Field(description="The manufacturer's reportability decision in the jurisdiction.")
    event_class: str | None = Field(default=None, description="The event class of the clock as decided "
                                                              "(monitor.domain.capa.reportability); null: derived "
                                                              "from the seriousness.")
    rationale: str | None = Field(default=None, description="Why the event was (not) judged reportable.")
    reported_at: datetime | None = Field(default=None, description="When the report was filed (UTC); null: not "
                                                                   "reported.")


class SafetyEvent(_Model):
    """The latest version of one stored safety event known by the cut-off (what the summary reads)."""

    event_id: str = Field(description="The event's identifier in the safety event log.")
    site_id: str = Field(description="The site the event concerns.")
    received_at: datetime = Field(description="Awareness date (UTC): the reporting clocks start here.")
    occurred_at: datetime | None = Field(default=None, description="When the event occurred (UTC); null: unknown.")
    kind: Literal["complaint", "adverse_event", "incident", "user_feedback", "override_discordance"] = Field(
        description="The kind of event.")
    seriousness: Literal["death", "serious_injury", "malfunction_could_lead", "non_serious"] = Field(
        description="The seriousness of the event (it derives the clock's event class when none is decided).")
    imdrf_codes: list[str] = Field(default_factory=list, description="IMDRF adverse-event terminology codes.")
    model_version: str | None = Field(default=None, description="The model version involved; null: not given.")
    attributes: dict[str, str] = Field(default_factory=dict, description="Stratum label per attribute of the "
                                                                         "device's strata the event carries.")
    decisions: dict[str, JurisdictionDecision] = Field(default_factory=dict, description="The reportability "
                                                                                         "decision per jurisdiction.")


class Count(_Model):
    """How many of the period's events fall in one category."""

    value: str = Field(description="The category (kind, seriousness, IMDRF code, ...).")
    count: int = Field(ge=0, description="Events of the period in the category.")


class CodeCount(_Model):
    """How many of the period's events carry one IMDRF code."""

    code: str = Field(description="IMDRF adverse-event terminology code, e.g. A0901.")
    annex: str = Field(description="The IMDRF annex the code's letter names (device_problem, health_effect_clinical, ...).")
    count: int = Field(ge=0, description="Events of the period carrying the code.")


class StratumCount(_Model):
    """How many of the period's events carry one stratum label of the device's attributes."""

    attribute: str = Field(description="The stratification attribute (strata.attributes of the device).")
    label: str = Field(description="The attribute's stratum label.")
    count: int = Field(ge=0, description="Events of the period carrying the label.")


class ClockRow(_Model):
    """One event's reportability in one jurisdiction and its clock, as of the cut-off."""

    event_id: str = Field(description="The event's identifier in the safety event log.")
    kind: str = Field(description="The kind of event (complaint, adverse_event, incident, ...).")
    seriousness: str = Field(description="The seriousness of the event (death, serious_injury, ...).")
    jurisdiction: str = Field(description="The jurisdiction of the clock (NMPA, EU-MDR, FDA).")
    decision: Decision = Field(description="The reportability decision; pending when none is stored.")
    assessed: bool = Field(description="False: the event has no decision for a jurisdiction the device is "
                                       "registered in (treated as pending, its clock running).")
    event_class: str = Field(description="The event class of the clock (monitor.domain.capa.reportability).")
    rule: str = Field(description="The clock and its reference, e.g. 'Decree No. 1 (2018): death, 7 days'.")
    received_at: datetime = Field(description="Awareness date: the clock starts here.")
    deadline: datetime | None = Field(description="When the report is due; null without an individual report.")
    reported_at: datetime | None = Field(description="When the report was filed (UTC); null: not reported.")
    status: ClockStatus = Field(description="The clock's state as of the cut-off: met (reported by the deadline), "
                                            "late (reported after it), overdue (not reported, deadline passed), "
                                            "due (not reported, deadline ahead), not_required.")
    in_period: bool = Field(description="Received in the reporting period (else an open clock of an earlier one).")
    rationale: str | None = Field(default=None, description="The stored rationale of the decision; null: none.")


class JurisdictionCounts(_Model):
    """The clock states of one jurisdiction's rows."""

    jurisdiction: str = Field(description="The jurisdiction (NMPA, EU-MDR, FDA).")
    overdue: int = Field(default=0, description="Clocks not reported whose deadline has passed.")
    due: int = Field(default=0, description="Clocks not reported whose deadline is ahead.")
    late: int = Field(default=0, description="Clocks reported after their deadline.")
    met: int = Field(default=0, description="Clocks reported by their deadline.")
    not_required: int = Field(default=0, description="Clocks without an individual report (decided not "
                                                     "reportable, or an event class without one).")


class OverrideRate(_Model):
    """Radiologist overrides of / discordance with the AI reported in the period, per 1,000 studies."""

    events: int = Field(ge=0, description="Override / discordance events received in the period.")
    studies: int = Field(ge=0, description="Studies with an AI result in the period (the denominator).")
    per_1000: float | None = Field(description="events / studies x 1000; null without studies.")


class SafetySummary(_Model):
    """Safety and feedback (report item 14): complaints, adverse events, incidents, user feedback and
    overrides received in the period, their IMDRF codes and strata, and every reportability clock."""

    period_start: datetime = Field(description="Start of the reporting period (UTC, inclusive).")
    period_end: datetime = Field(description="End of the reporting period (UTC, exclusive).")
    as_of: datetime = Field(description="The data cut-off: clocks are evaluated and events counted as of it.")
    jurisdictions: list[str] = Field(description="Jurisdictions the device is registered in (every event is "
                                                 "assessed for them) and any others the log decides for.")
    events: int = Field(ge=0, description="Events received (awareness date) in the period.")
    by_kind: list[Count] = Field(description="The period's events per kind (every kind, zeros included).")
    by_seriousness: list[Count] = Field(description="The period's events per seriousness (every level, zeros "
                                                    "included).")
    by_code: list[CodeCount] = Field(description="The period's events per IMDRF code (an event may carry several).")
    uncoded: int = Field(ge=0, description="The period's events without an IMDRF code.")
    by_stratum: list[StratumCount] = Field(description="The period's events per stratum label of the device's "
                                                       "attributes.")
    without_stratum: int = Field(ge=0, description="The period's events carrying no stratum attribute.")
    clocks: list[ClockRow] = Field(description="The reportability clocks of the period's events and the still "
                                               "open (due / overdue) clocks of earlier events.")
    clock_counts: list[JurisdictionCounts] = Field(description="The clock states per jurisdiction.")
    overdue: int = Field(ge=0, description="Overdue reports as of the cut-off (all jurisdictions, any period).")
    overrides: OverrideRate = Field(description="The rate of radiologist overrides / discordance in the period.")


def clock_status(deadline: datetime | None, reported_at: datetime | None, as_of: datetime) -> ClockStatus:
    """The state of one reporting clock as of ``as_of``.

    >>> from datetime import timezone
    >>> d = datetime(2025, 8, 8, tzinfo=timezone.utc)
    >>> clock_status(d, None, datetime(2025, 8, 9, tzinfo=timezone.utc))
    'overdue'
    >>> clock_status(d, datetime(2025, 8, 7, tzinfo=timezone.utc), datetime(2025, 9, 1, tzinfo=timezone.utc))
    'met'
    """
    if deadline is None:
        return "not_required"
    if reported_at is not None:
        return "met" if reported_at <= deadline else "late"
    return "overdue" if as_of > deadline else "due"


def _clock_rows(event: SafetyEvent, registered: Sequence[str], as_of: datetime, in_period: bool) -> list[ClockRow]:
    rows = []
    for j in JURISDICTIONS:
        given = event.decisions.get(j.name)
        if given is None and j.name not in registered:
            continue
        decision = given.decision if given else "pending"
        event_class = effective_event_class(j.name, event.seriousness, given.event_class if given else None)
        _, _, rule = EVENT_CLASSES[j.name][event_class]
        deadline = None if decision == "not_reportable" else reporting_deadline(j.name, event_class, event.received_at)
        reported_at = given.reported_at if given else None
        rows.append(ClockRow(
            event_id=event.event_id, kind=event.kind, seriousness=event.seriousness, jurisdiction=j.name,
            decision=decision, assessed=given is not None, event_class=event_class, rule=rule,
            received_at=event.received_at, deadline=deadline, reported_at=reported_at,
            status=clock_status(deadline, reported_at, as_of), in_period=in_period,
            rationale=given.rationale if given else None))
    return rows


def summarise_safety(events: Sequence[SafetyEvent], *, period_start: datetime, period_end: datetime,
                     as_of: datetime, registered: Sequence[str], studies: int) -> SafetySummary:
    """The safety section of the period ``[period_start, period_end)`` from the events known by ``as_of``.

    ``registered``: the jurisdictions of the device's registrations (an event without a decision there is
    pending, its clock running); ``studies``: the AI results of the period (the override rate's denominator).
    """
    in_period = [e for e in events if period_start <= e.received_at < period_end]
    earlier = [e for e in events if e.received_at < period_start]
    clocks = [r for e in sorted(in_period, key=lambda e: (e.received_at, e.event_id))
              for r in _clock_rows(e, registered, as_of, True)]
    carried = [r for e in sorted(earlier, key=lambda e: (e.received_at, e.event_id))
               for r in _clock_rows(e, registered, as_of, False) if r.status in ("overdue", "due")]
    clocks = carried + clocks
    kinds = Counter(e.kind for e in in_period)
    seriousness = Counter(e.seriousness for e in in_period)
    codes = Counter(c for e in in_period for c in e.imdrf_codes)
    strata = Counter((a, v) for e in in_period for a, v in e.attributes.items())
    jurisdictions = [j.name for j in JURISDICTIONS if j.name in registered or any(r.jurisdiction == j.name for r in clocks)]
    counts = []
    for name in jurisdictions:
        states = Counter(r.status for r in clocks if r.jurisdiction == name)
        counts.append(JurisdictionCounts(jurisdiction=name, **{s: states.get(s, 0) for s in CLOCK_STATUSES}))
    overrides = kinds.get("override_discordance", 0)
    return SafetySummary(
        period_start=period_start, period_end=period_end, as_of=as_of, jurisdictions=jurisdictions,
        events=len(in_period),
        by_kind=[Count(value=k, count=kinds.get(k, 0)) for k in EVENT_KINDS],
        by_seriousness=[Count(value=s, count=seriousness.get(s, 0)) for s in SERIOUSNESS],
        by_code=[CodeCount(code=c, annex=_ANNEXES.get(c[0], "other"), count=n) for c, n in sorted(codes.items())],
        uncoded=sum(1 for e in in_period if not e.imdrf_codes),
        by_stratum=[StratumCount(attribute=a, label=v, count=n) for (a, v), n in sorted(strata.items())],
        without_stratum=sum(1 for e in in_period if not e.attributes),
        clocks=clocks, clock_counts=counts, overdue=sum(1 for r in clocks if r.status == "overdue"),
        overrides=OverrideRate(events=overrides, studies=studies,
                               per_1000=round(overrides / studies * 1000, 3) if studies else None),
    )

