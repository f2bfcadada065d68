"""The fuzzing campaign at length: every parser of tests/security/fuzz_strategies.py, many examples each.

Usage::

    nice -n 10 .venv/bin/python bench/bench_fuzz.py [--examples 2000] [--minutes 10] [--targets csv,fhir]
                                                     [--seed 0] [--json bench/results/<date>-fuzz.json]

Each target (csv, parquet, ndjson, json-array, fhir, dicom-sr, device-yaml, site-bundle, api-query) gets
``--examples`` generated inputs or its share of ``--minutes``, whichever ends first, against a fresh SQLite
workspace. Every input is checked for the four properties of the campaign (no uncaught exception, the
memory budget, row accounting, no planted marker in a message); failures are counted by kind, not
asserted, and the first example of each distinct failure is kept in the JSON. Printed as a table:
examples, examples/s, failures, the largest parse peak (tracemalloc) and the largest peak per input byte.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import traceback
import warnings
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "security"))

import fuzz_strategies as fz  # noqa: E402
from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402


def _exempt(message: str) -> bool:
    """The test module's exemptions (named ids, and the known leaks of code owned elsewhere)."""
    import test_fuzz_parsers as tests

    return tests._exempt(message)


def _config_exempt(message: str) -> bool:
    import test_fuzz_parsers as tests

    return tests._config_exempt(message)


def run_target(name: str, examples: int, seconds: float, random_seed: int, ws: fz.Workspace) -> dict[str, Any]:
    strategy, runner = fz.TARGETS[name]
    context: Any = fz.api_client(ws) if name == "api-query" else ws
    failures: Counter[str] = Counter()
    first: dict[str, str] = {}
    stats = {"examples": 0, "peak": 0, "peak_per_byte": 0.0, "largest_input": 0}
    deadline = time.monotonic() + seconds

    @seed(random_seed)
    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck),
              phases=[Phase.generate])
    @given(strategy)
    def one(value: Any) -> None:
        if time.monotonic() > deadline:
            return
        stats["examples"] += 1
        try:
            outcome = runner(value, context)
            outcome.exempt = _config_exempt if name == "device-yaml" else _exempt
            problems = fz.violations(outcome)
            stats["peak"] = max(stats["peak"], outcome.peak)
            stats["largest_input"] = max(stats["largest_input"], outcome.size)
            if outcome.size:
                stats["peak_per_byte"] = max(stats["peak_per_byte"], (outcome.peak - (1 << 20)) / outcome.size)
        except Exception as exc:  # (a): anything but a MonitorError
            where = traceback.extract_tb(exc.__traceback__)[-1]
            problems = [f"(a) {type(exc).__name__} at {Path(where.filename).name}:{where.lineno}"]
        for problem in problems:
            key = problem[:200]
            failures[key] += 1
            first.setdefault(key, repr(value)[:2000])

    started = time.perf_counter()
    one()
    elapsed = time.perf_counter() - started
    return {"target": name, "examples": stats["examples"], "seconds": round(elapsed, 1),
            "examples_per_s": round(stats["examples"] / elapsed, 1) if elapsed else None,
            "failures": sum(failures.values()), "distinct_failures": len(failures),
            "peak_mib": round(stats["peak"] / 2**20, 2), "largest_input_bytes": stats["largest_input"],
            "max_peak_per_input_byte": round(stats["peak_per_byte"], 1),
            "failure_kinds": {k: {"count": v, "example": first[k]} for k, v in failures.most_common()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--minutes", type=float, default=10.0, help="total, shared evenly by the targets")
    parser.add_argument("--targets", default=",".join(fz.TARGETS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / f"{date.today()}-fuzz.json")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    logging.disable(logging.CRITICAL)
    targets = [t for t in args.targets.split(",") if t]
    share = args.minutes * 60 / len(targets)
    results = []
    ws = fz.Workspace()
    try:
        print(f"{'target':<12} {'examples':>8} {'ex/s':>7} {'failures':>8} {'distinct':>8} {'peak MiB':>9} "
              f"{'peak/B':>7}", flush=True)
        for name in targets:
            result = run_target(name, args.examples, share, args.seed, ws)
            results.append(result)
            print(f"{name:<12} {result['examples']:>8} {result['examples_per_s']:>7} {result['failures']:>8} "
                  f"{result['distinct_failures']:>8} {result['peak_mib']:>9} {result['max_peak_per_input_byte']:>7}",
                  flush=True)
            for kind, detail in result["failure_kinds"].items():
                print(f"    x{detail['count']}: {kind}", flush=True)
    finally:
        ws.close()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"benchmark": "fuzz", "date": str(date.today()), "examples_cap": args.examples,
                                     "minutes": args.minutes, "seed": args.seed,
                                     "memory_budget": {"factor": fz.MEMORY_FACTOR, "constant": fz.MEMORY_CONSTANT},
                                     "results": results}, indent=2) + "\n", encoding="utf-8")
    print(f"written {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
