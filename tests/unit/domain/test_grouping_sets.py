"""Sections read from grouping sets (tables summed to the whole population and each single attribute,
as the database returns them) equal the same sections read from the full combination of labels."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest

from monitor.domain.device import DeviceConfig
from monitor.domain.discrimination import discrimination_by_stratum
from monitor.domain.early_warning import estimated_performance_by_stratum
from monitor.domain.grouping import GROUPING_COLUMN, grouping_name, iter_strata, overall_rows
from monitor.domain.labels import maturity_by_stratum
from monitor.domain.timing import time_to_intervention_by_stratum

CONFIG = DeviceConfig.model_validate({
    "schema_version": 1,
    "device": {"id": "d", "name": "Test device", "manufacturer": "test", "intended_use": "test",
               "target_population": "adults"},
    "operating_threshold": 0.5,
    "strata": {"attributes": [{"name": "age_band", "column": "age", "bins": [45, 65]},
                              {"name": "sex", "values": ["F", "M"]},
                              {"name": "site", "column": "site_id", "values": ["a", "b", "c"]}],
               "intersections": "all_pairs"},
    "claims": {"sensitivity": {"value": 0.9, "margin": 0.02}, "specificity": {"value": 0.85, "margin": 0.02}},
    "monitoring": {"period": "quarter", "timezone": "UTC"},
})
NAMES = ["age_band", "sex", "site"]
LEVELS = {"age_band": ["<45", "45-64", ">=65", "unknown"], "sex": ["F", "M", "unknown"], "site": ["a", "b", "c"]}


def _full(rng: np.random.Generator, measures: dict[str, np.ndarray], rows: int) -> pd.DataFrame:
    """A table by every attribute and ``measures`` with a count ``n`` (one model version or two)."""
    frame = pd.DataFrame({"model_version": rng.choice(["1.0", "2.0"], rows)}
                         | {name: rng.choice(LEVELS[name], rows) for name in NAMES}
                         | {k: rng.choice(v, rows) for k, v in measures.items()})
    frame["n"] = rng.integers(1, 40, rows)
    return frame.groupby([c for c in frame.columns if c != "n"], as_index=False)["n"].sum()


def _sets(full: pd.DataFrame, measures: list[str]) -> pd.DataFrame:
    """The grouping-sets table of ``full`` (as the database's UNION ALL of GROUP BYs returns it)."""
    parts = []
    for grouping in [(), *[(name,) for name in NAMES]]:
        part = full.groupby(["model_version", *grouping, *measures], as_index=False)["n"].sum()
        for name in NAMES:
            if name not in grouping:
                part[name] = None
        part[GROUPING_COLUMN] = grouping_name(grouping)
        parts.append(part[[GROUPING_COLUMN, "model_version", *NAMES, *measures, "n"]])
    return pd.concat(parts, ignore_index=True).sample(frac=1.0, random_state=0)  # any row order


@pytest.mark.parametrize("seed", range(5))
def test_sections_from_grouping_sets_equal_sections_from_the_full_combination(seed: int) -> None:
    rng = np.random.default_rng(seed)
    histogram = ["score_bin", "label", "predicted_label"]
    current = _full(rng, {"score_bin": np.arange(0, 1001, 7), "label": np.array([-1, 0, 1]),
                          "predicted_label": np.array([0, 1])}, 3000)
    reference = _full(rng, {"score_bin": np.arange(0, 1001, 7), "label": np.array([-1, 0, 1]),
                            "predicted_label": np.array([0, 1])}, 3000)
    days = _full(rng, {"days": np.arange(0, 200), "observed": np.array([0, 1])}, 2000)
    assert discrimination_by_stratum(_sets(current, histogram), CONFIG) == discrimination_by_stratum(current, CONFIG)
    assert (estimated_performance_by_stratum(_sets(current, histogram), _sets(reference, histogram), CONFIG)
            == estimated_performance_by_stratum(current, reference, CONFIG))
    assert (time_to_intervention_by_stratum(_sets(days, ["days", "observed"]), CONFIG)
            == time_to_intervention_by_stratum(days, CONFIG))
    end, cutoff = datetime(2025, 7, 1, tzinfo=timezone.utc), datetime(2025, 9, 1, tzinfo=timezone.utc)
    assert (maturity_by_stratum(_sets(days, ["days", "observed"]), CONFIG, period_end=end, cutoff=cutoff)
            == maturity_by_stratum(days, CONFIG, period_end=end, cutoff=cutoff))


def test_grouping_sets_need_every_grouping_they_are_read_with() -> None:
    full = _full(np.random.default_rng(1), {"days": np.arange(3), "observed": np.array([0, 1])}, 50)
    sets = _sets(full, ["days", "observed"])
    assert overall_rows(sets)["n"].sum() == overall_rows(full)["n"].sum() == full["n"].sum()
    with pytest.raises(ValueError, match="grouping"):
        list(iter_strata(sets, CONFIG, max_level=2))  # the pairs were not summed
