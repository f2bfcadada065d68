"""HTML to PDF with WeasyPrint (A4, fonts found through fontconfig and embedded as subsets).

The creation and modification dates come from the HTML's ``dcterms.created``/``dcterms.modified``
meta tags (the analysis run's time), never from the wall clock, so one HTML gives one PDF text.
"""

from __future__ import annotations

import logging

from monitor.errors import ReportError

__all__ = ["html_to_pdf"]


def html_to_pdf(html: str) -> bytes:
    """The PDF of ``html`` (uncompressed metadata identifiers derived from the content)."""
    try:
        from weasyprint import HTML
    except (ImportError, OSError) as exc:
        raise ReportError(f"PDF output needs WeasyPrint and Pango: {exc}") from exc
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    try:
        pdf = HTML(string=html).write_pdf(uncompressed_pdf=False)
    except Exception as exc:  # WeasyPrint raises many kinds; all mean "cannot lay out this document"
        raise ReportError(f"cannot render the PDF: {exc}") from exc
    if pdf is None:
        raise ReportError("cannot render the PDF: WeasyPrint returned nothing")
    return pdf
