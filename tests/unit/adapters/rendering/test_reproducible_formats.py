"""Every format of a report revision is reproducible byte for byte (docs/reports.md, "Determinism").

The same content and identity rendered twice give the same JSON, CSV, XLSX, HTML, PDF and Evidently files:
no wall-clock time (the XLSX's document properties and ZIP entry dates are the content's ``generated_at``;
the PDF's dates come from the HTML's ``dcterms`` meta tags), no random identifiers, no order that depends on the
process. The content is the demo's (``data/report_content_demo.json``, as in test_zh_edition.py); the two PDFs
are laid out in two processes, as the service does.
"""

from __future__ import annotations

import hashlib
import time

import numpy as np
import pandas as pd
import pytest

from monitor.adapters.rendering.html import render_html, report_context
from monitor.adapters.rendering.pdf import htmls_to_pdfs
from monitor.adapters.rendering.report import ReportRenderer
from monitor.service.report import content_json
from monitor.service.evidently_report import DriftSample
from tests.unit.adapters.rendering.test_zh_edition import IDENTITY, demo_content, zh_page


def _drift_sample() -> DriftSample:
    rng = np.random.default_rng(7)
    reference = pd.DataFrame({"site_id": rng.choice(["a", "b"], 200), "age": rng.integers(40, 90, 200).astype(float)})
    current = pd.DataFrame({"site_id": rng.choice(["a", "b"], 150), "age": rng.integers(45, 90, 150).astype(float)})
    kinds = {"site_id": "categorical", "age": "numeric"}
    ours = {n: {"feature": n, "kind": k, "method": "wasserstein" if k == "numeric" else "jensenshannon", "value": 0.05,
                "threshold": 0.1, "drifted": False, "reason": "distance_below_threshold", "reference_n": 200,
                "current_n": 150} for n, k in kinds.items()}
    side = {"start_utc": None, "end_utc": None, "population": 0, "rows": 0, "by_site": []}
    return DriftSample(device_id="lung-nodule-ct", period="2025Q3", run_id="run-1", kinds=kinds,
                       methods={n: r["method"] for n, r in ours.items()}, thresholds=dict.fromkeys(kinds, 0.1),
                       reference=reference, current=current, ours=ours,
                       sample={"max_rows_per_side": 5000, "seed": 1, "stratified_by": "site_id",
                               "allocation": "proportional", "data_cutoff": "2026-01-31T00:00:00Z",
                               "reference_periods": ["2025Q2"], "current": side, "reference": side})


def _files(renderer: ReportRenderer, page: str) -> dict[str, bytes]:
    """Every file of a revision but the PDF, as the service writes them (monitor.service.report.write_report)."""
    content = demo_content()
    files = {"json": content_json(content).encode("utf-8"), "html:zh-CN": page.encode("utf-8"),
             "xlsx": renderer.xlsx(content, pd.Timestamp(content["generated_at"]).to_pydatetime())}
    files |= {f"csv:{name}": text.encode("utf-8") for name, text in renderer.csv(content).items()}
    if pytest.importorskip("evidently"):
        page_, text = renderer.evidently(_drift_sample(), IDENTITY)
        files |= {"evidently:html": page_.encode("utf-8"), "evidently:json": text.encode("utf-8")}
    return files


def test_the_same_revision_renders_to_the_same_bytes_in_every_format() -> None:
    renderer = ReportRenderer()
    first = _files(renderer, zh_page())
    time.sleep(1.1)  # a wall-clock time anywhere (seconds in ZIP and PDF dates) would now differ
    second = _files(renderer, render_html(report_context(demo_content(), IDENTITY, "zh-CN")))
    assert set(first) == set(second) and len([k for k in first if k.startswith("csv:")]) == 6
    for key in first:
        assert hashlib.sha256(first[key]).hexdigest() == hashlib.sha256(second[key]).hexdigest(), key
    pdfs = htmls_to_pdfs([first["html:zh-CN"].decode("utf-8"), second["html:zh-CN"].decode("utf-8")])
    assert pdfs[0].startswith(b"%PDF") and pdfs[0] == pdfs[1]
