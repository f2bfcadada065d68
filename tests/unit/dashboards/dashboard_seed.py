"""A small seeded deployment for the dashboard tests (two analysed quarters with a flagged stratum),
as module-scoped fixtures on SQLite and PostgreSQL, and the dashboard run by AppTest on it.

The demo's planted drop (5 points) needs about 1,000 confirmed positives in the stratum to be flagged
under Benjamini-Hochberg (docs/performance.md), i.e. the demo at scale >= 0.5, which takes minutes.
Here the same stratum (age >= 75 x severe emphysema) loses 30 points at scale 0.05, so it is flagged
in seconds; everything else is the demo's pipeline (register, ingest, analyse, users). The report files
are the analysis document written in two languages and recorded in the ``reports`` table the way the
report service records them (the dashboard only lists and serves recorded files).

Test modules import the fixtures from here (not from a ``conftest.py``: a second module named
``conftest`` would shadow the root one that other tests import helpers from).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import yaml
from streamlit.testing.v1 import AppTest

from dashboards.text import WORD_JOINER
from monitor.adapters.config_file import load_device_config
from monitor.adapters.db.engine import make_engine, upgrade
from monitor.domain.periods import Period
from monitor.entrypoints.bootstrap import bootstrap
from monitor.service.access import create_user
from monitor.service.analyze import analyze_period
from monitor.service.devices import register_device
from monitor.service.ingest import ingest_ground_truth, ingest_predictions
from monitor.settings import Settings
from monitor.synthetic import DemoScenario, generate, write_csv

__all__ = ["APP_FILE", "DEVICE", "PASSWORD", "TARGET", "dashboard", "literal", "seed_dashboard_database", "seeded"]

ROOT = Path(__file__).resolve().parents[3]
APP_FILE = ROOT / "dashboards" / "app.py"
DEVICE = "lung-nodule-ct"
TARGET = "age_band=>=75 & emphysema_grade=severe"
PASSWORD = "correct horse battery"
SCENARIO = DemoScenario(seed=11, scale=0.05, quarters=("2025Q2", "2025Q3"), drift_quarter="2025Q3",
                        drift_drop=0.30)


def literal(markdown: str) -> str:
    """What the reader sees of Markdown written by :func:`dashboards.text.md`: backslash escapes
    resolved, word joiners removed."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", str(markdown)).replace(WORD_JOINER, "")


def _root_conftest() -> Any:
    """The shared test helpers (PostgreSQL databases, StepClock), loaded under their own name."""
    spec = importlib.util.spec_from_file_location("_samd_root_conftest", ROOT / "tests" / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SHARED = _root_conftest()


def _record_reports(app: Any, outcome: Any, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    stem = f"{DEVICE}_{SCENARIO.quarters[-1]}"
    files = [(f"{stem}_report.{lang}.json", "json", lang) for lang in ("en", "zh-CN")]
    files += [(f"{stem}_{table}.csv", "csv", None) for table in ("results", "findings")]  # several per format
    with app.uow() as unit:
        for name, fmt, language in files:
            path = out_dir / name
            path.write_text(json.dumps({"language": language, "analysis": outcome.document}) if fmt == "json"
                            else "stratum,metric\n", encoding="utf-8")
            unit.reports.add(report_id="seed-report", run_id=outcome.run_id, device_id=DEVICE,
                             period=SCENARIO.quarters[-1], format=fmt, path=str(path),
                             sha256=hashlib.sha256(path.read_bytes()).hexdigest(), at=app.clock(), actor="seed",
                             language=language)
            written.append(path)
    return written


def seed_dashboard_database(database_url: str, work_dir: Path) -> dict[str, Any]:
    """Migrate ``database_url``, register the example device, ingest the scenario, analyse both quarters,
    record the last quarter's report files and create users ``qa1`` (qa) and ``audit1`` (auditor)."""
    engine = make_engine(database_url)
    upgrade(engine)
    engine.dispose()
    settings = Settings(database_url=database_url, data_dir=work_dir, patient_id_key=SHARED.TEST_PATIENT_KEY)
    app = bootstrap(settings, clock=SHARED.StepClock())
    # The example device, with every label final on arrival: the two quarters are ingested at once, so no
    # earlier cohort tells how many follow-up labels to expect and they would all be provisional.
    config = yaml.safe_load(SHARED.EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    config["labels"]["provisional_sources"] = []
    device_file = work_dir / "device.yaml"
    device_file.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    register_device(load_device_config(device_file), uow=app.uow, clock=app.clock, actor="seed",
                    source=str(device_file))
    data = generate(SCENARIO)
    predictions = write_csv(data.predictions, work_dir / "p.csv")
    ingest_predictions(app.open_log(predictions), source="p.csv", uow=app.uow, hash_patient=app.patient_hasher(),
                       clock=app.clock, actor="seed")
    truth = write_csv(data.ground_truth, work_dir / "g.csv")
    ingest_ground_truth(app.open_log(truth), source="g.csv", uow=app.uow, clock=app.clock, actor="seed")
    cutoff = app.clock()  # everything ingested so far
    outcomes = [analyze_period(DEVICE, Period.parse(q), uow=app.uow, clock=app.clock, actor="seed", cutoff=cutoff)
                for q in SCENARIO.quarters]
    reports = _record_reports(app, outcomes[-1], work_dir / "reports")
    for user_id, role in (("qa1", "qa"), ("audit1", "auditor")):
        create_user(app.uow, user_id=user_id, display_name=user_id.upper(), role=role, password=PASSWORD,
                    clock=app.clock, actor="seed")
    return {"app": app, "database_url": database_url, "outcomes": outcomes, "reports": reports}


@pytest.fixture(scope="module", params=SHARED.ENGINES)
def seeded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A seeded database per engine, shared by the tests of a module (they only add tickets' history)."""
    work_dir = tmp_path_factory.mktemp("dashboard")
    if request.param == "sqlite":
        seeded_db = seed_dashboard_database(f"sqlite:///{(work_dir / 'monitor.sqlite').as_posix()}", work_dir)
        yield seeded_db
        seeded_db["app"].engine.dispose()
        return
    url, name = SHARED._create_postgres_database()
    try:
        seeded_db = seed_dashboard_database(url, work_dir)
        yield seeded_db
        seeded_db["app"].engine.dispose()
    finally:
        SHARED._drop_postgres_database(name)


@pytest.fixture
def dashboard(seeded: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Callable[..., AppTest]:
    """A function returning the dashboard run by AppTest, signed in as ``user`` when given."""
    monkeypatch.setenv("MONITOR_DATABASE_URL", seeded["database_url"])

    def start(user: str | None = None) -> AppTest:
        at = AppTest.from_file(str(APP_FILE), default_timeout=60)
        at.run()
        if user is not None:
            at.text_input(key="login_user").input(user)
            at.text_input(key="login_password").input(PASSWORD)
            at.button[0].click().run()
        return at

    return start
