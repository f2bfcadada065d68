"""The report's annex tables as CSV and XLSX: stratified results with the decision rule's fields, findings,
studies by site, the decision families, the dated control-chart alarms and the data-drift comparisons.

Text cells that a spreadsheet would read as a formula (starting with ``=``, ``+``, ``-``, ``@``, a tab
or a carriage return) are prefixed with an apostrophe (OWASP, "CSV Injection"); numbers stay numbers
(numeric cells in XLSX, plain digits in CSV).

Both are reproducible byte for byte (docs/reports.md, "Determinism"): the workbook's only times (its
document properties ``dcterms:created``/``dcterms:modified`` and the date of every ZIP entry) are the
content's ``generated_at``, never the wall clock that openpyxl and :mod:`zipfile` would otherwise write.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from monitor.adapters.rendering.normalise import (
    OUTCOMES,
    alarm_chart,
    decision_families,
    drift_comparisons,
    result_row,
)

__all__ = [
    "ALARM_COLUMNS",
    "DRIFT_COLUMNS",
    "FAMILY_COLUMNS",
    "FINDING_COLUMNS",
    "FORMULA_PREFIXES",
    "RESULT_COLUMNS",
    "SITE_COLUMNS",
    "annex_rows",
    "neutralise",
    "to_csv",
    "to_xlsx",
]

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
RESULT_COLUMNS = ("model_version", "stratum", "level", "metric", "family", "family_size", "family_level", "n",
                  "positives", "successes", "trials", "effective_successes", "effective_trials", "design_effect",
                  "basis", "expected_share", "provisional", "estimate", "ci_low", "ci_high", "claim", "margin",
                  "performance_goal", "p_value", "log10_p_value", "p_shortfall", "log10_p_shortfall", "q_value",
                  "log10_q_value", "p_conformity", "log10_p_conformity", "q_conformity", "log10_q_conformity",
                  "minimal_detectable_drop", "low_n", "status", "additional_needed")
#: Columns only a document of the earlier rule carries; added to the results table when it has them.
LEGACY_RESULT_COLUMNS = ("holm_p",)
SITE_COLUMNS = ("site_id", "predictions")
FINDING_COLUMNS = ("ticket_id", "model_version", "stratum", "metric", "family", "family_size", "family_level",
                   "provisional", "expected_share", "successes", "trials", "estimate", "ci_low", "ci_high", "claim",
                   "performance_goal", "p_value", "p_shortfall", "q_value", "log10_q_value",
                   "minimal_detectable_drop")
FAMILY_COLUMNS = ("model_version", "family", "method", "level", "size", "flagged", "conforming", "inconclusive",
                  "insufficient", "provisional")
ALARM_COLUMNS = ("model_version", "stratum", "metric", "known_on", "known_at_utc", "case_index", "case_in_period",
                 "statistic", "h", "ticket_id")
DRIFT_COLUMNS = ("reference", "baseline", "reference_periods", "feature", "kind", "method", "value", "threshold",
                 "effect_size", "effect_floor", "drifted", "reason", "reference_n", "current_n")


def neutralise(value: Any) -> Any:
    """``value`` with text that could start a spreadsheet formula prefixed by an apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _cell(value: Any) -> Any:
    """A list (a result's ``basis``, a window's periods) as one ``;``-separated text cell."""
    return ";".join(str(v) for v in value) if isinstance(value, (list, tuple)) else value


def _alarm_rows(document: dict[str, Any]) -> list[list[Any]]:
    """One row per dated alarm of the period (an earlier document's undated first alarm: its position)."""
    rows = []
    for chart in map(alarm_chart, document.get("sequential_alarms") or []):
        head = [chart["model_version"], chart["stratum"], chart["metric"]]
        records = chart["alarms"] or [{"case_in_period": chart["legacy_first_case"]}]
        for a in records:
            rows.append(head + [a.get("known_on"), a.get("known_at_utc"), a.get("case_index"), a.get("case_in_period"),
                                a.get("statistic", chart.get("statistic")), chart.get("h"), chart["ticket_id"]])
    return rows


def annex_rows(content: dict[str, Any]) -> dict[str, tuple[Sequence[str], list[list[Any]]]]:
    """The annex tables of a report content: ``{name: (columns, rows)}``, rows in document order.

    ``stratified_results`` (every result with the decision fields), ``findings``, ``sites``,
    ``decision_families`` (per model version and family: method, level, size and the count of each
    outcome), ``alarms`` (one row per dated control-chart alarm) and ``data_drift`` (one row per
    comparison and input). A document of the earlier rule gives empty decision fields and its
    ``holm_p`` as a further column.
    """
    doc = content["analysis"]
    counts = {(c["model_version"], c["stratum"]): c for c in doc["counts"]}
    legacy = [c for c in LEGACY_RESULT_COLUMNS if any(r.get(c) is not None for r in doc["results"])]
    columns = (*RESULT_COLUMNS, *legacy)
    results = []
    for r in doc["results"]:
        c = counts.get((r["model_version"], r["stratum"]), {"tp": 0, "fp": 0, "fn": 0, "tn": 0})
        row = result_row(r) | {"n": c["tp"] + c["fp"] + c["fn"] + c["tn"], "positives": c["tp"] + c["fn"],
                               "low_n": r["status"] == "insufficient"}
        results.append([_cell(row.get(col)) for col in columns])
    findings = [[_cell(result_row(f).get(col)) for col in FINDING_COLUMNS] for f in doc["findings"]]
    sites = [[s["site_id"], s["predictions"]] for s in doc.get("sites", [])]
    families = [[g["model_version"], g["family"], g["method"], g["level"], g["size"],
                 *[len(g["rows"].get(o, [])) for o in OUTCOMES], g["provisional"]] for g in decision_families(doc)]
    drift = [[g["reference"], g["baseline"], _cell(g["periods"]), *[_cell(d.get(c)) for c in DRIFT_COLUMNS[3:]]]
             for g in drift_comparisons(doc) for d in g["rows"]]
    return {"stratified_results": (columns, results), "findings": (FINDING_COLUMNS, findings),
            "sites": (SITE_COLUMNS, sites), "decision_families": (FAMILY_COLUMNS, families),
            "alarms": (ALARM_COLUMNS, _alarm_rows(doc)), "data_drift": (DRIFT_COLUMNS, drift)}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(neutralise(value))


def to_csv(columns: Sequence[str], rows: list[list[Any]]) -> str:
    """CSV text (RFC 4180: header first, CRLF line ends; floats in shortest round-trip form)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # RFC 4180; a CR or LF inside a cell is quoted
    writer.writerow(columns)
    writer.writerows([[_text(v) for v in row] for row in rows])
    return buffer.getvalue()


def _pinned_zip(data: bytes, when: datetime) -> bytes:
    """The ZIP archive ``data`` with every entry dated ``when`` (naive UTC) and the same permissions,
    entries in their order: openpyxl writes each entry with the wall clock (and a sheet with its temporary
    file's time)."""
    stamp = (max(when.year, 1980), when.month, when.day, when.hour, when.minute, when.second)  # ZIP dates: >= 1980
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as target:
        for info in source.infolist():
            pinned = zipfile.ZipInfo(info.filename, date_time=stamp)
            pinned.compress_type = zipfile.ZIP_DEFLATED
            pinned.external_attr = 0o600 << 16
            target.writestr(pinned, source.read(info))
    return out.getvalue()


def to_xlsx(tables: dict[str, tuple[Sequence[str], list[list[Any]]]], *, created: datetime) -> bytes:
    """A workbook with one sheet per table; numbers numeric, text neutralised, every time fixed to ``created``.

    ``created`` (the content's ``generated_at``; an aware time, or naive UTC) is the document's creation and
    modification time and the date of every entry of the archive, so the same tables give the same bytes."""
    from openpyxl import Workbook
    from openpyxl.cell.cell import TYPE_STRING
    from openpyxl.writer.excel import ExcelWriter

    workbook = Workbook()
    workbook.remove(workbook.active)
    for name, (columns, rows) in tables.items():
        sheet = workbook.create_sheet(title=name[:31])
        sheet.append(list(columns))
        for row in rows:
            sheet.append([neutralise(v) for v in row])
        for cells in sheet.iter_rows(min_row=2):
            for cell in cells:
                if isinstance(cell.value, str):
                    cell.data_type = TYPE_STRING  # never a formula, whatever the text
        sheet.freeze_panes = "A2"
    utc = created.astimezone(UTC).replace(tzinfo=None) if created.tzinfo else created  # core.xml times are UTC
    workbook.properties.created = utc
    workbook.properties.modified = utc
    workbook.properties.creator = "samd-monitor"
    buffer = io.BytesIO()
    # ExcelWriter, not Workbook.save: save_workbook stamps ``modified`` with the wall clock
    ExcelWriter(workbook, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, allowZip64=True)).save()
    return _pinned_zip(buffer.getvalue(), utc)
