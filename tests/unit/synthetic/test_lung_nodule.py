"""Tests of the seeded lung-nodule synthetic deployment (monitor.synthetic)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import monitor.synthetic as synthetic
from monitor.synthetic import (
    AGE_BAND_LABELS,
    DRIFT_TARGET,
    EMPHYSEMA_GRADES,
    GROUND_TRUTH_COLUMNS,
    PREDICTION_COLUMNS,
    SCANNER_VENDORS,
    SITE_IDS,
    STRATUM_ATTRIBUTES,
    DemoData,
    DemoScenario,
    age_band,
    drift_target_mask,
    format_timestamps,
    generate,
    iter_prediction_chunks,
    quarter_bounds,
    write_csv,
    write_parquet,
)
from monitor.synthetic.population import expected_cell_rates

STABLE = ("2024Q3", "2024Q4", "2025Q1", "2025Q2")
DRIFT_Q = "2025Q3"
FAR_FUTURE = pd.Timestamp("2030-01-01T00:00:00+08:00")
CONSTRAINT_SEEDS = (20251, 1, 2)
ISO_OFFSET = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+08:00$")


# ----------------------------------------------------------------------------- helpers


def confirmed(data: DemoData) -> pd.DataFrame:
    """Predictions joined with their delivered ground truth (confirmed cases only)."""
    out = data.predictions.merge(
        data.ground_truth[["prediction_id", "label", "confirmed_at", "source", "intervention_at"]],
        on="prediction_id",
        how="inner",
        validate="one_to_one",
    )
    out["age_band"] = age_band(out["age"].to_numpy())
    out["target"] = drift_target_mask(out)
    return out


def quarter_of(frame: pd.DataFrame) -> pd.Series:
    return frame["prediction_id"].str.slice(3, 9)


def sensitivity(frame: pd.DataFrame) -> float:
    pos = frame[frame["label"] == 1]
    return float(pos["predicted_label"].mean())


def specificity(frame: pd.DataFrame) -> float:
    neg = frame[frame["label"] == 0]
    return float(1.0 - neg["predicted_label"].mean())


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    ranks = pd.Series(scores).rank(method="average").to_numpy()
    n_pos = int(labels.sum())
    n_neg = labels.size - n_pos
    return float((ranks[labels == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def small() -> DemoData:
    """All five quarters at scale 0.05 (15,000 cases a quarter)."""
    return generate(DemoScenario(scale=0.05))


@pytest.fixture(scope="module")
def stable_big() -> pd.DataFrame:
    """The four stable quarters at scale 0.25, ground truth as of far in the future."""
    data = generate(DemoScenario(scale=0.25, as_of=FAR_FUTURE), quarters=STABLE)
    return confirmed(data)


@pytest.fixture(scope="module")
def drift_full() -> dict[int, pd.DataFrame]:
    """The drift quarter at scale 1.0 (default as_of) for three seeds, confirmed cases only."""
    return {
        seed: confirmed(generate(DemoScenario(seed=seed), quarters=[DRIFT_Q])) for seed in CONSTRAINT_SEEDS
    }


# ----------------------------------------------------------------------------- API and scenario


def test_public_api_is_exported() -> None:
    for name in synthetic.__all__:
        assert hasattr(synthetic, name), name
    assert STRATUM_ATTRIBUTES == ("age", "sex", "emphysema_grade", "scanner_vendor")
    assert DRIFT_TARGET == {"age_band": ">=75", "emphysema_grade": "severe"}
    s = DemoScenario()
    assert (s.seed, s.device_id, s.model_version, s.drift_quarter, s.drift_drop) == (
        20251,
        "lung-nodule-ct",
        "2.1.0",
        "2025Q3",
        0.08,
    )
    assert s.quarters == ("2024Q3", "2024Q4", "2025Q1", "2025Q2", "2025Q3")
    assert s.as_of == pd.Timestamp("2026-01-31T23:59:59+08:00")
    assert s.cases_per_quarter <= 300_000
    assert DemoScenario(scale=0.02).cases_in_quarter == round(0.02 * s.cases_per_quarter)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"quarters": ("2025-Q3",)},
        {"quarters": ()},
        {"quarters": ("2025Q1", "2025Q1")},
        {"drift_quarter": "2023Q1"},
        {"drift_drop": -0.01},
        {"scale": 0.0},
        {"cases_per_quarter": 0},
        {"seed": -1},
    ],
)
def test_scenario_rejects_invalid_parameters(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        DemoScenario(**kwargs)


def test_naive_as_of_is_local_time() -> None:
    s = DemoScenario(as_of=pd.Timestamp("2026-01-31 23:59:59"))
    assert s.as_of == pd.Timestamp("2026-01-31T23:59:59+08:00")


def test_quarter_bounds() -> None:
    start, end = quarter_bounds("2025Q4")
    assert start.isoformat() == "2025-10-01T00:00:00+08:00"
    assert end.isoformat() == "2026-01-01T00:00:00+08:00"


# ----------------------------------------------------------------------------- determinism


def test_same_seed_same_data() -> None:
    s = DemoScenario(scale=0.01)
    a, b = generate(s), generate(s)
    pd.testing.assert_frame_equal(a.predictions, b.predictions)
    pd.testing.assert_frame_equal(a.ground_truth, b.ground_truth)
    assert a.pending == b.pending


def test_other_seed_other_data() -> None:
    a = generate(DemoScenario(scale=0.01), quarters=["2025Q1"])
    b = generate(DemoScenario(seed=7, scale=0.01), quarters=["2025Q1"])
    assert not a.predictions["score"].equals(b.predictions["score"])


def test_quarter_alone_is_slice_of_full_run(small: DemoData) -> None:
    s = DemoScenario(scale=0.05)
    pending = 0
    for q in s.quarters:
        alone = generate(s, quarters=[q])
        pred = small.predictions[quarter_of(small.predictions) == q].reset_index(drop=True)
        truth = small.ground_truth[quarter_of(small.ground_truth) == q].reset_index(drop=True)
        pd.testing.assert_frame_equal(alone.predictions, pred)
        pd.testing.assert_frame_equal(alone.ground_truth, truth)
        pending += alone.pending
    assert pending == small.pending


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), cases=st.integers(1, 400), pick=st.integers(0, 4))
def test_quarter_alone_is_slice_property(seed: int, cases: int, pick: int) -> None:
    s = DemoScenario(seed=seed, cases_per_quarter=cases)
    full = generate(s)
    q = s.quarters[pick]
    alone = generate(s, quarters=[q])
    assert len(full.predictions) == 5 * cases
    pred = full.predictions[quarter_of(full.predictions) == q].reset_index(drop=True)
    pd.testing.assert_frame_equal(alone.predictions, pred)


# ----------------------------------------------------------------------------- schema and ranges


def test_prediction_schema_and_ranges(small: DemoData) -> None:
    p = small.predictions
    assert tuple(p.columns) == PREDICTION_COLUMNS
    assert len(p) == 5 * DemoScenario(scale=0.05).cases_in_quarter
    assert isinstance(p["predicted_at"].dtype, pd.DatetimeTZDtype)
    wall = p["predicted_at"].dt.tz_localize(None)
    utc = p["predicted_at"].dt.tz_convert("UTC").dt.tz_localize(None)
    assert ((wall - utc) == pd.Timedelta(hours=8)).all()
    assert p["prediction_id"].is_unique
    assert p["prediction_id"].str.fullmatch(r"LN-20\d\dQ[1-4]-\d{7}").all()
    assert p["patient_id"].str.fullmatch(r"P\d{8}").all()
    assert (p["device_id"] == "lung-nodule-ct").all() and (p["model_version"] == "2.1.0").all()
    assert set(p["site_id"]) == set(SITE_IDS)
    assert set(p["scanner_vendor"]) == set(SCANNER_VENDORS)
    assert set(p["sex"]) == {"F", "M"}
    assert set(p["emphysema_grade"]) == set(EMPHYSEMA_GRADES)
    assert p["age"].dtype.kind == "i" and p["age"].between(30, 95).all()
    assert p["score"].between(0.0, 1.0).all()
    assert np.allclose(p["score"], p["score"].round(4), rtol=0, atol=1e-12)
    assert set(p["predicted_label"].unique()) <= {0, 1}
    assert (p["predicted_label"] == (p["score"] >= 0.5).astype(int)).all()
    # working hours, inside the prediction's quarter, time-ordered within each quarter
    local = p["predicted_at"].dt.tz_localize(None)
    seconds = (local - local.dt.normalize()).dt.total_seconds()
    assert seconds.between(8 * 3600, 18 * 3600).all()
    for q, part in p.groupby(quarter_of(p)):
        start, end = quarter_bounds(q)
        assert part["predicted_at"].between(start, end, inclusive="left").all()
        assert part["predicted_at"].is_monotonic_increasing
        days = part["predicted_at"].dt.date.nunique()
        assert days >= 88  # spread over the quarter's days


def test_sites_have_their_own_vendor_mix(small: DemoData) -> None:
    mix = pd.crosstab(small.predictions["site_id"], small.predictions["scanner_vendor"], normalize="index")
    assert mix.loc["site-cd-04", "United Imaging"] > 0.45
    assert mix.loc["site-sh-02", "Siemens"] > 0.3
    assert mix.min().min() > 0.05


def test_ground_truth_schema_and_timing(small: DemoData) -> None:
    g = small.ground_truth
    assert tuple(g.columns) == GROUND_TRUTH_COLUMNS
    assert g["prediction_id"].is_unique
    assert set(g["label"].unique()) == {0, 1}
    assert set(g["source"]) == {"histopathology", "follow_up", "adjudication"}
    assert small.pending == len(small.predictions) - len(g)
    c = confirmed(small)
    assert len(c) == len(g)
    as_of = DemoScenario().as_of
    assert (c["confirmed_at"] > c["predicted_at"]).all()
    assert (c["confirmed_at"] <= as_of).all()
    has_int = c["intervention_at"].notna()
    assert (c.loc[has_int, "intervention_at"] > c.loc[has_int, "predicted_at"]).all()
    assert (c.loc[has_int, "intervention_at"] <= as_of).all()
    # interventions are mostly for true positives
    tp = (c["label"] == 1) & (c["predicted_label"] == 1)
    assert tp[has_int].mean() > 0.75
    assert c.loc[tp, "intervention_at"].notna().mean() > 0.85
    assert c.loc[(c["label"] == 0) & (c["predicted_label"] == 0), "intervention_at"].isna().all()
    # positives: histopathology or follow-up; negatives: mostly adjudication
    assert set(c.loc[c["label"] == 1, "source"]) == {"histopathology", "follow_up"}
    neg = c[c["label"] == 0]
    assert (neg["source"] == "adjudication").mean() > 0.8
    assert (neg.loc[neg["source"] == "histopathology", "predicted_label"] == 1).all()


def test_ground_truth_delays_and_missingness() -> None:
    data = generate(DemoScenario(scale=0.1, as_of=FAR_FUTURE), quarters=["2024Q3"])
    c = confirmed(data)
    delay = (c["confirmed_at"] - c["predicted_at"]).dt.total_seconds() / 86400
    pos, neg = c["label"] == 1, c["label"] == 0
    histo = pos & (c["source"] == "histopathology")
    assert histo.sum() / pos.sum() > 0.8
    assert delay[histo].between(7, 84).all()
    assert delay[pos & (c["source"] == "follow_up")].between(91, 183).all()
    assert delay[neg & (c["source"] == "adjudication")].between(7, 56).all()
    assert delay[neg & (c["source"] == "follow_up")].between(274, 456).all()
    # about 5 % of positives and 10 % of negatives never get ground truth: compare with expectations
    n = len(data.predictions)
    prevalence = float(expected_cell_rates()["positives"].sum())
    assert pos.sum() / (n * prevalence) == pytest.approx(0.95, abs=0.03)
    assert neg.sum() / (n * (1 - prevalence)) == pytest.approx(0.90, abs=0.01)


def test_as_of_holds_back_late_ground_truth() -> None:
    s = DemoScenario(scale=0.02)
    early = generate(s, quarters=[DRIFT_Q])
    late = generate(DemoScenario(scale=0.02, as_of=FAR_FUTURE), quarters=[DRIFT_Q])
    pd.testing.assert_frame_equal(early.predictions, late.predictions)
    assert set(early.ground_truth["prediction_id"]) < set(late.ground_truth["prediction_id"])
    assert early.pending > late.pending
    # what arrived early is unchanged, except treatments recorded after the early as_of
    merged = early.ground_truth.merge(late.ground_truth, on="prediction_id", suffixes=("", "_late"))
    assert (merged["confirmed_at"] == merged["confirmed_at_late"]).all()
    assert (merged["label"] == merged["label_late"]).all()


def test_patients_recur_consistently(small: DemoData) -> None:
    p = small.predictions.sort_values("predicted_at", kind="stable")
    per_patient = p.groupby("patient_id")
    counts = per_patient["prediction_id"].size()
    assert (counts > 1).mean() > 0.05  # some patients recur
    repeat = p[p["patient_id"].isin(counts.index[counts > 1])]
    g = repeat.groupby("patient_id")
    assert (g["sex"].nunique() == 1).all()
    assert (g["age"].max() - g["age"].min() <= 2).all()
    assert g["age"].apply(lambda a: a.is_monotonic_increasing).all()
    rank = repeat["emphysema_grade"].map({k: i for i, k in enumerate(EMPHYSEMA_GRADES)})
    assert rank.groupby(repeat["patient_id"]).apply(lambda r: r.is_monotonic_increasing).all()
    quarters = quarter_of(repeat).groupby(repeat["patient_id"]).nunique()
    assert (quarters > 1).any()  # a patient may recur across quarters


# ----------------------------------------------------------------------------- population


def test_population_correlations(small: DemoData) -> None:
    p = small.predictions.assign(age_band=age_band(small.predictions["age"].to_numpy()))
    band_mix = p["age_band"].value_counts(normalize=True)
    assert set(band_mix.index) == set(AGE_BAND_LABELS)
    assert 0.10 < band_mix[">=75"] < 0.25 and band_mix["45-64"] > 0.4
    severe = (p["emphysema_grade"] == "severe").groupby(p["age_band"]).mean()
    any_emph = (p["emphysema_grade"] != "none").groupby(p["age_band"]).mean()
    assert list(any_emph[list(AGE_BAND_LABELS)]) == sorted(any_emph)  # more emphysema with age
    assert severe["<45"] < severe["45-64"] < severe[">=75"]
    by_sex = (p["emphysema_grade"] != "none").groupby(p["sex"]).mean()
    assert by_sex["M"] > by_sex["F"] + 0.03  # and in men


def test_prevalence_about_eight_percent_rising_with_age_and_emphysema(stable_big: pd.DataFrame) -> None:
    assert float(expected_cell_rates()["positives"].sum()) == pytest.approx(0.08, abs=0.005)
    c = stable_big
    # undo the known ground-truth loss (5 % of positives, 10 % of negatives never confirmed)
    w = np.where(c["label"] == 1, 1 / 0.95, 1 / 0.90)
    assert np.average(c["label"], weights=w) == pytest.approx(0.082, abs=0.006)
    by_band = c.groupby("age_band")["label"].mean()[list(AGE_BAND_LABELS)]
    assert by_band.is_monotonic_increasing
    by_grade = c.groupby("emphysema_grade")["label"].mean()[list(EMPHYSEMA_GRADES)]
    assert by_grade.is_monotonic_increasing
    assert by_band[">=75"] > 2 * c["label"].mean() > by_band["<45"]


# ----------------------------------------------------------------------------- performance


def test_stable_performance_overall_and_in_large_strata(stable_big: pd.DataFrame) -> None:
    c = stable_big
    assert sensitivity(c) == pytest.approx(0.91, abs=0.01)
    assert specificity(c) == pytest.approx(0.86, abs=0.005)
    assert 0.91 <= auc(c["score"].to_numpy(), c["label"].to_numpy()) <= 0.95
    checked = 0
    for attribute in ("age_band", "sex", "emphysema_grade", "scanner_vendor", "site_id"):
        for value, part in c.groupby(attribute):
            n_pos = int((part["label"] == 1).sum())
            if n_pos >= 1000:
                tol = 4 * np.sqrt(0.91 * 0.09 / n_pos)
                assert abs(sensitivity(part) - 0.91) < tol, (attribute, value)
                checked += 1
            n_neg = int((part["label"] == 0).sum())
            assert abs(specificity(part) - 0.86) < 4 * np.sqrt(0.86 * 0.14 / n_neg), (attribute, value)
    assert checked >= 10
    # the target's sensitivity is at the stable level before the drift quarter
    target = c[c["target"]]
    assert (target["label"] == 1).sum() > 1000
    assert sensitivity(target) == pytest.approx(0.91, abs=0.025)


def test_scores_separate_within_each_side_of_threshold(stable_big: pd.DataFrame) -> None:
    c = stable_big
    for call in (0, 1):
        side = c[c["predicted_label"] == call]
        means = side.groupby("label")["score"].mean()
        assert means[1] > means[0] + 0.05


def test_drift_only_changes_target_positives_in_drift_quarter() -> None:
    with_drift = generate(DemoScenario(scale=0.05))
    without = generate(DemoScenario(scale=0.05, drift_quarter=None))
    pd.testing.assert_frame_equal(with_drift.ground_truth, without.ground_truth)
    a, b = with_drift.predictions, without.predictions
    differs = (a["predicted_label"] != b["predicted_label"]) | (a["score"] != b["score"])
    assert differs.any()
    labels = a[["prediction_id"]].merge(with_drift.ground_truth, how="left")["label"]
    in_drift_q = quarter_of(a) == DRIFT_Q
    assert (in_drift_q & drift_target_mask(a))[differs].all()
    assert (labels[differs] != 0).all()  # only positives (confirmed or not) change
    assert (a["predicted_label"] <= b["predicted_label"]).all()  # calls only get lost
    same = [c for c in a.columns if c not in ("score", "predicted_label")]
    pd.testing.assert_frame_equal(a[same], b[same])


# ----------------------------------------------------------------------------- design constraints


def test_constraint_1_target_is_large_and_below_margin(drift_full: dict[int, pd.DataFrame]) -> None:
    for seed, c in drift_full.items():
        target_pos = c[c["target"] & (c["label"] == 1)]
        assert len(target_pos) >= 1600, seed
        se = float(target_pos["predicted_label"].mean())
        assert se < 0.88, seed
        assert se == pytest.approx(0.91 - DemoScenario().drift_drop, abs=0.02), seed


def _containing_strata(c: pd.DataFrame) -> dict[str, pd.Series]:
    old, severe = c["age_band"] == ">=75", c["emphysema_grade"] == "severe"
    strata = {"age_band=>=75": old, "emphysema_grade=severe": severe}
    for column in ("sex", "scanner_vendor"):
        for value in sorted(c[column].unique()):
            strata[f"age_band=>=75 & {column}={value}"] = old & (c[column] == value)
            strata[f"emphysema_grade=severe & {column}={value}"] = severe & (c[column] == value)
    return strata


def test_constraint_2_target_is_a_small_part_of_containing_strata(
    drift_full: dict[int, pd.DataFrame],
) -> None:
    for seed, c in drift_full.items():
        strata = _containing_strata(c)
        assert len(strata) == 2 + 2 * (2 + 4)
        for key, mask in strata.items():
            pos = c[mask & (c["label"] == 1)]
            share = float(pos["target"].mean())
            assert share <= 0.25, (seed, key, share)
            # the diluted drop never shows a shortfall: the exact one-sided upper bound at the exploratory
            # family's first-step level (0.10 / 160, docs/methods.md section 8) stays above claim - margin
            hits = int(pos["predicted_label"].sum())
            upper = float(stats.beta.ppf(1 - 0.10 / 160, hits + 1, len(pos) - hits)) if hits < len(pos) else 1.0
            assert upper >= 0.88, (seed, key, upper)
        # every other stratum is unchanged: the rest of the drift quarter is at the stable level
        rest = c[~c["target"]]
        assert sensitivity(rest) == pytest.approx(0.91, abs=0.01), seed


def test_expected_shares_in_design_tables() -> None:
    cells = expected_cell_rates()["positives"]  # [sex, band, grade]
    target = cells[:, 3, 3]
    assert target.sum() / cells[:, 3, :].sum() <= 0.22
    assert target.sum() / cells[:, :, 3].sum() <= 0.22
    for s in range(2):
        assert target[s] / cells[s, 3, :].sum() <= 0.22
        assert target[s] / cells[s, :, 3].sum() <= 0.22


# ----------------------------------------------------------------------------- benchmark chunks


def test_iter_prediction_chunks_total_unique_and_bounded() -> None:
    s = DemoScenario(scale=0.01)
    chunks = list(iter_prediction_chunks(s, 25_003, chunk_rows=4_000))
    sizes = [len(ch.predictions) for ch in chunks]
    assert sum(sizes) == 25_003
    assert max(sizes) <= 4_000
    ids = pd.concat([ch.predictions["prediction_id"] for ch in chunks], ignore_index=True)
    assert ids.is_unique
    for ch in chunks:
        assert tuple(ch.predictions.columns) == PREDICTION_COLUMNS
        assert tuple(ch.ground_truth.columns) == GROUND_TRUTH_COLUMNS
        assert ch.pending == len(ch.predictions) - len(ch.ground_truth)
        assert set(ch.ground_truth["prediction_id"]) <= set(ch.predictions["prediction_id"])
    times = pd.concat([ch.predictions["predicted_at"] for ch in chunks], ignore_index=True)
    assert times.is_monotonic_increasing  # consecutive time slices, quarter after quarter
    counts = quarter_of(pd.DataFrame({"prediction_id": ids})).value_counts()
    assert set(counts.index) == set(s.quarters) and counts.max() - counts.min() <= 1
    again = list(iter_prediction_chunks(s, 25_003, chunk_rows=4_000))
    pd.testing.assert_frame_equal(chunks[3].predictions, again[3].predictions)


def test_iter_prediction_chunks_edge_cases() -> None:
    s = DemoScenario()
    assert list(iter_prediction_chunks(s, 0)) == []
    assert sum(len(ch.predictions) for ch in iter_prediction_chunks(s, 3, chunk_rows=1)) == 3
    with pytest.raises(ValueError):
        list(iter_prediction_chunks(s, 10, chunk_rows=0))


# ----------------------------------------------------------------------------- writers


def test_write_csv_uses_iso_offsets_and_empty_missing(tmp_path: Path) -> None:
    data = generate(DemoScenario(scale=0.002), quarters=["2024Q4"])
    pred_path = write_csv(data.predictions, tmp_path / "out" / "predictions.csv")
    truth_path = write_csv(data.ground_truth, tmp_path / "out" / "ground_truth.csv")
    assert pred_path.exists() and truth_path.exists()
    with pred_path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(data.predictions)
    assert all(ISO_OFFSET.match(r["predicted_at"]) for r in rows)
    assert rows[0]["prediction_id"] == data.predictions["prediction_id"].iat[0]
    with truth_path.open(newline="") as fh:
        truth = list(csv.DictReader(fh))
    assert all(ISO_OFFSET.match(r["confirmed_at"]) for r in truth)
    assert {r["intervention_at"] == "" for r in truth} == {True, False}
    assert all(ISO_OFFSET.match(r["intervention_at"]) for r in truth if r["intervention_at"])
    back = pd.read_csv(truth_path, keep_default_na=False)
    parsed = pd.to_datetime(back["confirmed_at"], format="ISO8601").dt.tz_convert("Asia/Shanghai")
    assert (parsed == data.ground_truth["confirmed_at"].reset_index(drop=True)).all()


def test_format_timestamps_other_offsets_and_subseconds() -> None:
    values = pd.Series(
        pd.to_datetime(["2025-08-01T09:15:00.5+00:00", None, "2025-01-02T03:04:05+00:00"], format="ISO8601")
    ).dt.tz_convert("America/New_York")
    assert list(format_timestamps(values)) == [
        "2025-08-01T05:15:00.500000-04:00",
        "",
        "2025-01-01T22:04:05.000000-05:00",
    ]
    naive = pd.Series(pd.to_datetime(["2025-08-01 09:15:00"]))
    assert list(format_timestamps(naive)) == ["2025-08-01T09:15:00"]


def test_write_csv_falls_back_to_pandas_for_quoting_and_booleans(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "note": ["a,b", 'say "hi"', None],
            "at": pd.Series(
                pd.to_datetime(["2025-08-01 09:15:00", None, "2025-08-02 10:00:00"])
            ).dt.tz_localize("Asia/Shanghai"),
            "flag": [True, False, True],
        }
    )
    path = write_csv(frame, tmp_path / "fallback.csv")
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows == [
        ["note", "at", "flag"],
        ["a,b", "2025-08-01T09:15:00+08:00", "True"],
        ['say "hi"', "", "False"],
        ["", "2025-08-02T10:00:00+08:00", "True"],
    ]


def test_write_csv_round_trips_generated_frames(tmp_path: Path) -> None:
    data = generate(DemoScenario(scale=0.01), quarters=["2025Q2"])
    for frame in (data.predictions, data.ground_truth):
        back = pd.read_csv(write_csv(frame, tmp_path / "x.csv"), keep_default_na=False, na_values=[""])
        assert list(back.columns) == list(frame.columns)
        for column in frame.columns:
            if isinstance(frame[column].dtype, pd.DatetimeTZDtype):
                parsed = pd.to_datetime(back[column], format="ISO8601").dt.tz_convert("Asia/Shanghai")
                pd.testing.assert_series_equal(parsed, frame[column], check_names=False, check_dtype=False)
            else:
                pd.testing.assert_series_equal(back[column], frame[column], check_dtype=False)


def test_write_parquet_keeps_tz_aware_timestamps(tmp_path: Path) -> None:
    data = generate(DemoScenario(scale=0.002), quarters=["2025Q1"])
    path = write_parquet(data.ground_truth, tmp_path / "gt.parquet")
    back = pd.read_parquet(path)
    assert isinstance(back["confirmed_at"].dtype, pd.DatetimeTZDtype)
    assert str(back["confirmed_at"].dt.tz) == "Asia/Shanghai"
    pd.testing.assert_frame_equal(back, data.ground_truth, check_dtype=False)
    assert (back["confirmed_at"] == data.ground_truth["confirmed_at"]).all()
