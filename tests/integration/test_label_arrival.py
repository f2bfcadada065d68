"""Maturity-aware evidence through the database on both engines: the label-arrival repository against pandas
on the generated logs, and the demo's required behaviour (issue 19, item 5): the planted sensitivity drop
is decided in the quarter it happens while that quarter's specificity is provisional."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from monitor.domain.device import LabelPolicy
from monitor.domain.evidence import Adjustments, combine
from monitor.domain.periods import Period
from monitor.domain.strata import assign_labels
from monitor.service.label_maturity import assess_label_maturity
from monitor.service.sections import Window
from monitor.service.window import materialised_cases
from monitor.synthetic import DemoScenario

SCENARIO = DemoScenario(seed=21, scale=0.02)
CUTOFF = datetime(2026, 1, 31, 16, 0, tzinfo=timezone.utc)
ZONE = ZoneInfo("Asia/Shanghai")
PLANTED = "age_band=>=75 & emphysema_grade=severe"
#: Negatives confirmed by adjudication or follow-up are final only after the 12-month window (no interval
#: cancer), as are positives confirmed by imaging follow-up; histopathology is final on arrival.
PROVISIONAL = ["follow_up", "adjudication"]


@pytest.fixture
def loaded(app, ingest_scenario):  # type: ignore[no-untyped-def]
    data = ingest_scenario(SCENARIO)
    cutoff = max(CUTOFF, app.clock())
    with app.uow() as unit:
        config = unit.devices.get("lung-nodule-ct")
    cases = data.predictions.merge(data.ground_truth, on=["prediction_id", "device_id"], how="inner")
    return app, config.model_copy(update={"labels": LabelPolicy(provisional_sources=PROVISIONAL)}), cases, cutoff


def _days(later: pd.Series, earlier: pd.Series) -> np.ndarray:
    seconds = (later.dt.tz_convert("UTC") - earlier.dt.tz_convert("UTC")).dt.total_seconds().round()
    return np.maximum(seconds.to_numpy() // 86_400, 0).astype(np.int64)


def _expected_cells(cases: pd.DataFrame, config, start, end, cutoff) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    at = cases["predicted_at"].dt.tz_convert("UTC")
    window = cases.loc[(at >= start) & (at < end)].copy()
    labels = assign_labels(window, config.strata.attributes)
    window = pd.concat([window, labels.set_axis([f"_{c}" for c in labels.columns], axis=1)], axis=1)
    elapsed = pd.Series(cutoff, index=window.index).dt.tz_convert("UTC")
    window["elapsed_days"] = _days(elapsed, window["predicted_at"])
    young = window["predicted_at"].dt.tz_convert("UTC") > cutoff - timedelta(days=config.monitoring.maturity_window_days)
    window["final"] = (~(window["source"].isin(PROVISIONAL) & young)).astype(np.int64)
    keys = ["model_version", *[f"_{a.name}" for a in config.strata.attributes], "label", "predicted_label",
            "elapsed_days"]
    grouped = window.groupby(keys).agg(received=("final", "size"), final=("final", "sum")).reset_index()
    return grouped.rename(columns={f"_{a.name}": a.name for a in config.strata.attributes})


def test_final_cells_and_arrival_histograms_equal_pandas_on_the_logs(loaded) -> None:  # type: ignore[no-untyped-def]
    app, config, cases, cutoff = loaded
    start, end = Period.parse("2025Q3").bounds_utc(ZONE)
    window_days = config.monitoring.maturity_window_days
    with app.uow() as unit, materialised_cases(unit, config, Window("lung-nodule-ct", start, end, cutoff)) as window:
        cells = unit.label_arrival.final_cells(window, cutoff=cutoff, provisional_sources=PROVISIONAL,
                                               window_days=window_days)
        histograms = unit.label_arrival.arrival_histograms("lung-nodule-ct", before=start, cutoff=cutoff,
                                                           provisional_sources=PROVISIONAL, window_days=window_days,
                                                           horizon_days=window_days)
    expected = _expected_cells(cases, config, start, end, cutoff)
    keys = list(expected.columns[:-2])
    got = cells.sort_values(keys).reset_index(drop=True)
    want = expected.sort_values(keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(got[list(want.columns)], want, check_dtype=False)

    # the earlier cohorts: delay until final (provisional sources: at least the window), truncated at elapsed
    at = cases["predicted_at"].dt.tz_convert("UTC")
    earlier = cases.loc[at < start].copy()
    now = pd.Series(cutoff, index=earlier.index).dt.tz_convert("UTC")
    elapsed = _days(now, earlier["predicted_at"])
    confirmed = earlier["confirmed_at"].dt.tz_convert("UTC").where(earlier["confirmed_at"].dt.tz_convert("UTC") <= now, now)
    delay = _days(confirmed, earlier["predicted_at"])
    provisional = earlier["source"].isin(PROVISIONAL).to_numpy()
    final = ~provisional | (elapsed >= window_days)
    until = np.where(provisional, np.maximum(delay, window_days), delay)
    keep = final & (until <= window_days)
    frame = pd.DataFrame({"label": earlier["label"].to_numpy()[keep], "predicted_label": earlier["predicted_label"].to_numpy()[keep],
                          "delay": until[keep], "elapsed": np.minimum(elapsed[keep], window_days)})
    for kind in ("delay", "elapsed"):
        want_kind = frame.groupby(["label", "predicted_label", kind]).size().rename("n").reset_index()
        got_kind = (histograms.loc[histograms["kind"] == kind, ["label", "predicted_label", "days", "n"]]
                    .rename(columns={"days": kind}).reset_index(drop=True))
        pd.testing.assert_frame_equal(got_kind.sort_values(["label", "predicted_label", kind]).reset_index(drop=True),
                                      want_kind.sort_values(["label", "predicted_label", kind]).reset_index(drop=True),
                                      check_dtype=False)
    assert (histograms["model_version"] == SCENARIO.model_version).all()


def test_planted_drop_decided_in_its_quarter_while_its_specificity_is_provisional(loaded) -> None:  # type: ignore[no-untyped-def]
    app, config, cases, cutoff = loaded
    shares: dict[str, dict[tuple[str, str], float | None]] = {}
    for label in ("2024Q3", "2025Q3"):
        start, end = Period.parse(label).bounds_utc(ZONE)
        window = Window("lung-nodule-ct", start, end, cutoff)
        with app.uow() as unit, materialised_cases(unit, config, window) as materialised:
            maturity = assess_label_maturity(unit, config, window, materialised)
        counts = maturity.final_counts
        adjustments = Adjustments(final_counts=counts, min_expected_share=config.labels.min_expected_share)
        version = SCENARIO.model_version
        shares[label] = {(s, m): counts[(version, s, m)].expected_share
                         for s in ("overall", PLANTED) for m in ("sensitivity", "specificity")}
        planted = counts[(version, PLANTED, "sensitivity")]
        evidence = combine((version, PLANTED, "sensitivity"), planted.successes, planted.trials, adjustments)
        overall_spec = counts[(version, "overall", "specificity")]
        spec = combine((version, "overall", "specificity"), overall_spec.successes, overall_spec.trials, adjustments)
        if label == "2025Q3":  # the drift quarter, 123-215 days old at the cut-off
            assert not evidence.provisional and planted.trials > 0
            assert spec.provisional
            section = maturity.section
            assert section["outcome_dependent_delay"] is True
            rows = {(r["stratum"], r["metric"]): r for r in section["strata"]}
            weighted = rows[("overall", "specificity")]["delay_weighted_estimate"]
            at = cases["predicted_at"].dt.tz_convert("UTC")
            negatives = cases.loc[(at >= start) & (at < end) & (cases["label"] == 0)]
            # a sanity check only (about 70 final false positives carry the weights here); its bias is checked by
            # simulation in tests/unit/domain/test_label_maturity.py
            assert weighted == pytest.approx((negatives["predicted_label"] == 0).mean(), abs=0.05)
            assert rows[("overall", "specificity")]["estimate"] < 0.2  # the final labels alone: biopsied calls
        else:  # the oldest quarter is past the 365-day window: everything final
            assert not evidence.provisional and not spec.provisional
    assert shares["2024Q3"][("overall", "specificity")] == 1.0
    assert shares["2025Q3"][("overall", "sensitivity")] >= config.labels.min_expected_share
    assert shares["2025Q3"][("overall", "specificity")] < 0.1


def _both_ways(app, config, before: datetime, cutoff: datetime):  # type: ignore[no-untyped-def]
    """The arrival histograms as the analysis reads them (old months from their aggregates) and from the
    rows alone, and the months' part (or None)."""
    from monitor.service.label_maturity import _months_read, arrival_histograms

    window_days = config.monitoring.maturity_window_days
    with app.uow() as unit:
        rows = unit.label_arrival.arrival_histograms("lung-nodule-ct", before=before, cutoff=cutoff,
                                                     provisional_sources=list(config.labels.provisional_sources),
                                                     window_days=window_days, horizon_days=window_days)
        read = _months_read(unit, config, before=before, cutoff=cutoff)
        mixed = arrival_histograms(unit, config, before=before, cutoff=cutoff)
    return mixed, rows, read


def test_arrival_histograms_from_old_months_equal_the_rows(app, ingest_scenario, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Issue 20: the earlier cohorts' label-arrival histograms are read from the old months' ``label_delays``
    aggregates (the rest from the rows) and equal the rows' histograms: with every month fresh, with a
    month changed since its count (the months before it still read), and with a label confirmed after its
    month's count (every month from the rows, the delay being capped at that count's cut-off)."""
    from monitor.service.cells import refresh_cells
    from monitor.service.ingest import ingest_ground_truth
    from monitor.synthetic import write_csv

    data = ingest_scenario(SCENARIO)
    refresh_cells("lung-nodule-ct", uow=app.uow, clock=app.clock, actor="t")
    with app.uow() as unit:
        config = unit.devices.get("lung-nodule-ct")
    assert config.labels.provisional_sources  # the provisional rule is exercised
    before = Period.parse("2025Q3").bounds_utc(ZONE)[0]

    mixed, rows, read = _both_ways(app, config, before, app.clock())
    assert read is not None and read[1] == datetime(2025, 1, 1, tzinfo=ZONE)  # 2024-07 .. 2024-12: old
    assert len(read[0]) and not rows.empty
    pd.testing.assert_frame_equal(mixed, rows)

    def correct(prediction_id: str, confirmed_at: datetime, name: str) -> None:
        row = data.ground_truth.loc[data.ground_truth["prediction_id"] == prediction_id].iloc[[0]].copy()
        row["label"] = 1 - row["label"]
        row["confirmed_at"] = confirmed_at
        row["correction_reason"] = "second read"
        path = write_csv(row, tmp_path / f"{name}.csv")
        ingest_ground_truth(app.open_log(path), source=path.name, uow=app.uow, clock=app.clock, actor="t")

    october = data.predictions.loc[data.predictions["predicted_at"].astype(str).str.startswith("2024-10")]
    labelled = october.loc[october["prediction_id"].isin(data.ground_truth["prediction_id"])]
    correct(labelled["prediction_id"].iloc[0], datetime(2025, 3, 1, tzinfo=ZONE), "fix")  # 2024-10 is dirty now
    mixed, rows, read = _both_ways(app, config, before, app.clock())
    assert read is not None and read[1] == datetime(2024, 10, 1, tzinfo=ZONE)
    pd.testing.assert_frame_equal(mixed, rows)

    correct(labelled["prediction_id"].iloc[1], app.clock() + timedelta(hours=12), "late")  # within the day allowed
    refresh_cells("lung-nodule-ct", uow=app.uow, clock=app.clock, actor="t")
    for cutoff in (app.clock(), app.clock() + timedelta(days=1)):  # before and after that confirmation
        mixed, rows, read = _both_ways(app, config, before, cutoff)
        assert read is None
        pd.testing.assert_frame_equal(mixed, rows)
