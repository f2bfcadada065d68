"""Benchmark the audit plan of the DR-triage scenario: what it prints and the power it really has (simulated).

Usage::

    .venv/bin/python bench/bench_audit_plan.py [--runs 2000] [--seed 20260131] [--cases 8000] [--quick]

1. The audit plan (:func:`monitor.domain.verification_design.audit_plan`) of each quarter of the DR-triage
   scenario (``monitor.synthetic.dr_triage``: prevalence 0.10, Se 0.90, Sp 0.91, all referred calls and a 10%
   audit of low-risk calls verified; sensitivity 0.90 -> 0.65 among low-risk calls in 2025Q3), overall and per
   single stratum: calls, audit done, corrected sensitivity +- SE, the audit needed for +- margin on the
   corrected sensitivity and for +-50% on the false-omission rate, the drop below the goal the plan detects
   with the configured power, and the earlier plan (absolute half-width 0.02 on the false-omission rate).
2. The power of the printed plan, simulated: the design of the drop quarter's overall stratum (its calls, the
   planning prevalence, the claimed specificity, the declared fractions) replicated ``--runs`` times at the
   detectable sensitivity (should be ~ the configured power), at the planted sensitivity, and at the goal
   (false-flag rate, should be <= the one-sided level), each decided as the rule decides: the exact one-sided
   upper bound of the Korn-Graubard effective counts (``evidence.combine``) against the goal.
3. Specificity at its claim over the same design: the false-shortfall rate of the corrected evidence and of the
   naive counts (the false tickets of issue 19, item 4).
4. Weights calibrated to the calls (``N_c / n_c``, used) against the design's fixed ``1 / f_c``: simulated
   standard deviations of the corrected sensitivity and specificity (why the calibrated weights).
5. Runtime of :func:`corrected_estimates` on one quarter.

Figures are printed, never asserted: this is not a test.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.adapters.config_file import load_device_config  # noqa: E402
from monitor.domain.strata import assign_labels  # noqa: E402
from monitor.domain.verification_design import audit_plan, corrected_estimates  # noqa: E402
from monitor.stats.verification import audit_sample_size, design_corrected  # noqa: E402
from monitor.synthetic.dr_triage import DrTriageScenario, generate, quarter_bounds  # noqa: E402

CONFIG = load_device_config(ROOT / "examples" / "dr-triage.yaml")
DROP_QUARTER = "2025Q3"


def frames(data, quarter: str) -> tuple[pd.DataFrame, pd.DataFrame]:  # type: ignore[no-untyped-def]
    """The quarter's verification cells and confusion cells (the shapes of the analysis's aggregates)."""
    start, end = quarter_bounds(quarter)
    p = data.predictions.loc[(data.predictions["predicted_at"] >= start) & (data.predictions["predicted_at"] < end)]
    names = [a.name for a in CONFIG.strata.attributes]
    labels = assign_labels(p, CONFIG.strata.attributes).reset_index(drop=True)
    cases = pd.concat([p.drop(columns=[n for n in names if n in p]).reset_index(drop=True), labels], axis=1)
    cases = cases.merge(data.ground_truth[["prediction_id", "label"]], on="prediction_id", how="left")
    cases["verified"] = cases["label"].notna().astype(int)
    keys = ["model_version", *names]
    verification = cases.groupby([*keys, "predicted_label", "verified"]).size().rename("n").reset_index()
    done = cases.loc[cases["verified"] == 1]
    d, t = done["label"].astype(int).to_numpy(), done["predicted_label"].astype(int).to_numpy()
    done = done.assign(tp=d & t, fp=(1 - d) & t, fn=d & (1 - t), tn=(1 - d) & (1 - t))
    return verification, done.groupby(keys)[["tp", "fp", "fn", "tn"]].sum().reset_index()


def simulate(rng: np.random.Generator, runs: int, calls: int, prevalence: float, se: float, sp: float,
             f1: float, f0: float) -> tuple[np.ndarray, ...]:
    """Verified confusion counts and calls of ``runs`` replicates of the design (cells, then verification)."""
    probs = [prevalence * se, (1 - prevalence) * (1 - sp), prevalence * (1 - se), (1 - prevalence) * sp]
    cells = rng.multinomial(calls, probs, size=runs)
    tp, fp, fn, tn = rng.binomial(cells, [f1, f1, f0, f0]).T
    return tp, fp, fn, tn, cells[:, 0] + cells[:, 1], cells[:, 2] + cells[:, 3]


def upper_bound(estimate: np.ndarray, variance: np.ndarray, level: float) -> np.ndarray:
    """The rule's bound: exact (Clopper-Pearson) one-sided upper bound of the Korn-Graubard effective counts."""
    n = np.where((variance > 0) & (estimate > 0) & (estimate < 1), estimate * (1 - estimate) / variance, np.nan)
    x = estimate * n
    return np.where(x >= n, 1.0, stats.beta.ppf(1 - level, x + 1, n - x))


def print_plans(data) -> dict:  # type: ignore[no-untyped-def]
    print("1. The audit plan printed per quarter (overall and single strata)")
    header = (f"{'quarter':8} {'stratum':16} {'calls':>6} {'neg':>6} {'audited':>7} {'Se_corr':>8} {'SE':>6} "
              f"{'n0 for +-margin':>15} {'n0 for FOR +-50%':>16} {'old plan':>8} {'level':>7} "
              f"{'detect. drop':>12} {'detect. Se':>10}")
    print(header)
    drop_overall = None
    for quarter in DrTriageScenario().quarters:
        verification, cells = frames(data, quarter)
        for row in audit_plan(verification, cells, CONFIG):
            fo = row.get("planning_false_omission")
            old = audit_sample_size(row["negative_calls"], max(fo, 1e-3), half_width=0.02) if fo else None
            need = row["audit_for_sensitivity"]
            print(f"{quarter:8} {row['stratum']:16} {row['calls']:6d} {row['negative_calls']:6d} "
                  f"{row['audited_negative_calls']:7d} {row['corrected_sensitivity']:8.3f} "
                  f"{row['corrected_sensitivity_se']:6.3f} {str(need) if need is not None else 'unreachable':>15} "
                  f"{row['audit_for_false_omission']!s:>16} {old!s:>8} {row['one_sided_level']:7.4f} "
                  f"{row['detectable_drop']:12.3f} {row['detectable_sensitivity']:10.3f}")
            if quarter == DROP_QUARTER and row["stratum"] == "overall":
                drop_overall = row
    return drop_overall


def print_power(rng: np.random.Generator, runs: int, plan: dict, planted: float) -> None:  # type: ignore[type-arg]
    spec = CONFIG.claims.specificity
    f = CONFIG.labels.sampling_fractions
    calls, prevalence, goal, level = plan["calls"], plan["planning_prevalence"], plan["performance_goal"], \
        plan["one_sided_level"]
    print(f"\n2. Power of the printed plan ({DROP_QUARTER}, overall: {calls} calls, prevalence {prevalence:.3f}, "
          f"Sp {spec.value}, fractions {f.positive_calls}/{f.negative_calls}, one-sided level {level:.4f}, "
          f"{runs} replicates)")
    for name, se in (("detectable Se (plan)", plan["detectable_sensitivity"]), ("planted Se", planted),
                     ("Se at the goal", goal)):
        est, var = design_corrected(*simulate(rng, runs, calls, prevalence, se, spec.value, f.positive_calls,
                                              f.negative_calls))["sensitivity"]
        exact = float(np.nanmean(upper_bound(est, var, level) < goal))
        normal = float(np.mean(est + stats.norm.ppf(1 - level) * np.sqrt(var) < goal))
        half = 1.96 * math.sqrt(max(exact * (1 - exact), 1e-9) / runs)
        print(f"   {name:22} Se = {se:.3f}: flagged {exact:.3f} +- {half:.3f} (rule: exact bound on effective "
              f"counts), {normal:.3f} (normal bound); configured power {plan['power']}")
    est, var = design_corrected(*simulate(rng, runs, calls, prevalence, 0.90, spec.value, f.positive_calls,
                                          f.negative_calls))["specificity"]
    goal_sp = spec.value - spec.margin
    tp, fp, fn, tn, _, _ = simulate(rng, runs, calls, prevalence, 0.90, spec.value, f.positive_calls, f.negative_calls)
    naive = tn / (tn + fp)
    naive_bound = stats.beta.ppf(1 - level, tn + 1, fp)
    print(f"\n3. Specificity at its claim {spec.value} (goal {goal_sp:.2f}), same design: false shortfall rate "
          f"corrected {float(np.mean(upper_bound(est, var, level) < goal_sp)):.4f}, naive "
          f"{float(np.mean(naive_bound < goal_sp)):.4f} (naive estimate {float(naive.mean()):.3f})")


def print_weights(rng: np.random.Generator, runs: int, calls: int) -> None:
    tp, fp, fn, tn, n1, n0 = simulate(rng, runs, calls, 0.10, 0.90, 0.91, 1.0, 0.10)
    r = design_corrected(tp, fp, fn, tn, n1, n0)
    a, c = tp / 1.0, fn / 0.10  # the design's fixed weights 1 / f
    d, b = tn / 0.10, fp / 1.0
    fixed = {"sensitivity": a / (a + c), "specificity": d / (d + b)}
    print(f"\n4. Weights: calibrated N_c/n_c (used) vs fixed 1/f, {calls} calls, {runs} replicates (SD; effective n)")
    for metric, value in (("sensitivity", 0.90), ("specificity", 0.91)):
        sd_cal, sd_fix = float(np.std(r[metric][0])), float(np.std(fixed[metric]))
        print(f"   {metric:12} calibrated SD {sd_cal:.4f} (n_eff {value * (1 - value) / sd_cal ** 2:7.0f}), "
              f"fixed SD {sd_fix:.4f} (n_eff {value * (1 - value) / sd_fix ** 2:7.0f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=20260131)
    parser.add_argument("--cases", type=int, default=8000, help="screenings per quarter")
    parser.add_argument("--quick", action="store_true", help="200 replicates")
    args = parser.parse_args()
    runs = 200 if args.quick else args.runs
    scenario = DrTriageScenario(cases_per_quarter=args.cases, drop_quarter=DROP_QUARTER)
    data = generate(scenario)
    plan = print_plans(data)
    rng = np.random.default_rng(args.seed)
    print_power(rng, runs, plan, scenario.sensitivity - scenario.sensitivity_drop)
    print_weights(rng, runs, args.cases)
    verification, cells = frames(data, DROP_QUARTER)
    started = time.perf_counter()
    corrected = corrected_estimates(verification, cells, CONFIG)
    print(f"\n5. corrected_estimates on one quarter: {len(corrected)} stratum-metrics in "
          f"{1000 * (time.perf_counter() - started):.1f} ms")


if __name__ == "__main__":
    main()
