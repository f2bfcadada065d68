"""What the service layer needs from the outside world, as protocols.

Adapters implement these (``monitor.adapters.db``, ``monitor.adapters.files``);
entry points wire them in :mod:`monitor.entrypoints.bootstrap`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, ContextManager, Iterator, Protocol, Sequence

import pandas as pd

from monitor.domain.device import DeviceConfig
from monitor.domain.logs import Rejection

__all__ = ["Clock", "LogSource", "Progress", "UnitOfWork", "UnitOfWorkFactory"]

Clock = Callable[[], datetime]
Progress = Callable[[int], None]


class LogSource(Protocol):
    """A log file being read in chunks of text values.

    A source whose units may fail before they are rows (a line that is not JSON, a FHIR
    resource that cannot be mapped) also offers ``rejections() -> list[Rejection]``, read by the
    ingest services after the chunks (see :mod:`monitor.adapters.formats`).
    """

    @property
    def format(self) -> str: ...
    @property
    def sha256(self) -> str: ...
    @property
    def columns(self) -> tuple[str, ...]: ...
    def chunks(self, chunk_rows: int = ...) -> Iterator[tuple[int, pd.DataFrame]]: ...


class DeviceRepo(Protocol):
    def configs(self) -> dict[str, DeviceConfig]: ...
    def get(self, device_id: str) -> DeviceConfig: ...
    def save(self, config: DeviceConfig, *, at: datetime, actor: str) -> tuple[int, bool]: ...
    def model_versions(self, device_id: str) -> list[str]: ...
    def sites(self, device_id: str) -> list[str]: ...


class LogRepo(Protocol):
    def start_batch(self, *, kind: str, source_name: str, source_format: str, source_sha256: str,
                    at: datetime, actor: str) -> int: ...
    def finish_batch(self, batch_id: int, *, rows_total: int, accepted: int, duplicates: int, rejected: int,
                     at: datetime) -> None: ...
    def prediction_hashes(self, device_id: str, ids: Sequence[str]) -> dict[str, str]: ...
    def insert_predictions(self, frame: pd.DataFrame, *, batch_id: int, at: datetime) -> None: ...
    def register_model_versions(self, device_id: str, versions: Sequence[str], *, batch_id: int,
                                at: datetime) -> list[str]: ...
    def register_sites(self, device_id: str, site_ids: Sequence[str], *, batch_id: int, at: datetime) -> list[str]: ...
    def latest_ground_truth(self, device_id: str, ids: Sequence[str]) -> dict[str, tuple[int, str]]: ...
    def ground_truth_history(self, device_id: str, ids: Sequence[str]) -> dict[str, set[tuple[str, str | None]]]: ...
    def insert_ground_truth(self, frame: pd.DataFrame, *, batch_id: int, at: datetime) -> None: ...
    def insert_rejections(self, batch_id: int, rejections: Sequence[Rejection]) -> None: ...


class AuditRepo(Protocol):
    def append(self, *, at: datetime, actor: str, action: str, entity: str, entity_id: str,
               details: dict[str, Any]) -> str: ...
    def head(self) -> str: ...


class UnitOfWork(Protocol):
    """One database transaction with the repositories bound to it; commits on clean exit."""

    devices: Any
    logs: Any
    results: Any
    tickets: Any
    audit: Any
    jobs: Any
    access: Any
    queries: Any
    reports: Any
    revisions: Any
    summaries: Any


UnitOfWorkFactory = Callable[[], ContextManager[UnitOfWork]]
