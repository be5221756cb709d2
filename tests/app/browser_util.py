"""Helpers shared by the browser tests: polling for a condition, screenshots of an element
and comparing them, opening a tab, typing into a number field."""
from __future__ import annotations

import io
import os
import shutil
import time
from pathlib import Path

import numpy as np
from PIL import Image


def wait_for(predicate, timeout=60.0, every=0.3, what="condition"):
    """Poll ``predicate`` until it returns a true value (an image array counts as true; an
    empty string, list or 0 does not); return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if isinstance(value, np.ndarray) or value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def diff(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two RGB screenshots (over their common area)."""
    h, w = min(a.shape[0], b.shape[0]), min(a.shape[1], b.shape[1])
    return float(np.abs(a[:h, :w] - b[:h, :w]).mean())


def steady(grab, ready, timeout=60.0, what="the element") -> np.ndarray:
    """``grab()``'s image once ``ready(image)`` holds and it stays unchanged for a second
    (so late re-renders, e.g. for the plot's final size, are over)."""
    last = wait_for(lambda: (lambda im: im if ready(im) else None)(grab()), timeout=timeout,
                    what=f"{what} to be drawn")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(1.0)
        img = grab()
        if img.shape == last.shape and np.array_equal(img, last):
            return img
        last = img
    raise AssertionError(f"{what} kept changing")


def publish(png, name: str) -> None:
    """Copy a screenshot to docs/img/``name`` for the README, only when asked with
    ``ROMA_README_SCREENSHOTS=1`` (a test run never changes tracked files by default)."""
    if os.environ.get("ROMA_README_SCREENSHOTS") == "1":
        target = Path(__file__).resolve().parents[2] / "docs" / "img" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(png, target)


def pixels(page, css: str, path=None) -> np.ndarray:
    """The first element matching ``css`` as an RGB int16 image (also saved to ``path``)."""
    png = page.locator(css).first.screenshot(path=path)
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(np.int16)


def open_tab(page, name: str, ready_css: str):
    """Click the dashboard tab ``name`` and wait until ``ready_css`` has drawn a canvas."""
    page.wait_for_selector(".bk-tab", timeout=120_000)
    page.locator(".bk-tab", has_text=name).first.click()
    page.wait_for_selector(f"{ready_css} canvas", timeout=120_000)
    return page


def set_number(page, label: str, value) -> None:
    """Type ``value`` into the number field labelled ``label`` and confirm it."""
    box = page.get_by_label(label, exact=True).first
    box.fill(str(value))
    box.press("Enter")
