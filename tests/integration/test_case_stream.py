"""The CUSUM charts' case stream read from an instant on (issue 20): ``known_case_stream(since=t)`` is exactly
the suffix of the whole stream known at or after ``t``, on both engines; what a chart resumed from a
checkpoint at ``t`` is fed (docs/sequential.md, section 1c).

A case is known at the later of its prediction's and its label's ingestion (per matured cohort: or its
maturity); the log below has cases in each situation: labels delivered before their predictions, cases
delivered early but predicted late (they mature after a cut between deliveries), late labels, a correction and
a retraction. Every cut between and at the deliveries is compared, for each outcome, both cohort rules and
streams ending at the cut-off or earlier (a period's end), and streams ending just after a case matures.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.integration.test_cusum_checkpoints import _ingest  # one delivery, stamped at its instant

DEVICE = "lung-nodule-ct"
CUTOFF = datetime.fromisoformat("2026-01-31T00:00:00+00:00")
#: Delivery instants (UTC): predictions and labels arrive in batches at these moments.
DELIVERIES = [datetime.fromisoformat(f"2025-{m}T06:00:00+00:00") for m in ("07-20", "08-10", "09-05", "09-25")]
#: Ends of the streams read: the cut-off, and instants between deliveries (a period's end before the cut-off).
UNTIL = [CUTOFF, DELIVERIES[2] + timedelta(hours=1), DELIVERIES[3] - timedelta(days=3)]


def _log(seed: int) -> list[tuple[datetime, str, pd.DataFrame]]:
    """(arrival, kind, rows): 80 predictions of the third quarter, their labels (a fifth delivered before
    the prediction), one correction and one retraction."""
    rng = np.random.default_rng(seed)
    n = 80
    predicted = pd.Timestamp("2025-07-01", tz="UTC") + pd.to_timedelta(np.sort(rng.uniform(0, 80, n)), unit="D")
    predicted = predicted.round("s")
    positive = rng.random(n) < 0.5
    call = np.where(positive, rng.random(n) < 0.8, rng.random(n) < 0.3).astype(int)
    predictions = pd.DataFrame({
        "prediction_id": [f"p{i:03d}" for i in range(n)], "device_id": DEVICE, "model_version": "2.1.0",
        "site_id": "site-01", "predicted_at": predicted, "score": np.where(call == 1, 0.8, 0.2),
        "predicted_label": call, "patient_id": [f"pt{i:03d}" for i in range(n)],
        "age": rng.integers(40, 90, n).astype(float), "sex": rng.choice(["F", "M"], n),
        "emphysema_grade": rng.choice(["none", "mild"], n), "scanner_vendor": "GE"})
    grid = pd.DatetimeIndex(DELIVERIES)
    first = np.minimum(np.searchsorted(grid.asi8, predicted.asi8, side="right"), len(grid) - 1)
    p_slot = np.minimum(first + rng.integers(0, 2, n), len(grid) - 1)  # some predictions arrive a delivery late
    confirmed = predicted + pd.to_timedelta(rng.uniform(0.5, 3, n), unit="D").round("s")
    early_label = rng.random(n) < 0.2  # the label reaches the service before its prediction
    g_slot = np.where(early_label, np.maximum(p_slot - 1, 0), np.minimum(p_slot + rng.integers(0, 2, n), len(grid) - 1))
    labelled = (rng.random(n) < 0.9) & (grid[g_slot] > confirmed)
    truth = pd.DataFrame({"prediction_id": predictions["prediction_id"], "device_id": DEVICE,
                          "label": positive.astype(int), "confirmed_at": confirmed, "source": "histopathology",
                          "intervention_at": pd.NaT, "correction_reason": ""})
    events = [(grid[s].to_pydatetime(), "p", predictions.loc[p_slot == s]) for s in range(len(grid))]
    events += [(grid[s].to_pydatetime(), "g", truth.loc[labelled & (g_slot == s)]) for s in range(len(grid))]
    flipped = int(np.flatnonzero(labelled & (g_slot < len(grid) - 1))[0])
    events.append((grid[-1].to_pydatetime() + timedelta(hours=1), "g", truth.loc[[flipped]].assign(
        label=1 - truth.loc[flipped, "label"], correction_reason="panel re-read")))
    retracted = predictions.loc[[int(np.flatnonzero(p_slot == 0)[0])], ["device_id", "prediction_id"]]
    events.append((grid[1].to_pydatetime() + timedelta(hours=2), "r", retracted.assign(
        retracted_at=(grid[1] + pd.Timedelta(hours=2)).isoformat(), reason="recalled")))
    order = {"g": 0, "p": 1, "r": 2}  # at one instant the labels are ingested first
    return sorted(((w, k, r) for w, k, r in events if not r.empty), key=lambda e: (e[0], order[e[1]]))


def _read(unit: Any, config: Any, until: datetime, **kwargs: Any) -> pd.DataFrame:
    chunks = list(unit.case_stream.known_case_stream(DEVICE, "2.1.0", until=until, cutoff=CUTOFF,
                                                     attributes=config.strata.attributes, chunk_rows=7, **kwargs))
    frame = pd.concat(chunks, ignore_index=True) if chunks else pd.DataFrame()
    return frame.astype({c: str for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)})


@pytest.mark.parametrize("seed", [3])
def test_the_stream_from_an_instant_is_the_suffix_of_the_whole_stream(  # type: ignore[no-untyped-def]
        app, clock, tmp_path, seed) -> None:
    for i, (when, kind, rows) in enumerate(_log(seed)):
        _ingest(app, clock, tmp_path, when, kind, rows, i)
    cuts = sorted({*DELIVERIES, *(d + timedelta(hours=1) for d in DELIVERIES),
                   *(d - timedelta(days=9) for d in DELIVERIES), DELIVERIES[-1] + timedelta(days=30)})
    parts_seen = {"label ingested since": 0, "prediction ingested since": 0, "matured since": 0}
    with app.uow() as unit:
        config = unit.devices.get(DEVICE)
        rows = [tuple(pd.Timestamp(v) if pd.Timestamp(v).tzinfo else pd.Timestamp(v).tz_localize("UTC") for v in r)
                for r in unit.case_stream._conn.exec_driver_sql(
                    "SELECT p.ingested_at, g.ingested_at, p.predicted_at FROM predictions p JOIN ground_truth g "
                    "ON g.device_id = p.device_id AND g.prediction_id = p.prediction_id AND g.is_latest").all()]
        # streams ending just after a case matures (known-at = its maturity): the upper bound of the matured part
        matured = sorted(predicted + pd.Timedelta(days=20) for p_in, g_in, predicted in rows
                         if predicted + pd.Timedelta(days=20) - pd.Timedelta(hours=1) > max(p_in, g_in))
        for moment in matured[:3]:
            since, until = (moment - pd.Timedelta(hours=1)).to_pydatetime(), (moment + pd.Timedelta(milliseconds=1))
            for label in (None, 0, 1):
                whole = _read(unit, config, until.to_pydatetime(), label=label, mature_after_days=20)
                read = _read(unit, config, until.to_pydatetime(), label=label, mature_after_days=20, since=since)
                if whole.empty:
                    assert read.empty and label is not None, (moment, label)
                    continue
                suffix = whole.loc[whole["known_at"] >= pd.Timestamp(since).value].reset_index(drop=True)
                assert len(read) == len(suffix) and (label is not None or len(read) >= 1), (moment, label)
                if len(read):
                    pd.testing.assert_frame_equal(read, suffix, check_dtype=False)
        for mature, label, until in itertools.product((None, 20), (None, 0, 1), UNTIL):
            whole = _read(unit, config, until, label=label, mature_after_days=mature)
            assert len(whole) > 5, (mature, label, until)
            for since in (c for c in cuts if c < until):
                suffix = whole.loc[whole["known_at"] >= pd.Timestamp(since).value].reset_index(drop=True)
                read = _read(unit, config, until, label=label, mature_after_days=mature, since=since)
                if suffix.empty:
                    assert read.empty, (mature, label, until, since)
                    continue
                pd.testing.assert_frame_equal(read, suffix, check_dtype=False, obj=f"{mature} {label} {until} {since}")
    assert matured  # the log has cases known by each of the three instants at some cut
    for since in cuts:
        for p_in, g_in, predicted in rows:
            if g_in >= since:
                parts_seen["label ingested since"] += 1
            elif p_in >= since:
                parts_seen["prediction ingested since"] += 1
            elif predicted + pd.Timedelta(days=20) >= since:
                parts_seen["matured since"] += 1
    assert all(parts_seen.values()), parts_seen
