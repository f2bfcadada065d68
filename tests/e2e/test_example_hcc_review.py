"""The HCC segmentation example with secondary review through the command line on both engines (issue 17 items 3
and 9): register, ingest predictions, ground truth and reviews, list and export the worklist, analyse and report;
the review section equals an independent recount of the generated data, the planted rise of the review rate on one
scanner is flagged with a ticket and the null variant opens none."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from monitor.synthetic.export import write_csv
from monitor.synthetic.hcc_review import HccScenario, generate, reviews

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hcc-segmentation-review.yaml"
DEVICE = "hcc-segmentation"


def _env(database_url: str, named_user: str) -> dict[str, str]:
    return {"MONITOR_DATABASE_URL": database_url, "MONITOR_PATIENT_ID_KEY": "e2e-key-0123456789abcdef",
            "MONITOR_USER": named_user}


def _sent(p: pd.DataFrame) -> pd.Series:
    """The recount: a case goes to review when |AI - reviewed| > 0.15 x reviewed, or the AI failed."""
    ai, reviewed = p["ai_volume_mm3"].astype(float), p["reviewed_volume_mm3"].astype(float)
    return ((ai - reviewed).abs() > 0.15 * reviewed) | p["result_status"].eq("failed")


def _load(cli: Any, env: dict[str, str], tmp_path: Path, planted: bool) -> tuple[Any, pd.DataFrame]:
    data = generate(HccScenario(cases=1500, planted=planted))
    review_log = reviews(data)
    assert cli("device", "add", str(EXAMPLE), env=env).returncode == 0
    for kind, frame in (("predictions", data.predictions), ("ground-truth", data.ground_truth),
                        ("reviews", review_log)):
        done = cli("ingest", kind, str(write_csv(frame, tmp_path / f"{kind}.csv")), "--json", env=env)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["rejected"] == 0
    return data, review_log


def test_planted_review_rate_flagged_worklist_and_report(cli, database_url: str, named_user: str,  # type: ignore[no-untyped-def]
                                                         tmp_path: Path) -> None:
    env = _env(database_url, named_user)
    data, review_log = _load(cli, env, tmp_path, planted=True)
    p = data.predictions
    sent = _sent(p)
    latest = review_log.groupby("prediction_id")["status"].last()

    listed = cli("worklist", "list", "--device", DEVICE, "--period", "2025Q3", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    worklist = json.loads(listed.stdout)
    assert {i["prediction_id"] for i in worklist["items"]} == set(p.loc[sent, "prediction_id"])
    expected = {s: int((latest == s).sum()) for s in ("in_review", "confirmed", "edited", "rejected")}
    assert worklist["counts"] == {"pending": int(sent.sum()) - len(latest), **expected}
    assert "patient_id" not in listed.stdout and not any(v in listed.stdout for v in p["patient_id"].head(50))
    pending = json.loads(cli("worklist", "list", "--device", DEVICE, "--period", "2025Q3", "--status", "pending",
                             "--json", env=env).stdout)
    assert {i["status"] for i in pending["items"]} == {"pending"} and len(pending["items"]) == worklist["counts"]["pending"]

    out = tmp_path / "worklist.csv"
    exported = cli("worklist", "export", "--device", DEVICE, "--period", "2025Q3", "--out", str(out), env=env)
    assert exported.returncode == 0, exported.stderr
    with out.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == int(sent.sum())
    assert {r["prediction_id"]: r["status"] for r in rows if r["status"] != "pending"} == latest.to_dict()
    audit = cli("audit", "list", "--action", "worklist.export", "--json", env=env)
    assert audit.returncode == 0 and len(json.loads(audit.stdout)) == 1, audit.stderr

    analysis = cli("analyze", "--device", DEVICE, "--period", "2025Q3", "--json", env=env)
    assert analysis.returncode == 0, analysis.stderr
    document = json.loads(analysis.stdout)
    section = document["review"]
    rates = {r["stratum"]: r for r in section["rates"]}
    for stratum, rows_of in [("overall", p), *((f"scanner={s}", g) for s, g in p.groupby("scanner"))]:
        recount = _sent(rows_of)
        assert (rates[stratum]["sent_to_review"], rates[stratum]["cases"]) == (int(recount.sum()), len(rows_of))
        assert rates[stratum]["by_trigger"]["failure"] == int(rows_of["result_status"].eq("failed").sum())
    assert section["worklist"] == worklist["counts"] | {"total": int(sent.sum())}
    positive = p.loc[p["overlap_volume_mm3"].notna()]
    dice = 2 * positive["overlap_volume_mm3"] / (positive["ai_volume_mm3"] + positive["reviewed_volume_mm3"])
    overall = next(o for o in section["overlap"] if o["stratum"] == "overall")
    assert overall["cases"] == len(positive) and np.isclose(overall["dice_mean"], dice.mean())

    decided = {(r["stratum"], r["metric"]): r for r in document["metric_claims"]}
    planted = decided[("scanner=GE", "review_rate")]
    assert planted["status"] == "flagged" and planted["ticket_id"]
    assert decided[("scanner=Siemens", "review_rate")]["status"] != "flagged"
    tickets = json.loads(cli("tickets", "list", "--device", DEVICE, "--json", env=env).stdout)
    # overlapping flagged strata of one cause share one ticket, opened on the most specific cell (within GE)
    ticket = next(t for t in tickets if t["ticket_id"] == planted["ticket_id"])
    assert ticket["metric"] == "review_rate" and "scanner=GE" in ticket["stratum"].split(" & ")
    # (disjoint cells within GE, e.g. each Child-Pugh class, open their own tickets: monitor.domain.finding_groups)
    assert all("scanner=GE" in t["stratum"].split(" & ") for t in tickets if t["metric"] == "review_rate")

    reports = tmp_path / "reports"
    report = cli("report", "--device", DEVICE, "--period", "2025Q3", "--out-dir", str(reports), "--format",
                 "html,json", "--language", "en,zh-CN", env=env)
    assert report.returncode == 0, report.stderr
    stored = json.loads((reports / f"{DEVICE}_2025Q3_r1.json").read_text(encoding="utf-8"))
    shown = stored["sections"]["review"]
    html = (reports / f"{DEVICE}_2025Q3_r1.en.html").read_text(encoding="utf-8")
    assert "Secondary review of AI results" in html and planted["ticket_id"] in html
    assert "AI 结果的二次复核" in (reports / f"{DEVICE}_2025Q3_r1.zh-CN.html").read_text(encoding="utf-8")
    assert stored["analysis"]["review"] == section
    assert shown["worklist"] == section["worklist"]
    assert {r["stratum"]: r["claim_status"] for r in shown["rows"]}["scanner=GE"] == "flagged"


def test_null_variant_opens_no_review_ticket(cli, database_url: str, named_user: str,  # type: ignore[no-untyped-def]
                                             tmp_path: Path) -> None:
    env = _env(database_url, named_user)
    _load(cli, env, tmp_path, planted=False)
    analysis = cli("analyze", "--device", DEVICE, "--period", "2025Q3", "--json", env=env)
    assert analysis.returncode == 0, analysis.stderr
    document = json.loads(analysis.stdout)
    assert not [r for r in document["metric_claims"] if r["metric"] == "review_rate" and r["status"] == "flagged"]
    tickets = json.loads(cli("tickets", "list", "--device", DEVICE, "--json", env=env).stdout)
    assert not [t for t in tickets if t["metric"] == "review_rate"]
