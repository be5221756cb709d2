"""Subgraph sampling (GraphSAINT-style random walks) and induced edges, in O(batch) work
per step: memory per step does not grow with N (one reusable N-length id map aside).

Both jobs exist twice: on the host in numpy (:meth:`Sampler.walk`, :meth:`Sampler.induced_edges`)
and on a torch device (:meth:`Sampler.walk_tensor`, :meth:`Sampler.induced_edges_tensor`,
after :meth:`Sampler.to`), where a training step then does no numpy work. Given the same
start nodes and uniform numbers both give the same subgraph (:meth:`Sampler.walk_from`);
the device path draws its numbers from a torch generator, so for one seed its subgraphs
differ from the host path's but follow the same distribution.
"""
from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import torch

from ..models.batch import csr_rows


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
        self.device = None

    def to(self, device) -> "Sampler":
        """Keep a copy of the graph's CSR on ``device`` for the tensor methods.

        Parameters
        ----------
        device : torch.device or str

        Returns
        -------
        Sampler
            ``self``.
        """
        g, device = self.graph, torch.device(device)
        self.device = device
        self._indptr = torch.as_tensor(np.asarray(g.indptr, np.int64), device=device)
        self._indices = torch.as_tensor(np.asarray(g.indices, np.int64), device=device)
        self._degree = self._indptr[1:] - self._indptr[:-1]
        self._local_t = torch.full((g.num_nodes,), -1, dtype=torch.int64, device=device)
        return self

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
        cur = rng.choice(self.graph.num_nodes, size=self.roots, replace=False)
        return self.walk_from(cur, rng.random((self.walk_length, len(cur))))

    def walk_from(self, cur, uniforms):
        """The subgraph of walks from given start nodes, each step moving to the neighbour
        ``floor(u * degree)`` of the node's CSR row.

        Parameters
        ----------
        cur : numpy.ndarray or torch.Tensor
            int64 start nodes; a tensor must be on the device of :meth:`to`.
        uniforms : numpy.ndarray or torch.Tensor
            ``(walk_length, roots)`` float64 numbers in [0, 1), one per walker and step.

        Returns
        -------
        numpy.ndarray or torch.Tensor
            Sorted unique node ids, of the inputs' kind.
        """
        if isinstance(cur, torch.Tensor):
            indptr, indices, deg = self._indptr, self._indices, self._degree
            seen = [cur]
            for u in uniforms:
                d = deg[cur]
                step = (u * d.clamp(min=1)).long()
                nxt = indices[(indptr[cur] + step).clamp(max=len(indices) - 1)]
                cur = torch.where(d > 0, nxt, cur)
                seen.append(cur)
            return torch.unique(torch.cat(seen))
        g = self.graph
        deg = g.degree
        seen = [cur]
        for u in uniforms:
            d = deg[cur]
            step = (u * np.maximum(d, 1)).astype(np.int64)
            nxt = g.indices[np.minimum(g.indptr[cur] + step, len(g.indices) - 1)].astype(np.int64)
            cur = np.where(d > 0, nxt, cur)
            seen.append(cur)
        return np.unique(np.concatenate(seen))

    def walk_tensor(self, generator: torch.Generator) -> torch.Tensor:
        """:meth:`walk` on the device of :meth:`to`, with numbers from a torch generator.

        Parameters
        ----------
        generator : torch.Generator
            On that device.

        Returns
        -------
        torch.Tensor
            Sorted unique int64 node ids on the device.
        """
        if self.device is None:
            raise RuntimeError("Sampler.walk_tensor needs the graph on a device: call Sampler.to(device) first")
        n, dev, k = self.graph.num_nodes, self.device, self.roots
        if 4 * k > n:
            cur = torch.randperm(n, generator=generator, device=dev)[:k]
        else:        # distinct uniform roots without an O(N) permutation: redraw the repeats
            cur = torch.unique(torch.randint(0, n, (k,), generator=generator, device=dev))
            while len(cur) < k:
                more = torch.randint(0, n, (k - len(cur),), generator=generator, device=dev)
                cur = torch.unique(torch.cat([cur, more]))
        return self.walk_from(cur, torch.rand(self.walk_length, len(cur), generator=generator, device=dev,
                                              dtype=torch.float64))

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

    def induced_edges_tensor(self, nodes: torch.Tensor) -> torch.Tensor:
        """:meth:`induced_edges` on the device of :meth:`to` (the same edges in the same
        order).

        Parameters
        ----------
        nodes : torch.Tensor
            Sorted int64 node ids on that device.

        Returns
        -------
        torch.Tensor
            ``(2, E)`` int64 local edge index on the device.
        """
        if self.device is None:
            raise RuntimeError("Sampler.induced_edges_tensor needs the graph on a device: call Sampler.to(device) "
                               "first")
        local = self._local_t
        local[nodes] = torch.arange(len(nodes), device=nodes.device)
        starts = self._indptr[nodes]
        src, position = csr_rows(starts, self._indptr[nodes + 1] - starts)
        dst = local[self._indices[position]]
        local[nodes] = -1
        keep = dst >= 0
        return torch.stack([src[keep], dst[keep]])

    def adjacency(self, device=None) -> torch.Tensor:
        """The whole graph as a sparse CSR adjacency, as :meth:`induced_edges` of every node
        reads it: row i holds the nodes whose messages node i receives (the columns of the
        edge index's second row), for convolutions that multiply instead of gathering a
        message per edge.

        Parameters
        ----------
        device : torch.device or str, optional

        Returns
        -------
        torch.Tensor
            ``(N, N)`` sparse CSR, ones where an edge is.
        """
        g = self.graph
        a = sp.csr_array((np.ones(g.nnz, np.float32), g.indices, g.indptr), shape=(g.num_nodes,) * 2)
        a = a.T.tocsr() if g.directed else a        # an undirected graph's CSR is its own transpose
        with warnings.catch_warnings():             # torch calls its sparse CSR support beta
            warnings.simplefilter("ignore", UserWarning)
            return torch.sparse_csr_tensor(torch.from_numpy(a.indptr.astype(np.int64)),
                                           torch.from_numpy(a.indices.astype(np.int64)), torch.from_numpy(a.data),
                                           size=a.shape, device=device)
