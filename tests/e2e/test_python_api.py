"""The Python API (docs/python-api.md): the documented notebook example runs and flags the planted drop; the
result's table, findings, HTML and storage; errors from the one tree, never echoing a value; a cheap import."""

from __future__ import annotations

import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sqlalchemy import create_engine, func, select

import monitor
from monitor.adapters.db.tables import analysis_runs, ground_truth, ingestion_batches, predictions

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "python-api.md"
PATIENT_KEY = "test-patient-key-0123456789abcdef"
SECRET = "SECRET-VALUE-4711"
DEVICE = "ct-test"
CONFIG = {
    "device": {"id": DEVICE, "name": "Test CT triage", "manufacturer": "Example Co.", "intended_use": "Testing."},
    "operating_threshold": 0.5,
    "strata": {"attributes": [{"name": "age_band", "column": "age", "bins": [75]},
                              {"name": "sex", "values": ["F", "M"]}],
               "intersections": "none", "confirmatory": ["age_band"]},
    "claims": {"sensitivity": {"value": 0.90, "margin": 0.02}},
    "monitoring": {"period": "quarter", "timezone": "UTC"},
}


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


def test_documented_example_flags_the_planted_drop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MONITOR_PATIENT_ID_KEY", PATIENT_KEY)
    _migrated(tmp_path / "notebook.sqlite")  # the documented shell commands: `db upgrade`, its first user li.na
    text = DOC.read_text(encoding="utf-8")
    blocks = _python_blocks(text)
    assert len(blocks) >= 5
    namespace: dict[str, object] = {"__name__": "docs_python_api"}
    for number, block in enumerate(blocks, start=1):
        exec(compile(block, f"docs/python-api.md block {number}", "exec"), namespace)  # noqa: S102
    printed = capsys.readouterr().out
    result = namespace["result"]
    assert isinstance(result, monitor.AnalysisResult) and result.stored_in is None
    flagged = {(f.metric, f.stratum) for f in result.flagged}
    assert ("sensitivity", "age_band=>=75") in flagged
    assert not any(">=75" not in stratum for _, stratum in flagged)  # nothing flagged outside the planted stratum
    assert "sensitivity below claim in age_band=>=75 (model 2.1.0)" in printed
    stored = namespace["stored"]
    assert isinstance(stored, monitor.AnalysisResult)
    assert [str(f) for f in stored.flagged] == [str(f) for f in result.flagged]
    assert (tmp_path / "preview.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert "missing required column(s): score" in printed
    shown = [line for block in re.findall(r"^```text\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)
             for line in block.splitlines() if line.startswith("sensitivity below claim")]
    assert shown == [line for line in printed.splitlines() if line.startswith("sensitivity below claim")]


# --- the result ----------------------------------------------------------------------------------------

def _frames(n: int = 1500, seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    age = rng.integers(40, 90, n)
    positive = rng.random(n) < 0.5
    called = np.where(positive, rng.random(n) < np.where(age >= 75, 0.70, 0.95), rng.random(n) > 0.9)
    at = pd.Timestamp("2025-10-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 90 * 86400, n), unit="s")
    ids = [f"p{i}" for i in range(n)]
    preds = pd.DataFrame({"prediction_id": ids, "model_version": "1.0", "site_id": "s1", "predicted_at": at,
                          "score": np.where(called, 0.8, 0.2), "predicted_label": called.astype(int),
                          "patient_id": [f"patient-{i}" for i in range(n)], "age": age,
                          "sex": rng.choice(["F", "M"], n)})
    truth = pd.DataFrame({"prediction_id": ids, "label": positive.astype(int),
                          "confirmed_at": at + pd.Timedelta(days=3), "source": "histopathology"})
    return preds, truth


@pytest.fixture(scope="module")
def analysed() -> tuple[monitor.AnalysisResult, list[str]]:
    """One in-memory analysis: predictions as a DataFrame with two bad rows, ground truth as an Arrow table."""
    preds, truth = _frames()
    preds["score"] = preds["score"].astype(object)
    preds.loc[[4, 9], "score"] = SECRET
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = monitor.analyze(CONFIG, preds, pa.Table.from_pandas(truth))
    return result, [str(w.message) for w in caught]


def test_findings_are_typed_and_the_planted_stratum_is_flagged(analysed) -> None:  # type: ignore[no-untyped-def]
    result, _ = analysed
    assert result.period == "2025Q4" and result.device_id == DEVICE  # the period of the latest prediction
    [finding] = result.flagged
    assert isinstance(finding, monitor.Finding)
    assert (finding.kind, finding.metric, finding.stratum, finding.model_version) == \
        ("performance", "sensitivity", "age_band=>=75", "1.0")
    assert finding.ci_high is not None and finding.ci_high < 0.88 and finding.claim == 0.90
    assert finding.evidence["successes"] <= finding.trials  # type: ignore[operator]
    assert result.summary["flagged"] == 1 == len(result.document["findings"])


def test_to_frame_has_one_row_per_stratum_and_metric(analysed) -> None:  # type: ignore[no-untyped-def]
    result, _ = analysed
    frame = result.to_frame()
    assert list(frame.columns[:5]) == ["model_version", "stratum", "level", "metric", "status"]
    assert len(frame) == len(result.document["results"])
    assert set(frame["stratum"]) == {"overall", "age_band=<75", "age_band=>=75", "sex=F", "sex=M"}
    row = frame.set_index(["stratum", "metric"]).loc[("age_band=>=75", "sensitivity")]
    assert row["status"] == "flagged"
    overall = frame.set_index(["stratum", "metric"]).loc[("overall", "sensitivity")]
    assert overall["trials"] == int(result.document["completeness"]["total"]["positives"])


def test_bad_rows_are_reported_as_the_service_reports_them(analysed) -> None:  # type: ignore[no-untyped-def]
    result, messages = analysed
    assert list(result.rejections["row_number"]) == [5, 10]  # 1-based rows of the frame
    assert set(result.rejections["code"]) == {"invalid_score"}
    assert list(result.rejections["prediction_id"]) == ["p4", "p9"]
    assert [b["rejected"] for b in result.batches] == [2, 0]
    assert result.document["completeness"]["total"]["predictions"] == 1498
    assert any("2 of 1,500 rows rejected: invalid_score (2)" in m for m in messages)
    assert SECRET not in " ".join(messages) + result.rejections.to_string()


def test_repr_html_summarises_and_to_html_is_the_report(analysed) -> None:  # type: ignore[no-untyped-def]
    result, _ = analysed
    summary = result._repr_html_()
    assert "age_band=&gt;=75" in summary and "1 flagged" in summary and "not stored" in summary
    assert "2 rejected rows" in summary
    page = result.to_html()
    assert page.startswith("<!DOCTYPE html>") and "preview (not a report revision)" in page
    assert result.run_id in page


def test_missing_column_is_an_input_error_without_values() -> None:
    preds, truth = _frames(n=50)
    preds.loc[0, "patient_id"] = SECRET
    with pytest.raises(monitor.InputError) as caught:
        monitor.analyze(CONFIG, preds.drop(columns=["predicted_at"]), truth)
    assert isinstance(caught.value, monitor.MonitorError)
    assert "missing required column(s): predicted_at" in str(caught.value)
    assert SECRET not in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(monitor.InputError, match="expected a pandas DataFrame or a pyarrow Table, got dict"):
        monitor.analyze(CONFIG, {"prediction_id": [SECRET]}, truth)


def test_configuration_errors_name_every_field() -> None:
    bad = {**CONFIG, "operating_threshold": 1.5, "claims": {}}
    with pytest.raises(monitor.ConfigError) as caught:
        monitor.load_config(bad)
    message = str(caught.value)
    assert message.startswith("device configuration (dict): invalid device configuration:")
    assert "operating_threshold" in message and "claims" in message
    assert monitor.load_config(ROOT / "examples" / "lung-nodule-ct.yaml").device.id == "lung-nodule-ct"
    yaml_text = (ROOT / "examples" / "lung-nodule-ct.yaml").read_text(encoding="utf-8")
    assert monitor.load_config(yaml_text) == monitor.load_config(str(ROOT / "examples" / "lung-nodule-ct.yaml"))


# --- storing -------------------------------------------------------------------------------------------

def test_save_stores_the_run_in_the_service_tables(analysed, empty_database_url: str,  # type: ignore[no-untyped-def]
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    result, _ = analysed
    monkeypatch.delenv("MONITOR_PATIENT_ID_KEY", raising=False)
    with pytest.raises(monitor.ConfigError, match="MONITOR_PATIENT_ID_KEY"):
        result.save(empty_database_url, migrate=True)
    monkeypatch.setenv("MONITOR_PATIENT_ID_KEY", PATIENT_KEY)
    with pytest.raises(monitor.InputError, match="MONITOR_USER"):  # no named user of that database: nothing stored
        result.save(empty_database_url, migrate=True)
    _add_user(empty_database_url)
    with pytest.raises(monitor.InputError, match="'nobody' is not a user"):
        result.save(empty_database_url, actor="nobody")
    monkeypatch.setenv("MONITOR_USER", "li.na")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stored = result.save(empty_database_url)
    assert stored.stored_in is not None and stored.run_id != result.run_id and stored.document["actor"] == "li.na"
    assert [str(f) for f in stored.findings] == [str(f) for f in result.findings]
    assert stored.to_frame()[["stratum", "metric", "trials", "estimate", "status"]].equals(
        result.to_frame()[["stratum", "metric", "trials", "estimate", "status"]])
    engine = create_engine(empty_database_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(predictions)).scalar_one() == 1498
            assert conn.execute(select(func.count()).select_from(ground_truth)).scalar_one() == 1500
            assert conn.execute(select(func.count()).select_from(ingestion_batches)).scalar_one() == 2
            assert conn.execute(select(analysis_runs.c.run_id)).scalars().all() == [stored.run_id]
            hashed = conn.execute(select(predictions.c.patient_hash)).scalars().first()
    finally:
        engine.dispose()
    assert hashed and not str(hashed).startswith("patient-")
    loaded = monitor.load_analysis(DEVICE, "2025Q4", database_url=empty_database_url)
    assert loaded.run_id == stored.run_id and loaded.document == stored.document
    with pytest.raises(monitor.MonitorError, match="stored already"):
        loaded.save(empty_database_url)


def test_save_refuses_an_unmigrated_database(analysed, tmp_path: Path,  # type: ignore[no-untyped-def]
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    result, _ = analysed
    monkeypatch.setenv("MONITOR_PATIENT_ID_KEY", PATIENT_KEY)
    missing = tmp_path / "none.sqlite"
    with pytest.raises(monitor.StorageError, match="no such database file"):
        result.save(f"sqlite:///{missing.as_posix()}")
    assert not missing.exists()
    with pytest.raises(monitor.NotFoundError):
        monitor.analyze_stored("no-such-device", "2025Q4", database_url=_migrated(tmp_path / "m.sqlite"),
                               actor="li.na")


def _migrated(path: Path) -> str:
    """A migrated SQLite database whose first user is li.na."""
    from monitor.adapters.db.engine import make_engine, upgrade

    url = f"sqlite:///{path.as_posix()}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    _add_user(url)
    return url


def _add_user(url: str, user_id: str = "li.na") -> None:
    from datetime import datetime, timezone

    from monitor.adapters.db.engine import make_engine
    from monitor.adapters.db.unit_of_work import unit_of_work_factory
    from monitor.service.access import create_user

    engine = make_engine(url)
    try:
        create_user(unit_of_work_factory(engine), user_id=user_id, display_name="Li Na", role="qa", password=None,
                    clock=lambda: datetime.now(timezone.utc), actor="pytest")
    finally:
        engine.dispose()


# --- the import ----------------------------------------------------------------------------------------

def test_import_is_cheap_and_the_api_is_curated() -> None:
    code = ("import sys, monitor; heavy = [m for m in ('pandas', 'numpy', 'sqlalchemy', 'scipy', 'pyarrow') "
            "if m in sys.modules]; print(monitor.__version__, heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.strip() == f"{monitor.__version__} []"
    assert set(monitor.__all__) >= {"__version__", "Monitor", "analyze", "analyze_stored", "load_analysis",
                                    "load_config", "AnalysisResult", "Finding", "DeviceConfig", "MonitorError"}
    for name in monitor.__all__:
        assert getattr(monitor, name) is not None
    assert set(monitor.__all__) <= set(dir(monitor))
    with pytest.raises(AttributeError):
        monitor.no_such_name  # noqa: B018


def test_frames_of_no_valid_row_and_naive_timestamps_are_refused_or_rejected() -> None:
    preds, truth = _frames(n=60)
    naive = preds.assign(predicted_at=preds["predicted_at"].dt.tz_localize(None))
    with pytest.raises(monitor.InputError, match=r"none of the 60 rows was accepted: .*predicted_at"):
        monitor.analyze(CONFIG, naive, truth)
    with pytest.raises(monitor.InputError, match="no rows"):
        monitor.analyze(CONFIG, preds.iloc[0:0], truth)


def test_type_stub_declares_every_public_name() -> None:
    stub = (ROOT / "monitor" / "__init__.pyi").read_text(encoding="utf-8")
    declared = set(re.findall(r"import (\w+) as \1$", stub, flags=re.MULTILINE)) | {"__version__"}
    assert declared == set(monitor.__all__)
