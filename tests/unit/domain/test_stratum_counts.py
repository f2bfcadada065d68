"""``stratum_counts`` (summed in plain Python) against the pandas formulation it replaced, kept here as the
oracle: the same strata, in the same order, with the same counts, for random cell tables over the example
device (a triple intersection added; labels the configuration does not list; several model versions; strata
whose counts are all zero), and with ``max_level``."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import pandas as pd
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.adapters.config_file import parse_device_config
from monitor.domain.device import DeviceConfig
from monitor.domain.evaluation import StratumCounts, stratum_counts
from monitor.domain.grouping import monitored_groupings
from monitor.domain.strata import StratumDefinition
from monitor.stats.cells import COUNT_COLUMNS, marginal_counts

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "lung-nodule-ct.yaml"


def _config() -> DeviceConfig:
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    names = [a["name"] for a in data["strata"]["attributes"]]
    data["strata"]["intersections"] = [*map(list, combinations(names, 2)), ["age_band", "sex", "emphysema_grade"]]
    return parse_device_config(yaml.safe_dump(data), source="test")


CONFIG = _config()
NAMES = [a.name for a in CONFIG.strata.attributes]


def _oracle(cells: pd.DataFrame, config: DeviceConfig, max_level: int | None = None) -> list[StratumCounts]:
    """The pandas formulation (a group-by per model version and grouping, sorted by label rank)."""
    def order(name: str, labels: list[str]) -> list[str]:
        rank = {label: i for i, label in enumerate(config.strata.attribute(name).labels())}
        return sorted(labels, key=lambda v: (rank.get(v, len(rank)), v))

    result = []
    for model_version in sorted(cells["model_version"].unique()):
        version_cells = cells.loc[cells["model_version"] == model_version]
        for grouping in monitored_groupings(config, max_level=max_level):
            table = marginal_counts(version_cells, list(grouping))
            if grouping:
                orders = [order(g, table[g].astype(str).unique().tolist()) for g in grouping]
                table = table.assign(**{f"_rank_{g}": table[g].map({v: i for i, v in enumerate(o)})
                                        for g, o in zip(grouping, orders, strict=True)}
                                     ).sort_values([f"_rank_{g}" for g in grouping])
            for row in table.itertuples(index=False):
                values = row._asdict()
                stratum = StratumDefinition.of({g: str(values[g]) for g in grouping})
                result.append(StratumCounts(str(model_version), stratum, *(int(values[c]) for c in COUNT_COLUMNS)))
    return result


def _labels(name: str) -> st.SearchStrategy[str]:
    return st.sampled_from([*CONFIG.strata.attribute(name).labels(), "unknown", "zz-unlisted", "aa-unlisted"])


_row = st.fixed_dictionaries({"model_version": st.sampled_from(["v1", "v2", "v10"]),
                              **{name: _labels(name) for name in NAMES},
                              **{c: st.integers(0, 50) for c in COUNT_COLUMNS}})


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(_row, min_size=1, max_size=40), max_level=st.sampled_from([None, 0, 1, 2]))
def test_stratum_counts_equal_the_pandas_formulation(rows: list[dict[str, object]], max_level: int | None) -> None:
    cells = pd.DataFrame(rows, columns=["model_version", *NAMES, *COUNT_COLUMNS])
    assert stratum_counts(cells, CONFIG, max_level=max_level) == _oracle(cells, CONFIG, max_level)


def test_categorical_labels_and_an_empty_table() -> None:
    cells = pd.DataFrame({"model_version": ["v1", "v1"], **{n: [CONFIG.strata.attribute(n).labels()[0]] * 2 for n in NAMES},
                          "tp": [1, 2], "fp": [0, 1], "fn": [3, 0], "tn": [4, 4]})
    categorical = cells.astype({n: "category" for n in ["model_version", *NAMES]})
    assert stratum_counts(categorical, CONFIG) == stratum_counts(cells, CONFIG) == _oracle(cells, CONFIG)
    assert stratum_counts(cells.iloc[:0], CONFIG) == []
