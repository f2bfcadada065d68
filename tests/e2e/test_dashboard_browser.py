"""The dashboard in a real browser: `samd-monitor dashboard` serves it, Debian's Chromium (driven by
Playwright) signs in, finds the flagged stratum on the heat map, opens a ticket, and saves screenshots;
stored values written as Markdown, HTML, directives and maths are shown literally (no link, no image
fetched, no request to their host); signing out ends the session for reloads and re-runs.

Screenshots go to ``$DASHBOARD_SCREENSHOT_DIR`` when set (``docs/screenshots`` for the README),
otherwise to the test's temporary folder.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

import sqlalchemy as sa

from dashboards.text import WORD_JOINER
from monitor.adapters.db import tables
from monitor.adapters.db.repositories.tickets import open_key
from unit.dashboards.dashboard_seed import PASSWORD, TARGET, seed_dashboard_database

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

CLI = str(Path(sys.executable).parent / "samd-monitor")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 60_000
#: An attribute value an attacker could put into a stratum (issue 15, row 4); port 9 (discard) on
#: loopback: nothing is fetched from it unless the page asks for it.
HOSTILE_HOST = "127.0.0.1:9"
PAYLOAD = (f"[Sign in](http://{HOSTILE_HOST}/x) ![t](http://{HOSTILE_HOST}/i.png) <img src=x onerror=alert(1)> "
           ":red[x] $x^2$")
HOSTILE_TICKET = "RT-000002"


def _plant_hostile_values(database_url: str) -> None:
    """Put the payload into a second ticket's title and stratum and its finding's stratum, as a hostile
    attribute level would: a copy of the seeded ticket (which keeps its title, for the README screenshot)."""
    engine = sa.create_engine(database_url)
    with engine.begin() as connection:
        stratum = f"emphysema_grade=severe & scanner_vendor={PAYLOAD}"
        ticket = connection.execute(sa.select(tables.tickets).where(tables.tickets.c.ticket_id == "RT-000001")).one()
        connection.execute(sa.insert(tables.tickets).values(
            {**ticket._mapping, "ticket_id": HOSTILE_TICKET, "seq": ticket.seq + 1, "stratum": stratum,
             "open_key": open_key(ticket.device_id, ticket.model_version, stratum, ticket.metric),
             "title": f"Sensitivity below claim in {stratum} (model 2.1.0)"}))
        finding = connection.execute(sa.select(tables.findings).where(
            tables.findings.c.ticket_id == "RT-000001").limit(1)).one()
        connection.execute(sa.insert(tables.findings).values(
            {**finding._mapping, "finding_id": str(uuid.uuid4()), "ticket_id": HOSTILE_TICKET, "stratum": stratum}))
    engine.dispose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(url: str, server: subprocess.Popen[bytes], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"the dashboard exited with status {server.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read().decode().strip() == "ok":
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"the dashboard did not answer at {url} within {timeout:.0f} s")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`samd-monitor dashboard` on a free port over a seeded SQLite database; killed afterwards."""
    work = tmp_path_factory.mktemp("browser")
    database_url = f"sqlite:///{(work / 'monitor.sqlite').as_posix()}"
    seed_dashboard_database(database_url, work)["app"].engine.dispose()
    _plant_hostile_values(database_url)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    log = (work / "server.log").open("wb")
    process = subprocess.Popen([CLI, "dashboard", "--port", str(port), "--db", database_url], env=env,
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, process)
        yield url
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()


@pytest.fixture
def page(server: str) -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1440, "height": 1000})
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(server, wait_until="domcontentloaded")
            yield page
        finally:
            browser.close()


def _screenshots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("DASHBOARD_SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _open(page: Page, name: str, key: str) -> Any:
    page.locator('[data-testid="stSidebar"]').get_by_text(name, exact=True).click()
    target = page.locator(f".st-key-{key}")
    expect(target).to_be_visible(timeout=TIMEOUT_MS)
    return target


def _shot(page: Page, path: Path) -> None:
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden")  # the script run has finished
    page.wait_for_timeout(800)  # let Vega finish drawing
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000 and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sign_in_heat_map_shows_the_flagged_stratum_and_a_ticket_opens(page: Page, tmp_path: Path) -> None:
    shots = _screenshots(tmp_path)
    page.get_by_label("User id", exact=True).fill("qa1")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    overview = page.locator(".st-key-overview-kpis")
    expect(overview).to_be_visible(timeout=TIMEOUT_MS)
    expect(overview).to_contain_text("2025Q3")
    expect(overview).to_contain_text("Label completeness")
    expect(overview).to_contain_text("Shortfall / inconclusive / conformity")  # the rule's outcomes (issue 19)
    _shot(page, shots / "dashboard-overview.png")

    heatmap = _open(page, "Heat map", "heatmap")
    expect(heatmap.locator("canvas, svg").first).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.locator(".st-key-heatmap-flagged")).to_contain_text(TARGET)
    expect(page.locator(".st-key-heatmap-flagged")).to_contain_text("Shortfall shown")
    expect(page.get_by_text("pre-specified rule").first).to_be_visible()
    _shot(page, shots / "dashboard-heatmap.png")

    detail = _open(page, "Tickets", "ticket-detail")
    expect(detail).to_contain_text("RT-")
    expect(detail).to_contain_text("Evidence")
    expect(page.get_by_role("button", name="Apply transition")).to_be_visible()
    _shot(page, shots / "dashboard-ticket.png")


def test_dashboard_refuses_an_unmigrated_database_with_one_error_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    result = subprocess.run([CLI, "dashboard", "--db", f"sqlite:///{(tmp_path / 'empty.sqlite').as_posix()}",
                             "--port", str(_free_port())], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 2
    assert result.stderr.startswith("error:") and "db upgrade" in result.stderr and "Traceback" not in result.stderr


def _sign_in(page: Page) -> None:
    page.get_by_label("User id", exact=True).fill("qa1")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".st-key-overview-kpis")).to_be_visible(timeout=TIMEOUT_MS)


def _shown(page: Page) -> str:
    return page.locator('[data-testid="stMain"]').inner_text().replace(WORD_JOINER, "")


def _no_markup_from(page: Page, requests: list[str]) -> None:
    main = page.locator('[data-testid="stMain"]')
    assert main.locator(f'a[href*="{HOSTILE_HOST}"]').count() == 0
    assert main.locator(f'img[src*="{HOSTILE_HOST}"], img[src="x"]').count() == 0
    assert main.locator(".katex, .stMarkdownColoredText").count() == 0
    assert not [url for url in requests if HOSTILE_HOST in url]


def test_hostile_stored_values_are_shown_literally(page: Page, tmp_path: Path) -> None:
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    _sign_in(page)
    page.locator('[data-testid="stSidebar"]').get_by_text("Findings", exact=True).click()
    label = page.locator('[data-testid="stExpander"] summary').filter(has_text="scanner_vendor=[Sign in]")
    expect(label).to_have_count(1, timeout=TIMEOUT_MS)
    assert f"scanner_vendor={PAYLOAD} → {HOSTILE_TICKET}" in label.inner_text().replace(WORD_JOINER, "")
    _no_markup_from(page, requests)

    detail = _open(page, "Tickets", "ticket-detail")
    page.locator(".st-key-ticket_selected").click()
    page.keyboard.type(HOSTILE_TICKET)
    page.keyboard.press("Enter")
    expect(detail).to_contain_text(f"{HOSTILE_TICKET} · open", timeout=TIMEOUT_MS)
    assert f"Sensitivity below claim in emphysema_grade=severe & scanner_vendor={PAYLOAD} (model 2.1.0)" in _shown(page)
    _shot(page, _screenshots(tmp_path) / "dashboard-hostile-ticket.png")
    _no_markup_from(page, requests)
    assert not dialogs


def test_sign_out_ends_the_session_for_reloads_and_reruns(page: Page) -> None:
    login = page.get_by_role("button", name="Sign in")
    _sign_in(page)
    page.reload()  # a reload starts a new Streamlit session: signed out
    expect(login).to_be_visible(timeout=TIMEOUT_MS)
    _sign_in(page)
    page.locator('[data-testid="stSidebar"]').get_by_role("button", name="Sign out").click()
    expect(login).to_be_visible(timeout=TIMEOUT_MS)
    page.keyboard.press("r")  # Streamlit's re-run shortcut
    page.wait_for_timeout(1000)
    expect(login).to_be_visible()
    page.reload()
    expect(login).to_be_visible(timeout=TIMEOUT_MS)
    page.go_back()
    page.go_forward()
    expect(login).to_be_visible(timeout=TIMEOUT_MS)
    assert page.locator(".st-key-overview-kpis").count() == 0 and "Sign out" not in page.content()
