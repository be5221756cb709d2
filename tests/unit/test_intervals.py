"""Split-conformal intervals: coverage on exchangeable data independent of any model, arcs on
the circle, per-group radii, the CRPS of the conformal distribution against a closed form,
and `roma evaluate --intervals` on the shipped run."""
import json
import math

import numpy as np
import pytest

from roma_core.errors import SpecError
from roma_core.eval import intervals as iv


def gaussian(rng, b, n, h, scale):
    """Forecast 0, truth N(0, scale_k²) at step k: (B, N, H, 1) pairs."""
    return np.zeros((b, n, h, 1)), rng.normal(size=(b, n, h, 1)) * np.asarray(scale)[None, None, :, None]


def test_conformal_coverage_is_nominal_on_exchangeable_data():
    rng = np.random.default_rng(0)
    scale = [0.5, 1.0, 2.0]
    cal = iv.calibrate(*gaussian(rng, 50, 400, 3, scale), "identity")
    values, target = gaussian(rng, 50, 400, 3, scale)
    cov = iv.coverage(values, target, "identity", cal)
    for level in iv.LEVELS:
        got = cov[f"{level:g}"]
        assert abs(got["coverage"] - level) < 0.02, (level, got["coverage"])
        assert all(abs(c - level) < 0.02 for c in got["coverage_per_step"])
    # the radius is the normal quantile at each step's scale; the width follows it
    assert np.allclose(cal["radius"][iv.LEVELS.index(0.9), 0], 1.6449 * np.array(scale), rtol=0.03)
    assert np.allclose(cov["0.9"]["width_per_step"], 2 * cal["radius"][iv.LEVELS.index(0.9), 0])


def test_the_radius_is_the_finite_sample_quantile():
    s = np.arange(1, 20)                              # n = 19: level 0.9 takes the 18th smallest
    assert iv.conformal_radius(s, 0.9) == 18
    assert iv.conformal_radius(s, 0.95) == 19
    assert iv.conformal_radius(np.arange(5), 0.9) == math.inf      # too few points for the level
    with pytest.raises(SpecError, match="level"):
        iv.conformal_radius(s, 1.0)


def test_phase_intervals_are_arcs_counted_on_the_circle():
    rng = np.random.default_rng(1)
    b, n, h = 40, 300, 2
    centre = rng.uniform(-np.pi, np.pi, (b, n, h))
    feats = lambda a: np.stack([np.sin(a), np.cos(a)], -1)   # noqa: E731
    noise = lambda: rng.vonmises(0.0, 0.7, (b, n, h))       # noqa: E731  wide: many errors wrap past ±π
    cal = iv.calibrate(feats(centre), feats(centre + noise()), "phase")
    truth = centre + noise()
    cov = iv.coverage(feats(centre), feats(truth), "phase", cal)
    assert abs(cov["0.9"]["coverage"] - 0.9) < 0.02
    lo, hi = iv.bounds(feats(centre), cal["radius"][iv.LEVELS.index(0.9)], "phase")
    inside = np.abs(np.angle(np.exp(1j * (truth - (lo + hi) / 2)))) <= (hi - lo) / 2    # on the circle
    assert abs(inside.mean() - cov["0.9"]["coverage"]) < 1e-9
    assert (hi - lo).max() <= 2 * np.pi + 1e-12


def test_degree_groups_each_get_their_own_radius_and_coverage():
    rng = np.random.default_rng(2)
    degree = rng.integers(1, 100, 1000)
    bins = iv.degree_bins(degree, 2)
    groups = iv.degree_groups(degree, bins)
    scale = np.where(groups == 1, 3.0, 0.3)             # hubs are harder
    def draw():
        return np.zeros((30, 1000, 1, 1)), (rng.normal(size=(30, 1000, 1)) * scale[None, :, None])[..., None]
    cal = iv.calibrate(*draw(), "identity", groups=groups)
    r = cal["radius"][iv.LEVELS.index(0.9), :, 0]
    assert r[1] > 5 * r[0]
    values, target = draw()
    for g in (0, 1):
        sub = iv.coverage(values[:, groups == g], target[:, groups == g], "identity", cal, groups[groups == g])
        assert abs(sub["0.9"]["coverage"] - 0.9) < 0.03


def test_crps_of_the_conformal_distribution_matches_the_normal_closed_form():
    """Truth N(0, σ²) and a forecast at 0: the conformal distribution is N(0, σ²) itself, whose
    expected CRPS over the truth is E[σ(z(2Φ(z) − 1) + 2φ(z) − 1/√π)] = σ / √π."""
    rng = np.random.default_rng(3)
    cal = iv.calibrate(*gaussian(rng, 40, 500, 1, [2.0]), "identity")
    score = iv.crps(*gaussian(rng, 40, 500, 1, [2.0]), "identity", cal, members=512)
    assert score["crps"] == pytest.approx(2.0 / math.sqrt(math.pi), rel=0.03)


@pytest.mark.slow
def test_roma_evaluate_reports_intervals_for_the_shipped_run(tmp_path):
    from roma_core.assets import asset_path
    from roma_core.cli import main

    out = tmp_path / "metrics.json"
    assert main(["evaluate", "--checkpoint", str(asset_path("roma_kuramoto_2k")), "--data",
                 str(asset_path("kuramoto_2k.zarr")), "--windows", "4", "--intervals", "0.9",
                 "--out", str(out)]) == 0
    res = json.loads(out.read_text())["intervals"]
    assert res["level"] == 0.9 and set(res["levels"]) == {"0.5", "0.8", "0.9", "0.95"}
    assert 0.5 < res["levels"]["0.9"]["coverage"] <= 1 and res["crps"] > 0
    assert len(res["radius"][0]) == len(res["levels"]["0.9"]["coverage_per_step"])



def test_forecast_store_undoes_the_transform_and_boxes_are_forecast_plus_radius(tmp_path):
    """Identity features: the store holds states in the trajectory's units (x = x̃ σ + μ), and
    the box's ends are the forecast ∓ r σ per degree group and step."""
    from roma_core.data.store import NotOwnedError
    from roma_core.data.windows import Windows
    from roma_core.errors import StoreError
    from roma_core.eval.forecasts import forecast_dataset, open_forecast, save_forecast
    from roma_core.eval.predict import Forecast
    from roma_core.graphs import Graph

    rng = np.random.default_rng(4)
    n, t, h = 6, 40, 3
    w = Windows(Graph.from_edges([0, 1], [1, 2], n), rng.normal(5.0, 2.0, (t, n)), lookback=2, horizon=h,
                features="identity", norm=(5.0, 2.0), times=0.5 * np.arange(t))
    starts = np.array([3, 10])
    _, y = w.get(starts)
    f = Forecast(values=y + 0.1, target=y)
    groups = np.array([0, 0, 0, 1, 1, 1])
    radius = np.array([[0.2, 0.3, 0.4], [1.0, 1.5, 2.0]])
    ds = forecast_dataset(f, w, starts, {"model": "test"}, {"level": 0.8, "radius": radius, "groups": groups})
    truth = np.stack([w.raw[s + 2:s + 2 + h].T for s in starts])
    assert np.allclose(ds.truth, truth, atol=1e-5)
    assert np.allclose(ds.forecast, truth + 0.2, atol=1e-5)
    half = radius[groups][None] * 2.0
    assert np.allclose(ds.upper - ds.forecast, half, atol=1e-5) and np.allclose(ds.forecast - ds.lower, half, atol=1e-5)
    assert np.allclose(ds.time, 0.5 * (starts[:, None] + 2 + np.arange(h)))
    assert ds.attrs["interval_kind"] == "box" and ds.attrs["interval_level"] == 0.8
    out = save_forecast(ds, tmp_path / "f.zarr")
    assert np.allclose(open_forecast(out).lower, ds.lower)
    with pytest.raises(StoreError, match="exists already"):
        save_forecast(ds, out)
    save_forecast(ds.drop_vars(["lower", "upper"]), out, overwrite=True)       # ours: replaced
    assert "lower" not in open_forecast(out)
    foreign = tmp_path / "mine.zarr"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(NotOwnedError, match="not written by ROMA"):
        save_forecast(ds, foreign, overwrite=True)
    assert (foreign / "notes.txt").read_text() == "keep me"


@pytest.mark.slow
def test_roma_evaluate_writes_the_intervals_beside_the_forecast(tmp_path, capsys):
    """The shipped run: the stored arcs are the forecast ∓ the reported radius, they hold the
    truth exactly as often as the reported coverage, near the nominal 90 %; nothing is
    replaced without --overwrite, and a missing --intervals is named."""
    from roma_core.assets import asset_path
    from roma_core.cli import main
    from roma_core.eval.forecasts import open_forecast

    run, data = str(asset_path("roma_kuramoto_2k")), str(asset_path("kuramoto_2k.zarr"))
    store, metrics = tmp_path / "forecast.zarr", tmp_path / "m.json"
    args = ["evaluate", "--checkpoint", run, "--data", data, "--windows", "4", "--intervals", "0.9",
            "--forecast-out", str(store), "--out", str(metrics)]
    assert main(args) == 0
    res = json.loads(metrics.read_text())
    ds = open_forecast(store).load()
    assert ds.attrs["interval_kind"] == "arc" and ds.attrs["interval_level"] == 0.9 and ds.attrs["model"] == "roma"
    assert ds.forecast.shape == (4, 2000, len(res["rel_l2_per_step"]))
    r = np.asarray(res["intervals"]["radius"])[ds.node_group.values][None]
    assert np.allclose(ds.upper - ds.forecast, r, atol=1e-5) and np.allclose(ds.forecast - ds.lower, r, atol=1e-5)
    assert (ds.lower < -np.pi).any() or (ds.upper > np.pi).any()                   # arcs that wrap are kept whole
    off = np.angle(np.exp(1j * (ds.truth.values.astype(float) - ds.forecast.values)))      # on the circle
    inside = np.abs(off) <= (ds.upper.values - ds.lower.values) / 2 + 1e-6
    assert inside.mean() == pytest.approx(res["intervals"]["levels"]["0.9"]["coverage"], abs=1e-3)
    assert 0.7 < inside.mean() <= 1
    capsys.readouterr()
    assert main(args) == 2 and "exists already" in capsys.readouterr().err
    assert main(args + ["--overwrite", "--calibration", data]) == 0
    assert open_forecast(store).attrs["interval_calibration"] == f"validation span of {data}"
    assert main(["evaluate", "--checkpoint", run, "--data", data, "--interval-groups", "4"]) == 2
    assert "--intervals" in capsys.readouterr().err


@pytest.mark.slow
def test_roma_compare_scores_every_models_intervals_side_by_side(tmp_path, capsys):
    """The shipped run and persistence, on the test span and a new graph of the family: both
    rows carry coverage, width and CRPS; the held-out graph is calibrated on the training
    graph's validation span (one radius per step: the same width as on the test span)."""
    from roma_core.assets import asset_path
    from roma_core.cli import main
    from roma_core.dynamics import KuramotoSpec, simulate
    from roma_core.graphs import hyperbolic_graph

    g = hyperbolic_graph(400, mean_degree=10, seed=102)
    simulate(KuramotoSpec(noise=0.1), g, t_end=6.0, dt=0.01, save_every=10, seed=102, device="cpu",
             out=tmp_path / "new.zarr")
    run, data = str(asset_path("roma_kuramoto_2k")), str(asset_path("kuramoto_2k.zarr"))
    out = tmp_path / "cmp.json"
    capsys.readouterr()
    assert main(["compare", run, "--data", data, "--heldout", str(tmp_path / "new.zarr"), "--windows", "3",
                 "--intervals", "0.8", "--out", str(out)]) == 0
    header = capsys.readouterr().out.splitlines()[0].split()
    assert {"test_coverage", "test_width", "test_crps", "heldout_coverage", "heldout_crps"} <= set(header)
    rows = {r["model"]: r for r in json.loads(out.read_text())}
    assert set(rows) == {"roma", "persistence"}
    for r in rows.values():
        assert r["interval_level"] == 0.8
        assert 0.5 < r["test_coverage"] <= 1       # near nominal on the training graph; the new graph's
        for span in ("test", "heldout"):           # early transient is a shift: reported, not promised
            assert 0 < r[f"{span}_coverage"] <= 1 and r[f"{span}_crps"] > 0
            assert r[f"{span}_coverage"] == r[f"{span}_intervals"]["coverage"]["0.8"]
            assert set(r[f"{span}_intervals"]["coverage"]) == {"0.5", "0.8", "0.9", "0.95"}
        assert r["heldout_width"] == pytest.approx(r["test_width"])
    assert rows["roma"]["test_width"] != rows["persistence"]["test_width"]     # each model its own radii
    assert main(["compare", run, "--data", data, "--intervals", "1.5"]) == 2
    assert "--intervals" in capsys.readouterr().err
