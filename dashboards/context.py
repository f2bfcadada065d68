"""What every page is rendered with: the database, the cache key, the chosen device and period, the user."""

from __future__ import annotations

from dataclasses import dataclass

from monitor.entrypoints.bootstrap import App
from monitor.service.access import Principal

__all__ = ["PageContext"]


@dataclass(frozen=True)
class PageContext:
    """The current selection of the dashboard."""

    app: App
    database_url: str
    run_key: str | None
    device_id: str
    period: str | None
    principal: Principal
