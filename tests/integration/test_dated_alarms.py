"""Sequential charts date their alarms: a re-run at a later cut-off never moves an alarm raised earlier
(issue 19, item 6), on both engines.

Small synthetic logs arrive in batches with the clock set to their arrival: predictions of July and
August, then labels in three deliveries, the last one holding late labels of July predictions (mostly
misses) that the old prediction-time order would have inserted before the positions already charted.
The charts are read through the service's own section function (real database streaming).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from monitor.domain.periods import Period
from monitor.service.ingest import ingest_ground_truth, ingest_predictions
from monitor.service.cusum_charts import cusum_charts as _cusum
from monitor.service.sections import Window
from monitor.stats.sequential import bernoulli_cusum_path, bernoulli_cusum_state
from monitor.synthetic import write_csv

DEVICE = "lung-nodule-ct"
TZ = ZoneInfo("Asia/Shanghai")
Q3 = Period.parse("2025Q3")
Q4 = Period.parse("2025Q4")


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


#: (what, arrival instant): the order in which the service learns things
P1, G1, G2, P2, G3, G4 = (_utc("2025-08-20T00:00:00"), _utc("2025-08-21T00:00:00"), _utc("2025-09-05T00:00:00"),
                          _utc("2025-09-12T00:00:00"), _utc("2025-09-20T00:00:00"), _utc("2025-10-20T00:00:00"))
CUTOFF_A, CUTOFF_B, CUTOFF_C = _utc("2025-09-10T00:00:00"), _utc("2025-09-25T00:00:00"), _utc("2025-12-01T00:00:00")


def _logs(seed: int = 19) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Predictions (July to early September) and their labels, each with the instant it reaches the service."""
    rng = np.random.default_rng(seed)
    n = 900
    at = pd.Timestamp("2025-07-01T00:00:00+08:00") + pd.to_timedelta(np.sort(rng.uniform(0, 70, n)), unit="D")
    positive = rng.random(n) < 0.7
    july = at < pd.Timestamp("2025-08-01T00:00:00+08:00")
    # Late labels of July are mostly misses: a burst the prediction-time order would replay first.
    miss = rng.random(n) < np.where(july, 0.45, 0.25)
    call = np.where(positive, ~miss, rng.random(n) < 0.1).astype(int)
    score = np.where(call == 1, rng.uniform(0.55, 0.99, n), rng.uniform(0.01, 0.45, n)).round(3)
    predictions = pd.DataFrame({
        "prediction_id": [f"p{i:05d}" for i in range(n)], "device_id": DEVICE, "model_version": "2.1.0",
        "site_id": "site-01", "predicted_at": at, "score": score, "predicted_label": call,
        "patient_id": [f"pt{i:05d}" for i in range(n)], "age": rng.integers(40, 90, n).astype(float),
        "sex": rng.choice(["F", "M"], n), "emphysema_grade": rng.choice(["none", "mild"], n),
        "scanner_vendor": "GE"})
    predictions["arrives"] = np.where(at < pd.Timestamp(P1), P1, P2)
    arrives = np.where(at < pd.Timestamp(P1), np.where(july, np.where(rng.random(n) < 0.5, G1, G3), G2),
                       np.where(rng.random(n) < 0.5, G3, G4))
    truth = pd.DataFrame({"prediction_id": predictions["prediction_id"], "device_id": DEVICE,
                          "label": positive.astype(int), "source": "histopathology", "intervention_at": pd.NaT})
    truth["arrives"] = arrives
    truth["confirmed_at"] = [min(a + pd.Timedelta(days=3), pd.Timestamp(r)).tz_convert(TZ)
                             for a, r in zip(at, truth["arrives"], strict=True)]
    return predictions, truth


def _ingest(app, clock, tmp_path: Path, predictions: pd.DataFrame, truth: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    batches = [("p", when, predictions.loc[predictions["arrives"] == when]) for when in (P1, P2)]
    batches += [("g", when, truth.loc[truth["arrives"] == when]) for when in (G1, G2, G3, G4)]
    for kind, when, rows in sorted(batches, key=lambda b: b[1]):
        clock.now = when - timedelta(seconds=1)  # the stepping clock stamps the batch at `when`
        path = write_csv(rows.drop(columns="arrives"), tmp_path / f"{kind}-{when:%m%d}.csv")
        if kind == "p":
            ingest_predictions(app.open_log(path), source=path.name, uow=app.uow, hash_patient=app.patient_hasher(),
                               clock=app.clock, actor="t")
        else:
            ingest_ground_truth(app.open_log(path), source=path.name, uow=app.uow, clock=app.clock, actor="t")


def _charts(app, period: Period, cutoff: datetime) -> dict[tuple[str, str], dict]:  # type: ignore[no-untyped-def]
    start, end = period.bounds_utc(TZ)
    with app.uow() as unit:
        config = unit.devices.get(DEVICE)
        cells = unit.results.confusion_cells(DEVICE, start=start, end=end, cutoff=cutoff,
                                             attributes=config.strata.attributes)
        if cells.empty:  # charts exist for the model versions with cases in the period
            cells = unit.results.confusion_cells(DEVICE, start=Q3.bounds_utc(TZ)[0], end=end, cutoff=cutoff,
                                                 attributes=config.strata.attributes)
        rows = _cusum(unit, config, period, Window(DEVICE, start, end, cutoff), cells)
    return {(r["stratum"], r["metric"]): r for r in rows}


def test_a_later_cut_off_only_appends_cases_and_never_moves_an_alarm(app, clock, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    predictions, truth = _logs()
    _ingest(app, clock, tmp_path, predictions, truth)
    early, late = _charts(app, Q3, CUTOFF_A), _charts(app, Q3, CUTOFF_B)
    raised = [(key, alarm) for key, chart in early.items() for alarm in chart["alarms"]]
    assert raised, "the scenario should raise alarms by the first cut-off"
    for key, alarm in raised:
        chart = late[key]
        assert alarm in chart["alarms"], (key, alarm)  # same case index, date, instant and statistic
        assert chart["cases_since_start"] >= early[key]["cases_since_start"]
    assert sum(c["alarms_in_period"] for c in late.values()) > len(raised), "the late labels should alarm too"
    overall = late[("overall", "sensitivity")]
    assert all(a["known_on"] <= "2025-09-30" for a in overall["alarms"])
    assert overall["first_alarm"] == overall["alarms"][0]
    first = overall["first_alarm"]
    assert first["known_at_utc"].endswith("Z") and first["case_in_period"] <= first["case_index"]
    # The period's segment is closed by the period's end: a third cut-off adds nothing to 2025Q3 ...
    final = _charts(app, Q3, CUTOFF_C)
    assert {k: c["alarms"] for k, c in final.items()} == {k: c["alarms"] for k, c in late.items() if k in final}
    # ... and the labels known in October form 2025Q4's segment, continuing the same chart.
    q4 = _charts(app, Q4, CUTOFF_C)[("overall", "sensitivity")]
    assert q4["cases_since_start"] == final[("overall", "sensitivity")]["cases_since_start"] + q4["cases_in_period"]
    assert all(a["case_index"] > final[("overall", "sensitivity")]["cases_since_start"] for a in q4["alarms"])


def test_the_chart_is_the_cusum_of_the_cases_in_known_at_order_and_the_old_order_moved_alarms(
        app, clock, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Oracle: the overall sensitivity chart equals a direct pass (monitor.stats) over the positives sorted by
    (arrival of the later of prediction and label, clinical time, row order); and the prediction-time order
    of the old charts would have moved the first alarm between the two cut-offs (the test has teeth)."""
    predictions, truth = _logs()
    _ingest(app, clock, tmp_path, predictions, truth)
    cases = predictions.merge(truth, on=["prediction_id", "device_id"], suffixes=("_p", "_g"))
    cases["known"] = np.maximum(pd.to_datetime(cases["arrives_p"], utc=True), pd.to_datetime(cases["arrives_g"], utc=True))
    cases["clinical"] = np.maximum(cases["predicted_at"], pd.to_datetime(cases["confirmed_at"], utc=True))
    for cutoff in (CUTOFF_A, CUTOFF_B):
        chart = _charts(app, Q3, cutoff)[("overall", "sensitivity")]
        seen = cases.loc[(cases["label"] == 1) & (cases["known"] <= cutoff)].sort_values(["known", "clinical",
                                                                                           "prediction_id"])
        misses = (seen["predicted_label"] == 0).to_numpy()
        p0, p1, h = chart["charted_in_control_event_rate"], chart["charted_designed_event_rate"], chart["h"]
        assert chart["cases_since_start"] == len(seen)
        assert abs(chart["statistic"] - bernoulli_cusum_state(misses, p0, p1, h)) < 1e-9
        path = bernoulli_cusum_path(misses, p0, p1, h)
        assert [a["case_index"] for a in chart["alarms"]] == [int(i) + 1 for i in path.alarms]
        stamps = pd.DatetimeIndex(seen["known"]).tz_convert("UTC")
        assert [a["known_at_utc"] for a in chart["alarms"]] == [
            stamps[i].isoformat().replace("+00:00", "Z") for i in path.alarms]
        assert [a["known_on"] for a in chart["alarms"]] == [stamps[i].tz_convert(TZ).date().isoformat()
                                                            for i in path.alarms]
    firsts = []
    for cutoff in (CUTOFF_A, CUTOFF_B):
        seen = cases.loc[(cases["label"] == 1) & (cases["known"] <= cutoff)].sort_values("predicted_at")
        path = bernoulli_cusum_path((seen["predicted_label"] == 0).to_numpy(), p0, p1, h)
        firsts.append(seen["prediction_id"].iloc[path.first_alarm] if path.first_alarm is not None else None)
    assert firsts[0] != firsts[1], "in prediction-time order the late labels move the first alarm"
