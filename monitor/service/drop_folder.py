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

One file never stops the scan: whatever goes wrong with it (an ``OSError`` such as ENAMETOOLONG,
a bug) moves that file aside to ``failed/`` with its sidecar, and the scan goes on with the other
files and devices. Symbolic links are never followed: a link, a fifo, a device or a directory in
``incoming/`` is moved to ``failed/`` unread, and a file is read through one descriptor opened
without following links (:class:`monitor.service.ports.DropFiles`). Names longer than the file
system allows once the claim stamp and the sidecar suffix are added are shortened: truncated, with
a short hash of the full name and the format suffix kept. Sidecars and job records never carry
file content; an unexpected error is named by its type only (the stack goes to the service log).
All file access goes through the :class:`~monitor.service.ports.DropFiles` port.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Literal

import pandas as pd

from monitor.domain.privacy import PatientHasher
from monitor.errors import InputError, MissingSecretError, MonitorError, StorageError
from monitor.service.ingest import BatchSummary, ingest_ground_truth, ingest_predictions, source_text
from monitor.service.jobs import DEFAULT_LEASE_SECONDS, JobOutcome, run_job
from monitor.service.ports import Clock, DropEntry, DropFiles, LogSource, UnitOfWorkFactory

__all__ = ["DROP_RESULT_SCHEMA_VERSION", "KIND_FOLDERS", "DropResult", "DropWatcher", "prune_done"]

DROP_RESULT_SCHEMA_VERSION = 1
KIND_FOLDERS = {"predictions": "predictions", "ground-truth": "ground_truth"}
PARTIAL_SUFFIXES = (".part", ".tmp")
READY_SUFFIX = ".ready"
RESULT_SUFFIX = ".result.json"
#: Longest name (bytes) of a file in processing/, done/ or failed/: its sidecar's temporary name
#: ``.NAME.result.json.tmp`` must still fit in NAME_MAX (255 bytes on Linux, macOS and Windows).
MAX_NAME_BYTES = 255 - len(".") - len(RESULT_SUFFIX) - len(".tmp")
_HASH_CHARS = 10
_MAX_SUFFIX_BYTES = 16
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
                "outcome": self.outcome, "path": source_text(str(self.path)), **counts, "error": self.error}


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
            if bool(other.any()):  # the row's value is not echoed (error messages never carry data values)
                at = int(other.to_numpy().argmax())
                raise InputError(f"{self.name}: row {first_row + at} is for another device than "
                                 f"{self.device_id!r}, the folder the file was dropped in")
            yield first_row, frame


def _stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")




def _fits(name: str, limit: int = MAX_NAME_BYTES) -> str:
    """``name`` if it has at most ``limit`` bytes; else truncated, with ``~`` and a hash of the whole name,
    and the format suffix (``.csv``, ``.fhir.json`` ...) kept so that the file is still read as it was."""
    raw = os.fsencode(name)
    if len(raw) <= limit:
        return name
    lower = name.lower()
    suffix = name[-len(".fhir.json"):] if lower.endswith(".fhir.json") else os.path.splitext(name)[1]
    if len(os.fsencode(suffix)) > _MAX_SUFFIX_BYTES:
        suffix = ""  # not a format suffix anyway
    tag = "~" + hashlib.sha256(raw).hexdigest()[:_HASH_CHARS]
    head = name[: len(name) - len(suffix)]
    room = limit - len(os.fsencode(tag + suffix))
    while len(os.fsencode(head)) > room:  # whole characters only (never half a UTF-8 sequence)
        head = head[:-1]
    return head + tag + suffix


def _candidate(name: str) -> bool:
    return not name.startswith(".") and not name.endswith((*PARTIAL_SUFFIXES, READY_SUFFIX, RESULT_SUFFIX))


_NOT_REGULAR = {"symlink": "a symbolic link: not followed (drop the file itself)",
                "dir": "a directory: only files are read from the drop folder",
                "other": "not a regular file (a fifo, socket or device): refused",
                "unreadable": "cannot be inspected (lstat failed): refused"}


def _os_reason(exc: OSError) -> str:
    """An OSError as one line without a path: e.g. ``file system error: File name too long (ENAMETOOLONG)``."""
    code = errno.errorcode.get(exc.errno or 0)
    return f"file system error: {exc.strerror or type(exc).__name__}" + (f" ({code})" if code else "")


@dataclass
class DropWatcher:
    """Scans one drop folder; remembers sizes between scans to tell finished files from growing ones."""

    root: Path
    uow: UnitOfWorkFactory
    open_log: Callable[..., LogSource]  # open_log(path, format=..., kind=..., device_id=...)
    hasher: Callable[[], PatientHasher]
    clock: Clock
    actor: str
    files: DropFiles
    _seen: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def kind_folders(self) -> Iterator[tuple[str, str, Path]]:
        """``(device_id, folder kind, folder)`` for every ``DROP/<device>/<kind>/`` present (links not followed)."""
        if not self.files.is_folder(self.root):
            raise InputError(f"drop folder {self.root} does not exist")
        for device in self._entries(self.files.canonical(self.root)):  # the root itself may be a link
            if device.type != "dir" or device.name.startswith("."):
                continue
            kinds = {e.name for e in self._entries(device.path) if e.type == "dir"}
            for kind in KIND_FOLDERS:
                if kind in kinds:
                    yield source_text(device.name), kind, device.path / kind

    def _entries(self, folder: Path) -> list[DropEntry]:
        """:meth:`DropFiles.entries`, with a folder that cannot be listed logged and passed over (never fatal)."""
        try:
            return self.files.entries(folder)
        except OSError as exc:
            log.warning("drop folder not listed",
                        extra={"folder": source_text(str(folder)), "error": _os_reason(exc)})
            return []

    def job_key(self) -> str:
        """The lease key of this folder: one scanner at a time, whether the service or ``ingest watch``."""
        key = f"drop-folder:{self.files.canonical(self.root)}"
        return key if len(key) <= 255 else f"drop-folder:sha256:{hashlib.sha256(key.encode()).hexdigest()}"

    def run(self, *, host: str, lease: float = DEFAULT_LEASE_SECONDS) -> JobOutcome:
        """One :meth:`scan` under the folder's lease, recorded in ``job_runs``."""
        return run_job("drop-folder", self.job_key(), lambda: {"files": [r.as_dict() for r in self.scan()]},
                       uow=self.uow, clock=self.clock, host=host, lease=lease)

    def ready(self) -> list[tuple[str, str, DropEntry, bool]]:
        """Entries of ``incoming/`` to take now, with whether a ``.ready`` marker came with them: regular files
        with a marker or unchanged since the last scan, and at once anything that is not a regular file
        (it is moved aside unread)."""
        found, observed = [], {}
        for device_id, kind, folder in self.kind_folders():
            entries = self._entries(folder / "incoming")
            names = {e.name for e in entries}
            for entry in entries:
                if not _candidate(entry.name):
                    continue
                marked = entry.name + READY_SUFFIX in names  # from the listing: no lookup of a too-long name
                if entry.type != "file":
                    found.append((device_id, kind, entry, marked))
                    continue
                observed[entry.path] = (entry.size, entry.mtime_ns)
                if marked or self._seen.get(entry.path) == observed[entry.path]:
                    found.append((device_id, kind, entry, marked))
        self._seen = observed
        return found

    def scan(self) -> list[DropResult]:
        """Retry orphans left in ``processing/``, then claim and ingest every complete new file.

        Each file is handled on its own: an error with one is recorded against it (the file moved to
        ``failed/`` when possible) and never stops the scan.
        """
        with self.uow() as unit:
            devices = set(unit.devices.configs())
        results = []
        for device_id, kind, folder in self.kind_folders():
            for entry in self._entries(folder / "processing"):
                if _candidate(entry.name):
                    results.append(self._isolated(device_id, kind, entry, devices, claim=False, marked=False))
        for device_id, kind, entry, marked in self.ready():
            self._seen.pop(entry.path, None)
            result = self._isolated(device_id, kind, entry, devices, claim=True, marked=marked)
            if result is not None:
                results.append(result)
        return [r for r in results if r is not None]

    def _isolated(self, device_id: str, kind: str, entry: DropEntry, devices: set[str], *, claim: bool,
                  marked: bool) -> DropResult | None:
        """Claim (when new) and process one entry; any error is this entry's alone."""
        path, started = entry.path, self.clock()
        try:
            if claim:
                claimed = self._claim(entry.path, marked)
                if claimed is None:
                    return None
                path = claimed
            if entry.type != "file":
                return self._move(device_id, kind, path, started, None, _NOT_REGULAR[entry.type])
            return self._process(device_id, kind, path, devices)
        except Exception as exc:  # noqa: BLE001 - per-file isolation: nothing about one file stops the scan
            reason = _os_reason(exc) if isinstance(exc, OSError) else f"internal error: {type(exc).__name__}"
            log.exception("drop file could not be handled",
                          extra={"file": source_text(path.name), "device_id": device_id})
            try:
                return self._move(device_id, kind, path, started, None, reason)
            except Exception:  # noqa: BLE001 - cannot even move it: left where it is, retried next scan
                log.exception("drop file could not be moved aside",
                              extra={"file": source_text(path.name), "device_id": device_id})
                return DropResult(device_id, kind, source_text(path.name), "retry", path, error=reason)

    def _claim(self, path: Path, marked: bool) -> Path | None:
        """Move ``path`` into ``processing/`` under a unique name; ``None`` if another watcher took it."""
        processing = path.parent.parent / "processing"
        self.files.make_folder(processing)
        target = processing / _fits(f"{_stamp(self.clock())}_{path.name}")
        if not self.files.move(path, target):
            return None
        if marked:
            self.files.remove(path.with_name(path.name + READY_SUFFIX))
        return target

    def _ingest(self, device_id: str, kind: str, path: Path, devices: set[str]) -> BatchSummary:
        if device_id not in devices:
            raise InputError(f"{source_text(path.name)}: device {device_id!r} (the folder name) is not registered")
        with self.files.open_regular(path) as readable:  # one descriptor, no link followed
            try:
                log_file = self.open_log(readable, format=self.files.log_format(path.name),
                                         kind=KIND_FOLDERS[kind], device_id=device_id)
                source = _DeviceScoped(log_file, device_id, source_text(path.name))
                name = source_text(str(path.parent.parent / "done" / path.name))  # recorded and printed: text only
                if KIND_FOLDERS[kind] == "predictions":
                    return ingest_predictions(source, source=name, uow=self.uow, hash_patient=self.hasher(),
                                              clock=self.clock, actor=self.actor)
                try:  # ground truth needs the key only for rows given by accession number
                    hasher: PatientHasher | None = self.hasher()
                except MissingSecretError:
                    hasher = None
                return ingest_ground_truth(source, source=name, uow=self.uow, clock=self.clock, actor=self.actor,
                                           hash_patient=hasher)
            except (StorageError, MissingSecretError):
                raise
            except MonitorError as exc:  # the readers name the path they read: the descriptor's, not the file's
                if str(readable) != str(path) and str(readable) in str(exc):
                    raise InputError(str(exc).replace(str(readable), source_text(path.name))) from exc
                raise

    def _process(self, device_id: str, kind: str, path: Path, devices: set[str]) -> DropResult:
        """Ingest one claimed file and move it, with its sidecar, to ``done/`` or ``failed/``."""
        started = self.clock()
        try:
            summary = self._ingest(device_id, kind, path, devices)
        except (StorageError, MissingSecretError) as exc:  # the service, not the file: try again next scan
            log.warning("drop file kept for retry", extra={"file": source_text(path.name), "device_id": device_id,
                                                           "error": str(exc)})
            return DropResult(device_id, kind, source_text(path.name), "retry", path, error=str(exc))
        except MonitorError as exc:
            return self._move(device_id, kind, path, started, None, str(exc))
        except OSError as exc:  # the file could not be read: aside, with the system's reason
            log.warning("drop file unreadable", extra={"file": source_text(path.name), "device_id": device_id,
                                                       "error": _os_reason(exc)})
            return self._move(device_id, kind, path, started, None, _os_reason(exc))
        except Exception as exc:  # a bug: the file goes to failed/ with the error type, the stack to the log
            log.exception("drop file crashed the ingest", extra={"file": source_text(path.name), "device_id": device_id})
            return self._move(device_id, kind, path, started, None,
                              f"internal error: {type(exc).__name__} (see the service log)")
        return self._move(device_id, kind, path, started, summary.as_dict(), None)

    def _move(self, device_id: str, kind: str, path: Path, started: datetime, batch: dict[str, Any] | None,
              error: str | None) -> DropResult:
        outcome: Literal["done", "failed"] = "failed" if error else "done"
        error = source_text(error) if error else error  # an error may name the file: its undecodable bytes as U+FFFD
        target_dir = path.parent.parent / outcome
        self.files.make_folder(target_dir)
        target = target_dir / _fits(path.name)
        finished = self.clock()
        self.files.write_json(target_dir / (target.name + RESULT_SUFFIX), {
            "schema": "samd-monitor/drop_result", "schema_version": DROP_RESULT_SCHEMA_VERSION,
            "file": source_text(target.name), "device_id": device_id, "kind": KIND_FOLDERS[kind], "outcome": outcome,
            "started_at": _iso(started), "finished_at": _iso(finished), "batch": batch, "error": error,
        })
        if not self.files.move(path, target):
            raise FileNotFoundError(errno.ENOENT, "the file vanished before it could be moved")
        self.files.set_mtime(target, finished)  # retention of done/ counts from here
        log.info("drop file %s", outcome, extra={"file": source_text(target.name), "device_id": device_id, "kind": kind,
                                                 "batch_id": batch["batch_id"] if batch else None, "error": error})
        return DropResult(device_id, kind, source_text(target.name), outcome, target, batch, error)


def prune_done(files: DropFiles, root: Path, *, before: datetime) -> int:
    """Delete files (and their sidecars) in every ``done/`` of ``root`` moved there before ``before``.

    ``failed/`` is never pruned (someone must look at it); the database keeps every batch anyway.
    """
    if not files.is_folder(root):
        return 0
    removed, limit = 0, before.timestamp() * 1e9
    for device in files.entries(root):
        if device.type != "dir":
            continue
        for kind in KIND_FOLDERS:
            for entry in files.entries(device.path / kind / "done"):
                if entry.type == "file" and not entry.name.endswith(RESULT_SUFFIX) and entry.mtime_ns < limit:
                    files.remove(entry.path)
                    files.remove(entry.path.with_name(entry.name + RESULT_SUFFIX))
                    removed += 1
    return removed
