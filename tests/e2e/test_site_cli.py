"""Federated site summaries from the command line: two sites summarise and sign, the centre registers them,
ingests the bundles and analyses the merge, which equals the analysis of the pooled logs."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from monitor.entrypoints.cli import app as cli
from monitor.synthetic import DemoScenario, generate, write_csv

ROOT = Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / "examples" / "lung-nodule-ct.yaml")
CLI = str(Path(sys.executable).parent / "samd-monitor")


def _ok(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(cli, list(args))
    assert result.exit_code == 0, (args, result.output, result.exception)
    return result.stdout


def test_sites_summarise_and_the_centre_merges(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.unit.test_schemas import assert_valid

    monkeypatch.setenv("MONITOR_PATIENT_ID_KEY", "cli-test-key-0123456789abcdef")
    data = generate(DemoScenario(seed=9, scale=0.004, quarters=("2025Q3",)))
    sites = sorted(data.predictions["site_id"].unique())[:2]
    runner = CliRunner()
    central = ["--db", f"sqlite:///{tmp_path / 'centre.sqlite'}"]
    pooled = ["--db", f"sqlite:///{tmp_path / 'pooled.sqlite'}"]
    for db in (central, pooled):
        _ok(runner, *db, "db", "upgrade")
        _ok(runner, *db, "user", "add", "cli-tester", "--name", "CLI tester", "--role", "qa", "--no-password")
        _ok(runner, *db, "--user", "cli-tester", "device", "add", CONFIG)
    monkeypatch.setenv("MONITOR_USER", "cli-tester")  # the named user the later commands act as

    for site in sites:  # at each site
        rows = data.predictions.loc[data.predictions["site_id"] == site]
        write_csv(rows, tmp_path / f"{site}-p.csv")
        write_csv(data.ground_truth.loc[data.ground_truth["prediction_id"].isin(rows["prediction_id"])],
                  tmp_path / f"{site}-g.csv")
        assert "key id" in _ok(runner, "site", "keygen", "--site", site, "--out-dir", str(tmp_path / "keys"))
        assert stat.S_IMODE((tmp_path / "keys" / f"{site}.key").stat().st_mode) == 0o600
        printed = _ok(runner, "site", "summarize", "--config", CONFIG, "--site", site,
                      "--key", str(tmp_path / "keys" / f"{site}.key"), "--period", "2025Q3",
                      "--predictions", str(tmp_path / f"{site}-p.csv"),
                      "--ground-truth", str(tmp_path / f"{site}-g.csv"), "--out", str(tmp_path / f"{site}.json"))
        assert "flagged small" in printed
        _ok(runner, *pooled, "ingest", "predictions", str(tmp_path / f"{site}-p.csv"))
        _ok(runner, *pooled, "ingest", "ground-truth", str(tmp_path / f"{site}-g.csv"))

    for site in sites:  # at the centre
        assert "registered" in _ok(runner, *central, "site", "register", site,
                                   str(tmp_path / "keys" / f"{site}.pub"), "--device", "lung-nodule-ct")
        assert "stored" in _ok(runner, *central, "ingest", "summary", str(tmp_path / f"{site}.json"))
    receipt = json.loads(_ok(runner, *central, "ingest", "summary", str(tmp_path / f"{sites[0]}.json"), "--json"))
    assert receipt["status"] == "duplicate"
    assert sites[1] in _ok(runner, *central, "site", "list") and "2025Q3" in _ok(runner, *central, "site", "bundles")

    tampered = json.loads((tmp_path / f"{sites[0]}.json").read_text(encoding="utf-8"))
    tampered["payload"]["cells"][0]["tn"] += 5
    (tmp_path / "tampered.json").write_text(json.dumps(tampered), encoding="utf-8")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")} | {"MONITOR_USER": "cli-tester"}
    result = subprocess.run([CLI, *central, "ingest", "summary", str(tmp_path / "tampered.json")],
                            capture_output=True, text=True, env=environment, timeout=300)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: bundle of site '{sites[0]}': the signature does not verify (the bundle was altered after signing): "
        "refused"]

    cutoff = ["--cutoff", "2027-01-01T00:00:00+00:00"]
    federated = json.loads(_ok(runner, *central, "analyze", "--engine", "summaries", "--device", "lung-nodule-ct",
                               "--period", "2025Q3", "--json", *cutoff))
    assert_valid("lake_analysis", federated)
    reference = json.loads(_ok(runner, *pooled, "--user", "cli-tester", "analyze", "--device", "lung-nodule-ct", "--period", "2025Q3",
                               "--json", *cutoff))
    assert federated["counts"] == reference["counts"]
    # same stratum-metrics and counts; identical outcomes where the pooled evidence is unadjusted (docs/federated.md)
    raw = ("model_version", "stratum", "metric", "successes", "trials", "family", "family_size")
    assert [{k: r[k] for k in raw} for r in federated["results"]] == [{k: r[k] for k in raw} for r in reference["results"]]
    tests = ("estimate", "ci_low", "ci_high", "p_value", "p_shortfall", "p_conformity")
    plain = [(f, r) for f, r in zip(federated["results"], reference["results"], strict=True)
             if not r["basis"] and not r["provisional"]]
    assert plain and all({k: f[k] for k in tests} == {k: r[k] for k in tests} for f, r in plain)
    assert [s["site_id"] for s in federated["federation"]["sites"]] == sites
    printed = _ok(runner, *central, "analyze", "--engine", "summaries", "--device", "lung-nodule-ct",
                  "--period", "2025Q3", "--out", str(tmp_path / "federated.json"))
    assert "(site summaries): 2 sites" in printed and (tmp_path / "federated.json").is_file()
