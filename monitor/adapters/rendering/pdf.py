"""HTML to PDF with WeasyPrint (A4, fonts found through fontconfig and embedded as subsets).

The creation and modification dates come from the HTML's ``dcterms.created``/``dcterms.modified``
meta tags (the analysis run's time), never from the wall clock, so one HTML gives one PDF text.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Sequence

from monitor.errors import ReportError

__all__ = ["html_to_pdf", "htmls_to_pdfs"]


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


def htmls_to_pdfs(htmls: Sequence[str]) -> list[bytes]:
    """The PDF of each of ``htmls``, in order; several are laid out side by side, one process per core.

    WeasyPrint lays out one document on one core (about 5 s for a 30-page report); the editions of a
    report (English, Chinese) are independent, so they are rendered in parallel. Child processes are
    *spawned* (a fork of a multi-threaded server could inherit a held lock) and only render: each PDF is
    the very bytes :func:`html_to_pdf` gives in process.
    """
    workers = min(len(htmls), os.cpu_count() or 1)
    if workers < 2:
        return [html_to_pdf(html) for html in htmls]
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(html_to_pdf, htmls))
