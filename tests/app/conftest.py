"""Browser-test fixtures: the dashboard served by ``roma serve`` as a real subprocess on
127.0.0.1, and headless Debian chromium driven by Playwright's sync API."""
from __future__ import annotations

import contextlib
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


def stop(proc: subprocess.Popen, timeout: float = 15) -> None:
    """Terminate a server (killed when it does not stop within ``timeout`` s)."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def served(log: Path, *args: str, workspace: Path | None = None, env: dict | None = None, cwd: Path = ROOT,
           ready: str = "/main", own_group: bool = False):
    """``roma serve`` (with ``args``) on a free port of 127.0.0.1 while the block runs.

    Waits until the path ``ready`` answers (the page: ``--warm`` has built it once; a static
    file: the server is up); the server's output goes to ``log``. ``own_group`` starts it in a
    process group of its own (``os.killpg`` then reaches it and its children). Yields
    ``.url`` (the Explorer page), ``.port``, ``.log``, ``.proc``, ``.workspace``; the server is
    stopped at the end (if still running)."""
    port = _free_port()
    cmd = [sys.executable, "-m", "roma_core.cli", "serve", "--address", "127.0.0.1", "--port", str(port)]
    if workspace is not None:
        cmd += ["--workspace", str(workspace)]
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd + list(args), cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=own_group)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SERVER_START_S
    try:
        while not _answers(base + ready):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"roma serve did not answer on {base + ready} (exit code {proc.poll()}); its log:\n"
                            + log.read_text()[-3000:])
            time.sleep(0.5)
        yield SimpleNamespace(url=base + "/main", port=port, log=log, proc=proc, workspace=workspace)
    finally:
        stop(proc)


def chromium(_browser):
    """The session's chromium (``_browser``'s), launched on first use; fails (not skips) when
    Debian chromium is missing."""
    if _browser.browser is None:
        exe = shutil.which("chromium")
        if exe is None:
            pytest.fail("Debian chromium is not on PATH; run `make test`, which installs it "
                        "(apt-get install chromium) before running the browser tests")
        from playwright.sync_api import sync_playwright

        _browser.pw = sync_playwright().start()
        _browser.browser = _browser.pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
    return _browser.browser


def new_page(_browser, url: str | None = None, width: int = 1400, height: int = 950):
    """A page in a fresh browser context (loading ``url`` when given); console and page errors
    collect in ``page.roma_errors``. Close it with ``page.context.close()``."""
    page = chromium(_browser).new_context(viewport={"width": width, "height": height}).new_page()
    page.roma_errors = []
    page.on("console", lambda m: page.roma_errors.append(f"console {m.type}: {m.text}")
            if m.type == "error" else None)
    page.on("pageerror", lambda e: page.roma_errors.append(f"page error: {e}"))
    if url is not None:
        page.goto(url)
    return page


@pytest.fixture(scope="session")
def app_server(tmp_path_factory):
    """``roma serve`` on a free port of 127.0.0.1 with a temporary workspace (never the
    user's own data folder) and two job workers (two sessions' jobs side by side, whatever
    the cores); yields ``.url`` (the Explorer page), ``.log`` and ``.workspace``."""
    with served(tmp_path_factory.mktemp("server") / "serve.log", "--workers", "2",
                workspace=tmp_path_factory.mktemp("workspace")) as server:
        yield server


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
    pages = []

    def open_(path: str = "", width: int = 1400, height: int = 950):
        pages.append(new_page(_browser, app_server.url + path, width, height))
        return pages[-1]

    yield open_
    for page in pages:
        page.context.close()
