"""HTML to PDF with WeasyPrint (A4, fonts found through fontconfig and embedded as subsets).

The creation and modification dates come from the HTML's ``dcterms.created``/``dcterms.modified``
meta tags (the analysis run's time), never from the wall clock, so one HTML gives one PDF text.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Sequence

from monitor.errors import ReportError

__all__ = ["PdfLayout", "html_to_pdf", "htmls_to_pdfs"]


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


class PdfLayout:
    """PDFs being laid out, one process per core, while the caller goes on; :meth:`result` waits for them.

    WeasyPrint lays out one document on one core (5-10 s for a 30-page report); the editions of a report
    (English, Chinese) are independent, so they are laid out side by side, and the caller does its other
    work (the Evidently page, the annexes) meanwhile. Child processes are *spawned* (a fork of a
    multi-threaded server could inherit a held lock) and only render: each PDF is the very bytes
    :func:`html_to_pdf` gives in process. With one page or one core the pages are laid out in process,
    when :meth:`result` is called. Use as a context manager: leaving it stops what was not collected.
    """

    def __init__(self, htmls: Sequence[str]) -> None:
        self._htmls = list(htmls)
        workers = min(len(self._htmls), os.cpu_count() or 1)
        self._pool: ProcessPoolExecutor | None = None
        self._futures: list[Future[bytes]] = []
        if workers >= 2:
            self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
            self._futures = [self._pool.submit(html_to_pdf, html) for html in self._htmls]

    def result(self) -> list[bytes]:
        """The PDF of each page, in order (waits for the layout)."""
        if self._pool is None:
            return [html_to_pdf(html) for html in self._htmls]
        return [future.result() for future in self._futures]

    def __enter__(self) -> PdfLayout:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


def htmls_to_pdfs(htmls: Sequence[str]) -> list[bytes]:
    """The PDF of each of ``htmls``, in order, laid out in parallel (:class:`PdfLayout`)."""
    with PdfLayout(htmls) as layout:
        return layout.result()
