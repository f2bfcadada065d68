"""Reporting periods: calendar quarters (default), months, years and explicit windows.

A period is a half-open interval ``[start, end)`` of local calendar time in the
device's time zone, converted to UTC instants for querying stored timestamps.

Examples
--------
>>> p = Period.parse("2025Q3")
>>> p.label, p.start_local.isoformat(), p.end_local.isoformat()
('2025Q3', '2025-07-01', '2025-10-01')
>>> Period.parse("2025-02").end_local.isoformat()
'2025-03-01'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from monitor.errors import ConfigError, PeriodError

__all__ = ["Period", "resolve_timezone"]

_QUARTER = re.compile(r"^(\d{4})Q([1-4])$", re.IGNORECASE)
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_YEAR = re.compile(r"^(\d{4})$")
_WINDOW = re.compile(r"^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$")


def resolve_timezone(name: str) -> ZoneInfo:
    """Return the IANA time zone ``name`` or raise :class:`ConfigError`."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"unknown time zone {name!r} (use an IANA name such as Asia/Shanghai)") from exc


@dataclass(frozen=True)
class Period:
    """A reporting period ``[start_local, end_local)`` of calendar dates.

    ``label`` is the canonical spelling: ``2025Q3``, ``2025-07``, ``2025`` or
    ``2025-07-01..2025-09-30`` (an explicit window, both dates inclusive).
    """

    label: str
    kind: str
    start_local: date
    end_local: date

    @classmethod
    def parse(cls, text: str) -> Period:
        """Parse a period label; raise :class:`PeriodError` naming the accepted forms."""
        value = text.strip()
        if m := _QUARTER.match(value):
            year, q = int(m.group(1)), int(m.group(2))
            start = date(year, 3 * (q - 1) + 1, 1)
            end = date(year + 1, 1, 1) if q == 4 else date(year, 3 * q + 1, 1)
            return cls(f"{year}Q{q}", "quarter", start, end)
        if m := _MONTH.match(value):
            year, month = int(m.group(1)), int(m.group(2))
            end = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
            return cls(f"{year}-{month:02d}", "month", date(year, month, 1), end)
        if m := _YEAR.match(value):
            year = int(m.group(1))
            return cls(f"{year}", "year", date(year, 1, 1), date(year + 1, 1, 1))
        if m := _WINDOW.match(value):
            try:
                start, last = date.fromisoformat(m.group(1)), date.fromisoformat(m.group(2))
            except ValueError as exc:
                raise PeriodError(f"period {text!r}: {exc}") from exc
            if last < start:
                raise PeriodError(f"period {text!r}: the window ends before it starts")
            return cls(value, "window", start, date.fromordinal(last.toordinal() + 1))
        raise PeriodError(
            f"cannot read period {text!r}: use a quarter (2025Q3), a month (2025-07), "
            "a year (2025) or a window (2025-07-01..2025-09-30)"
        )

    def bounds_utc(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """Return ``(start, end)`` as timezone-aware UTC instants for time zone ``tz``."""
        start = datetime.combine(self.start_local, time.min, tzinfo=tz).astimezone(timezone.utc)
        end = datetime.combine(self.end_local, time.min, tzinfo=tz).astimezone(timezone.utc)
        return start, end

    def previous(self) -> Period:
        """The period of the same kind just before this one (quarters, months and years only)."""
        if self.kind == "quarter":
            year, q = self.start_local.year, (self.start_local.month - 1) // 3 + 1
            return Period.parse(f"{year - 1}Q4" if q == 1 else f"{year}Q{q - 1}")
        if self.kind == "month":
            y, m = self.start_local.year, self.start_local.month
            return Period.parse(f"{y - 1}-12" if m == 1 else f"{y}-{m - 1:02d}")
        if self.kind == "year":
            return Period.parse(str(self.start_local.year - 1))
        raise PeriodError(f"period {self.label!r} is an explicit window and has no predecessor")
