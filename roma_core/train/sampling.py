"""Subgraph sampling (GraphSAINT-style random walks) and induced edges, in O(batch) work
per step: memory per step does not grow with N (one reusable N-length id map aside)."""
from __future__ import annotations

import numpy as np


class Sampler:
    """Random-walk subgraphs of ``graph``: ``roots`` uniform start nodes, walks of
    ``walk_length`` uniform-neighbour steps; the node set is every node visited.

    Parameters
    ----------
    graph : Graph
        The graph sampled.
    roots : int
        Start nodes per subgraph (at most the number of nodes).
    walk_length : int
        Steps per walk.
    """

    def __init__(self, graph, roots: int = 512, walk_length: int = 16):
        self.graph = graph
        self.roots = min(int(roots), graph.num_nodes)
        self.walk_length = int(walk_length)
        self._local = np.full(graph.num_nodes, -1, dtype=np.int64)

    def walk(self, rng: np.random.Generator) -> np.ndarray:
        """One subgraph: the nodes visited by the walks from ``roots`` distinct uniform start
        nodes (a node without neighbours stays in place).

        Parameters
        ----------
        rng : numpy.random.Generator

        Returns
        -------
        numpy.ndarray
            Sorted unique node ids.
        """
        g = self.graph
        deg = g.degree
        cur = rng.choice(g.num_nodes, size=self.roots, replace=False)
        seen = [cur]
        for _ in range(self.walk_length):
            d = deg[cur]
            step = (rng.random(len(cur)) * np.maximum(d, 1)).astype(np.int64)
            nxt = g.indices[np.minimum(g.indptr[cur] + step, len(g.indices) - 1)].astype(np.int64)
            cur = np.where(d > 0, nxt, cur)
            seen.append(cur)
        return np.unique(np.concatenate(seen))

    def induced_edges(self, nodes: np.ndarray) -> np.ndarray:
        """(2, E) local edge index of the subgraph induced by sorted ``nodes``.

        Parameters
        ----------
        nodes : numpy.ndarray
            Sorted node ids.

        Returns
        -------
        numpy.ndarray
            Edges as positions in ``nodes``.
        """
        g = self.graph
        self._local[nodes] = np.arange(len(nodes))
        starts, stops = g.indptr[nodes], g.indptr[nodes + 1]
        counts = stops - starts
        src = np.repeat(np.arange(len(nodes)), counts)
        offs = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        dst = self._local[g.indices[np.repeat(starts, counts) + offs]]
        self._local[nodes] = -1
        keep = dst >= 0
        return np.stack([src[keep], dst[keep]])

    def halo(self, nodes: np.ndarray, hops: int) -> np.ndarray:
        """``nodes`` plus everything within ``hops`` edges (sorted unique ids).

        Parameters
        ----------
        nodes : numpy.ndarray
            Node ids.
        hops : int
            How far the halo reaches.

        Returns
        -------
        numpy.ndarray
        """
        g = self.graph
        out = np.asarray(nodes, dtype=np.int64)
        frontier = out
        for _ in range(hops):
            starts, stops = g.indptr[frontier], g.indptr[frontier + 1]
            counts = stops - starts
            offs = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
            nb = g.indices[np.repeat(starts, counts) + offs].astype(np.int64)
            new = np.setdiff1d(np.unique(nb), out, assume_unique=True)
            out = np.union1d(out, new)
            frontier = new
        return out
