"""The Forecast view in a real browser: it loads the shipped run's forecast without a click,
the maps follow the horizon step, and a node picked by id or by a tap updates the series."""
from __future__ import annotations

import io
import re
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Error as PlaywrightError
from browser_util import diff, publish, steady, wait_for

ASSETS = Path(__file__).resolve().parents[2] / "assets"

ROOT = Path(__file__).resolve().parents[2]
MAPS = ".roma-forecast-maps"
SERIES = ".roma-forecast-series"
ERRORS = ".roma-forecast-errors"


def shot(page, css, path=None) -> np.ndarray:
    for attempt in range(5):   # a plot replaced by a newer one while it was being captured: take the new one
        try:
            png = page.locator(css).first.screenshot(path=path)
            break
        except PlaywrightError as exc:
            if "not attached" not in str(exc) or attempt == 4:
                raise
            time.sleep(0.5)
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(np.int16)


def coloured(img: np.ndarray) -> np.ndarray:
    return (img.max(axis=2) - img.min(axis=2)) > 60


def settled(page, css, timeout=90.0, min_coloured=0.02) -> np.ndarray:
    """The element's screenshot once it shows coloured pixels and stays unchanged for a second."""
    return steady(lambda: shot(page, css), lambda im: coloured(im).mean() > min_coloured, timeout, css)


def text_when(page, page_text, css, pattern, timeout=60.0):
    return wait_for(lambda: (lambda t: t if re.search(pattern, t) else None)(page_text(page, css)),
                    timeout=timeout, what=f"{css} to show {pattern!r}")


@pytest.mark.timeout(300)
@pytest.mark.skipif(not (ASSETS / "roma_kuramoto_2k").exists(), reason="the shipped run is not built")
def test_forecast_numbers_against_the_raw_trajectory():
    """The view's persistence curve, node series and attention against numpy on the raw
    phases read straight from the zarr store (not through roma_core's windows/metrics)."""
    import xarray as xr

    from app.views.attention import AttentionView
    from app.views.forecast import ForecastView, run_forecast

    r = run_forecast(ASSETS / "roma_kuramoto_2k", ASSETS / "kuramoto_2k.zarr", "test")
    raw = xr.open_zarr(ASSETS / "kuramoto_2k.zarr", consolidated=False)["state"].transpose("time", "node").values
    k, tau = r.lookback, r.horizon
    feats = np.stack([np.sin(raw), np.cos(raw)], -1)
    per_step = np.zeros(tau)
    for s in r.starts:
        last, true = feats[s + k - 1], feats[s + k:s + k + tau]
        per_step += [np.linalg.norm(last - true[j]) / np.linalg.norm(true[j]) for j in range(tau)]
    np.testing.assert_allclose(r.curves["persistence"], per_step / len(r.starts), rtol=1e-4)
    assert np.all(np.diff(r.curves["persistence"]) > 0)  # drifting phases: error grows with the horizon
    assert r.curves["roma"][-1] < r.curves["persistence"][-1]  # the shipped run beats persistence
    # the target the maps show is the raw phase at the window's horizon step
    w, step, node = 3, 5, 17
    np.testing.assert_allclose(r.state(r.target[w, node, step - 1]),
                               np.angle(np.exp(1j * raw[r.starts[w] + k + step - 1, node])), atol=1e-5)
    th, hist, tf, truth, pred = r.series(w, node)
    np.testing.assert_allclose(np.exp(1j * hist), np.exp(1j * raw[r.starts[w]:r.starts[w] + k, node]), atol=1e-5)
    assert np.all(np.abs(np.diff(np.r_[hist, truth])) < np.pi)  # unwrapped: no 2π jumps
    assert th[-1] < tf[0] and len(tf) == tau

    view = ForecastView(run=str(ASSETS / "roma_kuramoto_2k"), trajectory=str(ASSETS / "kuramoto_2k.zarr"))
    assert view.result is r and "rel. L2" in view.status  # shared cache: shown at once
    view.node, view.step = node, step
    assert f"node {node}" in view.info

    att = AttentionView(run=str(ASSETS / "roma_kuramoto_2k"), trajectory=str(ASSETS / "kuramoto_2k.zarr"))
    att.node = node
    a = att.weights()
    np.testing.assert_allclose(a.sum(-1), 1.0, atol=1e-5)  # softmax over scales, per head
    np.testing.assert_allclose(a, r.attention[:, node].mean(0), atol=1e-6)
    att.region = "-1.1, -1.1, 0, 0"  # the lower-left quadrant of the disk
    x, y = att._data.nodes["x"].to_numpy(), att._data.nodes["y"].to_numpy()
    inside = np.flatnonzero((x <= 0) & (y <= 0))
    np.testing.assert_allclose(att.weights(), r.attention[:, inside].mean((0, 1)), atol=1e-5)
    assert f"region of {len(inside)} nodes" in att.selection


@pytest.mark.timeout(300)
@pytest.mark.skipif(not (ASSETS / "roma_kuramoto_2k").exists(), reason="the shipped run is not built")
def test_the_first_window_is_shown_before_the_others(tmp_path):
    """The view's job hands over the first window's forecast alone (saying how many follow),
    then the whole; the first look is the whole's first window, and the view shows both."""
    import shutil

    from app.views.forecast import ForecastView, run_forecast

    traj = tmp_path / "copy.zarr"            # not in the shared cache yet
    shutil.copytree(ASSETS / "kuramoto_2k.zarr", traj)
    firsts = []
    whole = run_forecast(ASSETS / "roma_kuramoto_2k", traj, "test", partial=firsts.append)
    (first,) = firsts
    assert len(whole.starts) > 1 and first.pending == len(whole.starts) - 1 and whole.pending == 0
    assert list(first.starts) == [whole.starts[0]]
    np.testing.assert_allclose(first.values[0], whole.values[0], atol=1e-6)
    np.testing.assert_allclose(first.attention[0], whole.attention[0], atol=1e-6)
    view = ForecastView(run=str(ASSETS / "roma_kuramoto_2k"), trajectory=str(traj))
    view._show((first, dict(first.curves), []))
    assert f"(the other {first.pending} are being computed)" in view.status
    assert view.param.window.bounds == (0, 0)
    view._show((whole, dict(whole.curves), []))
    assert "being computed" not in view.status and view.param.window.bounds == (0, len(whole.starts) - 1)


@pytest.mark.browser
@pytest.mark.timeout(300)
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
    publish(tmp_path / "forecast_picked.png", "forecast_view.png")

    # a wheel zoom on the truth map re-renders all three linked maps, zoomed in
    kinds = ("prediction", "truth", "error")
    before = {k: settled(page, f".roma-forecast-{k}") for k in kinds}
    rect = page.locator(".roma-forecast-truth").first.bounding_box()
    page.mouse.move(rect["x"] + rect["width"] * 0.2, rect["y"] + rect["height"] * 0.55)  # near the left rim
    for _ in range(2):
        page.mouse.wheel(0, -200)
        time.sleep(0.2)
    for k in kinds:
        wait_for(lambda k=k: diff(shot(page, f".roma-forecast-{k}"), before[k]) > 2.0, timeout=30,
                 what=f"the {k} map to follow the zoom")
    page.mouse.move(5, 5)
    settled(page, MAPS)
    page.screenshot(path=tmp_path / "forecast_zoomed.png")
    assert page.roma_errors == [], page.roma_errors


@pytest.mark.timeout(300)
@pytest.mark.skipif(not (ASSETS / "roma_kuramoto_2k").exists(), reason="the shipped run is not built")
def test_baseline_curves_from_given_runs(tmp_path):
    """A baseline run given in the widget adds its error curve (on the same windows); a
    path without a checkpoint is reported in the status, the rest still shows."""
    import subprocess
    import sys

    from app.views.forecast import ForecastView

    out = tmp_path / "deeponet"
    subprocess.run([sys.executable, "-m", "roma_core.cli", "train", "--data", str(ASSETS / "kuramoto_2k.zarr"),
                    "--model", "deeponet", "--lookback", "16", "--horizon", "8", "--hidden", "16", "--steps", "3",
                    "--roots", "64", "--walk-length", "4", "--checkpoint-every", "3", "--eval-every", "0",
                    "--device", "cpu", "--out", str(out)], check=True, capture_output=True, cwd=ROOT)
    view = ForecastView(run=str(ASSETS / "roma_kuramoto_2k"), trajectory=str(ASSETS / "kuramoto_2k.zarr"),
                        baselines=f"{out}, {tmp_path / 'nowhere'}")
    view.job.wait(240)
    assert view.result is not None, view.job.status
    labels = list(view.curves)
    assert labels[:2] == ["roma", "persistence"] and labels[2] == "deeponet (deeponet)"
    curve = view.curves["deeponet (deeponet)"]
    assert curve.shape == (8,) and np.all(np.isfinite(curve)) and np.all(curve > 0)
    # an untrained-for-3-steps baseline is far worse than the shipped run
    assert curve.mean() > view.curves["roma"].mean()
    assert "nowhere" in view.status and "no checkpoint" in view.status
