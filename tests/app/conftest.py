"""Browser-test fixtures: the dashboard served by ``roma serve`` as a real subprocess on
127.0.0.1, and headless Debian chromium driven by Playwright's sync API."""
from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SERVER_START_S = 300  # --warm runs the app once before the server answers; slow on a loaded machine


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status == 200
    except OSError:
        return False


@pytest.fixture(scope="session")
def app_server(tmp_path_factory):
    """``roma serve`` on a free port of 127.0.0.1 with a temporary workspace; yields ``.url``
    (the Explorer page), ``.log`` and ``.workspace``."""
    port = _free_port()
    log = tmp_path_factory.mktemp("server") / "serve.log"
    workspace = tmp_path_factory.mktemp("workspace")  # never the user's own data folder
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "roma_core.cli", "serve", "--address", "127.0.0.1",
                                 "--port", str(port), "--workspace", str(workspace),
                                 "--workers", "2"],  # two sessions' jobs side by side, whatever the cores
                                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/main"
    deadline = time.monotonic() + SERVER_START_S
    try:
        while not _answers(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"roma serve did not answer on {url} (exit code {proc.poll()}); its log:\n"
                            + log.read_text()[-3000:])
            time.sleep(0.5)
        yield SimpleNamespace(url=url, port=port, log=log, proc=proc, workspace=workspace)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


TEXT_JS = ("e => Array.from((e.shadowRoot || e).children)"
           ".filter(c => c.tagName !== 'STYLE' && c.tagName !== 'LINK').map(c => c.innerText).join('\\n')")


@pytest.fixture(scope="session")
def page_text():
    """``page_text(page, css)``: the visible text of a Panel pane (its content lives in a
    shadow root, which Playwright's inner_text does not read)."""
    def text(page, css: str) -> str:
        return page.locator(css).first.evaluate(TEXT_JS)
    return text


@pytest.fixture(scope="session")
def _browser():
    """One chromium for the session, started on first use (None until then)."""
    state = SimpleNamespace(pw=None, browser=None)
    yield state
    if state.browser is not None:
        state.browser.close()
    if state.pw is not None:
        state.pw.stop()


@pytest.fixture
def open_page(_browser, app_server):
    """``open_page(path="")`` loads the served app in a fresh browser context and returns the
    Playwright page; console errors and page errors collect in ``page.roma_errors``. Fails
    (not skips) when Debian chromium is missing."""
    contexts = []

    def open_(path: str = "", width: int = 1400, height: int = 950):
        chromium = shutil.which("chromium")
        if chromium is None:
            pytest.fail("Debian chromium is not on PATH; run `make test`, which installs it "
                        "(apt-get install chromium) before running the browser tests")
        if _browser.browser is None:
            from playwright.sync_api import sync_playwright

            _browser.pw = sync_playwright().start()
            _browser.browser = _browser.pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        ctx = _browser.browser.new_context(viewport={"width": width, "height": height})
        contexts.append(ctx)
        page = ctx.new_page()
        page.roma_errors = []
        page.on("console", lambda m: page.roma_errors.append(f"console {m.type}: {m.text}")
                if m.type == "error" else None)
        page.on("pageerror", lambda e: page.roma_errors.append(f"page error: {e}"))
        page.goto(app_server.url + path)
        return page

    yield open_
    for ctx in contexts:
        ctx.close()
