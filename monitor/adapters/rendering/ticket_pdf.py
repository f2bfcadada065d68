"""The CAPA record of one ticket as HTML and PDF (reports/ticket.html.j2, catalogs reports/i18n/ticket.<language>.yaml).

The page lists the 12-item checklist, every section of the record field by field (dotted paths, so the JSON
export and the page name fields alike), and the signatures with the record SHA-256 they are bound to. The PDF goes
through :func:`monitor.adapters.rendering.pdf.html_to_pdf` (WeasyPrint, Noto Sans CJK SC for Chinese, as the
report). Its creation date is the record's newest time, never the wall clock: one record gives one PDF.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from typing import Any

import yaml
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from monitor.adapters.rendering.pdf import html_to_pdf
from monitor.domain.capa import CHECKLIST, CapaRecord, checklist, record_sha256
from monitor.errors import ReportError
from monitor.resources import resource_path

__all__ = ["LANGUAGES", "ticket_html", "ticket_pdf"]

LANGUAGES = ("en", "zh-CN")
_SECTIONS = ("identification", "trigger", "risk", "reportability", "containment", "root_cause", "modification",
             "data_management", "acceptance", "impact", "verification", "approvals")


def _flatten(tree: Any, prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in (tree or {}).items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat |= _flatten(value, name + ".")
        else:
            flat[name] = str(value)
    return flat


@lru_cache(maxsize=4)
def _catalog(language: str) -> dict[str, str]:
    if language not in LANGUAGES:
        raise ReportError(f"unknown ticket language {language!r}: use {', '.join(LANGUAGES)}")
    path = resource_path("reports", "i18n") / f"ticket.{language}.yaml"
    try:
        return _flatten(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError) as exc:
        raise ReportError(f"cannot read message catalog {path}: {exc}") from exc


def _iso(value: Any) -> str:
    return value.isoformat().replace("+00:00", "Z") if isinstance(value, datetime) else str(value)


def _rows(value: Any, prefix: str) -> list[tuple[str, Any]]:
    """``(dotted field, printable value)`` of a section; lists of objects one row per entry and field."""
    if isinstance(value, dict):
        rows: list[tuple[str, Any]] = []
        for key, sub in value.items():
            rows += _rows(sub, f"{prefix}.{key}")
        return rows
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return [row for i, v in enumerate(value) for row in _rows(v, f"{prefix}[{i}]")]
    if isinstance(value, list):
        return [(prefix, ", ".join(str(v) for v in value))]
    if isinstance(value, float):
        return [(prefix, f"{value:.6g}")]
    if isinstance(value, bool) or value is None:
        return [(prefix, None if value is None else str(value).lower())]
    return [(prefix, value)]


def _as_of(record: CapaRecord) -> str:
    """The record's newest time (signature, freezing, verification, triage, detection)."""
    times = [record.trigger.detected_at] + [s.signed_at for s in record.approvals.signatures] + [
        t for t in (record.acceptance.frozen_at, record.risk.triaged_at,
                    record.verification.result.at if record.verification.result else None) if t is not None]
    times += [a.assessed_at for a in record.reportability.assessments]
    return _iso(max(times))


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(loader=FileSystemLoader(str(resource_path("reports"))), autoescape=select_autoescape(["j2"]),
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def ticket_html(record: CapaRecord, *, status: str, language: str = "en") -> str:
    """The record's page as HTML in ``language``."""
    messages = _catalog(language)

    def t(key: str) -> str:
        return messages.get(key, key)

    document = json.loads(record.model_dump_json())
    numbers = {title: n for n, title, _ in CHECKLIST}
    sections = [{"item": i + 1, "rows": _rows(document[name], name)} for i, name in enumerate(_SECTIONS)]
    assert len(numbers) == len(sections)
    return _environment().get_template("ticket.html.j2").render(
        record=record, status=status, language=language, t=t, iso=_iso, digest=record_sha256(record),
        checklist=checklist(record), sections=sections, as_of=_as_of(record))


def ticket_pdf(record: CapaRecord, *, status: str, language: str = "en") -> bytes:
    """The record's page as PDF."""
    return html_to_pdf(ticket_html(record, status=status, language=language))
