"""The ordinal DR-triage example end to end through the CLI, on both engines (issue 17 items 1 and 9).

examples/dr-triage-ordinal.yaml with monitor.synthetic.dr_ordinal: logs that name the levels, 25% audit of the
low-risk calls; one quarter of 4,000 screenings. The ordinal section of the analysis equals an independent
recount from the generated frames (case-level inverse-probability weights, sklearn's weighted kappa); the planted
rise of the lowest level's false-negative rate with the Canon camera is flagged with a ticket, the null variant
opens none; a level name the configuration does not declare is refused with its row and the levels, never the
value.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from monitor.synthetic import write_csv
from monitor.synthetic.dr_ordinal import DEVICE_ID, LEVELS, DrOrdinalScenario, generate

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "dr-triage-ordinal.yaml"
PERIOD = "2025Q3"
PLANTED = "camera=Canon"


@pytest.fixture
def env(database_url: str, named_user: str) -> dict[str, str]:
    return {"MONITOR_DATABASE_URL": database_url, "MONITOR_PATIENT_ID_KEY": "e2e-key-0123456789abcdef",
            "MONITOR_USER": named_user}


def _flow(cli: Any, env: dict[str, str], tmp_path: Path, scenario: DrOrdinalScenario
          ) -> tuple[pd.DataFrame, dict[str, Any], dict[str, Any], str]:
    """Ingest the scenario, analyse the quarter and write the report: (case frame, analysis, report JSON, html)."""
    data = generate(scenario)
    predictions = write_csv(data.predictions, tmp_path / "predictions.csv")
    truth = write_csv(data.ground_truth, tmp_path / "ground_truth.csv")
    assert cli("device", "add", str(EXAMPLE), env=env).returncode == 0
    ingested = cli("ingest", "predictions", str(predictions), "--json", env=env)
    assert ingested.returncode == 0, ingested.stderr
    assert json.loads(ingested.stdout)["accepted"] == len(data.predictions)
    assert cli("ingest", "ground-truth", str(truth), env=env).returncode == 0
    analysis = cli("analyze", "--device", DEVICE_ID, "--period", PERIOD, "--json", env=env)
    assert analysis.returncode == 0, analysis.stderr
    out = tmp_path / "reports"
    report = cli("report", "--device", DEVICE_ID, "--period", PERIOD, "--out-dir", str(out), "--format", "html,json",
                 "--language", "en", env=env)
    assert report.returncode == 0, report.stderr
    html = (out / f"{DEVICE_ID}_{PERIOD}_r1.en.html").read_text(encoding="utf-8")
    stored = json.loads((out / f"{DEVICE_ID}_{PERIOD}_r1.json").read_text(encoding="utf-8"))
    cases = data.predictions.assign(level=data.predictions["predicted_label"].map(LEVELS.index))
    grades = data.ground_truth.set_index("prediction_id")["label"].map(LEVELS.index)
    cases["grade"] = cases["prediction_id"].map(grades).fillna(-1).astype(int)
    return cases, json.loads(analysis.stdout), stored, html


def _recount(cases: pd.DataFrame) -> dict[str, Any]:
    """The figures of one stratum from its cases: calls, verified matrix, and the verification-corrected
    false-negative rate and quadratic kappa with each verified case weighted by calls / verified of its call."""
    calls = np.bincount(cases["level"], minlength=3).tolist()
    verified = cases.loc[cases["grade"] >= 0]
    matrix = pd.crosstab(verified["level"], verified["grade"]).reindex(index=range(3), columns=range(3),
                                                                         fill_value=0).to_numpy().tolist()
    positive = cases["level"] >= 1
    weight_of = {c: (positive == c).sum() / (positive[cases["grade"] >= 0] == c).sum() for c in (True, False)}
    w = (verified["level"] >= 1).map(weight_of).to_numpy()
    referable = verified["grade"].to_numpy() >= 1
    missed = referable & (verified["level"].to_numpy() == 0)
    return {"calls": calls, "matrix": matrix, "fnr_raw": (int(missed.sum()), int(referable.sum())),
            "fnr": float(w[missed].sum() / w[referable].sum()),
            "kappa": cohen_kappa_score(verified["grade"], verified["level"], weights="quadratic", sample_weight=w)}


def _fnr_claims(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["stratum"]: row for row in document.get("metric_claims") or []
            if row["metric"] == "lowest_level_fnr"}


def _assert_recount(cases: pd.DataFrame, document: dict[str, Any], stored: dict[str, Any], html: str) -> None:
    """The ordinal section equals the recount of the generated frames, in the analysis and the report."""
    section = document["ordinal"]
    assert [level["name"] for level in section["levels"]] == list(LEVELS)
    assert section["positive_from"] == "monitor" and section["verification"] == "audit_sample"
    rows = {row["stratum"]: row for row in section["strata"]}
    for stratum, part in (("overall", cases), (PLANTED, cases.loc[cases["camera"] == "Canon"]),
                          ("camera=Topcon", cases.loc[cases["camera"] == "Topcon"])):
        expected, row = _recount(part), rows[stratum]
        assert row["calls"] == expected["calls"] and row["matrix"] == expected["matrix"]
        fnr = row["lowest_level_fnr"]
        assert (fnr["successes"], fnr["trials"]) == expected["fnr_raw"]
        if expected["fnr_raw"][0] > 0:  # no zero-cell correction: the weighted ratio itself
            assert fnr["estimate"] == pytest.approx(expected["fnr"], rel=1e-9)
        assert row["weighted_kappa"] == pytest.approx(expected["kappa"], rel=1e-9)
    # the binary metrics read the primary cut: its sensitivity is 1 - the lowest level's FNR when positive_from
    # is the second level
    primary = next(c for c in rows[PLANTED]["cuts"] if c["primary"])
    assert primary["sensitivity"]["estimate"] == pytest.approx(1 - rows[PLANTED]["lowest_level_fnr"]["estimate"])
    assert stored["sections"]["ordinal"]["overall"][0]["matrix"] == rows["overall"]["matrix"]
    assert "Ordered outputs" in html and "refer_now" in html


def test_planted_example_equals_a_recount_and_its_fnr_rise_is_flagged_with_a_ticket(  # type: ignore[no-untyped-def]
        cli, env: dict[str, str], tmp_path: Path) -> None:
    cases, document, stored, html = _flow(cli, env, tmp_path, DrOrdinalScenario())
    _assert_recount(cases, document, stored, html)
    claims = _fnr_claims(document)
    planted = claims[PLANTED]
    assert planted["status"] == "flagged" and planted["ticket_id"] is not None
    assert planted["estimate"] > planted["goal"] == pytest.approx(0.02)
    assert claims["camera=Topcon"]["status"] != "flagged"  # the other camera is clean
    tickets = json.loads(cli("tickets", "list", "--json", env=env).stdout)
    assert planted["ticket_id"] in {t["ticket_id"] for t in tickets}


def test_null_variant_opens_no_ticket(cli, env: dict[str, str], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cases, document, stored, html = _flow(cli, env, tmp_path, DrOrdinalScenario(problem_quarter=None))
    _assert_recount(cases, document, stored, html)
    assert not [row for row in _fnr_claims(document).values() if row["status"] == "flagged"]
    assert json.loads(cli("tickets", "list", "--json", env=env).stdout) == []
    assert document["findings"] == []


def test_a_level_the_configuration_does_not_declare_is_refused_without_its_value(  # type: ignore[no-untyped-def]
        cli, env: dict[str, str], tmp_path: Path) -> None:
    data = generate(DrOrdinalScenario(cases_per_quarter=20))
    frame = data.predictions.copy()
    frame.loc[3, "predicted_label"] = "urgent_referral"
    assert cli("device", "add", str(EXAMPLE), env=env).returncode == 0
    ingested = cli("ingest", "predictions", str(write_csv(frame, tmp_path / "p.csv")), "--json", env=env)
    assert ingested.returncode == 0, ingested.stderr
    summary = json.loads(ingested.stdout)
    assert (summary["accepted"], summary["rejected"]) == (19, 1)
    listed = cli("ingest", "rejected", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    rejected = json.loads(listed.stdout)
    rows = rejected["items"] if isinstance(rejected, dict) else rejected
    assert len(rows) == 1 and rows[0]["row_number"] == 4  # the fourth data row
    assert "low_risk, monitor, refer_now" in rows[0]["reason"], rows[0]
    # the reason never echoes the value (the quarantined row itself keeps its fields for resubmission)
    assert "urgent_referral" not in rows[0]["reason"] + ingested.stdout + ingested.stderr
