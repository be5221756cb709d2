"""GINO, the global neural-operator baseline: the library's reduction, a receptive field that
spans the whole graph, and a far-field drift that only a global model can forecast."""
import math

import numpy as np
import pytest
import torch

from roma_core.data.windows import Windows
from roma_core.graphs import Graph
from roma_core.models import build, match_width, parameter_count
from roma_core.models.gino import segment_csr
from roma_core.specs import ModelSpec, TrainSpec
from roma_core.train import train
from roma_core.train.loop import Context, validate

N = 240


def ring(n=N):
    """A ring in angular order: each node linked to its two neighbours."""
    nxt = (np.arange(n) + 1) % n
    prv = (np.arange(n) - 1) % n
    indices = np.stack([prv, nxt], 1).reshape(-1)
    return Graph(np.arange(0, 2 * n + 1, 2), indices, theta=2 * np.pi * np.arange(n) / n, kappa=np.zeros(n))


def far_drift(steps=400, seed=0):
    """States of the ring: the half θ ≥ π carries white noise m(t) shared by its nodes (plus
    a little node noise), and every node of the other half takes 0.5·m(t − 1) one step later.
    A node of the first half cannot foresee its next state from its own past or its graph
    neighbours' (m is white), but the whole graph's last frame shows it."""
    rng = np.random.default_rng(seed)
    far = np.arange(N) >= N // 2
    m = rng.normal(size=steps)
    u = np.zeros((steps, N))
    u[:, far] = m[:, None] + 0.05 * rng.normal(size=(steps, far.sum()))
    u[1:, ~far] = 0.5 * m[:-1, None] + 0.05 * rng.normal(size=(steps - 1, (~far).sum()))
    return u, far


def spec(**kw):
    return ModelSpec(**{**dict(lookback=3, horizon=1, channels=1, hidden=16, heads=4, supernodes=16, levels=2,
                               pos_dim=0, basis=8), **kw})


def test_segment_csr_is_the_librarys_reduction():
    from neuralop.layers.segment_csr import segment_csr as library

    gen = torch.Generator().manual_seed(0)
    counts = torch.randint(0, 5, (30,), generator=gen)
    counts[3] = 0                                          # an empty neighbourhood gives 0
    ptr = torch.cat([torch.zeros(1, dtype=torch.long), counts.cumsum(0)])
    for batched in (False, True):
        src = torch.randn(*((3,) if batched else ()), int(ptr[-1]), 5, generator=gen, requires_grad=True)
        p = ptr.expand(3, -1) if batched else ptr
        for reduction in ("sum", "mean"):
            ours, theirs = segment_csr(src, p, reduction), library(src, p, reduction, use_scatter=False)
            assert torch.allclose(ours, theirs, atol=1e-6)
            g1, = torch.autograd.grad((ours ** 2).sum(), src)
            g2, = torch.autograd.grad((theirs ** 2).sum(), src)
            assert torch.allclose(g1, g2, atol=1e-6)


def test_gino_reads_nodes_far_outside_the_batch():
    torch.manual_seed(0)
    u, far = far_drift(60)
    w = Windows(ring(), u, lookback=3, horizon=1)
    s = ModelSpec.from_dict({**spec().to_dict(), "channels": w.channels})
    ctx = Context(w, s, torch.device("cpu"), whole_graph=True)
    nodes = np.arange(10, 30)                              # 20 nodes of the first half
    before = ctx.batch([5], nodes)
    after = ctx.batch([5], nodes)
    after.graph_x = after.graph_x.clone()
    after.graph_x[:, far] += 1.0                           # only nodes outside the batch change
    for name, moves in (("gino", True), ("gnn", False)):
        model = build(name, s).eval()
        with torch.no_grad():        # the node summaries (the decoder starts at the last state)
            h0, h1 = (model.summarize(model.gauged(b)[0])[0] for b in (before, after))
        assert (not torch.allclose(h0, h1, atol=1e-6)) is moves, name


def test_gino_matches_the_others_in_size_and_round_trips_a_checkpoint(tmp_path):
    s = spec(channels=2)
    target = parameter_count(build("roma", s))
    matched = match_width("gino", s, target)
    assert abs(parameter_count(build("gino", matched)) - target) < 0.2 * target
    u, _ = far_drift(60)
    w = Windows(ring(), u, lookback=3, horizon=1)
    s = ModelSpec.from_dict({**spec().to_dict(), "channels": w.channels})
    res = train(w, "gino", s, TrainSpec(steps=2, sampler="full", eval_every=0, device="cpu"), tmp_path / "run")
    from roma_core.eval.evaluate import evaluate

    out = evaluate(tmp_path / "run", None, windows=w, max_windows=4, scales=False)
    assert res["steps"] == 2 and np.isfinite(out["rel_l2"])


@pytest.mark.slow
def test_only_the_global_model_forecasts_a_far_field_drift(tmp_path):
    u, far = far_drift()
    w = Windows(ring(), u, lookback=3, horizon=1)
    s = ModelSpec.from_dict({**spec().to_dict(), "channels": w.channels})
    near = torch.zeros(N, dtype=torch.bool)
    near[N // 8: 3 * N // 8] = True                        # the first half's middle, far from the second
    errors = {}
    for name in ("gino", "gnn", "persistence"):
        res = train(w, name, s, TrainSpec(steps=150, lr=1e-2, sampler="walk", roots=8, walk_length=4, windows=8,
                                          eval_every=0, device="cpu", seed=0), tmp_path / name)
        model = res["model"].eval() if name != "persistence" else build(name, s)
        ctx = Context(w, s, torch.device("cpu"), whole_graph=name == "gino")
        starts = w.starts("test")
        with torch.no_grad():
            batch = ctx.batch(starts)
            pred = model(batch).values
        errors[name] = float(((pred - batch.y)[:, near] ** 2).mean() / (batch.y[:, near] ** 2).mean())
    # persistence holds the last (independent) state; the GNN reads a few hops of the first
    # half, which hold nothing of m(t); GINO reads m(t) off the second half
    assert errors["gnn"] > 0.7 and errors["persistence"] > 1.5, errors
    assert errors["gino"] < 0.3, errors
