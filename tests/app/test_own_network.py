"""Bring your own network: a 100,000-node graph without coordinates, imported from an edge
list with ``roma graph load`` and served with ``ROMA_APP_GRAPH``, is embedded in the
background (the page says so meanwhile), then drawn in the disk; the other tabs work."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import networkx as nx
import pytest
from browser_util import wait_for
from conftest import chromium, served
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
    env = {**os.environ, "ROMA_APP_GRAPH": str(graph)}
    with served(folder / "serve.log", "--no-warm", workspace=folder, env=env, ready="/static/js/bokeh.min.js") as server:
        yield server


def test_graph_without_coordinates_is_embedded_then_drawn(own_server, _browser, page_text, tmp_path):
    ctx = chromium(_browser).new_context(viewport={"width": 1400, "height": 950})
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
