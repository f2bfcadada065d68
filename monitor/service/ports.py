"""What the service layer needs from the outside world, as protocols.

Adapters implement these (``monitor.adapters.db``, ``monitor.adapters.files``);
entry points wire them in :mod:`monitor.entrypoints.bootstrap`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, ContextManager, Iterator, Literal, Protocol, Sequence

import pandas as pd

from monitor.domain.device import DeviceConfig
from monitor.domain.logs import Rejection
from monitor.service import read_models as rm

__all__ = ["Clock", "ComparatorRepo", "DropEntry", "DropFiles", "LabelArrivalRepo", "LogSource", "LowConfidenceRepo", "OrdinalRepo", "PatientClusterRepo",
           "Progress", "ReadRepo", "ReviewRepo", "UnitOfWork", "UnitOfWorkFactory"]

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
                     at: datetime, source_name: str | None = None) -> None: ...
    def prediction_hashes(self, device_id: str, ids: Sequence[str]) -> dict[str, str]: ...
    def insert_predictions(self, frame: pd.DataFrame, *, batch_id: int, at: datetime) -> None: ...
    def register_model_versions(self, device_id: str, versions: Sequence[str], *, batch_id: int,
                                at: datetime) -> list[str]: ...
    def register_sites(self, device_id: str, site_ids: Sequence[str], *, batch_id: int, at: datetime) -> list[str]: ...
    def latest_ground_truth(self, device_id: str, ids: Sequence[str]) -> dict[str, tuple[int, str]]: ...
    def ground_truth_history(self, device_id: str, ids: Sequence[str]) -> dict[str, set[tuple[str, str | None]]]: ...
    def insert_ground_truth(self, frame: pd.DataFrame, *, batch_id: int, at: datetime) -> None: ...
    def insert_rejections(self, batch_id: int, rejections: Sequence[Rejection],
                          content_hashes: Sequence[str] | None = None) -> int: ...


class AuditRepo(Protocol):
    def append(self, *, at: datetime, actor: str, action: str, entity: str, entity_id: str,
               details: dict[str, Any]) -> str: ...
    def head(self) -> str: ...


class PatientClusterRepo(Protocol):
    """The repeated patients' cells, counted from a window's materialised cases (``cases``)."""

    def repeated_patient_cells(self, cases: Any) -> pd.DataFrame: ...


class LabelArrivalRepo(Protocol):
    """Final labels of a window's materialised cases (``cases``) and the earlier cohorts' arrival."""

    def final_cells(self, cases: Any, *, cutoff: datetime, provisional_sources: Sequence[str],
                    window_days: int) -> pd.DataFrame: ...
    def arrival_histograms(self, device_id: str, *, before: datetime, cutoff: datetime,
                           provisional_sources: Sequence[str], window_days: int,
                           horizon_days: int, after: datetime | None = None) -> pd.DataFrame: ...


class LowConfidenceRepo(Protocol):
    """The low-confidence section's counts (:mod:`monitor.adapters.db.repositories.low_confidence`)."""

    def any_logged(self, device_id: str, *, start: datetime, end: datetime, cutoff: datetime) -> bool: ...
    def counts(self, device_id: str, *, start: datetime, end: datetime, cutoff: datetime,
               attributes: Sequence[Any]) -> pd.DataFrame: ...


class ComparatorRepo(Protocol):
    """The comparator section's paired counts (:mod:`monitor.adapters.db.repositories.comparator`)."""

    def paired_counts(self, device_id: str, *, start: datetime, end: datetime, cutoff: datetime,
                      attributes: Sequence[Any], positive_from: float | None) -> pd.DataFrame: ...


class ReviewRepo(Protocol):
    """The review log and the window's review cases (:class:`monitor.adapters.db.repositories.review.ReviewRepository`)."""

    def known_cases(self, device_id: str, prediction_ids: Sequence[str]) -> set[str]: ...
    def versions(self, device_id: str, prediction_ids: Sequence[str]) -> dict[str, Any]: ...
    def insert(self, frame: pd.DataFrame, *, batch_id: int, at: datetime) -> None: ...
    def latest(self, device_id: str, cutoff: datetime) -> dict[str, Any]: ...
    def cases(self, device_id: str, *, start: datetime, end: datetime, cutoff: datetime,
              attributes: Sequence[Any]) -> pd.DataFrame: ...


class OrdinalRepo(Protocol):
    """Counts of an ordinal device's predictions by AI level and reference grade
    (:class:`monitor.adapters.db.repositories.ordinal.OrdinalRepository`)."""

    def level_counts(self, device_id: str, *, start: datetime, end: datetime, cutoff: datetime,
                     attributes: Sequence[Any]) -> pd.DataFrame: ...


class ReadRepo(Protocol):
    """The one read side's storage (:mod:`monitor.service.queries`): every read of stored runs, results,
    findings, tickets, reports, batches and audit records that the API, the dashboard and the report make.
    Implemented by :class:`monitor.adapters.db.repositories.queries.ReadRepository`."""

    def devices(self, *, limit: int, offset: int) -> rm.Page[rm.DeviceSummary]: ...
    def all_devices(self) -> list[rm.Device]: ...
    def device_exists(self, device_id: str) -> bool: ...
    def device(self, device_id: str) -> rm.Device: ...
    def periods(self, device_id: str, *, limit: int, offset: int) -> rm.Page[rm.PeriodSummary]: ...
    def runs(self, *, device_id: str | None, period: str | None, limit: int, offset: int) -> rm.Page[rm.RunHeader]: ...
    def run(self, run_id: str) -> rm.Run: ...
    def run_exists(self, run_id: str) -> bool: ...
    def latest_run(self, device_id: str, period: str) -> rm.Run: ...
    def latest_runs(self, device_id: str) -> list[rm.RunHeader]: ...
    def previous_run(self, device_id: str, before: datetime) -> rm.Run | None: ...
    def newest_run_id(self) -> str | None: ...
    def document(self, run_id: str) -> dict[str, Any]: ...
    def stratum_results(self, run_id: str, *, model_version: str | None, metric: str | None, status: str | None,
                        stratum_prefix: str | None, limit: int, offset: int) -> rm.Page[rm.StratumResult]: ...
    def results_of_runs(self, run_ids: Sequence[str], *, metric: str | None = None, stratum: str | None = None,
                        level: int | None = None) -> list[rm.StratumResult]: ...
    def findings(self, *, device_id: str | None, run_id: str | None, metric: str | None, limit: int,
                 offset: int) -> rm.Page[rm.Finding]: ...
    def findings_of_runs(self, run_ids: Sequence[str]) -> list[rm.Finding]: ...
    def tickets(self, *, device_id: str | None, status: str | None, limit: int, offset: int) -> rm.Page[rm.Ticket]: ...
    def ticket_details(self, *, device_id: str | None = None, ticket_id: str | None = None) -> list[rm.TicketDetail]: ...
    def ticket(self, ticket_id: str) -> rm.TicketDetail: ...
    def ticket_counts(self, device_id: str) -> dict[str, int]: ...
    def report_files(self, *, device_id: str | None, period: str | None, limit: int,
                     offset: int) -> rm.Page[rm.ReportFile]: ...
    def report_file(self, file_id: int) -> rm.ReportFile: ...
    def report_revisions(self, *, device_id: str | None, period: str | None, status: str | None, limit: int,
                         offset: int) -> rm.Page[rm.ReportRevision]: ...
    def latest_revision_of_run(self, run_id: str) -> rm.ReportRevision | None: ...
    def batches(self, *, kind: str | None, limit: int, offset: int) -> rm.Page[rm.Batch]: ...
    def batch(self, batch_id: int) -> rm.Batch: ...
    def batches_by_id(self, batch_ids: Sequence[int]) -> list[rm.Batch]: ...
    def rejected_rows(self, *, batch_id: int | None, reason_code: str | None, status: str | None, limit: int,
                      offset: int) -> rm.Page[rm.RejectedRow]: ...
    def rejections_by_reason(self, batch_ids: Sequence[int]) -> list[rm.RejectionCount]: ...
    def audit_records(self, *, action: str | None, entity: str | None, entity_id: str | None, actor: str | None,
                      since: datetime | None, limit: int, offset: int) -> rm.Page[rm.AuditRecord]: ...


class UnitOfWork(Protocol):
    """One database transaction with the repositories bound to it; commits on clean exit."""

    devices: Any
    logs: Any
    results: Any
    tickets: Any
    audit: Any
    jobs: Any
    access: Any
    queries: ReadRepo
    reports: Any
    revisions: Any
    summaries: Any
    patient_clusters: PatientClusterRepo
    label_arrival: LabelArrivalRepo
    ordinal: OrdinalRepo  # the ordinal section's counts (issue 17)
    month_aggregates: Any
    case_stream: Any
    cusum_checkpoints: Any
    safety_events: Any  # monitor.adapters.db.repositories.safety_events.SafetyEventRepository
    lesions: Any  # monitor.adapters.db.repositories.lesions.LesionRepository
    review: ReviewRepo  # the review log (issue 17 item 3)
    comparator: ComparatorRepo
    low_confidence: LowConfidenceRepo


class UnitOfWorkFactory(Protocol):
    """Opens a unit of work: one transaction, committed when the block ends without error, else rolled back.

    ``autocommit=True``: no enclosing transaction, each statement commits on its own (for a few reads that
    need no common snapshot, such as authenticating a request: on PostgreSQL it saves the BEGIN and COMMIT
    round trips). A unit that keeps no transactions (an in-memory double) may ignore it."""

    def __call__(self, *, autocommit: bool = False) -> ContextManager[UnitOfWork]: ...


@dataclass(frozen=True)
class DropEntry:
    """One entry of a drop-folder directory, as ``lstat`` sees it (a symbolic link is never followed).

    ``type`` is ``file`` (a regular file), ``dir``, ``symlink``, ``other`` (fifo, socket, device) or
    ``unreadable`` (its ``lstat`` failed); ``size`` and ``mtime_ns`` are 0 unless it is a regular file.
    """

    path: Path
    type: Literal["file", "dir", "symlink", "other", "unreadable"]
    size: int = 0
    mtime_ns: int = 0

    @property
    def name(self) -> str:
        return self.path.name


class DropFiles(Protocol):
    """The file operations of the drop folder (:mod:`monitor.service.drop_folder`); none follows a symbolic
    link below the drop folder's root. Implemented by :class:`monitor.adapters.files.drop_folder.LocalDropFiles`.
    """

    def is_folder(self, path: Path) -> bool:
        """Whether ``path`` is a directory (the root may be a link to one; nothing below it may)."""
        ...

    def entries(self, folder: Path) -> list[DropEntry]:
        """The entries of ``folder`` sorted by name; empty when it is missing or not a real directory."""
        ...

    def make_folder(self, path: Path) -> None:
        """Create the directory ``path`` if it does not exist."""
        ...

    def move(self, source: Path, target: Path) -> bool:
        """Rename atomically (the entry itself, never a link's target); False when ``source`` is gone."""
        ...

    def remove(self, path: Path) -> None:
        """Delete the file ``path`` if it exists."""
        ...

    def write_json(self, path: Path, document: dict[str, Any]) -> None:
        """Write ``document`` to ``path`` atomically (a temporary ``.NAME.tmp`` renamed over it)."""
        ...

    def set_mtime(self, path: Path, at: datetime) -> None:
        """Set the modification time of ``path`` (without following a link)."""
        ...

    def open_regular(self, path: Path) -> ContextManager[Path]:
        """Open ``path`` once, refusing a symbolic link or anything but a regular file
        (:class:`monitor.errors.InputError`); yield a path that reads that very file while the context lasts."""
        ...

    def log_format(self, name: str) -> str | None:
        """The log format a file name's suffix stands for (``csv``, ``parquet``, ...), if any."""
        ...

    def canonical(self, path: Path) -> Path:
        """``path`` absolute, with its links resolved (one name per folder, for the folder's lease key)."""
        ...
