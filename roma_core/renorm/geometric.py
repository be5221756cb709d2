"""Geometric renormalization group (GRG, docs/science.md §3): blocks of ``block`` consecutive
nodes in angular order become supernodes, level after level.

Graphs without S1 angles are refused unless ``embed=True``, which first embeds them in the
hyperbolic plane (:func:`roma_core.graphs.embed`: κ from the degrees, β fitted to the
clustering, angles by S1 maximum likelihood). The hierarchy's level-0 graph is then a copy
of the input (same structure and fingerprint) carrying those coordinates, and the fitted β
is the default β of the supernodes.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import HierarchyError
from ..graphs import Graph
from ..graphs import embed as embed_graph
from ..progress import ProgressCallback, report
from ..specs import HierarchySpec
from .contract import contract, graph_beta, one_hot
from .hierarchy import Hierarchy


def geometric(graph: Graph, block: int = 2, levels: int | None = None, *, beta: float | None = None,
              min_nodes: int = 16, embed: bool = False, progress: ProgressCallback | None = None) -> Hierarchy:
    """Build a geometric-RG hierarchy: blocks of consecutive angles become supernodes,
    level after level (docs/science.md §3).

    Parameters
    ----------
    graph : roma_core.graphs.Graph
        An undirected graph with angles (``theta``), or any graph with ``embed=True``.
    block : int
        Consecutive nodes (by angle) per supernode, at least 2.
    levels : int, optional
        Coarsening steps; None coarsens while the next level keeps at least ``min_nodes``
        nodes (at least one level).
    beta : float, optional
        The β of the supernodes' hidden degree κ' = (Σκ^β)^(1/β); default: the graph's
        own (from its metadata), else 2.
    min_nodes : int
        Where automatic coarsening stops.
    embed : bool
        First embed a graph without coordinates in the hyperbolic plane
        (:func:`roma_core.graphs.embed`).
    progress : callable, optional
        ``progress(done, total)`` over the levels.

    Returns
    -------
    roma_core.renorm.Hierarchy
        Hard assignments; coarse graphs with supernode coordinates.

    Raises
    ------
    roma_core.errors.HierarchyError
        For a graph without angles (and no ``embed``), a directed graph or invalid sizes.
    """
    _check_args(graph, block, levels, min_nodes)
    if graph.theta is None:
        if not embed:
            raise HierarchyError("geometric RG needs node angles (theta): this graph has no S1 coordinates. "
                                 "Generate it with hyperbolic_graph, or pass embed=True to infer angles "
                                 "by embedding the graph in the hyperbolic plane (--embed on the CLI).")
        graph = embed_graph(graph)
    beta = graph_beta(graph, 2.0) if beta is None else float(beta)
    if not beta > 0:
        raise HierarchyError(f"beta must be > 0, got {beta}")
    if levels is None:
        levels, n = 0, graph.num_nodes
        while -(-n // block) >= min_nodes or levels == 0:
            n = -(-n // block)
            levels += 1
            if n <= 1:
                break
    spec = HierarchySpec(method="geometric", levels=levels, block=block, min_nodes=min_nodes)
    graphs, assign = [graph], []
    for l in range(levels):
        g = graphs[-1]
        if g.num_nodes < 2:
            raise HierarchyError(f"level {l} has {g.num_nodes} node(s) and cannot be coarsened; "
                                 f"ask for at most {l} levels")
        order = np.argsort(np.mod(g.theta, 2 * math.pi), kind="stable")
        labels = np.empty(g.num_nodes, dtype=np.int64)
        labels[order] = np.arange(g.num_nodes, dtype=np.int64) // block
        n_super = -(-g.num_nodes // block)
        assign.append(one_hot(labels, n_super))
        graphs.append(contract(g, labels, n_super, beta, {"generator": "grg", "level": l + 1, "block": block}))
        report(progress, l + 1, levels)
    return Hierarchy(graphs, assign, spec=spec.to_dict(), meta={"beta": beta}, name="geometric")


def _check_args(graph, block, levels, min_nodes) -> None:
    if not isinstance(graph, Graph):
        raise HierarchyError(f"expected a roma Graph, got {type(graph).__name__}")
    if graph.directed:
        raise HierarchyError("renormalization needs an undirected graph; symmetrise it first")
    if isinstance(block, bool) or not isinstance(block, (int, np.integer)) or block < 2:
        raise HierarchyError(f"block must be an integer >= 2 (nodes merged per supernode), got {block!r}")
    if levels is not None and (isinstance(levels, bool) or not isinstance(levels, (int, np.integer)) or levels < 1):
        raise HierarchyError(f"levels must be an integer >= 1 (or None for automatic), got {levels!r}")
    if isinstance(min_nodes, bool) or not isinstance(min_nodes, (int, np.integer)) or min_nodes < 1:
        raise HierarchyError(f"min_nodes must be an integer >= 1, got {min_nodes!r}")
    if graph.num_nodes < 2:
        raise HierarchyError(f"a graph of {graph.num_nodes} node(s) cannot be coarsened")


def spectral_angles(graph: Graph, seed: int = 0) -> Graph:
    """A copy of a graph with angles from its spectral embedding and κ = degree.

    Parameters
    ----------
    graph : roma_core.graphs.Graph
        Undirected, at least 4 nodes, none isolated.
    seed : int
        Seed of the eigensolver's start vector.

    Returns
    -------
    roma_core.graphs.Graph

    Raises
    ------
    roma_core.errors.HierarchyError
        For too few nodes or isolated nodes.
    """
    import scipy.sparse.linalg as sla

    n = graph.num_nodes
    if n < 4:
        raise HierarchyError(f"spectral angles need at least 4 nodes, got {n}")
    a = graph.adjacency()
    d = np.asarray(a.sum(axis=1)).ravel()
    if np.any(d == 0):
        raise HierarchyError("spectral angles need a graph without isolated nodes; drop them first "
                             "(e.g. graph.largest_component())")
    inv = 1.0 / np.sqrt(d)
    m = a.multiply(inv[:, None]).multiply(inv[None, :]).tocsr()
    v0 = np.random.default_rng(seed).standard_normal(n)
    if n <= 2_000:
        vals, vecs = np.linalg.eigh(m.toarray())
    else:
        vals, vecs = sla.eigsh(m, k=3, which="LA", v0=v0)
    top = np.argsort(vals)[::-1][1:3]
    x, y = vecs[:, top[0]] * inv, vecs[:, top[1]] * inv
    theta = np.mod(np.arctan2(y, x), 2 * math.pi)
    return Graph(graph.indptr, graph.indices, graph.weights, theta=theta, kappa=d.astype(np.float64),
                 meta={**graph.meta, "angles": "spectral"}, directed=graph.directed)
