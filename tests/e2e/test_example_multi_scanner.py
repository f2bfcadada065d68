"""The multi-scanner agreement example (examples/multi-scanner-agreement.yaml, monitor/synthetic/multi_scanner.py)
through the CLI on both engines: claims on accuracy and on overall agreement with the reader (claims.metrics).

* the planted vendor's accuracy and agreement claims are flagged, each with a ticket whose acceptance criteria read
  on the goal; the figures equal a recount from the generated frames and the exact test (scipy binomtest);
* the null variant flags nothing and opens no ticket;
* the report shows the claims table (HTML, en and zh-CN).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
import yaml
from scipy import stats

from monitor.synthetic import write_csv
from monitor.synthetic.multi_scanner import PLANTED_VENDOR, QUARTER, MultiScannerScenario, generate

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "multi-scanner-agreement.yaml"
PLANTED = f"scanner_vendor={PLANTED_VENDOR}"


@pytest.fixture
def env(database_url: str, named_user: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")} | {
        "MONITOR_DATABASE_URL": database_url, "MONITOR_PATIENT_ID_KEY": "e2e-key-0123456789abcdef",
        "MONITOR_USER": named_user}


def _analyse(cli, env: dict[str, str], tmp_path: Path, *, planted: bool) -> tuple[dict, pd.DataFrame]:  # type: ignore[no-untyped-def]
    device_id = "cxr-ptx" if planted else "cxr-ptx-null"
    data = generate(MultiScannerScenario(device_id=device_id, planted=planted, cases=2_400))
    config = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    config["device"]["id"] = device_id
    path = tmp_path / f"{device_id}.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    assert cli("device", "add", str(path), env=env).returncode == 0
    for kind, frame in (("predictions", data.predictions), ("ground-truth", data.ground_truth)):
        result = cli("ingest", kind, str(write_csv(frame, tmp_path / f"{device_id}-{kind}.csv")), "--json", env=env)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["rejected"] == 0
    analysis = cli("analyze", "--device", device_id, "--period", QUARTER, "--json", env=env)
    assert analysis.returncode == 0, analysis.stderr
    cases = data.predictions.merge(data.ground_truth[["prediction_id", "label"]], on="prediction_id")
    return json.loads(analysis.stdout), cases


def test_the_planted_vendor_is_flagged_with_tickets_and_the_null_variant_opens_none(  # type: ignore[no-untyped-def]
        cli, env: dict[str, str], tmp_path: Path) -> None:
    document, cases = _analyse(cli, env, tmp_path, planted=True)
    rows = {(r["stratum"], r["metric"]): r for r in document["metric_claims"]}
    vendor = cases.loc[cases["scanner_vendor"] == PLANTED_VENDOR]
    accuracy, agreement = rows[(PLANTED, "accuracy")], rows[(PLANTED, "overall_agreement")]
    # the figures against a recount from the generated frames and the exact test
    assert (accuracy["events"], accuracy["trials"]) == (int((vendor["predicted_label"] == vendor["label"]).sum()),
                                                        len(vendor))
    assert (agreement["events"], agreement["trials"]) == (
        int((vendor["predicted_label"] == vendor["human_label"]).sum()), len(vendor))
    assert agreement["goal"] == pytest.approx(0.93) and accuracy["goal"] == pytest.approx(0.96)
    assert agreement["p_departure"] == pytest.approx(stats.binomtest(
        agreement["events"], agreement["trials"], 0.93, alternative="less").pvalue, rel=1e-9)
    assert agreement["ci_high"] < 0.93 and accuracy["ci_high"] < 0.96
    print(f"\nplanted {PLANTED}: overall_agreement {agreement['estimate']:.4f} "
          f"[{agreement['ci_low']:.4f}, {agreement['ci_high']:.4f}] goal {agreement['goal']}, q {agreement['q_value']:.3g}; "
          f"accuracy {accuracy['estimate']:.4f} [{accuracy['ci_low']:.4f}, {accuracy['ci_high']:.4f}] goal "
          f"{accuracy['goal']}, q {accuracy['q_value']:.3g}")
    flagged = [r for r in document["metric_claims"] if r["status"] == "flagged"]
    assert {(r["stratum"], r["metric"]) for r in flagged} >= {(PLANTED, "accuracy"), (PLANTED, "overall_agreement")}
    assert all(r["stratum"] in (PLANTED, "overall") for r in flagged), flagged
    assert all(r["ticket_id"] and r["finding_id"] for r in flagged)
    for vendor_name in ("GE", "Philips", "Canon"):
        assert rows[(f"scanner_vendor={vendor_name}", "overall_agreement")]["status"] == "conforming"
    tickets = {t["ticket_id"]: t for t in json.loads(cli("tickets", "list", "--json", env=env).stdout)}
    ticket = tickets[agreement["ticket_id"]]
    assert (ticket["metric"], ticket["stratum"]) == ("overall_agreement", PLANTED)
    assert ticket["acceptance_criteria"]["stratum_lower_bound_at_least"] == pytest.approx(0.93)
    assert ticket["capa"]["trigger"]["observed"] == pytest.approx(agreement["estimate"])

    null, _ = _analyse(cli, env, tmp_path, planted=False)
    assert not [r for r in null["metric_claims"] if r["status"] == "flagged"]
    assert {r["status"] for r in null["metric_claims"] if r["level"] == 0 or "scanner" in r["stratum"]} == {
        "conforming"}
    assert {t["device_id"] for t in json.loads(cli("tickets", "list", "--json", env=env).stdout)} == {"cxr-ptx"}

    out_dir = tmp_path / "reports"
    report = cli("report", "--device", "cxr-ptx", "--period", QUARTER, "--out-dir", str(out_dir),
                 "--format", "html", "--language", "en,zh-CN", env=env)
    assert report.returncode == 0, report.stderr
    english = (out_dir / f"cxr-ptx_{QUARTER}_r1.en.html").read_text(encoding="utf-8")
    chinese = (out_dir / f"cxr-ptx_{QUARTER}_r1.zh-CN.html").read_text(encoding="utf-8")
    assert "Claims on other metrics" in english and PLANTED in english and agreement["ticket_id"] in english
    assert "其他指标的声明" in chinese and agreement["ticket_id"] in chinese
    assert "claim(s) on other metrics flagged" in english and "No sensitivity, specificity, PPV or NPV" in english

    # the one read side (API, dashboard) gives the same decided claims as the stored document
    from monitor.entrypoints.bootstrap import bootstrap
    from monitor.service.queries import device_outputs
    from monitor.settings import load_settings

    outputs = device_outputs(bootstrap(load_settings().with_database(env["MONITOR_DATABASE_URL"])).uow, "cxr-ptx",
                             QUARTER)
    assert outputs.present() == ["claims"]
    read = {(r.stratum, r.metric): (r.estimate, r.status, r.ticket_id) for r in outputs.claims.itertuples()}
    assert read == {(r["stratum"], r["metric"]): (r["estimate"], r["status"], r["ticket_id"])
                    for r in document["metric_claims"] if r["claim"] is not None}
