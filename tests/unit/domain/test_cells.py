"""Month windows in the device's time zone tile the periods exactly; cells sum to the strata table."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from monitor.domain.cells import cells_to_strata, month_windows, months_between, stratum_key
from monitor.domain.periods import Period
from monitor.domain.strata import AttributeSpec


def test_a_quarter_is_its_three_local_months_in_shanghai_and_berlin() -> None:
    for zone in ("Asia/Shanghai", "Europe/Berlin", "America/New_York", "Asia/Kolkata"):
        tz = ZoneInfo(zone)
        start, end = Period.parse("2025Q1").bounds_utc(tz)
        months = month_windows(start, end, tz)
        assert months is not None and [m.label for m in months] == ["2025-01", "2025-02", "2025-03"]
        assert months[0].start_utc == start and months[-1].end_utc == end
        assert all(a.end_utc == b.start_utc for a, b in zip(months, months[1:], strict=False))
    berlin = ZoneInfo("Europe/Berlin")  # March has a DST change: the month is 1 hour shorter
    march = months_between(datetime(2025, 3, 10, tzinfo=berlin), datetime(2025, 3, 10, tzinfo=berlin), berlin)[0]
    assert march.end_utc - march.start_utc == timedelta(days=31, hours=-1)


def test_a_week_is_not_whole_months() -> None:
    tz = ZoneInfo("Asia/Shanghai")
    start = datetime(2025, 8, 4, tzinfo=tz).astimezone(timezone.utc)
    assert month_windows(start, start + timedelta(days=7), tz) is None
    assert month_windows(start, start, tz) is None


@given(st.lists(st.tuples(st.sampled_from(["1.0", "2.0"]), st.sampled_from(["<65", ">=65"]),
                          st.sampled_from(["F", "M"]), st.integers(0, 5), st.integers(0, 5), st.integers(0, 5),
                          st.integers(0, 5), st.integers(0, 3)), max_size=30))
def test_cells_sum_into_the_strata_table(rows: list[tuple]) -> None:  # type: ignore[type-arg]
    """Summing cells over months/keys equals a direct groupby of the same records (pandas oracle)."""
    attributes = [AttributeSpec(name="age_band"),
                  AttributeSpec(name="sex")]
    frame = pd.DataFrame(rows, columns=["model_version", "age_band", "sex", "tp", "fp", "fn", "tn", "pending"])
    cells = frame.assign(stratum_key=[stratum_key({"age_band": a, "sex": s})
                                      for a, s in zip(frame["age_band"], frame["sex"], strict=True)])
    got = cells_to_strata(cells[["model_version", "stratum_key", "tp", "fp", "fn", "tn", "pending"]], attributes)
    expected = frame.groupby(["model_version", "age_band", "sex"], as_index=False)[["tp", "fp", "fn", "tn"]].sum()
    expected = expected.loc[expected[["tp", "fp", "fn", "tn"]].sum(axis=1) > 0].reset_index(drop=True)
    for c in ("tp", "fp", "fn", "tn"):
        expected[c] = expected[c].astype("int64")
    pd.testing.assert_frame_equal(got, expected, check_index_type=False)
