"""PDF rendering: the editions of a report are laid out in parallel processes and give exactly the bytes
of the in-process rendering, in order; a page WeasyPrint cannot lay out is a ReportError."""

from __future__ import annotations

import pytest

from monitor.adapters.rendering import pdf as rendering

PAGES = [f"<html><head><meta name='dcterms.created' content='2026-01-01T00:00:00Z'></head><body><h1>{title}</h1>"
         f"<table>{''.join(f'<tr><td>{i}</td><td>{title} {i}</td></tr>' for i in range(40))}</table></body></html>"
         for title in ("Report", "报告", "Third")]


def test_parallel_pdfs_equal_the_in_process_ones_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rendering.os, "cpu_count", lambda: 2)
    parallel = rendering.htmls_to_pdfs(PAGES)
    assert parallel == [rendering.html_to_pdf(page) for page in PAGES]
    assert all(pdf.startswith(b"%PDF") for pdf in parallel)


def test_one_page_or_one_core_renders_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_pool(*args: object, **kwargs: object) -> None:
        raise AssertionError("no process pool for a single document")

    monkeypatch.setattr(rendering, "ProcessPoolExecutor", no_pool)
    assert rendering.htmls_to_pdfs(PAGES[:1]) == [rendering.html_to_pdf(PAGES[0])]
    monkeypatch.setattr(rendering.os, "cpu_count", lambda: 1)
    assert len(rendering.htmls_to_pdfs(PAGES[:2])) == 2
