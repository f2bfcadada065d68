"""Site-summary cells add up, bundles round-trip, and the centre picks the newest bundle per site and month."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.domain.device import DeviceConfig
from monitor.domain.periods import Period
from monitor.domain.site_summary import (
    CELL_COUNTS,
    BundleHeader,
    SignedBundle,
    SiteSummary,
    add_cells,
    canonical_bytes,
    count_cells,
    evaluation_cells,
    flag_small,
    month_range,
    months_period,
    parse_bundle,
    period_months,
    select_bundles,
)
from monitor.errors import InputError, PeriodError
from monitor.stats.cells import confusion_cells

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "lung-nodule-ct.yaml"
CONFIG = DeviceConfig.model_validate(yaml.safe_load(EXAMPLE.read_text(encoding="utf-8")))
ATTRIBUTES = ["age_band", "sex"]
MONTHS = ["2025-07", "2025-08", "2025-09"]
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)

case_rows = st.lists(st.tuples(
    st.sampled_from(MONTHS), st.sampled_from(["2.1.0", "2.2.0"]), st.sampled_from(["<45", "45-64", ">=75", "unknown"]),
    st.sampled_from(["F", "M", "unknown"]), st.integers(0, 1), st.sampled_from([0.0, 1.0, np.nan])),
    min_size=0, max_size=120)


def _cases(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["month", "model_version", "age_band", "sex", "predicted_label", "label"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=case_rows, parts=st.integers(1, 5), seed=st.integers(0, 2**32 - 1))
def test_counts_of_a_log_split_at_random_sum_to_the_counts_of_the_whole(rows: list[tuple], parts: int,
                                                                        seed: int) -> None:
    cases = _cases(rows)
    owner = np.random.default_rng(seed).integers(0, parts, len(cases))
    pieces = [count_cells(cases.loc[owner == k], ATTRIBUTES) for k in range(parts)]
    pd.testing.assert_frame_equal(add_cells(pieces, ATTRIBUTES), count_cells(cases, ATTRIBUTES), check_dtype=False)
    assert int(count_cells(cases, ATTRIBUTES)[list(CELL_COUNTS)].to_numpy().sum()) == len(cases)


@settings(max_examples=30, deadline=None)
@given(rows=case_rows)
def test_grouped_case_counts_give_the_cells_of_the_cases(rows: list[tuple]) -> None:
    """The site counts GROUP BY rows with ``n``: the same cells as one row per case."""
    cases = _cases(rows)
    keys = ["month", "model_version", *ATTRIBUTES, "predicted_label", "label"]
    grouped = cases.groupby(keys, dropna=False).size().rename("n").reset_index()
    pd.testing.assert_frame_equal(count_cells(grouped, ATTRIBUTES), count_cells(cases, ATTRIBUTES))


def test_cells_match_the_reference_confusion_table() -> None:
    rng = np.random.default_rng(3)
    cases = _cases([(MONTHS[i % 3], "2.1.0", ["<45", ">=75"][i % 2], ["F", "M"][i % 5 % 2], int(rng.integers(0, 2)),
                     float(rng.integers(0, 2)) if i % 7 else np.nan) for i in range(400)])
    cells = count_cells(cases, ATTRIBUTES)
    labelled = cases.dropna(subset=["label"])
    expected = confusion_cells(labelled, keys=["month", "model_version", *ATTRIBUTES])
    got = cells.loc[cells[["tp", "fp", "fn", "tn"]].sum(axis=1) > 0].drop(columns="pending").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    assert int(cells["pending"].sum()) == int(cases["label"].isna().sum())


def test_evaluation_cells_sum_months_and_sites_and_drop_cells_without_ground_truth() -> None:
    cells = pd.DataFrame({"site_id": ["a", "b", "a"], "month": ["2025-07", "2025-08", "2025-08"],
                          "model_version": ["1", "1", "1"], "sex": ["F", "F", "M"],
                          "tp": [1, 2, 0], "fp": [0, 1, 0], "fn": [0, 0, 0], "tn": [3, 0, 0], "pending": [5, 0, 4]})
    table = evaluation_cells(cells, ["sex"])
    assert table.to_dict("records") == [{"model_version": "1", "sex": "F", "tp": 3, "fp": 1, "fn": 0, "tn": 3}]
    assert list(evaluation_cells(cells.iloc[0:0], ["sex"]).columns) == ["model_version", "sex", "tp", "fp", "fn", "tn"]


def test_small_cells_are_flagged_by_all_their_cases() -> None:
    cells = pd.DataFrame({"tp": [1, 5], "fp": [0, 5], "fn": [0, 0], "tn": [2, 0], "pending": [7, 1]})
    assert flag_small(cells, 11).tolist() == [True, False]  # 10 cases are under 11; 11 are not


def test_attribute_names_may_not_clash_with_cell_keys() -> None:
    with pytest.raises(InputError, match="may not be named month"):
        count_cells(_cases([]).assign(month=[]), ["month"])


def test_months_of_periods() -> None:
    assert period_months(Period.parse("2025")) == month_range("2025-01", "2025-12")
    assert period_months(Period.parse("2025-02")) == ["2025-02"]
    assert period_months(Period.parse("2025-07-01..2025-08-31")) == ["2025-07", "2025-08"]
    with pytest.raises(PeriodError, match="whole calendar months"):
        period_months(Period.parse("2025-07-02..2025-08-31"))
    assert months_period("2025-11", "2026-02").label == "2025-11-01..2026-02-28"
    assert month_range("2025-03", "2025-02") == []


def _summary(**changes: object) -> SiteSummary:
    cases = _cases([("2025-07", "2.1.0", "<45", "F", 1, 1.0), ("2025-08", "2.1.0", ">=75", "M", 0, np.nan)])
    cells = count_cells(cases, ATTRIBUTES)
    cells["small"] = flag_small(cells, 11).to_numpy()
    values: dict[str, object] = dict(
        device_id="lung-nodule-ct", site_id="site-a", config_hash="ab" * 32, timezone="Asia/Shanghai",
        period="2025Q3", first_month="2025-07", last_month="2025-09", created_at=T0, software_version="0.1.0",
        attributes=tuple(ATTRIBUTES), min_cell_size=11, cells=cells,
        intake={"predictions": [], "ground_truth": [], "retractions": []}, excluded={"other_site": 2})
    return SiteSummary(**(values | changes))  # type: ignore[arg-type]


def test_payload_round_trips_and_validates_against_the_schema() -> None:
    from tests.unit.test_schemas import assert_valid

    summary = _summary()
    payload = summary.to_payload()
    assert payload["totals"] == {"predictions": 2, "with_ground_truth": 1, "awaiting_ground_truth": 1, "small_cells": 2}
    again = SiteSummary.from_payload(json.loads(canonical_bytes(payload)))
    pd.testing.assert_frame_equal(again.cells, summary.cells, check_dtype=False)
    assert again.to_payload() == payload and again.months == MONTHS
    bundle = SignedBundle(payload, "Ed25519", "cd" * 32, bytes(64))
    assert_valid("site_summary", json.loads(json.dumps(bundle.document())))
    assert_valid("site_summary", SignedBundle(payload, None, None, None).document())
    assert parse_bundle(json.dumps(bundle.document()).encode()).bundle_id == bundle.bundle_id


@pytest.mark.parametrize("change, message", [
    (lambda p: p["cells"][0].update(month="2025-10"), "outside the bundle's period"),
    (lambda p: p["cells"][0]["strata"].pop("sex"), "must give a label for each"),
    (lambda p: p["cells"][0].update(tp=-1), "negative count"),
    (lambda p: p["cells"][0].update(tp="1"), "wrong type"),
    (lambda p: p["cells"][0].update(model_version="v" * 65), "1 to 64 characters"),
    (lambda p: p["cells"].append(dict(p["cells"][0])), "appears twice"),
    (lambda p: p["period"].update(label="2025Q4"), "is not the months"),
    (lambda p: p.update(created_at="2026-01-01T00:00:00"), "no UTC offset"),
    (lambda p: p.update(site_id="../etc"), "not a valid id"),
    (lambda p: p.pop("config_hash"), "config_hash is missing"),
])
def test_malformed_payloads_are_refused(change, message: str) -> None:  # type: ignore[no-untyped-def]
    payload = json.loads(json.dumps(_summary().to_payload()))
    change(payload)
    with pytest.raises(InputError, match=message):
        SiteSummary.from_payload(payload)


def test_envelope_errors_and_canonical_form() -> None:
    with pytest.raises(InputError, match="not UTF-8 JSON"):
        parse_bundle(b"\xff")
    with pytest.raises(InputError, match="schema is not"):
        parse_bundle(b'{"schema": "samd-monitor/analysis"}')
    with pytest.raises(InputError, match="version 2 is not supported"):
        parse_bundle(b'{"schema": "samd-monitor/site_summary", "schema_version": 2}')
    with pytest.raises(InputError, match="not base64"):
        parse_bundle(json.dumps({"schema": "samd-monitor/site_summary", "schema_version": 1,
                                 "payload": {"site_id": "a"},
                                 "signature": {"algorithm": "Ed25519", "key_id": "x", "value": "%%"}}).encode())
    unsigned = parse_bundle(b'{"schema": "samd-monitor/site_summary", "schema_version": 1, '
                            b'"payload": {"site_id": "a"}}')
    assert unsigned.signature is None
    with pytest.raises(InputError, match="no floating-point"):
        canonical_bytes({"a": [1.5]})
    assert canonical_bytes({"b": 1, "a": {"d": "x", "c": None}}) == b'{"a":{"c":null,"d":"x"},"b":1}'


def _header(bundle: str, site: str, first: str, last: str, made: int, config: str = "c") -> BundleHeader:
    return BundleHeader(bundle, site, config, first, last, T0 + timedelta(days=made), T0 + timedelta(days=30 - made))


def test_the_newest_bundle_of_a_site_counts_month_by_month() -> None:
    headers = [_header("q3-old", "a", "2025-07", "2025-09", 1), _header("aug-new", "a", "2025-08", "2025-08", 2),
               _header("q3-b", "b", "2025-07", "2025-09", 0), _header("stale", "b", "2025-07", "2025-09", 5, "old"),
               _header("h1", "a", "2025-01", "2025-06", 9), _header("year-late", "b", "2025-01", "2025-12", -1)]
    used, left_out = select_bundles(headers, MONTHS, config_hash="c")
    assert used == {("a", "2025-07"): "q3-old", ("a", "2025-08"): "aug-new", ("a", "2025-09"): "q3-old",
                    ("b", "2025-07"): "q3-b", ("b", "2025-08"): "q3-b", ("b", "2025-09"): "q3-b"}
    assert left_out == {"stale": "other_configuration", "year-late": "superseded"}
    used, _ = select_bundles(headers, ["2025-10"], config_hash="c")
    assert used == {("b", "2025-10"): "year-late"}
