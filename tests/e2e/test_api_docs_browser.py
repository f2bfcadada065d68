"""``/docs`` (Swagger UI) and ``/redoc`` in a real browser: after a token is given, the pages render every
operation from files the API serves itself (nothing is fetched from elsewhere: the one CDN request ReDoc
makes, for its footer logo, is refused by the pages' Content-Security-Policy), and Swagger UI's
"Try it out" sends the token."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any, Iterator

import pytest
import uvicorn

from monitor.entrypoints.api import create_api
from monitor.service import access
from monitor.service.access import create_token

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import sync_playwright  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 60_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(app, clock, monkeypatch) -> Iterator[dict[str, Any]]:  # type: ignore[no-untyped-def]
    if not app.settings.database_url.startswith("sqlite"):
        pytest.skip("the pages do not depend on the engine")
    monkeypatch.setattr(access, "TOKEN_PARAMS", (2**8, 8, 1))
    token = create_token(app.uow, name="reader", role="auditor", clock=clock, actor="pytest")[1]
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_api(app), host="127.0.0.1", port=port, log_config=None,
                                           access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield {"base": f"http://127.0.0.1:{port}", "token": token}
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def test_docs_pages_render_offline_with_a_token(served) -> None:  # type: ignore[no-untyped-def]
    base, token = served["base"], served["token"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            elsewhere: list[str] = []
            refused: list[str] = []
            failed: list[str] = []
            page.on("request", lambda r: None if r.url.startswith((base, "data:", "blob:")) else elsewhere.append(r.url))
            page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
            api_calls: list[dict[str, str]] = []
            page.on("request", lambda r: api_calls.append(r.headers) if r.url.startswith(f"{base}/v1/") else None)

            page.goto(f"{base}/docs", timeout=TIMEOUT_MS)
            page.fill("#token", token)
            page.click("button[type=submit]")
            page.wait_for_selector(".opblock", timeout=TIMEOUT_MS)
            assert page.locator(".opblock").count() >= 20  # every operation of the document
            assert page.locator("#token-form").is_hidden()
            # Try it out on GET /v1/devices: the call carries the token
            block = page.locator("#operations-devices-list_devices")
            block.locator(".opblock-summary").click()
            block.locator("button.try-out__btn").click()
            block.locator("button.execute").click()
            block.locator(".live-responses-table tbody .response-col_status").first.wait_for(timeout=TIMEOUT_MS)
            assert api_calls and api_calls[-1].get("authorization") == f"Bearer {token}"
            assert "200" in block.locator(".live-responses-table tbody .response-col_status").first.inner_text()

            page = browser.new_page()  # a new tab: asks again (the token is kept per tab)
            page.on("request", lambda r: None if r.url.startswith((base, "data:", "blob:")) else elsewhere.append(r.url))
            page.on("requestfailed", lambda r: failed.append(r.url))
            page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
            page.goto(f"{base}/redoc", timeout=TIMEOUT_MS)
            page.fill("#token", "smt_0123456789abcdef_" + "A" * 43)
            page.click("button[type=submit]")
            page.locator("#token-message", has_text="401").wait_for(timeout=TIMEOUT_MS)  # said, and asked again
            page.fill("#token", token)
            page.click("button[type=submit]")
            page.locator("h2", has_text="Post prediction records").first.wait_for(timeout=TIMEOUT_MS)  # rendered
            assert page.locator("h2", has_text="Run an analysis").count() == 1
            # ReDoc's footer asks for its logo from its CDN: the pages' policy refuses it, so nothing leaves
            # the server's origin (and ReDoc drops the image); nothing else is asked from anywhere
            assert set(elsewhere) <= {"https://cdn.redoc.ly/redoc/logo-mini.svg"}, elsewhere
            assert set(elsewhere) <= set(failed)
            assert all("cdn.redoc.ly" in message for message in refused), refused
        finally:
            browser.close()
