"""The time window of one device an analysis reads, as of a data cut-off."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["Window"]


@dataclass(frozen=True)
class Window:
    """A time window of one device, read as of a data cut-off."""

    device_id: str
    start: datetime
    end: datetime
    cutoff: datetime

    def kwargs(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "cutoff": self.cutoff}
