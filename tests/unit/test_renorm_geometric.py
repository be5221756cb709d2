"""Geometric RG: the ring, brute-force supernode coordinates and edge counts, self-similarity."""
import math

import numpy as np
import pytest

from roma_core.errors import HierarchyError
from roma_core.graphs import Graph, degree_exponent, hyperbolic_graph
from roma_core.renorm import geometric


def ring(n, coords=True):
    kw = dict(theta=2 * np.pi * np.arange(n) / n, kappa=np.ones(n)) if coords else {}
    return Graph.from_edges(np.arange(n), (np.arange(n) + 1) % n, n, **kw)


def is_ring(g):
    """Every node i joined to exactly i-1 and i+1 (mod n)."""
    n = g.num_nodes
    src, dst, _ = g.edges()
    pairs = set(zip(src.tolist(), dst.tolist()))
    expected = {tuple(sorted((i, (i + 1) % n))) for i in range(n)}
    return pairs == expected


@pytest.mark.parametrize("k", [5, 8])
def test_ring_halves_and_stays_ring(k):
    h = geometric(ring(2 ** k), block=2)
    assert h.sizes == [2 ** (k - l) for l in range(h.num_levels)]
    assert h.sizes[-1] >= 16 and h.sizes[-1] // 2 < 16  # automatic depth stops at min_nodes
    for l, g in enumerate(h.graphs):
        assert is_ring(g), f"level {l} is not a ring"
        if l:
            np.testing.assert_allclose(g.weights, 1.0)  # one fine edge between adjacent blocks
            np.testing.assert_allclose(np.sort(g.theta), g.theta)  # still in angular order
            np.testing.assert_allclose(g.kappa, 2 ** (l / 2))  # (Σ κ^β)^(1/β), β = 2 by default


def test_ring_without_coordinates():
    with pytest.raises(HierarchyError, match="no S1 coordinates"):
        geometric(ring(64, coords=False))
    h = geometric(ring(64, coords=False), levels=3, embed=True)
    assert h.sizes == [64, 32, 16, 8]
    assert is_ring(h.graphs[0]) and h.graphs[0].theta is not None and h.meta["beta"] == h.graphs[0].meta["beta"]
    # the embedding (S1 maximum likelihood) keeps the ring's order up to local swaps:
    # each level-1 supernode joins two nodes a few steps apart on the ring
    labels = h.membership(1)
    for s in range(32):
        a, b = np.flatnonzero(labels == s)
        assert min(b - a, 64 - (b - a)) <= 3


def test_supernodes_match_brute_force():
    g = hyperbolic_graph(600, mean_degree=8, gamma=2.5, beta=1.7, seed=3)
    h = geometric(g, block=3, levels=2)
    assert h.meta["beta"] == pytest.approx(1.7)
    fine, coarse = h.graphs[0], h.graphs[1]
    labels = h.membership(1)
    order = np.argsort(fine.theta, kind="stable")
    np.testing.assert_array_equal(labels[order], np.arange(600) // 3)
    for s in (0, 57, 199):
        m = h.members(1, s)
        z = np.sum(fine.kappa[m] * np.exp(1j * fine.theta[m]))
        assert coarse.theta[s] == pytest.approx(np.angle(z) % (2 * math.pi))
        assert coarse.kappa[s] == pytest.approx(np.sum(fine.kappa[m] ** 1.7) ** (1 / 1.7))
    # coarse edges: pairs of supernodes with any fine edge, weight = number of fine edges
    counts = {}
    for i, j in zip(*fine.edges()[:2]):
        a, b = sorted((labels[i], labels[j]))
        if a != b:
            counts[(a, b)] = counts.get((a, b), 0) + 1
    src, dst, w = coarse.edges()
    assert dict(zip(zip(src.tolist(), dst.tolist()), w.tolist())) == counts
    # level 2 weights still count level-0 edges
    assert h.graphs[2].weights.sum() == pytest.approx(
        sum(c for (a, b), c in counts.items() if h.assign[1].indices[a] != h.assign[1].indices[b]) * 2)
    assert coarse.radius is not None and np.all(np.isfinite(coarse.radius))


def _ks(a, b):
    a, b = np.sort(a), np.sort(b)
    x = np.concatenate([a, b])
    return np.max(np.abs(np.searchsorted(a, x, "right") / len(a) - np.searchsorted(b, x, "right") / len(b)))


def test_self_similarity_n50000():
    """GRG layers of an S1 graph (N = 50,000, γ = 2.7) keep the shape of the degree
    distribution (rescaled by ⟨k⟩) and its tail exponent. Integer degrees are spread
    uniformly over [k − ½, k + ½) before comparing, so the KS distance compares the
    distributions rather than the alignment of two different lattices of k/⟨k⟩.
    β = 3: at β = 2 the bulk narrows as ⟨k⟩ grows (KS 0.12 at level 3, fitted γ 3.0)."""
    gamma = 2.7
    g = hyperbolic_graph(50_000, mean_degree=10, gamma=gamma, beta=3.0, seed=1)
    h = geometric(g, block=2, levels=3)
    assert h.sizes == [50_000, 25_000, 12_500, 6_250]
    rng = np.random.default_rng(0)

    def rescaled(k):
        return (k + rng.uniform(-0.5, 0.5, len(k))) / k.mean()

    k0, k3 = h.graphs[0].degree, h.graphs[3].degree
    assert k3.mean() > k0.mean()  # ⟨k⟩ grows under GRG for γ < 3
    assert _ks(rescaled(k0), rescaled(k3)) <= 0.1
    for level in range(4):
        fitted, _ = degree_exponent(h.graphs[level].degree)
        assert abs(fitted - gamma) <= 0.3, (level, fitted)


@pytest.mark.parametrize("kwargs, match", [
    (dict(levels=0), "levels must be"),
    (dict(levels=-2), "levels must be"),
    (dict(block=1), "block must be"),
    (dict(block=2.5), "block must be"),
    (dict(levels=7), "cannot be coarsened"),
])
def test_bad_input(kwargs, match):
    with pytest.raises(HierarchyError, match=match):
        geometric(ring(32), **kwargs)


def test_disconnected_graph_keeps_angular_blocks():
    """Two rings on disjoint arcs: blocks follow the angle, so no supernode spans both."""
    a, b = ring(16), ring(16)
    src = np.concatenate([a.edges()[0], b.edges()[0] + 16])
    dst = np.concatenate([a.edges()[1], b.edges()[1] + 16])
    theta = np.concatenate([np.linspace(0, 3, 16), np.linspace(3.2, 6.2, 16)])
    g = Graph.from_edges(src, dst, 32, theta=theta, kappa=np.ones(32))
    h = geometric(g, levels=3)
    assert h.graphs[3].components()[0] == 2
    assert set(h.membership(3)[:16]).isdisjoint(h.membership(3)[16:])
