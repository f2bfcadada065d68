"""Count algebra on cell tables: example-based and Hypothesis property tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.stats.cells import COUNT_COLUMNS, add_cells, confusion_cells, marginal_counts
from monitor.stats.metrics import METRIC_NAMES, metric_fraction

KEYS = ["site", "sex", "age_band"]
COUNTS = list(COUNT_COLUMNS)
PROPERTY_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@st.composite
def case_frames(draw: st.DrawFn, min_size: int = 0) -> pd.DataFrame:
    n = draw(st.integers(min_value=min_size, max_value=60))
    def col(values: list[str]) -> list[str]:
        return draw(st.lists(st.sampled_from(values), min_size=n, max_size=n))
    return pd.DataFrame(
        {
            "site": col(["s1", "s2", "s3"]),
            "sex": col(["F", "M", "unknown"]),
            "age_band": col(["<50", "50-75", ">75"]),
            "label": draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)),
            "predicted_label": draw(st.lists(st.booleans(), min_size=n, max_size=n)),
        }
    )


def _canon(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return frame.sort_values(keys).reset_index(drop=True) if keys else frame.reset_index(drop=True)


# --------------------------------------------------------------------- examples


def test_confusion_cells_example() -> None:
    cases = pd.DataFrame(
        {
            "site": ["a", "a", "a", "b", "b"],
            "label": [1, 1, 0, 0, 1],
            "predicted_label": [1, 0, 1, 0, 1],
        }
    )
    cells = confusion_cells(cases, keys=["site"])
    assert list(cells.columns) == ["site", *COUNTS]
    assert cells.to_dict("records") == [
        {"site": "a", "tp": 1, "fp": 1, "fn": 1, "tn": 0},
        {"site": "b", "tp": 1, "fp": 0, "fn": 0, "tn": 1},
    ]
    assert all(cells[c].dtype == np.int64 for c in COUNTS)


def test_confusion_cells_custom_columns_and_no_keys() -> None:
    cases = pd.DataFrame({"y": [True, False, True], "yhat": [True, False, False]})
    cells = confusion_cells(cases, keys=[], label="y", call="yhat")
    assert cells.to_dict("records") == [{"tp": 1, "fp": 0, "fn": 1, "tn": 1}]


def test_confusion_cells_rejects_missing_labels() -> None:
    cases = pd.DataFrame({"site": ["a", "a"], "label": [1, np.nan], "predicted_label": [1, 0]})
    with pytest.raises(ValueError, match="binary"):
        confusion_cells(cases, keys=["site"])
    cases = pd.DataFrame({"site": ["a"], "label": [2], "predicted_label": [1]})
    with pytest.raises(ValueError, match="binary"):
        confusion_cells(cases, keys=["site"])


def test_marginal_counts_empty_by_gives_overall_row() -> None:
    cells = pd.DataFrame({"k": ["x", "y"], "tp": [1, 2], "fp": [3, 4], "fn": [0, 1], "tn": [9, 9]})
    out = marginal_counts(cells, [])
    assert list(out.columns) == COUNTS
    assert out.to_dict("records") == [{"tp": 3, "fp": 7, "fn": 1, "tn": 18}]


def test_marginal_counts_keeps_zero_groups_present_and_sorts() -> None:
    cells = pd.DataFrame(
        {"k": ["z", "a", "a"], "j": [1, 2, 3], "tp": [0, 1, 2], "fp": [0, 0, 0], "fn": [0, 0, 0], "tn": [0, 1, 1]}
    )
    out = marginal_counts(cells, ["k"])
    assert out["k"].tolist() == ["a", "z"]
    assert out.loc[1, COUNTS].tolist() == [0, 0, 0, 0]
    assert out.index.tolist() == [0, 1]


def test_marginal_counts_categorical_observed_only() -> None:
    cells = pd.DataFrame(
        {
            "k": pd.Categorical(["a", "a"], categories=["a", "b"]),
            "tp": [1, 1], "fp": [0, 0], "fn": [0, 0], "tn": [0, 0],
        }
    )
    out = marginal_counts(cells, ["k"])
    assert out["k"].tolist() == ["a"]
    assert out["tp"].tolist() == [2]


def test_marginal_counts_float_counts_become_int64() -> None:
    cells = pd.DataFrame({"k": ["a"], "tp": [1.0], "fp": [0.0], "fn": [2.0], "tn": [3.0]})
    out = marginal_counts(cells, ["k"])
    assert all(out[c].dtype == np.int64 for c in COUNTS)


def test_marginal_counts_empty_frame() -> None:
    cells = pd.DataFrame({"k": pd.Series([], dtype=object), **{c: pd.Series([], dtype=np.int64) for c in COUNTS}})
    out = marginal_counts(cells, ["k"])
    assert list(out.columns) == ["k", *COUNTS] and len(out) == 0
    assert marginal_counts(cells, []).to_dict("records") == [dict.fromkeys(COUNTS, 0)]


@pytest.mark.parametrize(
    ("by", "message"),
    [(["nope"], "not in frame"), (["tp"], "count columns"), (["k", "k"], "duplicate")],
)
def test_marginal_counts_invalid(by: list[str], message: str) -> None:
    cells = pd.DataFrame({"k": ["a"], "tp": [1], "fp": [0], "fn": [0], "tn": [0]})
    with pytest.raises(ValueError, match=message):
        marginal_counts(cells, by)


def test_marginal_counts_rejects_string_by() -> None:
    cells = pd.DataFrame({"k": ["a"], "tp": [1], "fp": [0], "fn": [0], "tn": [0]})
    with pytest.raises(TypeError):
        marginal_counts(cells, "k")


def test_missing_count_column() -> None:
    with pytest.raises(ValueError, match="count columns"):
        marginal_counts(pd.DataFrame({"k": ["a"], "tp": [1]}), ["k"])


def test_add_cells_outer() -> None:
    a = pd.DataFrame({"site": ["a", "c"], "tp": [1, 5], "fp": [0, 0], "fn": [1, 0], "tn": [3, 1]})
    b = pd.DataFrame({"site": ["b", "a"], "tp": [1, 2], "fp": [0, 1], "fn": [0, 0], "tn": [2, 4]})
    out = add_cells(a, b, ["site"])
    assert out.to_dict("records") == [
        {"site": "a", "tp": 3, "fp": 1, "fn": 1, "tn": 7},
        {"site": "b", "tp": 1, "fp": 0, "fn": 0, "tn": 2},
        {"site": "c", "tp": 5, "fp": 0, "fn": 0, "tn": 1},
    ]


def test_add_cells_with_empty_table() -> None:
    a = pd.DataFrame({"site": ["a"], "tp": [1], "fp": [0], "fn": [1], "tn": [3]})
    empty = a.iloc[0:0]
    pd.testing.assert_frame_equal(add_cells(a, empty, ["site"]), marginal_counts(a, ["site"]))
    pd.testing.assert_frame_equal(add_cells(empty, a, ["site"]), marginal_counts(a, ["site"]))


# ------------------------------------------------------------------- properties


@PROPERTY_SETTINGS
@given(frame=case_frames(), n_parts=st.integers(1, 4), seed=st.integers(0, 2**32 - 1),
       keys=st.lists(st.sampled_from(KEYS), unique=True, max_size=3))
def test_split_and_add_equals_whole(frame: pd.DataFrame, n_parts: int, seed: int, keys: list[str]) -> None:
    rng = np.random.default_rng(seed)
    part = rng.integers(0, n_parts, size=len(frame))
    total = confusion_cells(frame.iloc[0:0], keys=keys)
    for i in range(n_parts):
        total = add_cells(total, confusion_cells(frame[part == i], keys=keys), keys)
    whole = confusion_cells(frame, keys=keys)
    pd.testing.assert_frame_equal(_canon(total, keys), _canon(whole, keys), check_dtype=False)
    assert all(total[c].dtype == np.int64 for c in COUNTS)


@PROPERTY_SETTINGS
@given(frame=case_frames(), data=st.data())
def test_marginal_of_marginal(frame: pd.DataFrame, data: st.DataObject) -> None:
    cells = confusion_cells(frame, keys=KEYS)
    outer = data.draw(st.lists(st.sampled_from(KEYS), unique=True, max_size=3))
    inner = data.draw(st.lists(st.sampled_from(outer), unique=True, max_size=len(outer))) if outer else []
    twice = marginal_counts(marginal_counts(cells, outer), inner)
    once = marginal_counts(cells, inner)
    pd.testing.assert_frame_equal(twice, once)
    # and equals building the cells directly at the coarser level
    direct = confusion_cells(frame, keys=inner)
    pd.testing.assert_frame_equal(once, direct, check_dtype=False)


@PROPERTY_SETTINGS
@given(frame=case_frames())
def test_counts_conserved(frame: pd.DataFrame) -> None:
    cells = confusion_cells(frame, keys=KEYS)
    assert int(cells[COUNTS].to_numpy().sum()) == len(frame)
    overall = marginal_counts(cells, [])
    y = frame["label"].to_numpy() == 1
    yhat = frame["predicted_label"].to_numpy().astype(bool)
    assert overall.loc[0, "tp"] == int((y & yhat).sum())
    assert overall.loc[0, "tn"] == int((~y & ~yhat).sum())


@PROPERTY_SETTINGS
@given(frame=case_frames(), by=st.lists(st.sampled_from(KEYS), unique=True, max_size=3))
def test_metric_fraction_sums(frame: pd.DataFrame, by: list[str]) -> None:
    # Successes and trials of each metric are additive: summing the strata
    # fractions gives the overall fraction.
    strata = marginal_counts(confusion_cells(frame, keys=KEYS), by)
    overall = marginal_counts(strata, [])
    for metric in METRIC_NAMES:
        k, n = metric_fraction(metric, *(strata[c].to_numpy() for c in COUNTS))
        k_all, n_all = metric_fraction(metric, *(overall[c].to_numpy() for c in COUNTS))
        assert int(k.sum()) == int(k_all[0]) and int(n.sum()) == int(n_all[0])
    # Sensitivity and specificity trials partition the cases.
    _, n_se = metric_fraction("sensitivity", *(strata[c].to_numpy() for c in COUNTS))
    _, n_sp = metric_fraction("specificity", *(strata[c].to_numpy() for c in COUNTS))
    assert int(n_se.sum() + n_sp.sum()) == len(frame)
