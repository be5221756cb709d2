"""Laplacian RG and diffusion diagnostics against analytic results, dense matrix functions,
a sequential greedy matching, the periodic square lattice, S1 angles and planted communities."""
import math

import numpy as np
import pytest
import scipy.linalg as la
from scipy.sparse.csgraph import connected_components

from roma_core.errors import HierarchyError
from roma_core.graphs import Graph, hyperbolic_graph
from roma_core.renorm import (diffusion_profile, geometric, heat_similarity, laplacian, merge_along_edges, peak_tau,
                               tau_for_modes)
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
    labels = laplacian(g, levels=1).membership(1)
    assert set(labels[: a.num_nodes]).isdisjoint(labels[a.num_nodes:])  # heat never crosses components


def test_chebyshev_heat_action_matches_expm():
    g = hyperbolic_graph(300, mean_degree=8, seed=5)
    lap = g.laplacian()
    x = np.random.default_rng(0).standard_normal((300, 3))
    for s in (0.01, 0.7, 5.0):
        ref = la.expm(-s * lap.toarray()) @ x
        np.testing.assert_allclose(heat_apply(lap, x, s), ref, atol=1e-8 * np.abs(ref).max())


def normalized_laplacian(g):
    """I − D^-1/2 A D^-1/2 built here from the adjacency matrix (independent of Graph.laplacian)."""
    a = np.zeros((g.num_nodes, g.num_nodes))
    src, dst, _ = g.edges()
    a[src, dst] = a[dst, src] = 1.0
    inv = 1 / np.sqrt(a.sum(1))
    return np.eye(g.num_nodes) - inv[:, None] * a * inv[None, :]


def test_normalized_profile_against_eigenvalues():
    """Z, S and C of the normalized Laplacian: exact and stochastic (whose null space is √d,
    not the constant vector) against dense eigenvalues, on a graph of two components."""
    a = hyperbolic_graph(160, mean_degree=6, seed=3).largest_component()
    b = hyperbolic_graph(100, mean_degree=8, seed=4).largest_component()
    n = a.num_nodes + b.num_nodes
    src = np.concatenate([a.edges()[0], b.edges()[0] + a.num_nodes])
    dst = np.concatenate([a.edges()[1], b.edges()[1] + a.num_nodes])
    g = Graph.from_edges(src, dst, n)
    lam = np.clip(np.linalg.eigvalsh(normalized_laplacian(g)), 0, None)
    taus = np.logspace(-1, 2, 25)
    e = np.exp(-np.outer(taus, lam))
    z, m1, m2 = e.sum(1), e @ lam, e @ lam ** 2
    exact = diffusion_profile(g, taus, kind="normalized", method="exact")
    np.testing.assert_allclose(exact["Z"], z, rtol=1e-9)
    np.testing.assert_allclose(exact["C"], taus ** 2 * (m2 / z - (m1 / z) ** 2) / math.log(n), atol=1e-9)
    est = diffusion_profile(g, taus, kind="normalized", method="slq", probes=32, lowest=0, seed=1)
    np.testing.assert_allclose(est["Z"], z, rtol=0.05)  # Hutchinson with 32 probes: a few per cent
    assert est["Z"].values[-1] == pytest.approx(2.0, abs=0.05)  # two components: two modes never decay


def test_tau_for_modes_complete_graph():
    """Normalized Laplacian of K_n: 0 once, n/(n−1) n−1 times, so Z(τ) = 1 + (n−1) e^{−τn/(n−1)}."""
    n = 30
    i, j = np.triu_indices(n, 1)
    prof = diffusion_profile(Graph.from_edges(i, j, n), np.logspace(-2, 2, 400), kind="normalized")
    for modes in (20.0, 5.0, 2.0):
        expect = -(n - 1) / n * math.log((modes - 1) / (n - 1))
        assert tau_for_modes(prof, modes) == pytest.approx(expect, rel=1e-3)
    assert tau_for_modes(prof, 1e6) == pytest.approx(1e-2)  # more modes than nodes: the grid's start


def test_heat_similarity_against_expm():
    g = hyperbolic_graph(120, mean_degree=6, seed=6).largest_component()
    tau = 0.8
    k = la.expm(-tau * normalized_laplacian(g))
    src, dst, s = heat_similarity(g, tau, "exact")
    np.testing.assert_allclose(s, k[src, dst] / np.sqrt(k[src, src] * k[dst, dst]), atol=1e-9)
    _, _, approx = heat_similarity(g, tau, "sketch", features=512, seed=2)
    assert np.abs(approx - s).mean() < 0.05  # random features: error about (1 − s²)/√m


def agglomerate_reference(n, src, dst, w, target):
    """The merge rule, one pair at a time in plain Python: in each round, groups that are each
    other's strongest link (summed member strengths per member pair) merge, strongest first,
    until ``target`` groups are left."""
    group = list(range(n))
    while len(set(group)) > target:
        link = {}
        for i, j, x in zip(src, dst, w):
            a, b = sorted((group[i], group[j]))
            if a != b:
                link[a, b] = link.get((a, b), 0.0) + x
        mass = {g: group.count(g) for g in set(group)}
        rank = {ab: x / (mass[ab[0]] * mass[ab[1]]) for ab, x in link.items()}
        best = {}
        for (a, b), r in rank.items():
            for end in (a, b):
                if end not in best or r > rank[best[end]]:
                    best[end] = (a, b)
        pairs = sorted({ab for ab in best.values() if best[ab[0]] == best[ab[1]] == ab}, key=lambda ab: -rank[ab])
        for a, b in pairs[: len(set(group)) - target]:
            group = [a if g == b else g for g in group]
    return np.array(group)


def test_merge_against_plain_agglomeration():
    g = hyperbolic_graph(300, mean_degree=8, seed=8)
    src, dst, _ = g.edges()
    w = np.random.default_rng(0).random(len(src))  # distinct strengths: no ties
    for target in (250, 150):  # one round, several rounds
        labels = merge_along_edges(g.num_nodes, src, dst, w, target)
        assert labels.max() + 1 == target
        assert adjusted_rand(labels, agglomerate_reference(g.num_nodes, src, dst, w, target)) == 1.0
        assert supernodes_connected(g, labels)


def supernodes_connected(g, labels):
    src, dst, _ = g.edges()
    inside = labels[src] == labels[dst]
    sub = Graph.from_edges(src[inside], dst[inside], g.num_nodes).adjacency()
    return connected_components(sub, directed=False)[0] == labels.max() + 1


def angular_span(labels, theta):
    """Per supernode, the shortest arc holding all its members, in units of 2π / N."""
    order = np.lexsort((theta, labels))
    lab, t = labels[order], theta[order]
    start = np.flatnonzero(np.r_[True, lab[1:] != lab[:-1]])
    gap = np.diff(np.r_[t, 0.0])
    gap[np.r_[start[1:], len(t)] - 1] = t[start] + 2 * np.pi - t[np.r_[start[1:], len(t)] - 1]  # wrap-around
    return (2 * np.pi - np.maximum.reduceat(gap, start)) * len(theta) / (2 * np.pi)


@pytest.mark.parametrize("graph", ["s1", "paper"])
def test_issue_graphs_coarsen_without_giant_supernode(small_graph, graph):
    """Defaults on the S1 family and the paper's zero-temperature graph: about N/2 supernodes,
    the largest ≤ 1 % of the nodes, each connected, local in angle like the GRG's blocks."""
    g = small_graph if graph == "s1" else hyperbolic_graph(20_000, mean_degree=3, gamma=3.0, beta=float("inf"),
                                                           seed=1, largest_component=True)
    h = laplacian(g, levels=1)
    labels = h.membership(1)
    assert 1.8 <= g.num_nodes / h.sizes[1] <= 2.2
    assert np.bincount(labels).max() <= 0.01 * g.num_nodes
    assert supernodes_connected(g, labels)
    span = angular_span(labels, g.theta)
    grg = angular_span(geometric(g, levels=1).membership(1), g.theta)
    assert np.median(span) <= 2 * np.median(grg) + 1 and np.quantile(span, 0.95) <= 20
    assert span.max() < 0.25 * g.num_nodes  # a few follow the graph's long edges, none spans the circle


def torus_bbox(xy, labels, side):
    """Per supernode, the larger side of its bounding box on the periodic lattice."""
    out = []
    for s in np.unique(labels):
        pts = xy[labels == s]
        extent = []
        for c in pts.T:
            occupied = np.zeros(side, dtype=bool)
            occupied[c] = True
            free = np.flatnonzero(~occupied)
            if not len(free):
                extent.append(side)
                continue
            gaps = np.diff(np.r_[free, free[0] + side]) - 1  # longest run of occupied rows
            extent.append(int(gaps.max()))
        out.append(max(extent))
    return np.array(out)


def test_periodic_lattice_supernodes_are_compact_blocks():
    import networkx as nx

    side = 64
    lattice = nx.grid_2d_graph(side, side, periodic=True)
    index = {v: i for i, v in enumerate(lattice.nodes())}
    e = np.array([(index[a], index[b]) for a, b in lattice.edges()])
    g = Graph.from_edges(e[:, 0], e[:, 1], side * side)
    xy = np.array(list(lattice.nodes()))
    h = laplacian(g, levels=6)
    for level in range(1, h.depth + 1):
        sizes = np.bincount(h.membership(level))
        mean = sizes.mean()
        assert sizes.max() <= 3 * mean and sizes.min() >= mean / 3, (level, sizes.min(), mean, sizes.max())
        assert 1.8 <= h.sizes[level - 1] / h.sizes[level] <= 2.4
        box = torus_bbox(xy, h.membership(level), side)
        assert np.median(box) <= 1.5 * math.sqrt(mean) + 1 and box.max() <= 4 * math.sqrt(mean) + 2, (level, box.max())


def purity(labels, truth):
    return sum(np.bincount(truth[labels == s]).max() for s in np.unique(labels)) / len(labels)


def test_planted_communities():
    g, truth = planted()
    prof = diffusion_profile(g)
    c = prof["C"].values
    i = int(np.argmax(c))
    assert 0 < i < len(c) - 1 and c[i] > 2 * max(c[0], c[-1])  # an interior specific-heat peak
    h = laplacian(g, levels=1, reduction=50)  # one level down to the four communities
    assert h.sizes == [200, 4]
    assert adjusted_rand(h.membership(1), truth) >= 0.9
    layered = laplacian(g)  # reduction 2 per level: no supernode mixes communities
    assert layered.sizes[:3] == [200, 100, 50]
    assert all(purity(layered.membership(l), truth) >= 0.95 for l in range(1, layered.depth + 1))
    sketch = laplacian(g, levels=3, method="sketch", features=256, seed=1)  # noisier: a few cross pairs
    assert all(purity(sketch.membership(l), truth) >= 0.9 for l in range(1, 4))
    for a in h.assign:
        np.testing.assert_allclose(a.sum(axis=1), 1.0)


def test_tau_rules_and_levels(small_graph):
    g = small_graph.largest_component()
    h = laplacian(g, levels=2, method="sketch", features=32)
    assert h.depth == 2 and h.sizes[2] < h.sizes[1] < h.sizes[0]
    assert h.graphs[1].theta is not None  # coordinates carried to the coarse graph
    assert h.spec["method"] == "laplacian" and h.spec["reduction"] == 2.0 and h.spec["rule"] == "modes"
    prof = diffusion_profile(h.graphs[1], kind="normalized", method="slq", probes=8, lowest=0, tol=1e-2, seed=1)
    assert h.meta["tau"][1] == pytest.approx(tau_for_modes(prof, h.sizes[1] / 2), rel=0.05)
    peak = laplacian(g, levels=1, rule="max")
    assert peak.meta["tau"][0] > h.meta["tau"][0] and 1.8 <= g.num_nodes / peak.sizes[1] <= 2.2
    fixed = laplacian(g, tau=[0.5, 2.0], levels=2, reduction=3)
    assert fixed.meta["tau"] == [0.5, 2.0] and 2.7 <= g.num_nodes / fixed.sizes[1] <= 3.3


@pytest.mark.parametrize("kwargs, match", [
    (dict(tau=0.0), "tau must be"),
    (dict(tau=-1.0), "tau must be"),
    (dict(tau=float("nan")), "tau must be"),
    (dict(levels=0), "levels must be"),
    (dict(reduction=1.0), "reduction must be"),
    (dict(reduction=None), "reduction must be"),
    (dict(rule="peak"), "rule must be"),
    (dict(method="dense"), "method must be"),
    (dict(tau=[0.5, 1.0], levels=3), "one per level"),
])
def test_bad_input(kwargs, match):
    g, _ = planted(q=2, m=10)
    with pytest.raises(HierarchyError, match=match):
        laplacian(g, **kwargs)


def test_bad_profile_and_merge_input():
    g, _ = planted(q=2, m=10)
    with pytest.raises(HierarchyError, match="> 0"):
        diffusion_profile(g, [0.0, 1.0])
    with pytest.raises(HierarchyError, match="method"):
        diffusion_profile(g, method="magic")
    with pytest.raises(HierarchyError, match="kind must be"):
        diffusion_profile(g, kind="signless")
    with pytest.raises(HierarchyError, match="tau must be"):
        heat_similarity(g, -0.1)
    with pytest.raises(HierarchyError, match="one entry per edge"):
        merge_along_edges(3, [0, 1], [1, 2], [1.0], 2)
    with pytest.raises(HierarchyError, match="mass must"):
        merge_along_edges(3, [0, 1], [1, 2], [1.0, 1.0], 2, mass=np.zeros(3))


def test_no_peak_and_no_coarsening_without_edges():
    empty = Graph.from_edges([], [], num_nodes=10)
    with pytest.raises(HierarchyError, match="no peak"):
        peak_tau(diffusion_profile(empty, np.logspace(-2, 2, 20)), "half")
    with pytest.raises(HierarchyError, match="0 edges, so diffusion cannot coarsen it"):
        laplacian(empty, levels=1)
