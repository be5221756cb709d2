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

