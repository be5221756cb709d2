"""The CSR Graph: construction rules, storage round trips, conversions and matrices,
checked against networkx as an independent reference."""
import subprocess
import sys

import networkx as nx
import numpy as np
import pytest
import torch

from roma_core.errors import FileFormatError, GraphError
from roma_core.graphs import Graph


def _random_edges(n, m, seed, weighted=False):
    rng = np.random.default_rng(seed)
    src, dst = rng.integers(0, n, m), rng.integers(0, n, m)
    return src, dst, (rng.uniform(0.1, 2.0, m) if weighted else None)


def _nx_reference(n, src, dst, w=None):
    """networkx graph from the same raw edge list (first weight of a repeated edge wins)."""
    g = nx.Graph()
    g.add_nodes_from(range(n))
    for k, (a, b) in enumerate(zip(src.tolist(), dst.tolist())):
        if a != b and not g.has_edge(a, b):
            g.add_edge(a, b, weight=1.0 if w is None else float(w[k]))
    return g


# ------------------------------------------------------------ construction
def test_from_edges_symmetrises_and_drops_loops_and_duplicates():
    g = Graph.from_edges([0, 1, 1, 2, 2, 3], [1, 0, 1, 3, 3, 2], num_nodes=5)
    assert g.num_nodes == 5 and g.num_edges == 2 and g.nnz == 4
    assert g.degree.tolist() == [1, 1, 1, 1, 0]
    assert g.indices[g.indptr[0]:g.indptr[1]].tolist() == [1]
    a = g.adjacency().toarray()
    assert np.array_equal(a, a.T) and np.trace(a) == 0


def test_from_edges_matches_networkx_on_random_multigraph():
    src, dst, w = _random_edges(60, 400, seed=1, weighted=True)
    g = Graph.from_edges(src, dst, 60, w)
    ref = _nx_reference(60, src, dst, w)
    assert g.num_edges == ref.number_of_edges()
    assert np.array_equal(g.degree, [d for _, d in sorted(ref.degree())])
    assert np.allclose(g.adjacency().toarray(), nx.to_numpy_array(ref, nodelist=range(60), weight="weight"))
    for i in range(60):  # CSR rows sorted
        row = g.indices[g.indptr[i]:g.indptr[i + 1]]
        assert np.all(np.diff(row) > 0)


def test_directed_keeps_direction():
    g = Graph.from_edges([0, 1, 0], [1, 0, 1], num_nodes=3, directed=True)
    assert g.num_edges == 2 and g.degree.tolist() == [1, 1, 0]


def test_num_nodes_inferred_and_empty():
    assert Graph.from_edges([0, 7], [3, 2]).num_nodes == 8
    empty = Graph.from_edges(np.zeros(0, int), np.zeros(0, int), num_nodes=4)
    assert empty.num_nodes == 4 and empty.num_edges == 0


@pytest.mark.parametrize("args,kwargs,match", [
    (([0, 5], [1, 2]), dict(num_nodes=5), "out of range"),
    (([0, -1], [1, 2]), {}, "non-negative"),
    (([0, 1], [1, 2]), dict(weights=[1.0, np.nan]), "NaN"),
    (([0, 1], [1, 2]), dict(weights=[1.0, -0.5]), "non-negative"),
    (([0, 1, 2], [1, 2]), {}, "equal length"),
    (([0, 1], [1, 2]), dict(weights=[1.0]), "weights has 1"),
    (([0, 1.5], [1, 2]), {}, "non-integer"),
])
def test_from_edges_errors(args, kwargs, match):
    with pytest.raises(GraphError, match=match):
        Graph.from_edges(*args, **kwargs)


def test_constructor_validates_csr():
    with pytest.raises(GraphError):
        Graph([0, 2, 1], [0, 1])
    with pytest.raises(GraphError, match="indices must lie"):
        Graph([0, 1, 2], [1, 5])
    with pytest.raises(GraphError, match="theta"):
        Graph([0, 1, 2], [1, 0], theta=[0.0])


# ------------------------------------------------------------ storage
@pytest.mark.parametrize("suffix", [".npz", ".zarr"])
def test_save_load_round_trip(tmp_path, small_graph, suffix):
    g = small_graph
    path = g.save(tmp_path / f"g{suffix}")
    back = Graph.load(path)
    assert back == g and back.fingerprint() == g.fingerprint()
    assert back.meta == g.meta and back.has_coordinates
    assert not list(tmp_path.glob(".*tmp*"))  # the temporary name was renamed away


def test_weighted_round_trip_and_zarr_group(tmp_path):
    import zarr

    src, dst, w = _random_edges(30, 100, seed=2, weighted=True)
    g = Graph.from_edges(src, dst, 30, w, meta={"note": "x"})
    assert Graph.load(g.save(tmp_path / "w.npz")) == g
    root = zarr.open_group(str(tmp_path / "store.zarr"), mode="w")
    g.to_zarr(root, name="coarse")
    assert Graph.from_zarr(zarr.open_group(str(tmp_path / "store.zarr"), mode="r"), name="coarse") == g
    with pytest.raises(FileFormatError):
        Graph.from_zarr(root, name="missing")


def test_load_rejects_other_files(tmp_path):
    with pytest.raises(FileFormatError, match="no such file"):
        Graph.load(tmp_path / "nope.npz")
    np.savez(tmp_path / "other.npz", a=np.arange(3))
    with pytest.raises(FileFormatError, match="not a ROMA graph"):
        Graph.load(tmp_path / "other.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(FileFormatError):
        Graph.load(tmp_path / "text.npz")
    with pytest.raises(FileFormatError):
        Graph.from_edges([0], [1]).save(tmp_path / "g.csv")


# ------------------------------------------------------------ conversions
def test_pyg_round_trip(small_graph):
    data = small_graph.to_pyg()
    assert data.num_nodes == small_graph.num_nodes
    assert data.edge_index.shape == (2, small_graph.nnz) and data.edge_index.dtype == torch.int64
    assert torch.equal(data.theta, torch.from_numpy(small_graph.theta))
    assert Graph.from_pyg(data) == small_graph


def test_pyg_weighted_round_trip_and_pyg_utils():
    from torch_geometric.utils import is_undirected

    src, dst, w = _random_edges(40, 150, seed=3, weighted=True)
    g = Graph.from_edges(src, dst, 40, w)
    data = g.to_pyg()
    assert is_undirected(data.edge_index, data.edge_weight)
    assert Graph.from_pyg(data) == g


def test_to_networkx(small_graph):
    ref = small_graph.to_networkx()
    assert ref.number_of_nodes() == small_graph.num_nodes
    assert ref.number_of_edges() == small_graph.num_edges
    assert [d for _, d in sorted(ref.degree())] == small_graph.degree.tolist()
    with pytest.raises(GraphError, match="small graphs"):
        small_graph.to_networkx(max_nodes=100)


# ------------------------------------------------------------ matrices
@pytest.mark.parametrize("weighted", [False, True])
def test_laplacians_match_networkx(weighted):
    src, dst, w = _random_edges(50, 300, seed=4, weighted=weighted)
    g = Graph.from_edges(src, dst, 50, w)
    ref = g.to_networkx()
    assert nx.is_connected(ref)  # no isolated nodes: conventions agree
    lc = g.laplacian("combinatorial").toarray()
    ln = g.laplacian("normalized").toarray()
    assert np.allclose(lc, nx.laplacian_matrix(ref, nodelist=range(50), weight="weight").toarray())
    assert np.allclose(ln, nx.normalized_laplacian_matrix(ref, nodelist=range(50), weight="weight").toarray())
    assert np.allclose(lc.sum(axis=1), 0) and np.allclose(lc, lc.T) and np.allclose(ln, ln.T)
    ev = np.linalg.eigvalsh(ln)
    assert ev.min() > -1e-10 and ev.max() < 2 + 1e-10 and abs(ev[0]) < 1e-10
    assert np.linalg.eigvalsh(lc).min() > -1e-10


def test_laplacian_bipartite_and_isolated():
    """A 4-cycle is bipartite: the normalized Laplacian has eigenvalue 2; an isolated node
    gets a zero row."""
    g = Graph.from_edges([0, 1, 2, 3], [1, 2, 3, 0], num_nodes=5)
    ev = np.linalg.eigvalsh(g.laplacian("normalized").toarray())
    assert np.allclose(ev, [0, 0, 1, 1, 2])
    assert np.allclose(np.linalg.eigvalsh(g.laplacian().toarray()), [0, 0, 2, 2, 4])
    with pytest.raises(GraphError, match="unknown Laplacian"):
        g.laplacian("random-walk")


# ------------------------------------------------------------ fingerprint, subgraphs
def test_fingerprint_stable_and_structure_sensitive(small_graph):
    fp = small_graph.fingerprint()
    code = ("from roma_core.graphs import hyperbolic_graph;"
            "print(hyperbolic_graph(2000, mean_degree=10, gamma=2.7, beta=2.0, seed=7).fingerprint())")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == fp  # same in a fresh process
    src, dst, _ = small_graph.edges()
    perm = np.random.default_rng(0).permutation(len(src))
    same = Graph.from_edges(np.r_[dst[perm], src[:10]], np.r_[src[perm], dst[:10]], small_graph.num_nodes)
    assert same.fingerprint() == fp  # order, orientation and duplicates do not matter; coordinates neither
    moved = Graph.from_edges(np.r_[src[1:], 0], np.r_[dst[1:], 1999], small_graph.num_nodes)
    assert moved.fingerprint() != fp
    weighted = Graph.from_edges(src, dst, small_graph.num_nodes, np.ones(len(src)))
    assert weighted.fingerprint() != fp
    assert Graph.from_edges(src, dst, small_graph.num_nodes + 1).fingerprint() != fp


def test_subgraph_matches_networkx(small_graph):
    nodes = np.random.default_rng(1).choice(small_graph.num_nodes, 300, replace=False)
    sub = small_graph.subgraph(nodes)
    ref = nx.relabel_nodes(small_graph.to_networkx().subgraph(nodes.tolist()),
                           {int(v): k for k, v in enumerate(nodes)})
    assert sub.num_nodes == 300 and sub.num_edges == ref.number_of_edges()
    assert _edges(sub) == {tuple(sorted(e)) for e in ref.edges()}
    assert np.array_equal(sub.theta, small_graph.theta[nodes])
    mask = np.zeros(small_graph.num_nodes, bool)
    mask[nodes] = True
    assert small_graph.subgraph(mask) == small_graph.subgraph(np.sort(nodes))


def test_components_and_largest_component():
    # a triangle, a path of 4 and an isolated node
    g = Graph.from_edges([0, 1, 2, 3, 4, 5], [1, 2, 0, 4, 5, 6], num_nodes=8, theta=np.arange(8.0))
    count, labels = g.components()
    assert count == 3 and len(set(labels[[3, 4, 5, 6]])) == 1
    big = g.largest_component()
    assert big.num_nodes == 4 and big.num_edges == 3
    assert big.theta.tolist() == [3.0, 4.0, 5.0, 6.0]
    ref = max(nx.connected_components(g.to_networkx()), key=len)
    assert big.num_nodes == len(ref)
    single = Graph.from_edges([0, 1], [1, 2])
    assert single.largest_component() is single


def _edges(g):
    src, dst, _ = g.edges()
    return set(zip(src.tolist(), dst.tolist()))


def test_new_zarr_store_is_written_atomically(tmp_path, small_graph):
    path = tmp_path / "g.zarr"
    small_graph.save(path)
    assert Graph.load(path) == small_graph
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.zarr"]  # no temporary left behind


def test_loading_something_else_says_what_to_use(tmp_path):
    text = tmp_path / "edges.csv"
    text.write_text("0,1\n1,2\n")
    single = tmp_path / "array.npz"
    with open(single, "wb") as f:
        np.save(f, np.arange(3))
    for path in (text, single):
        with pytest.raises(FileFormatError, match="read_edgelist"):
            Graph.load(path)


def test_string_ids_are_rejected_clearly():
    with pytest.raises(GraphError, match="integer node ids"):
        Graph.from_edges(np.array(["a", "b"]), np.array(["b", "c"]))
