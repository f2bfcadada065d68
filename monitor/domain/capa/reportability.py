"""Reportability deadlines per jurisdiction, computed from the date the manufacturer became aware.

Each event class names its clock and its reference (regulatory.md section 1; the [R] entries there are to be
checked against the primary texts before a submission):

* **NMPA** (医疗器械不良事件监测和再评价管理办法, SAMR/NHC Decree No. 1, 2018; regulatory.md 1.1): a death within
  7 days; a serious injury, or an event that could cause serious injury or death, within 20 days; an overseas
  event that caused or could cause serious injury or death within 30 days; a group adverse event by phone or
  fax within 12 hours.
* **EU MDR** (Art. 87(3)-(5), regulatory.md 1.3 [R]): a serious incident within 15 days; a death or an
  unanticipated serious deterioration in health within 10 days; a serious public-health threat within 2 days.
  A trend report (Art. 88) has no fixed clock: it is filed when the statistically significant increase is
  established, and the deadline is left empty.
* **FDA** (21 CFR 803, 806; regulatory.md 1.2 [R]): an MDR within 30 calendar days (803.50(a)); within 5 work
  days when remedial action is needed to prevent an unreasonable risk of substantial harm (803.53(a)); a
  report of a correction or removal within 10 working days of starting it (806.10(b)). Work days skip
  Saturdays and Sundays (federal holidays are not modelled: the deadline is then one day late at most per
  holiday; the record says so in its rule text).

Calendar days count from the awareness instant (day 0); the deadline is that instant plus the days.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal, Mapping

__all__ = ["EVENT_CLASSES", "Clock", "Jurisdiction", "ReportabilityClock", "reporting_deadline"]

Jurisdiction = Literal["NMPA", "EU-MDR", "FDA"]
Clock = Literal["calendar_days", "work_days", "hours", "none"]

ReportabilityClock = tuple[Clock, int, str]

#: Event class -> (clock, amount, reference) per jurisdiction. ``not_reportable`` has no clock anywhere.
EVENT_CLASSES: Mapping[str, Mapping[str, ReportabilityClock]] = {
    "NMPA": {
        "death": ("calendar_days", 7, "Decree No. 1 (2018): death, 7 days"),
        "serious_injury": ("calendar_days", 20, "Decree No. 1 (2018): serious injury or could cause it, 20 days"),
        "overseas_serious": ("calendar_days", 30, "Decree No. 1 (2018): overseas serious event, 30 days"),
        "group_event": ("hours", 12, "Decree No. 1 (2018): group adverse event, 12 hours (phone/fax)"),
        "not_reportable": ("none", 0, "no NMPA adverse-event report"),
    },
    "EU-MDR": {
        "serious_public_health_threat": ("calendar_days", 2, "MDR Art. 87(4): serious public-health threat, 2 days"),
        "death_or_unanticipated_serious_deterioration": (
            "calendar_days", 10, "MDR Art. 87(5): death or unanticipated serious deterioration, 10 days"),
        "serious_incident": ("calendar_days", 15, "MDR Art. 87(3): serious incident, 15 days"),
        "trend_report": ("none", 0, "MDR Art. 88: trend report, no fixed clock"),
        "not_reportable": ("none", 0, "no MDR vigilance report"),
    },
    "FDA": {
        "mdr_30_day": ("calendar_days", 30, "21 CFR 803.50(a): MDR, 30 calendar days"),
        "mdr_5_day": ("work_days", 5, "21 CFR 803.53(a): remedial action to prevent substantial harm, 5 work days"),
        "correction_removal": ("work_days", 10, "21 CFR 806.10(b): correction or removal, 10 working days"),
        "not_reportable": ("none", 0, "no MDR / 806 report"),
    },
}


def _add_work_days(start: datetime, days: int) -> datetime:
    moment = start
    while days > 0:
        moment += timedelta(days=1)
        if moment.weekday() < 5:
            days -= 1
    return moment


def reporting_deadline(jurisdiction: str, event_class: str, aware_at: datetime) -> datetime | None:
    """The deadline of a report of ``event_class`` in ``jurisdiction`` from ``aware_at``; None without a clock.

    >>> from datetime import timezone
    >>> reporting_deadline("NMPA", "serious_injury", datetime(2026, 2, 1, tzinfo=timezone.utc)).date()
    datetime.date(2026, 2, 21)
    >>> reporting_deadline("FDA", "mdr_5_day", datetime(2026, 2, 6, tzinfo=timezone.utc)).date()  # a Friday
    datetime.date(2026, 2, 13)
    """
    try:
        clock, amount, _ = EVENT_CLASSES[jurisdiction][event_class]
    except KeyError:
        known = ", ".join(EVENT_CLASSES.get(jurisdiction, {})) or ", ".join(EVENT_CLASSES)
        raise ValueError(f"unknown event class {event_class!r} for {jurisdiction!r}: use one of {known}") from None
    if clock == "calendar_days":
        return aware_at + timedelta(days=amount)
    if clock == "work_days":
        return _add_work_days(aware_at, amount)
    if clock == "hours":
        return aware_at + timedelta(hours=amount)
    return None
