"""The breast-MRI low-confidence example (examples/breast-mri-low-confidence.yaml, monitor/synthetic/breast_mri.py)
through the CLI on both engines: device add, ingest, analyze, report (HTML and JSON, both languages).

* the analysis' low_confidence section equals an independent recount from the generated frames (pandas), for the
  whole population, every single stratum and the monitored intersection;
* flagged results stay in sensitivity and specificity: the same logs without the low_confidence column give the
  same trials in every result;
* the planted scanner's low_confidence_rate claim is flagged (monitor.domain.metric_claims.decide_metric_claims) and
  opens a ticket; the null variant flags nothing and opens none;
* an invalid low_confidence value is rejected with its row number and reason, never its value.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
import yaml

from monitor.synthetic import write_csv
from monitor.synthetic.breast_mri import PLANTED_SITE, SITES, BreastMriScenario, generate

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "breast-mri-low-confidence.yaml"
QUARTER = "2025Q3"
ATTRIBUTES = ("age_band", "scanner_vendor", "field_strength", "breast_density")


@pytest.fixture
def env(database_url: str, named_user: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")} | {
        "MONITOR_DATABASE_URL": database_url, "MONITOR_PATIENT_ID_KEY": "e2e-key-0123456789abcdef",
        "MONITOR_USER": named_user}


def _device(tmp_path: Path, device_id: str) -> Path:
    """The example's configuration under another device id."""
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data["device"]["id"] = device_id
    path = tmp_path / f"{device_id}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _analyse(cli, env: dict[str, str], tmp_path: Path, *, device_id: str = "breast-mri",  # type: ignore[no-untyped-def]
             planted: bool = True, with_flag: bool = True) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    scenario = BreastMriScenario(quarters=(QUARTER,), device_id=device_id,
                                 planted_quarter=QUARTER if planted else None)
    data = generate(scenario)
    predictions = data.predictions if with_flag else data.predictions.drop(columns=["low_confidence"])
    config = EXAMPLE if device_id == "breast-mri" else _device(tmp_path, device_id)
    assert cli("device", "add", str(config), env=env).returncode == 0
    for kind, frame in (("predictions", predictions), ("ground-truth", data.ground_truth)):
        result = cli("ingest", kind, str(write_csv(frame, tmp_path / f"{device_id}-{kind}.csv")), "--json", env=env)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["rejected"] == 0
    analysis = cli("analyze", "--device", device_id, "--period", QUARTER, "--json", env=env)
    assert analysis.returncode == 0, analysis.stderr
    return json.loads(analysis.stdout), data.predictions, data.ground_truth


def _recount(predictions: pd.DataFrame, truth: pd.DataFrame) -> dict[str, dict]:
    """The section's figures counted again from the generated frames (every row is in the quarter)."""
    cases = predictions.merge(truth[["prediction_id", "label"]], on="prediction_id", how="left")
    cases["age_band"] = pd.cut(cases["age"], [-1, 39, 49, 59, 69, 200],
                               labels=["<40", "40-49", "50-59", "60-69", ">=70"]).astype(str)
    strata: dict[str, pd.DataFrame] = {"overall": cases}
    for name in ATTRIBUTES:
        for label, part in cases.groupby(name):
            strata[f"{name}={label}"] = part
    for (age, density), part in cases.groupby(["age_band", "breast_density"]):
        strata[f"age_band={age} & breast_density={density}"] = part
    out = {}
    for key, part in strata.items():
        flag, call, label = part["low_confidence"], part["predicted_label"], part["label"]
        figures = {"results": len(part), "assessed": len(part), "flagged": int((flag == 1).sum())}
        for group, value in (("flagged", 1), ("unflagged", 0)):
            figures[f"sensitivity_{group}"] = (int(((flag == value) & (label == 1) & (call == 1)).sum()),
                                               int(((flag == value) & (label == 1)).sum()))
            figures[f"specificity_{group}"] = (int(((flag == value) & (label == 0) & (call == 0)).sum()),
                                               int(((flag == value) & (label == 0)).sum()))
        out[key] = figures
    return out


def _section(row: dict) -> dict:
    figures = {k: row[k] for k in ("results", "assessed", "flagged")}
    for p in row["performance"]:
        for group in ("flagged", "unflagged"):
            figures[f"{p['metric']}_{group}"] = (p[f"{group}_successes"], p[f"{group}_trials"])
    return figures


def test_the_section_recounts_and_flagged_results_stay_in_the_performance(  # type: ignore[no-untyped-def]
        cli, env: dict[str, str], tmp_path: Path) -> None:
    document, predictions, truth = _analyse(cli, env, tmp_path)
    rows = {r["stratum"]: r for r in document["low_confidence"]}
    expected = _recount(predictions, truth)
    assert set(rows) == set(expected)
    assert {k: _section(r) for k, r in rows.items()} == expected
    philips = rows["scanner_vendor=Philips"]
    assert philips["rate"] > philips["goal"] == pytest.approx(0.08) and philips["ci_low"] > 0.08
    assert rows["overall"]["ci_high"] < 0.08  # the rise is the scanner's, not the device's
    assert predictions.loc[predictions["site_id"] == PLANTED_SITE, "scanner_vendor"].eq(SITES[PLANTED_SITE][1]).all()

    # The same logs without the flag: every result has the same counts (flagged results were never taken out).
    plain, _, _ = _analyse(cli, env, tmp_path, device_id="breast-mri-no-flag", with_flag=False)
    key = ("model_version", "stratum", "metric")
    with_flags = {tuple(r[k] for k in key): (r["successes"], r["trials"]) for r in document["results"]}
    without = {tuple(r[k] for k in key): (r["successes"], r["trials"]) for r in plain["results"]}
    assert with_flags == without and len(with_flags) > 20
    assert {(r["assessed"], r["not_logged"] == r["results"]) for r in plain["low_confidence"]} == {(0, True)}

    out_dir = tmp_path / "reports"
    report = cli("report", "--device", "breast-mri", "--period", QUARTER, "--out-dir", str(out_dir),
                 "--format", "html,json", "--language", "en,zh-CN", env=env)
    assert report.returncode == 0, report.stderr
    stored = json.loads((out_dir / f"breast-mri_{QUARTER}_r1.json").read_text(encoding="utf-8"))
    section = stored["sections"]["low_confidence"]
    shown = {r["stratum"]: r for r in section["rows"]}
    assert set(shown) == {k for k, r in rows.items() if r["level"] <= 1}  # no intersection's claim is flagged
    assert section["intersections_not_shown"] == sum(r["level"] == 2 for r in rows.values())
    assert (shown["scanner_vendor=Philips"]["flagged"], shown["scanner_vendor=Philips"]["rate"]) == (
        philips["flagged"], philips["rate"])
    english = (out_dir / f"breast-mri_{QUARTER}_r1.en.html").read_text(encoding="utf-8")
    chinese = (out_dir / f"breast-mri_{QUARTER}_r1.zh-CN.html").read_text(encoding="utf-8")
    assert "Low-confidence (out-of-distribution) flags" in english and "scanner_vendor=Philips" in english
    assert "低置信度（分布外）标记" in chinese


def test_the_planted_scanner_is_flagged_with_a_ticket_and_the_null_variant_opens_none(  # type: ignore[no-untyped-def]
        cli, env: dict[str, str], tmp_path: Path) -> None:
    planted, _, _ = _analyse(cli, env, tmp_path)
    flagged = [r for r in planted["metric_claims"] if r["status"] == "flagged"]
    assert [(r["metric"], r["stratum"]) for r in flagged] == [("low_confidence_rate", "scanner_vendor=Philips")]
    assert flagged[0]["goal"] == pytest.approx(0.08) and flagged[0]["ci_low"] > 0.08 and flagged[0]["ticket_id"]
    assert not [r for r in planted["results"] if r["status"] == "flagged"]
    tickets = json.loads(cli("tickets", "list", "--json", env=env).stdout)
    assert [(t["ticket_id"], t["stratum"], t["metric"]) for t in tickets] == [
        (flagged[0]["ticket_id"], "scanner_vendor=Philips", "low_confidence_rate")]

    null, _, _ = _analyse(cli, env, tmp_path, device_id="breast-mri-null", planted=False)
    assert not [r for r in null["metric_claims"] if r["status"] == "flagged"]
    assert not [r for r in null["results"] if r["status"] == "flagged"]
    assert len(json.loads(cli("tickets", "list", "--json", env=env).stdout)) == 1  # still only the planted one


def test_an_invalid_flag_is_rejected_with_row_and_reason_never_the_value(  # type: ignore[no-untyped-def]
        cli, env: dict[str, str], tmp_path: Path) -> None:
    data = generate(BreastMriScenario(quarters=(QUARTER,), cases_per_quarter=5))
    frame = data.predictions.astype({"low_confidence": object})
    frame.loc[1, "low_confidence"] = "maybe-XJ7Q"
    frame.loc[3, "low_confidence"] = "2"
    assert cli("device", "add", str(EXAMPLE), env=env).returncode == 0
    ingested = cli("ingest", "predictions", str(write_csv(frame, tmp_path / "p.csv")), "--json", env=env)
    assert ingested.returncode == 0, ingested.stderr
    summary = json.loads(ingested.stdout)
    assert (summary["accepted"], summary["rejected"]) == (3, 2)
    assert summary["reasons"] == {"invalid_low_confidence": 2}
    assert "maybe-XJ7Q" not in ingested.stdout + ingested.stderr
    listed = cli("ingest", "rejected", "--batch", str(summary["batch_id"]), env=env)
    assert listed.returncode == 0, listed.stderr
    assert "low_confidence is not 0/1, true/false or yes/no" in listed.stdout
    rows = json.loads(cli("ingest", "rejected", "--batch", str(summary["batch_id"]), "--json", env=env).stdout)
    assert sorted(r["row_number"] for r in rows) == [2, 4]  # the 2nd and 4th data rows
    for row in rows:  # the reason names the column and what it accepts; the raw row is kept to correct and resend
        assert (row["reason_code"], row["reason"]) == ("invalid_low_confidence",
                                                       "low_confidence is not 0/1, true/false or yes/no")
    assert "maybe-XJ7Q" not in listed.stdout + listed.stderr
