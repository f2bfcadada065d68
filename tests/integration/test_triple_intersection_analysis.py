"""A three-way intersection through the whole analysis, on both engines (issue 17 item 8).

A small crafted deployment of 3,200 cases in 2025Q3: every (age band, sex, emphysema grade, vendor) cell holds
30 confirmed positives and 20 negatives. The AI misses 1 positive in 30 everywhere except in the triple
``age_band=>=75 & sex=F & emphysema_grade=severe`` (2 cells, 60 positives), where it misses 36: a drop that
exists only in the triple (the single strata containing it stay above the goal 0.88). The device monitors
the triple ``[age_band, sex, emphysema_grade]`` and the unrelated pair ``[sex, scanner_vendor]``.

Checked against independent recounts from the frame: the triple's counts (pandas), its family (exploratory,
Benjamini-Hochberg: not listed in ``confirmatory_intersections``), that it is the only flagged result and opens
the only ticket, and its time-to-intervention row against lifelines' Kaplan-Meier median (a different
implementation from the statsmodels one the service uses; where the curve rests on one half, the midpoint of
that flat, R's ``quantile.survfit`` convention, docs/methods.md section 14) and its share within the SLA.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
import yaml

from monitor.adapters.config_file import load_device_config
from monitor.domain.periods import Period
from monitor.service.analyze import analyze_period
from monitor.service.devices import register_device
from monitor.service.ingest import ingest_ground_truth, ingest_predictions
from monitor.synthetic import write_csv

ROOT = Path(__file__).resolve().parents[2]
TZ = ZoneInfo("Asia/Shanghai")
PERIOD = Period.parse("2025Q3")
CUTOFF = datetime(2026, 1, 31, 16, 0, tzinfo=timezone.utc)
AGES = {"<45": 40, "45-64": 55, "65-74": 70, ">=75": 80}
SEXES, GRADES, VENDORS = ("F", "M"), ("none", "mild", "moderate", "severe"), ("GE", "Siemens")
POSITIVES, NEGATIVES = 30, 20
TARGET = (">=75", "F", "severe")
TRIPLE_KEY = "age_band=>=75 & emphysema_grade=severe & sex=F"


def _logs(*, drop: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Predictions and ground truth of the crafted deployment (see the module docstring); ``drop=False``: the
    null variant, the triple missing 1 positive in 30 like every other cell."""
    combos = [(b, s, g, v) for b in AGES for s in SEXES for g in GRADES for v in VENDORS]
    total = len(combos) * (POSITIVES + NEGATIVES)
    start = datetime(2025, 7, 1, 2, 0, tzinfo=TZ)
    predictions, truth = [], []
    i = 0
    for band, sex, grade, vendor in combos:
        missed = 18 if drop and (band, sex, grade) == TARGET else 1
        for k in range(POSITIVES + NEGATIVES):
            positive = k < POSITIVES
            call = int(k >= missed) if positive else int(k - POSITIVES < 2)
            at = start + timedelta(minutes=40 * ((i * 1031) % total), seconds=k)  # spread over the quarter
            pid = f"TR-{i:05d}"
            predictions.append({"prediction_id": pid, "device_id": "lung-nodule-ct", "model_version": "2.1.0",
                                "site_id": "site-sh-01", "predicted_at": at,
                                "score": round(0.8 - 0.001 * k if call else 0.2 + 0.001 * k, 4),
                                "predicted_label": call, "patient_id": f"PT{i:06d}", "age": AGES[band], "sex": sex,
                                "emphysema_grade": grade, "scanner_vendor": vendor})
            treated = positive and (k + i) % 7 != 3  # one positive in seven without intervention: censored
            days = 3 + (11 * k + 5 * i) % 97
            truth.append({"prediction_id": pid, "device_id": "lung-nodule-ct", "label": int(positive),
                          "confirmed_at": at + timedelta(days=10), "source": "histopathology",
                          "intervention_at": at + timedelta(days=days, hours=-1) if treated else None})
            i += 1
    frame_t = pd.DataFrame(truth)
    frame_t["intervention_at"] = pd.to_datetime(frame_t["intervention_at"])
    return pd.DataFrame(predictions), frame_t


def _register(app: Any, folder: Path) -> None:
    config = yaml.safe_load((ROOT / "examples" / "lung-nodule-ct.yaml").read_text(encoding="utf-8"))
    config["strata"]["intersections"] = [["sex", "scanner_vendor"], ["age_band", "sex", "emphysema_grade"]]
    config["labels"]["provisional_sources"] = []  # every label final on arrival (one quarter, no earlier cohort)
    path = folder / "device-triple.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    register_device(load_device_config(path), uow=app.uow, clock=app.clock, actor="pytest", source=str(path))


def _analyse(app: Any, folder: Path, *, drop: bool) -> tuple[Any, pd.DataFrame]:
    _register(app, folder)
    predictions, truth = _logs(drop=drop)
    common = dict(uow=app.uow, clock=app.clock, actor="t")
    ingest_predictions(app.open_log(write_csv(predictions, folder / "p.csv")), source="p.csv",
                       hash_patient=app.patient_hasher(), **common)
    ingest_ground_truth(app.open_log(write_csv(truth, folder / "g.csv")), source="g.csv", **common)
    outcome = analyze_period("lung-nodule-ct", PERIOD, cutoff=max(CUTOFF, app.clock()), **common)
    return outcome, predictions.merge(truth, on=["prediction_id", "device_id"])


@pytest.fixture
def analysed(app: Any, tmp_path: Path) -> tuple[dict[str, Any], pd.DataFrame]:
    outcome, cases = _analyse(app, tmp_path, drop=True)
    assert len(outcome.opened_tickets) == 1  # the triple's sensitivity
    return outcome.document, cases


def _in_triple(cases: pd.DataFrame) -> pd.DataFrame:
    return cases.loc[(cases["age"] >= 75) & (cases["sex"] == "F") & (cases["emphysema_grade"] == "severe")]


def _one(rows: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    found = [r for r in rows if all(r.get(k) == v for k, v in match.items())]
    assert len(found) == 1, (match, len(found))
    return found[0]


def _triple_result_is_the_recount_and_the_only_flag(document: dict[str, Any], cases: pd.DataFrame) -> None:
    triple = _in_triple(cases)
    tp = int(((triple["label"] == 1) & (triple["predicted_label"] == 1)).sum())
    fn = int(((triple["label"] == 1) & (triple["predicted_label"] == 0)).sum())
    assert (tp, fn) == (24, 36)
    row = _one(document["results"], stratum=TRIPLE_KEY, metric="sensitivity")
    assert (row["level"], row["successes"], row["trials"]) == (3, tp, tp + fn)
    assert row["estimate"] == pytest.approx(tp / (tp + fn))
    assert row["ci_high"] < row["claim"] - row["margin"]  # the interval lies below the goal 0.88
    assert (row["status"], row["family"]) == ("flagged", "exploratory")
    flagged = {(r["stratum"], r["metric"]) for r in document["results"] if r["status"] == "flagged"}
    assert flagged == {(TRIPLE_KEY, "sensitivity")}  # the planted drop and nothing else
    assert {f["stratum"] for f in document["findings"]} == {TRIPLE_KEY}
    assert ["sex", "scanner_vendor"] in document["rules"]["intersections"]
    assert ["age_band", "sex", "emphysema_grade"] in document["rules"]["intersections"]
    assert sum(1 for r in document["results"] if r["level"] == 3 and r["metric"] == "sensitivity") == 32


def _time_to_intervention_is_the_kaplan_meier_recount(document: dict[str, Any], cases: pd.DataFrame) -> None:
    from lifelines import KaplanMeierFitter

    positives = _in_triple(cases).loc[lambda f: f["label"] == 1]
    start = pd.to_datetime(positives["predicted_at"], utc=True)
    treated = pd.to_datetime(positives["intervention_at"], utc=True)
    cutoff = pd.Timestamp(document["data_cutoff"])
    seen = treated.notna() & (treated <= cutoff)
    seconds = np.round((treated.where(seen, cutoff) - start).dt.total_seconds().to_numpy())
    days = (seconds.astype(np.int64) + 86399) // 86400
    fitter = KaplanMeierFitter().fit(days, event_observed=seen.to_numpy())
    curve = fitter.survival_function_.iloc[:, 0]
    half = np.isclose(curve.to_numpy(), 0.5, rtol=0, atol=1.5e-8)
    if half.any():  # the curve rests on 1/2: R's quantile.survfit convention, the midpoint of that flat
        median = (curve.index[half][0] + curve.index[curve.to_numpy() < 0.5 - 1.5e-8][0]) / 2
    else:
        median = fitter.median_survival_time_
    sla = document["rules"]["intervention_sla_days"]
    row = _one(document["time_to_intervention"], stratum=TRIPLE_KEY)
    assert row["level"] == 3
    assert (row["n"], row["events"], row["censored"]) == (len(positives), int(seen.sum()), int((~seen).sum()))
    assert row["median"] == pytest.approx(median)
    assert row["within_sla"] == pytest.approx(1.0 - float(fitter.survival_function_at_times(sla).iloc[0]))
    # every monitored stratum with cases has its row: overall, 4 + 2 + 4 + 2 single strata (two of the four
    # vendors occur), the pair's 2 x 2 and the triple's 4 x 2 x 4 cells
    assert sorted({r["level"] for r in document["time_to_intervention"]}) == [0, 1, 2, 3]
    assert len(document["time_to_intervention"]) == 1 + 12 + 4 + 32


def _maturity_and_verification_cover_the_triple(document: dict[str, Any], cases: pd.DataFrame) -> None:
    triple = _in_triple(cases)
    maturity = _one(document["maturity"], stratum=TRIPLE_KEY)
    assert (maturity["level"], maturity["predictions"], maturity["labelled"]) == (3, len(triple), len(triple))
    verification = _one(document["verification"], stratum=TRIPLE_KEY)
    assert verification["positive_calls"] == int((triple["predicted_label"] == 1).sum())
    rest = _one(document["stratum_vs_rest"], stratum=TRIPLE_KEY, metric="sensitivity")
    assert (rest["level"], rest["successes"], rest["trials"]) == (3, 24, 60)


def test_a_three_way_intersection_is_analysed_in_every_section(analysed: tuple[dict[str, Any], pd.DataFrame]
                                                               ) -> None:
    """One ingest and analysis per engine, checked three ways (keeps the suite fast)."""
    for check in (_triple_result_is_the_recount_and_the_only_flag, _time_to_intervention_is_the_kaplan_meier_recount,
                  _maturity_and_verification_cover_the_triple):
        check(*analysed)


def test_the_null_variant_flags_nothing(app: Any, tmp_path: Path) -> None:
    """The same deployment without the drop: the triple's sensitivity is 58/60, nothing is flagged, no ticket."""
    outcome, cases = _analyse(app, tmp_path, drop=False)
    row = _one(outcome.document["results"], stratum=TRIPLE_KEY, metric="sensitivity")
    assert (row["successes"], row["trials"], row["family"]) == (58, 60, "exploratory")
    assert [r for r in outcome.document["results"] if r["status"] == "flagged"] == []
    assert outcome.opened_tickets == [] and outcome.updated_tickets == []
