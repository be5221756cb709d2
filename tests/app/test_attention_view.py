"""The Attention view in a real browser: it shows the shipped run's attention without a
click; a node picked by id or by a tap, and a box dragged on the graph (or typed as a
region), update the heads × scales heatmap and the shown selection."""
from __future__ import annotations

import re

import numpy as np
import pytest

from browser_util import publish
from test_forecast_view import coloured, diff, settled, shot, text_when, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

HEATMAP = ".roma-attention-heatmap"
GRAPH = ".roma-attention-graph"
SELECTION = ".roma-attention-selection"


def test_attention_view_node_tap_and_box(open_page, page_text, tmp_path):
    page = open_page()
    page.locator(".bk-tab", has_text="Attention").first.click()
    status = text_when(page, page_text, ".roma-attention-status", r"heads × \d+ scales", timeout=200)
    assert "dominant scale per node" in status
    assert re.search(r"attention on levels ≥ 1: \d+%", status)
    text_when(page, page_text, SELECTION, r"node \d+")
    heat0 = settled(page, HEATMAP, min_coloured=0.02)
    graph0 = settled(page, GRAPH)
    page.screenshot(path=tmp_path / "attention_start.png")

    # node 7 by the node-id widget
    box = page.locator(".roma-attention-node-input input").first
    box.fill("7")
    box.press("Enter")
    text_when(page, page_text, SELECTION, r"node 7\b", timeout=30)
    wait_for(lambda: diff(shot(page, HEATMAP), heat0) > 0.5, timeout=30, what="the heatmap of node 7")
    heat7 = settled(page, HEATMAP, min_coloured=0.02)
    wait_for(lambda: diff(shot(page, GRAPH), graph0) > 0.3, timeout=30, what="node 7's supernodes on the graph")

    # tap a node far from the highlighted supernodes: a new node is selected
    img = settled(page, GRAPH)
    h, w = img.shape[:2]
    grey = (np.abs(img - 217).max(axis=2) < 12)  # nodes drawn in light grey (not attended)
    grey[: h // 8] = False
    grey[:, int(w * 0.62):] = False  # keep off the colour bar
    ys, xs = np.nonzero(grey)
    lit = np.argwhere(coloured(img)[:, : int(w * 0.62)])
    d = np.min(np.hypot(ys[:, None] - lit[None, :, 0], xs[:, None] - lit[None, :, 1]), axis=1) if len(lit) else ys
    far = int(np.argmax(d))
    rect = page.locator(GRAPH).first.bounding_box()
    page.mouse.click(rect["x"] + float(xs[far]), rect["y"] + float(ys[far]))
    picked = text_when(page, page_text, SELECTION, r"node (?!7\b)\d+", timeout=30)
    assert int(re.search(r"node (\d+)", picked).group(1)) != 7
    wait_for(lambda: diff(shot(page, HEATMAP), heat7) > 0.5, timeout=30, what="the heatmap of the tapped node")
    heat_tap = settled(page, HEATMAP, min_coloured=0.02)

    # drag a box (box_select is the active drag tool) over part of the disk: a region
    x0, y0 = rect["x"] + 0.25 * w, rect["y"] + 0.55 * h
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x0 + 0.1 * w, y0 + 0.1 * h, steps=5)
    page.mouse.move(x0 + 0.2 * w, y0 + 0.2 * h, steps=5)
    page.mouse.up()
    region = text_when(page, page_text, SELECTION, r"region of \d+ nodes", timeout=30)
    assert int(re.search(r"region of (\d+)", region).group(1)) > 1
    wait_for(lambda: diff(shot(page, HEATMAP), heat_tap) > 0.5, timeout=30, what="the heatmap of the region")
    heat_box = settled(page, HEATMAP, min_coloured=0.02)
    page.mouse.move(5, 5)  # no hover tooltip in the screenshot
    page.wait_for_timeout(1000)
    page.screenshot(path=tmp_path / "attention_box.png")

    # the same through the region widget: another box, another heatmap
    field = page.locator(".roma-attention-region-input input").first
    field.fill("-1, 0, 0, 1")
    field.press("Enter")
    region2 = text_when(page, page_text, SELECTION, r"region of \d+ nodes", timeout=30)
    wait_for(lambda: region2 != region or diff(shot(page, HEATMAP), heat_box) > 0.5, timeout=30,
             what="the typed region")
    wait_for(lambda: diff(shot(page, HEATMAP), heat_box) > 0.5, timeout=30, what="the heatmap of the typed region")
    page.screenshot(path=tmp_path / "attention_region.png")
    publish(tmp_path / "attention_box.png", "attention_view.png")
    assert page.roma_errors == [], page.roma_errors


def test_attention_view_shows_the_shipped_long_range_model(open_page, page_text):
    """The shipped long-range run and its trajectory, picked in the Attention view, load and
    report how much attention the model gives to the coarse levels."""
    page = open_page()
    page.locator(".bk-tab", has_text="Attention").first.click()
    text_when(page, page_text, ".roma-attention-status", r"heads × \d+ scales", timeout=200)
    page.locator(".roma-pick-run select:visible").first.select_option(label="assets/roma_kuramoto_lr_4k")
    page.locator(".roma-pick-trajectory select:visible").first.select_option(label="assets/kuramoto_lr_4k.zarr")
    page.locator("button:visible", has_text="Load").first.click()
    status = text_when(page, page_text, ".roma-attention-status", r"step 1,?000\).*levels ≥ 1: \d+%", timeout=200)
    share = int(re.search(r"levels ≥ 1: (\d+)%", status).group(1))
    assert 5 <= share <= 100
    settled(page, HEATMAP, min_coloured=0.02)
