"""The Training & scaling view: incremental metrics log, scaling files and band (no
browser), then in a real browser: the shipped run's curves at load, a tiny live training
run that becomes the session's run, cancel, and a scaling result's fitted exponent."""
from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from app.views.training import MetricsLog, TrainingView, load_scaling, power_law_band
from roma_core.eval.scaling import fit_power_law, save_scaling
from browser_util import open_tab, pixels, publish, set_number, wait_for

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "assets" / "roma_kuramoto_2k"
LOSS, SCALING = ".roma-train-loss", ".roma-train-scaling"
COUNT_JS = """name => { let plot = null;  // the newest loss plot of that run (old plot models may linger)
  for (const doc of Bokeh.documents) for (const m of doc.all_models)
    if (m.title && m.title.text && m.title.text.startsWith('training curves: ' + name) && m.renderers) plot = m;
  const out = {}; if (plot === null) return out;
  for (const r of plot.renderers) { const d = r.data_source && r.data_source.data; if (!d || !d.step) continue;
    for (const c of Object.keys(d)) if (c !== 'step') out[c] = Math.max(out[c] || 0, d.step.length); }
  return out; }"""


def scaling_result(out: Path, params, losses) -> dict:
    points = [{"hidden": 8 * (i + 1), "params": int(p), "test_rel_l2": float(l), "train_seconds": 1.0,
               "steps": 10, "run": str(out / f"h{i}")} for i, (p, l) in enumerate(zip(params, losses))]
    result = {"roma_kind": "scaling", "model": "roma", "model_spec": {}, "train_spec": {}, "points": points,
              "fit": fit_power_law(params, losses)}
    save_scaling(result, out)
    return result


# ---------------------------------------------------------------- without a browser
def test_metrics_log_reads_only_appended_complete_lines(tmp_path):
    path = tmp_path / "metrics.jsonl"
    log = MetricsLog(path)
    assert log.poll()[2] is False and log.lines == 0  # not there yet
    rec = lambda s, l: json.dumps({"split": "train", "step": s, "loss": l, "forecast": l, "effective": 0.0,
                                   "aux": 0.01, "time": 0.5 * s})
    path.write_text(rec(1, 0.5) + "\n" + rec(2, 0.4)[:20])  # the second line is still being written
    new_t, _, _ = log.poll()
    assert new_t["step"] == [1] and log.lines == 1
    with open(path, "a") as f:
        f.write(rec(2, 0.4)[20:] + "\n" + json.dumps({"split": "val", "step": 2, "rel_l2": 0.3, "time": 1.1}) + "\n")
    new_t, new_v, restarted = log.poll()
    assert new_t["step"] == [2] and new_t["loss"] == [0.4] and new_v["rel_l2"] == [0.3] and not restarted
    assert log.present() == ["loss", "forecast", "aux", "rel_l2"]  # effective never > 0: not drawn
    assert log.rates()[1] == pytest.approx(2 / 1.0)  # step 2 at 1.0 s
    path.unlink()
    path.write_text(rec(1, 0.9) + "\n")  # a new run replaced the log
    new_t, _, restarted = log.poll()
    assert restarted and log.lines == 1 and log.train["loss"] == [0.9]


def test_scaling_file_and_band_against_exact_power_law(tmp_path):
    params = np.array([1e3, 3e3, 1e4, 3e4, 1e5])
    exact = 2.0 * params ** -0.3
    scaling_result(tmp_path / "exact", params, exact)
    for name in ("scaling.json", "scaling.nc"):
        s = load_scaling(tmp_path / "exact" / name)
        fit = s.fit()
        assert fit["alpha"] == pytest.approx(0.3, abs=1e-9) and fit["prefactor"] == pytest.approx(2.0, rel=1e-9)
        np.testing.assert_allclose(s.params, params)
    grid = np.geomspace(500, 2e5, 7)
    lo, hi = power_law_band(params, exact, grid)
    np.testing.assert_allclose(lo, 2.0 * grid ** -0.3, rtol=1e-9)  # no scatter: the band is the line
    np.testing.assert_allclose(hi, lo, rtol=1e-9)
    noisy = exact * np.exp(np.random.default_rng(1).normal(0, 0.1, len(params)))
    lo, hi = power_law_band(params, noisy, grid)
    fit = fit_power_law(params, noisy)
    line = fit["prefactor"] * grid ** -fit["alpha"]
    assert np.all(lo < line) and np.all(line < hi)
    assert np.all(np.diff(np.log(hi / lo))[:3] < 0)  # narrowest near the points' centre, wider outside


def test_view_follows_shipped_run_and_trains_into_session(tmp_path):
    v = TrainingView(run=SHIPPED, trajectory=ROOT / "assets" / "kuramoto_2k.zarr")
    lines = sum(1 for ln in (SHIPPED / "metrics.jsonl").read_text().splitlines() if ln.strip())
    assert v._log.lines == lines and len(v._curves.buffers["loss"].data) == v._log.train_steps
    v.train_spec.param.update(steps=6, eval_every=3)
    v.model_spec.hidden = 8
    assert v.train(wait=True)
    run = Path(v.session.run)
    assert run.parent == v._tmpdir and (run / "checkpoint.json").exists()
    assert v._log.train_steps == 6 and v._log.val_points == 2
    assert "6 / 6" in v.run_text and "session's run" in v.run_text
    v.cleanup()
    assert not run.exists()


# ---------------------------------------------------------------- in the browser
def open_training(open_page):
    return open_tab(open_page(), "Training", LOSS)


def counts(page, run="roma_kuramoto_2k") -> dict:
    """Points per column in the loss plot of ``run``, read from its Bokeh data sources."""
    return page.evaluate(COUNT_JS, run)


@pytest.mark.browser
@pytest.mark.timeout(150)
def test_opens_on_shipped_curves(open_page, page_text, tmp_path):
    page = open_training(open_page)
    records = [json.loads(ln) for ln in (SHIPPED / "metrics.jsonl").read_text().splitlines() if ln.strip()]
    n_train = sum(r["split"] == "train" for r in records)
    shown = wait_for(lambda: (lambda c: c if c.get("loss") else None)(counts(page)), timeout=60, what="curves")
    assert shown["loss"] + shown["rel_l2"] == len(records)  # every line of metrics.jsonl is a point
    assert shown["loss"] == shown["loss_smooth"] == n_train and "effective_smooth" not in shown
    text = page_text(page, ".roma-train-stats")
    assert f"{len(records):,} log records" in text and "roma_kuramoto_2k" in text and "steps/s" in text
    assert "elapsed" in text
    page.screenshot(path=tmp_path / "training_view.png")
    publish(tmp_path / "training_view.png", "training_view.png")
    assert page.roma_errors == [], page.roma_errors


@pytest.mark.browser
@pytest.mark.timeout(240)
def test_tiny_run_live_then_session_run_and_cancel(open_page, page_text, tmp_path):
    page = open_training(open_page)
    wait_for(lambda: counts(page).get("loss") == 600, timeout=60, what="the shipped curves")
    set_number(page, "Steps", 40)
    set_number(page, "Eval every", 10)
    page.get_by_role("button", name="Train", exact=True).click()
    wait_for(lambda: page.locator(".roma-train-progress").first.is_visible(), timeout=120, what="progress")
    page.screenshot(path=tmp_path / "training.png")
    seen = set()

    def finished():
        seen.add(counts(page, "roma_001").get("loss", 0))
        return "done" in page_text(page, ".roma-train-job")
    wait_for(finished, timeout=150, every=0.25, what="the run to finish")
    assert any(0 < n < 40 for n in seen), f"no partial curve seen while training: {sorted(seen)}"
    text = wait_for(lambda: (lambda t: t if "40 / 40" in t and "session's run" in t else None)(
        page_text(page, ".roma-train-stats")), timeout=30, what="the finished run as the session's run")
    run = Path(re.search(r"folder: (\S+)", text).group(1))
    assert run.name == "roma_001" and (run / "checkpoint.json").exists()
    lines = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines() if ln.strip()]
    c = wait_for(lambda: (lambda c: c if c.get("loss") == 40 else None)(counts(page, "roma_001")), timeout=10,
                 what="all 40 steps drawn")
    assert c["loss"] == 40 and c["loss"] + c["rel_l2"] == len(lines) == 44
    page.screenshot(path=tmp_path / "trained.png")

    # a long run, cancelled: its partial curves stay, the session's run stays the finished one
    set_number(page, "Steps", 100000)
    page.get_by_role("button", name="Train", exact=True).click()
    wait_for(lambda: page.locator(".roma-train-progress").first.is_visible(), timeout=120, what="progress")
    wait_for(lambda: counts(page, "roma_002").get("loss", 0) > 0, timeout=90, what="the first live steps")
    page.get_by_role("button", name="Cancel", exact=True).click()
    wait_for(lambda: "cancelled" in page_text(page, ".roma-train-job"), timeout=60, what="the cancellation")
    text = page_text(page, ".roma-train-stats")
    assert "roma_002" in text and "session's run" not in text
    assert page.roma_errors == [], page.roma_errors
    # the server outlives this page: its session's temporary runs would only go when the session expires
    page.close()
    shutil.rmtree(run.parent, ignore_errors=True)


@pytest.mark.browser
@pytest.mark.timeout(150)
def test_scaling_plot_shows_fitted_exponent(open_page, page_text, tmp_path, app_server):
    params = np.array([4135, 6059, 11347, 18555, 27683, 52000])
    losses = 0.5 * params ** -0.17 * np.exp(np.random.default_rng(3).normal(0, 0.03, len(params)))
    scaling_result(app_server.workspace / "ladder", params, losses)  # the browser reaches the workspace only
    expected = fit_power_law(params, losses)
    page = open_training(open_page)
    before = pixels(page, SCALING)
    page.locator(".roma-pick-scaling_path select").first.select_option(label="ladder/scaling.json")
    page.get_by_role("button", name="Open", exact=True).nth(1).click()
    text = wait_for(lambda: (lambda t: t if "ladder" in t and "α =" in t else None)(
        page_text(page, ".roma-train-alpha")), timeout=30, what="the fitted exponent")
    alpha = float(re.search(r"α = (-?[0-9.]+)", text).group(1))
    lo, hi = (float(x) for x in re.search(r"CI \[(-?[0-9.]+), (-?[0-9.]+)\]", text).groups())
    assert alpha == pytest.approx(expected["alpha"], abs=1e-4)
    assert (lo, hi) == pytest.approx(tuple(expected["alpha_ci"]), abs=1e-4)
    time.sleep(1.5)
    after = pixels(page, SCALING)
    h, w = min(before.shape[0], after.shape[0]), min(before.shape[1], after.shape[1])
    assert np.abs(before[:h, :w] - after[:h, :w]).mean() > 1, "the scaling plot did not change"
    page.locator(SCALING).first.screenshot(path=tmp_path / "scaling.png")
    assert page.roma_errors == [], page.roma_errors
