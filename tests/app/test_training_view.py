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

from app.views.forecast import MODEL_COLOURS
from app.views.training import MetricsLog, TrainingView, load_scaling, power_law_band
from app.views.training.scaling import log_ticks, scaling_plot
from roma_core.eval.scaling import fit_ladder, fit_power_law, save_scaling
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


def legacy_result(out: Path, params, losses) -> None:
    """A result in the old single-model layout (scaling.json and scaling.nc) that
    `roma scaling` wrote before ladders of several models."""
    import xarray as xr

    points = [{"hidden": 8 * (i + 1), "params": int(p), "test_rel_l2": float(l), "train_seconds": 1.0,
               "steps": 10, "run": str(out / f"h{i}")} for i, (p, l) in enumerate(zip(params, losses))]
    fit = fit_power_law(params, losses)
    out.mkdir(parents=True, exist_ok=True)
    (out / "scaling.json").write_text(json.dumps({"roma_kind": "scaling", "model": "roma", "model_spec": {},
                                                  "train_spec": {}, "points": points, "fit": fit}))
    xr.Dataset({k: ("point", np.array([q[k] for q in points], float)) for k in ("params", "test_rel_l2")},
               coords={"hidden": ("point", [q["hidden"] for q in points])},
               attrs={"roma_kind": "scaling", "model": "roma", "fit_alpha": fit["alpha"]}).to_netcdf(out / "scaling.nc")


def ladder_result(out: Path, laws: dict, floor: float = 0.0, noise: float = 0.0, seeds=(0, 1), windows: int = 4,
                  rng_seed: int = 0) -> dict:
    """A ladder's result (as `roma scaling` writes it) whose errors follow ``floor + a P^-alpha``
    per model of ``laws`` ({model: (a, alpha, params)}), times log-normal noise, on the test
    span and (twice as high above the floor) on a held-out graph."""
    rng = np.random.default_rng(rng_seed)
    runs = []
    for rung in range(len(next(iter(laws.values()))[2])):
        for m, (a, alpha, params) in laws.items():
            for s in seeds:
                law = a * params[rung] ** -alpha
                test = floor + law * np.exp(rng.normal(0, noise, windows))
                held = floor + 2 * law * np.exp(rng.normal(0, noise, windows))
                runs.append({"model": m, "rung": rung, "hidden": rung, "params": int(params[rung]), "seed": s,
                             "steps": 10, "train_seconds": 1.0, "test_rel_l2": float(test.mean()),
                             "test_per_window": test.tolist(), "heldout_rel_l2": float(held.mean()),
                             "heldout_per_window": held.tolist()})
    floors = {"test": floor, "heldout": floor}
    result = {"roma_kind": "scaling", "models": list(laws), "widths": [], "seeds": list(seeds), "model_spec": {},
              "train_spec": {}, "floors": floors, "runs": runs, "fits": fit_ladder(runs, floors, bootstrap=300)}
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


def test_old_single_model_files_load_and_band_against_exact_power_law(tmp_path):
    params = np.array([1e3, 3e3, 1e4, 3e4, 1e5])
    exact = 2.0 * params ** -0.3
    legacy_result(tmp_path / "exact", params, exact)
    for name in ("scaling.json", "scaling.nc"):
        s = load_scaling(tmp_path / "exact" / name)
        assert s.legacy and s.models == ["roma"] and list(s.spans) == ["test"] and len(s.runs) == 5
        fit = s.fit()["models"]["roma"]
        assert fit["alpha"] == pytest.approx(0.3, abs=1e-9) and fit["prefactor"] == pytest.approx(2.0, rel=1e-9)
        np.testing.assert_allclose([p["params"] for p in fit["points"]], params)
        np.testing.assert_allclose([p["mean"] for p in fit["points"]], exact)
    grid = np.geomspace(500, 2e5, 7)
    lo, hi = power_law_band(params, exact, grid)
    np.testing.assert_allclose(lo, 2.0 * grid ** -0.3, rtol=1e-9)  # no scatter: the band is the line
    np.testing.assert_allclose(hi, lo, rtol=1e-9)
    lo, hi = power_law_band(params, 0.01 + exact, grid, floor=0.01)  # the same law above a floor
    np.testing.assert_allclose(lo, 0.01 + 2.0 * grid ** -0.3, rtol=1e-9)
    noisy = exact * np.exp(np.random.default_rng(1).normal(0, 0.1, len(params)))
    lo, hi = power_law_band(params, noisy, grid)
    fit = fit_power_law(params, noisy)
    line = fit["prefactor"] * grid ** -fit["alpha"]
    assert np.all(lo < line) and np.all(line < hi)
    assert np.all(np.diff(np.log(hi / lo))[:3] < 0)  # narrowest near the points' centre, wider outside
    shipped = load_scaling(ROOT / "assets" / "scaling_kuramoto_2k")  # the shipped (old) ladder still opens
    assert shipped.legacy and len(shipped.fit("test")["models"]["roma"]["points"]) == 6


def test_ladder_of_several_models_loads_and_plots(tmp_path):
    params = np.array([2e3, 6e3, 2e4, 6e4])
    laws = {"roma": (4.0, 0.4, params), "gnn": (1.0, 0.25, params * 1.05), "mystery": (2.0, 0.3, params * 0.95)}
    ladder_result(tmp_path / "exact", laws, floor=0.01)
    s = load_scaling(tmp_path / "exact")
    assert not s.legacy and s.models == list(laws) and s.spans == {"test": "test", "held-out graph": "heldout"}
    for m, (a, alpha, p) in laws.items():
        f = s.fit("test")["models"][m]
        assert f["alpha"] == pytest.approx(alpha) and f["prefactor"] == pytest.approx(a)
        assert s.fit("held-out graph")["models"][m]["prefactor"] == pytest.approx(2 * a)
        band = f["band"]
        grid, lo, hi = (np.array(band[k]) for k in ("params", "low", "high"))
        np.testing.assert_allclose(lo, 0.01 + a * grid ** -alpha, rtol=1e-9)  # no scatter: the line
        np.testing.assert_allclose(hi, lo, rtol=1e-9)
    noisy = ladder_result(tmp_path / "noisy", laws, floor=0.01, noise=0.2, seeds=(0, 1, 2), windows=8)
    s = load_scaling(tmp_path / "noisy")
    f = s.fit("test")["models"]["roma"]
    grid, lo, hi = (np.array(f["band"][k]) for k in ("params", "low", "high"))
    law = 0.01 + f["prefactor"] * grid ** -f["alpha"]
    assert np.all(lo < law) and np.all(law < hi) and np.all(lo > 0.01)
    assert all(p["seed_sd"] > 0 for p in f["points"])
    plot, text, table = scaling_plot(s, "test")
    assert f"**roma**: α = {f['alpha']:.4f}" in text and "best peer" in text and "floor 0.01" in text
    assert table.count("| roma |") == 4 and table.count("| mystery |") == 4
    kinds = [type(e).__name__ for e in plot]
    assert kinds.count("Scatter") == 3 and kinds.count("ErrorBars") == 3 and kinds.count("Area") == 3
    assert kinds.count("Curve") == 4                                   # three laws and the floor
    assert {e.opts.get().kwargs["color"] for e in plot if type(e).__name__ == "Scatter"} == \
        {MODEL_COLOURS["roma"], MODEL_COLOURS["gnn"], "#17becf"}
    assert noisy["fits"]["test"]["models"]["roma"]["alpha"] == f["alpha"]   # the stored fit is shown
    # the file of a ladder still running: fits missing are fitted on reading
    raw = json.loads((tmp_path / "noisy" / "scaling.json").read_text())
    del raw["fits"]["heldout"]
    (tmp_path / "noisy" / "scaling.json").write_text(json.dumps(raw))
    assert set(load_scaling(tmp_path / "noisy").fit("heldout")["models"]) == set(laws)


def test_log_ticks_do_not_crowd():
    for lo, hi in [(2.4e4, 1.5e5), (3e3, 1.2e5), (800, 3e6), (4e3, 6e4), (1.1e4, 1.9e4)]:
        ticks = log_ticks(lo, hi)
        values = [v for v, _ in ticks]
        assert 2 <= len(ticks) <= 6 and all(lo <= v <= hi for v in values)
        assert np.all(np.diff(np.log10(values)) >= np.log10(2) - 1e-9) or len(ticks) == 2  # a factor 2 apart
    assert log_ticks(2.4e4, 1.5e5) == [(5e4, "50k"), (1e5, "100k")]   # no 30k beside 50k and 100k
    assert [label for _, label in log_ticks(800, 3e6)] == ["1k", "10k", "100k", "1M"]


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
    options = page.locator("select option").all_inner_texts()      # the run is named as the pickers name it
    assert "assets/roma_kuramoto_2k" in options and not any(o.startswith("/") for o in options), options
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
    laws = {"roma": (0.5, 0.17, params), "gnn": (0.3, 0.12, params * 1.04)}
    res = ladder_result(app_server.workspace / "ladder", laws, floor=0.005, noise=0.03, seeds=(0, 1))
    page = open_training(open_page)
    before = pixels(page, SCALING)
    page.locator(".roma-pick-scaling_path select").first.select_option(label="ladder/scaling.json")
    page.get_by_role("button", name="Open", exact=True).nth(1).click()

    def shown(span):
        fit = res["fits"][span]["models"]["roma"]
        text = wait_for(lambda: (lambda t: t if "ladder" in t and f"α = {fit['alpha']:.4f}" in t else None)(
            page_text(page, ".roma-train-alpha")), timeout=30, what=f"roma's exponent on the {span} span")
        lo, hi = (float(x) for x in re.search(r"roma.*?CI \[(-?[0-9.]+), (-?[0-9.]+)\]", text).groups())
        assert (lo, hi) == pytest.approx(tuple(fit["alpha_ci"]), abs=1e-4)
        assert "gnn" in text and "best peer" in text and "floor 0.005" in text
        return text

    shown("test")
    time.sleep(1.5)
    after = pixels(page, SCALING)
    h, w = min(before.shape[0], after.shape[0]), min(before.shape[1], after.shape[1])
    assert np.abs(before[:h, :w] - after[:h, :w]).mean() > 1, "the scaling plot did not change"
    page.locator(SCALING).first.screenshot(path=tmp_path / "scaling.png")
    page.get_by_role("button", name="held-out graph", exact=True).click()
    shown("heldout")
    assert page.roma_errors == [], page.roma_errors
