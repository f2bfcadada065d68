"""The regulatory submission archive of one device and period, and its verification.

``export_submission`` writes one ZIP with the newest report revision (the files recorded for it in
``reports``: HTML/PDF in both languages, JSON, CSV and XLSX annexes; for an approved revision, its
*signed edition* pages, which print the signatures, instead of the pages as generated; the manifest's
``report.edition`` says which), the stored stratum results and
the device's tickets with their transitions as CSV, a bilingual README for the reviewer, and
``manifest.json`` (``schemas/submission_manifest.schema.json``): every file with its SHA-256 and size,
the report's id, revision, status and signatures, the analysis run's input fingerprint and
configuration hash, the audit-chain head and the software version.

The archive is deterministic: entries sorted by name, fixed timestamps (1980-01-01) and permissions,
and no export time, so the same revision and audit head give identical bytes. Every export is audited
(``report.export``), so a later export carries a newer audit head (in the manifest only).
``verify_submission`` re-checks every hash and rejects unsafe paths (zip-slip), extra, missing or
duplicated entries, naming what is wrong (:class:`monitor.errors.IntegrityError`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

from monitor import __version__
from monitor.errors import ConflictError, IntegrityError, ReportError
from monitor.service.ports import Clock, UnitOfWorkFactory
from monitor.service.signoff import SIGNED_PREFIX, verify_revision_files
from monitor.service.tickets import tickets_as_csv, transitions_as_csv

__all__ = ["MANIFEST_NAME", "SUBMISSION_SCHEMA_VERSION", "build_submission", "export_submission", "record_export",
           "verify_submission"]

MANIFEST_NAME = "manifest.json"
SUBMISSION_SCHEMA_VERSION = 1
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_RESULT_COLUMNS = ("model_version", "stratum", "level", "metric", "successes", "trials", "estimate", "ci_low",
                   "ci_high", "claim", "margin", "p_value", "q_value", "status", "additional_needed")

README = """samd-monitor submission archive / samd-monitor 提交归档
=====================================================

Device / 器械: {device_id}    Period / 报告期: {period}
Report / 报告: {report_id} (revision / 版本 {revision}, status / 状态 {status})

EN: This archive holds the periodic real-world performance report in English and Chinese (report/),
its annex tables and the tickets (tables/), and manifest.json, which lists every file with its SHA-256,
the electronic signatures, the analysis run's input fingerprint and configuration hash and the audit-chain
head. Check it with `samd-monitor export verify <archive.zip>` (or recompute the SHA-256 of each file);
any changed, added or missing file is reported.

中文：本归档包含中英文定期真实世界性能报告（report/）、附表及工单（tables/），以及 manifest.json：
其中列出每个文件的 SHA-256、电子签名、分析运行的输入指纹与配置哈希，以及审计链头。
可使用 `samd-monitor export verify <归档.zip>` 校验（或自行计算各文件的 SHA-256）；
任何被修改、新增或缺失的文件都会被指出。
"""


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_PREFIXES) else text


def _results_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_RESULT_COLUMNS)
    for r in rows:
        writer.writerow([_cell(r[c]) for c in _RESULT_COLUMNS])
    return out.getvalue()


def _iso(moment: Any) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def _report_name(f: dict[str, Any], taken: set[str]) -> str:
    name = f"report/{PurePosixPath(Path(f['path']).name)}"
    if name in taken:
        raise ReportError(f"two files of the report are both named {name}")
    taken.add(name)
    return name


def _edition(revision: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """The revision's files the archive carries and which edition they are: ``signed`` (an approved revision's
    signed edition: its HTML/PDF with the signatures on the page, and the other files) or ``generated`` (the
    files as generated: a draft, or a revision approved before signed editions were written)."""
    signed = [f for f in revision["files"] if f["format"].startswith(SIGNED_PREFIX)]
    if revision["status"] == "signed" and signed:
        pages = {"html", "pdf"}
        return [f for f in revision["files"] if f["format"] not in pages], "signed"
    return [f for f in revision["files"] if not f["format"].startswith(SIGNED_PREFIX)], "generated"


def build_submission(device_id: str, period: str, *, uow: UnitOfWorkFactory,
                     allow_draft: bool = False) -> dict[str, bytes]:
    """The archive's entries (name -> bytes), manifest included."""
    with uow() as unit:
        revision = unit.revisions.latest(device_id, period)
        if revision["status"] != "signed" and not allow_draft:
            raise ConflictError(f"report {revision['report_id']} (revision {revision['revision']}) is "
                                f"{revision['status']}, not approved: sign it (samd-monitor signoff sign ... "
                                "--meaning approved) or pass --allow-draft")
        files, edition = _edition(revision)
        languages = {f["language"] for f in files if f["language"]}
        if not ({"en", "zh-CN"} <= languages or "both" in languages):
            raise ConflictError(f"report {revision['report_id']} has no rendered files in both languages "
                                f"(has: {', '.join(sorted(languages)) or 'none'}): generate it with --language both")
        verify_revision_files(revision)
        run = unit.results.get_run(revision["run_id"])
        results = unit.results.stratum_results(revision["run_id"])
        tickets = unit.tickets.list(device_id=device_id)
        head = unit.audit.head()
        checkpoint = unit.audit.checkpoint()  # the head, authenticated with the audit key (docs/audit.md)
    entries: dict[str, bytes] = {}
    taken: set[str] = set()
    for f in files:
        entries[_report_name(f, taken)] = Path(f["path"]).read_bytes()
    entries["tables/stratum_results.csv"] = _results_csv(results).encode("utf-8")
    entries["tables/tickets.csv"] = tickets_as_csv(tickets).encode("utf-8")
    entries["tables/ticket_transitions.csv"] = transitions_as_csv(tickets).encode("utf-8")
    entries["README.txt"] = README.format(device_id=device_id, period=period, report_id=revision["report_id"],
                                          revision=revision["revision"], status=revision["status"]).encode("utf-8")
    manifest = {
        "schema": "samd-monitor/submission-manifest", "schema_version": SUBMISSION_SCHEMA_VERSION,
        "device_id": device_id, "period": period, "software_version": __version__,
        "report": {"report_id": revision["report_id"], "revision": revision["revision"], "status": revision["status"],
                   "supersedes": revision["supersedes"], "languages": revision["languages"], "edition": edition,
                   "content_sha256": revision["content_sha256"], "created_at": _iso(revision["created_at"]),
                   "frozen_at": _iso(revision["frozen_at"]),
                   "signatures": [{"user_id": s["user_id"], "printed_name": s["printed_name"], "meaning": s["meaning"],
                                   "signed_at": _iso(s["signed_at"]), "content_sha256": s["content_sha256"]}
                                  for s in revision["signatures"]]},
        "analysis": {"run_id": run["run_id"], "input_fingerprint": run["input_fingerprint"],
                     "config_hash": run["config_hash"], "data_cutoff": _iso(run["data_cutoff"]),
                     "software_version": run["software_version"]},
        "audit_chain_head": head,
        "audit_checkpoint": checkpoint.model_dump(mode="json"),
        "files": [{"path": name, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
                  for name, data in sorted(entries.items())],
    }
    entries[MANIFEST_NAME] = (json.dumps(manifest, indent=2, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")
    return entries


def export_submission(device_id: str, period: str, out: Path, *, uow: UnitOfWorkFactory, clock: Clock, actor: str,
                      allow_draft: bool = False) -> dict[str, Any]:
    """Write the deterministic archive to ``out``; return its manifest. The export is audited
    (``report.export``: the actor, the file and its SHA-256), after the archive is built: the next export's
    manifest then carries a newer audit head, so the archive is reproducible for the same revision and
    audit head (every other entry is byte-identical)."""
    entries = build_submission(device_id, period, uow=uow, allow_draft=allow_draft)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = 0o100644 << 16
            archive.writestr(info, entries[name])
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_bytes(buffer.getvalue())
        tmp.replace(out)
    except OSError as exc:
        raise ReportError(f"cannot write {out}: {exc.strerror}") from exc
    manifest = json.loads(entries[MANIFEST_NAME])
    archive = buffer.getvalue()
    record_export(uow=uow, clock=clock, actor=actor, kind="submission", report_id=manifest["report"]["report_id"],
                  file=str(out.resolve()), sha256=hashlib.sha256(archive).hexdigest(), size=len(archive),
                  extra={"edition": manifest["report"]["edition"], "revision": manifest["report"]["revision"]})
    return manifest  # type: ignore[no-any-return]


def record_export(*, uow: UnitOfWorkFactory, clock: Clock, actor: str, kind: str, report_id: str, file: str,
                  sha256: str, size: int, extra: dict[str, Any] | None = None) -> None:
    """Audit one export or download of a report file or archive (``report.export``: who, which file, its
    SHA-256 and size; 21 CFR 11.10(e)). Every entry point that hands report files out calls it."""
    with uow() as unit:
        unit.audit.append(at=clock(), actor=actor, action="report.export", entity="report", entity_id=report_id,
                          details={"kind": kind, "file": file, "sha256": sha256, "bytes": size, **(extra or {})})


def _check_name(name: str) -> None:
    path = PurePosixPath(name)
    if (name.startswith(("/", "\\")) or "\\" in name or ".." in path.parts or ":" in name
            or name != str(path) or not name):
        raise IntegrityError(f"unsafe path in archive: {name!r} (absolute, parent-directory or drive component)")


def verify_submission(path: Path) -> dict[str, Any]:
    """Re-check an archive against its manifest; return the manifest, or raise :class:`IntegrityError`."""
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise IntegrityError(f"{path} is not a readable ZIP archive: {exc}") from exc
    with archive:
        names = [i.filename for i in archive.infolist()]
        for name in names:
            _check_name(name)
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise IntegrityError(f"duplicated entry in archive: {duplicated[0]}")
        if MANIFEST_NAME not in names:
            raise IntegrityError(f"{MANIFEST_NAME} is missing from the archive")
        try:
            manifest = json.loads(archive.read(MANIFEST_NAME))
            listed = {f["path"]: f for f in manifest["files"]}
        except (ValueError, KeyError, TypeError) as exc:
            raise IntegrityError(f"{MANIFEST_NAME} is not a valid manifest: {exc}") from exc
        present = set(names) - {MANIFEST_NAME}
        extra, missing = sorted(present - set(listed)), sorted(set(listed) - present)
        if extra:
            raise IntegrityError(f"file not listed in the manifest: {extra[0]}")
        if missing:
            raise IntegrityError(f"file listed in the manifest is missing: {missing[0]}")
        for name in sorted(listed):
            try:
                data = archive.read(name)
            except (zipfile.BadZipFile, OSError) as exc:  # a corrupted entry fails its CRC check
                raise IntegrityError(f"{name}: entry is corrupted ({exc})") from exc
            if hashlib.sha256(data).hexdigest() != listed[name]["sha256"] or len(data) != listed[name]["bytes"]:
                raise IntegrityError(f"{name}: SHA-256 differs from the manifest (the file was changed)")
    return manifest
