"""Hierarchy type: coarsen/lift algebra against brute-force loops, storage round trips, bad input."""
import numpy as np
import pytest
import scipy.sparse as sp
import torch

from roma_core.errors import FileFormatError, HierarchyError
from roma_core.graphs import Graph
from roma_core.renorm import Hierarchy, describe


def ring(n, coords=True):
    kw = dict(theta=2 * np.pi * np.arange(n) / n, kappa=np.ones(n)) if coords else {}
    return Graph.from_edges(np.arange(n), (np.arange(n) + 1) % n, n, **kw)


def two_level(soft=False):
    """12 nodes -> 5 supernodes (uneven hard blocks) -> 2; optionally a soft first level."""
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 3, 4, 4])
    a0 = sp.csr_array((np.ones(12), (np.arange(12), labels)), shape=(12, 5)).toarray()
    if soft:
        rng = np.random.default_rng(3)
        a0 = a0 + 0.5 * rng.random((12, 5)) * (rng.random((12, 5)) < 0.3)
        a0 /= a0.sum(axis=1, keepdims=True)
    a1 = np.zeros((5, 2))
    a1[[0, 1, 2, 3, 4], [0, 0, 1, 1, 1]] = 1
    graphs = [ring(12), ring(5, coords=False), Graph.from_edges([0], [1], 2)]
    return Hierarchy(graphs, [a0, a1], spec={"method": "test"}), a0, a1


def test_sizes_rows_membership():
    h, a0, a1 = two_level()
    assert h.sizes == [12, 5, 2] and h.depth == 2 and h.num_levels == 3 and h.is_hard
    for a in h.assign:
        np.testing.assert_allclose(a.sum(axis=1), 1.0)
    m1 = h.membership(1)
    np.testing.assert_array_equal(m1, np.argmax(a0, axis=1))
    np.testing.assert_array_equal(h.membership(2), np.argmax(a1, axis=1)[m1])
    np.testing.assert_array_equal(h.membership(0), np.arange(12))
    np.testing.assert_array_equal(h.parents(0), np.argmax(a0, axis=1))
    np.testing.assert_array_equal(h.parents(-2), np.argmax(a1, axis=1))
    with pytest.raises(HierarchyError, match="top"):
        h.parents(2)
    for level in (1, 2):
        counts = np.bincount(h.membership(level), minlength=h.sizes[level])
        np.testing.assert_array_equal(h.supernode_sizes(level), counts)
        assert h.level(level).sizes.sum() == 12
        for s in range(h.sizes[level]):
            np.testing.assert_array_equal(h.members(level, s), np.flatnonzero(h.membership(level) == s))


def test_membership_follows_largest_entries_whatever_was_asked_before():
    """Soft rows follow their largest entry at each step, whether the top level is asked
    first (a chain from level 0) or after level 1 (continued from it)."""
    for first in ([2], [1, 2]):
        h, a0, a1 = two_level(soft=True)
        for level in first:
            got = h.membership(level)
        expected = np.argmax(a1, axis=1)[np.argmax(a0, axis=1)]
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("soft", [False, True])
def test_coarsen_against_loops(soft):
    h, a0, a1 = two_level(soft)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((12, 3))
    mean = np.array([(a0[:, j, None] * x).sum(0) / a0[:, j].sum() for j in range(5)])
    np.testing.assert_allclose(h.coarsen(x, 0), mean, atol=1e-12)
    np.testing.assert_allclose(h.coarsen(x, 0, mode="mass"), a0.T @ x, atol=1e-12)
    np.testing.assert_allclose(h.coarsen(x, 0, mode="mass").sum(0), x.sum(0), atol=1e-12)  # totals kept
    p = a0 @ a1
    np.testing.assert_allclose(h.coarsen(x, 0, target=2), (p.T @ x) / p.sum(0)[:, None], atol=1e-12)
    y = rng.standard_normal(2)
    np.testing.assert_allclose(h.lift(y, 0, source=2), p @ y, atol=1e-12)
    np.testing.assert_allclose(h.lift(y, 1, mode="mass").sum(), y.sum(), atol=1e-12)


@pytest.mark.parametrize("soft", [False, True])
def test_coarsen_lift_exact_on_supernode_constants(soft):
    h, a0, _ = two_level(soft)
    y = np.array([1.5, -2.0, 3.25, 0.5, 7.0])
    if not soft:
        x = y[h.membership(1)]  # constant on supernodes
        np.testing.assert_array_equal(h.lift(h.coarsen(x, 0), 0), x)
    x2 = h.lift(np.array([4.0, -1.0]), 1)
    np.testing.assert_allclose(h.lift(h.coarsen(x2, 1), 1), x2, atol=1e-14)
    if not soft:  # mass mode: lifting shares a supernode's total out, coarsening sums it back
        z = h.lift(y, 0, mode="mass")
        np.testing.assert_allclose(z, (y / np.bincount(h.membership(1)))[h.membership(1)])
        np.testing.assert_allclose(h.coarsen(z, 0, mode="mass"), y, atol=1e-12)


def test_torch_matches_numpy_and_differentiates():
    h, _, _ = two_level(soft=True)
    x = np.random.default_rng(1).standard_normal((12, 2, 3))
    xt = torch.tensor(x, requires_grad=True)
    out = h.coarsen(xt, 0)
    assert out.shape == (5, 2, 3)
    np.testing.assert_allclose(out.detach().numpy(), h.coarsen(x, 0), atol=1e-12)
    np.testing.assert_allclose(h.lift(out, 0).detach().numpy(), h.lift(h.coarsen(x, 0), 0), atol=1e-12)
    out.sum().backward()
    assert xt.grad is not None and xt.grad.shape == xt.shape
    assert h.coarsen(torch.ones(12, dtype=torch.float32), 0).dtype == torch.float32


def test_wrong_inputs():
    h, a0, a1 = two_level()
    with pytest.raises(HierarchyError, match="12 nodes"):
        h.coarsen(np.ones(11), 0)
    with pytest.raises(HierarchyError, match="level 1 has 5 nodes"):
        h.lift(np.ones(4), 0)
    with pytest.raises(HierarchyError, match="mode"):
        h.coarsen(np.ones(12), 0, mode="sum")
    with pytest.raises(HierarchyError, match="out of range"):
        h.coarsen(np.ones(12), 5)
    with pytest.raises(HierarchyError, match="out of range"):
        h.members(1, 5)
    bad = a0.copy()
    bad[0, 0] = 0.5
    with pytest.raises(HierarchyError, match="sum to 1"):
        Hierarchy(h.graphs, [bad, a1])
    with pytest.raises(HierarchyError, match="shape"):
        Hierarchy(h.graphs, [a1, a0])
    with pytest.raises(HierarchyError, match="levels >= 1"):
        Hierarchy(h.graphs[:1], [])


def _same(h1, h2):
    assert h1.sizes == h2.sizes and h1.spec == h2.spec and h1.name == h2.name
    for a, b in zip(h1.assign, h2.assign):
        assert (a != b).nnz == 0
    for g1, g2 in zip(h1.graphs, h2.graphs):
        assert g1 == g2 and g1.meta == g2.meta


def test_npz_round_trip(tmp_path):
    h, _, _ = two_level(soft=True)
    path = h.save(tmp_path / "h.npz")
    h2 = Hierarchy.load(path)
    _same(h, h2)
    text = describe(path)
    assert "2 coarsening level(s)" in text and "soft" in text and "level 1: 5 nodes" in text
    assert not list(tmp_path.glob(".*tmp*"))  # atomic write leaves no temp file


def test_zarr_round_trip_reuses_store_graph(tmp_path):
    import zarr

    h, _, _ = two_level()
    store = tmp_path / "traj.zarr"
    h.graphs[0].save(store)  # as in a trajectory store: the graph sits at the root
    h.save(store, name="mine")
    group = zarr.open_group(str(store), mode="r")
    assert sorted(group["hierarchy/mine"].group_keys()) == ["graph_1", "graph_2"]
    assert group["hierarchy/mine"].attrs["roma_kind"] == "hierarchy"
    _same(h, Hierarchy.load(store))
    own = tmp_path / "h.zarr"
    h.save(own)
    assert zarr.open_group(str(own), mode="r").attrs["roma_kind"] == "hierarchy"
    _same(h, Hierarchy.load(own, name="test"))
    assert "level 2: 2 nodes" in describe(own)
    with pytest.raises(FileFormatError, match="no hierarchy"):
        Hierarchy.load(own, name="other")
    with pytest.raises(FileFormatError):
        Hierarchy.load(tmp_path / "missing.npz")
