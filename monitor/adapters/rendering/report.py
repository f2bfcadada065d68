"""The report renderer wired into the application: HTML per language, PDF, CSV and XLSX annexes, and the
Evidently data-drift report (its module imports Evidently only when such a report is written)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Sequence

from monitor.adapters.rendering.evidently import render_evidently
from monitor.adapters.rendering.html import render_html, report_context
from monitor.adapters.rendering.pdf import PdfLayout, html_to_pdf
from monitor.adapters.rendering.tables import annex_rows, to_csv, to_xlsx
from monitor.service.evidently_report import DriftSample

__all__ = ["ReportRenderer"]


class ReportRenderer:
    """Implements ``monitor.service.report.ReportRenderer`` with Jinja2, WeasyPrint, openpyxl and Evidently."""

    def html(self, content: dict[str, Any], identity: dict[str, Any], language: str) -> str:
        """The report page in ``language`` (en, zh-CN or both)."""
        return render_html(report_context(content, identity, language))

    def pdf(self, html: str) -> bytes:
        """The A4 PDF of a rendered report page."""
        return html_to_pdf(html)

    def pdfs(self, htmls: Sequence[str]) -> PdfLayout:
        """The PDF of each rendered page, laid out in parallel in the background (:class:`PdfLayout`)."""
        return PdfLayout(htmls)

    def csv(self, content: dict[str, Any]) -> dict[str, str]:
        """One CSV text per annex table (stratified results, findings)."""
        return {name: to_csv(columns, rows) for name, (columns, rows) in annex_rows(content).items()}

    def xlsx(self, content: dict[str, Any], created: datetime) -> bytes:
        """The annex tables as one workbook."""
        return to_xlsx(annex_rows(content), created=created)

    def evidently(self, sample: DriftSample, identity: dict[str, Any]) -> tuple[str, str]:
        """The Evidently data-drift report of ``sample``: its HTML page and its JSON text."""
        return render_evidently(sample, identity)
