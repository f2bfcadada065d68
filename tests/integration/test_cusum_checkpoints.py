"""CUSUM checkpoints are exact (issue 20): the CUSUM section resumed from stored chart states equals the
replay of every chart from its model version's first case, on both engines.

Random small logs (hypothesis) reach the service in several deliveries with the clock set to each arrival:
predictions of two model versions, labels (some late), label corrections and retractions. Analyses run
at a few cut-offs as the data arrive, each analysing the quarters started by then in order (the checkpoint
of a quarter's end is then there for the next one); then every analysis is re-run with its older cut-off,
after later checkpoints were stored. Cohort charts (``labels.charted_when_mature``) and audit designs are
drawn too. Every section is compared with the replay (checkpoints hidden) as a whole: design, statistic
(exactly, bit for bit), cases, corrected labels, restart instant and dated alarms.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from monitor.adapters.config_file import load_device_config
from monitor.adapters.db.tables import cusum_checkpoints
from monitor.domain.periods import Period
from monitor.service.cusum_charts import cusum_charts
from monitor.service.devices import register_device
from monitor.service.ingest import (
    ingest_ground_truth,
    ingest_predictions,
    ingest_retractions,
)
from monitor.service.window import Window
from monitor.synthetic import write_csv

DEVICE = "lung-nodule-ct"
TZ = ZoneInfo("Asia/Shanghai")
QUARTERS = [Period.parse(q) for q in ("2025Q2", "2025Q3", "2025Q4")]
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "lung-nodule-ct.yaml"
_CLEARED = ("cusum_checkpoint_charts", "cusum_checkpoints", "cusum_design_bases", "prediction_retractions",
            "ground_truth", "prediction_failures", "predictions", "rejected_rows", "case_cells", "cell_months",
            "ingestion_batches")


class _Replay:
    """A repository, as it is (the replay unit has no checkpoints: every chart replayed from its start)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _ReplayUnit:
    def __init__(self, unit: Any) -> None:
        self.results, self.aggregates, self.case_stream = unit.results, unit.aggregates, _Replay(unit.case_stream)


class _Spy(_Replay):
    """The case stream, recording where each stream started."""

    def __init__(self, inner: Any, since: list[Any]) -> None:
        super().__init__(inner)
        self._since = since

    def known_case_stream(self, *args: Any, **kwargs: Any) -> Any:
        self._since.append(kwargs.get("since"))
        return self._inner.known_case_stream(*args, **kwargs)


class _SpyUnit:
    def __init__(self, unit: Any, since: list[Any]) -> None:
        self.results, self.aggregates, self.case_stream = unit.results, unit.aggregates, _Spy(unit.case_stream, since)
        self.cusum_checkpoints = unit.cusum_checkpoints


def _configure(app: Any, folder: Path, *, cohort: list[str], audit: bool, steady: bool) -> None:
    """The example device with the drawn chart options; ``steady``: every chart at the minimum ARL0 (a
    false-alarm budget so large that no volume raises it, no pre-specified volume), so that designs repeat
    from quarter to quarter and checkpoints are resumed; else designs follow the volumes (and mostly
    change at this scale: the charts are replayed)."""
    config = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    if steady:
        config["monitoring"]["cusum_false_alarms_per_year"] = 1.0e6
        config["monitoring"]["cusum_cases_per_year"] = None
    config["labels"]["charted_when_mature"] = cohort
    config["labels"]["provisional_sources"] = []
    config["monitoring"]["maturity_window_days"] = 20
    if audit:
        config["labels"]["verification"] = "audit_sample"
        config["labels"]["sampling_fractions"] = {"positive_calls": 1.0, "negative_calls": 0.5}
    path = folder / "device.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    register_device(load_device_config(path), uow=app.uow, clock=app.clock, actor="pytest", source=str(path))


def _events(seed: int, n: int, corrections: int, retractions: int) -> list[tuple[datetime, str, pd.DataFrame]]:
    """(arrival instant, kind, rows) of every delivery, in arrival order."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2025-04-01T00:00:00", tz=TZ)
    at = (start + pd.to_timedelta(np.sort(rng.uniform(0, 240, n)), unit="D")).round("s")
    version = np.where(at < pd.Timestamp("2025-08-15", tz=TZ), "2.1.0",
                       np.where(rng.random(n) < 0.2, "2.1.0", "2.2.0"))
    positive = rng.random(n) < 0.5
    miss = rng.random(n) < 0.25
    call = np.where(positive, ~miss, rng.random(n) < 0.3).astype(int)
    predictions = pd.DataFrame({
        "prediction_id": [f"p{i:04d}" for i in range(n)], "device_id": DEVICE, "model_version": version,
        "site_id": "site-01", "predicted_at": at, "score": np.where(call == 1, 0.8, 0.2),
        "predicted_label": call, "patient_id": [f"pt{i:04d}" for i in range(n)],
        "age": rng.integers(40, 90, n).astype(float), "sex": rng.choice(["F", "M"], n),
        "emphysema_grade": rng.choice(["none", "mild"], n), "scanner_vendor": "GE"})
    # deliveries: predictions every ~10 days, labels every ~9 days (6 hours later in the day), retractions
    # 12 hours later; each row goes with the first delivery after it exists
    days = pd.date_range("2025-04-05", "2026-03-01", freq="D", tz="UTC")
    p_days = np.sort(rng.choice(days, 26, replace=False))
    g_days = np.sort(rng.choice(days, 30, replace=False)) + pd.Timedelta(hours=6)

    def first_after(moments: Any, grid: Any) -> Any:
        grid = pd.DatetimeIndex(grid)
        return grid[np.minimum(np.searchsorted(grid.asi8, pd.DatetimeIndex(moments).asi8, side="right"),
                               len(grid) - 1)]

    p_arrives = first_after(at.tz_convert("UTC"), p_days)
    keep = np.asarray(p_arrives > at.tz_convert("UTC"))
    predictions, p_arrives = predictions.loc[keep].reset_index(drop=True), p_arrives[keep]
    n = len(predictions)
    confirmed = predictions["predicted_at"] + pd.to_timedelta(rng.uniform(1, 90, n), unit="D").round("s")
    g_arrives = first_after(np.maximum(confirmed.dt.tz_convert("UTC"), pd.Series(p_arrives)), g_days)
    labelled = ((rng.random(n) < 0.85) & np.asarray(g_arrives > confirmed.dt.tz_convert("UTC").to_numpy())
                & np.asarray(g_arrives > p_arrives))
    truth = pd.DataFrame({"prediction_id": predictions["prediction_id"], "device_id": DEVICE,
                          "label": positive[keep].astype(int), "confirmed_at": confirmed.dt.tz_convert(TZ),
                          "source": "histopathology", "intervention_at": pd.NaT, "correction_reason": ""})
    events: list[tuple[datetime, str, pd.DataFrame]] = []
    for when in np.unique(p_arrives):
        events.append((pd.Timestamp(when).to_pydatetime(), "p", predictions.loc[np.asarray(p_arrives == when)]))
    g_when = pd.Series(np.asarray(g_arrives), index=truth.index)
    for when in np.unique(g_arrives[labelled]):
        events.append((pd.Timestamp(when).to_pydatetime(), "g", truth.loc[labelled & (g_when == when).to_numpy()]))
    chosen = rng.permutation(np.flatnonzero(labelled))
    for i in chosen[:corrections]:  # the label flipped, delivered with a later label delivery
        later = [d for d in g_days if d > g_when[i]]
        if later:
            row = truth.loc[[i]].assign(label=1 - truth.loc[i, "label"], correction_reason="panel re-read")
            events.append((pd.Timestamp(later[int(rng.integers(len(later)))]).to_pydatetime(), "g", row))
    for i in rng.permutation(n)[:retractions]:
        moment = pd.Timestamp(p_arrives[i]) + pd.Timedelta(days=int(rng.integers(1, 120)), hours=12)
        row = pd.DataFrame({"device_id": [DEVICE], "prediction_id": [predictions.loc[i, "prediction_id"]],
                            "retracted_at": [moment.tz_convert(TZ).isoformat()], "reason": ["recalled"]})
        events.append((moment.to_pydatetime(), "r", row))
    events.sort(key=lambda e: (e[0], e[1]))
    merged: list[tuple[datetime, str, pd.DataFrame]] = []  # one batch per kind and instant
    for when, kind, rows in events:
        if merged and merged[-1][0] == when and merged[-1][1] == kind:
            merged[-1] = (when, kind, pd.concat([merged[-1][2], rows]))
        else:
            merged.append((when, kind, rows))
    return merged


def _ingest(app: Any, clock: Any, folder: Path, when: datetime, kind: str, rows: pd.DataFrame, i: int) -> None:
    clock.now = when - timedelta(seconds=1)  # the stepping clock stamps the batch at `when`
    path = write_csv(rows, folder / f"{kind}-{i}.csv")
    common = {"source": path.name, "uow": app.uow, "clock": app.clock, "actor": "t"}
    if kind == "p":
        ingest_predictions(app.open_log(path), hash_patient=app.patient_hasher(), **common)
    elif kind == "g":
        ingest_ground_truth(app.open_log(path), **common)
    else:
        ingest_retractions(app.open_log(path), **common)


def _sections(app: Any, period: Period, cutoff: datetime, since: list[Any] | None = None
              ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The period's CUSUM section with checkpoints (used and stored) and by replay, at ``cutoff``."""
    start, end = period.bounds_utc(TZ)
    out = []
    for replay in (False, True):
        with app.uow() as unit:
            config = unit.devices.get(DEVICE)
            cells = unit.results.confusion_cells(DEVICE, start=start, end=end, cutoff=cutoff,
                                                 attributes=config.strata.attributes)
            chosen = _ReplayUnit(unit) if replay else _SpyUnit(unit, since if since is not None else [])
            out.append(cusum_charts(chosen, config, period, Window(DEVICE, start, end, cutoff), cells))
    return out[0], out[1]


def _run(app: Any, clock: Any, folder: Path, *, seed: int, n: int, corrections: int, retractions: int,
         analyses: list[int]) -> list[Any]:
    """Ingest the deliveries, analysing at the chosen ones; then re-run the analyses with older cut-offs.
    Return where each stream of the checkpoint path started."""
    events = _events(seed, n, corrections, retractions)
    stops = sorted({min(a, len(events) - 1) for a in analyses} | {len(events) - 1})
    cutoffs: list[datetime] = []
    since: list[Any] = []
    for i, (when, kind, rows) in enumerate(events):
        _ingest(app, clock, folder, when, kind, rows, i)
        if i in stops:
            cutoff = when + timedelta(hours=1)
            cutoffs.append(cutoff)
            for period in QUARTERS:
                if period.bounds_utc(TZ)[0] < cutoff:
                    resumed, replayed = _sections(app, period, cutoff, since)
                    assert resumed == replayed, (period.label, cutoff)
    for cutoff in reversed(cutoffs[:-1]):  # re-runs with older cut-offs, after later checkpoints were stored
        for period in QUARTERS:
            if period.bounds_utc(TZ)[0] < cutoff:
                resumed, replayed = _sections(app, period, cutoff, since)
                assert resumed == replayed, ("re-run", period.label, cutoff)
    return since


def _clear(app: Any) -> None:
    with app.uow() as unit:
        for table in _CLEARED:
            unit.connection.exec_driver_sql(f"DELETE FROM {table}")


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**31), n=st.integers(60, 220), corrections=st.integers(0, 6),
       retractions=st.integers(0, 4), analyses=st.lists(st.integers(0, 60), min_size=1, max_size=3),
       cohort=st.sampled_from([[], ["specificity"], ["sensitivity", "specificity"]]), audit=st.booleans(),
       steady=st.booleans())
def test_checkpointed_cusum_sections_equal_the_replay(app: Any, clock: Any, tmp_path_factory: pytest.TempPathFactory,
                                                      seed: int, n: int, corrections: int, retractions: int,
                                                      analyses: list[int], cohort: list[str], audit: bool,
                                                      steady: bool) -> None:
    folder = tmp_path_factory.mktemp("cusum")
    _clear(app)
    _configure(app, folder, cohort=cohort, audit=audit, steady=steady)
    _run(app, clock, folder, seed=seed, n=n, corrections=corrections, retractions=retractions, analyses=analyses)


def test_a_checkpoint_is_used_stored_and_ignored_when_a_correction_follows(app: Any, clock: Any,
                                                                          tmp_path: Path) -> None:
    """The test has teeth: a later quarter resumes from the previous quarter's end (its stream starts
    there), and a correction ingested after the checkpoint's cut-off makes the analysis replay instead."""
    _configure(app, tmp_path, cohort=["specificity"], audit=False, steady=True)
    since = _run(app, clock, tmp_path, seed=20, n=300, corrections=0, retractions=0, analyses=[])
    q3_end = QUARTERS[1].bounds_utc(TZ)[1]
    assert q3_end in since, "2025Q4 should resume at the end of 2025Q3"
    with app.uow() as unit:
        stored = unit.connection.exec_driver_sql("SELECT count(*) FROM cusum_checkpoints").scalar_one()
        bases = unit.connection.exec_driver_sql("SELECT count(*) FROM cusum_design_bases").scalar_one()
    assert stored >= 2 and bases == 3
    before = _sections(app, QUARTERS[2], datetime(2026, 3, 9, tzinfo=UTC))[0]
    # a correction of an old label, ingested after the checkpoints' cut-off: they are no longer valid (the case
    # leaves its place in the charts before 2025Q4's end, to enter at the correction's arrival, in 2026Q1)
    with app.uow() as unit:
        pid, label, confirmed = unit.connection.exec_driver_sql(
            "SELECT prediction_id, label, confirmed_at FROM ground_truth ORDER BY id LIMIT 1").one()
    when = datetime(2026, 3, 10, tzinfo=UTC)
    row = pd.DataFrame({"prediction_id": [pid], "device_id": [DEVICE], "label": [1 - label],
                        "confirmed_at": [pd.Timestamp(confirmed).tz_localize("UTC") if pd.Timestamp(confirmed).tzinfo
                                         is None else pd.Timestamp(confirmed)],
                        "source": ["histopathology"], "intervention_at": [pd.NaT],
                        "correction_reason": ["panel re-read"]})
    _ingest(app, clock, tmp_path, when, "g", row, 999)
    later: list[Any] = []
    resumed, replayed = _sections(app, QUARTERS[2], when + timedelta(hours=1), later)
    # replayed from the start: every stream starts at the first case (None) or, fed in two steps, at the
    # quarter's start, where this period's checkpoint is stored
    q4_start = QUARTERS[2].bounds_utc(TZ)[0]
    assert resumed == replayed and None in later and set(later) <= {None, q4_start}
    with app.uow() as unit:
        at_start = unit.connection.execute(select(func.count()).select_from(cusum_checkpoints).where(
            cusum_checkpoints.c.known_before == q4_start)).scalar_one()
    assert at_start >= 1
    # a re-run at the same cut-off resumes at the quarter's start: the period's cases only, the same charts
    again: list[Any] = []
    rerun, _ = _sections(app, QUARTERS[2], when + timedelta(hours=1), again)
    assert rerun == replayed and set(again) == {q4_start}
    assert sum(c["cases_since_start"] for c in resumed) < sum(c["cases_since_start"] for c in before)


def test_a_rerun_resumes_from_its_own_design_where_the_previous_period_ended(app: Any, clock: Any,
                                                                            tmp_path: Path) -> None:
    """Issue 20: the previous period's end and this period's start are one instant. When their designs
    differ, both checkpoints are kept there, and a re-run of the period resumes from its own design: no chart
    replayed from its start, every stream from the period's start, the same charts as the replay."""
    _configure(app, tmp_path, cohort=["specificity"], audit=False, steady=False)
    events = _events(31, 400, 0, 0)
    for i, (when, kind, rows) in enumerate(events):
        _ingest(app, clock, tmp_path, when, kind, rows, i)
    cutoff = events[-1][0] + timedelta(hours=1)
    q3_start = QUARTERS[1].bounds_utc(TZ)[0]
    _sections(app, QUARTERS[0], cutoff)  # 2025Q2 stores its end, under its design, at 2025Q3's start
    first: list[Any] = []
    resumed, replayed = _sections(app, QUARTERS[1], cutoff, first)
    assert resumed == replayed and None in first  # 2025Q3's design differs: its changed charts replayed
    again: list[Any] = []
    rerun, _ = _sections(app, QUARTERS[1], cutoff, again)
    assert rerun == replayed and set(again) == {q3_start}
    with app.uow() as unit:
        kept = unit.connection.execute(select(func.count()).select_from(cusum_checkpoints).where(
            cusum_checkpoints.c.known_before == q3_start, cusum_checkpoints.c.model_version == "2.1.0")).scalar_one()
    assert kept == 2
    rerun_again, _ = _sections(app, QUARTERS[1], cutoff)
    assert rerun_again == replayed
    with app.uow() as unit:  # nothing more stored: the period's own checkpoint is there already
        assert unit.connection.execute(select(func.count()).select_from(cusum_checkpoints).where(
            cusum_checkpoints.c.known_before == q3_start, cusum_checkpoints.c.model_version == "2.1.0")).scalar_one() == 2
