"""The dashboard's drift page offers the period's Evidently report once one is written (AppTest, SQLite).

The seeded deployment of :mod:`unit.dashboards.dashboard_seed` (two analysed quarters) gets a report of
format ``evidently`` for its last quarter; the drift page then shows download buttons for the Evidently
HTML page and its JSON, serving the recorded files. Before, it says how to write one. (The sampling
queries run on both engines in tests/integration/test_evidently_report.py.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
from streamlit.testing.v1 import AppTest

from dashboards import data
from monitor.service.report import write_report
from unit.dashboards.dashboard_seed import APP_FILE, DEVICE, PASSWORD, literal, seed_dashboard_database

pytest.importorskip("evidently")


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    work_dir = tmp_path_factory.mktemp("dashboard-evidently")
    seeded_db = seed_dashboard_database(f"sqlite:///{(work_dir / 'monitor.sqlite').as_posix()}", work_dir)
    seeded_db["work_dir"] = work_dir
    yield seeded_db
    seeded_db["app"].engine.dispose()


def _drift_page(database_url: str, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("MONITOR_DATABASE_URL", database_url)
    at = AppTest.from_file(str(APP_FILE), default_timeout=60)
    at.run()
    at.text_input(key="login_user").input("audit1")
    at.text_input(key="login_password").input(PASSWORD)
    at.button[0].click().run()
    at.radio(key="page").set_value("Data drift").run()
    assert not at.exception, at.exception
    return at


def test_drift_page_links_the_evidently_report(seeded: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    at = _drift_page(seeded["database_url"], monkeypatch)
    captions = "\n".join(literal(c.value) for c in at.caption)
    assert "No Evidently report written for this period" in captions
    assert not [b for b in at.get("download_button") if b.proto.id and "drift-evidently" in b.proto.id]

    app = seeded["app"]
    files = write_report(DEVICE, "2025Q3", formats=["evidently"], out_dir=Path(seeded["work_dir"]) / "out",
                         uow=app.uow, clock=app.clock, actor="seed", renderer=app.report_renderer)
    data.report_files.clear()  # the page's file list is cached for a short time
    at = _drift_page(seeded["database_url"], monkeypatch)
    buttons = {literal(b.proto.label): b for b in at.get("download_button")}
    assert set(buttons) >= {"Evidently report (HTML)", "Evidently results (JSON)"}
    captions = "\n".join(literal(c.value) for c in at.caption)
    assert "decide" in captions and "decides nothing" in captions
    assert files.files["evidently:html"].is_file() and files.files["evidently:json"].is_file()
