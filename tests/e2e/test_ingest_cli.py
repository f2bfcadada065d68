"""``samd-monitor ingest retractions | rejected --out | resubmit | dismiss`` through the CLI's entry point
(in-process: the ``cli`` fixture of tests/e2e/conftest.py gives the console script's status and output)."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "lung-nodule-ct.yaml"
HEADER = "prediction_id,device_id,model_version,site_id,predicted_at,score,predicted_label,patient_id,age\n"


@pytest.fixture
def env(database_url: str, named_user: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")} | {
        "MONITOR_DATABASE_URL": database_url, "MONITOR_PATIENT_ID_KEY": "e2e-key-0123456789abcdef",
        "MONITOR_USER": named_user}


def test_a_change_without_a_named_user_is_refused_and_with_one_is_audited_under_it(  # type: ignore[no-untyped-def]
        cli, env: dict[str, str], database_url: str, tmp_path: Path) -> None:
    """Issue 16 item 3: the acting user is a named user of the system, never the OS account."""
    from monitor.adapters.db.engine import make_engine
    from monitor.adapters.db.unit_of_work import unit_of_work_factory

    assert cli("device", "add", str(EXAMPLE), env=env).returncode == 0
    log = tmp_path / "p.csv"
    log.write_text(HEADER + "C1,lung-nodule-ct,2.1.0,SH-01,2025-08-01T09:15:00+08:00,0.8,1,PAT-1,67\n")
    anonymous = {k: v for k, v in env.items() if k != "MONITOR_USER"}
    refused = cli("ingest", "predictions", str(log), env=anonymous)
    assert refused.returncode == 2 and refused.stdout == ""
    [message] = refused.stderr.strip().splitlines()
    assert message.startswith("error: no acting user") and "--user" in message and "MONITOR_USER" in message
    unknown = cli("--user", "nobody", "ingest", "predictions", str(log), env=anonymous)
    assert unknown.returncode == 2 and "'nobody' is not a user of this database" in unknown.stderr

    assert cli("ingest", "predictions", str(log), env=env).returncode == 0
    engine = make_engine(database_url)
    try:
        with unit_of_work_factory(engine)() as unit:
            assert [r["actor"] for r in unit.audit.records(action="ingest.predictions")] == [env["MONITOR_USER"]]
            assert unit.audit.records(action="ingest.predictions", actor="nobody") == []
    finally:
        engine.dispose()


def test_quarantine_and_retractions_through_the_cli(cli, env: dict[str, str], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run = cli
    assert run("device", "add", str(EXAMPLE), env=env).returncode == 0
    line = "{},lung-nodule-ct,2.1.0,SH-01,2025-08-01T09:15:00+08:00,{},1,PAT-{},67\n"
    (tmp_path / "p.csv").write_text(HEADER + line.format("C1", "0.8", 1) + line.format("C2", "1.5", 2))
    ingested = run("ingest", "predictions", str(tmp_path / "p.csv"), "--json", env=env)
    assert ingested.returncode == 0, ingested.stderr
    batch = json.loads(ingested.stdout)["batch_id"]

    export = tmp_path / "fix.csv"
    listed = run("ingest", "rejected", "--status", "open", "--kind", "predictions", "--out", str(export), env=env)
    assert listed.returncode == 0 and "wrote 1 rejected row" in listed.stdout
    rows = list(csv.DictReader(export.open()))
    assert rows[0]["score"] == "1.5" and rows[0]["patient_id"].startswith("hmac-sha256:")
    rows[0]["score"] = "0.6"
    with export.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    fixed = run("ingest", "resubmit", str(export), "--batch", str(batch), "--json", env=env)
    assert fixed.returncode == 0, fixed.stderr
    assert json.loads(fixed.stdout)["resolved_rows"] == [2]

    (tmp_path / "r.csv").write_text("device_id,prediction_id,retracted_at,reason\n"
                                    "lung-nodule-ct,C1,2025-10-01T00:00:00Z,wrong series\n"
                                    "lung-nodule-ct,C9,2025-10-01T00:00:00Z,wrong series\n")
    retracted = run("ingest", "retractions", str(tmp_path / "r.csv"), "--json", env=env)
    summary = json.loads(retracted.stdout)
    assert (summary["kind"], summary["accepted"], summary["reasons"]) == ("retractions", 1, {"unknown_prediction": 1})
    dismissed = run("ingest", "dismiss", "--batch", str(summary["batch_id"]), "--note", "C9 was never sent", env=env)
    assert dismissed.returncode == 0 and "dismissed 1 rejected row" in dismissed.stdout
    shown = run("ingest", "rejected", "--json", env=env)
    assert [row["status"] for row in json.loads(shown.stdout)] == ["resubmitted", "dismissed"]
