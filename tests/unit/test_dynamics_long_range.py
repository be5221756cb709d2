"""The long-range power-law term against independent references: an O(N²) direct sum, the
mean-field (complete-graph) model at s = 0, the Gupta–Potters–Ruffo limit for 0 ≤ s < 1,
and what it does (and does not) conserve."""
import functools
import math

import numpy as np
import pytest
import torch

from roma_core.cli import build_parser, main
from roma_core.data import open_trajectory
from roma_core.dynamics import Kuramoto, SocialBurgers, simulate
from roma_core.dynamics.long_range import LongRange
from roma_core.dynamics.systems import make_system
from roma_core.errors import SimulationError, SpecError
from roma_core.graphs import Graph, hyperbolic_graph

FLOOR = 1e-3


def direct_weights(theta, s, radius=None):
    """Dense d_ij^-s with d the angular distance in units of 2π/N (or the H2 distance), floored, 0 on the diagonal."""
    n = len(theta)
    dth = np.abs(theta[:, None] - theta[None, :]) % (2 * math.pi)
    dth = np.minimum(dth, 2 * math.pi - dth)
    if radius is None:
        d = dth * n / (2 * math.pi)
    else:
        r1, r2 = radius[:, None], radius[None, :]
        d = np.arccosh(np.maximum(np.cosh(r1) * np.cosh(r2) - np.sinh(r1) * np.sinh(r2) * np.cos(dth), 1.0))
    w = np.maximum(d, FLOOR) ** (-s)
    np.fill_diagonal(w, 0.0)
    return w


def direct_average(theta, f, s, radius=None):
    w = direct_weights(theta, s, radius)
    return (w @ f) / w.sum(1)[:, None]


def edgeless(theta, radius=None):
    n = len(theta)
    return Graph(np.zeros(n + 1, np.int64), np.zeros(0, np.int64), theta=theta, radius=radius)


@functools.cache
def direct_case(angles: str, s: float):
    """(theta, f, direct average): random angles (N = 4,000, unsorted) or an S1 graph's (N = 3,000)."""
    rng = np.random.default_rng(1)
    theta = rng.uniform(0, 2 * math.pi, 4000) if angles == "random" else hyperbolic_graph(3000, seed=2).theta
    f = np.stack([np.sin(theta + rng.uniform(0, 6, len(theta))), np.cos(2 * theta)], 1)
    return theta, f, direct_average(theta, f, s)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("angles", ["random", "graph"])
def test_matches_direct_sum(angles, dtype):
    for s in (0.5, 1.5, 2.5):
        theta, f, ref = direct_case(angles, s)
        op = LongRange(theta, s, dtype=dtype)
        got = op(torch.as_tensor(f, dtype=dtype)).double().numpy()
        err = np.abs(got - ref).max(0) / np.abs(f).max(0)
        assert err.max() <= 1e-4, (s, err)
        rel = np.linalg.norm(got[:, 1] - ref[:, 1]) / np.linalg.norm(ref[:, 1])
        assert rel <= 1e-4, (s, rel)
    assert op(torch.as_tensor(f[:, 0], dtype=dtype)).shape == (len(theta),)


def test_large_n_against_direct_rows():
    """N = 100,000 (finer levels interpolate across the antipodal kink): 200 rows summed directly."""
    rng = np.random.default_rng(2)
    n = 100_000
    theta = rng.uniform(0, 2 * math.pi, n)
    f = np.stack([np.sin(theta + rng.uniform(0, 6, n)), np.cos(2 * theta)], 1)
    rows = rng.choice(n, 200, replace=False)
    dth = np.abs(theta[rows, None] - theta[None, :]) % (2 * math.pi)
    d = np.minimum(dth, 2 * math.pi - dth) * n / (2 * math.pi)
    for s in (0.5, 2.5):
        w = np.maximum(d, FLOOR) ** (-s)
        w[np.arange(len(rows)), rows] = 0.0
        ref = (w @ f) / w.sum(1)[:, None]
        got = LongRange(theta, s, dtype=torch.float32)(torch.as_tensor(f, dtype=torch.float32)).numpy()[rows]
        assert np.abs(got - ref).max() <= 1e-4 * np.abs(f).max(), s


def test_accuracy_improves_with_order_and_coincident_angles_use_the_floor():
    rng = np.random.default_rng(3)
    theta = rng.uniform(0, 2 * math.pi, 1500)
    theta[10:20] = theta[5]                       # coincident nodes: distance = the floor
    f = rng.standard_normal((1500, 1))
    ref = direct_average(theta, f, 1.5)
    errs = [np.abs(LongRange(theta, 1.5, order=p)(torch.as_tensor(f)).numpy() - ref).max() for p in (3, 5, 7, 9)]
    assert all(b < a / 5 for a, b in zip(errs, errs[1:])), errs
    assert errs[-1] < 1e-6


def test_hyperbolic_distance_matches_direct_sum():
    g = hyperbolic_graph(600, seed=4)
    f = np.stack([np.sin(g.theta), np.cos(g.theta)], 1)
    for s in (0.5, 2.5):
        op = LongRange(g.theta, s, distance="hyperbolic", radius=g.radius, dtype=torch.float32)
        ref = direct_average(g.theta, f, s, g.radius)
        assert np.abs(op(torch.as_tensor(f, dtype=torch.float32)).numpy() - ref).max() <= 1e-5


def test_s_zero_is_the_mean_field_model():
    rng = np.random.default_rng(5)
    n = 600
    theta = rng.uniform(0, 2 * math.pi, n)
    f = rng.standard_normal((n, 2))
    got = LongRange(theta, 0.0)(torch.as_tensor(f)).numpy()
    assert np.abs(got - (f.sum(0) - f) / (n - 1)).max() < 1e-13
    # the whole simulation: long-range term alone at s = 0 against the complete graph's mean-field backend
    i, j = np.triu_indices(n, 1)
    complete = Graph.from_unique_pairs(i, j, n)
    inputs = {"omega": rng.standard_normal(n), "initial": rng.uniform(0, 2 * math.pi, n)}
    kw = dict(t_end=2.0, dt=0.01, save_every=100, dtype=torch.float64, inputs=inputs)
    mf = simulate(Kuramoto(coupling=4.0, alpha=0.0, schedule="constant"), complete, **kw)
    lr = simulate(Kuramoto(coupling=0.0, long_range=4.0, long_range_exponent=0.0, schedule="constant"),
                  edgeless(theta), **kw)
    assert mf.attrs["backend"] == "mean_field"
    assert np.abs(mf["state"].values - lr["state"].values).max() < 1e-10
    assert mf["order_parameter"].values[-1] > 0.3 > mf["order_parameter"].values[0]   # it synchronised


def lorentzian_ring_R(n, s, k_lr, delta, seed=0):
    """Stationary R on an equally spaced ring, long-range coupling only, Lorentzian ω (quantiles, random placement)."""
    rng = np.random.default_rng(seed)
    theta = 2 * math.pi * np.arange(n) / n
    omega = np.clip(delta * np.tan(math.pi * ((np.arange(n) + 0.5) / n - 0.5)), -20, 20)
    spec = Kuramoto(coupling=0.0, long_range=k_lr, long_range_exponent=s, schedule="constant", omega_clip=20.0)
    ds = simulate(spec, edgeless(theta), t_end=20.0, dt=0.05, save_every=10, dtype=torch.float64,
                  inputs={"omega": rng.permutation(omega), "initial": 0.3 * rng.standard_normal(n)})
    r = ds["order_parameter"]
    return float(r.sel(time=slice(12, None)).mean())


def test_gupta_potters_ruffo_limit_for_s_below_one():
    delta, k_lr = 0.5, 4.0
    expected = math.sqrt(1 - 2 * delta / k_lr)
    errs = [abs(lorentzian_ring_R(n, 0.5, k_lr, delta) - expected) for n in (100, 1600)]
    assert errs[1] < errs[0] and errs[1] < 0.005, errs


def test_zero_long_range_leaves_the_run_unchanged(small_graph):
    kw = dict(t_end=0.2, dt=0.01, save_every=10, dtype=torch.float32)
    base = simulate(Kuramoto(), small_graph, **kw)
    off = simulate(Kuramoto(long_range=0.0, long_range_exponent=2.5, long_range_order=3), small_graph, **kw)
    assert np.array_equal(base["state"].values, off["state"].values)
    b = simulate(SocialBurgers(), small_graph, t_end=0.01, dt=1e-3, save_every=5)
    b_off = simulate(SocialBurgers(long_range=0.0, long_range_exponent=0.3), small_graph, t_end=0.01, dt=1e-3,
                     save_every=5)
    assert np.array_equal(b["state"].values, b_off["state"].values)


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_kuramoto_rhs_adds_the_direct_long_range_term(small_graph, backend):
    """In both backends (numba integrates in a permuted node order) the right-hand side is the
    graph terms plus K_lr (cos θ_i S_i − sin θ_i C_i) with S, C the direct sums."""
    spec = Kuramoto(long_range=1.5, long_range_exponent=1.5, schedule="constant")
    local = Kuramoto(schedule="constant")
    dev = torch.device("cpu")
    outs = []
    for sp_ in (spec, local):
        sysm = make_system(sp_, small_graph, dev, torch.float64, backend, 1.0)
        sysm.draw(np.random.default_rng(0), {})
        y = sysm.tensor(sysm.internal(sysm.inputs["initial"]))
        outs.append(sysm.external(sysm.rhs(0.0, y, torch.empty_like(y)).numpy()))
    th = sysm.inputs["initial"]
    m = direct_average(small_graph.theta, np.stack([np.sin(th), np.cos(th)], 1), 1.5)
    expected = outs[1] + 1.5 * (np.cos(th) * m[:, 0] - np.sin(th) * m[:, 1])
    assert np.abs(outs[0] - expected).max() < 1e-4


@pytest.mark.parametrize("exponent", [0.5, 1.5])
@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_burgers_rhs_adds_the_direct_long_range_term(small_graph, backend, exponent):
    """Both backends: the right-hand side with ν_lr is the local one plus ν_lr (F[u]_i − u_i),
    F the Kac-normalised direct sum (sources and advection on, a rough random state)."""
    spec = SocialBurgers(long_range=3.0, long_range_exponent=exponent, sources=5, source_width=0.5)
    local = SocialBurgers(sources=5, source_width=0.5)
    rng = np.random.default_rng(3)
    u = rng.normal(0.2, 0.3, small_graph.num_nodes)
    outs = []
    for sp_ in (spec, local):
        sysm = make_system(sp_, small_graph, torch.device("cpu"), torch.float64, backend, 1.0)
        sysm.draw(np.random.default_rng(0), {"initial": u})
        outs.append(sysm.rhs(0.4, torch.as_tensor(u), torch.empty(len(u), dtype=torch.float64)).numpy())
    expected = outs[1] + 3.0 * (direct_average(small_graph.theta, u[:, None], exponent)[:, 0] - u)
    assert np.abs(outs[0] - expected).max() < 1e-6 * np.abs(expected).max()


def test_burgers_rhs_takes_several_states_at_once(small_graph):
    """The torch backend's (N, k) states, each at its own time, give the k single-state
    right-hand sides; the numba backend refuses them."""
    spec = SocialBurgers(long_range=2.0, long_range_exponent=0.5, sources=8, source_width=0.3)
    sysm = make_system(spec, small_graph, torch.device("cpu"), torch.float64, "torch", 2.0)
    sysm.draw(np.random.default_rng(0), {})
    rng = np.random.default_rng(4)
    y = torch.as_tensor(rng.normal(0.0, 0.5, (small_graph.num_nodes, 3)))
    t = torch.as_tensor(np.sort(sysm.inputs["source_time"][sysm.inputs["source_amplitude"] > 0])[:3])
    both = sysm.rhs(t, y, torch.empty_like(y))
    for c in range(3):
        one = sysm.rhs(float(t[c]), y[:, c].contiguous(), torch.empty(len(y), dtype=torch.float64))
        assert torch.allclose(both[:, c], one, rtol=1e-12, atol=1e-12)
    numba = make_system(spec, small_graph, torch.device("cpu"), torch.float64, "numba", 2.0)
    numba.draw(np.random.default_rng(0), {})
    with pytest.raises(SimulationError, match="torch backend"):
        numba.rhs(0.0, y, torch.empty_like(y))


def test_burgers_long_range_mass_balance():
    """Σ_i (F[u]_i − u_i) = Σ_j u_j (c_j − 1), c_j = Σ_i w_ij / D_i: zero on an equally spaced
    ring (every D_i equal), not zero for random angles (the Kac-normalised term is not symmetric)."""
    rng = np.random.default_rng(6)
    n = 800
    spec = SocialBurgers(advection=0.0, viscosity=0.0, long_range=0.7, long_range_exponent=1.5)
    for theta, conserved in ((2 * math.pi * np.arange(n) / n, True), (np.sort(rng.uniform(0, 2 * math.pi, n)), False)):
        sysm = make_system(spec, edgeless(theta), torch.device("cpu"), torch.float64, "numba", 1.0)
        u = rng.random(n)
        sysm.draw(rng, {"initial": u})
        rate = float(sysm.rhs(0.0, torch.as_tensor(u), torch.empty(n, dtype=torch.float64)).sum())
        w = direct_weights(theta, 1.5)
        expected = 0.7 * float(u @ (w.T @ (1 / w.sum(1)) - 1))
        assert rate == pytest.approx(expected, abs=1e-6 * n)
        assert (abs(rate) < 1e-9 * n) == conserved, rate


def test_errors_say_what_to_fix(small_graph):
    bare = Graph(small_graph.indptr, small_graph.indices)
    with pytest.raises(SimulationError, match="angles"):
        simulate(Kuramoto(long_range=1.0), bare, t_end=0.01, dt=0.01)
    no_radius = Graph(small_graph.indptr, small_graph.indices, theta=small_graph.theta)
    with pytest.raises(SimulationError, match="radii"):
        simulate(Kuramoto(long_range=1.0, long_range_distance="hyperbolic"), no_radius, t_end=0.01, dt=0.01)
    with pytest.raises(SimulationError, match="50,000"):
        LongRange(np.zeros(60_000), 1.0, distance="hyperbolic", radius=np.ones(60_000))
    with pytest.raises(SpecError, match="long_range_exponent"):
        Kuramoto(long_range_exponent=9.0).validate()
    with pytest.raises(SpecError, match="long_range_exponent"):
        SocialBurgers(long_range_exponent=-1.0).validate()


def test_cli_flags_and_stored_spec(tmp_path, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["simulate", "kuramoto", "--help"])
    text = capsys.readouterr().out
    for flag in ("--long-range", "--long-range-exponent", "--long-range-distance", "--long-range-order"):
        assert flag in text
    out = tmp_path / "lr.zarr"
    assert main(["simulate", "kuramoto", "--nodes", "300", "--t-end", "0.05", "--dt", "0.01", "--long-range", "2",
                 "--long-range-exponent", "0.5", "--out", str(out)]) == 0
    stored = Kuramoto.from_json(open_trajectory(out).attrs["spec"])
    assert stored.long_range == 2.0 and stored.long_range_exponent == 0.5
