"""Fixtures of the corrective-action tests: a device with 0.10 margins (so that a small synthetic scenario can
meet a ticket's data-collection target) and the emphysema grades confirmatory, model A with a planted
sensitivity drop and a recovered model B."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.synthetic import DemoScenario

ROOT = Path(__file__).resolve().parents[3]
CUTOFF = datetime(2026, 12, 31, tzinfo=timezone.utc)
SCALE = 0.03
MODEL_A = DemoScenario(seed=5, scale=SCALE, quarters=("2025Q3",), drift_quarter="2025Q3", drift_drop=0.9)
MODEL_B = DemoScenario(seed=6, scale=SCALE, model_version="2.2.0", quarters=("2025Q3",), drift_quarter=None)


@pytest.fixture
def wide_margin_app(app, tmp_path: Path):  # type: ignore[no-untyped-def]
    """``app`` with the example device re-configured to claim margins of 0.10."""
    from monitor.adapters.config_file import load_device_config
    from monitor.service.devices import register_device

    config = yaml.safe_load((ROOT / "examples" / "lung-nodule-ct.yaml").read_text(encoding="utf-8"))
    for metric in ("sensitivity", "specificity"):
        config["claims"][metric]["margin"] = 0.10
    # The emphysema grades pre-specified as confirmatory, no intersections: a family of 10 tests (Holm), so
    # that the small scenario's drop in severe emphysema is one the pre-specified rule can show.
    config["strata"]["confirmatory"] = ["emphysema_grade"]
    config["strata"]["intersections"] = "none"
    # ... and no age bands: the planted drop (age >= 75 x severe emphysema) then shows in one stratum only
    config["strata"]["attributes"] = [a for a in config["strata"]["attributes"] if a["name"] != "age_band"]
    # every label final on arrival: a single quarter has no earlier cohort to tell how many labels to expect
    config["labels"]["provisional_sources"] = []
    path = tmp_path / "device.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    register_device(load_device_config(path), uow=app.uow, clock=app.clock, actor="pytest", source=str(path))
    return app


@pytest.fixture
def load_model(wide_margin_app, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Ingest a scenario with its prediction ids prefixed (two scenarios of one quarter may coexist)."""
    from monitor.service.ingest import ingest_ground_truth, ingest_predictions
    from monitor.synthetic import generate, write_csv

    app = wide_margin_app

    def load(prefix: str) -> Any:
        """``A``: model 2.1.0 with the drop; ``B``: model 2.2.0 without it."""
        data = generate({"A": MODEL_A, "B": MODEL_B}[prefix])
        for frame in (data.predictions, data.ground_truth):
            frame["prediction_id"] = prefix + frame["prediction_id"]
        ingest_predictions(app.open_log(write_csv(data.predictions, tmp_path / f"{prefix}p.csv")), source=f"{prefix}p.csv",
                           uow=app.uow, hash_patient=app.patient_hasher(), clock=app.clock, actor="t")
        ingest_ground_truth(app.open_log(write_csv(data.ground_truth, tmp_path / f"{prefix}g.csv")),
                            source=f"{prefix}g.csv", uow=app.uow, clock=app.clock, actor="t")
        return data

    return load


@pytest.fixture
def analyse(wide_margin_app):  # type: ignore[no-untyped-def]
    """Analyse 2025Q3 of the device; return the outcome."""
    from monitor.domain.periods import Period
    from monitor.service.analyze import analyze_period

    def run() -> Any:
        return analyze_period("lung-nodule-ct", Period.parse("2025Q3"), uow=wide_margin_app.uow,
                              clock=wide_margin_app.clock, actor="analyst", cutoff=CUTOFF)

    return run


PASSWORDS = {"alice": "alice-correct-horse-1", "bob": "bob-battery-staple-2"}


@pytest.fixture
def signers(app):  # type: ignore[no-untyped-def]
    """Two QA users with passwords; returns ``authenticate(user_id, password)``."""
    from functools import partial

    from monitor.service.access import create_user, verify_password

    for user_id, name in (("alice", "Alice Zhang 张爱丽"), ("bob", "Bob Li 李博")):
        create_user(app.uow, user_id=user_id, display_name=name, role="qa", password=PASSWORDS[user_id],
                    clock=app.clock, actor="admin")
    return partial(verify_password, app.uow, clock=app.clock)


@pytest.fixture
def make_revision(app, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Record a report revision of lung-nodule-ct 2025Q3 with JSON content and HTML in both languages (as the
    report writer does), on a stored analysis run; returns its report id."""
    import hashlib
    import json
    import uuid

    from monitor.adapters.db.tables import analysis_runs

    at = datetime(2026, 2, 1, tzinfo=timezone.utc)

    def make(text: str = "draft findings") -> str:
        report_id = str(uuid.uuid4())
        folder = tmp_path / "reports" / report_id
        folder.mkdir(parents=True)
        content = json.dumps({"period": "2025Q3", "text": text}, sort_keys=True).encode()
        files = {("json", None): (folder / "r.json", content),
                 ("html", "en"): (folder / "r.en.html", f"<p>{text}</p>".encode()),
                 ("html", "zh-CN"): (folder / "r.zh-CN.html", f"<p>{text} 发现</p>".encode())}
        with app.uow() as unit:
            if not unit.connection.execute(analysis_runs.select().where(analysis_runs.c.run_id == "run-q3")).first():
                unit.connection.execute(analysis_runs.insert().values(
                    run_id="run-q3", device_id="lung-nodule-ct", period="2025Q3", period_start=at, period_end=at,
                    data_cutoff=at, created_at=at, software_version="0.test", config_hash="c" * 64,
                    input_fingerprint="f" * 64, document={}, actor="analyst"))
            for (fmt, language), (path, data) in files.items():
                path.write_bytes(data)
                unit.reports.add(report_id=report_id, run_id="run-q3", device_id="lung-nodule-ct", period="2025Q3",
                                 format=fmt, path=str(path), sha256=hashlib.sha256(data).hexdigest(), at=at,
                                 actor="writer", language=language)
            unit.reports.add_revision(
                report_id=report_id, device_id="lung-nodule-ct", period="2025Q3", run_id="run-q3",
                revision=unit.reports.next_revision("lung-nodule-ct", "2025Q3"), languages="en,zh-CN",
                content_sha256=hashlib.sha256(content).hexdigest(), audit_head=unit.audit.head(), at=at,
                actor="writer")
        return report_id

    return make
