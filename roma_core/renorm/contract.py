"""Contract a graph onto supernodes: the coarse graph shared by the geometric and Laplacian RGs.

Supernodes connect when any of their members do; a coarse edge's weight is the summed
weight of the fine edges it stands for (the number of input edges when the input graph is
unweighted). Coordinates follow docs/science.md §3: supernode angle = κ-weighted circular
mean of its members' angles, hidden degree κ' = (Σ κ_i^β)^(1/β) (the largest κ for β = ∞),
and, when the fine graph has H2 radii and the model's μ, radius r' = R̂' − 2 ln(κ'/κ0')
with μ' = μ N'/N (the GRG rescaling that keeps the connection probability's form),
κ0' = min κ' and R̂' = 2 ln(N'/(π μ' κ0'²)).
"""
from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from ..graphs import Graph


def graph_beta(graph: Graph, default: float | None = None) -> float | None:
    """The S1 inverse temperature β recorded in a graph's meta (generator spec or GRG level).

    Parameters
    ----------
    graph : Graph
    default : float, optional
        Returned when none is recorded.

    Returns
    -------
    float or None
    """
    meta = graph.meta or {}
    for value in (meta.get("beta"), (meta.get("spec") or {}).get("beta")):
        if value is not None:
            return float(value)
    return default


def one_hot(labels: np.ndarray, num_super: int) -> sp.csr_array:
    """Hard assignment matrix N × num_super with a single 1 per row.

    Parameters
    ----------
    labels : numpy.ndarray
        The supernode of each node, in ``[0, num_super)``.
    num_super : int
        The number of supernodes.

    Returns
    -------
    scipy.sparse.csr_array
    """
    n = len(labels)
    return sp.csr_array((np.ones(n), labels.astype(np.int64), np.arange(n + 1, dtype=np.int64)),
                        shape=(n, num_super))


def contract(graph: Graph, labels: np.ndarray, num_super: int, beta: float | None, meta: dict) -> Graph:
    """The coarse graph of ``graph`` under the hard assignment ``labels`` (node → supernode).

    Edge weights are summed over the merged edges (self-loops dropped); angles and hidden
    degrees are combined as the GRG does (κ-weighted circular mean of θ, κ as the β-norm of
    the members' κ), with the radii of the coarse S1/H2 model where ``mu`` is known.

    Parameters
    ----------
    graph : Graph
        The fine graph.
    labels : numpy.ndarray
        The supernode of each node.
    num_super : int
        The number of supernodes.
    beta : float or None
        The S1 inverse temperature (None: 2 for κ, not recorded).
    meta : dict
        Metadata of the coarse graph (the coarse model's constants are added).

    Returns
    -------
    Graph
    """
    labels = np.asarray(labels, dtype=np.int64)
    rows = np.repeat(labels, graph.degree)
    cols = labels[graph.indices]
    keep = rows != cols
    w = np.ones(int(keep.sum())) if graph.weights is None else graph.weights[keep]
    coarse = sp.csr_array((w, (rows[keep], cols[keep])), shape=(num_super, num_super))
    coarse.sum_duplicates()
    coarse.sort_indices()
    del rows, cols, keep, w
    coords, info = _coordinates(graph, labels, num_super, beta)
    return Graph(coarse.indptr, coarse.indices, coarse.data, meta={**meta, **info},
                 directed=graph.directed, **coords)


def _coordinates(graph: Graph, labels, n: int, beta: float | None) -> tuple[dict, dict]:
    coords: dict = {}
    info: dict = {} if beta is None else {"beta": beta}
    if graph.theta is None and graph.kappa is None:
        return coords, info
    kappa = graph.kappa if graph.kappa is not None else np.ones(graph.num_nodes)
    if graph.theta is not None:
        re = np.bincount(labels, weights=kappa * np.cos(graph.theta), minlength=n)
        im = np.bincount(labels, weights=kappa * np.sin(graph.theta), minlength=n)
        coords["theta"] = np.mod(np.arctan2(im, re), 2 * math.pi)
    if graph.kappa is not None:
        b = 2.0 if beta is None else beta
        if math.isinf(b):
            k = np.zeros(n)
            np.maximum.at(k, labels, kappa)
        else:
            top = np.zeros(n)
            np.maximum.at(top, labels, kappa)  # scale out the largest member: no overflow for large β
            k = top * np.bincount(labels, weights=(kappa / top[labels]) ** b, minlength=n) ** (1.0 / b)
        coords["kappa"] = k
        mu = (graph.meta or {}).get("mu")
        if graph.radius is not None and mu is not None and n > 0:
            mu2 = float(mu) * n / graph.num_nodes
            k0 = float(k.min())
            r_hat = 2 * math.log(n / (math.pi * mu2 * k0 ** 2))
            coords["radius"] = np.maximum(r_hat - 2 * np.log(k / k0), 0.0)
            info.update({"mu": mu2, "kappa0": k0, "R": n / (2 * math.pi), "R_hat": r_hat})
    return coords, info
