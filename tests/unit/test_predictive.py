"""The learned predictive distribution (``ModelSpec.predictive = "vbll"``): the Bayesian last
layer against the ``vbll`` package's regression layer on the same weights and against closed
forms checked by Monte Carlo, calibration on data with known heteroscedastic noise, and point
models (the shipped checkpoint included) left exactly as they were."""
import math

import numpy as np
import pytest
import torch

from roma_core.eval import intervals as iv
from roma_core.models import Batch, build
from roma_core.models.decoder import OperatorDecoder
from roma_core.specs import ModelSpec


def decoder_with_weights(dim=5, horizon=1, basis=4, seed=0, hetero=False):
    """A vbll decoder (one identity channel) with random weights everywhere."""
    torch.manual_seed(seed)
    dec = OperatorDecoder(dim, horizon, 1, basis, 1, predictive="vbll")
    with torch.no_grad():
        dec.branch.weight.normal_(0, 0.5)
        dec.branch.bias.normal_(0, 0.5)
        dec.vbll.log_std.normal_(-1.5, 0.3)
        dec.vbll.noise_level.normal_(-2.0, 0.3)
        if hetero:
            dec.vbll.noise_weight.normal_(0, 0.3)
    return dec


def features(dec, n=64, seed=1):
    """Node summaries, the trunk's basis and the forecast's change for n nodes, one window."""
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(1, n, dec.branch.in_features, generator=g)
    theta, kappa = torch.rand(n, generator=g) * 6.28, torch.randn(n, generator=g)
    values, weight_var, noise_var = dec.predict(h, torch.zeros(1, n, 1), theta, kappa)
    t = dec.horizon
    s = (torch.arange(1, t + 1) / t)[None].expand(n, t)
    from roma_core.models.decoder import trunk_inputs
    phi = dec.trunk(trunk_inputs(s, theta[:, None].expand(n, t), kappa[:, None].expand(n, t)))
    return h, phi, values, weight_var, noise_var


def test_the_layer_is_the_vbll_packages_regression_layer_on_the_same_weights():
    """With the noise independent of the input (V = 0) and one step, the decoder's change is
    vbll.Regression on the features φ ⊗ (h, 1) / √p: the same predictive variance and the same
    training loss (vbll leaves the KL's constant −k/2 out)."""
    vbll = pytest.importorskip("vbll")
    dec = decoder_with_weights()
    h, phi, values, weight_var, noise_var = features(dec)
    p, d = dec.basis, dec.branch.in_features
    count = 1000.0
    x = torch.cat([h, torch.ones_like(h[..., :1])], -1)[0]                          # (n, d + 1)
    feats = (phi[:, 0, :, None] * x[:, None, :]).reshape(len(x), -1) / math.sqrt(p)  # (n, p (d + 1))
    ref = vbll.Regression(p * (d + 1), 1, 1.0 / count, parameterization="diagonal", prior_scale=p,
                          wishart_scale=dec.vbll.wishart_scale, dof=1.0)
    with torch.no_grad():
        ref.W_mean.copy_(torch.cat([dec.branch.weight, dec.branch.bias[:, None]], 1).reshape(1, -1))
        ref.W_logdiag.copy_(dec.vbll.log_std.reshape(1, -1))
        ref.noise_logdiag.copy_(0.5 * dec.vbll.noise_level.reshape(1))
    out = ref(feats)
    assert torch.allclose(out.predictive.mean[:, 0], values[0, :, 0, 0], atol=1e-5)
    assert torch.allclose(out.predictive.variance[:, 0], (weight_var + noise_var)[0, :, 0, 0], rtol=1e-4)
    y = values[0, :, 0] + torch.randn(len(x), 1) * 0.3
    ours = dec.vbll.loss((y - values[0, :, 0])[None, :, None], weight_var, noise_var, dec.branch, count)
    k = dec.vbll.log_std.numel()
    assert float(ours) + 0.5 * k / count == pytest.approx(float(out.train_loss_fn(y)), rel=1e-5)


def test_kl_and_predictive_variance_against_independent_computations():
    """KL against torch.distributions; with an input-dependent noise, the predictive variance
    and the expected log-likelihood by Monte Carlo over weights drawn from the posterior."""
    dec = decoder_with_weights(horizon=3, hetero=True, seed=3)
    h, phi, values, weight_var, noise_var = features(dec, n=16, seed=4)
    lay = dec.vbll
    m = torch.cat([dec.branch.weight, dec.branch.bias[:, None]], 1)
    q = torch.distributions.Normal(m, torch.exp(lay.log_std))
    prior = torch.distributions.Normal(torch.zeros_like(m), math.sqrt(lay.prior_var) * torch.ones_like(m))
    assert float(lay.kl(dec.branch)) == pytest.approx(float(torch.distributions.kl_divergence(q, prior).sum()),
                                                      rel=1e-5)
    assert not torch.allclose(noise_var[0, 0], noise_var[0, 1])                 # heteroscedastic
    # draw weights, forecast with each: the changes' spread is the weights' part of the variance
    g = torch.Generator().manual_seed(5)
    draws = m + torch.exp(lay.log_std) * torch.randn((20000,) + m.shape, generator=g, dtype=torch.float64).float()
    x = torch.cat([h, torch.ones_like(h[..., :1])], -1)[0]                                    # (n, d + 1)
    coef = torch.einsum("spj,nj->snp", draws, x)                                                # (S, n, p)
    change = torch.einsum("snp,ntp->snt", coef, phi) / math.sqrt(dec.basis) + dec.bias
    assert torch.allclose(change.mean(0), values[0, :, :, 0], atol=0.02)
    assert torch.allclose(change.var(0), weight_var[0, :, :, 0], rtol=0.05)
    y = values[0, :, :, 0] + torch.randn(values.shape[1:3], generator=g)
    loglik = torch.distributions.Normal(change, noise_var[0, :, :, 0].sqrt()).log_prob(y).mean()
    closed = -lay.loss((y - values[0, :, :, 0])[None, :, :, None], weight_var, noise_var, dec.branch, math.inf)
    assert float(closed) == pytest.approx(float(loglik), rel=0.01)


def synthetic_batch(spec, n, g, b=4):
    """Windows whose last state u sets both the forecast and the noise: y_k = sin(2u) k/H +
    σ(u) ε, σ(u) = 0.02 + 0.1 (1 + tanh u) (from 0.02 to 0.22)."""
    x = torch.randn(b, n, spec.lookback, 1, generator=g)
    u = x[:, :, -1:, 0]
    k = torch.arange(1, spec.horizon + 1) / spec.horizon
    sigma = (0.02 + 0.1 * (1 + torch.tanh(u))).expand(b, n, spec.horizon)
    y = x[:, :, -1:, :] + (torch.sin(2 * u) * k + sigma * torch.randn(b, n, spec.horizon, generator=g))[..., None]
    return Batch(x=x, edge_index=torch.empty(2, 0, dtype=torch.int64), theta=torch.rand(n, generator=g) * 6.28,
                 kappa=torch.zeros(n), pe=torch.zeros(n, 0), prior=torch.zeros(n, dtype=torch.int64), y=y), sigma


def test_a_learned_distribution_is_calibrated_on_heteroscedastic_noise():
    """A vbll DeepONet trained for 400 steps (point loss + ELBO, as the training loop does) on
    data with known heteroscedastic noise covers the truth at 90 % ± 3 overall and in the
    calm and the noisy half of the nodes alike, and its σ follows the true one."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    spec = ModelSpec(lookback=4, horizon=2, channels=1, hidden=32, basis=8, pos_dim=0, predictive="vbll")
    model = build("deeponet", spec)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.0)
    g = torch.Generator().manual_seed(0)
    for _ in range(400):
        batch, _ = synthetic_batch(spec, 256, g)
        pred = model(batch)
        point = ((pred.values - batch.y) ** 2).mean()
        elbo = model.decoder.vbll.loss(model.decoder.residual(pred.values.detach(), batch.y), pred.weight_var,
                                       pred.noise_var, model.decoder.branch, 1e5)
        opt.zero_grad()
        (point + elbo).backward()
        opt.step()
    batch, sigma = synthetic_batch(spec, 4000, g, b=2)
    with torch.no_grad():
        pred = model(batch)
    values, scale, y = pred.values.numpy(), pred.scale.numpy(), batch.y.numpy()
    res = iv.learned(values, scale, y, "identity")
    assert abs(res["levels"]["0.9"]["coverage"] - 0.9) < 0.03, res["levels"]["0.9"]
    noisy = (sigma[..., 0] > sigma[..., 0].median()).numpy()
    for part in (noisy, ~noisy):
        sub = iv.learned(values[part][None], scale[part][None], y[part][None], "identity")
        assert abs(sub["levels"]["0.9"]["coverage"] - 0.9) < 0.04, sub["levels"]["0.9"]
    assert np.corrcoef(scale[..., 0].ravel(), sigma.numpy().ravel())[0, 1] > 0.8


def test_learned_intervals_are_gaussian_quantiles_and_arcs():
    rng = np.random.default_rng(0)
    b, n, h = 20, 500, 3
    sd = rng.uniform(0.05, 0.5, (b, n, h, 1))
    centre = rng.uniform(-np.pi, np.pi, (b, n, h))
    truth = centre + sd[..., 0] * rng.normal(size=(b, n, h))
    feats = lambda a: np.stack([np.sin(a), np.cos(a)], -1)   # noqa: E731
    res = iv.learned(feats(centre), sd, feats(truth), "phase")
    for level in iv.LEVELS:
        assert abs(res["levels"][f"{level:g}"]["coverage"] - level) < 0.01
    assert res["levels"]["0.9"]["width"] == pytest.approx(2 * 1.6449 * sd.mean(), rel=1e-3)
    assert res["crps"] == pytest.approx(sd.mean() / math.sqrt(math.pi), rel=0.03)      # E CRPS = σ/√π
    # boxes: all C channels inside at the level
    values = np.zeros((b, n, h, 2))
    target = rng.normal(size=values.shape) * np.array([0.1, 1.0])
    box = iv.learned(values, np.broadcast_to(np.array([0.1, 1.0]), values.shape), target, "identity")
    assert abs(box["levels"]["0.9"]["coverage"] - 0.9) < 0.01


def test_point_models_are_unchanged_and_the_shipped_run_forecasts_the_same_with_the_layer():
    """Point models have no new weights and no scale; the shipped checkpoint's weights in a vbll
    model forecast bit for bit the same values (the layer only adds a variance)."""
    from roma_core.assets import asset_path
    from roma_core.train import checkpoint as ckpt

    model, state = ckpt.load_model(asset_path("roma_kuramoto_2k"))
    assert model.spec.predictive == "point" and state["model_spec"]["predictive"] == "point"
    assert not any("vbll" in k for k in model.state_dict())
    spec = ModelSpec.from_dict({**state["model_spec"], "predictive": "vbll"})
    g = torch.Generator().manual_seed(0)
    n = 50
    x = torch.randn(2, n, spec.lookback, 2, generator=g)
    x = x / x.norm(dim=-1, keepdim=True)
    batch = Batch(x=x, edge_index=torch.stack([torch.arange(n), (torch.arange(n) + 1) % n]),
                  theta=torch.linspace(0, 6, n), kappa=torch.zeros(n), pe=torch.zeros(n, 0),
                  prior=torch.arange(n) * spec.supernodes // n,
                  field=torch.randn(2, spec.supernodes, spec.lookback, 2, generator=g))
    with torch.no_grad():
        point = model.eval()(batch)
        vb = build("roma", spec).eval()
        missing, _ = vb.load_state_dict(model.state_dict(), strict=False)
        assert all("vbll" in k for k in missing)
        learned = vb(batch)
    assert point.scale is None and learned.scale is not None
    assert torch.equal(point.values, learned.values)


def test_phase_features_need_a_phase_model_for_a_learned_distribution(tmp_path):
    from roma_core.data.windows import Windows
    from roma_core.errors import SpecError
    from roma_core.graphs import hyperbolic_graph
    from roma_core.specs import TrainSpec
    from roma_core.train import train

    g = hyperbolic_graph(40, mean_degree=4, seed=1)
    w = Windows(g, np.random.default_rng(0).uniform(-3, 3, (30, 40)), lookback=4, horizon=2, features="phase")
    spec = ModelSpec(lookback=4, horizon=2, hidden=8, heads=2, supernodes=4, levels=2, pos_dim=0, basis=4,
                     phase_gauge=False, predictive="vbll")
    with pytest.raises(SpecError, match="phase model"):
        train(w, "deeponet", spec, TrainSpec(steps=1, device="cpu"), tmp_path)


def test_a_vbll_run_trains_its_point_forecast_as_the_point_run_does(tmp_path):
    """Same seed and data: every weight the two models share ends bit for bit the same (the
    layer reads them detached, draws no number from the global generator and is clipped
    apart), and the vbll run logs its ELBO."""
    import json

    from test_train import kuramoto_states, spec, tspec

    from roma_core.data.windows import Windows
    from roma_core.graphs import hyperbolic_graph
    from roma_core.train import train

    g = hyperbolic_graph(80, mean_degree=4, seed=5)
    w = Windows(g, kuramoto_states(g, steps=60), lookback=6, horizon=3, features="phase")
    torch.set_num_threads(1)
    runs = {}
    for kind in ("point", "vbll"):
        s = ModelSpec.from_dict({**spec().to_dict(), "predictive": kind, "phase_gauge": True})
        runs[kind] = train(w, "roma", s, tspec(steps=6, task="forecast", grad_clip=0.01), tmp_path / kind)["model"]
    point, vb = runs["point"].state_dict(), runs["vbll"].state_dict()
    assert set(vb) - set(point) and all("vbll" in k for k in set(vb) - set(point))
    assert [k for k in point if not torch.equal(point[k], vb[k])] == []
    record = json.loads((tmp_path / "vbll" / "metrics.jsonl").read_text().splitlines()[-1])
    assert math.isfinite(record["elbo"]) and "elbo" not in json.loads(
        (tmp_path / "point" / "metrics.jsonl").read_text().splitlines()[-1])
    # evaluate --intervals: the conformal scores of both, and the vbll run's own distribution's
    from roma_core.eval.evaluate import evaluate

    res = {k: evaluate(tmp_path / k, None, windows=w, intervals=0.9, max_windows=2, scales=False)["intervals"]
           for k in ("point", "vbll")}
    assert res["point"]["crps"] == res["vbll"]["crps"] and "learned" not in res["point"]
    learned = res["vbll"]["learned"]
    assert set(learned["levels"]) == {"0.5", "0.8", "0.9", "0.95"} and learned["crps"] > 0
    assert len(learned["crps_per_step"]) == 3 and learned["scale"] > 0


def test_results_and_checkpoints_from_before_the_option_read_as_point(tmp_path):
    """A ladder result written before the option existed is a point run's: found finished for a
    point spec, refused for a vbll one."""
    import json

    from roma_core.errors import SpecError
    from roma_core.eval.scaling import finished_run
    from roma_core.specs import TrainSpec

    spec, tspec = ModelSpec(), TrainSpec()
    old = {k: v for k, v in spec.to_dict().items() if k != "predictive"}
    (tmp_path / "result.json").write_text(json.dumps({"model_spec": old, "train_spec": tspec.to_dict(), "steps": 3}))
    assert finished_run(tmp_path, spec, tspec)["steps"] == 3
    with pytest.raises(SpecError, match="model_spec.predictive"):
        finished_run(tmp_path, ModelSpec(predictive="vbll"), tspec)


@pytest.mark.slow
def test_the_shipped_run_evaluates_as_before_the_option():
    """The shipped checkpoint's test-span scores, as recorded before the option existed
    (benchmarks/RESULTS.md, 2026-12-08 00:51 UTC): nothing of the point path moved."""
    from roma_core.assets import asset_path
    from roma_core.eval.evaluate import evaluate

    torch.set_num_threads(1)
    res = evaluate(asset_path("roma_kuramoto_2k"), asset_path("kuramoto_2k.zarr"), intervals=0.9, scales=False)
    assert res["rel_l2"] == pytest.approx(0.16175860166549683, rel=1e-5)
    assert res["intervals"]["crps"] == pytest.approx(0.06352772277637955, rel=1e-5)
    assert res["intervals"]["levels"]["0.9"]["coverage"] == pytest.approx(0.8045234375, abs=1e-4)
    assert "learned" not in res["intervals"]
