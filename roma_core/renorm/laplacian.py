"""Laplacian renormalization group (LRG): supernodes are groups of nodes that diffusion
cannot tell apart, merged along edges so that each level shrinks the graph by a set factor.

**The idea.** Let heat spread on the graph for a time τ. Two neighbours whose heat
profiles have become alike are, at that scale, one block (a Kadanoff supernode): the
level keeps what diffusion can still resolve and forgets the rest. We measure how alike
by the *heat similarity* of each edge (i, j),

    s_ij = K_ij / √(K_ii K_jj),   K = e^{−τ𝓛},   𝓛 = I − D^−1/2 A D^−1/2,

the cosine between the heat profiles e^{−τ𝓛/2} e_i and e^{−τ𝓛/2} e_j (so 0 ≤ s ≤ 1, and
s = 1 exactly when the two profiles coincide). Each level merges neighbours, strongest
similarity first, into about N_l / ``reduction`` supernodes (2 by default), contracts them
(:func:`.contract`: coarse edge weight = number of fine edges, S1 coordinates carried
along) and repeats on the coarse graph with its own τ. Every supernode is connected in
the graph.

**Choice of τ per level.** Diffusion for a time τ washes out the modes of 𝓛 faster than
1/τ; Z(τ) = Tr e^{−τ𝓛} counts those still alive (N at τ = 0, one per connected component
as τ → ∞). A level that keeps N_l / r nodes should look at the graph when N_l / r modes
are left, so by default (``rule="modes"``) τ*_l solves Z(τ*) = N_l / r on that level's
own graph (:func:`tau_for_modes`; Z from :func:`diffusion_profile`). On our S1 graphs
(⟨k⟩ = 10) this is τ* ≈ 0.7 at r = 2 at every level: heat has taken less than one
random-walk step, so blocks are local. ``rule="max"`` or ``"half"`` take τ* at, or
after, the peak of the specific heat C(τ) instead (the scale of the largest change of the
diffusion entropy); a fixed ``tau`` is accepted too. τ only decides *which* neighbours
merge; how many merge is set by ``reduction``. (The coarse graph is the contracted one;
the reduction of 𝓛 to its slow modes is not applied.)

**Why not the classic Kadanoff threshold.** The textbook LRG uses the combinatorial
Laplacian L = D − A and links i, j whenever K_ij ≥ min(K_ii, K_jj), supernodes being the
connected components of those links. Measured on our S1 graphs (N = 2,000, ⟨k⟩ = 10,
γ = 2.7; benchmarks/RESULTS.md, "renorm") this percolates for two reasons:

* Under L a node of degree d loses heat at rate d, so a hub's own heat is gone long before
  a leaf's (K_hh tiny) and the criterion links every hub to its neighbours: near the τ
  that gives N/2 supernodes 94–100 % of the linked edges touch a top-1 % hub and one
  supernode holds half the graph. The normalized Laplacian (the random walk's clock: every node loses heat at
  rate 1) removes this bias; all-pairs versus along-edge links made no difference.
* Any threshold that leaves N/2 clusters keeps about N/2 links, and on a graph with
  degree exponent γ < 3 that many links always contain a giant cluster (even links drawn
  at random make one holding 39 % of the nodes). Even with the normalized kernel the
  largest threshold cluster held 2–3 %. So supernodes grow by rounds of mutual choices
  (:mod:`.merge`): at most doubling per round, never percolating.

**Evaluating s_ij.** ``exact`` (up to 4,000 nodes): columns of e^{−τ𝓛} by Chebyshev
actions on unit vectors, in blocks (:mod:`.heat`; error below 1e-10). ``sketch``: random
features Y = e^{−τ𝓛/2} Ω with Ω an N × m Gaussian block, s_ij ≈ cosine of rows i, j of Y
(error about (1 − s²)/√m: close calls between neighbours come out differently, so at
N = 2,000 only 17 % of the sketch's supernodes with m = 64 are the exact ones, adjusted Rand
index 0.37, with the same sizes, locality and connectivity). 𝓛's spectrum lies in [0, 2], so e^{−τ𝓛/2} at τ ≈ 0.7 needs only
a dozen Chebyshev terms whatever the hubs: the similarity costs about 15 sparse products
with m columns (memory: four N × m float32 blocks, 0.5 GiB for N = 10^6, m = 32); τ*
needs a stochastic Lanczos profile (8 probes) and the merge a few sorts of the edge list
per round, so one level takes seconds at 10^5 nodes and minutes at 10^6
(benchmarks/RESULTS.md).
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from ..errors import HierarchyError
from ..graphs import Graph
from ..progress import ProgressCallback, report
from ..specs import HierarchySpec
from .contract import contract, graph_beta, one_hot
from .diffusion import diffusion_profile, peak_tau, tau_for_modes
from .geometric import _check_args
from .heat import heat_apply
from .hierarchy import Hierarchy
from .merge import merge_along_edges

EXACT_MAX = 4_000
RULES = ("modes", "max", "half")


def laplacian(graph: Graph, tau=None, levels: int | None = None, *, reduction: float = 2.0,
              rule: str = "modes", min_nodes: int = 16, method: str = "auto", features: int = 64,
              taus=None, seed: int = 0, progress: ProgressCallback | None = None) -> Hierarchy:
    """Build an LRG hierarchy, each level about ``reduction`` times smaller than the last.

    Parameters
    ----------
    graph : roma_core.graphs.Graph
        An undirected graph.
    tau : float or sequence of float, optional
        Diffusion time τ* for every level (a number, or one per level); None: per level by
        ``rule`` on the grid ``taus``.
    levels : int, optional
        Coarsening steps; None coarsens until the top has fewer than ``min_nodes`` nodes or
        stops shrinking.
    reduction : float
        Each level about this many times smaller than the last (> 1).
    rule : {"modes", "max", "half"}
        τ* where Z(τ*) = N_l / reduction, or at / after the specific-heat peak.
    min_nodes : int
        Where automatic coarsening stops.
    method : {"auto", "exact", "sketch"}
        Heat similarity exactly, or from ``features`` random features; ``"auto"``: exact up
        to 4,000 nodes.
    features : int
        Random features of the sketch.
    taus : array_like, optional
        The grid of diffusion times searched for τ*.
    seed : int
        Seed of every random draw.
    progress : callable, optional
        ``progress(done, total)``; may raise :class:`~roma_core.errors.Cancelled`.

    Returns
    -------
    roma_core.renorm.Hierarchy
        Hard assignments; τ* and the similarity method per level in ``meta``.

    Raises
    ------
    roma_core.errors.HierarchyError
        For a directed or empty graph and invalid parameters.
    """
    _check_args(graph, 2, levels, min_nodes)
    tau_list = _tau_list(tau, levels)
    if isinstance(reduction, bool) or not (isinstance(reduction, numbers.Real) and math.isfinite(reduction)
                                           and reduction > 1):
        raise HierarchyError(f"reduction must be a number > 1 (N_l / N_(l+1)), got {reduction!r}")
    if rule not in RULES:
        raise HierarchyError(f"rule must be one of {RULES}, got {rule!r}")
    if method not in ("auto", "exact", "sketch"):
        raise HierarchyError(f"method must be 'auto', 'exact' or 'sketch', got {method!r}")
    if features < 2:
        raise HierarchyError(f"features must be >= 2, got {features}")
    beta = graph_beta(graph)
    graphs, assign, used_tau, methods = [graph], [], [], []
    mass = np.ones(graph.num_nodes)  # fine nodes per supernode
    max_levels = levels if levels is not None else 64
    for l in range(max_levels):
        g = graphs[-1]
        if g.num_nodes < 2 or g.num_edges == 0:
            if levels is None:
                break
            raise HierarchyError(f"level {l} has {g.num_nodes} node(s) and {g.num_edges} edges, so diffusion "
                                 f"cannot coarsen it further; ask for at most {l} levels (or levels=None)")
        how = method if method != "auto" else ("exact" if g.num_nodes <= EXACT_MAX else "sketch")
        t = tau_list[l] if tau_list is not None and tau_list[l] is not None else \
            choose_tau(g, reduction, rule, taus, seed=seed + l)
        src, dst, strength = heat_similarity(g, t, how, features, seed=seed + l)
        labels = merge_along_edges(g.num_nodes, src, dst, strength, math.ceil(g.num_nodes / reduction),
                                   mass=mass, seed=seed + l)
        n_super = int(labels.max()) + 1
        if n_super == g.num_nodes:
            if levels is None and l > 0:
                break  # every component is already a single supernode
            raise HierarchyError(f"level {l}: no two nodes share an edge, nothing to merge")
        assign.append(one_hot(labels, n_super))
        mass = np.bincount(labels, weights=mass, minlength=n_super)
        graphs.append(contract(g, labels, n_super, beta, {"generator": "lrg", "level": l + 1, "tau": t}))
        used_tau.append(float(t))
        methods.append(how)
        report(progress, l + 1, max_levels)
        if levels is None and n_super < min_nodes:
            break
    spec = HierarchySpec(method="laplacian", levels=len(assign), min_nodes=min_nodes, seed=seed,
                         tau=float(tau_list[0]) if tau_list is not None and tau_list[0] is not None else None,
                         reduction=float(reduction), rule=rule, criterion=method, features=features)
    return Hierarchy(graphs, assign, spec=spec.to_dict(), name="laplacian",
                     meta={"tau": used_tau, "criterion": methods})


def choose_tau(graph: Graph, reduction: float, rule: str = "modes", taus=None, seed: int = 0) -> float:
    """τ* of one level by ``rule`` from the normalized-Laplacian diffusion profile of
    ``graph`` (exact up to 256 nodes, else stochastic quadrature: 8 probes, 1 %).

    Parameters
    ----------
    graph : roma_core.graphs.Graph
        The level's graph.
    reduction : float
        The level's size reduction r (``rule="modes"``: Z(τ*) = N / r).
    rule : {"modes", "max", "half"}
        By the modes left, or at / after the specific-heat peak (:func:`peak_tau`).
    taus : array_like, optional
        The grid of diffusion times.
    seed : int
        Seed of the quadrature.

    Returns
    -------
    float
    """
    how = "exact" if graph.num_nodes <= 256 else "slq"
    profile = diffusion_profile(graph, taus, kind="normalized", method=how, seed=seed, tol=1e-2, probes=8, lowest=0)
    if rule == "modes":
        return tau_for_modes(profile, graph.num_nodes / reduction)
    return peak_tau(profile, rule)


def heat_similarity(graph: Graph, tau: float, method: str = "exact", features: int = 64, seed: int = 0,
                    progress: ProgressCallback | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each edge once as ``(src, dst, s)`` with s = K_ij / √(K_ii K_jj), K = e^{−τ𝓛} of the
    normalized Laplacian: exactly (``method="exact"``) or from ``features`` random features.

    Parameters
    ----------
    graph : roma_core.graphs.Graph
        An undirected graph.
    tau : float
        Diffusion time (> 0).
    method : {"exact", "sketch"}
        All columns of the heat kernel, or a random-feature sketch (large graphs).
    features : int
        Random features of the sketch.
    seed : int
        Seed of the sketch.
    progress : callable, optional
        ``progress(done, total)``.

    Returns
    -------
    src, dst : numpy.ndarray
        Each edge once.
    s : numpy.ndarray
        Its heat similarity in [0, 1].

    Raises
    ------
    roma_core.errors.HierarchyError
        For an invalid τ or a graph too large for the exact method.
    """
    if isinstance(tau, bool) or not (isinstance(tau, numbers.Real) and math.isfinite(tau) and tau > 0):
        raise HierarchyError(f"tau must be a finite number > 0 (a diffusion time), got {tau}")
    lap = graph.laplacian("normalized")
    src, dst, _ = graph.edges()
    n = graph.num_nodes
    if method == "exact":
        if n > 20_000:
            raise HierarchyError(f"the exact heat similarity needs all {n} columns of e^(-tau L); "
                                 "use method='sketch'")
        kij, diag = np.zeros(len(src)), np.zeros(n)
        by_dst = np.argsort(dst, kind="stable")
        cuts = np.searchsorted(dst[by_dst], np.arange(0, n + 512, 512))
        for k, a in enumerate(range(0, n, 512)):  # 512 columns of K at a time
            b = min(a + 512, n)
            unit = np.zeros((n, b - a))
            unit[np.arange(a, b), np.arange(b - a)] = 1.0
            cols = heat_apply(lap, unit, tau, bound=2.0)
            diag[a:b] = cols[np.arange(a, b), np.arange(b - a)]
            e = by_dst[cuts[k]:cuts[k + 1]]
            kij[e] = cols[src[e], dst[e] - a]
            report(progress, b, n)
        norm = np.sqrt(np.maximum(diag, 1e-300))
    elif method == "sketch":
        omega = np.random.default_rng(seed).standard_normal((n, features), dtype=np.float32)
        y = heat_apply(lap.astype(np.float32), omega, tau / 2.0, bound=2.0, progress=progress)
        norm = np.sqrt(np.maximum(np.einsum("ij,ij->i", y, y, dtype=np.float64), 1e-300))
        kij = np.zeros(len(src))
        for a in range(0, len(src), 1 << 20):  # chunks: no E × m temporaries
            b = a + (1 << 20)
            kij[a:b] = np.einsum("ij,ij->i", y[src[a:b]], y[dst[a:b]], dtype=np.float64)
    else:
        raise HierarchyError(f"method must be 'exact' or 'sketch', got {method!r}")
    return src, dst, np.clip(kij / (norm[src] * norm[dst]), -1.0, 1.0)


def _tau_list(tau, levels):
    if tau is None:
        return None
    values = list(np.atleast_1d(np.asarray(tau, dtype=np.float64)))
    for t in values:
        if not (np.isfinite(t) and t > 0):
            raise HierarchyError(f"tau must be a finite number > 0 (a diffusion time), got {t}")
    if len(values) == 1:
        return values * (levels if levels is not None else 64)
    if levels is not None and len(values) != levels:
        raise HierarchyError(f"give one tau or one per level: {len(values)} values for {levels} levels")
    return values + [None] * 64
