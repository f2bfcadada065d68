"""End to end on both engines: a synthetic quarter with clinical context (``add_clinical_context``)
ingested through the ingestion services, analysed, and the clinical sections checked against counts
taken from the generated rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from monitor.domain.periods import Period
from monitor.service.analyze import analyze_period
from monitor.service.ingest import ingest_ground_truth, ingest_predictions
from monitor.synthetic import DemoScenario, add_clinical_context, generate, write_csv


def test_clinical_scenario_through_ingestion_and_analysis(app: Any, tmp_path: Path, analysis_validator: Any) -> None:
    data = add_clinical_context(generate(DemoScenario(seed=8, scale=0.001, quarters=("2025Q3",))), seed=8)
    for name, frame in (("p.csv", data.predictions), ("g.csv", data.ground_truth)):
        write_csv(frame, tmp_path / name)
    ingest_predictions(app.open_log(tmp_path / "p.csv"), source="p.csv", uow=app.uow,
                       hash_patient=app.patient_hasher(), clock=app.clock, actor="t")
    ingest_ground_truth(app.open_log(tmp_path / "g.csv"), source="g.csv", uow=app.uow, clock=app.clock, actor="t")
    document = json.loads(json.dumps(analyze_period("lung-nodule-ct", Period.parse("2025Q3"), uow=app.uow,
                                                    clock=app.clock, actor="t", cutoff=app.clock()).document))
    assert not [e.message for e in analysis_validator.iter_errors(document)]
    p = data.predictions
    deployed = p.loc[p["model_version"] == "2.1.0"]

    failures = [r for r in document["failure_rate"] if r["stratum"] == "overall" and r["model_version"] == "2.1.0"]
    assert len(failures) == 1
    failed = deployed.loc[deployed["result_status"] != "ok"]
    assert failures[0]["failures"] == len(failed) > 0 and failures[0]["attempts"] == len(deployed)
    codes = (failed["result_status"] + ":" + failed["failure_reason"]).value_counts()
    assert failures[0]["by_code"] == {str(k): int(v) for k, v in codes.items()}

    read = deployed.loc[deployed["human_label"].notna()]
    agreement = next(r for r in document["human_ai_agreement"] if r["stratum"] == "overall")
    assert agreement["cases"] == len(read)
    assert agreement["kappa"] == pytest.approx(cohen_kappa_score(read["predicted_label"].astype(int),
                                                                 read["human_label"].astype(int)))

    volumes = next(r for r in document["volume_agreement"] if r["stratum"] == "overall"
                   and r["model_version"] == "2.1.0")
    measured = deployed.loc[deployed["ai_volume_mm3"].notna()]
    d = np.log(measured["ai_volume_mm3"].astype(float) / measured["reviewed_volume_mm3"].astype(float))
    assert volumes["cases"] == len(measured) and volumes["mean_log_ratio"] == pytest.approx(d.mean(), abs=1e-9)

    comparison = {r["metric"]: r for r in document["model_version_comparison"]}
    assert set(comparison) == {"auc", "sensitivity", "specificity"}
    assert comparison["auc"]["version_a"] == "2.1.0" and comparison["auc"]["version_b"] == "2.2.0-shadow"
    shadow_studies = set(p.loc[p["model_version"] == "2.2.0-shadow", "study_uid"])
    ok_studies = set(deployed.loc[deployed["result_status"] == "ok", "study_uid"])
    assert comparison["auc"]["matched_studies"] == len(shadow_studies & ok_studies)
    assert comparison["auc"]["label_conflicts"] == 0
