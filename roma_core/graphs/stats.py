"""Structural statistics: local clustering and the degree-tail exponent."""
from __future__ import annotations

import numba
import numpy as np

from .graph import Graph


def clustering(graph: Graph) -> np.ndarray:
    """Local clustering coefficient per node; triangle counts by merging sorted neighbour
    lists, so memory stays O(N + E).

    Parameters
    ----------
    graph : Graph
        An undirected graph.

    Returns
    -------
    numpy.ndarray
        One coefficient per node (0 for degree < 2).
    """
    tri = _triangles(graph.indptr, graph.indices)
    k = graph.degree.astype(np.float64)
    out = np.zeros(graph.num_nodes)
    ok = k > 1
    out[ok] = 2.0 * tri[ok] / (k[ok] * (k[ok] - 1))
    return out


@numba.njit(parallel=True, cache=True)
def _triangles(indptr, indices):
    n = len(indptr) - 1
    tri = np.zeros(n, dtype=np.int64)
    for i in numba.prange(n):
        t = 0
        for e in range(indptr[i], indptr[i + 1]):
            j = indices[e]
            a, b = indptr[i], indptr[j]
            while a < indptr[i + 1] and b < indptr[j + 1]:
                x, y = indices[a], indices[b]
                if x == y:
                    t += 1
                    a += 1
                    b += 1
                elif x < y:
                    a += 1
                else:
                    b += 1
        tri[i] = t // 2
    return tri


def degree_exponent(degree, kmin: int | None = None) -> tuple[float, int]:
    """Fit the tail exponent γ of P(k) ~ k^-γ by discrete maximum likelihood.

    When ``kmin`` is not given it is chosen (Clauset, Shalizi & Newman 2009) to minimise
    the Kolmogorov–Smirnov distance between the data above kmin and the fit, keeping at
    least 50 samples in the tail.

    Parameters
    ----------
    degree : array_like of int
        Degrees (zeros are ignored).
    kmin : int, optional
        Lower end of the tail; chosen from the data when None.

    Returns
    -------
    gamma : float
        The fitted exponent (NaN when fewer than 50 degrees reach the tail).
    kmin : int
        The tail's lower end used.
    """
    k = np.asarray(degree)
    k = np.sort(k[k > 0]).astype(np.float64)
    candidates = [kmin] if kmin is not None else np.unique(k)[:-1]
    best = (np.inf, np.nan, 0)
    for km in candidates:
        tail = k[k >= km]
        if len(tail) < 50:
            break
        g = 1.0 + len(tail) / np.sum(np.log(tail / (km - 0.5)))
        empirical = np.arange(len(tail)) / len(tail)
        model = 1.0 - (tail / km) ** (1.0 - g)
        ks = np.max(np.abs(empirical - model))
        if ks < best[0]:
            best = (ks, g, int(km))
    return float(best[1]), best[2]
