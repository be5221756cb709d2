"""Bring your own network: a 100,000-node graph without coordinates, imported from an edge
list with ``roma graph load`` and served with ``ROMA_APP_GRAPH``, is embedded in the
background (the page says so meanwhile), then drawn in the disk; the other tabs work."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from types import SimpleNamespace

import networkx as nx
import pytest
from browser_util import wait_for
from conftest import CHROMIUM_ARGS, ROOT, SERVER_START_S, _answers, _free_port
from test_graph_view import PLOT, settled

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

NODES = 100_000


@pytest.fixture(scope="module")
def own_server(tmp_path_factory):
    """``roma serve`` on a Barabási–Albert graph (no coordinates) loaded from an edge list;
    ``--no-warm`` and probed on a static file (which builds no page), so the embedding
    starts when the browser first opens the page."""
    folder = tmp_path_factory.mktemp("own")
    edges, graph = folder / "ba.txt", folder / "ba.npz"
    nx.write_edgelist(nx.barabasi_albert_graph(NODES, 3, seed=0), edges, data=False)
    load = subprocess.run([sys.executable, "-m", "roma_core.cli", "graph", "load", str(edges), "--out", str(graph)],
                          capture_output=True, text=True, timeout=300)
    assert load.returncode == 0, load.stderr
    assert f"{NODES} nodes" in load.stdout
    port, log = _free_port(), folder / "serve.log"
    env = {**os.environ, "ROMA_APP_GRAPH": str(graph)}
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "roma_core.cli", "serve", "--address", "127.0.0.1", "--port",
                                 str(port), "--workspace", str(folder), "--no-warm"], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/main"
    deadline = time.monotonic() + SERVER_START_S
    try:
        while not _answers(f"http://127.0.0.1:{port}/static/js/bokeh.min.js"):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"roma serve did not answer (exit code {proc.poll()}):\n" + log.read_text()[-3000:])
            time.sleep(0.5)
        yield SimpleNamespace(url=url, log=log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_graph_without_coordinates_is_embedded_then_drawn(own_server, _browser, page_text, tmp_path):
    if _browser.browser is None:
        from playwright.sync_api import sync_playwright

        _browser.pw = sync_playwright().start()
        _browser.browser = _browser.pw.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
    ctx = _browser.browser.new_context(viewport={"width": 1400, "height": 950})
    try:
        page = ctx.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(own_server.url, timeout=300_000)  # no warm-up: the first page builds everything
        page.wait_for_selector(".roma-status", timeout=120_000)
        status = lambda: page_text(page, ".roma-status")
        first = wait_for(status, timeout=120, what="the status line")
        page.screenshot(path=tmp_path / "embedding.png")
        assert "no S1/H2 coordinates" in first and "100,000 nodes" in first, first  # the message in place
        wait_for(lambda: re.search(r"100,000 nodes · [\d,]+ edges .* disk", status()), timeout=480,
                 what="the embedded graph's summary")
        img = settled(page, timeout=120)
        page.screenshot(path=tmp_path / "embedded.png")
        assert img.std() > 20
        assert "could not be shown" not in page.content()
        assert "Traceback" not in own_server.log.read_text()
        assert not errors, errors
    finally:
        ctx.close()
