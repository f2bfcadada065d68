"""Monte-Carlo operating characteristics of the claims on other metrics (issue 17 item 5).

Usage::

    nice -n 10 .venv/bin/python bench/bench_metric_claims.py [--replicates 2000] [--seed 17] [--json PATH]

The rule (:data:`monitor.domain.metric_claims.DECISION_RULE`) decides a proportion by the exact one-sided binomial
tests (their error rates are those of bench/bench_decision_rule.py) and an **estimate with a standard error** by the
one-sided Wald z-test, whose level is only asymptotic. This bench shows it for the estimates the sections hand over,
each decided alone (a family of one, at alpha = 0.05 one-sided, the rule's confirmatory level):

a. **AUC** (DeLong standard error, :func:`monitor.stats.auc.auc_delong`): binormal scores with equal variances
   (AUC = Phi(d / sqrt 2)), n positives and 4n negatives; the rate of a false shortfall when the true AUC equals the
   goal (must be <= 0.05 up to Monte-Carlo error), and the power when it lies 0.03 and 0.05 below.
b. **Weighted kappa** (quadratic weights, Fleiss-Cohen-Everitt variance, :mod:`monitor.stats.ordinal`): three ordered
   levels, the AI's level equal to the reference grade with probability a and one level off otherwise; the false
   shortfall rate at the goal and the power 0.05 below, n cases.
c. **A maximum rate** (exact binomial, mirrored): the false-excess rate at the goal (<= 0.05, conservative by
   discreteness) and the power at goal + 0.02.

Figures are printed and written as JSON to ``bench/results/`` (or ``--json``), never asserted.

References: DeLong ER, DeLong DM, Clarke-Pearson DL. Biometrics 1988;44:837-845. Fleiss JL, Cohen J, Everitt BS.
Psychol Bull 1969;72:323-327. Wald A. Trans Am Math Soc 1943;54:426-482.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.domain.metric_claims import proportion_goal_tests, wald_goal_tests  # noqa: E402
from monitor.stats.auc import auc_delong  # noqa: E402
from monitor.stats.ordinal import kappa_weights, multinomial_variance, weighted_kappa  # noqa: E402

ALPHA = 0.05
LOG_ALPHA = math.log10(ALPHA)


def _rate(flags: list[bool]) -> dict[str, float]:
    p = float(np.mean(flags))
    return {"rate": p, "mc_se": math.sqrt(p * (1 - p) / len(flags))}


def auc_rule(rng: np.random.Generator, *, true_auc: float, goal: float, positives: int, replicates: int) -> dict:
    """Share of replicates whose DeLong Wald test shows a shortfall below ``goal``."""
    shift = math.sqrt(2) * stats.norm.ppf(true_auc)
    flags = []
    for _ in range(replicates):
        result = auc_delong(rng.normal(shift, 1, positives), rng.normal(0, 1, 4 * positives))
        _, tests = wald_goal_tests([result.auc], [result.se], [goal], "minimum")
        flags.append(bool(tests.log10_p_departure[0] <= LOG_ALPHA))
    return _rate(flags)


def _kappa_population(agreement: float) -> np.ndarray:
    """3 x 3 joint proportions: grades 0/1/2 with shares 0.6/0.25/0.15, the AI right with ``agreement``, else one
    level off (up or down at random, within range)."""
    shares, joint = np.array([0.6, 0.25, 0.15]), np.zeros((3, 3))
    for grade, share in enumerate(shares):
        joint[grade, grade] = share * agreement
        neighbours = [g for g in (grade - 1, grade + 1) if 0 <= g < 3]
        for g in neighbours:
            joint[grade, g] += share * (1 - agreement) / len(neighbours)
    return joint


def kappa_rule(rng: np.random.Generator, *, agreement: float, goal: float, cases: int, replicates: int) -> dict:
    """Share of replicates whose Wald test shows the quadratic weighted kappa below ``goal``."""
    weights, joint = kappa_weights(3, "quadratic"), _kappa_population(agreement)
    flags = []
    for _ in range(replicates):
        counts = rng.multinomial(cases, joint.ravel()).reshape(3, 3)
        kappa, gradient = weighted_kappa(counts / cases, weights)
        se = math.sqrt(multinomial_variance(counts / cases, gradient, cases))
        _, tests = wald_goal_tests([kappa], [se], [goal], "minimum")
        flags.append(bool(tests.log10_p_departure[0] <= LOG_ALPHA))
    return _rate(flags)


def true_kappa(agreement: float) -> float:
    return weighted_kappa(_kappa_population(agreement), kappa_weights(3, "quadratic"))[0]


def maximum_rule(rng: np.random.Generator, *, true_rate: float, goal: float, trials: int, replicates: int) -> dict:
    events = rng.binomial(trials, true_rate, replicates)
    tests = proportion_goal_tests(events, np.full(replicates, trials), np.full(replicates, goal), "maximum")
    return _rate(list(tests.log10_p_departure <= LOG_ALPHA))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicates", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rng, started, results = np.random.default_rng(args.seed), time.perf_counter(), {}
    print(f"one-sided level {ALPHA}, {args.replicates} replicates per cell (Monte-Carlo SE in brackets)\n")
    print("a. AUC (DeLong Wald), goal 0.91")
    for positives in (50, 100, 200, 500):
        row = {f"auc_{a}": auc_rule(rng, true_auc=a, goal=0.91, positives=positives, replicates=args.replicates)
               for a in (0.91, 0.88, 0.86)}
        results[f"auc_n{positives}"] = row
        print(f"  {positives:>4} positives / {4 * positives:>5} negatives: false shortfall at 0.91 "
              f"{row['auc_0.91']['rate']:.3f} [{row['auc_0.91']['mc_se']:.3f}], power at 0.88 "
              f"{row['auc_0.88']['rate']:.3f}, at 0.86 {row['auc_0.86']['rate']:.3f}")
    print("b. quadratic weighted kappa (Fleiss-Cohen-Everitt Wald)")
    at_goal, below = 0.85, 0.80
    goal = true_kappa(at_goal)
    for cases in (100, 300, 1000):
        row = {"at_goal": kappa_rule(rng, agreement=at_goal, goal=goal, cases=cases, replicates=args.replicates),
               "below": kappa_rule(rng, agreement=below, goal=goal, cases=cases, replicates=args.replicates)}
        results[f"kappa_n{cases}"] = row | {"goal": goal, "kappa_below": true_kappa(below)}
        print(f"  {cases:>5} cases: goal kappa {goal:.3f}: false shortfall {row['at_goal']['rate']:.3f} "
              f"[{row['at_goal']['mc_se']:.3f}], power at kappa {true_kappa(below):.3f} {row['below']['rate']:.3f}")
    print("c. maximum rate (exact binomial, mirrored), goal 0.02")
    for trials in (300, 1000, 3000):
        row = {"at_goal": maximum_rule(rng, true_rate=0.02, goal=0.02, trials=trials, replicates=args.replicates * 5),
               "above": maximum_rule(rng, true_rate=0.04, goal=0.02, trials=trials, replicates=args.replicates * 5)}
        results[f"maximum_n{trials}"] = row
        print(f"  {trials:>5} trials: false excess {row['at_goal']['rate']:.4f} [{row['at_goal']['mc_se']:.4f}], "
              f"power at 0.04 {row['above']['rate']:.3f}")
    elapsed = time.perf_counter() - started
    print(f"\n{elapsed:.1f} s")
    target = args.json or ROOT / "bench" / "results" / f"{date.today().isoformat()}-metric-claims.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps({"replicates": args.replicates, "seed": args.seed, "seconds": elapsed,
                                  "results": results}, indent=2) + "\n", encoding="utf-8")
    print(f"written {target}")


if __name__ == "__main__":
    main()
