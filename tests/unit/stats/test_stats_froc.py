"""Lesion matching and the FROC figures against a hand count and a brute-force oracle (issue 17 item 2)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from monitor.domain.device_kinds import LesionMatching
from monitor.domain.lesion_matching import Finding, ReferenceLesion, match_scan
from monitor.stats.froc import LesionCases, froc_curve, lesion_figures, patient_draws

RULE = LesionMatching()  # centre_within_reference
RATES = (0.125, 0.25, 0.5, 1.0, 2.0)

# The crafted case set: 3 patients, 5 scans, 4 reference lesions, 8 findings.
#   s1 (patient A): L1 (0,0,0) d=10, L2 (50,0,0) d=6; f1 (1,0,0) .9 hits L1; f2 (0,2,0) .8 hits L1 too but L1 is
#                   taken -> FP; f3 (51,1,0) .4 hits L2 (1.41 <= 3) -> TP
#   s2 (patient A): normal; f4 .7 FP, f5 .3 FP
#   s3 (patient B): L3 (0,0,0) d=8; f6 (5,0,0) .95 misses (5 > 4) -> FP; f7 (3,0,0) .6 -> TP
#   s4 (patient C): normal, no finding
#   s5 (patient C): L4 (0,0,0) d=4; f8 (10,0,0) .5 -> FP; L4 missed
SCANS = {
    "s1": ("A", [ReferenceLesion("L1", (0, 0, 0), 10), ReferenceLesion("L2", (50, 0, 0), 6)],
           [Finding("f1", (1, 0, 0), .9), Finding("f2", (0, 2, 0), .8), Finding("f3", (51, 1, 0), .4)]),
    "s2": ("A", [], [Finding("f4", (10, 10, 10), .7), Finding("f5", (0, 0, 0), .3)]),
    "s3": ("B", [ReferenceLesion("L3", (0, 0, 0), 8)], [Finding("f6", (5, 0, 0), .95), Finding("f7", (3, 0, 0), .6)]),
    "s4": ("C", [], []),
    "s5": ("C", [ReferenceLesion("L4", (0, 0, 0), 4)], [Finding("f8", (10, 0, 0), .5)]),
}


def _cases(scans: dict, rule: LesionMatching = RULE) -> LesionCases:
    patients = sorted({p for p, _, _ in scans.values()})
    scan_patient, f_scan, f_score, f_hit, l_scan, l_score = [], [], [], [], [], []
    for index, (patient, lesions, findings) in enumerate(scans.values()):
        scan_patient.append(patients.index(patient))
        matched = match_scan(findings, lesions, rule)
        by_lesion = {lesion: f for f, lesion in matched.items() if lesion is not None}
        scores = {f.lesion_id: f.score for f in findings}
        for f in findings:
            f_scan.append(index), f_score.append(f.score), f_hit.append(matched[f.lesion_id] is not None)
        for lesion in lesions:
            l_scan.append(index)
            l_score.append(scores[by_lesion[lesion.lesion_id]] if lesion.lesion_id in by_lesion else -np.inf)
    return LesionCases(len(patients), np.array(scan_patient, dtype=int), np.array(f_scan, dtype=int),
                       np.array(f_score, dtype=float), np.array(f_hit, dtype=bool), np.array(l_scan, dtype=int),
                       np.array(l_score, dtype=float))


def test_matching_hand_count() -> None:
    assert match_scan(*reversed(SCANS["s1"][1:]), RULE) == {"f1": "L1", "f2": None, "f3": "L2"}
    assert match_scan(*reversed(SCANS["s3"][1:]), RULE) == {"f6": None, "f7": "L3"}
    # centre_distance 6 mm: f6 (5 mm away) now hits L3 first, f7 is then an FP
    assert match_scan(*reversed(SCANS["s3"][1:]), LesionMatching(rule="centre_distance", max_distance_mm=6)) == {
        "f6": "L3", "f7": None}
    # a finding hitting two free lesions takes the nearest
    two = [ReferenceLesion("Lb", (4, 0, 0), 10), ReferenceLesion("La", (0, 3, 0), 10)]
    assert match_scan([Finding("f", (0, 0, 0), .5)], two, RULE) == {"f": "La"}


def test_figures_hand_count() -> None:
    figures = lesion_figures(_cases(SCANS), threshold=0.5, rates=RATES)
    # At 0.5: reported f6 f1 f2 f4 f7 f8; TP f1, f7 (2 of 4 lesions); FP f6 f2 f4 f8 (4 over 5 scans).
    assert (figures.true_positives, figures.false_positives, figures.false_negatives) == (2, 4, 2)
    assert (figures.scans, figures.patients, figures.lesions, figures.normal_scans) == (5, 3, 4, 2)
    assert figures.sensitivity.estimate == 0.5
    assert figures.fp_per_scan.estimate == 0.8
    # FROC by hand, thresholds .95 .9 .8 .7 .6 .5 .4 .3: cumulative TP 0 1 1 1 2 2 3 3, FP 1 1 2 3 3 4 4 5
    assert [(p.threshold, p.true_positives, p.false_positives) for p in figures.curve] == [
        (.95, 0, 1), (.9, 1, 1), (.8, 1, 2), (.7, 1, 3), (.6, 2, 3), (.5, 2, 4), (.4, 3, 4), (.3, 3, 5)]
    assert [p.fp_per_scan for p in figures.curve] == pytest.approx([.2, .2, .4, .6, .6, .8, .8, 1.0])
    # sensitivity at <= 1/8: only the origin (0); <= 1/4: .25; <= 1/2: .25; <= 1: .75; <= 2: .75; CPM 2.0 / 5
    assert [e.estimate for _, e in figures.sensitivity_at] == [0, .25, .25, .75, .75]
    assert figures.cpm.estimate == pytest.approx(0.4)
    # JAFROC: normal scans' highest FP X = .7 (s2), -inf (s4); lesions Y = .9, .4, .6, -inf.
    # X=.7 beats none but Y=.9 (1); X=-inf is below .9, .4, .6 (3) and ties -inf (0.5): (1 + 3.5) / (2 * 4)
    assert figures.jafroc_fom.estimate == pytest.approx(4.5 / 8)


def test_fom_equals_auc_of_lesions_against_normal_highest_fp() -> None:
    """Package oracle: the JAFROC FOM is the Mann-Whitney AUC (sklearn) of lesion scores vs normals' highest FP."""
    rng = np.random.default_rng(3)
    for _ in range(5):
        cases = _cases(_random_scans(rng))
        figures = lesion_figures(cases, threshold=0.5, rates=RATES)
        highest = np.full(len(cases.scan_patient), -np.inf)
        np.maximum.at(highest, cases.finding_scan, cases.finding_score)
        x, y = highest[cases.scan_normal], cases.lesion_score
        values = np.concatenate([y, x])
        values[np.isinf(values)] = -1.0
        auc = roc_auc_score(np.r_[np.ones(len(y)), np.zeros(len(x))], values)
        assert figures.jafroc_fom.estimate == pytest.approx(auc)


def _random_scans(rng: np.random.Generator, patients: int = 6) -> dict:
    scans = {}
    for s in range(rng.integers(5, 12)):
        lesions = [ReferenceLesion(f"L{s}.{i}", tuple(rng.uniform(0, 40, 3)), float(rng.uniform(4, 20)))
                   for i in range(rng.integers(0, 4))]
        findings = [Finding(f"f{s}.{i}", tuple(rng.uniform(0, 40, 3)), float(rng.choice([.2, .4, .5, .6, .8, .9])))
                    for i in range(rng.integers(0, 5))]
        for lesion in lesions[:1]:  # some findings close to a lesion
            findings.append(Finding(f"f{s}.near", tuple(np.add(lesion.centre, 1.0)), float(rng.choice([.3, .7]))))
        scans[f"s{s}"] = (f"P{rng.integers(0, patients)}", lesions, findings)
    return scans


def _brute(scans: dict, threshold: float, rates: tuple[float, ...]) -> dict:
    """Independent oracle: at each threshold, match afresh the findings at or above it (pairs in score order,
    nearest lesion); figures by direct counting and the FOM by the double sum."""
    def counts(t: float) -> tuple[int, int]:
        tp = fp = 0
        for _, lesions, findings in scans.values():
            free = {lesion.lesion_id: lesion for lesion in lesions}
            for f in sorted([f for f in findings if f.score >= t], key=lambda f: (-f.score, f.lesion_id)):
                near = sorted((math.dist(f.centre, l.centre), l.lesion_id) for l in free.values()
                              if math.dist(f.centre, l.centre) <= l.diameter_mm / 2)
                if near:
                    tp += 1
                    del free[near[0][1]]
                else:
                    fp += 1
        return tp, fp
    n_scans = len(scans)
    n_lesions = sum(len(lesions) for _, lesions, _ in scans.values())
    scores = sorted({f.score for _, _, fs in scans.values() for f in fs}, reverse=True)
    curve = [(t, *counts(t)) for t in scores]
    at = [max([0.0] + [tp / n_lesions for _, tp, fp in curve if fp / n_scans <= r]) for r in rates]
    tp, fp = counts(threshold)
    # FOM: lesion j's rating is the score of the finding matched to it with all findings present
    rating = {}
    for _, lesions, findings in scans.values():
        matched = match_scan(findings, lesions, RULE)
        score = {f.lesion_id: f.score for f in findings}
        rating |= {lesion: score[f] for f, lesion in matched.items() if lesion is not None}
    ys = [rating.get(l.lesion_id, -math.inf) for _, lesions, _ in scans.values() for l in lesions]
    xs = [max([f.score for f in findings], default=-math.inf) for _, lesions, findings in scans.values() if not lesions]
    psi = [1.0 if y > x else 0.5 if y == x else 0.0 for x, y in itertools.product(xs, ys)]
    return {"sensitivity": tp / n_lesions if n_lesions else None, "fp_per_scan": fp / n_scans,
            "curve": [(t, a, b) for t, a, b in curve], "at": at if n_lesions else [None] * len(rates),
            "fom": sum(psi) / len(psi) if psi else None}


def test_against_brute_force_on_random_sets() -> None:
    rng = np.random.default_rng(20250101)
    for _ in range(30):
        scans = _random_scans(rng)
        figures = lesion_figures(_cases(scans), threshold=0.5, rates=RATES)
        oracle = _brute(scans, 0.5, RATES)
        assert figures.sensitivity.estimate == pytest.approx(oracle["sensitivity"])
        assert figures.fp_per_scan.estimate == pytest.approx(oracle["fp_per_scan"])
        assert [(p.threshold, p.true_positives, p.false_positives) for p in figures.curve] == oracle["curve"]
        assert [e.estimate for _, e in figures.sensitivity_at] == pytest.approx(oracle["at"])
        assert figures.jafroc_fom.estimate == pytest.approx(oracle["fom"])


def test_patient_bootstrap_equals_explicit_resampling() -> None:
    """Each replicate equals the figures of the data set built by copying every drawn patient's scans (the cluster
    bootstrap done by hand); SE and percentile interval follow from those replicates."""
    rng = np.random.default_rng(7)
    scans = _random_scans(rng, patients=4)
    cases = _cases(scans)
    patients = sorted({p for p, _, _ in scans.values()})
    draws = patient_draws(cases.patients, 200, seed=11)
    replicate_sens, replicate_fps = [], []
    for counts in draws:
        copied = {f"{name}#{k}": (f"{patient}#{k}", lesions, findings)
                  for name, (patient, lesions, findings) in scans.items()
                  for k in range(int(counts[patients.index(patient)]))}
        oracle = _brute(copied, 0.5, RATES)
        replicate_sens.append(np.nan if oracle["sensitivity"] is None else oracle["sensitivity"])
        replicate_fps.append(oracle["fp_per_scan"])
    figures = lesion_figures(cases, threshold=0.5, rates=RATES, replicates=200, seed=11, confidence=0.9)
    for estimate, values in ((figures.sensitivity, replicate_sens), (figures.fp_per_scan, replicate_fps)):
        kept = np.array(values)[~np.isnan(values)]
        assert estimate.standard_error == pytest.approx(np.std(kept, ddof=1))
        assert (estimate.ci_low, estimate.ci_high) == pytest.approx(tuple(np.quantile(kept, [0.05, 0.95])))


def test_bootstrap_is_seeded_and_undefined_figures_are_none() -> None:
    cases = _cases(SCANS)
    one = lesion_figures(cases, threshold=0.5, rates=RATES, replicates=300, seed=5)
    assert one == lesion_figures(cases, threshold=0.5, rates=RATES, replicates=300, seed=5)
    assert one.sensitivity.ci_low <= one.sensitivity.estimate <= one.sensitivity.ci_high
    no_lesions = _cases({"s2": SCANS["s2"], "s4": SCANS["s4"]})
    empty = lesion_figures(no_lesions, threshold=0.5, rates=RATES, replicates=100, seed=5)
    assert empty.sensitivity.estimate is None and empty.cpm.estimate is None and empty.jafroc_fom.estimate is None
    assert empty.fp_per_scan.estimate == 0.5
    assert froc_curve(no_lesions)[0].sensitivity is None
