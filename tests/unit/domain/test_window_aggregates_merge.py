"""WindowAggregates.merge: exact key-wise sums, whatever the partition and order of the parts."""

from __future__ import annotations

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.domain.window_aggregates import WindowAggregates, empty_aggregates, merge

NAMES = ["sex"]


def _part(rows: list[tuple[str, str | None, int, int, int]]) -> WindowAggregates:
    """Aggregates of a few cases: (model version, sex or None, call, label or -1, score bin)."""
    empty = empty_aggregates(NAMES)
    verification = pd.DataFrame([(v, s, c, int(lab >= 0), 1) for v, s, c, lab, _ in rows],
                                columns=["model_version", "sex", "predicted_label", "verified", "n"])
    histogram = pd.DataFrame([("sex", v, s, b, lab, c, 1) for v, s, c, lab, b in rows],
                             columns=["grouping", "model_version", "sex", "score_bin", "label", "predicted_label", "n"])
    features = pd.DataFrame([("sex", s, 1) for _, s, _, _, _ in rows], columns=["feature", "value", "n"])
    confusion = pd.DataFrame([(v, s, int(lab == 1 and c == 1), int(lab == 0 and c == 1), int(lab == 1 and c == 0),
                               int(lab == 0 and c == 0)) for v, s, c, lab, _ in rows if lab >= 0],
                             columns=["model_version", "sex", "tp", "fp", "fn", "tn"])
    sources = pd.DataFrame([(c, "pathology", 1) for _, _, c, lab, _ in rows if lab >= 0],
                           columns=["predicted_label", "source", "n"])
    delays = pd.DataFrame([(v, lab, c, "pathology", b * 7, 0, 1) for v, _, c, lab, b in rows if lab >= 0],
                          columns=["model_version", "label", "predicted_label", "source", "days", "late", "n"])
    parts = {"verification": verification, "score_histogram": histogram, "features": features,
             "confusion": confusion, "label_sources": sources, "label_delays": delays}
    return WindowAggregates(**{k: v if not v.empty else getattr(empty, k) for k, v in parts.items()})


CASES = st.lists(st.tuples(st.sampled_from(["1.0", "2.0"]), st.sampled_from(["F", "M", None]), st.integers(0, 1),
                           st.integers(-1, 1), st.integers(0, 3)), max_size=30)


@settings(max_examples=60, deadline=None)
@given(cases=CASES, cuts=st.lists(st.integers(0, 30), max_size=4), data=st.data())
def test_merge_of_any_partition_equals_the_whole(cases: list, cuts: list[int], data: st.DataObject) -> None:
    bounds = [0, *sorted(c for c in set(cuts) if c <= len(cases)), len(cases)]
    parts = [_part(cases[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)]
    shuffled = data.draw(st.permutations(parts))
    whole, merged = merge([_part(cases)]), merge(shuffled)
    for name in ("confusion", "verification", "score_histogram", "features", "label_sources", "label_delays"):
        pd.testing.assert_frame_equal(getattr(merged, name), getattr(whole, name))
    assert int(whole.verification["n"].sum()) == len(cases)
    assert int(whole.features["n"].sum()) == len(cases)  # a missing value (None) is a key of its own


def test_merge_sums_by_key_and_reads_features_back() -> None:
    a = _part([("1.0", "F", 1, 1, 2), ("1.0", "M", 0, -1, 0)])
    b = _part([("1.0", "F", 1, 1, 2)])
    merged = merge([a, b])
    assert merged.confusion.to_dict("records") == [{"model_version": "1.0", "sex": "F", "tp": 2, "fp": 0, "fn": 0,
                                                    "tn": 0}]
    assert merged.verification["n"].tolist() == [2, 1] and merged.verification["verified"].tolist() == [1, 0]
    assert merged.feature("sex", numeric=False).to_dict("records") == [{"value": "F", "n": 2}, {"value": "M", "n": 1}]
    numbers = WindowAggregates(**{**a.__dict__, "features": pd.DataFrame(
        {"feature": ["age", "age", "age"], "value": ["70", "9", None], "n": [1, 2, 3]})})
    read = merge([numbers]).feature("age", numeric=True)
    assert read["value"].dtype == "float64" and sorted(read["value"].dropna().tolist()) == [9.0, 70.0]
    empty = merge([empty_aggregates(NAMES), empty_aggregates(NAMES)])
    assert empty.verification.empty and empty.verification["n"].dtype == "int64"
