"""Maturity-aware evidence (monitor.domain.labels.label_arrival): final counts and the share of expected
labels by hand, the delay-weighted estimate against the truth by simulation, every monitored stratum-metric
keyed, and the reference fallbacks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitor.adapters.config_file import load_device_config
from monitor.domain.device import LabelPolicy
from monitor.domain.evaluation import stratum_counts
from monitor.domain.labels import MIN_MATURE_LABELS, add_histograms, arrival_distributions, arrival_from_delays, label_arrival

CONFIG = load_device_config(Path(__file__).resolve().parents[3] / "examples" / "lung-nodule-ct.yaml")
W = CONFIG.monitoring.maturity_window_days
STRATUM = {"age_band": ">=75", "sex": "F", "emphysema_grade": "severe", "scanner_vendor": "GE"}
CELLS = {(1, 1): "tp", (0, 1): "fp", (1, 0): "fn", (0, 0): "tn"}


def _histograms(rows: list[tuple[str, int, int, int, int, int]]) -> pd.DataFrame:
    """(model version, label, call, delay, elapsed, n) -> the repository's two histograms."""
    frame = pd.DataFrame(rows, columns=["model_version", "label", "predicted_label", "delay", "elapsed", "n"])
    frame["elapsed"] = frame["elapsed"].clip(upper=W)
    parts = [frame.groupby(["model_version", "label", "predicted_label", kind])["n"].sum().reset_index()
             .rename(columns={kind: "days"}).assign(kind=kind) for kind in ("delay", "elapsed")]
    return pd.concat(parts)[["model_version", "label", "predicted_label", "kind", "days", "n"]]


def _cells(rows: list[tuple[str, int, int, int, int, int]], **labels: str) -> pd.DataFrame:
    """(model version, label, call, elapsed, received, final) in one stratum cell."""
    frame = pd.DataFrame(rows, columns=["model_version", "label", "predicted_label", "elapsed_days", "received", "final"])
    for name in [a.name for a in CONFIG.strata.attributes]:
        frame[name] = labels.get(name, STRATUM[name])
    return frame


def test_final_counts_share_and_delay_weighted_estimate_by_hand() -> None:
    # reference (mature cohorts): per cell half the labels final at day 10, half at the window
    reference = [("v1", y, c, d, W + 50, 100) for y, c in CELLS for d in (10, W)]
    # this window, 100 days old: only the labels final at day 10 are final (F = 0.5 in every cell)
    cells = _cells([("v1", 1, 1, 100, 80, 40), ("v1", 1, 0, 100, 20, 10),
                    ("v1", 0, 1, 100, 100, 50), ("v1", 0, 0, 100, 600, 300)])
    result = label_arrival(cells, _histograms(reference), CONFIG)
    sens = result.final_counts[("v1", "overall", "sensitivity")]
    assert (sens.successes, sens.trials) == (40, 50)
    # expected positives' labels: (40 + 10) / 0.5 = 100 -> share 50 / 100
    assert sens.expected_share == pytest.approx(0.5)
    ppv = {r["metric"]: r for r in result.section["strata"] if r["stratum"] == "overall"}["ppv"]
    assert ppv["expected_labels"] == pytest.approx(80 + 100)  # tp: max(40 / 0.5, 80 received); fp: max(100, 100)
    assert ppv["delay_weighted_estimate"] == pytest.approx(80 / 180)
    assert ppv["estimate"] == pytest.approx(40 / 90)
    assert ppv["provisional"] is True  # 90 / 180 < 0.8


def test_a_cell_whose_labels_are_all_provisional_counts_its_received_labels() -> None:
    # negative calls' negatives are final only at the window: F_tn = 0 before it
    reference = [("v1", 1, 1, 10, W, 100), ("v1", 1, 0, 10, W, 100), ("v1", 0, 1, 10, W, 100), ("v1", 0, 0, W, W, 100)]
    cells = _cells([("v1", 1, 1, 100, 50, 50), ("v1", 1, 0, 100, 5, 5), ("v1", 0, 1, 100, 45, 45),
                    ("v1", 0, 0, 100, 400, 0)])
    result = label_arrival(cells, _histograms(reference), CONFIG)
    spec = result.final_counts[("v1", "overall", "specificity")]
    assert (spec.successes, spec.trials) == (0, 45)
    assert spec.expected_share == pytest.approx(45 / 445)
    npv = {r["metric"]: r for r in result.section["strata"] if r["stratum"] == "overall"}["npv"]
    assert npv["delay_weighted_estimate"] == pytest.approx(400 / 405) and npv["estimate"] == 0.0
    sens = result.final_counts[("v1", "overall", "sensitivity")]
    assert sens.expected_share == pytest.approx(1.0)


def test_delay_weighted_estimate_is_unbiased_where_the_delay_depends_on_the_outcome() -> None:
    """Positives final within weeks, negatives over months: the final labels of a young cohort are rich in
    positives, so the plain PPV and prevalence are biased; the weighted ones are not (simulation)."""
    rng = np.random.default_rng(7)
    n, prevalence, sens, spec = 400_000, 0.1, 0.9, 0.85

    def cohort(size: int, oldest: int, youngest: int) -> pd.DataFrame:
        y = rng.random(size) < prevalence
        call = np.where(y, rng.random(size) < sens, rng.random(size) > spec)
        delay = np.where(y, rng.integers(5, 60, size), rng.integers(20, W, size))
        elapsed = rng.integers(youngest, oldest, size)
        return pd.DataFrame({"label": y.astype(int), "predicted_label": call.astype(int), "delay": delay,
                             "elapsed": elapsed})

    earlier = cohort(n, 2 * W, 100)
    seen = earlier.loc[earlier["delay"] <= earlier["elapsed"]]
    reference = _histograms([("v1", *k, int(v)) for k, v in
                             seen.groupby(["label", "predicted_label", "delay", "elapsed"]).size().items()])
    current = cohort(n // 4, 200, 110)
    current["final"] = (current["delay"] <= current["elapsed"]).astype(int)
    grouped = current.groupby(["label", "predicted_label", "elapsed"])["final"].agg(["size", "sum"]).reset_index()
    cells = _cells([("v1", int(r.label), int(r.predicted_label), int(r.elapsed), int(r.sum), int(r.sum))
                    for r in grouped.itertuples()])  # received = final: nothing provisional here
    rows = {r["metric"]: r for r in label_arrival(cells, reference, CONFIG).section["strata"] if r["stratum"] == "overall"}
    truth_ppv = (current["label"] & current["predicted_label"]).sum() / current["predicted_label"].sum()
    assert rows["ppv"]["delay_weighted_estimate"] == pytest.approx(truth_ppv, abs=0.01)
    assert rows["prevalence"]["delay_weighted_estimate"] == pytest.approx(current["label"].mean(), abs=0.005)
    assert rows["ppv"]["estimate"] - truth_ppv > 0.05  # the plain estimate on final labels is biased
    section = label_arrival(cells, reference, CONFIG).section
    assert section["outcome_dependent_delay"] is True
    assert section["distributions"][0]["positives"]["median_days"] < section["distributions"][0]["negatives"]["median_days"]


def test_every_monitored_stratum_metric_is_keyed_like_the_evaluation() -> None:
    rng = np.random.default_rng(1)
    rows = []
    for _ in range(60):
        labels = {a.name: str(rng.choice(a.labels())) for a in CONFIG.strata.attributes}
        for (y, c) in CELLS:
            rows.append(_cells([("v1", y, c, 100, 3, 2)], **labels))
    cells = pd.concat(rows, ignore_index=True)
    reference = _histograms([("v1", y, c, d, W, 50) for y, c in CELLS for d in (5, W)])
    keys = set(label_arrival(cells, reference, CONFIG).final_counts)
    confusion = cells.assign(**{k: np.where(cells["label"].eq(y) & cells["predicted_label"].eq(c), cells["final"], 0)
                                for (y, c), k in CELLS.items()})
    confusion = confusion.groupby(["model_version", *[a.name for a in CONFIG.strata.attributes]])[
        ["tp", "fp", "fn", "tn"]].sum().reset_index()
    expected = {(c.model_version, c.stratum.key, m) for c in stratum_counts(confusion, CONFIG)
                for m in ("sensitivity", "specificity", "ppv", "npv")}
    assert keys == expected


def test_reference_falls_back_from_the_cell_to_the_outcome_to_the_device() -> None:
    few = MIN_MATURE_LABELS - 1
    histograms = _histograms([("v2", 1, 1, 10, W, few), ("v2", 1, 0, 10, W, MIN_MATURE_LABELS),  # v2: too few tp
                              ("v1", 0, 0, 200, W, MIN_MATURE_LABELS), ("v1", 0, 1, 200, W, MIN_MATURE_LABELS)])
    arrival = arrival_distributions(histograms, ["v2", "v3"], horizon=W)
    assert arrival["v2"].by_cell["fn"][0] == "model_version|cell"
    assert arrival["v2"].by_cell["tp"][0] == "model_version|outcome"  # 29 tp + 30 fn pooled
    assert arrival["v2"].by_cell["tn"][0] == "device|cell"
    assert arrival["v3"].by_cell["tp"][0] == "device|outcome"
    assert arrival["v3"].by_outcome[0][0] == "device|outcome"


def test_without_a_reference_only_labels_past_the_window_have_a_share() -> None:
    empty = pd.DataFrame(columns=["model_version", "label", "predicted_label", "kind", "days", "n"])
    old = label_arrival(_cells([("v1", 1, 1, W, 60, 60), ("v1", 1, 0, W + 3, 5, 5)]), empty, CONFIG)
    assert old.final_counts[("v1", "overall", "sensitivity")].expected_share == 1.0
    young = label_arrival(_cells([("v1", 1, 1, 30, 60, 60)]), empty, CONFIG)
    assert young.final_counts[("v1", "overall", "sensitivity")].expected_share is None
    assert young.section["outcome_dependent_delay"] is None


def test_provisional_sources_of_the_policy_are_reported() -> None:
    config = CONFIG.model_copy(update={"labels": LabelPolicy(provisional_sources=["follow_up"], min_expected_share=0.9)})
    empty = pd.DataFrame(columns=["model_version", "label", "predicted_label", "kind", "days", "n"])
    section = label_arrival(_cells([("v1", 1, 1, W, 60, 60)]), empty, config).section
    assert section["provisional_sources"] == ["follow_up"] and section["min_expected_share"] == 0.9
    assert section["horizon_days"] == W


def test_arrival_from_delays_applies_the_provisional_rule_and_the_horizon() -> None:
    """Old cohorts' histograms from their label delays: a provisional source is final at the larger of its
    delay and the window, labels final after the horizon are left out, the elapsed time is the horizon;
    delays capped at an earlier cut-off are refused; adding disjoint parts sums by key."""
    delays = pd.DataFrame([("1.0", 1, 1, "histopathology", 3, 0, 5), ("1.0", 1, 1, "follow_up", 3, 0, 2),
                           ("1.0", 0, 0, "follow_up", 40, 0, 4), ("1.0", 0, 1, "histopathology", 400, 0, 9)],
                          columns=["model_version", "label", "predicted_label", "source", "days", "late", "n"])
    got = arrival_from_delays(delays, provisional_sources=["follow_up"], window_days=30, horizon_days=365)
    assert got.to_dict("records") == [
        {"model_version": "1.0", "label": 0, "predicted_label": 0, "kind": "delay", "days": 40, "n": 4},
        {"model_version": "1.0", "label": 0, "predicted_label": 0, "kind": "elapsed", "days": 365, "n": 4},
        {"model_version": "1.0", "label": 1, "predicted_label": 1, "kind": "delay", "days": 3, "n": 5},
        {"model_version": "1.0", "label": 1, "predicted_label": 1, "kind": "delay", "days": 30, "n": 2},
        {"model_version": "1.0", "label": 1, "predicted_label": 1, "kind": "elapsed", "days": 365, "n": 7}]
    assert add_histograms(got, got)["n"].tolist() == [8, 8, 10, 4, 14]
    with pytest.raises(ValueError, match="earlier cut-off"):
        arrival_from_delays(delays.assign(late=[0, 0, 1, 0]), provisional_sources=[], window_days=30, horizon_days=365)
