"""Benchmark federated site summaries: a site summarising N predictions, the centre ingesting and merging.

Usage::

    .venv/bin/python bench/bench_site_summary.py [--rows 100000] [--sites 5] [--in-memory] [--json results.json]

N predictions of the demo generator over two quarters are given to ONE site (every row's site_id set to
it), written as CSV with their ground truth, and summarised as ``samd-monitor site summarize`` does (the
ordinary ingestion into a scratch SQLite file, or in memory with ``--in-memory``, then counting) in a
fresh child process, whose peak resident memory is reported. The bundle is then copied under
``--sites`` site ids (each re-signed, as if every site had the same case mix), ingested into a fresh SQLite
centre, and the merged quarter is analysed. Figures are printed, never asserted: this is not a test.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_pipeline import _peak_mb  # noqa: E402  (VmHWM: not inherited across exec, unlike ru_maxrss)

from monitor.adapters.config_file import load_device_config  # noqa: E402
from monitor.adapters.db.engine import make_engine, upgrade  # noqa: E402
from monitor.adapters.db.scratch import scratch_database  # noqa: E402
from monitor.adapters.db.unit_of_work import unit_of_work_factory  # noqa: E402
from monitor.adapters.files.readers import open_log  # noqa: E402
from monitor.adapters.site_keys import load_public_key, load_signer, verify, write_key_pair  # noqa: E402
from monitor.domain.periods import Period  # noqa: E402
from monitor.domain.privacy import make_patient_hasher  # noqa: E402
from monitor.domain.site_summary import SiteSummary  # noqa: E402
from monitor.entrypoints.bootstrap import utc_now  # noqa: E402
from monitor.service.devices import register_device  # noqa: E402
from monitor.service.federation import (  # noqa: E402
    SiteLogs,
    analyze_summaries,
    ingest_summary,
    register_site,
    sign_summary,
    summarize_site,
)
from monitor.synthetic import DEFAULT_CASES_PER_QUARTER, DemoScenario, generate, write_csv  # noqa: E402

CONFIG = load_device_config(ROOT / "examples" / "lung-nodule-ct.yaml")


def _summarize(predictions: Path, truth: Path, scratch_dir: Path | None
               ) -> tuple[dict[str, object], float, float]:
    """``site summarize`` of one site's logs: the payload, wall-clock seconds and this process's peak MB."""
    started = time.perf_counter()
    with scratch_database(scratch_dir) as scratch:
        summary = summarize_site(CONFIG, SiteLogs([open_log(predictions)], [open_log(truth)]), site_id="site-00",
                                 period=None, scratch=scratch, clock=utc_now, actor="bench",
                                 hash_patient=make_patient_hasher("bench-throwaway-key-0123456789"), min_cell_size=11)
    return summary.to_payload(), time.perf_counter() - started, _peak_mb()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--sites", type=int, default=5)
    parser.add_argument("--in-memory", action="store_true", help="summarise in memory (default: a SQLite file in "
                                                                   "the temporary folder, as the command does)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    figures: dict[str, object] = {"rows": args.rows, "sites": args.sites,
                                  "scratch": "memory" if args.in_memory else "file"}
    with tempfile.TemporaryDirectory(prefix="bench-site-") as tmp:
        folder = Path(tmp)
        data = generate(DemoScenario(seed=7, quarters=("2025Q2", "2025Q3"),
                                     scale=args.rows / (2 * DEFAULT_CASES_PER_QUARTER)))
        predictions = write_csv(data.predictions.assign(site_id="site-00"), folder / "p.csv")
        truth = write_csv(data.ground_truth, folder / "g.csv")
        figures["predictions"] = len(data.predictions)
        keys = {f"site-{i:02d}": write_key_pair(folder / "keys", f"site-{i:02d}") for i in range(args.sites)}

        del data
        with multiprocessing.get_context("spawn").Pool(1) as pool:  # a clean process: its own peak memory
            payload, seconds, peak = pool.apply(_summarize, (predictions, truth, None if args.in_memory else folder))
        figures["summarize_seconds"] = round(seconds, 2)
        figures["summarize_rows_per_second"] = round(figures["predictions"] / seconds)
        figures["summarize_peak_mb"] = round(peak)
        summary = SiteSummary.from_payload(payload)
        bundles = []
        for site, files in keys.items():
            copy = SiteSummary.from_payload(payload | {"site_id": site})
            bundles.append(json.dumps(sign_summary(copy, load_signer(files.private)).document()).encode())
        figures["cells_per_bundle"] = len(summary.cells)
        figures["bundle_bytes"] = len(bundles[0])

        engine = make_engine(f"sqlite:///{folder / 'centre.sqlite'}")
        upgrade(engine)
        uow = unit_of_work_factory(engine)
        register_device(CONFIG, uow=uow, clock=utc_now, actor="bench", source="bench")
        for site, files in keys.items():
            public = load_public_key(files.public)
            register_site(site, public, key_id=files.key_id, devices=[CONFIG.device.id], replace=False, uow=uow,
                          clock=utc_now, actor="bench")
        started = time.perf_counter()
        for data_bytes in bundles:
            ingest_summary(data_bytes, uow=uow, clock=utc_now, actor="bench", verify=verify)
        figures["ingest_seconds_per_bundle"] = round((time.perf_counter() - started) / len(bundles), 3)
        started = time.perf_counter()
        document = analyze_summaries(CONFIG.device.id, Period.parse("2025Q3"), uow=uow,
                                     cutoff=datetime.now(timezone.utc))
        figures["analyze_seconds"] = round(time.perf_counter() - started, 3)
        figures["analysed_predictions"] = document["predictions_counted"]
        figures["centre_peak_mb"] = round(_peak_mb())  # generation of the logs included
        engine.dispose()
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
