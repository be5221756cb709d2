"""The Graph view in a real browser: it draws the disk, recolours, picks a node, generates."""
from __future__ import annotations

import io
import re
import time

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Error as PlaywrightError
from browser_util import diff, publish, steady, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.timeout(420)]  # includes the shared server start

PLOT = ".roma-graph-plot"


def plot_pixels(page, path=None) -> np.ndarray:
    """Screenshot of the graph plot as an RGB array (saved to ``path`` when given). Retried:
    the plot is replaced when the colouring changes, which can detach the element."""
    for attempt in range(10):
        try:
            png = page.locator(PLOT).first.screenshot(path=path, timeout=10_000)
            return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(np.int16)
        except PlaywrightError:
            if attempt == 9:
                raise
            time.sleep(0.5)


def coloured(img: np.ndarray) -> np.ndarray:
    """Mask of clearly coloured (not grey) pixels: the nodes, never the grey edges."""
    return (img.max(axis=2) - img.min(axis=2)) > 60


def settled(page, timeout=60.0) -> np.ndarray:
    """The plot once drawn (coloured node pixels) and unchanged over a second."""
    return steady(lambda: plot_pixels(page), lambda im: coloured(im).mean() > 0.01 and im.std() > 20,
                  timeout, "the graph")


def greens(img: np.ndarray) -> int:
    """How many clearly green pixels the image has."""
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    return int(((g > r + 40) & (g > b + 40)).sum())


def test_graph_view_draws_recolours_and_picks(open_page, page_text, app_server, tmp_path):
    page = open_page()
    page.wait_for_selector(f"{PLOT} canvas", timeout=90_000)
    before = settled(page, timeout=90)
    plot_pixels(page, tmp_path / "graph_degree.png")
    page.screenshot(path=tmp_path / "page_degree.png")
    assert re.search(r"[\d,]+ nodes · [\d,]+ edges", page_text(page, ".roma-status"))
    assert re.search(r"edges: (raster|fine) \([\d,]+ ", page_text(page, ".roma-lod"))
    # nodes are drawn in the disk: coloured pixels fill a ring, the corners stay empty
    mask = coloured(before)
    h, w = mask.shape
    assert not mask[: h // 10, : w // 10].any(), "nodes drawn outside the disk (top-left corner)"

    # colour by angle: a cyclic colormap
    page.locator("select").first.select_option("theta")
    # plasma (degree) has no green, the colour wheel (θ) has (the toolbar's logo has a little)
    base = greens(before)
    try:
        wait_for(lambda: greens(plot_pixels(page)) > base + 200, timeout=90,
                 what=f"green nodes after colouring by θ (before: {base} green pixels)")
    finally:
        page.screenshot(path=tmp_path / "page_theta.png")
    after = settled(page)
    plot_pixels(page, tmp_path / "graph_theta.png")
    assert diff(after, before) > 3

    # tap a node-coloured pixel near the disk's left rim: the node panel shows that node
    ys, xs = np.nonzero(coloured(after)[:, : w // 2])
    pick = np.argmin(xs)
    box = page.locator(PLOT).first.bounding_box()
    page.mouse.click(float(box["x"] + xs[pick] + 1), float(box["y"] + ys[pick]))
    info = wait_for(lambda: (lambda t: t if "degree" in t and "θ" in t else None)(
        page_text(page, ".roma-node")), timeout=20, what="the picked node's details")
    assert "node" in info and "κ" in info
    page.screenshot(path=tmp_path / "page_picked.png")
    publish(tmp_path / "page_picked.png", "graph_view.png")

    assert page.roma_errors == [], page.roma_errors
    # Bokeh validates every session's document and logs what it finds (W-1005 and the like)
    issues = re.findall(r"[WE]-\d{4} \(\w+\).*", app_server.log.read_text())
    assert issues == [], issues


def test_generate_from_widgets(open_page, page_text, tmp_path):
    page = open_page()
    before = settled(page, timeout=90)
    nodes = page.get_by_label("Nodes", exact=True).first
    nodes.fill("3000")
    nodes.press("Enter")
    page.get_by_role("button", name="Generate").click()
    wait_for(lambda: "3,000 nodes" in page_text(page, ".roma-status"), timeout=60,
             what="the generated 3,000-node graph")
    wait_for(lambda: diff(plot_pixels(page), before) > 1, timeout=30,
             what="the plot to show the new graph")
    plot_pixels(page, tmp_path / "graph_generated.png")
    assert page.roma_errors == [], page.roma_errors


# client (CSS pixel) position of data point (x, y) in the visible plot whose frame is 680 px
# wide: its canvas' place on the page + the frame's place in the canvas + the ranges Bokeh shows
TO_SCREEN_JS = """([x, y]) => {
  const found = [];
  const views = Bokeh.index.query(v => v.model != null && v.model.x_range != null && v.model.frame_width === 680);
  for (const v of views) {
    const box = v.canvas_view.el.getBoundingClientRect();
    const f = (v.frame_view || v.frame).bbox;
    const xr = v.model.x_range, yr = v.model.y_range;
    if (box.width === 0) continue;
    found.push([box.left + f.left + (x - xr.start) / (xr.end - xr.start) * f.width,
                box.top + f.top + (yr.end - y) / (yr.end - yr.start) * f.height]);
  }
  return found;
}"""


def test_hover_shows_the_node_under_the_cursor(open_page, page_text, tmp_path):
    """Moving the mouse onto a known node (its screen position from the plot's ranges) shows
    its id and degree in the hover panel; moving off every node clears it."""
    from app import data as appdata, render

    graph = appdata.default_session().graph
    x, y, _ = render.layout(graph)
    node = int(np.argmax(graph.degree))  # the largest hub: near the centre of the native disk
    page = open_page()
    page.wait_for_selector(f"{PLOT} canvas", timeout=90_000)
    settled(page, timeout=90)
    where = page.evaluate(TO_SCREEN_JS, [float(x[node]), float(y[node])])
    assert len(where) == 1, where
    sx, sy = where[0]
    page.mouse.move(sx - 30, sy - 30)
    page.mouse.move(sx, sy, steps=5)
    text = wait_for(lambda: (lambda t: t if re.search(r"node \d+", t) else None)(page_text(page, ".roma-hover")),
                    timeout=20, what="the hover panel to show a node")
    assert f"node {node} " in text + " " and f"degree {int(graph.degree[node])}" in text, text
    page.screenshot(path=tmp_path / "page_hover.png")
    page.mouse.move(*page.evaluate(TO_SCREEN_JS, [-1.01, 1.01])[0])  # a corner: no node within reach
    wait_for(lambda: "Point at a node" in page_text(page, ".roma-hover"), timeout=20,
             what="the hover panel to clear off the nodes")
    assert page.roma_errors == [], page.roma_errors
