"""Geometry of the Hierarchy view's drawings: where supernodes sit, the coarse graph's
weighted edge segments, and the degree distributions compared across levels."""
from __future__ import annotations

import numpy as np
import pandas as pd

from roma_core.graphs import Graph
from roma_core.renorm import Hierarchy

from .build import method_of

COARSE_EDGE_MAX = 200_000  # coarse edges aggregated per frame (~0.2 s); beyond, a weighted sample


def supernode_positions(h: Hierarchy, level: int, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where the supernodes of ``level`` are drawn, given the finest nodes' layout ``x, y``:
    a geometric hierarchy's own θ and κ-derived radius (radius / its largest, like the
    native disk), otherwise the (assignment-weighted) mean position of their members.

    Parameters
    ----------
    h : Hierarchy
        The hierarchy.
    level : int
        The level drawn (0: the nodes themselves).
    x, y : numpy.ndarray
        The finest nodes' positions.

    Returns
    -------
    tuple of numpy.ndarray
        x and y of each supernode.
    """
    g = h.graphs[level]
    if level == 0:
        return np.asarray(x), np.asarray(y)
    if method_of(h) == "GRG" and g.theta is not None and g.radius is not None:
        rho = g.radius / max(float(g.radius.max()), 1e-12)
        return rho * np.cos(g.theta), rho * np.sin(g.theta)
    c = np.asarray(h.coarsen(np.column_stack([x, y]).astype(np.float64), 0, target=level))
    return c[:, 0], c[:, 1]


def coarse_segments(graph: Graph, x: np.ndarray, y: np.ndarray, max_edges: int = COARSE_EDGE_MAX) -> pd.DataFrame:
    """One row ``x0, y0, x1, y1, w`` per undirected edge of a coarse graph drawn at ``x, y``;
    ``w`` is the edge weight (the fine edges it stands for). Beyond ``max_edges``, a
    deterministic uniform sample whose weights are scaled up to stand for all.

    Parameters
    ----------
    graph : Graph
        The coarse graph.
    x, y : numpy.ndarray
        Its nodes' positions.
    max_edges : int
        The most edges drawn.

    Returns
    -------
    pandas.DataFrame
    """
    src, dst, w = graph.edges()
    keep = src < dst if not graph.directed else np.ones(len(src), bool)
    src, dst = src[keep], dst[keep]
    w = np.ones(len(src)) if w is None else np.asarray(w, dtype=np.float64)[keep]
    if len(src) > max_edges:
        pick = np.linspace(0, len(src) - 1, max_edges).astype(np.int64)
        src, dst, w = src[pick], dst[pick], w[pick] * (len(src) / max_edges)
    return pd.DataFrame({"x0": x[src].astype(np.float32), "y0": y[src].astype(np.float32),
                         "x1": x[dst].astype(np.float32), "y1": y[dst].astype(np.float32), "w": w.astype(np.float32)})


def degree_ccdf(graph: Graph) -> tuple[np.ndarray, np.ndarray]:
    """Complementary cumulative degree distribution P(K ≥ k) over k / ⟨k⟩ (nodes of degree 0 left out).

    Parameters
    ----------
    graph : Graph

    Returns
    -------
    tuple of numpy.ndarray
        ``(k / ⟨k⟩, P(K ≥ k))`` over the distinct degrees.
    """
    k = np.sort(graph.degree[graph.degree > 0].astype(np.float64))
    if not len(k):
        return np.zeros(0), np.zeros(0)
    values, first = np.unique(k, return_index=True)
    return values / k.mean(), 1.0 - first / len(k)


__all__ = ["supernode_positions", "coarse_segments", "degree_ccdf", "COARSE_EDGE_MAX"]
