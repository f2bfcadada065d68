"""Monte-Carlo operating characteristics of the pre-specified decision rule (issue 19).

Usage::

    nice -n 10 .venv/bin/python bench/bench_decision_rule.py [--replicates 2000] [--seed 19] [--json PATH]

Every replicate goes through :func:`monitor.domain.evaluation.evaluate_counts`, the function the service
calls (the stratum counts are summed here with numpy instead of pandas, for speed; the sums are the same).
The configuration is the demo's (``examples/lung-nodule-ct.yaml``: 4 attributes, all 6 intersections, claims
Se 0.90 / Sp 0.85 with margins 0.02, so the goals are 0.88 / 0.83; confirmatory family 14 tests, Holm at
alpha 0.05; exploratory family 160 tests, BH at q 0.10). 200,000 cases with 9 % prevalence are spread over the
128 cells with Dirichlet(5) weights, redrawn every replicate.

a. **Every stratum exactly at its goal** (Se 0.88, Sp 0.83 in every cell: the boundary of both null
   hypotheses, the worst case). Printed with Monte-Carlo standard errors: the confirmatory family-wise rate
   of a false shortfall and of a false conformity (must be <= alpha), the exploratory false discovery rate
   (every null is true, so FDR = the chance of any exploratory flag; must be <= q), and the share of
   inconclusive outcomes among the tested stratum-metrics.
b. **Power at the reported minimal detectable drop.** One target stratum gets exactly n confirmed positives
   (n in 200, 500, 1,000, 2,000, 5,000) with true sensitivity claim - MDD, where MDD is the
   ``minimal_detectable_drop`` the analysis reports for that stratum at that n; every other cell stays at
   the claim. Targets: the exploratory intersection ``age_band=>=75 & emphysema_grade=severe`` and the
   confirmatory single stratum ``sex=F``. Printed: the share of replicates in which the target is flagged
   (must be within 3 points of monitoring.power = 0.80), and the shares of the target's outcomes.

Figures are printed and written as JSON to ``bench/results/`` (or ``--json``), never asserted: this is a
benchmark, not a test.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.adapters.config_file import load_device_config  # noqa: E402
from monitor.domain.device import DeviceConfig  # noqa: E402
from monitor.domain.evaluation import TESTED_STATUSES, StratumCounts, evaluate_counts  # noqa: E402
from monitor.domain.strata import StratumDefinition  # noqa: E402

EXAMPLE = ROOT / "examples" / "lung-nodule-ct.yaml"
CASES = 200_000
PREVALENCE = 0.09
NS = (200, 500, 1000, 2000, 5000)
TARGETS = ({"age_band": ">=75", "emphysema_grade": "severe"}, {"sex": "F"})


class Grid:
    """The 128 cells of the demo configuration and a fast marginal-sum of their counts per monitored stratum."""

    def __init__(self, config: DeviceConfig) -> None:
        self.config = config
        self.names = [a.name for a in config.strata.attributes]
        self.labels = [a.labels() for a in config.strata.attributes]
        self.combos = np.array(list(itertools.product(*[range(len(v)) for v in self.labels])))
        groupings: list[tuple[int, ...]] = [(), *[(i,) for i in range(len(self.names))]]
        index = {n: i for i, n in enumerate(self.names)}
        groupings += [tuple(index[n] for n in g) for g in config.strata.monitored_intersections()]
        self.strata: list[tuple[StratumDefinition, np.ndarray]] = []
        for grouping in groupings:
            for values in itertools.product(*[range(len(self.labels[g])) for g in grouping]):
                mask = np.all([self.combos[:, g] == v for g, v in zip(grouping, values, strict=True)], axis=0) \
                    if grouping else np.ones(len(self.combos), dtype=bool)
                stratum = StratumDefinition.of({self.names[g]: self.labels[g][v]
                                                for g, v in zip(grouping, values, strict=True)})
                self.strata.append((stratum, mask))
        self.matrix = np.array([mask for _, mask in self.strata], dtype=np.int64)

    def mask(self, where: dict[str, str]) -> np.ndarray:
        """Cells inside the stratum ``where``."""
        return next(mask for stratum, mask in self.strata if stratum == StratumDefinition.of(where))

    def counts(self, tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, tn: np.ndarray) -> list[StratumCounts]:
        """Stratum counts of one model version, as :func:`monitor.domain.evaluation.stratum_counts` sums them."""
        sums = self.matrix @ np.stack([tp, fp, fn, tn], axis=1)
        return [StratumCounts("1", stratum, *map(int, row)) for (stratum, _), row in zip(self.strata, sums, strict=True)]


def draw(rng: np.random.Generator, grid: Grid, se: float, sp: float) -> tuple[np.ndarray, ...]:
    """Cells of CASES cases, every cell at (se, sp)."""
    n = rng.multinomial(CASES, rng.dirichlet(np.full(len(grid.combos), 5.0)))
    positives = rng.binomial(n, PREVALENCE)
    tp, tn = rng.binomial(positives, se), rng.binomial(n - positives, sp)
    return tp, n - positives - tn, positives - tp, tn


def se_of(p: float, reps: int) -> float:
    return math.sqrt(max(p * (1 - p), 1e-12) / reps)


def at_the_goal(grid: Grid, rng: np.random.Generator, reps: int) -> dict[str, float]:
    goal_se, goal_sp = 0.88, 0.83
    false_short = false_conf = any_explore = 0
    inconclusive, tested = 0, 0
    for _ in range(reps):
        results = evaluate_counts(grid.counts(*draw(rng, grid, goal_se, goal_sp)), grid.config)
        confirmatory = [r for r in results if r.family == "confirmatory"]
        false_short += any(r.status == "flagged" for r in confirmatory)
        false_conf += any(r.status == "conforming" for r in confirmatory)
        any_explore += any(r.status == "flagged" for r in results if r.family == "exploratory")
        tested += sum(r.status in TESTED_STATUSES for r in results)
        inconclusive += sum(r.status == "inconclusive" for r in results)
    out = {"replicates": reps, "confirmatory_fwer_false_shortfall": false_short / reps,
           "confirmatory_fwer_false_conformity": false_conf / reps, "exploratory_fdr": any_explore / reps,
           "inconclusive_share": inconclusive / max(tested, 1), "tested_per_replicate": tested / reps}
    for key in ("confirmatory_fwer_false_shortfall", "confirmatory_fwer_false_conformity", "exploratory_fdr"):
        out[f"{key}_mc_se"] = se_of(out[key], reps)
    return out


def power_at_mdd(grid: Grid, rng: np.random.Generator, reps: int, where: dict[str, str], n: int) -> dict[str, object]:
    key = StratumDefinition.of(where).key
    inside = grid.mask(where)
    cells = int(inside.sum())

    def replicate(p1: float) -> list:  # type: ignore[type-arg]
        tp, fp, fn, tn = draw(rng, grid, 0.90, 0.85)
        pos = rng.multinomial(n, np.full(cells, 1.0 / cells))
        tp, fn = tp.copy(), fn.copy()
        tp[inside] = rng.binomial(pos, p1)
        fn[inside] = pos - tp[inside]
        return evaluate_counts(grid.counts(tp, fp, fn, tn), grid.config)

    def target(results: list) -> object:  # type: ignore[type-arg]
        return next(r for r in results if r.stratum == key and r.metric == "sensitivity")

    first = target(replicate(0.90))
    mdd = first.minimal_detectable_drop
    if mdd is None:
        return {"n": n, "target": key, "family": first.family, "minimal_detectable_drop": None}
    p1 = first.claim - mdd
    outcomes = {s: 0 for s in ("flagged", "conforming", "inconclusive", "insufficient")}
    for _ in range(reps):
        outcomes[target(replicate(p1)).status] += 1
    power = outcomes["flagged"] / reps
    return {"n": n, "target": key, "family": first.family, "family_size": first.family_size,
            "minimal_detectable_drop": mdd, "true_value": p1, "replicates": reps, "power": power,
            "power_mc_se": se_of(power, reps), "inconclusive_share": outcomes["inconclusive"] / reps,
            "additional_needed_at_claim": first.additional_needed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    config = load_device_config(EXAMPLE)
    grid = Grid(config)
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    null = at_the_goal(grid, rng, args.replicates)
    print(f"a. every stratum at its goal ({args.replicates} replicates, {null['tested_per_replicate']:.0f} tested "
          "stratum-metrics each)")
    print(f"   confirmatory FWER, false shortfall : {null['confirmatory_fwer_false_shortfall']:.4f} "
          f"(MC SE {null['confirmatory_fwer_false_shortfall_mc_se']:.4f}; alpha {config.monitoring.alpha})")
    print(f"   confirmatory FWER, false conformity: {null['confirmatory_fwer_false_conformity']:.4f} "
          f"(MC SE {null['confirmatory_fwer_false_conformity_mc_se']:.4f}; alpha {config.monitoring.alpha})")
    print(f"   exploratory FDR (all nulls true)   : {null['exploratory_fdr']:.4f} "
          f"(MC SE {null['exploratory_fdr_mc_se']:.4f}; q {config.monitoring.fdr})")
    print(f"   inconclusive share of tested       : {null['inconclusive_share']:.4f}")
    power_rows = []
    print(f"b. power at the reported minimal detectable drop (target power {config.monitoring.power})")
    print("   target                                  | family       |     n |   MDD  | true Se | power (MC SE)  "
          "| inconclusive")
    for where in TARGETS:
        for n in NS:
            row = power_at_mdd(grid, rng, args.replicates, where, n)
            power_rows.append(row)
            if row["minimal_detectable_drop"] is None:
                print(f"   {row['target']:<40}| {row['family']:<12} | {n:>5} | (the rule cannot flag at this n)")
                continue
            print(f"   {row['target']:<40}| {row['family']:<12} | {n:>5} | {row['minimal_detectable_drop']:.4f} | "
                  f"{row['true_value']:.4f}  | {row['power']:.4f} ({row['power_mc_se']:.4f}) | "
                  f"{row['inconclusive_share']:.4f}")
    elapsed = time.perf_counter() - started
    print(f"({elapsed:.0f} s)")
    result = {"benchmark": "decision_rule", "replicates": args.replicates, "seed": args.seed, "cases": CASES,
              "prevalence": PREVALENCE, "config": str(EXAMPLE.relative_to(ROOT)), "at_the_goal": null,
              "power_at_mdd": power_rows, "seconds": elapsed, "cpu_count": os.cpu_count()}
    out = args.json or ROOT / "bench" / "results" / f"{date.today().isoformat()}-decision-rule-{args.replicates}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"written {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")


if __name__ == "__main__":
    main()
