"""Monte-Carlo figures of the flag rule (exact test vs claim, BH over the run, effect-size margin).

Usage::

    .venv/bin/python bench/bench_decision_rule.py [--replicates 500] [--seed 20240611] [--json PATH]

Every replicate goes through the same ``evaluate_cells`` the service uses. Three parts:

a. **No drift.** The example configuration (``examples/lung-nodule-ct.yaml``: 4 attributes, all 6
   pairwise intersections, claims Se 0.90 / Sp 0.85, FDR 0.10, margin 0.02). 200,000 cases with 9 %
   prevalence are spread over the 128 cells (Dirichlet(5) weights) and every cell is exactly at its
   claim: the boundary of H0, the worst case for false flags. Printed: the share of runs with any
   flag anywhere in the grid, with its Monte-Carlo standard error, for the configured margin and,
   for comparison, for margin 0 (BH alone).
b. **Power in one intersection.** Same grid and default margin; a sensitivity drop of 4.3 points
   (0.90 -> 0.857) or 5 points (0.90 -> 0.85) is planted in one pairwise intersection
   (``age_band=>=75 & emphysema_grade=severe``) whose confirmed positives are set to 350 ... 2000;
   the rest of the grid stays at the claim. Printed: the share of runs in which that intersection's
   sensitivity is flagged (power), the share in which it is significant after BH whatever the margin,
   the exact power of a lone one-sided binomial test at alpha 0.05 for reference, the share of runs
   with a false flag (a flag on a stratum-metric truly at its claim) and the mean false discovery
   proportion (false flags / flags).
c. **One pre-specified stratum, no margin.** The empirical power at 350 positives against
   ``monitor.stats.power.exact_power(350, 0.90, 0.857)``.

Figures are printed (and optionally written as JSON), never asserted: this is not a test.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.adapters.config_file import load_device_config, parse_device_config  # noqa: E402
from monitor.domain.device import DeviceConfig  # noqa: E402
from monitor.domain.evaluation import evaluate_cells  # noqa: E402
from monitor.stats.power import exact_power  # noqa: E402

EXAMPLE = ROOT / "examples" / "lung-nodule-ct.yaml"
CASES = 200_000
PREVALENCE = 0.09
SE0, SP0 = 0.90, 0.85
TARGET = {"age_band": ">=75", "emphysema_grade": "severe"}
TARGET_KEY = " & ".join(f"{k}={v}" for k, v in sorted(TARGET.items()))
DROPS = (0.043, 0.05)
POSITIVES = (350, 700, 1000, 1500, 2000)

SINGLE_STRATUM_CONFIG = """
schema_version: 1
device: {id: sim, name: Sim, manufacturer: M, intended_use: U}
operating_threshold: 0.5
strata:
  attributes: [{name: site, values: [a]}]
  intersections: none
  confirmatory: [site]
claims:
  sensitivity: {value: 0.90, margin: 0.0}
monitoring: {fdr: 0.05, min_positives: 50}
"""


def grid_levels(config: DeviceConfig) -> dict[str, list[str]]:
    """Known labels of every attribute of ``config`` (report order)."""
    return {a.name: a.labels() for a in config.strata.attributes}


def null_cells(rng: np.random.Generator, levels: dict[str, list[str]]) -> pd.DataFrame:
    """``CASES`` cases over the full cell grid, every cell exactly at (SE0, SP0)."""
    combos = list(itertools.product(*levels.values()))
    weights = rng.dirichlet(np.full(len(combos), 5.0))
    n = rng.multinomial(CASES, weights)
    positives = rng.binomial(n, PREVALENCE)
    tp = rng.binomial(positives, SE0)
    tn = rng.binomial(n - positives, SP0)
    frame = pd.DataFrame(combos, columns=list(levels))
    return frame.assign(model_version="1", tp=tp, fn=positives - tp, tn=tn, fp=n - positives - tn)


def plant_drop(rng: np.random.Generator, cells: pd.DataFrame, *, positives: int, sensitivity: float) -> pd.DataFrame:
    """Overwrite the cells of the target intersection: ``positives`` positives at ``sensitivity``."""
    inside = np.ones(len(cells), dtype=bool)
    for name, label in TARGET.items():
        inside &= (cells[name] == label).to_numpy()
    k = int(inside.sum())
    weights = rng.dirichlet(np.full(k, 5.0))
    pos = rng.multinomial(positives, weights)
    neg = rng.multinomial(round(positives * (1 - PREVALENCE) / PREVALENCE), weights)
    tp = rng.binomial(pos, sensitivity)
    tn = rng.binomial(neg, SP0)
    out = cells.copy()
    out.loc[inside, "tp"] = tp
    out.loc[inside, "fn"] = pos - tp
    out.loc[inside, "tn"] = tn
    out.loc[inside, "fp"] = neg - tn
    return out


def _share(hits: int, runs: int) -> tuple[float, float]:
    p = hits / runs
    return p, math.sqrt(p * (1 - p) / runs)


def no_drift(config: DeviceConfig, replicates: int, rng: np.random.Generator) -> dict[str, object]:
    """Part a: share of null runs with any flag, with the configured margin and with margin 0."""
    levels = grid_levels(config)
    zero_margin = config.model_copy(update={"claims": config.claims.model_copy(update={
        m: (None if getattr(config.claims, m) is None else getattr(config.claims, m).model_copy(update={"margin": 0.0}))
        for m in ("sensitivity", "specificity", "ppv", "npv")})})
    any_flag = {"default": 0, "zero": 0}
    flags_total = {"default": 0, "zero": 0}
    tests = strata = 0
    started = time.perf_counter()
    for _ in range(replicates):
        cells = null_cells(rng, levels)
        for name, cfg in (("default", config), ("zero", zero_margin)):
            results = evaluate_cells(cells, cfg)
            n_flags = sum(r.status == "flagged" for r in results)
            any_flag[name] += n_flags > 0
            flags_total[name] += n_flags
            tests = sum(r.status in ("ok", "flagged") for r in results)
            strata = len({r.stratum for r in results})
    seconds = time.perf_counter() - started
    out: dict[str, object] = {"replicates": replicates, "strata": strata, "tests_per_run": tests,
                              "fdr": config.monitoring.fdr, "seconds": seconds,
                              "seconds_per_evaluation": seconds / (2 * replicates)}
    for name, margin in (("default", config.claims.sensitivity.margin if config.claims.sensitivity else None),
                         ("zero", 0.0)):
        p, se = _share(any_flag[name], replicates)
        out[name] = {"margin": margin, "runs_with_any_flag": any_flag[name], "share": p, "mc_se": se,
                     "mean_flags_per_run": flags_total[name] / replicates}
    return out


def _truly_below_claim(result) -> bool:  # noqa: ANN001
    """Whether H0 is false for this stratum-metric: sensitivity of a stratum holding planted cells."""
    overlaps = all(result.attributes.get(k) in (None, v) for k, v in TARGET.items())
    return result.metric == "sensitivity" and overlaps


def power_in_intersection(config: DeviceConfig, replicates: int, rng: np.random.Generator) -> list[dict[str, object]]:
    """Part b: power to flag a drop planted in one intersection, by its confirmed positives."""
    levels = grid_levels(config)
    alpha = config.monitoring.alpha
    rows = []
    for drop in DROPS:
        for positives in POSITIVES:
            flagged = significant = runs_with_false_flag = 0
            fdp_sum = 0.0
            started = time.perf_counter()
            for _ in range(replicates):
                cells = plant_drop(rng, null_cells(rng, levels), positives=positives, sensitivity=SE0 - drop)
                results = evaluate_cells(cells, config)
                target = next(r for r in results if r.stratum == TARGET_KEY and r.metric == "sensitivity")
                flagged += target.status == "flagged"
                significant += target.q_value is not None and target.q_value <= config.monitoring.fdr
                flags = [r for r in results if r.status == "flagged"]
                false_flags = sum(not _truly_below_claim(r) for r in flags)
                runs_with_false_flag += false_flags > 0
                fdp_sum += false_flags / len(flags) if flags else 0.0
            p, se = _share(flagged, replicates)
            rows.append({"drop": drop, "true_sensitivity": round(SE0 - drop, 4), "positives": positives,
                         "power": p, "mc_se": se, "significant_share": significant / replicates,
                         "false_flag_share": runs_with_false_flag / replicates,
                         "mean_false_discovery_proportion": fdp_sum / replicates,
                         "lone_test_exact_power": exact_power(positives, SE0, SE0 - drop, alpha=alpha),
                         "seconds": time.perf_counter() - started})
    return rows


def single_stratum(replicates: int, rng: np.random.Generator) -> dict[str, object]:
    """Part c: one pre-specified stratum, no margin: empirical vs exact power at 350 positives."""
    config = parse_device_config(SINGLE_STRATUM_CONFIG, source="bench_decision_rule")
    positives, p1 = 350, 0.857
    flagged = 0
    for hits in rng.binomial(positives, p1, size=replicates):
        cells = pd.DataFrame({"model_version": ["1"], "site": ["a"], "tp": [hits], "fn": [positives - hits],
                              "tn": [1000], "fp": [100]})
        result = next(r for r in evaluate_cells(cells, config) if r.stratum == "overall" and r.metric == "sensitivity")
        flagged += result.status == "flagged"
    p, se = _share(flagged, replicates)
    expected = exact_power(positives, SE0, p1, alpha=0.05)
    return {"positives": positives, "true_sensitivity": p1, "replicates": replicates, "empirical_power": p,
            "mc_se": se, "exact_power": expected, "z": (p - expected) / se if se > 0 else None}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicates", type=int, default=500)
    parser.add_argument("--seed", type=int, default=20240611)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    config = load_device_config(EXAMPLE)
    seeds = np.random.SeedSequence(args.seed).spawn(3)
    load_before = os.getloadavg()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    print(f"bench_decision_rule: {args.replicates} replicates, seed {args.seed}; "
          f"{os.cpu_count()} cores, load average {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}")
    print(f"config: {EXAMPLE.relative_to(ROOT)} ({len(config.strata.attributes)} attributes, "
          f"{len(config.strata.pairs())} pairs), FDR {config.monitoring.fdr}, claims Se {SE0} / Sp {SP0}, "
          f"margin {config.claims.sensitivity.margin if config.claims.sensitivity else None}")

    a = no_drift(config, args.replicates, np.random.default_rng(seeds[0]))
    print(f"\na. No drift: {CASES:,} cases, prevalence {PREVALENCE}, every cell at the claim; "
          f"{a['strata']} strata, {a['tests_per_run']} tests per run (others insufficient)")
    print("   margin | runs with any flag | share   +- MC s.e. | mean flags/run")
    for name in ("default", "zero"):
        d = a[name]
        print(f"   {d['margin']:<6} | {d['runs_with_any_flag']:5d} / {a['replicates']:<10d} | "
              f"{d['share']:.4f} +- {d['mc_se']:.4f}  | {d['mean_flags_per_run']:.3f}")
    print(f"   ({a['seconds_per_evaluation'] * 1000:.0f} ms per evaluate_cells call)")

    b = power_in_intersection(config, args.replicates, np.random.default_rng(seeds[1]))
    print(f"\nb. Power to flag a sensitivity drop planted in '{TARGET_KEY}' (margin "
          f"{config.claims.sensitivity.margin if config.claims.sensitivity else None}, full grid, BH at FDR "
          f"{config.monitoring.fdr})")
    print("   false flag: a flag on a stratum-metric whose true value is at the claim (specificity anywhere;")
    print("   sensitivity of strata holding none of the planted cells); FDP: false flags / all flags (0 if none)")
    print("   drop  true Se | positives | power  +- MC s.e. | q<=FDR share | lone exact test power | "
          "runs with a false flag | mean FDP")
    for r in b:
        print(f"   {r['drop']:.3f} {r['true_sensitivity']:.3f}  | {r['positives']:9d} | {r['power']:.3f} +- "
              f"{r['mc_se']:.3f}    | {r['significant_share']:.3f}        | {r['lone_test_exact_power']:.3f}"
              f"                 | {r['false_flag_share']:.3f}                  | "
              f"{r['mean_false_discovery_proportion']:.3f}")

    c = single_stratum(args.replicates, np.random.default_rng(seeds[2]))
    print(f"\nc. One pre-specified stratum, no margin, {c['positives']} positives, true Se {c['true_sensitivity']}:")
    print(f"   empirical power {c['empirical_power']:.3f} +- {c['mc_se']:.3f} (MC s.e.), exact binomial power "
          f"{c['exact_power']:.3f}, z = {'n/a' if c['z'] is None else format(c['z'], '+.2f')}")

    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    load_after = os.getloadavg()
    print(f"\nwall {wall:.1f} s, CPU {cpu:.1f} s (CPU/wall {cpu / wall:.2f}; single-threaded, so below 1.0 means "
          f"the shared machine took cycles); load average after {load_after[0]:.2f} {load_after[1]:.2f} "
          f"{load_after[2]:.2f}")
    if args.json:
        payload = {"replicates": args.replicates, "seed": args.seed, "cores": os.cpu_count(),
                   "load_average_before": load_before, "load_average_after": load_after,
                   "wall_seconds": wall, "cpu_seconds": cpu, "no_drift": a, "power_in_intersection": b,
                   "single_stratum": c}
        args.json.write_text(json.dumps(payload, indent=2), encoding="utf-8")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
