"""The oracle's k-hop floor: the long-range average restricted to graph neighbourhoods."""
import numpy as np
import pytest
import torch

from benchmarks.bench_models import hop_kernel, oracle
from roma_core.dynamics import KuramotoSpec, simulate
from roma_core.dynamics.long_range import LongRange
from roma_core.graphs import hyperbolic_graph


def _dense_reference(g, hops, s, theta_state):
    """Direct O(N²) sum with a k-hop mask: Σ_j m_ij K_ij sin(θ_j − θ_i) / Σ_j m_ij K_ij."""
    n = g.num_nodes
    a = np.zeros((n, n))
    rows = np.repeat(np.arange(n), np.diff(g.indptr))
    a[rows, g.indices] = 1
    a = np.maximum(a, a.T) + np.eye(n)
    reach = np.linalg.matrix_power(a, hops) > 0
    np.fill_diagonal(reach, False)
    d = np.abs(g.theta[:, None] - g.theta[None, :]) % (2 * np.pi)
    d = np.minimum(d, 2 * np.pi - d)
    k = np.maximum(d * n / (2 * np.pi), 1e-3) ** (-s) * reach
    mass = k.sum(1)
    f = (k * np.sin(theta_state[None, :] - theta_state[:, None])).sum(1) / np.where(mass > 0, mass, 1)
    return f, mass


def _apply(w, theta_state):
    sn, cs = np.sin(theta_state), np.cos(theta_state)
    return cs * (w @ sn) - sn * (w @ cs)


@pytest.mark.parametrize("hops", [1, 2])
@pytest.mark.parametrize("s", [0.5, 1.5])
def test_hop_kernel_matches_a_masked_direct_sum(hops, s):
    g = hyperbolic_graph(300, mean_degree=6, seed=3)
    op = LongRange(g.theta, s)
    w, mass = hop_kernel(g, hops, op.kernel)
    y = np.random.default_rng(0).uniform(0, 2 * np.pi, g.num_nodes)
    ref, ref_mass = _dense_reference(g, hops, s, y)
    np.testing.assert_allclose(_apply(w, y), ref, atol=1e-12)
    np.testing.assert_allclose(mass, ref_mass, rtol=1e-12)
    # far="mean": the weight outside goes to the whole graph's mean field
    d = np.abs(g.theta[:, None] - g.theta[None, :]) % (2 * np.pi)
    kfull = np.maximum(np.minimum(d, 2 * np.pi - d) * g.num_nodes / (2 * np.pi), 1e-3) ** (-s)
    np.fill_diagonal(kfull, 0)
    share = ref_mass / kfull.sum(1)
    mean_field = np.cos(y) * np.sin(y).mean() - np.sin(y) * np.cos(y).mean()
    expect = share * ref + (1 - share) * mean_field
    np.testing.assert_allclose(share * _apply(w, y) + (1 - share) * mean_field, expect, atol=1e-12)
    np.testing.assert_allclose(mass * op.inv_den.numpy(), share, rtol=1e-4)
    assert w.nnz < g.num_nodes ** 2 / 2           # a neighbourhood, not the whole graph


def test_hop_kernel_over_the_whole_component_is_the_full_average():
    g = hyperbolic_graph(400, mean_degree=8, seed=5, largest_component=True)
    op = LongRange(g.theta, 1.5)
    w, mass = hop_kernel(g, g.num_nodes, op.kernel)
    y = np.random.default_rng(1).uniform(0, 2 * np.pi, g.num_nodes)
    m = op(torch.as_tensor(np.stack([np.sin(y), np.cos(y)], 1))).numpy()
    full = np.cos(y) * m[:, 0] - np.sin(y) * m[:, 1]
    np.testing.assert_allclose(_apply(w, y), full, atol=1e-4 * np.abs(full).max())
    np.testing.assert_allclose(mass * op.inv_den.numpy(), 1.0, rtol=1e-4)


def test_hop_kernel_rejects_bad_input():
    g = hyperbolic_graph(50, mean_degree=4, seed=0)
    with pytest.raises(ValueError, match="hops"):
        hop_kernel(g, 0, lambda d: d)


def test_oracle_with_hops_over_the_whole_graph_is_the_full_floor(tmp_path):
    g = hyperbolic_graph(300, mean_degree=8, seed=2, largest_component=True)
    path = tmp_path / "lr.zarr"
    simulate(KuramotoSpec(noise=0.02, long_range=2.0, long_range_exponent=1.5), g, t_end=6.0, dt=0.01,
             save_every=10, seed=2, out=path)
    full = oracle(path, "all", windows=2)
    wide = oracle(path, "all", hops=g.num_nodes, windows=2)
    near = oracle(path, "all", hops=1, windows=2)
    wide_mean = oracle(path, "all", hops=g.num_nodes, far="mean", windows=2)
    assert wide["kernel_share"] == pytest.approx(1.0, rel=1e-4)
    assert wide["rel_l2"] == pytest.approx(full["rel_l2"], rel=1e-3)
    assert wide_mean["rel_l2"] == pytest.approx(full["rel_l2"], rel=1e-3)
    assert 0 < near["kernel_share"] < 1
    with pytest.raises(ValueError, match="hops"):
        oracle(path, "all", hops=1, local=True, windows=1)
    with pytest.raises(ValueError, match="far"):
        oracle(path, "all", hops=1, far="zero", windows=1)
