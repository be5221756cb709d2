"""Evaluation: metrics against hand computations, chunked inference, power-law fits, CLI."""
import json

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from roma_core.cli import main
from roma_core.dynamics import KuramotoSpec, simulate
from roma_core.eval.evaluate import evaluate
from roma_core.eval.metrics import block_order_parameters, order_parameter, relative_l2, relative_l2_per_step
from roma_core.eval.predict import forecast
from roma_core.eval.scaling import fit_power_law
from roma_core.graphs import Graph, hyperbolic_graph
from roma_core.models import build
from roma_core.renorm import Hierarchy
from roma_core.specs import ModelSpec, TrainSpec
from roma_core.train.data import load_windows
from roma_core.train.loop import Context


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    root = tmp_path_factory.mktemp("kuramoto")
    out = []
    for seed in (1, 2):
        g = hyperbolic_graph(150, mean_degree=6, seed=seed)
        simulate(KuramotoSpec(coupling=3.0), g, t_end=6, dt=0.02, save_every=5, seed=seed,
                 out=root / f"k{seed}.zarr")
        out.append(root / f"k{seed}.zarr")
    return out


def test_power_law_fit_recovers_exponent():
    p = np.array([1e3, 3e3, 1e4, 3e4, 1e5])
    exact = fit_power_law(p, 2.0 * p ** -0.3)
    assert exact["alpha"] == pytest.approx(0.3, abs=1e-9) and exact["prefactor"] == pytest.approx(2.0)
    assert exact["alpha_ci"][0] == pytest.approx(0.3, abs=1e-6) and exact["r2"] == pytest.approx(1.0)
    rng = np.random.default_rng(3)
    p = np.geomspace(1e3, 1e6, 12)
    noisy = fit_power_law(p, 2.0 * p ** -0.3 * np.exp(rng.normal(0, 0.05, 12)))
    lo, hi = noisy["alpha_ci"]
    assert lo < 0.3 < hi and hi - lo < 0.1
    assert abs(noisy["alpha"] - 0.3) < 2.5 * noisy["alpha_se"]


def test_metrics_against_hand_computation():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(3, 10, 4, 2))
    p = y + rng.normal(scale=0.1, size=y.shape)
    per = relative_l2_per_step(p, y)
    k = 2
    ref = np.mean([np.linalg.norm(p[b, :, k] - y[b, :, k]) / np.linalg.norm(y[b, :, k]) for b in range(3)])
    assert per[k] == pytest.approx(ref)
    assert relative_l2(p, y) == pytest.approx(np.mean([np.linalg.norm(p[b] - y[b]) / np.linalg.norm(y[b])
                                                       for b in range(3)]))
    theta = np.full((1, 50, 2), 0.7)                          # synchronised: R = 1
    feats = np.stack([np.sin(theta), np.cos(theta)], -1) * 3.0
    assert np.allclose(order_parameter(feats), 1.0)
    theta = np.linspace(0, 2 * np.pi, 50, endpoint=False)[None, :, None].repeat(2, 2)   # splay: R = 0
    assert np.allclose(order_parameter(np.stack([np.sin(theta), np.cos(theta)], -1)), 0.0, atol=1e-12)


def test_block_order_parameters_by_hand():
    rng = np.random.default_rng(0)
    theta = rng.uniform(0, 2 * np.pi, (2, 30, 3))
    theta[:, :10] = 1.2                                        # block 0 synchronised: R = 1
    theta[:, 10:20] = np.linspace(0, 2 * np.pi, 10, endpoint=False)[None, :, None]   # block 1 splay: R = 0
    feats = np.stack([np.sin(theta), np.cos(theta)], -1) * rng.uniform(0.5, 2, (2, 30, 3, 1))
    blocks = sp.csr_array((np.ones(30), (np.arange(30), np.repeat([0, 1, 2], 10))), shape=(30, 3))
    graphs = [Graph.from_edges([], [], n) for n in (30, 3, 1)]
    r, whole = block_order_parameters(feats, Hierarchy(graphs, [blocks, np.ones((3, 1))]), [1, 2])
    assert r.shape == (2, 3, 3) and whole.shape == (2, 1, 3)
    assert np.allclose(r[:, 0], 1) and np.allclose(r[:, 1], 0, atol=1e-12)
    assert np.allclose(r[:, 2], np.abs(np.exp(1j * theta[:, 20:]).mean(1)))
    assert np.allclose(whole[:, 0], order_parameter(feats))


@pytest.mark.parametrize("name", ["roma", "roma_fixed", "gnn", "transformer", "deeponet", "gino"])
def test_whole_graph_inference_equals_one_forward_pass(stores, name):
    """Layer-wise inference (graph layers once over the sparse adjacency, one pool, the
    node-local rest in chunks) against the plain forward pass of one batch of every node
    with its edge index: the same forecast, attention and assignments, for any chunking."""
    spec = ModelSpec(lookback=4, horizon=2, hidden=8, heads=2, pos_dim=2, basis=4, channels=2, supernodes=8, levels=2)
    w = load_windows(stores[0], spec, TrainSpec())
    torch.manual_seed(0)
    model = build(name, spec).eval()
    with torch.no_grad():       # as if trained: zero-initialised maps (decoder branch, ROMA's
        for p in model.parameters():    # cross-scale update) would make every path but one vanish
            p.add_(0.3 * torch.randn_like(p))
    ctx = Context(w, spec, torch.device("cpu"), whole_graph=name == "gino")
    starts = w.starts("test")[:3]
    with torch.no_grad():
        plain = model(ctx.batch(starts))
    seen = []
    for chunk in (7, 40, 10_000):
        f = forecast(model, ctx, starts, chunk_nodes=chunk, progress=lambda done, total: seen.append((done, total)))
        assert np.allclose(f.values, plain.values.numpy(), atol=1e-5), np.abs(f.values - plain.values.numpy()).max()
        assert np.array_equal(f.target, ctx.batch(starts).y.numpy())
        if name.startswith("roma"):
            assert np.allclose(f.attention, plain.attention.numpy(), atol=1e-5)
            assert np.allclose(f.assign0, plain.assign[0].mean(0).numpy(), atol=1e-6)
            assert all(np.allclose(t, p.numpy()) for t, p in zip(f.tables, plain.assign[1:]))
    assert seen[-1] == (3, 3)


@pytest.mark.parametrize("directed", [False, True])
def test_the_adjacency_is_the_edge_index_read_as_messages(directed):
    """Row i of the sparse adjacency holds the nodes whose messages i receives under the
    edge index of a batch of every node (messages flow from its first row to its second),
    for an undirected graph and a directed one."""
    from roma_core.train.sampling import Sampler

    src, dst = np.array([0, 0, 1, 3, 4]), np.array([1, 2, 2, 0, 2])
    sampler = Sampler(Graph.from_edges(src, dst, 5, directed=directed))
    edges = sampler.induced_edges(np.arange(5))
    expected = np.zeros((5, 5), np.float32)
    expected[edges[1], edges[0]] = 1
    assert np.array_equal(sampler.adjacency().to_dense().numpy(), expected)
    assert directed or np.array_equal(expected, expected.T)
    assert expected.sum() == (5 if directed else 10)


def test_whole_graph_passes_group_windows_up_to_a_node_budget(stores, monkeypatch):
    """Windows go through whole-graph passes in groups of at most PASS_NODE_WINDOWS
    node-windows (one window at least); progress moves after each, and the forecast is
    the same however they are grouped."""
    import roma_core.eval.predict as predict_module

    spec = ModelSpec(lookback=4, horizon=2, hidden=8, heads=2, pos_dim=2, basis=4, channels=2, supernodes=8, levels=2)
    w = load_windows(stores[0], spec, TrainSpec())
    model = build("roma", spec).eval()
    ctx = Context(w, spec, torch.device("cpu"))
    starts = w.starts("all")[:5]
    together = forecast(model, ctx, starts)
    monkeypatch.setattr(predict_module, "PASS_NODE_WINDOWS", 2 * w.graph.num_nodes)
    seen = []
    apart = forecast(model, ctx, starts, progress=lambda done, total: seen.append(done))
    assert seen == [2, 4, 5]
    assert np.allclose(together.values, apart.values, atol=1e-6)
    assert np.allclose(together.assign0, apart.assign0, atol=1e-6)


def test_cli_train_evaluate_compare_scaling(stores, tmp_path, capsys):
    a, b = stores
    common = ["--lookback", "4", "--horizon", "2", "--hidden", "8", "--heads", "2", "--supernodes", "8",
              "--levels", "2", "--pos-dim", "2", "--basis", "4", "--roots", "16", "--walk-length", "4",
              "--eval-every", "2", "--checkpoint-every", "2", "--device", "cpu"]
    assert main(["train", "--data", str(a), "--model", "roma", "--task", "both", "--steps", "3",
                 "--out", str(tmp_path / "roma"), *common]) == 0
    assert main(["train", "--data", str(a), "--model", "deeponet", "--steps", "2",
                 "--out", str(tmp_path / "don"), *common]) == 0
    recs = [json.loads(l) for l in (tmp_path / "roma" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in recs if r["split"] == "train"] == [1, 2, 3]
    assert any(r["split"] == "val" for r in recs)
    capsys.readouterr()
    assert main(["evaluate", "--checkpoint", str(tmp_path / "roma"), "--data", str(b),
                 "--out", str(tmp_path / "m.json")]) == 0
    m = json.loads((tmp_path / "m.json").read_text())
    assert m["held_out_graph"] and m["split"] == "all" and len(m["rel_l2_per_step"]) == 2
    assert len(m["attention"]["mean"]) == 3 and sum(m["attention"]["mean"]) == pytest.approx(1, abs=1e-5)
    assert 0 <= m["order_parameter_mae"] < 1
    local = m["local_order_parameter_mae"]     # 150 nodes in blocks of 4: 38 supernodes, then < 16
    assert [r["level"] for r in local] == list(range(1, len(local) + 1)) and local[0]["supernodes"] == 38
    assert all(0 <= r["mae"] < 1 for r in local)
    lean = evaluate(tmp_path / "roma", b, scales=False)       # what compare and scaling ask for
    assert "local_order_parameter_mae" not in lean and lean["rel_l2"] == pytest.approx(m["rel_l2"], rel=1e-6)
    assert main(["compare", str(tmp_path / "roma"), str(tmp_path / "don"), "--data", str(a),
                 "--heldout", str(b), "--out", str(tmp_path / "cmp.json")]) == 0
    rows = {r["model"]: r for r in json.loads((tmp_path / "cmp.json").read_text())}
    assert set(rows) == {"roma", "deeponet", "persistence"}
    assert all(0 <= r["test_r_mae"] < 1 for r in rows.values())
    # persistence error, recomputed from the raw phases of the test span
    w = load_windows(a, ModelSpec(lookback=4, horizon=2), TrainSpec())
    starts = w.starts("test")
    starts = starts[np.unique(np.linspace(0, len(starts) - 1, min(16, len(starts))).astype(int))]
    errs = []
    for s in starts:
        last = w.raw[s + 3]
        fut = w.raw[s + 4:s + 6]
        num = np.sqrt(((np.sin(fut) - np.sin(last)) ** 2 + (np.cos(fut) - np.cos(last)) ** 2).sum())
        errs.append(num / np.sqrt(fut.size))
    assert rows["persistence"]["test_rel_l2"] == pytest.approx(np.mean(errs), rel=1e-4)
    assert "roma" in capsys.readouterr().out
    assert main(["scaling", "--data", str(a), "--heldout", str(b), "--models", "deeponet", "--sizes", "4,8,12",
                 "--steps", "2", "--out", str(tmp_path / "sc"), *common[:4], *common[6:]]) == 0
    sc = json.loads((tmp_path / "sc" / "scaling.json").read_text())
    assert [(r["model"], r["rung"], r["seed"]) for r in sc["runs"]] == [("deeponet", w, 0) for w in (4, 8, 12)]
    assert {"alpha", "alpha_ci", "points"} <= set(sc["fits"]["test"]["models"]["deeponet"])
    assert "deeponet" in sc["fits"]["heldout"]["models"]


def test_cli_reports_bad_checkpoint(tmp_path, capsys):
    assert main(["evaluate", "--checkpoint", str(tmp_path), "--data", str(tmp_path / "x.zarr")]) == 2
    assert "no checkpoint" in capsys.readouterr().err


def test_forecast_run_gives_full_graph_hierarchy(stores, tmp_path):
    from roma_core.eval import forecast_run
    from roma_core.renorm import Hierarchy
    from roma_core.train import train

    a = stores[0]
    spec = ModelSpec(lookback=4, horizon=2, hidden=8, heads=2, pos_dim=2, basis=4, supernodes=8, levels=2)
    tspec = TrainSpec(steps=2, roots=16, walk_length=4, eval_every=0, device="cpu")
    train(load_windows(a, spec, tspec), "roma", spec, tspec, tmp_path / "r")
    f, hier, ctx = forecast_run(tmp_path / "r", a)
    n = ctx.windows.graph.num_nodes
    assert f.values.shape == (1, n, 2, 2) and f.attention.shape == (1, n, 2, 3)
    assert isinstance(hier, Hierarchy) and hier.sizes == [n, 8, 4]
    assert np.allclose(np.asarray(hier.assign[0].sum(axis=1)).ravel(), 1.0)


def test_shipped_assets_match_manifest_and_load():
    """assets/: sha256 of every file as in the manifest; the checkpoint loads and forecasts."""
    import hashlib
    from pathlib import Path

    from roma_core.eval import forecast_run

    root = Path(__file__).resolve().parents[2]
    man = json.loads((root / "assets" / "manifest.json").read_text())
    assert man["total_bytes"] < 30 * 2 ** 20
    for asset in man["assets"]:
        for rel, digest in asset["sha256"].items():
            assert hashlib.sha256((root / rel).read_bytes()).hexdigest() == digest, rel
    for run, data in (("roma_kuramoto_2k", "kuramoto_2k.zarr"), ("roma_kuramoto_lr_4k", "kuramoto_lr_4k.zarr")):
        f, hier, ctx = forecast_run(root / "assets" / run, root / "assets" / data)
        assert f.values.shape == f.target.shape and hier.sizes[1:] == [32, 16, 8]
        assert relative_l2(f.values, f.target) < 0.5
        assert f.attention is not None and f.attention[..., 1:].sum(-1).mean() > 0.05   # the coarse scales are read


@pytest.mark.parametrize("run, nodes, spec", [
    ("roma_kuramoto_2k", 3000, dict(noise=0.1)),
    ("roma_kuramoto_lr_4k", 2500, dict(noise=0.02, long_range=2.0, long_range_exponent=1.5)),
])
def test_shipped_model_beats_persistence_on_a_new_graph_of_its_family(tmp_path, run, nodes, spec):
    """As a new user would try it: a graph of the family with new seeds, the training
    data's dynamics, frame spacing and noise; each shipped ROMA must beat persistence there."""
    from pathlib import Path

    from roma_core.dynamics import KuramotoSpec, simulate
    from roma_core.eval.evaluate import evaluate
    from roma_core.graphs import hyperbolic_graph

    root = Path(__file__).resolve().parents[2]
    g = hyperbolic_graph(nodes, mean_degree=10, seed=101)
    simulate(KuramotoSpec(**spec), g, t_end=40.0, dt=0.01, save_every=10, seed=101, device="cpu",
             out=tmp_path / "new.zarr")
    model = evaluate(root / "assets" / run, tmp_path / "new.zarr", scales=False)
    floor = evaluate(root / "assets" / run, tmp_path / "new.zarr", scales=False, model_name="persistence")
    assert model["held_out_graph"] and model["windows"] == floor["windows"] == 16
    assert model["rel_l2"] < 0.95 * floor["rel_l2"], (model["rel_l2"], floor["rel_l2"])


def test_shipped_graph_is_what_regenerate_sh_generates():
    """assets/regenerate.sh rebuilds the shipped graph (roma simulate --nodes 2000
    --mean-degree 10 --graph-seed 1): a generator change that alters it must regenerate assets/."""
    from pathlib import Path

    from roma_core.graphs import Graph, hyperbolic_graph

    root = Path(__file__).resolve().parents[2]
    assert "--nodes 2000 --mean-degree 10 --graph-seed 1" in (root / "assets" / "regenerate.sh").read_text()
    shipped = Graph.load(root / "assets" / "kuramoto_2k.zarr")
    assert shipped.fingerprint() == hyperbolic_graph(2000, mean_degree=10, seed=1).fingerprint()


@pytest.mark.parametrize("name", ["roma", "gino"])
def test_whole_graph_inference_carries_the_learned_scale(stores, name):
    """A model with a learned predictive distribution: whole-graph inference gives, beside the
    forecast, the same predictive scale as one forward pass over every node."""
    spec = ModelSpec(lookback=4, horizon=2, hidden=8, heads=2, pos_dim=2, basis=4, channels=2, supernodes=8, levels=2,
                     predictive="vbll")
    w = load_windows(stores[0], spec, TrainSpec())
    torch.manual_seed(0)
    model = build(name, spec).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    ctx = Context(w, spec, torch.device("cpu"), whole_graph=name == "gino")
    starts = w.starts("test")[:2]
    with torch.no_grad():
        plain = model(ctx.batch(starts))
    f = forecast(model, ctx, starts, chunk_nodes=7)
    assert f.scale.shape == f.values.shape[:3] + (1,)          # a phase model: the turning angle's
    assert np.allclose(f.scale, plain.scale.numpy(), rtol=1e-4)
    assert forecast(build("roma", ModelSpec.from_dict({**spec.to_dict(), "predictive": "point"})).eval(),
                    ctx, starts).scale is None
