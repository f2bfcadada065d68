"""The command line as a user meets it: help everywhere, one-line errors, the whole flow, on both engines.

The commands run in this process through the console script's entry point (the ``cli`` fixture of
tests/e2e/conftest.py: same exit status, standard output and standard error); the installed command itself
starts in a subprocess in ``test_the_installed_command_starts`` and ``test_unmigrated_database_says_how_to_fix``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.synthetic import DemoScenario, generate, write_csv

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).parent / "samd-monitor")
EXAMPLE = ROOT / "examples" / "lung-nodule-ct.yaml"


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=600)


@pytest.fixture
def env(database_url: str, named_user: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")} | {
        "MONITOR_DATABASE_URL": database_url, "MONITOR_PATIENT_ID_KEY": "e2e-key-0123456789abcdef",
        "MONITOR_USER": named_user}  # the named user the commands act as


def test_the_installed_command_starts() -> None:
    result = run("--help")
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout


@pytest.mark.parametrize("command", [
    [], ["db"], ["device"], ["ingest"], ["tickets"], ["analyze"], ["report"], ["demo"],
    ["ingest", "predictions"], ["ingest", "ground-truth"], ["ingest", "rejected"], ["tickets", "export"],
])
def test_every_command_has_help(cli, command: list[str]) -> None:  # type: ignore[no-untyped-def]
    result = cli(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout


def test_user_mistakes_get_one_line_and_status_2(cli, env: dict[str, str], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.yaml"
    bad.write_text("schema_version: 1\ndevice: {id: x}\n", encoding="utf-8")
    cases = [
        (["device", "add", str(bad)], "bad.yaml: invalid device configuration: device.name"),
        (["device", "add", str(tmp_path / "missing.yaml")], "configuration file not found"),
        (["analyze", "--device", "nope", "--period", "2025Q3"], "device 'nope' is not registered"),
        (["analyze", "--device", "lung-nodule-ct", "--period", "2025Q9"], "cannot read period '2025Q9'"),
        (["ingest", "predictions", str(tmp_path / "none.csv")], "no such file"),
        (["report", "--device", "lung-nodule-ct", "--period", "2024Q1"], "no analysis of device"),
        (["report", "--device", "lung-nodule-ct", "--period", "2024Q1", "--run-id", "nope"],
         "analysis run 'nope' does not exist"),
        (["tickets", "export", "--format", "xml"], "Invalid value for '--format': 'xml' is not one of 'json', 'csv'"),
    ]
    assert cli("device", "add", str(EXAMPLE), env=env).returncode == 0
    for args, message in cases:
        result = cli(*args, env=env)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_unmigrated_database_says_how_to_fix(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")} | {
        "MONITOR_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite'}"}
    result = run("device", "list", env=env)
    assert result.returncode == 2 and "samd-monitor db upgrade" in result.stderr


def test_missing_patient_key_is_a_clear_error(cli, env: dict[str, str], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = generate(DemoScenario(seed=3, scale=0.001), quarters=["2025Q3"])
    predictions = write_csv(data.predictions, tmp_path / "p.csv")
    assert cli("device", "add", str(EXAMPLE), env=env).returncode == 0
    no_key = {k: v for k, v in env.items() if k != "MONITOR_PATIENT_ID_KEY"}
    result = cli("ingest", "predictions", str(predictions), env=no_key)
    assert result.returncode == 2 and "MONITOR_PATIENT_ID_KEY is not set" in result.stderr


def test_whole_flow_through_the_cli(cli, env: dict[str, str], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = generate(DemoScenario(seed=5, scale=0.01))
    predictions = write_csv(data.predictions, tmp_path / "predictions.csv")
    truth = write_csv(data.ground_truth, tmp_path / "ground_truth.csv")
    assert cli("device", "add", str(EXAMPLE), env=env).returncode == 0
    first = cli("ingest", "predictions", str(predictions), "--json", env=env)
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert summary["accepted"] == len(data.predictions) and summary["rejected"] == 0
    again = json.loads(cli("ingest", "predictions", str(predictions), "--json", env=env).stdout)
    assert again["accepted"] == 0 and again["duplicates"] == len(data.predictions)
    assert cli("ingest", "ground-truth", str(truth), env=env).returncode == 0
    analysis = cli("analyze", "--device", "lung-nodule-ct", "--period", "2025Q3", "--json", env=env)
    assert analysis.returncode == 0, analysis.stderr
    document = json.loads(analysis.stdout)
    assert document["completeness"]["total"]["predictions"] == int((data.predictions["predicted_at"].astype(str)
                                                                      .str.startswith(("2025-07", "2025-08", "2025-09"))).sum())
    out_dir = tmp_path / "reports"
    report = cli("report", "--device", "lung-nodule-ct", "--period", "2025Q3", "--out-dir", str(out_dir),
                 "--format", "html,json", "--language", "en", env=env)
    assert report.returncode == 0, report.stderr
    html = (out_dir / "lung-nodule-ct_2025Q3_r1.en.html").read_text(encoding="utf-8")
    assert document["run_id"] in html and "Stratified results" in html
    stored = json.loads((out_dir / "lung-nodule-ct_2025Q3_r1.json").read_text(encoding="utf-8"))
    assert stored["analysis"] == document
    assert cli("analyze", "--device", "lung-nodule-ct", "--period", "2025Q3", env=env).returncode == 0
    named = cli("report", "--device", "lung-nodule-ct", "--period", "2025Q3", "--out-dir", str(out_dir),
                "--format", "json", "--run-id", document["run_id"], "--reason", "the first run, as filed",
                env=env)  # the first run, not the newest
    assert named.returncode == 0, named.stderr
    assert json.loads((out_dir / "lung-nodule-ct_2025Q3_r2.json").read_text(encoding="utf-8"))["analysis"] == document
    exported = cli("tickets", "export", "--format", "csv", env=env)
    assert exported.returncode == 0 and exported.stdout.startswith("ticket_id,status")
