"""Fixtures of the UI tests (imported by the test modules): one seeded server (SQLite) per
module, Debian's Chromium driven by Playwright, and a page that fails its test on a script
error, a JavaScript dialog or a payload that ran. Screenshots go to test-output/ui-screenshots/ (gitignored)."""
from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect

from conftest import CI, ROOT, Server

CHROMIUM = "/usr/bin/chromium"
TIMEOUT_MS = 10_000  # of actions and of expect(): a busy machine may take seconds to draw a page
SCREENSHOTS = ROOT / "test-output" / "ui-screenshots"
# The browser's own report that the sandboxed HTML preview's script was not run.
EXPECTED_CONSOLE = ("Blocked script execution in 'about:srcdoc'",)


def expected(message) -> bool:
    return message.text.startswith(EXPECTED_CONSOLE)


expect.set_options(timeout=TIMEOUT_MS)
_shared: dict = {}  # one Playwright and one Chromium per test process, however many modules import the fixture


@pytest.fixture(scope="session")
def browser():
    """Chromium. Each test module that imports this fixture holds its own (session) instance of
    it, but they share one browser: Playwright's sync API runs one at a time in a process."""
    if not os.access(CHROMIUM, os.X_OK):
        message = f"{CHROMIUM} is missing (tests/servers/install-chromium.sh installs it)"
        if CI:
            pytest.fail(message)
        pytest.skip(message)
    if not _shared:
        from playwright.sync_api import sync_playwright
        playwright = sync_playwright().start()
        _shared.update(playwright=playwright, browser=playwright.chromium.launch(executable_path=CHROMIUM), users=0)
    _shared["users"] += 1
    try:
        yield _shared["browser"]
    finally:
        _shared["users"] -= 1
        if not _shared["users"]:
            _shared["browser"].close()
            _shared["playwright"].stop()
            _shared.clear()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """A server seeded by tests/ui/ui_seed.py through the official client: (server, Seeded)."""
    from ui_seed import seed
    tmp = tmp_path_factory.mktemp("ui")
    server = Server({"MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp / 'mlflow.db'}",
                     "MLFLOW_ARTIFACTS_DESTINATION": str(tmp / "artifacts")}, tmp)
    try:
        server.wait_ready()
        yield server, seed(server.url)
    finally:
        server.stop()


@contextlib.contextmanager
def watched_page(browser, **context_options):
    """A fresh browser page (context_options as browser.new_context takes them, such as
    http_credentials); at the end no page error, console error or dialog may have happened
    and no seeded payload may have set window.__xss. A test may allow console errors that
    contain given text: page.allowed_console = ("...",)."""
    context = browser.new_context(viewport={"width": 1280, "height": 860}, accept_downloads=True, **context_options)
    page = context.new_page()
    problems = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", lambda m: m.type == "error" and not expected(m)
            and not any(text in m.text for text in getattr(page, "allowed_console", ()))
            and problems.append(f"console error: {m.text}"))
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    page.set_default_timeout(TIMEOUT_MS)
    try:
        yield page
        if not page.is_closed() and page.url.startswith("http"):
            problems += [f"window.__xss = {page.evaluate('window.__xss')}"] if page.evaluate("window.__xss") else []
    finally:
        context.close()
    assert not problems, problems


@pytest.fixture
def page(browser):
    with watched_page(browser) as page:
        yield page


def shot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=path, full_page=True)
    return path


def wait_http(url: str, server: Server, timeout: float = 30) -> None:
    """Wait until url answers 200 (for servers whose /health is under a prefix)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.process.poll() is None, server.log()
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{url} did not answer within {timeout}s:\n{server.log()}")
