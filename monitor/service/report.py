"""Produce the periodic report of a device and period from its stored analysis run."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from monitor.errors import InputError, ReportError
from monitor.service.ports import Clock, UnitOfWorkFactory

__all__ = ["REPORT_FORMATS", "ReportFiles", "build_context", "write_report"]

REPORT_FORMATS = ("html", "json")
HtmlRenderer = Callable[[dict[str, Any]], str]


@dataclass(frozen=True)
class ReportFiles:
    """The files written for one report, with their SHA-256."""

    report_id: str
    run_id: str
    files: dict[str, Path]
    sha256: dict[str, str]


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def build_context(document: dict[str, Any], tickets: list[dict[str, Any]], *, report_id: str,
                  generated_at: datetime, audit_head: str) -> dict[str, Any]:
    """The template context: the analysis document plus grouped tables."""
    results = document["results"]
    overall: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        if r["level"] == 0:
            overall.setdefault(r["model_version"], []).append(r)
    stratified: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        if r["level"] > 0 and r["claim"] is not None:
            stratified.setdefault(r["metric"], []).append(r)
    finding_tickets = {f["ticket_id"] for f in document["findings"]}
    return {
        "doc": document,
        "report_id": report_id,
        "generated_at": _jsonable(generated_at),
        "audit_head": audit_head,
        "confidence_pct": f"{round(document['rules']['confidence'] * 100)}%",
        "overall": sorted(overall.items()),
        "stratified": list(stratified.items()),
        "tickets": [_jsonable(t) for t in tickets if t["ticket_id"] in finding_tickets],
    }


def write_report(device_id: str, period: str, *, formats: list[str], out_dir: Path, uow: UnitOfWorkFactory,
                 clock: Clock, actor: str, render_html: HtmlRenderer) -> ReportFiles:
    """Write the report of the newest analysis run of ``device_id`` for ``period`` into ``out_dir``."""
    unknown = [f for f in formats if f not in REPORT_FORMATS]
    if unknown or not formats:
        raise InputError(f"unknown report format(s) {', '.join(unknown) or '(none)'}: use {', '.join(REPORT_FORMATS)}")
    with uow() as unit:
        run = unit.results.latest_run(device_id, period)
        document = run["document"]
        tickets = unit.tickets.list(device_id=device_id)
        generated = clock()
        report_id = str(uuid.uuid4())
        context = build_context(document, tickets, report_id=report_id, generated_at=generated,
                                audit_head=unit.audit.head())
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ReportError(f"cannot create output folder {out_dir}: {exc.strerror}") from exc
        stem = f"{device_id}_{period}_report"
        contents = {
            "html": lambda: render_html(context),
            "json": lambda: json.dumps({"schema": "samd-monitor/report", "schema_version": 1,
                                        "report_id": report_id, "generated_at": context["generated_at"],
                                        "audit_head": context["audit_head"], "analysis": document,
                                        "tickets": context["tickets"]},
                                       indent=2, ensure_ascii=False, sort_keys=True) + "\n",
        }
        files, digests = {}, {}
        for fmt in formats:
            text = contents[fmt]()
            path = out_dir / f"{stem}.{fmt}"
            data = text.encode("utf-8")
            try:
                tmp = path.with_suffix(path.suffix + ".tmp")
                tmp.write_bytes(data)
                tmp.replace(path)
            except OSError as exc:
                raise ReportError(f"cannot write {path}: {exc.strerror}") from exc
            files[fmt], digests[fmt] = path, hashlib.sha256(data).hexdigest()
            unit.reports.add(report_id=report_id, run_id=run["run_id"], device_id=device_id, period=period,
                             format=fmt, path=str(path), sha256=digests[fmt], at=generated, actor=actor)
        unit.audit.append(at=generated, actor=actor, action="report.generate", entity="report", entity_id=report_id,
                          details={"run_id": run["run_id"], "device_id": device_id, "period": period,
                                   "files": {k: {"path": str(v), "sha256": digests[k]} for k, v in files.items()}})
    return ReportFiles(report_id, run["run_id"], files, digests)
