"""The one graph type: node-major CSR plus optional hyperbolic node coordinates."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numba
import numpy as np
import scipy.sparse as sp

from ..errors import FileFormatError, GraphError

COORDINATES = ("theta", "kappa", "radius")


class Graph:
    """A graph stored as CSR (``indptr``, ``indices``, optional ``weights``).

    Undirected graphs (the default) store each edge in both rows. Build one with
    :meth:`from_edges`, :func:`~roma_core.graphs.hyperbolic_graph`,
    :func:`~roma_core.graphs.read_edgelist` or :meth:`load`.

    Parameters
    ----------
    indptr : array_like of int
        ``num_nodes + 1`` row offsets, starting at 0 and ending at ``len(indices)``.
    indices : array_like of int
        Column (neighbour) ids of every stored entry, row after row.
    weights : array_like of float, optional
        One weight per stored entry; None for an unweighted graph.
    theta, kappa, radius : array_like of float, optional
        Per-node coordinates of the S1/H2 model: angle, hidden degree and H2 radius.
    meta : dict, optional
        JSON-serialisable metadata (e.g. the generator's spec), saved with the graph.
    directed : bool
        Whether each edge is stored once (directed) or in both rows (undirected).

    Raises
    ------
    roma_core.errors.GraphError
        When the arrays do not form a CSR matrix or a coordinate has the wrong length.
    """

    def __init__(self, indptr, indices, weights=None, *, theta=None, kappa=None, radius=None,
                 meta: dict | None = None, directed: bool = False):
        self.indptr = np.ascontiguousarray(indptr, dtype=np.int64)
        self.indices = np.ascontiguousarray(indices, dtype=np.int32)
        self.weights = None if weights is None else np.ascontiguousarray(weights, dtype=np.float64)
        self.directed = bool(directed)
        self.meta = dict(meta or {})
        n = self.num_nodes
        if self.indptr.ndim != 1 or len(self.indptr) < 1 or self.indptr[0] != 0 \
                or self.indptr[-1] != len(self.indices) or np.any(np.diff(self.indptr) < 0):
            raise GraphError("indptr must start at 0, be non-decreasing and end at len(indices)")
        if len(self.indices) and (self.indices.min() < 0 or self.indices.max() >= n):
            raise GraphError(f"indices must lie in [0, {n}); got [{self.indices.min()}, {self.indices.max()}]")
        if self.weights is not None and self.weights.shape != self.indices.shape:
            raise GraphError(f"weights has {len(self.weights)} entries, indices {len(self.indices)}")
        for name, value in zip(COORDINATES, (theta, kappa, radius)):
            if value is not None:
                value = np.ascontiguousarray(value, dtype=np.float64)
                if value.shape != (n,):
                    raise GraphError(f"{name} must have one value per node ({n}), got shape {value.shape}")
            setattr(self, name, value)

    # ------------------------------------------------------------------ basics
    @property
    def num_nodes(self) -> int:
        """Number of nodes."""
        return len(self.indptr) - 1

    @property
    def nnz(self) -> int:
        """Stored (directed) entries: twice the edge count for undirected graphs."""
        return len(self.indices)

    @property
    def num_edges(self) -> int:
        """Number of edges (each undirected edge counted once)."""
        return self.nnz if self.directed else self.nnz // 2

    @property
    def degree(self) -> np.ndarray:
        """Stored entries per node (out-degree for directed graphs), int64."""
        return np.diff(self.indptr)

    @property
    def has_coordinates(self) -> bool:
        """Whether the nodes carry S1/H2 coordinates (at least ``theta``)."""
        return self.theta is not None

    def __repr__(self) -> str:
        kind = "directed" if self.directed else "undirected"
        coords = ", S1/H2 coordinates" if self.has_coordinates else ""
        return f"Graph({self.num_nodes} nodes, {self.num_edges} {kind} edges{coords})"

    def __eq__(self, other) -> bool:
        if not isinstance(other, Graph):
            return NotImplemented
        same = lambda a, b: (a is None and b is None) or (a is not None and b is not None and np.array_equal(a, b))
        return (self.directed == other.directed and np.array_equal(self.indptr, other.indptr)
                and np.array_equal(self.indices, other.indices) and same(self.weights, other.weights)
                and all(same(getattr(self, c), getattr(other, c)) for c in COORDINATES))

    def row_ids(self) -> np.ndarray:
        """The source node of every stored entry.

        Returns
        -------
        numpy.ndarray
            int64, the COO row array matching ``indices``.
        """
        return np.repeat(np.arange(self.num_nodes, dtype=np.int64), self.degree)

    def edges(self):
        """Each edge once.

        Returns
        -------
        src, dst : numpy.ndarray
            int64 end points; for undirected graphs ``src < dst``.
        weights : numpy.ndarray or None
            The edges' weights, None for an unweighted graph.
        """
        src = self.row_ids()
        keep = slice(None) if self.directed else src < self.indices
        w = None if self.weights is None else self.weights[keep]
        return src[keep], self.indices[keep].astype(np.int64), w

    # ------------------------------------------------------------ construction
    @classmethod
    def from_edges(cls, src, dst, num_nodes: int | None = None, weights=None, *, directed: bool = False,
                   **coords) -> "Graph":
        """Build from edge lists. Undirected by default: symmetrised, self-loops and duplicate
        edges dropped (a repeated edge keeps its first weight).

        Parameters
        ----------
        src, dst : array_like of int
            End points of every edge (non-negative integer ids).
        num_nodes : int, optional
            Number of nodes; default: the largest id plus one.
        weights : array_like of float, optional
            Non-negative weight of every edge.
        directed : bool
            Keep edges as given instead of symmetrising them.
        **coords
            ``theta``, ``kappa``, ``radius`` per node, passed to :class:`Graph`.

        Returns
        -------
        Graph

        Raises
        ------
        roma_core.errors.GraphError
            For ids that are negative, non-integer or beyond ``num_nodes``, and for NaN or
            negative weights.
        """
        src = np.asarray(src)
        dst = np.asarray(dst)
        if src.shape != dst.shape or src.ndim != 1:
            raise GraphError(f"src and dst must be 1-D of equal length, got shapes {src.shape} and {dst.shape}")
        for name, ids in (("src", src), ("dst", dst)):
            if not (np.issubdtype(ids.dtype, np.number) or ids.dtype == bool):
                raise GraphError(f"{name} must hold integer node ids, got dtype {ids.dtype}; "
                                 "map names to integers first (read_edgelist relabels files)")
            if len(ids) and not np.issubdtype(ids.dtype, np.integer):
                if not np.all(np.isfinite(ids)) or not np.all(ids == np.round(ids)):
                    raise GraphError(f"{name} holds non-integer node ids")
        src = src.astype(np.int64)
        dst = dst.astype(np.int64)
        if weights is not None:
            weights = np.asarray(weights, dtype=np.float64)
            if weights.shape != src.shape:
                raise GraphError(f"weights has {len(weights)} entries but there are {len(src)} edges")
            if np.any(np.isnan(weights)):
                raise GraphError(f"weights contain NaN (first at edge {int(np.flatnonzero(np.isnan(weights))[0])})")
            if np.any(weights < 0):
                raise GraphError(f"weights must be non-negative (first negative at edge "
                                 f"{int(np.flatnonzero(weights < 0)[0])})")
        if len(src) and min(src.min(), dst.min()) < 0:
            raise GraphError("node ids must be non-negative")
        top = int(max(src.max(), dst.max())) + 1 if len(src) else 0
        if num_nodes is None:
            num_nodes = top
        elif top > num_nodes:
            raise GraphError(f"node id {top - 1} is out of range for num_nodes={num_nodes}")
        keep = src != dst
        src, dst = src[keep], dst[keep]
        w = None if weights is None else weights[keep]
        if not directed:
            lo, hi = np.minimum(src, dst), np.maximum(src, dst)
            src, dst = lo, hi
        _, first = np.unique(src * max(num_nodes, 1) + dst, return_index=True)
        first.sort()
        src, dst = src[first], dst[first]
        w = None if w is None else w[first]
        return cls.from_unique_pairs(src, dst, num_nodes, w, directed=directed, **coords)

    @classmethod
    def from_unique_pairs(cls, src, dst, num_nodes: int, weights=None, *, directed: bool = False,
                          **coords) -> "Graph":
        """Fast path of :meth:`from_edges` when pairs are already unique and loop-free (for
        undirected graphs, each edge given once in either orientation); nothing is checked.

        Parameters
        ----------
        src, dst : array_like of int
            End points of every edge.
        num_nodes : int
            Number of nodes.
        weights : array_like of float, optional
            Weight of every edge.
        directed : bool
            Store each pair once (directed) or in both rows.
        **coords
            ``theta``, ``kappa``, ``radius`` per node.

        Returns
        -------
        Graph
        """
        src, dst = np.ascontiguousarray(src), np.ascontiguousarray(dst)
        if not (np.issubdtype(src.dtype, np.integer) and np.issubdtype(dst.dtype, np.integer)):
            src, dst = src.astype(np.int64), dst.astype(np.int64)
        w = np.zeros(0) if weights is None else np.ascontiguousarray(weights, dtype=np.float64)
        indptr, indices, w_sorted = _csr_from_pairs(src, dst, num_nodes, w, weights is not None, not directed)
        return cls(indptr, indices, w_sorted if weights is not None else None, directed=directed, **coords)

    # ------------------------------------------------------------ sub-graphs
    def subgraph(self, nodes) -> "Graph":
        """The induced subgraph on some nodes; coordinates and meta carry over.

        Parameters
        ----------
        nodes : array_like
            Node ids, or a boolean mask over the nodes.

        Returns
        -------
        Graph
            Nodes relabelled ``0..n-1`` in the order given.
        """
        nodes = np.asarray(nodes)
        if nodes.dtype == bool:
            nodes = np.flatnonzero(nodes)
        new_id = np.full(self.num_nodes, -1, dtype=np.int64)
        new_id[nodes] = np.arange(len(nodes))
        sub = self.adjacency()[nodes][:, nodes].tocsr()
        sub.sort_indices()
        coords = {c: getattr(self, c)[nodes] for c in COORDINATES if getattr(self, c) is not None}
        return Graph(sub.indptr, sub.indices, sub.data if self.weights is not None else None,
                     meta=self.meta, directed=self.directed, **coords)

    def components(self) -> tuple[int, np.ndarray]:
        """Connected components (weakly connected, for directed graphs).

        Returns
        -------
        count : int
            Number of components.
        labels : numpy.ndarray
            The component of every node.
        """
        return sp.csgraph.connected_components(self.adjacency(), directed=self.directed, connection="weak")

    def largest_component(self) -> "Graph":
        """The subgraph on the largest connected component (``self`` when connected).

        Returns
        -------
        Graph
        """
        count, labels = self.components()
        if count <= 1:
            return self
        biggest = np.argmax(np.bincount(labels))
        return self.subgraph(labels == biggest)

    # ------------------------------------------------------------ matrices
    def adjacency(self, dtype=np.float64) -> sp.csr_array:
        """The adjacency matrix (the weights, or ones).

        Parameters
        ----------
        dtype : numpy.dtype
            Type of the entries.

        Returns
        -------
        scipy.sparse.csr_array
            ``num_nodes x num_nodes``, sharing the graph's index arrays.
        """
        data = self.weights if self.weights is not None else np.ones(self.nnz, dtype=dtype)
        return sp.csr_array((data.astype(dtype, copy=False), self.indices, self.indptr),
                            shape=(self.num_nodes, self.num_nodes))

    def laplacian(self, kind: str = "combinatorial") -> sp.csr_array:
        """The graph Laplacian.

        Parameters
        ----------
        kind : {"combinatorial", "normalized"}
            ``L = D - A``, or ``I - D^-1/2 A D^-1/2`` (isolated nodes get a zero row).

        Returns
        -------
        scipy.sparse.csr_array

        Raises
        ------
        roma_core.errors.GraphError
            For another ``kind``.
        """
        a = self.adjacency()
        d = np.asarray(a.sum(axis=1)).ravel()
        if kind == "combinatorial":
            return (sp.diags_array(d) - a).tocsr()
        if kind == "normalized":
            inv = np.zeros_like(d)
            inv[d > 0] = 1.0 / np.sqrt(d[d > 0])
            return (sp.diags_array((d > 0).astype(float)) - sp.diags_array(inv) @ a @ sp.diags_array(inv)).tocsr()
        raise GraphError(f"unknown Laplacian kind {kind!r}; use 'combinatorial' or 'normalized'")

    def fingerprint(self) -> str:
        """A stable hash of the structure (CSR and weights), independent of coordinates.

        Returns
        -------
        str
            16 hexadecimal digits; trajectories, hierarchies and checkpoints record it.
        """
        h = hashlib.sha256()
        h.update(b"directed" if self.directed else b"undirected")
        for arr in (self.indptr, self.indices.astype(np.int64), self.weights):
            if arr is not None:
                h.update(np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<"), copy=False).tobytes())
        return h.hexdigest()[:16]

    # ------------------------------------------------------------ conversion
    def to_pyg(self):
        """The graph for PyTorch Geometric.

        Returns
        -------
        torch_geometric.data.Data
            ``edge_index`` (both directions of undirected edges), and ``edge_weight``,
            ``theta``, ``kappa``, ``radius`` where present.
        """
        import torch
        from torch_geometric.data import Data

        data = Data(edge_index=torch.from_numpy(np.stack([self.row_ids(), self.indices.astype(np.int64)])),
                    num_nodes=self.num_nodes)
        if self.weights is not None:
            data.edge_weight = torch.from_numpy(self.weights)
        for c in COORDINATES:
            if getattr(self, c) is not None:
                data[c] = torch.from_numpy(getattr(self, c))
        return data

    @classmethod
    def from_pyg(cls, data, directed: bool = False) -> "Graph":
        """A graph from PyTorch Geometric data (the inverse of :meth:`to_pyg`).

        Parameters
        ----------
        data : torch_geometric.data.Data
            With ``edge_index`` and ``num_nodes``; ``edge_weight`` and coordinates are kept.
        directed : bool
            Keep the edges as given instead of symmetrising them.

        Returns
        -------
        Graph
        """
        ei = data.edge_index.detach().cpu().numpy()
        w = getattr(data, "edge_weight", None)
        coords = {c: data[c].detach().cpu().numpy() for c in COORDINATES if c in data}
        return cls.from_edges(ei[0], ei[1], int(data.num_nodes),
                              None if w is None else w.detach().cpu().numpy(), directed=directed, **coords)

    def to_networkx(self, max_nodes: int = 200_000):
        """A networkx graph, for small graphs only (Python objects per edge).

        Parameters
        ----------
        max_nodes : int
            Refuse graphs larger than this.

        Returns
        -------
        networkx.Graph or networkx.DiGraph
            Edge weights as the ``weight`` attribute.

        Raises
        ------
        roma_core.errors.GraphError
            When the graph has more than ``max_nodes`` nodes.
        """
        import networkx as nx

        if self.num_nodes > max_nodes:
            raise GraphError(f"to_networkx is for small graphs: {self.num_nodes} nodes > max_nodes={max_nodes}")
        g = nx.DiGraph() if self.directed else nx.Graph()
        g.add_nodes_from(range(self.num_nodes))
        src, dst, w = self.edges()
        if w is None:
            g.add_edges_from(zip(src.tolist(), dst.tolist()))
        else:
            g.add_weighted_edges_from(zip(src.tolist(), dst.tolist(), w.tolist()))
        return g

    # ------------------------------------------------------------ storage
    def arrays(self) -> dict:
        """The arrays stored on disk.

        Returns
        -------
        dict of str to numpy.ndarray
            ``indptr``, ``indices``, and ``weights`` and coordinates where present.
        """
        out = {"indptr": self.indptr, "indices": self.indices}
        if self.weights is not None:
            out["weights"] = self.weights
        for c in COORDINATES:
            if getattr(self, c) is not None:
                out[c] = getattr(self, c)
        return out

    def _attrs(self) -> dict:
        return {"roma_kind": "graph", "directed": self.directed, "meta": self.meta,
                "fingerprint": self.fingerprint()}

    @classmethod
    def _from_parts(cls, arrays: dict, attrs: dict, source) -> "Graph":
        if attrs.get("roma_kind") != "graph" or "indptr" not in arrays:
            raise FileFormatError(f"{source}: not a ROMA graph (no 'indptr'/'roma_kind=graph')")
        return cls(arrays["indptr"], arrays["indices"], arrays.get("weights"),
                   directed=bool(attrs.get("directed", False)), meta=attrs.get("meta", {}),
                   **{c: arrays.get(c) for c in COORDINATES})

    def save(self, path) -> Path:
        """Write to ``.npz`` or a ``.zarr`` store, atomically: a new file or store is written
        under a temporary name and renamed into place. An existing zarr store (e.g. a
        trajectory) gets the graph added under its ``graph`` group. An existing path is
        written only when ROMA wrote it (it carries ROMA's marker).

        Parameters
        ----------
        path : str or os.PathLike
            Ending in ``.npz`` or ``.zarr``.

        Returns
        -------
        pathlib.Path
            The path written.

        Raises
        ------
        roma_core.errors.FileFormatError
            For another suffix.
        roma_core.errors.StoreError
            (``NotOwnedError``) If ``path`` exists and ROMA did not write it; it is left untouched.
        """
        from ..data.store import refuse_unowned

        path = Path(path)
        if path.suffix not in (".npz", ".zarr"):
            raise FileFormatError(f"{path}: graphs are saved as .npz or into a .zarr store")
        if path.exists() or path.is_symlink():
            refuse_unowned(path)
        if path.suffix == ".zarr" and path.is_dir():
            import zarr
            self.to_zarr(zarr.open_group(str(path), mode="a"))
            return path
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp{path.suffix}")
        try:
            if path.suffix == ".zarr":
                import zarr
                root = zarr.open_group(str(tmp), mode="w")
                self.to_zarr(root)
                root.attrs["roma_kind"] = "graph"
            else:
                np.savez_compressed(tmp, __attrs__=np.array(json.dumps(self._attrs())), **self.arrays())
            os.replace(tmp, path)
        finally:
            if tmp.is_dir():
                shutil.rmtree(tmp)
            elif tmp.exists():
                tmp.unlink()
        return path

    @classmethod
    def load(cls, path) -> "Graph":
        """Read a graph saved by :meth:`save` (``.npz``) or stored in a zarr store.

        Parameters
        ----------
        path : str or os.PathLike
            A ``.npz`` file or a zarr store (a trajectory's graph included).

        Returns
        -------
        Graph

        Raises
        ------
        roma_core.errors.FileFormatError
            When the path is missing or holds no ROMA graph.
        """
        path = Path(path)
        if not path.exists():
            raise FileFormatError(f"{path}: no such file")
        if path.is_dir():
            import zarr
            if not (path / "zarr.json").is_file():
                raise FileFormatError(f"{path}: a folder but not a zarr store (no zarr.json); give a .npz "
                                      "graph or a .zarr store written by roma")
            return cls.from_zarr(zarr.open_group(str(path), mode="r"))
        try:
            f = np.load(path, allow_pickle=False)
            if not isinstance(f, np.lib.npyio.NpzFile):
                raise ValueError("a single array, not an archive")
            with f:
                arrays = {k: f[k] for k in f.files}
        except (OSError, ValueError, EOFError) as exc:
            raise FileFormatError(f"{path}: not a graph saved by roma (expected a .npz written by Graph.save "
                                  f"or a .zarr store; for edge lists use read_edgelist / `roma graph load`)"
                                  ) from exc
        attrs = json.loads(str(arrays.pop("__attrs__"))) if "__attrs__" in arrays else {}
        return cls._from_parts(arrays, attrs, path)

    def to_zarr(self, group, name: str = "graph") -> None:
        """Store under ``group[name]`` of an open zarr group (replacing what was there).

        Parameters
        ----------
        group : zarr.Group
            An open, writable group.
        name : str
            The sub-group to write.
        """
        g = group.require_group(name)
        for key in list(g.array_keys()):
            del g[key]
        for key, arr in self.arrays().items():
            g.create_array(key, data=arr, chunks=(max(1, min(len(arr), 1 << 22)),))
        g.attrs.update(self._attrs())

    @classmethod
    def from_zarr(cls, group, name: str = "graph") -> "Graph":
        """Read a graph stored by :meth:`to_zarr`.

        Parameters
        ----------
        group : zarr.Group
            An open group.
        name : str
            The sub-group holding the graph.

        Returns
        -------
        Graph

        Raises
        ------
        roma_core.errors.FileFormatError
            When there is no graph under ``name``.
        """
        if name not in group:
            raise FileFormatError(f"{group.store}: no graph stored under {name!r}")
        g = group[name]
        return cls._from_parts({k: g[k][:] for k in g.array_keys()}, dict(g.attrs), g.store)


def _csr_from_pairs(src, dst, n, weights, has_weights, both_ways):
    """Counting sort of (src, dst) pairs into CSR (``both_ways``: (dst, src) too, without
    building the doubled pair arrays), then each row sorted by column."""
    indptr, indices, w = _scatter_rows(src, dst, n, weights, has_weights, both_ways)
    _sort_rows(indptr, indices, w, has_weights)
    return indptr, indices, w


@numba.njit(cache=True)
def _scatter_rows(src, dst, n, weights, has_weights, both_ways):
    indptr = np.zeros(n + 1, dtype=np.int64)
    for s in src:
        indptr[s + 1] += 1
    if both_ways:
        for d in dst:
            indptr[d + 1] += 1
    for i in range(n):
        indptr[i + 1] += indptr[i]
    fill = indptr[:-1].copy()
    indices = np.empty(indptr[n], dtype=np.int32)
    w = np.empty(indptr[n] if has_weights else 0, dtype=np.float64)
    for e in range(len(src)):
        a, b = src[e], dst[e]
        k = fill[a]
        indices[k] = b
        if has_weights:
            w[k] = weights[e]
        fill[a] += 1
        if both_ways:
            k = fill[b]
            indices[k] = a
            if has_weights:
                w[k] = weights[e]
            fill[b] += 1
    return indptr, indices, w


@numba.njit(parallel=True, cache=True)
def _sort_rows(indptr, indices, w, has_weights):
    for i in numba.prange(len(indptr) - 1):
        a, b = indptr[i], indptr[i + 1]
        if b - a > 1:
            order = np.argsort(indices[a:b], kind="mergesort")
            indices[a:b] = indices[a:b][order]
            if has_weights:
                w[a:b] = w[a:b][order]


def describe(path) -> str:
    """A short summary of a saved graph, for ``roma info``.

    Parameters
    ----------
    path : str or os.PathLike
        A saved graph.

    Returns
    -------
    str
        Sizes, degrees, components, coordinates, fingerprint and spec, one per line.
    """
    g = Graph.load(path)
    k = g.degree
    count, _ = g.components()
    lines = [f"graph {path}", f"  nodes        {g.num_nodes:,}", f"  edges        {g.num_edges:,}"
             f" ({'directed' if g.directed else 'undirected'})"]
    if g.num_nodes:
        lines.append(f"  degree       min {k.min()}  mean {k.mean():.3f}  max {k.max()}")
    lines += [f"  components   {count}", f"  coordinates  {'theta, kappa, radius' if g.has_coordinates else 'none'}",
              f"  weights      {'yes' if g.weights is not None else 'no'}", f"  fingerprint  {g.fingerprint()}"]
    if g.meta.get("spec"):
        lines.append(f"  spec         {json.dumps(g.meta['spec'], sort_keys=True)}")
    return "\n".join(lines)
