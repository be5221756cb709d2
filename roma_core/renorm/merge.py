"""Merge nodes into supernodes along graph edges, strongest links first, without percolation.

A threshold on link strengths cannot coarse-grain our graphs by a factor 2: it must keep
about N/2 links, and on a small-world graph whose degree exponent is below 3 such a set of
links holds a giant cluster (there is no percolation threshold: even links kept at random
make one). So supernodes grow by rounds of *mutual choices* instead. In each round every
group points at the neighbouring group it is most strongly linked to, per member pair
(the summed strength of the links between them divided by m_a m_b, m the number of fine
nodes a group stands for: average linkage, which also lets light groups catch up); pairs
that point at each other merge, strongest first. Rounds repeat until N / reduction groups
are left (the last round merges only its strongest pairs); then groups lighter than half
the mean join their favourite neighbour. A group therefore at most doubles per round, is
always connected in the graph, and never settles for a weak partner while a stronger one
may still become free.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..errors import HierarchyError


def merge_along_edges(num_nodes: int, src: np.ndarray, dst: np.ndarray, strength: np.ndarray,
                      target: int, mass: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
    """Supernode labels (0..k-1, numbered by smallest member) for about ``target``
    supernodes: the rounds stop at ``target`` (or when every connected component is one
    supernode), then absorbing light groups may leave a few less.

    Parameters
    ----------
    num_nodes : int
        Number of nodes.
    src, dst : numpy.ndarray
        The edges, each once.
    strength : numpy.ndarray
        How strongly each edge links its ends (ties broken at random with ``seed``).
    target : int
        The number of supernodes to reach.
    mass : numpy.ndarray, optional
        What each node stands for (fine nodes, at coarse levels; default 1): two groups'
        priority is their summed link strength divided by m_a m_b, so light groups merge
        first and sizes stay balanced.
    seed : int
        Seed of the tie breaks.

    Returns
    -------
    numpy.ndarray
        The supernode label of every node (0..k-1, numbered by smallest member).
    """
    src, dst = np.asarray(src, dtype=np.int64), np.asarray(dst, dtype=np.int64)
    strength = np.asarray(strength, dtype=np.float64)
    if not (len(src) == len(dst) == len(strength)):
        raise HierarchyError("src, dst and strength must have one entry per edge")
    if not np.all(np.isfinite(strength)):
        raise HierarchyError("link strengths must be finite")
    target = max(int(target), 1)
    rng = np.random.default_rng(seed)
    mass = np.ones(num_nodes) if mass is None else np.asarray(mass, dtype=np.float64)
    if mass.shape != (num_nodes,) or not np.all(mass > 0):
        raise HierarchyError(f"mass must hold one positive number per node ({num_nodes})")
    labels = np.arange(num_nodes, dtype=np.int64)
    count = num_nodes
    while count > target:
        a, b, w = _group_links(labels, src, dst, strength)
        if not len(a):
            break  # every component is one supernode
        group_mass = np.bincount(labels, weights=mass, minlength=count)
        w = w / (group_mass[a] * group_mass[b])
        order = np.lexsort((rng.random(len(a)), -w))  # strongest per member pair first, ties at random
        chosen = order[_mutual_best(count, a[order], b[order])]
        chosen = chosen[: count - target]  # chosen is in order of strength
        merged = np.arange(count)
        merged[b[chosen]] = a[chosen]
        labels = merged[labels]
        labels = np.unique(labels, return_inverse=True)[1].astype(np.int64)
        count = int(labels.max()) + 1
    return first_seen_order(_absorb_light(labels, src, dst, strength, mass))


def first_seen_order(labels: np.ndarray) -> np.ndarray:
    """Relabel so supernodes are numbered by their smallest member (keeps angular order
    roughly for S1 graphs, whose node ids follow the angle).

    Parameters
    ----------
    labels : numpy.ndarray
        The supernode of each node (any integers).

    Returns
    -------
    numpy.ndarray
        Labels 0, 1, ... in the order of each supernode's smallest member.
    """
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first)] = np.arange(len(first))
    return rank[inverse]


def _absorb_light(labels, src, dst, strength, mass):
    """Groups lighter than half the mean mass join their strongest neighbour (per member
    pair), so no supernode lags far behind the others as levels go on."""
    count = int(labels.max()) + 1
    group_mass = np.bincount(labels, weights=mass, minlength=count)
    light = group_mass < 0.5 * group_mass.mean()
    a, b, w = _group_links(labels, src, dst, strength)
    w = w / (group_mass[a] * group_mass[b])
    ends = np.concatenate([a, b])
    other = np.concatenate([b, a])
    keep = light[ends]
    if not keep.any():
        return labels
    ends, other, w = ends[keep], other[keep], np.concatenate([w, w])[keep]
    order = np.lexsort((-w, ends))
    first = np.ones(len(order), dtype=bool)
    first[1:] = ends[order][1:] != ends[order][:-1]
    pick = order[first]
    links = sp.csr_array((np.ones(len(pick)), (ends[pick], other[pick])), shape=(count, count))
    return sp.csgraph.connected_components(links, directed=False)[1][labels]


def _group_links(labels, src, dst, strength):
    """Links between distinct groups, each once, with the summed strength of their member links."""
    a, b = labels[src], labels[dst]
    a, b = np.minimum(a, b), np.maximum(a, b)
    keep = a != b
    a, b, w = a[keep], b[keep], strength[keep]
    _, first, inverse = np.unique(a * (int(labels.max()) + 1) + b, return_index=True, return_inverse=True)
    return a[first], b[first], np.bincount(inverse, weights=w, minlength=len(first))


def _mutual_best(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Indices (ascending) of the links, given strongest first, that are the strongest link
    at both their ends: the pairs that prefer each other to anyone else."""
    rank = np.arange(len(a))
    best = np.full(n, len(a), dtype=np.int64)
    np.minimum.at(best, a, rank)
    np.minimum.at(best, b, rank)
    return rank[(best[a] == rank) & (best[b] == rank)]
