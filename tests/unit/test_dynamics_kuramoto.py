"""Kuramoto dynamics against independent references: the K = 0 solution, a high-accuracy
scipy solve of the same ODE, and the mean-field theory of the complete graph."""
import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from scipy.integrate import solve_ivp

from roma_core.dynamics import Kuramoto, simulate
from roma_core.graphs import Graph, hyperbolic_graph


def complete_graph(n, weights=None):
    i, j = np.triu_indices(n, 1)
    return Graph.from_unique_pairs(i, j, n, weights)


def test_zero_coupling_is_free_rotation(small_graph):
    spec = Kuramoto(coupling=0.0, schedule="constant")
    ds = simulate(spec, small_graph, t_end=2.0, dt=0.01, save_every=50, dtype=torch.float64)
    theta0, omega = ds["initial"].values, ds["omega"].values
    expected = theta0[None, :] + omega[None, :] * ds["time"].values[:, None]
    assert np.max(np.abs(ds["state"].values - expected)) < 1e-9
    # drawn inputs: ω ~ N(0,1) clipped to ±5 and centred; θ(0) ~ N(0, 5²)
    assert abs(omega.mean()) < 1e-12 and np.abs(omega).max() <= 5 + 1e-9
    assert 0.9 < omega.std() < 1.1 and 4.5 < theta0.std() < 5.5
    assert ds["state"].dims == ("time", "node") and ds.sizes["time"] == 5


def test_matches_scipy_dop853_with_modulated_coupling():
    g = hyperbolic_graph(500, mean_degree=8, gamma=2.7, beta=2.0, seed=3)
    spec = Kuramoto(coupling=5.0, schedule="modulated", alpha=0.5)
    ds = simulate(spec, g, t_end=5.0, dt=1e-3, save_every=5000, dtype=torch.float64, method="rk4")

    # independent reference: W = D_w^-1 A diag(k^α), K(t) written out from docs/science.md §2.1
    a = sp.csr_array((np.ones(g.nnz), g.indices, g.indptr), shape=(500, 500))
    w = np.sqrt(g.degree.astype(float))
    norm = a @ w
    W = sp.diags_array(np.divide(1.0, norm, out=np.zeros(500), where=norm > 0)) @ a @ sp.diags_array(w)
    omega = ds["omega"].values

    def K(t):
        phi = math.pi * 1.0 * t / 5.0
        return 5.0 * (0.5 + 0.5 * math.sin(phi) ** 2 * (0.5 * abs(math.cos(10 * phi)) ** 10 + 0.5))

    def f(t, th):
        s, c = np.sin(th), np.cos(th)
        return omega + K(t) * (c * (W @ s) - s * (W @ c))

    ref = solve_ivp(f, (0, 5), ds["initial"].values, method="DOP853", rtol=1e-10, atol=1e-10)
    assert ref.success
    err = np.max(np.abs(ds["state"].values[-1] - ref.y[:, -1]))
    assert err <= 1e-6, err
    assert np.ptp(ds["state"].values[-1] - ds["initial"].values) > 1  # the coupling did something
    assert ds["coupling"].values[-1] == pytest.approx(K(5.0))
    assert ds.attrs["coupling_period"] == 5.0


def _stationary_r(n, k, seed, t_end=100.0):
    spec = Kuramoto(coupling=k, schedule="constant", omega_dist="lorentzian", omega_scale=0.5,
                    initial="uniform", alpha=0.0)
    ds = simulate(spec, complete_graph(n), t_end=t_end, dt=0.05, save_every=10, seed=seed,
                  dtype=torch.float64)
    assert ds.attrs["backend"] == "mean_field"
    return float(ds["order_parameter"].sel(time=slice(t_end / 2, None)).mean())


def test_complete_graph_lorentzian_order_parameter():
    # above K_c = 2Δ = 1: R = sqrt(1 − 2Δ/K)
    r = _stationary_r(2000, 2.0, seed=0)
    assert abs(r - math.sqrt(1 - 2 * 0.5 / 2.0)) < 0.03
    # below K_c: incoherent, R = O(N^-1/2)
    small, large = _stationary_r(500, 0.5, seed=1), _stationary_r(2000, 0.5, seed=1)
    for n, r in ((500, small), (2000, large)):
        assert 0.2 < r * math.sqrt(n) < 3.0, (n, r)
    assert 1.3 < small / large < 3.2


def test_mean_field_shortcut_is_the_same_equation():
    n = 40
    spec = Kuramoto(coupling=3.0, schedule="modulated", alpha=0.5)
    mean_field = simulate(spec, complete_graph(n), t_end=1.0, dt=0.01, save_every=100, dtype=torch.float64)
    i, j = np.triu_indices(n, 1)   # unit weights: same graph, but the CSR kernel runs
    csr = simulate(spec, complete_graph(n, np.ones(len(i))), t_end=1.0, dt=0.01, save_every=100,
                   dtype=torch.float64)
    assert mean_field.attrs["backend"] == "mean_field" and csr.attrs["backend"] == "numba"
    assert np.max(np.abs(mean_field["state"].values - csr["state"].values)) < 1e-12


def test_numba_and_torch_backends_agree(small_graph):
    spec = Kuramoto(coupling=4.0, alpha=0.5)
    a = simulate(spec, small_graph, t_end=0.5, dt=0.01, save_every=10, dtype=torch.float64)
    b = simulate(spec, small_graph, t_end=0.5, dt=0.01, save_every=10, dtype=torch.float64, backend="torch")
    assert np.max(np.abs(a["state"].values - b["state"].values)) < 1e-10
    np.testing.assert_allclose(a["order_parameter"].values, b["order_parameter"].values, atol=1e-10)


def test_weighted_edges_enter_w(small_graph):
    """A_ij weights: doubling every weight leaves W (row-normalised) unchanged."""
    src, dst, _ = small_graph.edges()
    g1 = Graph.from_unique_pairs(src, dst, small_graph.num_nodes, np.full(len(src), 1.0))
    g2 = Graph.from_unique_pairs(src, dst, small_graph.num_nodes, np.full(len(src), 2.0))
    spec = Kuramoto(coupling=4.0, alpha=0.5)
    plain = simulate(spec, small_graph, 0.2, 0.01, 20, dtype=torch.float64)
    for g in (g1, g2):
        ds = simulate(spec, g, 0.2, 0.01, 20, dtype=torch.float64)
        assert np.max(np.abs(ds["state"].values - plain["state"].values)) < 1e-12


def test_order_parameter_and_uniform_initial(small_graph):
    ds = simulate(Kuramoto(initial="uniform"), small_graph, 0.05, 0.01, 5)
    th = ds["state"].values.astype(float)
    np.testing.assert_allclose(ds["order_parameter"].values, np.abs(np.exp(1j * th).mean(1)), atol=1e-5)
    assert ds["initial"].values.min() >= 0 and ds["initial"].values.max() < 2 * math.pi


def test_reproducible_and_precisions_agree(small_graph):
    spec = Kuramoto(coupling=4.0)
    a = simulate(spec, small_graph, 1.0, 0.01, 20, seed=5)
    b = simulate(spec, small_graph, 1.0, 0.01, 20, seed=5)
    c = simulate(spec, small_graph, 1.0, 0.01, 20, seed=6)
    assert np.array_equal(a["state"].values, b["state"].values)
    assert not np.array_equal(a["omega"].values, c["omega"].values)
    d = simulate(spec, small_graph, 1.0, 0.01, 20, seed=5, dtype=torch.float64)
    assert a["state"].dtype == np.float32 and d["state"].dtype == np.float64
    assert np.max(np.abs(a["state"].values - d["state"].values)) < 1e-3


def test_noisy_runs_reproducible(small_graph):
    spec = Kuramoto(coupling=1.0, noise=0.3)
    a = simulate(spec, small_graph, 0.2, 0.01, 10, seed=2)
    b = simulate(spec, small_graph, 0.2, 0.01, 10, seed=2)
    assert a.attrs["integrator"] == "euler_maruyama"
    assert np.array_equal(a["state"].values, b["state"].values)


def test_kernel_layout_on_several_windows_with_random_weights():
    """More rows than one sorting window, random A_ij and isolated nodes: the numba kernel's
    rearranged rows give the torch CSR product's result."""
    from roma_core.dynamics import kernels
    from roma_core.graphs import hyperbolic_graph

    g = hyperbolic_graph(3 * kernels.WINDOW + 77, mean_degree=6, seed=4)   # has isolated nodes
    assert np.any(g.degree == 0) and np.any(g.degree % 2 == 1)
    src, dst, _ = g.edges()
    rng = np.random.default_rng(0)
    weighted = Graph.from_unique_pairs(src, dst, g.num_nodes, rng.uniform(0.1, 2.0, len(src)))
    spec = Kuramoto(coupling=4.0, alpha=0.5)
    for graph in (g, weighted):
        a = simulate(spec, graph, t_end=0.2, dt=0.01, save_every=5, dtype=torch.float64)
        b = simulate(spec, graph, t_end=0.2, dt=0.01, save_every=5, dtype=torch.float64, backend="torch")
        assert np.max(np.abs(a["state"].values - b["state"].values)) < 1e-10


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_sin_cos_match_numpy(dtype):
    """The kernel's own sin/cos (range reduction + Taylor series) against numpy in float64,
    at quadrant boundaries, small and large phases."""
    from roma_core.dynamics import kernels

    rng = np.random.default_rng(0)
    quadrants = np.arange(-40, 41) * (np.pi / 4)
    theta = np.concatenate([quadrants, np.nextafter(quadrants, np.inf), rng.normal(0, 30, 5000),
                            rng.uniform(-1e5, 1e5, 5000), [0.0, 1e-300, -7e-8]]).astype(dtype)
    n = len(theta)
    w = rng.uniform(0.5, 2.0, n).astype(dtype)
    sn, cs, ws = np.empty(n, dtype), np.empty(n, dtype), np.empty(2 * n, dtype)
    kernels._sincos_block(theta, w, sn, cs, ws, 0, n)
    exact = theta.astype(np.float64)
    tol = 1e-15 if dtype == np.float64 else 6e-8            # float32: within its rounding
    assert np.max(np.abs(sn - np.sin(exact))) < tol and np.max(np.abs(cs - np.cos(exact))) < tol
    np.testing.assert_allclose(ws[0::2], w * sn, rtol=1e-6, atol=1e-30)
    np.testing.assert_allclose(ws[1::2], w * cs, rtol=1e-6, atol=1e-30)
