"""The CUSUM section of an analysis (issue 20): its time with and without checkpoints, and its rows.

Runs ``cusum_charts`` alone for each period given, oldest first, in one unit of work per period (as an
analysis does), and prints the seconds each took; ``--dump`` writes the sections (JSON, floats exact) so
that two runs can be compared, e.g. a replay from the start against the checkpoints, or this tree against
an older one (``PYTHONPATH=/path/to/old/tree``: the script only needs ``cusum_charts`` and ``Window``).

    .venv/bin/python bench/bench_cusum.py sqlite:////tmp/cusum.sqlite 2025Q2 2025Q3 --mode replay --dump a.json
    .venv/bin/python bench/bench_cusum.py sqlite:////tmp/cusum.sqlite 2025Q2 2025Q3 --dump b.json

``--mode replay`` hides the checkpoints (every chart replayed from its model version's first case, the
design basis counted from the rows); the default uses and stores them. Writes to the database given.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import datetime
from typing import Any

from monitor.adapters.db.engine import make_engine
from monitor.adapters.db.unit_of_work import unit_of_work_factory
from monitor.domain.periods import Period, resolve_timezone
from monitor.service.cusum_charts import cusum_charts
from monitor.service.window import Window


class _Replay:
    """A repository proxy without checkpoints."""

    cusum_checkpoints = None

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _Unit:
    def __init__(self, unit: Any) -> None:
        self.results, self.aggregates = unit.results, _Replay(unit.aggregates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("periods", nargs="+")
    parser.add_argument("--device", default="lung-nodule-ct")
    parser.add_argument("--cutoff", default="2026-01-31T15:59:59+00:00")
    parser.add_argument("--mode", choices=["replay", "checkpoints"], default="checkpoints")
    parser.add_argument("--dump")
    args = parser.parse_args()
    uow = unit_of_work_factory(make_engine(args.url))
    cutoff = datetime.fromisoformat(args.cutoff)
    sections: dict[str, Any] = {}
    for label in args.periods:
        period = Period.parse(label)
        with uow() as unit:
            config = unit.devices.get(args.device)
            start, end = period.bounds_utc(resolve_timezone(config.monitoring.timezone))
            cells = unit.results.confusion_cells(args.device, start=start, end=end, cutoff=cutoff,
                                                 attributes=config.strata.attributes)
            began = time.perf_counter()
            rows = cusum_charts(unit if args.mode == "checkpoints" else _Unit(unit), config, period,
                                Window(args.device, start, end, cutoff), cells)
            seconds = time.perf_counter() - began
        load = os.getloadavg()[0]
        print(f"{label} {args.mode}: {seconds:.2f} s, {len(rows)} charts (load average {load:.2f})")
        sections[label] = rows
    if args.dump:
        with open(args.dump, "w", encoding="utf-8") as out:
            json.dump(sections, out, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
