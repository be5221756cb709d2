"""ROMA parts and baselines: geometry against closed forms, shapes, gradients, invariants."""
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from roma_core.errors import SpecError
from roma_core.graphs import hyperbolic_graph
from roma_core.models import Batch, build, match_width, parameter_count
from roma_core.models import hyperbolic as H
from roma_core.models.encodings import laplacian_pe
from roma_core.specs import ModelSpec

NAMES = ["roma", "roma_fixed", "deeponet", "gnn", "transformer", "persistence"]


def ring_batch(n=40, b=2, spec=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    spec = spec or tiny_spec()
    src = torch.arange(n)
    dst = (src + 1) % n
    ei = torch.cat([torch.stack([src, dst]), torch.stack([dst, src])], 1)
    theta = 2 * math.pi * torch.arange(n) / n
    return Batch(x=torch.randn(b, n, spec.lookback, spec.channels, generator=g), edge_index=ei, theta=theta,
                 kappa=torch.zeros(n), pe=torch.randn(n, spec.pos_dim, generator=g),
                 prior=(torch.arange(n) * spec.supernodes // n),
                 y=torch.randn(b, n, spec.horizon, spec.channels, generator=g),
                 field=torch.randn(b, spec.supernodes, spec.lookback, spec.channels, generator=g),
                 near=torch.randn(b, n, spec.near_field, spec.lookback, spec.channels, generator=g))


def tiny_spec(**kw):
    base = dict(lookback=6, horizon=3, channels=2, hidden=16, heads=4, supernodes=8, levels=3, pos_dim=4, basis=8)
    return ModelSpec(**{**base, **kw})


# ---------------------------------------------------------------- geometry
def test_poincare_distance_matches_closed_form():
    torch.manual_seed(0)
    x = torch.rand(50, 3) * 0.5
    y = torch.rand(50, 3) * 0.5
    x2, y2 = (x * x).sum(-1), (y * y).sum(-1)
    ref = torch.acosh(1 + 2 * ((x - y) ** 2).sum(-1) / ((1 - x2) * (1 - y2)))   # c = 1 textbook formula
    assert torch.allclose(H.distance(x, y, 1.0), ref, atol=1e-4)
    # distance to the origin: 2/sqrt(c) artanh(sqrt(c) |x|) for another curvature
    c = 0.125
    p = torch.rand(20, 4)
    assert torch.allclose(H.distance(torch.zeros_like(p), p, c),
                          2 / math.sqrt(c) * torch.atanh(math.sqrt(c) * p.norm(dim=-1)), atol=1e-4)


def test_exp_log_inverse_and_mobius_identities():
    torch.manual_seed(1)
    c = 0.5
    v = torch.randn(30, 5)
    assert torch.allclose(H.logmap0(H.expmap0(v, c), c), v, atol=1e-4)
    x = H.expmap0(torch.randn(30, 5) * 0.3, c)
    assert torch.allclose(H.mobius_add(x, torch.zeros_like(x), c), x, atol=1e-6)
    assert torch.allclose(H.mobius_add(-x, x, c), torch.zeros_like(x), atol=1e-6)
    assert (H.project(H.expmap0(v * 100, c), c).norm(dim=-1) < 1 / math.sqrt(c)).all()


def test_tangent_bias_equals_the_composed_maps():
    """The closed-form Möbius bias equals exp_0 -> project -> ⊕ exp_0(b) -> project -> log_0,
    also where the projections clip (large |u|)."""
    torch.manual_seed(2)
    for c in (0.125, 1.0):
        for scale in (0.1, 1.0, 50.0):
            u = torch.randn(3, 20, 8, dtype=torch.double) * scale
            b = torch.randn(8, dtype=torch.double) * 0.5
            ref = H.logmap0(H.project(H.mobius_add(H.project(H.expmap0(u, c), c), H.expmap0(b, c), c), c), c)
            assert torch.allclose(H.tangent_bias(u, b, c), ref, atol=1e-9)


# ---------------------------------------------------------------- encodings
def test_laplacian_pe_exact_and_multilevel_agree_with_spectrum(tmp_path, monkeypatch):
    monkeypatch.setenv("ROMA_CACHE", str(tmp_path))
    g = hyperbolic_graph(3000, mean_degree=10, seed=3, largest_component=True)
    lap = g.laplacian("normalized")
    ref_vals = np.sort(np.linalg.eigvalsh(lap.toarray()))[1:6]                # dense reference
    rq = lambda x: np.sort([(v @ (lap @ v)) / (v @ v) for v in x.T])
    exact = laplacian_pe(g, 5)
    assert exact.shape == (g.num_nodes, 5) and exact.dtype == np.float32
    assert np.allclose(rq(exact), ref_vals, rtol=1e-3)
    multi = laplacian_pe(g, 5, exact_below=100, coarse_size=300)
    assert np.allclose(rq(multi), ref_vals, rtol=0.05)
    # the multilevel space lies inside the exact space of one more eigenvector (near-degenerate tail)
    q1, _ = np.linalg.qr(laplacian_pe(g, 6))
    q2, _ = np.linalg.qr(multi)
    assert np.linalg.svd(q1.T @ q2, compute_uv=False).min() > 0.95
    assert list((tmp_path / "encodings").glob("*.npy")), "encodings are cached on disk"
    # another two-level setting is another result, not the cached one
    rough = laplacian_pe(g, 5, exact_below=100, coarse_size=300, iterations=1)
    assert not np.allclose(rough, multi)
    assert np.array_equal(laplacian_pe(g, 5, exact_below=100, coarse_size=300), multi)


def test_multiscale_attention_needs_whole_heads():
    from roma_core.models.attention import MultiscaleAttention

    with pytest.raises(ValueError, match="multiple of heads"):
        MultiscaleAttention(30, 4, 3)
    assert MultiscaleAttention(32, 4, 3).dh == 8


# ---------------------------------------------------------------- models
@pytest.mark.parametrize("name", NAMES)
def test_shapes_and_gradients(name):
    spec = tiny_spec()
    torch.manual_seed(0)
    model = build(name, spec)
    batch = ring_batch(spec=spec)
    col = torch.tensor([[0, 1, 0], [1, 5, 2], [0, 7, 1]])
    pred = model(batch, collocation=None if name == "persistence" else col)
    assert pred.values.shape == (2, 40, spec.horizon, spec.channels)
    if name == "persistence":
        assert parameter_count(model) == 0
        assert torch.equal(pred.values[:, :, -1], batch.x[:, :, -1])
        return
    assert parameter_count(model) > 0
    loss = ((pred.values - batch.y) ** 2).mean() + sum(pred.aux_losses.values())
    loss.backward()
    missing = [k for k, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, f"parameters without finite gradients: {missing}"


@pytest.mark.parametrize("manifold", ["poincare", "euclidean"])
def test_roma_attention_and_assignments(manifold):
    spec = tiny_spec(manifold=manifold)
    model = build("roma", spec)
    pred = model(ring_batch(spec=spec))
    a = pred.attention
    assert a.shape == (2, 40, spec.heads, spec.levels + 1)
    assert torch.allclose(a.sum(-1), torch.ones(a.shape[:-1]), atol=1e-5) and (a >= 0).all()
    sizes = [40, 8, 4, 2]
    assert [tuple(s.shape[-2:]) for s in pred.assign] == list(zip(sizes[:-1], sizes[1:]))
    for s in pred.assign:
        assert torch.allclose(s.sum(-1), torch.ones(s.shape[:-1]), atol=1e-5) and (s >= 0).all()
    # at initialisation the prior (geometric blocks) dominates every node's row
    assert (pred.assign[0].argmax(-1)[0] == torch.arange(40) * 8 // 40).all()
    assert set(pred.aux_losses) >= {"entropy", "link", "balance", "prior"}


def test_roma_starts_as_its_local_model():
    """With the cross-scale projection at zero (its initialisation), ROMA's node summary does
    not depend on the supernode tokens: changing them leaves the output unchanged."""
    spec = tiny_spec()
    torch.manual_seed(0)
    model = build("roma", spec)
    batch = ring_batch(spec=spec)
    z = model.encoder(model.embed(batch), batch.edge_index)
    tokens, _, _ = model.rg(z, batch.prior)
    h1, _ = model.attn([z] + tokens)
    h2, w2 = model.attn([z] + [torch.randn_like(t) for t in tokens])
    assert torch.allclose(h1, h2, atol=1e-6)
    assert torch.allclose(w2.sum(-1), torch.ones(w2.shape[:-1]), atol=1e-5)


def test_learned_hierarchy_is_a_hierarchy(small_graph):
    from roma_core.renorm import Hierarchy
    spec = tiny_spec()
    model = build("roma", spec)
    pred = model(ring_batch(spec=spec))
    sub = small_graph.subgraph(np.arange(40))
    h = pred.hierarchy(sub)
    assert isinstance(h, Hierarchy)
    assert h.sizes == [40, 8, 4, 2]
    assert np.array_equal(h.membership(1), np.arange(40) * 8 // 40)


def test_effective_residual_matches_finite_differences():
    """The autograd PDE residual equals one built from finite differences of the decoder."""
    torch.manual_seed(0)
    spec = tiny_spec(channels=1)
    model = build("deeponet", spec).double()
    dec, pde = model.decoder, model.pde
    with torch.no_grad():
        pde.F.fill_(0.7)
        pde.log_nu.fill_(math.log(0.05))
    m = 5
    coef = torch.randn(m, spec.basis, 1, dtype=torch.double)
    last = torch.randn(m, 1, dtype=torch.double)
    s, th, k = torch.rand(m, dtype=torch.double), torch.rand(m, dtype=torch.double) * 6, torch.zeros(m, dtype=torch.double)
    got = pde(dec, coef, last, th, k, s)
    u = lambda s_, t_: dec.evaluate(coef, last, s_, t_, k)[:, 0]
    h = 1e-4
    with torch.no_grad():
        us = (u(s + h, th) - u(s - h, th)) / (2 * h)
        ut = (u(s, th + h) - u(s, th - h)) / (2 * h)
        utt = (u(s, th + h) - 2 * u(s, th) + u(s, th - h)) / h ** 2
        r = us + 0.7 * u(s, th) * ut - 0.05 * utt
    assert torch.allclose(got, (r ** 2).mean(), rtol=1e-4)


def test_build_rejects_unknown_and_bad_specs():
    with pytest.raises(SpecError, match="unknown model"):
        build("resnet")
    with pytest.raises(SpecError, match="divisible"):
        ModelSpec(hidden=10, heads=4).validate()


def test_match_width_brings_counts_together():
    spec = tiny_spec()
    target = parameter_count(build("roma", spec))
    for name in ("deeponet", "gnn", "transformer"):
        count = parameter_count(build(name, match_width(name, spec, target)))
        assert abs(count - target) / target < 0.25


def test_fixed_hierarchy_is_the_prior():
    """The ablation's assignments are the prior's hard blocks, with nothing to learn in them."""
    spec = tiny_spec()
    pred = build("roma_fixed", spec)(ring_batch(spec=spec))
    s0 = pred.assign[0]
    assert torch.equal(s0.argmax(-1)[0], torch.arange(40) * 8 // 40) and torch.equal(s0.max(-1).values, torch.ones(2, 40))
    assert torch.equal(pred.assign[1].argmax(-1), torch.arange(8) // 2)
    assert not set(pred.aux_losses) & {"entropy", "link", "balance", "prior"}


@pytest.mark.parametrize("name", ["roma", "roma_fixed", "gnn", "transformer"])
def test_sampled_batch_sees_the_far_field_only_through_roma(name):
    """Changing the states of nodes outside a sampled batch changes ROMA's forecast for the
    batch's nodes (through the supernodes' far field), never a neighbourhood model's."""
    from roma_core.data.windows import Windows
    from roma_core.train.loop import Context

    g = hyperbolic_graph(600, mean_degree=8, seed=1)
    rng = np.random.default_rng(0)
    states = rng.uniform(0, 2 * math.pi, (30, g.num_nodes))
    spec = tiny_spec(supernodes=8, pos_dim=0)
    torch.manual_seed(0)
    model = build(name, spec)
    torch.nn.init.normal_(model.decoder.branch.weight, std=0.3)   # starts at zero (persistence)
    if name.startswith("roma"):      # so does the cross-scale projection
        torch.nn.init.normal_(model.attn.out.weight, std=0.3)
    nodes = np.arange(100, 160)                   # a compact batch; 440 nodes lie outside it

    def forecast(st):
        ctx = Context(Windows(g, st, lookback=6, horizon=3, features="phase"), spec, torch.device("cpu"))
        with torch.no_grad():
            return model(ctx.batch(np.array([0, 5]), nodes)).values

    far = states.copy()
    outside = np.setdiff1d(np.arange(g.num_nodes), nodes)
    far[:, outside] = rng.uniform(0, 2 * math.pi, (30, len(outside)))
    change = (forecast(states) - forecast(far)).abs().max().item()
    assert (change > 1e-3) if name.startswith("roma") else (change == 0.0)


def test_edges_of_lists_every_in_batch_neighbour():
    """(point, edge) pairs: every edge out of each point, repeated points included."""
    from roma_core.models.decoder import edges_of

    ei = torch.tensor([[3, 1, 0, 3, 2, 1, 3], [0, 2, 1, 2, 1, 0, 1]])         # in no particular order
    point, edge = edges_of(torch.tensor([3, 1, 4, 1]), ei, 5)
    got = sorted(zip(point.tolist(), ei[1, edge].tolist()))
    assert got == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 2), (3, 0), (3, 2)]


def test_residual_across_edges_is_the_graph_burgers_form_on_neighbouring_forecasts():
    """The stencil residual equals the simulator's graph Burgers form (upwind advection and
    diffusion over the angular gaps to the graph neighbours, gaps in units of the median
    edge gap and floored) computed by hand from the decoder's forecasts, with the time
    derivative by central differences, the near field's relaxation at every scale, and the
    coefficients fitted by scipy's bounded least squares."""
    from scipy.optimize import lsq_linear

    torch.manual_seed(0)
    spec = tiny_spec(channels=1)
    model = build("deeponet", spec).double()
    torch.nn.init.normal_(model.decoder.branch.weight, std=0.5)
    torch.nn.init.normal_(model.decoder.bias, std=0.5)
    n = 30
    batch = ring_batch(n=n, b=2, spec=spec)
    extra = torch.tensor([[0, 7, 12], [15, 21, 3]])                  # chords: nodes with 3 neighbours
    batch.edge_index = torch.cat([batch.edge_index, extra, extra.flip(0)], 1)
    batch.theta = torch.rand(n) * 2 * math.pi                       # angles in no particular node order
    batch.theta[4] = batch.theta[3] + 1e-6                          # a gap under the floor
    for k, v in vars(batch).items():
        if isinstance(v, torch.Tensor) and v.is_floating_point():
            setattr(batch, k, v.double())
    col = torch.tensor([[0, 3, 0], [1, 17, 2], [1, 7, 1], [0, 4, 2], [1, 0, 0]])
    got = model(batch, collocation=col, residual="stencil").aux_losses["effective"]

    h = model.summarize(batch)[0]
    coef = model.decoder.coefficients(h)
    wrap = lambda a: (a + math.pi) % (2 * math.pi) - math.pi
    src, dst = batch.edge_index.tolist()
    scale = float(torch.tensor([abs(wrap(float(batch.theta[j] - batch.theta[i]))) for i, j in zip(src, dst)]).median())
    u = lambda b, j, s_: float(model.decoder.evaluate(coef[b, j], batch.x[b, j, -1], torch.tensor(s_, dtype=torch.double),
                                                      batch.theta[j], batch.kappa[j])[0])
    rows = []
    for b, i, k in col.tolist():
        s = (k + 1) / spec.horizon
        ui, eps = u(b, i, s), 1e-5
        us = (u(b, i, s + eps) - u(b, i, s - eps)) / (2 * eps)
        nbs = [j for a, j in zip(src, dst) if a == i]
        adv = dif = 0.0
        for j in nbs:
            d = wrap(float(batch.theta[j] - batch.theta[i]))
            hh = max(abs(d) / scale, 0.2)
            du = (u(b, j, s) - ui) / len(nbs)
            dif += du / hh ** 2
            if (ui > 0 and d < 0) or (ui < 0 and d > 0):
                adv += du / (math.copysign(1, d) * hh)
        near = [float(batch.near[b, i, k_, -1, 0]) - ui for k_ in range(batch.near.shape[2])]
        rows.append((us, [-ui * adv, dif] + near))
    us = np.array([r[0] for r in rows])
    X = np.array([r[1] for r in rows])
    coef = lsq_linear(X, us, bounds=([-np.inf] + [0] * (X.shape[1] - 1), np.inf), tol=1e-12).x
    want = np.mean((us - X @ coef) ** 2)
    assert want > 1e-8 and abs(float(got) - want) <= 1e-6 * want


def test_fit_equation_is_bounded_least_squares():
    """Exact data give their coefficients back (626 for an unbounded one, as the advection's
    are in the stencil's units); with coefficients held ≥ 0 the fit is scipy's bounded
    least squares."""
    from scipy.optimize import lsq_linear

    from roma_core.models.decoder import fit_equation

    g = torch.Generator().manual_seed(0)
    X = torch.randn(300, 1, 4, generator=g, dtype=torch.double)
    truth = torch.tensor([-626.0, 10.9, 0.5, 3.0], dtype=torch.double)
    got = fit_equation(X @ truth, X, [False, True, True, True])
    assert torch.allclose(got, truth, rtol=1e-10)
    y = X @ torch.tensor([1.0, -2.0, 0.7, -0.3], dtype=torch.double) + 0.1 * torch.randn(300, 1, generator=g, dtype=torch.double)
    got = fit_equation(y, X, [False, True, True, True])
    want = lsq_linear(X[:, 0].numpy(), y[:, 0].numpy(), bounds=([-np.inf, 0, 0, 0], np.inf)).x
    assert (got[1:] >= 0).all() and np.allclose(got.numpy(), want, atol=1e-8)


def test_residual_across_edges_has_finite_gradients_when_neighbours_share_an_angle():
    """Two coupled nodes at the same angle (float32 angles of close nodes collide) leave the
    residual and every gradient finite."""
    torch.manual_seed(0)
    spec = tiny_spec(channels=1)
    model = build("deeponet", spec)
    torch.nn.init.normal_(model.decoder.branch.weight, std=0.5)
    batch = ring_batch(n=20, b=2, spec=spec)
    batch.theta[1] = batch.theta[0]
    col = torch.tensor([[0, 0, 0], [1, 1, 2], [0, 2, 1]])
    loss = model(batch, collocation=col, residual="stencil").aux_losses["effective"]
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_cli_model_names_are_the_registry():
    """The CLI lists the models without importing torch; the list must stay the registry's."""
    from roma_core.cli.train import MODEL_NAMES
    from roma_core.models import MODELS

    assert MODEL_NAMES == list(MODELS)


def test_near_field_is_the_whole_graphs_angular_window_mean():
    """Batch.near: for a node, the mean state of the fine angular blocks within r of its own,
    over the whole graph (a direct sum over the angularly sorted nodes as the reference)."""
    from roma_core.data.windows import NEAR_BLOCK, Windows, near_radii
    from roma_core.train.loop import Context

    g = hyperbolic_graph(203, mean_degree=6, seed=3)
    rng = np.random.default_rng(1)
    states = rng.normal(size=(12, g.num_nodes))
    spec = tiny_spec(channels=1, supernodes=8, pos_dim=0, lookback=3, horizon=2, near_field=3)
    w = Windows(g, states, lookback=3, horizon=2, val_fraction=0, test_fraction=0)
    ctx = Context(w, spec, torch.device("cpu"))
    nodes = np.array([0, 17, 150])
    batch = ctx.batch(np.array([0, 4]), nodes)
    assert batch.near.shape == (2, 3, 3, 3, 1)
    feats = w.transform(states)[..., 0]                          # (T, N)
    order = np.argsort(g.theta, kind="stable")
    rank = np.argsort(order)
    count = -(-g.num_nodes // NEAR_BLOCK)
    blocks = [order[k * NEAR_BLOCK:(k + 1) * NEAR_BLOCK] for k in range(count)]
    for bi, start in enumerate((0, 4)):
        for ni, node in enumerate(nodes):
            own = rank[node] // NEAR_BLOCK
            for si, r in enumerate(near_radii(3)):
                members = [blocks[(own + o) % count] for o in range(-r, r + 1)]
                want = np.mean([feats[start:start + 3, m].mean(1) for m in members], 0)
                assert np.allclose(batch.near[bi, ni, si, :, 0].numpy(), want, atol=1e-5)


@pytest.mark.parametrize("name", ["roma", "roma_fixed", "deeponet", "gnn", "transformer"])
def test_forward_traces_as_one_graph(name):
    """torch.compile sees a model's forward pass whole: no graph break (a param attribute read
    in forward made two graphs; on a GPU every break costs launches and a host round trip)."""
    torch.manual_seed(0)
    model = build(name, tiny_spec())
    explained = torch._dynamo.explain(model)(ring_batch())
    assert (explained.graph_count, explained.graph_break_count) == (1, 0), explained.break_reasons


@pytest.mark.parametrize("name", ["roma", "roma_fixed"])
def test_supernode_tokens_without_identity(name):
    """supernode_identity off: no per-supernode embedding or block-angle map; the model still
    trains (finite gradients on every parameter the forecast uses)."""
    spec = tiny_spec(supernode_identity=False)
    with_id, without = build(name, tiny_spec()), build(name, spec)
    sizes = with_id.sizes
    d = spec.hidden
    assert parameter_count(with_id) - parameter_count(without) == sum(sizes) * d + \
        with_id.rg.position.weight.numel() + d
    assert not hasattr(without.rg, "embed") and not hasattr(without.rg, "position")
    batch = ring_batch(spec=spec)
    pred = without(batch)
    loss = ((pred.values - batch.y) ** 2).mean() + sum(pred.aux_losses.values())
    loss.backward()
    grads = {n: p.grad for n, p in without.named_parameters() if not n.startswith("pde.")}   # the PDE's: effective task
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())


def test_transformer_checkpoints_from_before_the_shared_layer_still_load():
    """State dicts naming the layer's parts ``attn.*``, ``norm.*``, ``ff.*`` (before it became
    a NeighbourAttention) load into today's transformer and give the same forecast."""
    spec = tiny_spec()
    torch.manual_seed(0)
    model = build("transformer", spec)
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.3)
    old = {}
    for key, value in model.state_dict().items():
        if key.startswith("attn."):
            key = key[len("attn."):] if key.split(".")[1] in ("norm", "ff") else key.replace("attn.attn.", "attn.")
        old[key] = value
    assert "norm.weight" in old and "attn.lin_query.weight" in old and not any(k.startswith("attn.attn") for k in old)
    again = build("transformer", spec)
    again.load_state_dict(old)
    batch = ring_batch(spec=spec)
    with torch.no_grad():
        assert torch.equal(model(batch).values, again(batch).values)


@pytest.mark.parametrize("name", ["roma", "gnn", "transformer"])
def test_a_sparse_adjacency_reads_the_graph_as_the_edge_index_does(name):
    """The graph layers multiply by the sparse adjacency in whole-graph inference and
    gather over the edge index in training: the same node tokens, on a ring with chords
    (nodes of degree 2 and 3)."""
    spec = tiny_spec(pos_dim=0, near_field=0)
    torch.manual_seed(0)
    model = build(name, spec).eval()
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.3)
    batch = ring_batch(n=40, b=2, spec=spec)
    chords = torch.tensor([[0, 7, 12], [15, 21, 3]])
    batch.edge_index = torch.cat([batch.edge_index, chords, chords.flip(0)], 1)
    adjacency = torch.sparse_coo_tensor(batch.edge_index.flip(0), torch.ones(batch.edge_index.shape[1]),
                                        (40, 40)).to_sparse_csr()
    with torch.no_grad():
        gathered = model.node_level(batch)
        multiplied = model.node_level(replace(batch, edge_index=adjacency))
    assert torch.allclose(gathered, multiplied, atol=1e-5)
    assert (gathered - model.node_level(replace(batch, edge_index=batch.edge_index[:, :80]))).abs().max() > 1e-3
