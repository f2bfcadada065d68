"""Benchmark the dashboard's first meaningful paint in a real browser (Debian's Chromium via Playwright).

Usage::

    SAMD_DASHBOARD_PASSWORD=... .venv/bin/python bench/bench_dashboard.py --db URL --user qa1 [--runs 5]
    .venv/bin/python bench/bench_dashboard.py --db URL --create-user [--screenshots docs/screenshots]
        [--json results.json]
    .venv/bin/python bench/bench_dashboard.py --db URL --queries [--runs 5] [--json results.json]

``--db`` is any database with stored analyses: the demo's, or one that ``bench/run_all.py`` filled with
N predictions through the real ingest and analysis (the paint figures of the service issue are taken on
PostgreSQL with 10,000,000 predictions).

Starts ``samd-monitor dashboard`` on a free local port over ``--db`` and, for each run, opens a fresh
browser context (so Streamlit's session state is new; the server's ``st.cache_data`` stays warm after
the first run, which is reported separately) and measures:

* ``login_form``: page load until the sign-in form is visible;
* ``overview``: from pressing *Sign in* until the overview's key figures are visible;
* ``heatmap``: from choosing *Heat map* until its chart (the Vega canvas) is visible;
* ``overview_again``: from choosing *Overview* again (from another page) until its key figures are visible again
  (the overview without the sign-in, whose scrypt password check is part of ``overview``).

The first meaningful paint is the moment the page's key element is visible: the overview's key
figures, the heat map's chart. The dashboard server's peak resident memory (VmHWM of its process tree)
is reported too.

``--queries`` measures the same pages without a browser or Streamlit: the latency of the read-model
calls (``monitor.service.queries``) that the overview, heat map, trend, findings, drift and report
pages make when Streamlit's cache is empty, in this process: the first of ``--runs`` rounds, their
median and maximum.

``--create-user`` adds a QA user ``bench-<hex>`` with a random password (an audited write to that
database). ``--screenshots DIR`` saves the overview, heat map and ticket pages of the first run. Figures
are printed, never asserted: this is not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CLI = str(Path(sys.executable).parent / "samd-monitor")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 120_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _create_user(database_url: str) -> tuple[str, str]:
    from datetime import datetime, timezone

    from monitor.entrypoints.bootstrap import bootstrap
    from monitor.service.access import create_user
    from monitor.settings import load_settings

    app = bootstrap(load_settings().with_database(database_url))
    user_id, password = f"bench-{secrets.token_hex(4)}", secrets.token_urlsafe(18)
    create_user(app.uow, user_id=user_id, display_name="Dashboard benchmark", role="qa", password=password,
                clock=lambda: datetime.now(timezone.utc), actor="bench_dashboard")
    app.engine.dispose()
    return user_id, password


def _start(database_url: str, port: int) -> tuple[subprocess.Popen[bytes], float]:
    env = {k: v for k, v in os.environ.items() if k != "MONITOR_DATABASE_URL"}
    started = time.perf_counter()
    process = subprocess.Popen([CLI, "dashboard", "--port", str(port), "--db", database_url], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = started + 120
    while time.perf_counter() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the dashboard exited with status {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                if r.read().decode().strip() == "ok":
                    return process, time.perf_counter() - started
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the dashboard did not become healthy within 120 s")


def _tree_peak_mb(pid: int) -> float | None:
    """Largest VmHWM (MB) among process ``pid`` and its descendants (the Streamlit server is a child)."""
    peak, todo = None, [pid]
    while todo:
        current = todo.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peak = max(peak or 0.0, int(line.split()[1]) / 1024.0)
        todo += [int(c) for c in children]
    return peak


def _peak_mb() -> float:
    """Peak resident memory of this process (VmHWM)."""
    return _tree_peak_mb(os.getpid()) or 0.0


def queries(database_url: str, runs: int) -> dict[str, Any]:
    """Latency (ms) of the read-model calls each dashboard page makes, first call and median of ``runs``."""
    from monitor.entrypoints.bootstrap import bootstrap
    from monitor.service import queries as read_model
    from monitor.settings import load_settings

    app = bootstrap(load_settings().with_database(database_url))
    uow = app.uow
    device = read_model.overview(uow)[0].device_id
    period = read_model.device_periods(uow, device)[0]
    levels = read_model.attribute_levels(uow, device)
    rows, columns = list(levels)[:2]
    strata = read_model.strata(uow, device, period)
    version = sorted(strata["model_version"].unique())[-1]
    flagged = strata[(strata["status"] == "flagged") & (strata["metric"] == "sensitivity")]
    stratum = str((flagged if not flagged.empty else strata[strata["metric"] == "sensitivity"])["stratum"].iloc[0])
    pages = {
        "overview": lambda: (read_model.newest_run_id(uow), read_model.overview(uow),
                             read_model.device_periods(uow, device)),
        "heatmap": lambda: (read_model.attribute_levels(uow, device), read_model.strata(uow, device, period),
                            read_model.stratum_grid(uow, device, period, metric="sensitivity", rows=rows,
                                                    columns=columns, model_version=version)),
        "trend": lambda: read_model.stratum_trend(uow, device, stratum=stratum, metric="sensitivity",
                                                  model_version=version),
        "findings": lambda: read_model.period_findings(uow, device, period),
        "drift": lambda: read_model.data_drift(uow, device, period),
        "reports": lambda: read_model.report_files_frame(uow, device,
                                                          file_exists=lambda path: Path(path).is_file()),
    }
    timings: dict[str, list[float]] = {name: [] for name in pages}
    for _ in range(max(1, runs)):
        for name, call in pages.items():
            started = time.perf_counter()
            call()
            timings[name].append(1000 * (time.perf_counter() - started))
    app.engine.dispose()
    return {"database": database_url.split("@")[-1], "device_id": device, "period": period, "strata": len(strata),
            "heatmap": f"{rows} x {columns}", "trend_stratum": stratum, "runs": runs,
            "pages_ms": {name: {"first": t[0], "median": statistics.median(t), "max": max(t)}
                         for name, t in timings.items()},
            "peak_rss_mb": _peak_mb()}


def _settle(page, wait_ms: int) -> None:  # type: ignore[no-untyped-def]
    """Wait until Streamlit has finished the script run (its status widget gone) and charts have drawn."""
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden")
    page.wait_for_timeout(wait_ms)


def _one_run(browser, url: str, user: str, password: str, shots: Path | None) -> dict[str, float]:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    sidebar = page.locator('[data-testid="stSidebar"]')
    t0 = time.perf_counter()
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_label("User id", exact=True).wait_for(state="visible")
    login = time.perf_counter() - t0
    page.get_by_label("User id", exact=True).fill(user)
    page.get_by_label("Password", exact=True).fill(password)
    t1 = time.perf_counter()
    page.get_by_role("button", name="Sign in").click()
    page.locator(".st-key-overview-kpis [data-testid='stMetric']").first.wait_for(state="visible")
    overview = time.perf_counter() - t1
    if shots:
        _settle(page, 500)
        page.screenshot(path=str(shots / "dashboard-overview.png"), full_page=True)
    t2 = time.perf_counter()
    sidebar.get_by_text("Heat map", exact=True).click()
    page.locator(".st-key-heatmap canvas, .st-key-heatmap svg").first.wait_for(state="visible")
    heatmap = time.perf_counter() - t2
    if shots:
        _settle(page, 800)
        page.screenshot(path=str(shots / "dashboard-heatmap.png"), full_page=True)
        sidebar.get_by_text("Trends", exact=True).click()
        page.locator(".st-key-trend-chart canvas, .st-key-trend-chart svg").first.wait_for(state="visible")
        _settle(page, 800)
        page.screenshot(path=str(shots / "dashboard-trend.png"), full_page=True)
        sidebar.get_by_text("Tickets", exact=True).click()
        page.locator(".st-key-ticket-detail").wait_for(state="visible")
        _settle(page, 500)
        page.screenshot(path=str(shots / "dashboard-ticket.png"), full_page=True)
    _settle(page, 0)
    t3 = time.perf_counter()
    sidebar.get_by_text("Overview", exact=True).click()
    page.locator(".st-key-overview-kpis [data-testid='stMetric']").first.wait_for(state="visible")
    revisit = time.perf_counter() - t3
    context.close()
    return {"login_form": login, "overview": overview, "heatmap": heatmap, "overview_again": revisit}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="Database URL with stored analyses.")
    parser.add_argument("--user", help="User id (password in SAMD_DASHBOARD_PASSWORD).")
    parser.add_argument("--create-user", action="store_true", help="Create a throwaway QA user.")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--screenshots", type=Path, help="Save screenshots of the first run here.")
    parser.add_argument("--json", type=Path, help="Write the figures as JSON here.")
    parser.add_argument("--queries", action="store_true",
                        help="Time the pages' read-model queries without a browser (no user needed).")
    args = parser.parse_args()
    if args.queries:
        figures = queries(args.db, args.runs)
        for name, t in figures["pages_ms"].items():
            print(f"{name:>9}: first {t['first']:.1f} ms; median {t['median']:.1f} ms (max {t['max']:.1f})")
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
        return
    if args.create_user:
        user, password = _create_user(args.db)
    elif args.user and os.environ.get("SAMD_DASHBOARD_PASSWORD"):
        user, password = args.user, os.environ["SAMD_DASHBOARD_PASSWORD"]
    else:
        raise SystemExit("give --user with SAMD_DASHBOARD_PASSWORD set, or --create-user")
    if args.screenshots:
        args.screenshots.mkdir(parents=True, exist_ok=True)

    from playwright.sync_api import sync_playwright

    port = _free_port()
    process, startup = _start(args.db, port)
    runs: list[dict[str, float]] = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
            try:
                for i in range(args.runs):
                    runs.append(_one_run(browser, f"http://127.0.0.1:{port}", user, password,
                                         args.screenshots if i == 0 else None))
            finally:
                browser.close()
    finally:
        server_peak = _tree_peak_mb(process.pid)
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    result = {"database": args.db.split("@")[-1], "server_start_s": round(startup, 2), "server_peak_mb": server_peak,
              "first_run": runs[0],
              "warm_runs_median": {k: statistics.median(r[k] for r in runs[1:]) for k in runs[0]} if len(runs) > 1
              else None, "runs": runs}
    print(f"server ready after {startup:.2f} s; server peak memory {server_peak or 0:.0f} MB")
    for name in runs[0]:
        warm = [r[name] for r in runs[1:]]
        print(f"{name:>11}: first {runs[0][name]:.2f} s" + (f"; warm median {statistics.median(warm):.2f} s "
                                                            f"(min {min(warm):.2f}, max {max(warm):.2f})" if warm else ""))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
