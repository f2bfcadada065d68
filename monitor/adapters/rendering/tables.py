"""The report's annex tables as CSV and XLSX: stratified results, findings and studies by site.

Text cells that a spreadsheet would read as a formula (starting with ``=``, ``+``, ``-``, ``@``, a tab
or a carriage return) are prefixed with an apostrophe (OWASP, "CSV Injection"); numbers stay numbers
(numeric cells in XLSX, plain digits in CSV).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime
from typing import Any

__all__ = [
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
RESULT_COLUMNS = ("model_version", "stratum", "level", "metric", "n", "positives", "successes", "trials", "estimate",
                  "ci_low", "ci_high", "claim", "margin", "performance_goal", "p_value", "q_value", "holm_p",
                  "minimal_detectable_drop", "low_n", "status", "additional_needed")
SITE_COLUMNS = ("site_id", "predictions")
FINDING_COLUMNS = ("ticket_id", "model_version", "stratum", "metric", "successes", "trials", "estimate", "ci_low",
                   "ci_high", "claim", "performance_goal", "p_value", "q_value")


def neutralise(value: Any) -> Any:
    """``value`` with text that could start a spreadsheet formula prefixed by an apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def annex_rows(content: dict[str, Any]) -> dict[str, tuple[Sequence[str], list[list[Any]]]]:
    """The annex tables of a report content: ``{name: (columns, rows)}``, rows in document order."""
    doc = content["analysis"]
    counts = {(c["model_version"], c["stratum"]): c for c in doc["counts"]}
    results = []
    for r in doc["results"]:
        c = counts.get((r["model_version"], r["stratum"]), {"tp": 0, "fp": 0, "fn": 0, "tn": 0})
        row = r | {"n": c["tp"] + c["fp"] + c["fn"] + c["tn"], "positives": c["tp"] + c["fn"],
                   "low_n": r["status"] == "insufficient"}
        results.append([row.get(col) for col in RESULT_COLUMNS])
    findings = [[f.get(col) for col in FINDING_COLUMNS] for f in doc["findings"]]
    sites = [[s["site_id"], s["predictions"]] for s in doc.get("sites", [])]
    return {"stratified_results": (RESULT_COLUMNS, results), "findings": (FINDING_COLUMNS, findings),
            "sites": (SITE_COLUMNS, sites)}


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


def to_xlsx(tables: dict[str, tuple[Sequence[str], list[list[Any]]]], *, created: datetime) -> bytes:
    """A workbook with one sheet per table; numbers numeric, text neutralised, dates fixed to ``created``."""
    from openpyxl import Workbook
    from openpyxl.cell.cell import TYPE_STRING

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
    naive = created.replace(tzinfo=None)
    workbook.properties.created = naive
    workbook.properties.modified = naive
    workbook.properties.creator = "samd-monitor"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
