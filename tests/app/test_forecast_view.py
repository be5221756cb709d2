"""The Forecast view in a real browser: it loads the shipped run's forecast without a click,
the maps follow the horizon step, and a node picked by id or by a tap updates the series."""
from __future__ import annotations

import io
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
MAPS = ".roma-forecast-maps"
SERIES = ".roma-forecast-series"
ERRORS = ".roma-forecast-errors"


def shot(page, css, path=None) -> np.ndarray:
    png = page.locator(css).first.screenshot(path=path)
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(np.int16)


def coloured(img: np.ndarray) -> np.ndarray:
    return (img.max(axis=2) - img.min(axis=2)) > 60


def wait_for(predicate, timeout=60.0, every=0.5, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def settled(page, css, timeout=90.0, min_coloured=0.02) -> np.ndarray:
    """The element's screenshot once it shows coloured pixels and stays unchanged for a second."""
    last = wait_for(lambda: (lambda im: im if coloured(im).mean() > min_coloured else None)(shot(page, css)),
                    timeout=timeout, what=f"{css} to be drawn")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(1.0)
        img = shot(page, css)
        if img.shape == last.shape and np.array_equal(img, last):
            return img
        last = img
    raise AssertionError(f"{css} kept changing")


def diff(a: np.ndarray, b: np.ndarray) -> float:
    h, w = min(a.shape[0], b.shape[0]), min(a.shape[1], b.shape[1])
    return float(np.abs(a[:h, :w] - b[:h, :w]).mean())


def text_when(page, page_text, css, pattern, timeout=60.0):
    return wait_for(lambda: (lambda t: t if re.search(pattern, t) else None)(page_text(page, css)),
                    timeout=timeout, what=f"{css} to show {pattern!r}")


def test_forecast_view_loads_steps_and_picks(open_page, page_text, tmp_path):
    page = open_page()
    page.locator(".bk-tab", has_text="Forecast").first.click()
    # the shipped run's forecast appears without any click: status with its error numbers
    status = text_when(page, page_text, ".roma-forecast-status", r"rel\. L2 at step 1", timeout=200)
    assert "roma" in status and "2,000 nodes" in status
    step1 = settled(page, MAPS)
    page.screenshot(path=tmp_path / "forecast_step1.png")
    info = text_when(page, page_text, ".roma-forecast-node", r"node \d+")
    t1 = float(re.search(r"t = ([\d.]+)", info).group(1))
    # ROMA's and persistence's error curves are drawn
    errors_img = settled(page, ERRORS, min_coloured=0.002)
    assert coloured(errors_img).mean() > 0.002

    # the last horizon step: later time in the node's numbers, other colours on the maps
    handle = page.locator(".roma-forecast-step .noUi-handle").first
    handle.focus()
    handle.press("End")
    info8 = text_when(page, page_text, ".roma-forecast-node", r"t = (?!%s\b)" % re.escape(f"{t1:g}"), timeout=30)
    assert float(re.search(r"t = ([\d.]+)", info8).group(1)) > t1
    wait_for(lambda: diff(shot(page, MAPS), step1) > 1.0, timeout=30, what="the maps to change with the step")
    last = settled(page, MAPS)
    assert diff(last, step1) > 1.0
    page.screenshot(path=tmp_path / "forecast_step8.png")

    # pick node 7 with the node-id widget: the numbers and the series follow
    series_before = settled(page, SERIES, min_coloured=0.002)
    box = page.locator(".roma-forecast-node-input input").first
    box.fill("7")
    box.press("Enter")
    text_when(page, page_text, ".roma-forecast-node", r"node 7\b", timeout=30)
    wait_for(lambda: diff(shot(page, SERIES), series_before) > 0.5, timeout=30, what="the series of node 7")
    series7 = settled(page, SERIES, min_coloured=0.002)

    # tap a node on the truth map (its leftmost node, away from the picked hub): another node
    img = shot(page, ".roma-forecast-truth")
    h, w = img.shape[:2]
    mask = coloured(img)
    mask[:, int(w * 0.7):] = False  # the colour bar
    mask[: h // 8] = False  # title and toolbar
    ys, xs = np.nonzero(mask)
    left = np.argmin(xs)
    rect = page.locator(".roma-forecast-truth").first.bounding_box()
    page.mouse.click(rect["x"] + float(xs[left]) + 1, rect["y"] + float(ys[left]))
    picked = text_when(page, page_text, ".roma-forecast-node", r"node (?!7\b)\d+", timeout=30)
    node = int(re.search(r"node (\d+)", picked).group(1))
    assert node != 7
    wait_for(lambda: diff(shot(page, SERIES), series7) > 0.5, timeout=30, what="the series of the tapped node")
    page.mouse.move(5, 5)  # no hover tooltip in the screenshot
    time.sleep(1)
    page.screenshot(path=tmp_path / "forecast_picked.png")
    (ROOT / "docs" / "img").mkdir(parents=True, exist_ok=True)
    shutil.copy(tmp_path / "forecast_picked.png", ROOT / "docs" / "img" / "forecast_view.png")
    assert page.roma_errors == [], page.roma_errors
