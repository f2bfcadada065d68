"""The clinical sections (failure rate, human-AI agreement, volume agreement, paired model-version
comparison) computed through the database on both engines, against direct computations on the rows
inserted (scikit-learn, scipy, numpy and the per-case statistics functions)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats
from sklearn.metrics import cohen_kappa_score
from sqlalchemy import select, text
from statsmodels.stats.proportion import proportion_confint

from monitor.adapters.db.tables import (
    findings,
    ground_truth,
    ingestion_batches,
    prediction_failures,
    prediction_retractions,
    predictions,
)
from monitor.domain.device import DeviceConfig
from monitor.domain.periods import Period
from monitor.service.analyze import analyze_period
from monitor.service.devices import register_device
from monitor.stats.auc import paired_delong

ROOT = Path(__file__).resolve().parents[3]
DEVICE = "lung-nodule-ct"
START = datetime(2025, 7, 1, tzinfo=UTC)  # inside 2025Q3 in Asia/Shanghai
INGESTED = datetime(2025, 10, 5, tzinfo=UTC)
CUTOFF = datetime(2026, 1, 31, tzinfo=UTC)
STUDIES = 420


def _cases(seed: int = 5) -> pd.DataFrame:
    """One row per (study, model version): 2.1.0 on every study, 2.2.0 in shadow on 60% of them."""
    rng = np.random.default_rng(seed)
    label = rng.random(STUDIES) < 0.35
    latent = rng.normal(label * 1.6, 1.0)
    rows = []
    for version, noise in (("2.1.0", 0.0), ("2.2.0", 0.5)):
        score = np.round(1 / (1 + np.exp(-(latent + rng.normal(0, noise, STUDIES) - 0.6))), 4)
        for i in range(STUDIES):
            if version == "2.2.0" and i % 5 in (1, 3):
                continue
            human = int(rng.random() < (0.85 if label[i] else 0.12)) if version == "2.1.0" and i % 10 < 7 else None
            reviewed = float(rng.uniform(80, 900)) if i % 3 == 0 else None
            ai = float(reviewed * np.exp(rng.normal(0.04, 0.15))) if reviewed else None
            rows.append({"prediction_id": f"{version}-{i:05d}", "model_version": version, "study_uid": f"1.2.3.{i}",
                         "score": float(score[i]), "predicted_label": int(score[i] >= 0.5), "truth": int(label[i]),
                         "labelled": i % 9 != 4, "human_label": human, "ai_volume_mm3": ai,
                         "reviewed_volume_mm3": reviewed, "sex": "F" if i % 2 else "M", "age": 40 + i % 45,
                         "predicted_at": START + timedelta(hours=5 * i + (1 if version == "2.2.0" else 0))})
    return pd.DataFrame(rows)


FAILURES = [("2.1.0", "timeout", 18), ("2.1.0", "unreadable_series", 9), ("2.2.0", "timeout", 2)]


def _records(cases: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as the database takes them: missing values as None, whole numbers as int."""
    rows = cases.astype(object).where(cases.notna(), None).to_dict("records")
    return [r | {"human_label": None if r["human_label"] is None else int(r["human_label"]),
                 "predicted_at": r["predicted_at"].to_pydatetime()} for r in rows]


def _insert(engine: Any, cases: pd.DataFrame) -> None:
    common = {"device_id": DEVICE, "site_id": "site-01", "patient_hash": "0" * 64, "row_hash": "1" * 64,
              "batch_id": 1, "ingested_at": INGESTED}
    with engine.begin() as conn:
        conn.execute(ingestion_batches.insert().values(
            batch_id=1, kind="predictions", source_name="test", source_format="csv", source_sha256="2" * 64,
            rows_total=0, accepted=0, duplicates=0, rejected=0, started_at=INGESTED, finished_at=INGESTED, actor="t"))
        conn.execute(predictions.insert(), [common | {
            k: r[k] for k in ("prediction_id", "model_version", "study_uid", "score", "predicted_label", "human_label",
                              "ai_volume_mm3", "reviewed_volume_mm3", "sex", "age", "predicted_at")}
            | {"attributes": {}} for r in _records(cases)])
        # ground truth on the 2.1.0 prediction of a labelled study; a second, conflicting label on one 2.2.0 twin
        labelled = cases.loc[(cases["model_version"] == "2.1.0") & cases["labelled"]]
        truth = [{"device_id": DEVICE, "prediction_id": r["prediction_id"], "version": 1, "label": r["truth"],
                  "confirmed_at": INGESTED, "source": "histopathology", "row_hash": "3" * 64, "batch_id": 1,
                  "ingested_at": INGESTED, "is_latest": True} for r in labelled.to_dict("records")]
        truth.append(truth[0] | {"prediction_id": "2.2.0-00000", "label": 1 - truth[0]["label"]})
        conn.execute(ground_truth.insert(), truth)
        failed = [common | {"prediction_id": f"fail-{version}-{code}-{k}", "model_version": version,
                            "predicted_at": START + timedelta(hours=7 * k), "failure_code": code, "age": 50.0,
                            "sex": "F" if k % 2 else "M", "attributes": {}, "study_uid": None}
                  for version, code, count in FAILURES for k in range(count)]
        failed.append(failed[0] | {"prediction_id": "fail-retracted"})
        conn.execute(prediction_failures.insert(), failed)
        retract = {"device_id": DEVICE, "retracted_at": INGESTED, "reason": "test", "batch_id": 1,
                   "ingested_at": INGESTED}
        conn.execute(prediction_retractions.insert(), [retract | {"prediction_id": "fail-retracted"},
                                                        retract | {"prediction_id": "2.1.0-00002"}])
        if conn.dialect.name == "postgresql":  # planner statistics, as autovacuum would gather them
            conn.execute(text("ANALYZE"))


def _register_with_failure_claim(app: Any) -> DeviceConfig:
    data = yaml.safe_load((ROOT / "examples" / "lung-nodule-ct.yaml").read_text(encoding="utf-8"))
    data["claims"]["failure_rate"] = {"maximum": 0.02, "margin": 0.01}
    config = DeviceConfig.model_validate(data)
    register_device(config, uow=app.uow, clock=app.clock, actor="t", source="test")
    return config


@pytest.fixture
def analysed(app):  # type: ignore[no-untyped-def]
    _register_with_failure_claim(app)
    cases = _cases()
    _insert(app.engine, cases)
    outcome = analyze_period(DEVICE, Period.parse("2025Q3"), uow=app.uow, clock=app.clock, actor="t", cutoff=CUTOFF)
    active = cases.loc[cases["prediction_id"] != "2.1.0-00002"].reset_index(drop=True)
    return outcome, active


def _overall(rows: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    found = [r for r in rows if r.get("stratum", "overall") == "overall" and all(r[k] == v for k, v in match.items())]
    assert len(found) == 1, match
    return found[0]


def test_clinical_sections_match_direct_computations(app, analysed, analysis_validator) -> None:  # type: ignore[no-untyped-def]
    outcome, cases = analysed
    document = json.loads(json.dumps(outcome.document))
    errors = [f"{e.json_path}: {e.message}" for e in analysis_validator.iter_errors(document)]
    assert not errors, errors[:5]

    # failure rate: 2.1.0 has 27 failures (the retracted one left out) beside its active results
    v1 = cases.loc[cases["model_version"] == "2.1.0"]
    row = _overall(document["failure_rate"], model_version="2.1.0")
    attempts = len(v1) + 27
    assert (row["failures"], row["results"], row["attempts"]) == (27, len(v1), attempts)
    assert row["by_code"] == {"timeout": 18, "unreadable_series": 9}
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(proportion_confint(27, attempts, method="wilson"))
    assert row["p_value"] == pytest.approx(stats.binomtest(27, attempts, 0.02, alternative="greater").pvalue)
    assert row["status"] == "flagged" and row["finding_id"]
    assert _overall(document["failure_rate"], model_version="2.2.0")["status"] in ("conforming", "inconclusive")  # tested, no excess shown
    with app.engine.connect() as conn:
        kinds = conn.execute(select(findings.c.kind, findings.c.metric, findings.c.finding_id)
                             .where(findings.c.run_id == outcome.run_id, findings.c.kind == "failure_rate")).all()
    assert row["finding_id"] in {k.finding_id for k in kinds} and {k.metric for k in kinds} == {"failure_rate"}

    # human-AI agreement on the cases with a clinician's call
    read = v1.loc[v1["human_label"].notna()]
    agreement = _overall(document["human_ai_agreement"], model_version="2.1.0")
    assert agreement["cases"] == len(read)
    assert agreement["kappa"] == pytest.approx(cohen_kappa_score(read["predicted_label"], read["human_label"]))
    discordant = read.loc[(read["predicted_label"] != read["human_label"]) & read["labelled"]]
    ai_right = int((discordant["predicted_label"] == discordant["truth"]).sum())
    assert (agreement["ai_right"], agreement["human_right"]) == (ai_right, len(discordant) - ai_right)
    assert agreement["mcnemar_p_value"] == pytest.approx(stats.binomtest(ai_right, len(discordant)).pvalue)

    # volume agreement: log ratios from SQL sums equal numpy on the rows
    measured = v1.loc[v1["reviewed_volume_mm3"].notna()]
    d = np.log(measured["ai_volume_mm3"] / measured["reviewed_volume_mm3"]).to_numpy()
    volume = _overall(document["volume_agreement"], model_version="2.1.0")
    assert volume["cases"] == d.size
    assert volume["mean_log_ratio"] == pytest.approx(d.mean(), abs=1e-9)
    assert volume["sd_log_ratio"] == pytest.approx(d.std(ddof=1), rel=1e-7)
    assert volume["ratio_loa_high"] == pytest.approx(np.exp(d.mean() + stats.norm.ppf(0.975) * d.std(ddof=1)))
    outside = np.abs(measured["ai_volume_mm3"] - measured["reviewed_volume_mm3"]) > 0.25 * measured["reviewed_volume_mm3"]
    assert volume["outside_tolerance"] == int(outside.sum())

    # paired comparison of 2.1.0 and 2.2.0 on their common labelled studies (one conflicting label left out)
    wide = cases.pivot(index="study_uid", columns="model_version", values=["score", "predicted_label"]).dropna()
    truth = v1.set_index("study_uid").loc[wide.index]
    keep = truth["labelled"].to_numpy() & (wide.index != "1.2.3.0")
    labels = truth["truth"].to_numpy()[keep]
    bins_a = np.floor(wide[("score", "2.1.0")].to_numpy()[keep] * 1000 + 0.5)
    bins_b = np.floor(wide[("score", "2.2.0")].to_numpy()[keep] * 1000 + 0.5)
    expected = paired_delong(labels, bins_a, bins_b)
    rows = document["model_version_comparison"]
    auc = _overall(rows, metric="auc")
    assert (auc["version_a"], auc["version_b"], auc["label_conflicts"]) == ("2.1.0", "2.2.0", 1)
    assert auc["matched_studies"] == len(wide) and auc["labelled_studies"] == int(keep.sum())
    assert auc["difference"] == pytest.approx(expected.difference, abs=1e-12)
    assert auc["p_value"] == pytest.approx(expected.p_value, rel=1e-9)
    calls_a = wide[("predicted_label", "2.1.0")].to_numpy()[keep]
    calls_b = wide[("predicted_label", "2.2.0")].to_numpy()[keep]
    positive = labels == 1
    a_only = int(((calls_a == 1) & (calls_b == 0) & positive).sum())
    b_only = int(((calls_a == 0) & (calls_b == 1) & positive).sum())
    sensitivity = _overall(rows, metric="sensitivity")
    assert (sensitivity["cases"], sensitivity["a_only"], sensitivity["b_only"]) == (int(positive.sum()), a_only, b_only)
    assert sensitivity["difference"] == pytest.approx((a_only - b_only) / positive.sum())
    assert sensitivity["p_value"] == pytest.approx(stats.binomtest(a_only, a_only + b_only).pvalue)


def test_sections_are_absent_without_their_inputs(app) -> None:  # type: ignore[no-untyped-def]
    cases = _cases().assign(human_label=None, ai_volume_mm3=None, reviewed_volume_mm3=None)
    cases = cases.loc[cases["model_version"] == "2.1.0"]
    with app.engine.begin() as conn:
        conn.execute(ingestion_batches.insert().values(
            batch_id=1, kind="predictions", source_name="test", source_format="csv", source_sha256="2" * 64,
            rows_total=0, accepted=0, duplicates=0, rejected=0, started_at=INGESTED, finished_at=INGESTED, actor="t"))
        conn.execute(predictions.insert(), [{
            "device_id": DEVICE, "site_id": "site-01", "patient_hash": "0" * 64, "row_hash": "1" * 64, "batch_id": 1,
            "ingested_at": INGESTED, "attributes": {}, **{k: r[k] for k in (
                "prediction_id", "model_version", "study_uid", "score", "predicted_label", "sex", "age",
                "predicted_at")}} for r in _records(cases)])
    document = analyze_period(DEVICE, Period.parse("2025Q3"), uow=app.uow, clock=app.clock, actor="t",
                              cutoff=CUTOFF).document
    for section in ("failure_rate", "human_ai_agreement", "volume_agreement", "model_version_comparison"):
        assert section not in document
    assert document["completeness"]["total"]["predictions"] == len(cases)
