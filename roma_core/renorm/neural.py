"""Neural RG: ROMA's learned soft assignments as a :class:`Hierarchy`.

``to_hierarchy([S_0, S_1, ...], graph)`` keeps each row's entries above ``threshold``
(renormalised, so rows stay stochastic), builds coarse graphs A_{l+1} = S_lᵀ A_l S_l
(weighted, self-loops dropped) and gives supernodes the assignment-weighted circular
mean angle of their members. The model itself lives in :mod:`roma_core.models.pooling`.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..graphs import Graph


def _sparsify(s: np.ndarray, threshold: float) -> sp.csr_array:
    keep = s >= threshold
    keep[np.arange(len(s)), s.argmax(1)] = True          # every row keeps its largest entry
    s = np.where(keep, s, 0.0)
    return sp.csr_array(s / s.sum(1, keepdims=True))


def to_hierarchy(assign, graph=None, threshold: float = 0.01):
    """A :class:`roma_core.renorm.Hierarchy` from learned assignments (numpy arrays;
    S_0 may carry a leading window axis, averaged). ``graph`` is level 0 (an empty graph on
    the right number of nodes when None).

    Parameters
    ----------
    assign : sequence of numpy.ndarray
        S_0 (N × n_1, or W × N × n_1), S_1 (n_1 × n_2), ...: soft assignments, rows summing to 1.
    graph : Graph, optional
        The graph of level 0; the coarse graphs are S^T A S (self-loops dropped), with the
        assignment-weighted circular mean of the angles where it has them.
    threshold : float
        Assignment entries below this are dropped (each row keeps its largest) and the rows
        renormalised.

    Returns
    -------
    Hierarchy
    """
    from .hierarchy import Hierarchy

    mats = []
    for a in assign:
        a = np.asarray(a, dtype=np.float64)
        if a.ndim == 3:
            a = a.mean(0)
        mats.append(_sparsify(a, threshold))
    if graph is None:
        n = mats[0].shape[0]
        graph = Graph(np.zeros(n + 1, np.int64), np.zeros(0, np.int32))
    graphs = [graph]
    adj = graph.adjacency()
    theta = graph.theta
    for s in mats:
        adj = (s.T @ adj @ s).tocsr()
        adj.setdiag(0)
        adj.eliminate_zeros()
        coords = {}
        if theta is not None:
            z = s.T @ np.exp(1j * theta)
            theta = np.mod(np.angle(z), 2 * np.pi)
            coords["theta"] = theta
        coo = adj.tocoo()
        keep = coo.row < coo.col
        graphs.append(Graph.from_edges(coo.row[keep], coo.col[keep], adj.shape[0], coo.data[keep], **coords))
    return Hierarchy(graphs, mats, spec={"method": "neural"}, name="neural")
