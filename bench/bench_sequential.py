"""Benchmark the sequential charts: ARLs by simulation against the Markov chain, false alarms, runtime.

Usage::

    .venv/bin/python bench/bench_sequential.py [--runs 10000] [--seed 20240501] [--quick]

Prints, for the Bernoulli CUSUM of regulatory.md section 4.4 (miss rate 0.100 -> 0.143 among
confirmed positives, Se0 = 0.90, a drop of 4.3 points):

1. ARL0 / ARL1 by h: the Markov chain (``bernoulli_cusum_arl``), the regulatory.md table and a
   Monte-Carlo simulation (mean +- standard error, z = (sim - markov) / se), with the median and
   90th percentile of the detection delay;
2. designs for a range of ARL0 targets, checked by simulation;
3. false-alarm probabilities per calendar year for a range of positives per quarter, per chart and
   across 20 charts;
4. the EWMA (lambda, L) pairs for ARL0 ~ 500 on normal data (Markov and integral equation) and the
   simulated in-control ARL of the EWMA proportion chart with unequal period sizes;
5. runtimes;
6. charts under verification by audit sample (all positive calls, 10% of negative calls verified, a
   DR-triage design): the chart designed on the verified-case rates (``rate_among_verified``) against a
   simulation of the whole design (cases, the audit's verification, the chart on the verified cases), and
   the in-control run length of the naive chart (designed on the claim's rates) on the same stream.

Figures are printed, never asserted: this is not a test.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.stats.sequential import (  # noqa: E402
    bernoulli_cusum_arl,
    bernoulli_cusum_path,
    design_bernoulli_cusum,
    ewma_arl_normal,
    ewma_proportion_chart,
    rate_among_verified,
    simulate_bernoulli_cusum_run_lengths,
)

P0, P1 = 0.100, 0.143
TABLE_4_4 = {2.5: (1250, 190), 3.0: (2290, 230), 3.5: (4020, 290), 4.0: (7030, 340), 4.5: (12100, 400)}
DELAYS_4_4 = {2.5: (150, 360), 3.0: (192, 443), 4.0: (288, 623)}  # median / 90th percentile
EWMA_L = {0.05: 2.615, 0.10: 2.814, 0.20: 2.962}


def _summary(runs: np.ndarray, expected: float) -> str:
    mean = runs.mean()
    se = runs.std(ddof=1) / math.sqrt(runs.size)
    return f"{mean:9.1f} +- {se:6.1f}  z={(mean - expected) / se:+5.2f}  ({(mean / expected - 1) * 100:+5.1f}%)"


def cusum_table(runs: int, seed: int) -> None:
    print(f"\n1. Bernoulli CUSUM, p0={P0} -> p1={P1}: Markov chain vs regulatory.md 4.4 vs simulation")
    print(f"   (in control: {runs} runs per h; after the drop: {2 * runs} runs per h)")
    print("   h    | ARL0 markov  table  | ARL0 simulated                       "
          "| ARL1 markov  table | ARL1 simulated                        | delay median/p90 (table)")
    for i, (h, (t0, t1)) in enumerate(TABLE_4_4.items()):
        arl0 = bernoulli_cusum_arl(P0, P1, h, p_true=P0)
        arl1 = bernoulli_cusum_arl(P0, P1, h, p_true=P1)
        sim0 = simulate_bernoulli_cusum_run_lengths(P0, P1, h, p_true=P0, n_runs=runs, seed=seed + i)
        sim1 = simulate_bernoulli_cusum_run_lengths(P0, P1, h, p_true=P1, n_runs=2 * runs, seed=seed + 100 + i)
        med, p90 = np.percentile(sim1, [50, 90])
        ref = DELAYS_4_4.get(h)
        ref_txt = f"({ref[0]} / {ref[1]})" if ref else "(-)"
        print(f"   {h:4.1f} | {arl0:9.1f} {t0:6d}  | {_summary(sim0, arl0)} "
              f"| {arl1:7.1f} {t1:6d} | {_summary(sim1, arl1)} | {med:5.0f} / {p90:5.0f} {ref_txt}")


def designs(runs: int, seed: int) -> None:
    print("\n2. design_bernoulli_cusum(p0, p1, arl0=...) checked by simulation")
    print("   target ARL0 |     h  | ARL0 markov | ARL0 simulated                       "
          "| ARL1 markov | ARL1 simulated")
    for i, target in enumerate((200, 500, 1000, 2000, 5000)):
        t = time.perf_counter()
        d = design_bernoulli_cusum(P0, P1, arl0=target)
        elapsed = time.perf_counter() - t
        sim0 = simulate_bernoulli_cusum_run_lengths(P0, P1, d.h, p_true=P0, n_runs=runs, seed=seed + 200 + i)
        sim1 = simulate_bernoulli_cusum_run_lengths(P0, P1, d.h, p_true=P1, n_runs=2 * runs, seed=seed + 300 + i)
        print(f"   {target:11d} | {d.h:6.3f} | {d.arl0:11.1f} | {_summary(sim0, d.arl0)} "
              f"| {d.arl1:11.1f} | {_summary(sim1, d.arl1)}   [design {elapsed:.2f} s]")


def false_alarms(runs: int, seed: int) -> None:
    print("\n3. False alarms per calendar year (in control, chart started at 0, no restart):")
    print("   P(false alarm within one year) per chart, and across 20 independent charts;")
    print("   simulated (runs per h as in 1). Expected quarters to a false alarm = ARL0 / positives per quarter.")
    per_quarter = (25, 50, 100, 200)
    header = " | ".join(f"{q:3d}/q: 1 chart  20 charts  ARL0 q" for q in per_quarter)
    print(f"   h    | {header}")
    for i, h in enumerate(TABLE_4_4):
        sim0 = simulate_bernoulli_cusum_run_lengths(P0, P1, h, p_true=P0, n_runs=runs, seed=seed + 400 + i)
        arl0 = bernoulli_cusum_arl(P0, P1, h, p_true=P0)
        cells = []
        for q in per_quarter:
            p_year = float(np.mean(sim0 <= 4 * q))
            cells.append(f"      {p_year:6.3f}     {1 - (1 - p_year) ** 20:6.3f} {arl0 / q:7.1f}")
        print(f"   {h:4.1f} | " + " | ".join(cells))


def ewma(seed: int, charts: int) -> None:
    print("\n4. EWMA")
    print("   normal data, asymptotic limits: lambda, L -> ARL0 (markov / integral), ARL at 0.5 and 1 sigma")
    for lam, L in EWMA_L.items():
        markov = ewma_arl_normal(lam, L)
        integral = ewma_arl_normal(lam, L, method="integral")
        half, one = ewma_arl_normal(lam, L, 0.5), ewma_arl_normal(lam, L, 1.0)
        print(f"   lambda={lam:4.2f} L={L:5.3f}: ARL0 {markov:6.1f} / {integral:6.1f}, "
              f"ARL(0.5 sd) {half:5.1f}, ARL(1 sd) {one:5.1f}")
    print(f"   proportion chart in control (p0 = 0.90, exact time-varying limits), {charts} charts x 4000 periods;")
    print("   ARL0 = exposure / first alarms (censored at 4000), false-alarm rate = 1 / ARL0 per period")
    rng = np.random.default_rng(seed + 500)
    for lam, L in EWMA_L.items():
        for lo, hi in ((20, 60), (80, 200), (300, 600)):
            first = []
            for _ in range(charts):
                n = rng.integers(lo, hi, 4000)
                chart = ewma_proportion_chart(rng.binomial(n, 0.9), n, p0=0.9, lam=lam, L=L)
                first.append(int(chart.alarms[0]) + 1 if chart.alarms.size else 4000)
            alarms = sum(f < 4000 for f in first)
            arl = sum(first) / max(alarms, 1)
            print(f"   lambda={lam:4.2f} L={L:5.3f}, n per period {lo:3d}-{hi:3d}: ARL0 {arl:6.1f} "
                  f"(+- {arl / math.sqrt(max(alarms, 1)):4.1f}), false-alarm rate {1 / arl:.4f}")
    print("   proportion chart after a drop 0.90 -> 0.857 at period 1 (n 80-200): mean periods to alarm")
    for lam, L in EWMA_L.items():
        delays = []
        for _ in range(charts):
            n = rng.integers(80, 200, 400)
            chart = ewma_proportion_chart(rng.binomial(n, 0.857), n, p0=0.9, lam=lam, L=L)
            low = chart.alarms[chart.statistic[chart.alarms] < chart.lower[chart.alarms]]
            delays.append(int(low[0]) + 1 if low.size else 400)
        print(f"   lambda={lam:4.2f}: {np.mean(delays):5.2f} periods (median {np.median(delays):.0f})")


def runtimes(seed: int) -> None:
    print("\n5. Runtime")

    def clock(label: str, fn, repeat: int = 3) -> None:  # type: ignore[no-untyped-def]
        best = math.inf
        for _ in range(repeat):
            t = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t)
        print(f"   {label:62s} {best * 1e3:9.1f} ms")

    clock("bernoulli_cusum_arl, h=4.5, default grid (20,000 states)",
          lambda: bernoulli_cusum_arl(P0, P1, 4.5, p_true=P0))
    clock("bernoulli_cusum_arl, h=4.5, grid=100,000",
          lambda: bernoulli_cusum_arl(P0, P1, 4.5, p_true=P0, grid=100_000))
    clock("design_bernoulli_cusum, arl0=5000", lambda: design_bernoulli_cusum(P0, P1, arl0=5000))
    rng = np.random.default_rng(seed)
    events = rng.random(1_000_000) < P1
    clock("bernoulli_cusum_path, 1,000,000 cases, h=3 (restart)",
          lambda: bernoulli_cusum_path(events, P0, P1, 3.0))
    clock("bernoulli_cusum_path, 1,000,000 cases, h=3 (no restart)",
          lambda: bernoulli_cusum_path(events, P0, P1, 3.0, restart=False))
    clock("simulate run lengths, h=3, 1,000 in-control runs (~2.3M trials)",
          lambda: simulate_bernoulli_cusum_run_lengths(P0, P1, 3.0, p_true=P0, n_runs=1000, seed=1))
    n = rng.integers(50, 200, 100_000)
    k = rng.binomial(n, 0.9)
    clock("ewma_proportion_chart, 100,000 periods", lambda: ewma_proportion_chart(k, n, p0=0.9))
    clock("ewma_arl_normal, markov (401 states)", lambda: ewma_arl_normal(0.1, 2.814))
    clock("ewma_arl_normal, integral (64 nodes)", lambda: ewma_arl_normal(0.1, 2.814, method="integral"))


def _design_run_lengths(p: float, fractions: tuple[float, float], q0: float, q1: float, h: float, runs: int,
                        rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Run lengths of the chart on the verified cases of a simulated audit design, in verified cases and in
    all cases of the chart's population (fractions: verification of an event's call, of the other call)."""
    verified_lengths, all_lengths = np.empty(runs), np.empty(runs)
    for r in range(runs):
        state, seen, cases, n = 0.0, 0, 0, 4096
        while True:  # one run, extended chunk by chunk (the statistic carries over)
            event = rng.random(n) < p
            verified = rng.random(n) < np.where(event, fractions[0], fractions[1])
            path = bernoulli_cusum_path(event[verified], q0, q1, h, start=state)
            if path.first_alarm is not None:
                verified_lengths[r] = seen + path.first_alarm + 1
                all_lengths[r] = cases + np.flatnonzero(verified)[path.first_alarm] + 1
                break
            state = float(path.statistic[-1]) if path.statistic.size else state
            seen, cases = seen + int(verified.sum()), cases + n
    return verified_lengths, all_lengths


def audit_design(runs: int, seed: int) -> None:
    rng = np.random.default_rng(seed + 6)
    print("\n6. Audit-sample verification (positive calls 100%, negative calls 10%): charts on verified cases")
    print(f"   ({runs} simulated runs of the whole design per row; ARLs in verified cases, and in all cases)")
    print("   chart        p0->p1        q0->q1 (verified)      h  | ARL markov | ARL simulated (verified)"
          "              | ARL all cases")
    for metric, p0, p1, fractions in (("sensitivity", 0.10, 0.15, (0.1, 1.0)), ("specificity", 0.15, 0.20, (1.0, 0.1))):
        q0, q1 = rate_among_verified(p0, *fractions), rate_among_verified(p1, *fractions)
        design = design_bernoulli_cusum(q0, q1, arl0=1000, grid=4000)
        for label, p in (("in control", p0), ("after drop", p1)):
            exact = bernoulli_cusum_arl(q0, q1, design.h, p_true=rate_among_verified(p, *fractions), grid=4000)
            verified, every = _design_run_lengths(p, fractions, q0, q1, design.h, runs, rng)
            print(f"   {metric:11s} {p0:.2f}->{p1:.2f} {label:10s} {q0:.4f}->{q1:.4f} {design.h:6.3f} | "
                  f"{exact:10.1f} | {_summary(verified, exact)} | {every.mean():10.1f}")
        naive = design_bernoulli_cusum(p0, p1, arl0=1000, grid=4000)
        lengths = simulate_bernoulli_cusum_run_lengths(p0, p1, naive.h, p_true=q0, n_runs=runs, seed=seed + 7,
                                                       max_trials=20_000)
        alarmed = np.isfinite(lengths)
        typical = f"median run length {np.median(lengths[alarmed]):.0f}" if alarmed.any() else "no alarm"
        print(f"   naive {metric} chart (designed on {p0:.2f}->{p1:.2f}, h={naive.h:.3f}, ARL0 1000) on the verified"
              f" cases in control: {alarmed.mean():.1%} of runs alarm within 20,000 verified cases ({typical})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10_000, help="in-control simulated runs per h")
    parser.add_argument("--seed", type=int, default=20240501)
    parser.add_argument("--quick", action="store_true", help="1,000 runs and 200 EWMA charts")
    args = parser.parse_args()
    runs = 1_000 if args.quick else args.runs
    charts = 200 if args.quick else 1_000
    start = time.perf_counter()
    cusum_table(runs, args.seed)
    designs(runs, args.seed)
    false_alarms(runs, args.seed)
    ewma(args.seed, charts)
    runtimes(args.seed)
    audit_design(min(runs, 2_000), args.seed)
    print(f"\nTotal {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
