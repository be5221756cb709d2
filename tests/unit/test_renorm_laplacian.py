"""Laplacian RG and diffusion diagnostics against analytic results and dense matrix functions."""
import math

import numpy as np
import pytest
import scipy.linalg as la

from roma_core.errors import HierarchyError
from roma_core.graphs import Graph, hyperbolic_graph
from roma_core.renorm import diffusion_profile, kadanoff_labels, laplacian, peak_tau, tau_for_reduction
from roma_core.renorm.heat import heat_apply


def adjusted_rand(a, b):
    """Adjusted Rand index (Hubert & Arabie) from the contingency table."""
    _, a = np.unique(a, return_inverse=True)
    _, b = np.unique(b, return_inverse=True)
    table = np.zeros((a.max() + 1, b.max() + 1))
    np.add.at(table, (a, b), 1)
    pairs = lambda x: float((x * (x - 1) / 2).sum())
    both, rows, cols, total = pairs(table), pairs(table.sum(1)), pairs(table.sum(0)), len(a) * (len(a) - 1) / 2
    expected = rows * cols / total
    return (both - expected) / (0.5 * (rows + cols) - expected)


def test_adjusted_rand_reference():
    assert adjusted_rand([0, 0, 1, 1], [5, 5, 2, 2]) == pytest.approx(1.0)
    # hand count: table [[2,1],[0,2]] -> index 2, rows 4, cols 4, total 10 -> (2-1.6)/(4-1.6)
    assert adjusted_rand([0, 0, 0, 1, 1], [0, 0, 1, 1, 1]) == pytest.approx(0.4 / 2.4)


def planted(q=4, m=50, p_in=0.3, p_out=0.005, seed=0):
    rng = np.random.default_rng(seed)
    truth = np.repeat(np.arange(q), m)
    i, j = np.triu_indices(q * m, 1)
    p = np.where(truth[i] == truth[j], p_in, p_out)
    keep = rng.random(len(p)) < p
    return Graph.from_edges(i[keep], j[keep], q * m), truth


def test_profile_complete_graph_analytic():
    n = 12
    i, j = np.triu_indices(n, 1)
    g = Graph.from_edges(i, j, n)
    taus = np.logspace(-3, 1, 30)
    prof = diffusion_profile(g, taus)
    e = (n - 1) * np.exp(-taus * n)  # spectrum: 0 once, n with multiplicity n-1
    z = 1 + e
    s = (np.log(z) + taus * n * e / z) / math.log(n)
    c = taus ** 2 * (n * n * e / z - (n * e / z) ** 2) / math.log(n)
    np.testing.assert_allclose(prof["S"], s, atol=1e-10)
    np.testing.assert_allclose(prof["C"], c, atol=1e-10)


def test_profile_entropy_and_heat_from_dense_density_matrix():
    g = hyperbolic_graph(40, mean_degree=6, seed=2)
    taus = np.array([0.05, 0.3, 1.0])
    prof = diffusion_profile(g, taus)
    lap = g.laplacian().toarray()
    for t, s in zip(taus, prof["S"].values):
        rho = la.expm(-t * lap)
        rho /= np.trace(rho)
        assert s == pytest.approx(-np.trace(rho @ la.logm(rho)).real / math.log(40), abs=1e-8)
    # C = -dS/d ln τ by central differences
    fine = diffusion_profile(g, np.exp(np.linspace(np.log(0.01), np.log(10), 4001)))
    ds = -np.gradient(fine["S"].values, np.log(fine["tau"].values))
    np.testing.assert_allclose(fine["C"].values[5:-5], ds[5:-5], atol=1e-5)


TAUS = np.logspace(-2, 2, 33)


@pytest.fixture(scope="module")
def exact_small(small_graph):
    return diffusion_profile(small_graph, TAUS, method="exact")


@pytest.mark.parametrize("kwargs", [dict(), dict(lowest=0, probes=64)])
def test_stochastic_profile_within_two_percent_at_peak(small_graph, exact_small, kwargs):
    """Hutchinson + Lanczos quadrature vs exact eigenvalues on 2,000 nodes; with the default
    deflation of the 32 lowest modes, and pure Hutchinson (as used at 10^6 nodes)."""
    exact = exact_small
    est = diffusion_profile(small_graph, TAUS, method="slq", seed=3, **kwargs)
    i = int(np.argmax(exact["C"].values))
    peak = exact["C"].values[i]
    assert abs(est["C"].values[i] - peak) <= 0.02 * peak
    assert np.max(np.abs(est["C"].values - exact["C"].values)) <= 0.03 * peak
    assert np.max(np.abs(est["S"].values - exact["S"].values)) <= 0.01
    assert est["C_err"].values[i] < 0.03 * peak  # the jackknife error is of the right size
    assert est.attrs["components"] == exact.attrs["components"]


def test_disconnected_profile_is_union_of_components():
    a, _ = planted(q=2, m=30, seed=1)
    b = hyperbolic_graph(50, mean_degree=6, seed=4).largest_component()
    n = a.num_nodes + b.num_nodes
    src = np.concatenate([a.edges()[0], b.edges()[0] + a.num_nodes])
    dst = np.concatenate([a.edges()[1], b.edges()[1] + a.num_nodes])
    g = Graph.from_edges(src, dst, n)
    taus = np.logspace(-2, 2, 20)
    lam = np.concatenate([np.linalg.eigvalsh(x.laplacian().toarray()) for x in (a, b)])
    e = np.exp(-np.outer(taus, np.clip(lam, 0, None)))
    z, m1, m2 = e.sum(1), e @ lam, e @ lam ** 2
    s = (np.log(z) + taus * m1 / z) / math.log(n)
    prof = diffusion_profile(g, taus)
    np.testing.assert_allclose(prof["S"], s, atol=1e-9)
    c = taus ** 2 * (m2 / z - (m1 / z) ** 2) / math.log(n)      # −dS/d ln τ in closed form
    np.testing.assert_allclose(prof["C"], c, atol=1e-9)
    est = diffusion_profile(g, taus, method="slq", lowest=4, probes=48)
    assert est.attrs["components"] == 2 + 0  # each part is connected
    np.testing.assert_allclose(est["S"], s, atol=0.02)
    labels = kadanoff_labels(g, 1.0)
    assert set(labels[: a.num_nodes]).isdisjoint(labels[a.num_nodes:])  # heat never crosses components


def test_chebyshev_heat_action_matches_expm():
    g = hyperbolic_graph(300, mean_degree=8, seed=5)
    lap = g.laplacian()
    x = np.random.default_rng(0).standard_normal((300, 3))
    for s in (0.01, 0.7, 5.0):
        ref = la.expm(-s * lap.toarray()) @ x
        np.testing.assert_allclose(heat_apply(lap, x, s), ref, atol=1e-8 * np.abs(ref).max())


def test_kadanoff_criterion_brute_force():
    g = hyperbolic_graph(40, mean_degree=5, seed=6)
    tau = 0.8
    k = la.expm(-tau * g.laplacian().toarray())
    parent = list(range(40))

    def find(i):
        while parent[i] != i:
            i = parent[i]
        return i

    for i in range(40):
        for j in range(i + 1, 40):
            if k[i, j] >= min(k[i, i], k[j, j]):
                parent[find(i)] = find(j)
    roots = np.array([find(i) for i in range(40)])
    assert adjusted_rand(kadanoff_labels(g, tau), roots) == pytest.approx(1.0)


def test_planted_communities_peak_and_supernodes():
    g, truth = planted()
    prof = diffusion_profile(g)
    c = prof["C"].values
    i = int(np.argmax(c))
    assert 0 < i < len(c) - 1 and c[i] > 2 * max(c[0], c[-1])  # an interior specific-heat peak
    h = laplacian(g, levels=1)  # τ* from the C curve
    assert h.sizes == [200, 4]
    assert adjusted_rand(h.membership(1), truth) >= 0.9
    assert h.meta["tau"][0] == pytest.approx(peak_tau(prof, "half"))
    sketch = laplacian(g, levels=1, method="sketch", features=128, seed=1)
    assert adjusted_rand(sketch.membership(1), truth) >= 0.9
    for a in h.assign:
        np.testing.assert_allclose(a.sum(axis=1), 1.0)


def test_reduction_target_and_levels(small_graph):
    g = small_graph.largest_component()
    tau, labels = tau_for_reduction(g, 2.0, method="sketch", features=32)
    count = labels.max() + 1
    assert g.num_nodes / 3 <= count <= g.num_nodes / 1.5 and tau > 0
    h = laplacian(g, levels=2, reduction=2.0, method="sketch", features=32)
    assert h.depth == 2 and h.sizes[2] < h.sizes[1] < h.sizes[0]
    assert h.graphs[1].theta is not None  # coordinates carried to the coarse graph
    assert h.spec["method"] == "laplacian" and h.spec["reduction"] == 2.0


@pytest.mark.parametrize("kwargs, match", [
    (dict(tau=0.0), "tau must be"),
    (dict(tau=-1.0), "tau must be"),
    (dict(tau=float("nan")), "tau must be"),
    (dict(levels=0), "levels must be"),
    (dict(reduction=1.0), "reduction must be"),
    (dict(method="dense"), "method must be"),
    (dict(tau=[0.5, 1.0], levels=3), "one per level"),
])
def test_bad_input(kwargs, match):
    g, _ = planted(q=2, m=10)
    with pytest.raises(HierarchyError, match=match):
        laplacian(g, **kwargs)


def test_bad_profile_input():
    g, _ = planted(q=2, m=10)
    with pytest.raises(HierarchyError, match="> 0"):
        diffusion_profile(g, [0.0, 1.0])
    with pytest.raises(HierarchyError, match="method"):
        diffusion_profile(g, method="magic")
    with pytest.raises(HierarchyError, match="tau must be"):
        kadanoff_labels(g, -0.1)


def test_no_peak_and_no_coarsening_without_edges():
    from roma_core.errors import HierarchyError
    from roma_core.graphs import Graph
    from roma_core.renorm import diffusion_profile, laplacian, peak_tau

    empty = Graph.from_edges([], [], num_nodes=10)
    with pytest.raises(HierarchyError, match="no peak"):
        peak_tau(diffusion_profile(empty, np.logspace(-2, 2, 20)), "half")
    with pytest.raises(HierarchyError, match="0 edges, so diffusion cannot coarsen it"):
        laplacian(empty, levels=1)
