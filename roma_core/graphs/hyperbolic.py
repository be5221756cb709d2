"""The S1/H2 hyperbolic graph model (docs/science.md §1), sampled without testing all pairs.

Nodes are sorted by angle (node id = angular order, which also gives memory locality to
every kernel that walks the CSR). Pairs are sampled exactly: nodes are grouped in
logarithmic bins of hidden degree; node i walks clockwise through each bin, where the
connection probability is bounded by a non-increasing function of angular distance
(the bin's largest κ), so geometric skips jump over the pairs that are unlikely to
connect and each candidate is accepted with p_ij / bound. Random numbers come from a
counter-based hash of (seed, node, draw), so the graph does not depend on thread count.

Each thread takes a contiguous chunk of nodes; as the angle grows along the chunk, a
pointer per bin advances monotonically to the first node clockwise (no binary search per
node and bin). The sparse top bins are merged into one when the estimated extra candidates
cost less than the per-bin work they save, so the work per node stays nearly flat in N.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from ..errors import SpecError
from ..progress import ProgressCallback, report
from ..specs import GraphSpec
from .graph import Graph

# hidden-degree bin width: the bound overestimates p_ij by at most ~ratio**beta, but each bin
# costs every node at least one draw; 3 minimises the draws per node for finite β (measured:
# 45 at N = 10^5, 52 at 10^6, against 56 and 69 with 1.5), 1.5 suits the β = ∞ scan
BIN_RATIO = {"finite": 3.0, "zero_t": 1.5}
BLOCK = 1 << 16  # nodes per progress report
CHUNK = 2048  # consecutive nodes per thread task (pointers advance along it)


def hyperbolic_graph(num_nodes: int, mean_degree: float = 10.0, gamma: float = 2.7, beta: float = 2.0,
                     seed: int = 0, largest_component: bool = False,
                     progress: ProgressCallback | None = None) -> Graph:
    """Sample an S1/H2 graph exactly, without testing all pairs (docs/science.md §1).

    Parameters
    ----------
    num_nodes : int
        Number of nodes N (at least 2).
    mean_degree : float
        Target mean degree ⟨k⟩.
    gamma : float
        Exponent of the hidden-degree power law P(κ) ~ κ^-γ, greater than 2.
    beta : float
        Inverse temperature β > 1 (higher: more clustering). ``float('inf')`` is the
        zero-temperature H2 model: nodes connect when their hyperbolic distance is below
        the disk radius R̂.
    seed : int
        Random seed; the graph does not depend on the number of threads.
    largest_component : bool
        Keep only the largest connected component (as in the ROMA paper's graphs).
    progress : callable, optional
        ``progress(done, total)``, called as the work advances; it may raise
        :class:`~roma_core.errors.Cancelled` to stop.

    Returns
    -------
    Graph
        Nodes in angular order, with ``theta``, ``kappa`` and ``radius`` per node and the
        spec in ``meta``.

    Raises
    ------
    roma_core.errors.SpecError
        For parameters outside their ranges.
    """
    spec = GraphSpec.from_dict(dict(nodes=int(num_nodes), mean_degree=float(mean_degree), gamma=float(gamma),
                                    beta=float(beta), seed=int(seed), largest_component=bool(largest_component)))
    if spec.nodes < 2:
        raise SpecError("a hyperbolic graph needs at least 2 nodes (a single node has no edges)")
    spec.validate()
    return _sample(spec, progress)


def model_constants(spec: GraphSpec) -> dict:
    """The constants of the S1/H2 model for a spec.

    Parameters
    ----------
    spec : roma_core.specs.GraphSpec
        Size, mean degree, γ and β.

    Returns
    -------
    dict
        ``kappa0`` (smallest hidden degree κ0), ``mu`` (μ), ``R`` (N / 2π) and ``R_hat``
        (the H2 disk radius R̂).
    """
    n, k, g, b = spec.nodes, spec.mean_degree, spec.gamma, spec.beta
    kappa0 = k * (g - 2) / (g - 1)
    mu = 1.0 / (2 * k) if math.isinf(b) else b * math.sin(math.pi / b) / (2 * math.pi * k)
    return {"kappa0": kappa0, "mu": mu, "R": n / (2 * math.pi),
            "R_hat": 2 * math.log(n / (math.pi * mu * kappa0 ** 2))}


def bin_ratio(spec: GraphSpec) -> float:
    """The ratio of consecutive hidden-degree bin edges: :data:`BIN_RATIO` for a finite β or
    for β = ∞.

    Parameters
    ----------
    spec : GraphSpec

    Returns
    -------
    float
    """
    return BIN_RATIO["zero_t" if math.isinf(spec.beta) else "finite"]


def merge_point(sizes: np.ndarray, spec: GraphSpec, c: dict) -> int:
    """The bin from which all higher bins are merged into one: the split that minimises the
    estimated work per node, one unit per bin plus its expected candidates
    n_b·μ·⟨κ⟩·κ_b,max·I_β / N (I_β = (π/β)/sin(π/β), the integral of the bound over angle).

    Parameters
    ----------
    sizes : numpy.ndarray
        Nodes per hidden-degree bin.
    spec : GraphSpec
        The graph's parameters.
    c : dict
        :func:`model_constants` of ``spec``.

    Returns
    -------
    int
        The first merged bin.
    """
    n, ratio = spec.nodes, bin_ratio(spec)
    mean_kappa = c["kappa0"] * (spec.gamma - 1) / (spec.gamma - 2)
    i_beta = 1.0 if math.isinf(spec.beta) else (math.pi / spec.beta) / math.sin(math.pi / spec.beta)
    scale = c["mu"] * mean_kappa * i_beta / n
    k_edge = c["kappa0"] * ratio ** np.arange(1, len(sizes) + 1)
    k_top = k_edge[-1]
    per_bin = (sizes > 0) + scale * sizes * k_edge
    tail = np.cumsum(sizes[::-1])[::-1]  # nodes in bins >= t
    cost = np.concatenate([[0.0], np.cumsum(per_bin)])[:-1] + 1.0 + scale * tail * k_top
    return int(np.argmin(cost))


def _sample(spec: GraphSpec, progress: ProgressCallback | None) -> Graph:
    n = spec.nodes
    c = model_constants(spec)
    rng = np.random.default_rng(spec.seed)
    theta = np.sort(rng.uniform(0.0, 2 * math.pi, n))
    kappa = c["kappa0"] * (1.0 - rng.random(n)) ** (-1.0 / (spec.gamma - 1.0))
    radius = np.maximum(c["R_hat"] - 2 * np.log(kappa / c["kappa0"]), 0.0)

    # hidden-degree bins, each holding its nodes in angular order
    ratio = bin_ratio(spec)
    bin_of = np.floor(np.log(kappa / c["kappa0"]) / math.log(ratio)).astype(np.int64)
    bin_of = np.minimum(bin_of, merge_point(np.bincount(bin_of), spec, c))
    order = np.argsort(bin_of, kind="stable")  # stable: angular order kept inside each bin
    sizes = np.bincount(bin_of, minlength=bin_of.max() + 1)
    bin_ptr = np.concatenate([[0], np.cumsum(sizes)])
    edge = c["kappa0"] * ratio ** np.arange(1, len(bin_ptr))  # upper edge of each bin
    top = np.zeros_like(edge)
    full = sizes > 0
    top[full] = np.maximum.reduceat(kappa[order], bin_ptr[:-1][full])
    bin_kappa_max = np.maximum(edge, top)  # the merged top bin reaches the largest κ
    bin_r_min = np.maximum(c["R_hat"] - 2 * np.log(bin_kappa_max / c["kappa0"]), 0.0)
    zero_t = math.isinf(spec.beta)
    beta = 0.0 if zero_t else spec.beta
    binned = np.stack([theta[order], kappa[order], radius[order]])  # per-bin contiguous copies
    args = (theta, kappa, radius, order.astype(np.int64), bin_ptr.astype(np.int64), binned,
            bin_kappa_max, bin_r_min, beta, zero_t, c["R"], c["mu"], c["R_hat"], np.uint64(spec.seed & (2**63 - 1)))

    counts = np.zeros(n, dtype=np.int64)
    total_work = 2 * n
    for start in range(0, n, BLOCK):
        stop = min(n, start + BLOCK)
        _run_block(start, stop, counts, counts, False, *args)
        report(progress, stop, total_work)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    dst = np.empty(offsets[-1], dtype=np.int64)
    for start in range(0, n, BLOCK):
        stop = min(n, start + BLOCK)
        _run_block(start, stop, offsets, dst, True, *args)
        report(progress, n + stop, total_work)
    src = np.repeat(np.arange(n, dtype=np.int64), counts)

    graph = Graph.from_unique_pairs(src, dst, n, theta=theta, kappa=kappa, radius=radius,
                                    meta={"generator": "hyperbolic", "spec": spec.to_dict(), **c})
    return graph.largest_component() if spec.largest_component else graph


# ---------------------------------------------------------------- numba kernels
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


@numba.njit(inline="always", cache=True)
def _mix(x):
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


@numba.njit(inline="always", cache=True)
def _uniform(state):
    """Next uniform in (0, 1] and the advanced state (splitmix64)."""
    state = state + _GOLDEN
    return ((_mix(state) >> np.uint64(11)) + np.uint64(1)) * (1.0 / 9007199254740992.0), state


@numba.njit(inline="always", cache=True)
def _first_pointers(tb, bin_ptr, t, first, half):
    """For each bin: ``first`` = how many of its nodes have angle <= t; ``half`` = position,
    in the bin repeated twice (angles + 2π the second time), of the first angle >= t + π."""
    for b in range(len(bin_ptr) - 1):
        seg = tb[bin_ptr[b]:bin_ptr[b + 1]]
        first[b] = np.searchsorted(seg, t, side="right")
        if t + math.pi < 2 * math.pi:
            half[b] = np.searchsorted(seg, t + math.pi, side="left")
        else:
            half[b] = len(seg) + np.searchsorted(seg, t - math.pi, side="left")


@numba.njit(inline="always", cache=True)
def _advance(tb, lo, nb, t, first, half):
    """Move one bin's pointers forward to angle t (t never decreases along a chunk)."""
    while first < nb and tb[lo + first] <= t:
        first += 1
    if t + math.pi < 2 * math.pi:
        while half < nb and tb[lo + half] < t + math.pi:
            half += 1
    else:
        if half < nb:
            half = nb
        while half < 2 * nb and tb[lo + half - nb] < t - math.pi:
            half += 1
    return first, half


@numba.njit(inline="always", cache=True)
def _walk(i, first, half, theta, kappa, radius, order, bin_ptr, binned, bin_kappa_max, bin_r_min, beta, zero_t,
          big_r, mu, r_hat, seed, out, offset, write):
    """Sample node i's clockwise edges; write them to out[offset:] when ``write``; return count.
    Advances the per-bin pointers ``first``/``half`` to θ_i."""
    found = 0
    tb, kb, rb = binned[0], binned[1], binned[2]
    state = _mix(seed ^ _mix(np.uint64(i) + np.uint64(1)))
    ti, ki, ri = theta[i], kappa[i], radius[i]
    cosh_rhat = math.cosh(r_hat)
    for b in range(len(bin_ptr) - 1):
        lo, hi = bin_ptr[b], bin_ptr[b + 1]
        if hi == lo:
            continue
        nb = hi - lo
        f, h = _advance(tb, lo, nb, ti, first[b], half[b])
        first[b], half[b] = f, h
        start, count = f, h - f
        if zero_t:
            # H2 distance x_ij < R̂  <=>  cosh(ri-rj) + 2 sinh ri sinh rj sin²(Δθ/2) < cosh R̂;
            # the bin's smallest radius bounds how far clockwise a partner can be.
            dmax = math.pi
            denom = 2 * math.sinh(ri) * math.sinh(bin_r_min[b])
            if denom > 0 and (cosh_rhat - 1.0) / denom < 1.0:
                dmax = 2 * math.asin(math.sqrt((cosh_rhat - 1.0) / denom))
            for k in range(count):
                m = lo + (start + k) % nb
                d = tb[m] - ti
                if d < 0:
                    d += 2 * math.pi
                if d > dmax:
                    break
                rj = rb[m]
                if math.cosh(ri - rj) + 2 * math.sinh(ri) * math.sinh(rj) * math.sin(d / 2) ** 2 < cosh_rhat:
                    if write:
                        out[offset + found] = order[m]
                    found += 1
        else:
            kk = ki * bin_kappa_max[b]
            k = 0
            while k < count:
                d0 = tb[lo + (start + k) % nb] - ti
                if d0 < 0:
                    d0 += 2 * math.pi
                q = 1.0 / (1.0 + (big_r * d0 / (mu * kk)) ** beta)
                if q < 1.0:
                    u, state = _uniform(state)
                    skip = math.log(u) / math.log1p(-q)  # geometric: pairs passed over
                    if k + skip >= count:
                        break
                    k += int(skip)
                m = lo + (start + k) % nb
                d = tb[m] - ti
                if d < 0:
                    d += 2 * math.pi
                p = 1.0 / (1.0 + (big_r * d / (mu * ki * kb[m])) ** beta)
                u, state = _uniform(state)
                if u * q <= p:
                    if write:
                        out[offset + found] = order[m]
                    found += 1
                k += 1
    return found


@numba.njit(parallel=True, cache=True)
def _run_block(start, stop, counts, out, write, theta, kappa, radius, order, bin_ptr, binned, bin_kappa_max, bin_r_min,
               beta, zero_t, big_r, mu, r_hat, seed):
    """Nodes start..stop in chunks of CHUNK consecutive nodes, one chunk per task: count
    each node's clockwise edges into ``counts`` or, when ``write``, write them to
    ``out[counts[i]:]`` (counts then holds the offsets)."""
    nbins = len(bin_ptr) - 1
    n_chunks = (stop - start + CHUNK - 1) // CHUNK
    for c in numba.prange(n_chunks):
        c0 = start + c * CHUNK
        c1 = min(stop, c0 + CHUNK)
        first = np.empty(nbins, dtype=np.int64)
        half = np.empty(nbins, dtype=np.int64)
        _first_pointers(binned[0], bin_ptr, theta[c0], first, half)
        for i in range(c0, c1):
            if write:
                _walk(i, first, half, theta, kappa, radius, order, bin_ptr, binned, bin_kappa_max, bin_r_min, beta,
                      zero_t, big_r, mu, r_hat, seed, out, counts[i], True)
            else:
                counts[i] = _walk(i, first, half, theta, kappa, radius, order, bin_ptr, binned, bin_kappa_max,
                                  bin_r_min, beta, zero_t, big_r, mu, r_hat, seed, out, 0, False)
