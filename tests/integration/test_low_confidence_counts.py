"""The low-confidence counts (monitor.adapters.db.repositories.low_confidence) read the window as every clinical
section does, on both engines: a retraction removes a result, a corrected label replaces the first version, and
a data cut-off before either sees the results as they were."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from monitor.adapters.config_file import load_device_config
from monitor.domain.periods import Period
from monitor.service.devices import register_device
from monitor.service.ingest import ingest_ground_truth, ingest_predictions, ingest_retractions
from monitor.synthetic import write_csv
from monitor.synthetic.breast_mri import BreastMriScenario, generate

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "breast-mri-low-confidence.yaml"
DEVICE, PERIOD = "breast-mri", Period.parse("2025Q3")


def _counts(app: Any, cutoff: Any) -> pd.DataFrame:
    with app.uow() as unit:
        config = unit.devices.get(DEVICE)
        start, end = PERIOD.bounds_utc(ZoneInfo(config.monitoring.timezone))
        return unit.low_confidence.counts(DEVICE, start=start, end=end, cutoff=cutoff,
                                          attributes=config.strata.attributes)


def _tally(frame: pd.DataFrame) -> dict[tuple[Any, Any, Any], int]:
    out: dict[tuple[Any, Any, Any], int] = {}
    for flag, call, label, n in frame[["low_confidence", "predicted_label", "label", "n"]].itertuples(index=False):
        key = (int(flag), int(call), None if label is None else int(label))
        out[key] = out.get(key, 0) + int(n)
    return out


def _expected(predictions: pd.DataFrame, truth: pd.DataFrame) -> dict[tuple[Any, Any, Any], int]:
    cases = predictions.merge(truth[["prediction_id", "label"]], on="prediction_id", how="left")
    cases["label"] = cases["label"].fillna(-1)
    counts = cases.groupby(["low_confidence", "predicted_label", "label"]).size()
    return {(int(f), int(c), None if t < 0 else int(t)): int(n) for (f, c, t), n in counts.items()}


def test_retractions_corrections_and_the_cutoff(app: Any, tmp_path: Path) -> None:
    register_device(load_device_config(EXAMPLE), uow=app.uow, clock=app.clock, actor="t", source=str(EXAMPLE))
    data = generate(BreastMriScenario(quarters=("2025Q3",), cases_per_quarter=300))
    ingest_predictions(app.open_log(write_csv(data.predictions, tmp_path / "p.csv")), source="p.csv", uow=app.uow,
                       hash_patient=app.patient_hasher(), clock=app.clock, actor="t")
    ingest_ground_truth(app.open_log(write_csv(data.ground_truth, tmp_path / "g.csv")), source="g.csv",
                        uow=app.uow, clock=app.clock, actor="t")
    before = app.clock()
    first = _counts(app, before)
    assert _tally(first) == _expected(data.predictions, data.ground_truth)
    assert set(first.columns) == {"model_version", "age_band", "scanner_vendor", "field_strength",
                                  "breast_density", "low_confidence", "predicted_label", "label", "n"}

    flagged = data.predictions.loc[data.predictions["low_confidence"] == 1, "prediction_id"]
    retracted = flagged.iloc[:2]
    ingest_retractions(app.open_log(write_csv(pd.DataFrame({
        "device_id": DEVICE, "prediction_id": retracted, "retracted_at": "2025-10-01T00:00:00+00:00",
        "reason": "wrong series"}), tmp_path / "r.csv")), source="r.csv", uow=app.uow, clock=app.clock, actor="t")
    fix = data.ground_truth.loc[~data.ground_truth["prediction_id"].isin(retracted)].head(5).copy()
    fix["label"] = 1 - fix["label"]
    fix["correction_reason"] = "pathology re-read"
    ingest_ground_truth(app.open_log(write_csv(fix, tmp_path / "fix.csv")), source="fix.csv", uow=app.uow,
                        clock=app.clock, actor="t")

    predictions = data.predictions.loc[~data.predictions["prediction_id"].isin(retracted)]
    truth = pd.concat([data.ground_truth.loc[~data.ground_truth["prediction_id"].isin(fix["prediction_id"])], fix])
    assert _tally(_counts(app, app.clock())) == _expected(predictions, truth)
    assert _tally(_counts(app, before)) == _tally(first)  # the earlier cut-off sees neither
