"""Count-based drift measures against Evidently 0.7 ``ValueDrift`` (the oracle), via the adapter.

Per-row frames are built from binned counts with ``np.repeat`` so that both sides see the same
data. Where Evidently bins exactly as we do (categories; numeric columns with <= 20 distinct
values, which Evidently treats value by value) the scores agree to 1e-9. Two systematic
differences are tested explicitly rather than hidden behind a tolerance:

* numeric columns with > 20 distinct values are re-binned by Evidently (Sturges edges of the
  pooled data) for ``psi`` / ``jensenshannon``: our measure on *those* bins equals Evidently's;
* Evidently's ``chisquare`` is a goodness-of-fit test against the reference proportions, ours a
  homogeneity test: Evidently's value equals scipy's ``chisquare`` on the counts, ours is larger
  for equal windows and converges to it as the reference grows.

Skipped only when Evidently is not importable (it is a project dependency).
"""

from __future__ import annotations

import doctest
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

pytest.importorskip("evidently")

from monitor.adapters import drift_evidently  # noqa: E402
from monitor.adapters.drift_evidently import evidently_value_drift  # noqa: E402
from monitor.stats.drift import (  # noqa: E402
    DEFAULT_METHODS,
    chi_square_test,
    drift_from_counts,
    jensen_shannon_distance,
    psi,
    wasserstein_binned,
)

TOL = 1e-9

# Categorical: a category empty in the current window, one empty in the reference window.
CAT_LABELS = np.array(["a", "b", "c", "d", "e", "f"])
CAT_REF = np.array([500, 300, 150, 100, 50, 0])
CAT_CUR = np.array([250, 300, 200, 0, 150, 100])

# Numeric, 12 bins (<= 20 distinct values: Evidently keeps the bins).
NUM_CENTRES = np.linspace(0.5, 11.5, 12)
NUM_REF = np.array([5, 20, 60, 120, 200, 250, 200, 120, 60, 20, 5, 0])
NUM_CUR = np.array([0, 10, 30, 80, 150, 200, 240, 200, 120, 60, 20, 10])


def _frame(column: str, values: np.ndarray, counts: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({column: np.repeat(values, counts)})


def _evidently(
    ref: pd.DataFrame, cur: pd.DataFrame, kinds: dict[str, str], method: str | None
) -> dict[str, tuple[str, float, bool]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # Evidently's chisquare divides by 0 on new categories
        results = evidently_value_drift(ref, cur, kinds, method=method)
    return {r.feature: (r.method, r.value, r.drifted) for r in results}


def _both(
    values_cat: tuple[np.ndarray, np.ndarray, np.ndarray],
    values_num: tuple[np.ndarray, np.ndarray, np.ndarray],
    method: str | None,
) -> dict[str, tuple[str, float, bool]]:
    """Run Evidently once on a categorical column 'c' and a numeric column 'x' (different lengths)."""
    labels, cref, ccur = values_cat
    centres, nref, ncur = values_num
    out = _evidently(_frame("c", labels, cref), _frame("c", labels, ccur), {"c": "categorical"}, method)
    if method != "chisquare":
        out |= _evidently(_frame("x", centres, nref), _frame("x", centres, ncur), {"x": "numeric"}, method)
    return out


def test_telemetry_is_off() -> None:
    import os

    assert os.environ.get("DO_NOT_TRACK")


def test_adapter_doctest() -> None:
    result = doctest.testmod(drift_evidently, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 1 and result.failed == 0


@pytest.mark.parametrize("method", ["psi", "jensenshannon"])
def test_psi_and_jensenshannon_equal_evidently_on_the_same_bins(method: str) -> None:
    ev = _both((CAT_LABELS, CAT_REF, CAT_CUR), (NUM_CENTRES, NUM_REF, NUM_CUR), method)
    ours = psi if method == "psi" else jensen_shannon_distance
    assert ev["c"][0] == ev["x"][0] == method
    assert ev["c"][1] == pytest.approx(ours(CAT_REF, CAT_CUR), rel=TOL, abs=TOL)
    assert ev["x"][1] == pytest.approx(ours(NUM_REF, NUM_CUR), rel=TOL, abs=TOL)
    for feature, kind, bins, ref, cur in [
        ("c", "categorical", CAT_LABELS, CAT_REF, CAT_CUR),
        ("x", "numeric", NUM_CENTRES, NUM_REF, NUM_CUR),
    ]:
        assert drift_from_counts(feature, kind, bins, ref, cur, method=method).drifted == ev[feature][2]


def test_psi_small_proportion_smoothing_equals_evidently() -> None:
    """A reference proportion <= 1e-4 switches Evidently's fill of empty bins to min * 1e-6."""
    labels = np.array(["a", "b", "c", "d"])
    ref = np.array([14_999, 10_000, 1, 0])  # 1/25000 = 4e-5
    cur = np.array([500, 300, 0, 200])
    ev = _evidently(_frame("c", labels, ref), _frame("c", labels, cur), {"c": "categorical"}, "psi")
    assert ev["c"][1] == pytest.approx(psi(ref, cur), rel=TOL)


def test_wasserstein_equals_evidently_for_any_number_of_bins() -> None:
    rng = np.random.default_rng(0)
    edges = np.linspace(-4.0, 6.0, 61)
    centres = (edges[:-1] + edges[1:]) / 2  # 60 bins: Evidently works on the values, no re-binning
    ref = np.histogram(rng.normal(0.0, 1.0, 3_000), edges)[0]
    cur = np.histogram(rng.normal(0.4, 1.3, 2_000), edges)[0]
    for c_bins, r_counts, c_counts in [(NUM_CENTRES, NUM_REF, NUM_CUR), (centres, ref, cur)]:
        ev = _evidently(_frame("x", c_bins, r_counts), _frame("x", c_bins, c_counts), {"x": "numeric"}, "wasserstein")
        assert ev["x"][0] == "wasserstein"
        assert ev["x"][1] == pytest.approx(wasserstein_binned(c_bins, r_counts, c_counts), rel=TOL)
        assert ev["x"][2] == drift_from_counts("x", "numeric", c_bins, r_counts, c_counts, method="wasserstein").drifted


def test_many_numeric_bins_are_rebinned_by_evidently() -> None:
    """> 20 distinct values: Evidently bins psi / JS on Sturges edges of the pooled rows;
    our measures on those bins reproduce it, our measures on the original bins differ."""
    rng = np.random.default_rng(1)
    edges = np.linspace(-4.0, 6.0, 61)
    centres = (edges[:-1] + edges[1:]) / 2
    ref = np.histogram(rng.normal(0.0, 1.0, 3_000), edges)[0]
    cur = np.histogram(rng.normal(0.4, 1.3, 2_000), edges)[0]
    ref_rows, cur_rows = np.repeat(centres, ref), np.repeat(centres, cur)
    sturges = np.histogram_bin_edges(np.concatenate([ref_rows, cur_rows]), bins="sturges")
    ref_s, cur_s = np.histogram(ref_rows, sturges)[0], np.histogram(cur_rows, sturges)[0]
    frames = (pd.DataFrame({"x": ref_rows}), pd.DataFrame({"x": cur_rows}))
    for method, ours in [("psi", psi), ("jensenshannon", jensen_shannon_distance)]:
        ev = _evidently(*frames, {"x": "numeric"}, method)["x"][1]
        assert ev == pytest.approx(ours(ref_s, cur_s), rel=TOL)
        assert abs(ev - ours(ref, cur)) > 1e-3  # different bins, different value


def test_chisquare_evidently_is_goodness_of_fit_ours_is_homogeneity() -> None:
    labels = np.array(["a", "b", "c", "d"])
    ref = np.array([300, 250, 250, 200])
    cur = np.array([270, 240, 260, 230])  # same size as the reference: 1,000 rows each
    ev = _evidently(_frame("c", labels, ref), _frame("c", labels, cur), {"c": "categorical"}, "chisquare")["c"]
    assert ev[0] == "chisquare"
    goodness_of_fit = stats.chisquare(cur, ref * cur.sum() / ref.sum()).pvalue
    assert ev[1] == pytest.approx(goodness_of_fit, rel=TOL)
    ours = chi_square_test(ref, cur)
    assert ours > ev[1]  # homogeneity accounts for the reference's sampling error
    # ... and converges to Evidently's value as the reference grows (its proportions become known)
    assert chi_square_test(ref * 1_000, cur) == pytest.approx(ev[1], abs=2e-3)
    # a category absent from the reference: Evidently returns p = 0, ours stays finite and small
    ev_new = _evidently(
        _frame("c", CAT_LABELS, CAT_REF), _frame("c", CAT_LABELS, CAT_CUR), {"c": "categorical"}, "chisquare"
    )["c"]
    assert ev_new[1] == 0.0
    assert 0.0 <= chi_square_test(CAT_REF, CAT_CUR) < 1e-10


def test_defaults_match_evidentlys_large_data_choice() -> None:
    """With > 1,000 reference rows Evidently picks wasserstein (numeric) and jensenshannon (categorical)."""
    ev = _both((CAT_LABELS, CAT_REF, CAT_CUR), (NUM_CENTRES, NUM_REF, NUM_CUR), None)
    assert NUM_REF.sum() > 1_000 and CAT_REF.sum() > 1_000
    assert ev["x"][0] == DEFAULT_METHODS["numeric"][0] == "wasserstein"
    assert ev["c"][0] == DEFAULT_METHODS["categorical"][0] == "jensenshannon"
    num = drift_from_counts("x", "numeric", NUM_CENTRES, NUM_REF, NUM_CUR)
    cat = drift_from_counts("c", "categorical", CAT_LABELS, CAT_REF, CAT_CUR)
    assert (num.value, num.drifted) == (pytest.approx(ev["x"][1], rel=TOL), ev["x"][2])
    assert (cat.value, cat.drifted) == (pytest.approx(ev["c"][1], rel=TOL), ev["c"][2])


def test_adapter_reports_p_value_methods_without_effect_size() -> None:
    rng = np.random.default_rng(2)
    ref = pd.DataFrame({"x": rng.normal(size=400), "c": rng.choice(["u", "v", "w"], 400)})
    cur = pd.DataFrame({"x": rng.normal(0.5, size=300), "c": rng.choice(["u", "v", "w"], 300)})
    results = evidently_value_drift(ref, cur, {"x": "numeric", "c": "categorical"})
    assert [(r.feature, r.kind, r.method) for r in results] == [("x", "numeric", "ks"), ("c", "categorical", "chisquare")]
    ks = results[0]
    assert ks.value == pytest.approx(stats.ks_2samp(ref["x"], cur["x"]).pvalue, rel=1e-9)
    assert ks.drifted and ks.threshold == 0.05 and np.isnan(ks.effect_size)


def test_adapter_input_errors() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    with pytest.raises(ValueError, match="unknown kind"):
        evidently_value_drift(frame, frame, {"x": "ordinal"})
    with pytest.raises(ValueError, match="missing"):
        evidently_value_drift(frame, frame.rename(columns={"x": "y"}), {"x": "numeric"})
    with pytest.raises(ValueError):
        evidently_value_drift(frame.astype(str), frame.astype(str), {"x": "categorical"}, method="wasserstein")
    assert evidently_value_drift(frame, frame, {}) == []
