"""Benchmark the dashboard's first meaningful paint in a real browser (Debian's Chromium via Playwright).

Usage::

    SAMD_DASHBOARD_PASSWORD=... .venv/bin/python bench/bench_dashboard.py --db URL --user qa1 [--runs 5]
    .venv/bin/python bench/bench_dashboard.py --db URL --create-user [--screenshots docs/screenshots]
        [--json results.json]

Starts ``samd-monitor dashboard`` on a free local port over ``--db`` and, for each run, opens a fresh
browser context (so Streamlit's session state is new; the server's ``st.cache_data`` stays warm after
the first run, which is reported separately) and measures:

* ``login_form``: page load until the sign-in form is visible;
* ``overview``: from pressing *Sign in* until the overview's key figures are visible;
* ``heatmap``: from choosing *Heat map* until its chart (the Vega canvas) is visible;
* ``overview_again``: from choosing *Overview* again (from another page) until its key figures are visible again
  (the overview without the sign-in, whose scrypt password check is part of ``overview``).

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
    args = parser.parse_args()
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
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    result = {"database": args.db.split("@")[-1], "server_start_s": round(startup, 2), "first_run": runs[0],
              "warm_runs_median": {k: statistics.median(r[k] for r in runs[1:]) for k in runs[0]} if len(runs) > 1
              else None, "runs": runs}
    print(f"server ready after {startup:.2f} s")
    for name in runs[0]:
        warm = [r[name] for r in runs[1:]]
        print(f"{name:>11}: first {runs[0][name]:.2f} s" + (f"; warm median {statistics.median(warm):.2f} s "
                                                            f"(min {min(warm):.2f}, max {max(warm):.2f})" if warm else ""))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
