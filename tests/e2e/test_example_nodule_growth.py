"""The nodule-growth model beside Lung-RADS (examples/nodule-growth-lung-rads.yaml, issue 17 items 6 and 9) through
the command line on both engines: add, ingest, analyze, report (HTML and JSON).

The planted problem (the AI's sensitivity falls in part-solid nodules, Lung-RADS unchanged) is flagged with a ticket
and nothing else is; the null variant (same cases, no drop) opens no ticket. The comparator section equals an
independent recount from the generated rows (sklearn's AUC, statsmodels' exact McNemar, a direct O(m n) DeLong);
the comparator is never a model version and no ticket names it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score
from statsmodels.stats.contingency_tables import mcnemar

from monitor.synthetic import write_csv
from monitor.synthetic.nodule_growth import NoduleGrowthScenario, generate

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "nodule-growth-lung-rads.yaml"
DEVICE = "nodule-growth"
PERIOD = "2025Q1"
DROP = 0.25


@pytest.fixture
def env(database_url: str, named_user: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")} | {
        "MONITOR_DATABASE_URL": database_url, "MONITOR_PATIENT_ID_KEY": "e2e-key-0123456789abcdef",
        "MONITOR_USER": named_user}


def _run(cli: Any, env: dict[str, str], tmp_path: Path, drop: float) -> dict[str, Any]:
    data = generate(NoduleGrowthScenario(sensitivity_drop=drop))
    predictions = write_csv(data.predictions, tmp_path / "predictions.csv")
    truth = write_csv(data.ground_truth, tmp_path / "ground_truth.csv")
    for args in (("device", "add", str(EXAMPLE)), ("ingest", "predictions", str(predictions)),
                 ("ingest", "ground-truth", str(truth))):
        result = cli(*args, env=env)
        assert result.returncode == 0, (args, result.stderr)
    analysis = cli("analyze", "--device", DEVICE, "--period", PERIOD, "--json", env=env)
    assert analysis.returncode == 0, analysis.stderr
    out = tmp_path / "reports"
    report = cli("report", "--device", DEVICE, "--period", PERIOD, "--out-dir", str(out), "--format", "html,json",
                 "--language", "en,zh-CN", env=env)
    assert report.returncode == 0, report.stderr
    tickets = cli("tickets", "list", "--json", env=env)
    assert tickets.returncode == 0, tickets.stderr
    cases = data.predictions.merge(data.ground_truth[["prediction_id", "label"]], on="prediction_id")
    return {"document": json.loads(analysis.stdout), "tickets": json.loads(tickets.stdout), "cases": cases,
            "report": json.loads((out / f"{DEVICE}_{PERIOD}_r1.json").read_text(encoding="utf-8")),
            "html": {lang: (out / f"{DEVICE}_{PERIOD}_r1.{lang}.html").read_text(encoding="utf-8")
                     for lang in ("en", "zh-CN")}}


def _delong_difference(ai: np.ndarray, comparator: np.ndarray, label: np.ndarray) -> tuple[float, float]:
    """The paired DeLong difference and its standard error, straight from the definition (O(m n) kernels)."""
    def placements(score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pos, neg = score[label == 1], score[label == 0]
        kernel = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
        return kernel.mean(axis=1), kernel.mean(axis=0)
    v10_a, v01_a = placements(ai)
    v10_b, v01_b = placements(comparator)
    variance = np.var(v10_a - v10_b, ddof=1) / v10_a.size + np.var(v01_a - v01_b, ddof=1) / v01_a.size
    return float(v10_a.mean() - v10_b.mean()), float(np.sqrt(variance))


def _recount(cases: pd.DataFrame, stratum: str) -> dict[str, dict[str, Any]]:
    """The comparator rows of one stratum, recounted from the generated rows."""
    part = cases
    if stratum != "overall":
        name, label = stratum.split("=", 1)
        part = cases.loc[(cases["age"] >= 65) == (label == ">=65")] if name == "age_band" else \
            cases.loc[cases["nodule_type"] == label]
    y = part["label"].to_numpy()
    ai_call = part["predicted_label"].to_numpy()
    rads_call = (part["comparator_score"] >= 4).to_numpy().astype(int)
    rows: dict[str, dict[str, Any]] = {}
    difference, se = _delong_difference(part["score"].to_numpy(), part["comparator_score"].to_numpy(), y)
    rows["auc"] = {"cases": len(part), "ai": roc_auc_score(y, part["score"]),
                   "comparator": roc_auc_score(y, part["comparator_score"]), "difference": difference,
                   "p_value": 2 * stats.norm.sf(abs(difference) / se)}
    for metric, truth in (("sensitivity", 1), ("specificity", 0)):
        ai_right, rads_right = (ai_call == truth)[y == truth], (rads_call == truth)[y == truth]
        table = [[int((ai_right & rads_right).sum()), int((ai_right & ~rads_right).sum())],
                 [int((~ai_right & rads_right).sum()), int((~ai_right & ~rads_right).sum())]]
        rows[metric] = {"cases": int((y == truth).sum()), "ai": ai_right.mean(), "comparator": rads_right.mean(),
                        "both_right": table[0][0], "ai_only_right": table[0][1],
                        "comparator_only_right": table[1][0], "neither_right": table[1][1],
                        "p_value": mcnemar(table, exact=True).pvalue}
    return rows


def _assert_recounted(section: dict[str, Any], cases: pd.DataFrame) -> None:
    strata = ["overall", "age_band=<65", "age_band=>=65", "nodule_type=solid", "nodule_type=part_solid",
              "nodule_type=ground_glass"]
    assert [r["stratum"] for r in section["rows"][::3]] == strata
    for stratum in strata:
        expected = _recount(cases, stratum)
        for row in (r for r in section["rows"] if r["stratum"] == stratum):
            want = expected[row["metric"]]
            for key, value in want.items():
                assert row[key] == pytest.approx(value, rel=1e-9, abs=1e-12), (stratum, row["metric"], key)
    assert section["studies"] == len(cases)


def _assert_comparator_is_no_model_version(document: dict[str, Any], tickets: list[dict[str, Any]]) -> None:
    versions = {r["model_version"] for key in ("counts", "results", "findings") for r in document[key]}
    versions |= {r["model_version"] for r in document["comparator"]["rows"]}
    versions |= {r["model_version"] for r in document.get("discrimination", [])}
    assert versions == {"1.0.0"}
    text = json.dumps(tickets)
    assert "Lung-RADS" not in text and "comparator" not in text.lower()


def _assert_auc_claim_decided(document: dict[str, Any]) -> None:
    """The AUC claim (claims.metrics, decided by monitor.domain.metric_claims.decide_metric_claims) is the AI's:
    overall it is conforming on the same AUC the comparator section shows for the AI, and it opens no ticket."""
    auc = {r["stratum"]: r for r in document["metric_claims"] if r["metric"] == "auc"}
    overall = auc["overall"]
    assert (overall["model_version"], overall["claim"], overall["status"]) == ("1.0.0", 0.94, "conforming")
    assert overall["goal"] == pytest.approx(0.91)
    ai_auc = next(r for r in document["comparator"]["rows"] if r["stratum"] == "overall" and r["metric"] == "auc")
    assert overall["estimate"] == pytest.approx(ai_auc["ai"], abs=1e-12)
    assert all(r["ticket_id"] is None for r in document["metric_claims"])


def test_planted_part_solid_drop_is_flagged_beside_lung_rads(cli: Any, env: dict[str, str], tmp_path: Path) -> None:
    run = _run(cli, env, tmp_path, DROP)
    document, tickets = run["document"], run["tickets"]
    _assert_recounted(document["comparator"], run["cases"])
    flagged = [(f["model_version"], f["stratum"], f["metric"]) for f in document["findings"]]
    assert flagged == [("1.0.0", "nodule_type=part_solid", "sensitivity")]
    finding = document["findings"][0]
    assert finding["ticket_id"] and finding["estimate"] < finding["ci_high"] < 0.85
    assert [t["ticket_id"] for t in tickets] == [finding["ticket_id"]]
    _assert_comparator_is_no_model_version(document, tickets)
    _assert_auc_claim_decided(document)
    # Lung-RADS unchanged: in part-solid nodules the AI now misses more growing nodules than Lung-RADS does.
    part_solid = {r["metric"]: r for r in document["comparator"]["rows"] if r["stratum"] == "nodule_type=part_solid"}
    assert part_solid["sensitivity"]["ci_high"] < 0 and part_solid["sensitivity"]["p_value"] < 0.05
    # The report carries the section (JSON) and prints it (HTML, en and zh-CN).
    assert run["report"]["sections"]["comparator"] == document["comparator"]
    assert "AI versus the comparator: Lung-RADS v2022" in run["html"]["en"]
    assert "AI 与对照方法比较：Lung-RADS 2022 版" in run["html"]["zh-CN"]


def test_null_variant_opens_no_ticket(cli: Any, env: dict[str, str], tmp_path: Path) -> None:
    run = _run(cli, env, tmp_path, 0.0)
    document, tickets = run["document"], run["tickets"]
    assert document["findings"] == [] and tickets == []
    _assert_recounted(document["comparator"], run["cases"])
    _assert_comparator_is_no_model_version(document, tickets)
    _assert_auc_claim_decided(document)
