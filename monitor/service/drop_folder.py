"""Ingest log files dropped into a folder: taken only when complete, claimed atomically, never read twice.

Layout (one sub-folder per registered device, ``docs/service.md``)::

    DROP/<device_id>/predictions/incoming/     producers put prediction logs here
    DROP/<device_id>/ground-truth/incoming/    ... and ground-truth logs here
                    .../processing/            claimed, being ingested
                    .../done/                  ingested; <file>.result.json holds the batch summary
                    .../failed/                not ingested; <file>.result.json says why

A file in ``incoming/`` is taken when its name does not start with ``.`` nor end with ``.part``,
``.tmp`` or ``.ready``, and either a marker ``<file>.ready`` exists or its size and modification
time did not change between two scans. Producers should write ``name.csv.part`` and rename it
to ``name.csv`` when complete (a rename is atomic). The file is claimed by an atomic rename into
``processing/`` (two watchers cannot both claim it), ingested in one transaction, then moved.
A crash leaves it in ``processing/``; the next scan ingests it again, and since a re-sent row
is a duplicate, nothing is counted twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Literal

import pandas as pd

from monitor.domain.privacy import PatientHasher
from monitor.errors import InputError, MissingSecretError, MonitorError, StorageError
from monitor.service.ingest import BatchSummary, ingest_ground_truth, ingest_predictions
from monitor.service.jobs import DEFAULT_LEASE_SECONDS, JobOutcome, run_job
from monitor.service.ports import Clock, LogSource, UnitOfWorkFactory

__all__ = ["DROP_RESULT_SCHEMA_VERSION", "KIND_FOLDERS", "DropResult", "DropWatcher", "prune_done"]

DROP_RESULT_SCHEMA_VERSION = 1
KIND_FOLDERS = {"predictions": "predictions", "ground-truth": "ground_truth"}
PARTIAL_SUFFIXES = (".part", ".tmp")
READY_SUFFIX = ".ready"
RESULT_SUFFIX = ".result.json"
log = logging.getLogger("monitor.drop_folder")


@dataclass(frozen=True)
class DropResult:
    """What became of one dropped file: ``done``, ``failed``, or ``retry`` (left in processing/)."""

    device_id: str
    kind: str
    name: str
    outcome: Literal["done", "failed", "retry"]
    path: Path
    batch: dict[str, Any] | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain data for the job record and ``--json`` output."""
        counts = {k: self.batch[k] for k in ("batch_id", "rows", "accepted", "duplicates", "rejected")} \
            if self.batch else {}
        return {"file": self.name, "device_id": self.device_id, "kind": KIND_FOLDERS[self.kind],
                "outcome": self.outcome, "path": str(self.path), **counts, "error": self.error}


@dataclass(frozen=True)
class _DeviceScoped:
    """A log source that refuses rows of another device than the folder it was dropped in."""

    log: LogSource
    device_id: str
    name: str

    @property
    def format(self) -> str:
        return self.log.format

    @property
    def sha256(self) -> str:
        return self.log.sha256

    @property
    def columns(self) -> tuple[str, ...]:
        return self.log.columns

    def __getattr__(self, name: str) -> Any:  # optional parts of a source, e.g. ``rejections()``
        return getattr(self.log, name)

    def chunks(self, chunk_rows: int = 50_000) -> Iterator[tuple[int, pd.DataFrame]]:
        for first_row, frame in self.log.chunks(chunk_rows):
            ids = frame["device_id"].str.strip() if "device_id" in frame else pd.Series(dtype=object)
            other = ids.notna() & (ids != self.device_id)
            if bool(other.any()):
                at = int(other.to_numpy().argmax())
                raise InputError(f"{self.name}: row {first_row + at} is for device {ids.iat[at]!r}, but the file "
                                 f"was dropped in the folder of device {self.device_id!r}")
            yield first_row, frame


def _stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _candidate(path: Path) -> bool:
    name = path.name
    return (path.is_file() and not name.startswith(".")
            and not name.endswith((*PARTIAL_SUFFIXES, READY_SUFFIX, RESULT_SUFFIX)))


def _write_json(path: Path, document: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)


@dataclass
class DropWatcher:
    """Scans one drop folder; remembers sizes between scans to tell finished files from growing ones."""

    root: Path
    uow: UnitOfWorkFactory
    open_log: Callable[..., LogSource]  # open_log(path, kind=..., device_id=...)
    hasher: Callable[[], PatientHasher]
    clock: Clock
    actor: str
    _seen: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def kind_folders(self) -> Iterator[tuple[str, str, Path]]:
        """``(device_id, folder kind, folder)`` for every ``DROP/<device>/<kind>/`` present."""
        if not self.root.is_dir():
            raise InputError(f"drop folder {self.root} does not exist")
        for device in sorted(p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            for kind in KIND_FOLDERS:
                if (device / kind).is_dir():
                    yield device.name, kind, device / kind

    def job_key(self) -> str:
        """The lease key of this folder: one scanner at a time, whether the service or ``ingest watch``."""
        key = f"drop-folder:{self.root.resolve()}"
        return key if len(key) <= 255 else f"drop-folder:sha256:{hashlib.sha256(key.encode()).hexdigest()}"

    def run(self, *, host: str, lease: float = DEFAULT_LEASE_SECONDS) -> JobOutcome:
        """One :meth:`scan` under the folder's lease, recorded in ``job_runs``."""
        return run_job("drop-folder", self.job_key(), lambda: {"files": [r.as_dict() for r in self.scan()]},
                       uow=self.uow, clock=self.clock, host=host, lease=lease)

    def ready(self) -> list[tuple[str, str, Path]]:
        """Files of ``incoming/`` that are complete: a ``.ready`` marker, or unchanged since the last scan."""
        found, observed = [], {}
        for device_id, kind, folder in self.kind_folders():
            incoming = folder / "incoming"
            for path in sorted(incoming.iterdir()) if incoming.is_dir() else []:
                if not _candidate(path):
                    continue
                try:
                    stat = path.stat()
                except FileNotFoundError:  # claimed by another watcher meanwhile
                    continue
                observed[path] = (stat.st_size, stat.st_mtime_ns)
                marker = path.with_name(path.name + READY_SUFFIX)
                if marker.exists() or self._seen.get(path) == observed[path]:
                    found.append((device_id, kind, path))
        self._seen = observed
        return found

    def scan(self) -> list[DropResult]:
        """Retry orphans left in ``processing/``, then claim and ingest every complete new file."""
        with self.uow() as unit:
            devices = set(unit.devices.configs())
        results = []
        for device_id, kind, folder in self.kind_folders():
            processing = folder / "processing"
            for path in sorted(processing.iterdir()) if processing.is_dir() else []:
                if _candidate(path):
                    results.append(self._process(device_id, kind, path, devices))
        for device_id, kind, path in self.ready():
            claimed = self._claim(path)
            if claimed is not None:
                self._seen.pop(path, None)
                results.append(self._process(device_id, kind, claimed, devices))
        return results

    def _claim(self, path: Path) -> Path | None:
        """Move ``path`` into ``processing/`` under a unique name; ``None`` if another watcher took it."""
        processing = path.parent.parent / "processing"
        processing.mkdir(exist_ok=True)
        target = processing / f"{_stamp(self.clock())}_{path.name}"
        try:
            os.rename(path, target)
        except FileNotFoundError:
            return None
        path.with_name(path.name + READY_SUFFIX).unlink(missing_ok=True)
        return target

    def _ingest(self, device_id: str, kind: str, path: Path, devices: set[str]) -> BatchSummary:
        if device_id not in devices:
            raise InputError(f"{path.name}: device {device_id!r} (the folder name) is not registered")
        log_file = self.open_log(path, kind=KIND_FOLDERS[kind], device_id=device_id)  # the format: from the suffix
        source = _DeviceScoped(log_file, device_id, path.name)
        name = str(path.parent.parent / "done" / path.name)
        if KIND_FOLDERS[kind] == "predictions":
            return ingest_predictions(source, source=name, uow=self.uow, hash_patient=self.hasher(),
                                      clock=self.clock, actor=self.actor)
        try:  # ground truth needs the key only for rows given by accession number
            hasher: PatientHasher | None = self.hasher()
        except MissingSecretError:
            hasher = None
        return ingest_ground_truth(source, source=name, uow=self.uow, clock=self.clock, actor=self.actor,
                                   hash_patient=hasher)

    def _process(self, device_id: str, kind: str, path: Path, devices: set[str]) -> DropResult:
        """Ingest one claimed file and move it, with its sidecar, to ``done/`` or ``failed/``."""
        started = self.clock()
        try:
            summary = self._ingest(device_id, kind, path, devices)
        except (StorageError, MissingSecretError) as exc:  # the service, not the file: try again next scan
            log.warning("drop file kept for retry", extra={"file": path.name, "device_id": device_id, "error": str(exc)})
            return DropResult(device_id, kind, path.name, "retry", path, error=str(exc))
        except MonitorError as exc:
            return self._move(device_id, kind, path, started, None, str(exc))
        except Exception as exc:  # a bug: the file goes to failed/ with the error, the stack to the log
            log.exception("drop file crashed the ingest", extra={"file": path.name, "device_id": device_id})
            return self._move(device_id, kind, path, started, None, f"internal error: {type(exc).__name__}: {exc}")
        return self._move(device_id, kind, path, started, summary.as_dict(), None)

    def _move(self, device_id: str, kind: str, path: Path, started: datetime, batch: dict[str, Any] | None,
              error: str | None) -> DropResult:
        outcome: Literal["done", "failed"] = "failed" if error else "done"
        target_dir = path.parent.parent / outcome
        target_dir.mkdir(exist_ok=True)
        target = target_dir / path.name
        finished = self.clock()
        _write_json(target_dir / (path.name + RESULT_SUFFIX), {
            "schema": "samd-monitor/drop_result", "schema_version": DROP_RESULT_SCHEMA_VERSION,
            "file": path.name, "device_id": device_id, "kind": KIND_FOLDERS[kind], "outcome": outcome,
            "started_at": _iso(started), "finished_at": _iso(finished), "batch": batch, "error": error,
        })
        os.replace(path, target)
        os.utime(target, (finished.timestamp(), finished.timestamp()))  # retention of done/ counts from here
        log.info("drop file %s", outcome, extra={"file": path.name, "device_id": device_id, "kind": kind,
                                                 "batch_id": batch["batch_id"] if batch else None, "error": error})
        return DropResult(device_id, kind, path.name, outcome, target, batch, error)


def prune_done(root: Path, *, before: datetime) -> int:
    """Delete files (and their sidecars) in every ``done/`` of ``root`` moved there before ``before``.

    ``failed/`` is never pruned (someone must look at it); the database keeps every batch anyway.
    """
    if not root.is_dir():
        return 0
    removed, limit = 0, before.timestamp()
    for device in (p for p in root.iterdir() if p.is_dir()):
        for kind in KIND_FOLDERS:
            done = device / kind / "done"
            for path in sorted(done.iterdir()) if done.is_dir() else []:
                if path.is_file() and not path.name.endswith(RESULT_SUFFIX) and path.stat().st_mtime < limit:
                    path.unlink()
                    path.with_name(path.name + RESULT_SUFFIX).unlink(missing_ok=True)
                    removed += 1
    return removed
