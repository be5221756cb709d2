"""Laplacian-eigenvector positional encodings, cached per graph fingerprint.

Small graphs (N <= ``exact_below``): the k lowest non-trivial eigenvectors of the
normalised Laplacian by Lanczos (scipy ``eigsh`` on I + D^-1/2 A D^-1/2, whose top
eigenvectors are L's bottom ones). Large graphs: a two-level scheme, our plan for 10^6
nodes — merge consecutive nodes in angular order (geometric-RG blocks) into a coarse
graph of about ``coarse_size`` nodes, solve there exactly, lift the eigenvectors back
(piecewise constant), refine by block subspace iteration (with a few guard vectors) with the low-pass operator
(I + D^-1/2 A D^-1/2)/2 and finish with a Rayleigh–Ritz step. Cost: sparse mat-vecs only,
O(nnz · k · iterations) time and O(N · k) memory. Measured for k = 8 on a loaded 2-CPU
machine: 1.8 s at 2·10^4 nodes (exact), 12.8 s at 10^5 and 47 s / 1.3 GiB peak at 10^6
(two-level); see benchmarks/RESULTS.md, ## models.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as sla

_MEMORY: dict = {}


def _cache_dir() -> Path:
    return Path(os.environ.get("ROMA_CACHE", Path.home() / ".cache" / "roma_explorer")) / "encodings"


def _sym_adjacency(graph):
    a = graph.adjacency().astype(np.float64)
    d = np.asarray(a.sum(axis=1)).ravel()
    inv = np.where(d > 0, 1.0 / np.sqrt(np.maximum(d, 1e-300)), 0.0)
    return sp.diags_array(inv) @ a @ sp.diags_array(inv), d


def _fix_signs(x):
    idx = np.abs(x).argmax(axis=0)
    return x * np.sign(x[idx, np.arange(x.shape[1])] + 1e-300)


def _exact(m, k, seed=0):
    n = m.shape[0]
    if n <= 2000:
        w, v = np.linalg.eigh(m.toarray())
        return w[::-1][:k + 1], v[:, ::-1][:, :k + 1]
    shifted = (m + sp.eye_array(n)).tocsr()
    v0 = np.random.default_rng(seed).standard_normal(n)
    w, v = sla.eigsh(shifted, k=k + 1, which="LA", v0=v0, tol=1e-6)
    order = np.argsort(-w)
    return w[order] - 1, v[:, order]


def laplacian_pe(graph, k: int, *, exact_below: int = 20_000, coarse_size: int = 5_000,
                 iterations: int = 40, cache: bool = True) -> np.ndarray:
    """(N, k) float32: the k lowest non-trivial eigenvectors of the normalised Laplacian,
    scaled to unit RMS per column, signs fixed (largest entry positive).

    Parameters
    ----------
    graph : roma_core.graphs.Graph
        The graph; its angles ``theta`` (when known) order the blocks of the two-level scheme.
    k : int
        Eigenvectors wanted; columns beyond the N - 2 a graph has are zeros.
    exact_below : int
        Largest N solved exactly; larger graphs take the two-level scheme.
    coarse_size : int
        Nodes of the coarse graph in the two-level scheme.
    iterations : int
        Subspace iterations of the two-level scheme.
    cache : bool
        Also read and write the result on disk, under ``$ROMA_CACHE/encodings`` (default
        ``~/.cache/roma_explorer/encodings``); results are kept in memory either way, keyed
        by the graph's fingerprint, ``k``, ``exact_below`` and, for the two-level scheme,
        ``coarse_size`` and ``iterations``.

    Returns
    -------
    numpy.ndarray
        ``(N, k)`` float32 encodings.
    """
    n = graph.num_nodes
    if k <= 0 or n == 0:
        return np.zeros((n, max(k, 0)), np.float32)
    k_eff = min(k, max(n - 2, 0))
    scheme = () if n <= exact_below else (coarse_size, iterations)   # what the result depends on
    key = (graph.fingerprint(), k, exact_below, *scheme)
    if key in _MEMORY:
        return _MEMORY[key]
    path = _cache_dir() / ("_".join(map(str, (key[0], f"k{k}", *key[2:]))) + ".npy")
    if cache and path.exists():
        out = np.load(path, allow_pickle=False)
        _MEMORY[key] = out
        return out
    m, deg = _sym_adjacency(graph)
    if n <= exact_below:
        _, vecs = _exact(m, k_eff)
    else:
        vecs = _multilevel(graph, m, k_eff, coarse_size, iterations)
    vecs = _fix_signs(vecs[:, 1:k_eff + 1]) * np.sqrt(n)
    out = np.zeros((n, k), np.float32)
    out[:, :vecs.shape[1]] = vecs
    _MEMORY[key] = out
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npy")
        np.save(tmp, out)
        os.replace(tmp, path)
    return out


GUARD = 4  # extra vectors refined alongside the k wanted ones: block iteration then converges
           # at the gap to eigenvalue k + GUARD, not to the (often near-degenerate) k + 1


def _multilevel(graph, m, k, coarse_size, iterations):
    n = graph.num_nodes
    k_wanted, k = k, min(k + GUARD, n - 2)
    order = np.argsort(graph.theta, kind="stable") if graph.theta is not None else np.arange(n)
    nc = max(k + 2, min(coarse_size, n // 2))
    block = np.empty(n, np.int64)
    block[order] = np.arange(n) * nc // n
    p = sp.csr_array((np.ones(n), (np.arange(n), block)), shape=(n, nc))
    a = graph.adjacency()
    ac = (p.T @ a @ p).tocsr()
    ac.setdiag(0)
    ac.eliminate_zeros()
    dc = np.asarray(ac.sum(axis=1)).ravel()
    inv = np.where(dc > 0, 1 / np.sqrt(np.maximum(dc, 1e-300)), 0.0)
    mc = sp.diags_array(inv) @ ac @ sp.diags_array(inv)
    _, vc = _exact(mc.tocsr(), k)
    # lift: coarse eigenvector of the symmetric form -> random-walk form -> fine symmetric form
    d = np.asarray(a.sum(axis=1)).ravel()
    x = (p @ (vc * inv[:, None])) * np.sqrt(d)[:, None]
    x[:, 0] = np.sqrt(d)                     # the exact trivial eigenvector
    low = (m + sp.eye_array(n)).tocsr() * 0.5
    for it in range(iterations):
        x = low @ x
        if it % 5 == 4:
            x, _ = np.linalg.qr(x)
    q, _ = np.linalg.qr(x)
    h = q.T @ (m @ q)
    w, v = np.linalg.eigh((h + h.T) / 2)
    return (q @ v[:, ::-1])[:, :k_wanted + 1]
