"""Laplacian renormalization group (LRG, SCIENCE.md §3).

At diffusion time τ* the heat kernel K = e^{−τ*L} (ρ = K / Tr K; the trace cancels in the
criterion) links nodes i, j when K_ij ≥ min(K_ii, K_jj); connected components of those
links are the Kadanoff supernodes. The coarse graph joins supernodes whose members are
joined (edge weight = number of fine edges), carrying S1 coordinates when the input has
them; repeat on the coarse graph. τ* is taken from each level's specific-heat curve
(:func:`diffusion_profile`, :func:`peak_tau`) unless given: by default where C has fallen
to half its maximum after the peak (``rule="half"``: at the maximum itself diffusion is
mid-way through the transition and same-cluster pairs mostly fail the criterion; see the
planted-community test), or at the maximum (``rule="max"``). Alternatively
``reduction=r`` bisects ln τ for about N/r supernodes per level: on small-world graphs
(S1 graphs with ⟨k⟩ = 10) C has a single peak where one giant supernode forms, so a target
reduction is the useful choice there. Heat never crosses components, so disconnected
graphs are coarsened per component. (The spectral reduction of L to the modes λ < 1/τ* is
not applied: the coarse graph is the contracted one, as drawn in LRG figures.)

Two ways to evaluate the criterion:

* ``exact`` (N ≤ 4,000 by default): dense eigendecomposition, all pairs i, j tested.
* ``sketch``: only graph edges are candidate links, and K is estimated from random
  features: Y = e^{−τL/2} Ω with Ω an N × m Gaussian block (float32 Chebyshev actions,
  see :mod:`.heat`), so K ≈ Y Yᵀ / m entry-wise. Cost: (number of Chebyshev terms, about
  √(2 τ λ_max ln 1/tol)) sparse products with m columns; memory: four N × m float32
  blocks (m = 64: 1 GiB at N = 10^6).
  Decisions near the threshold are noisy (relative error of K_ij about √(2/m)), so
  supernodes agree with the exact ones up to such borderline links.

Scale (benchmarks/RESULTS.md): the cost is set by √(τ* λ_max), and λ_max ≈ the largest
degree. On S1 graphs with γ = 2.7 the largest hub grows like N^(1/(γ−1)): 2,849 at
N = 10^5 (≈ 460 terms at τ* ≈ 6.4, under a minute), 47,518 at N = 10^6 (1,639 terms,
≈ 20 min on 2 shared cores with 32 features, 1.6 GiB). Memory is not the limit; the hub is.
Kadanoff supernodes on such graphs are very uneven: a hub's own heat leaves fast (small
K_hh), so hubs link to their neighbours and, at the specific-heat peak, almost every node
joins one giant supernode; the geometric RG gives balanced blocks instead.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..errors import HierarchyError
from ..graphs import Graph
from ..progress import ProgressCallback, report
from ..specs import HierarchySpec
from .contract import contract, graph_beta, one_hot
from .diffusion import diffusion_profile, peak_tau
from .geometric import _check_args
from .heat import heat_apply, spectral_bound
from .hierarchy import Hierarchy

EXACT_MAX = 4_000


def laplacian(graph: Graph, tau=None, levels: int | None = None, *, reduction: float | None = None,
              rule: str = "half", min_nodes: int = 16, method: str = "auto", features: int = 64,
              taus=None, seed: int = 0, progress: ProgressCallback | None = None) -> Hierarchy:
    """Build an LRG hierarchy. ``tau``: τ* for every level (a number, or one per level);
    None takes it per level from ``reduction`` (target N_l / N_{l+1}) when given, else from
    the specific-heat curve on the grid ``taus`` by ``rule`` ("half" or "max").
    ``levels=None`` coarsens until the top has fewer than ``min_nodes`` nodes or a level no
    longer shrinks. ``method``: "exact", "sketch" or "auto" (exact up to 4,000 nodes)."""
    _check_args(graph, 2, levels, min_nodes)
    tau_list = _tau_list(tau, levels)
    if reduction is not None and not (np.isfinite(reduction) and reduction > 1):
        raise HierarchyError(f"reduction must be > 1 (N_l / N_(l+1)), got {reduction}")
    if rule not in ("half", "max"):
        raise HierarchyError(f"rule must be 'half' or 'max', got {rule!r}")
    if method not in ("auto", "exact", "sketch"):
        raise HierarchyError(f"method must be 'auto', 'exact' or 'sketch', got {method!r}")
    if features < 2:
        raise HierarchyError(f"features must be >= 2, got {features}")
    beta = graph_beta(graph)
    graphs, assign, used_tau, methods = [graph], [], [], []
    max_levels = levels if levels is not None else 64
    for l in range(max_levels):
        g = graphs[-1]
        if g.num_nodes < 2 or g.num_edges == 0:
            if levels is None:
                break
            raise HierarchyError(f"level {l} has {g.num_nodes} node(s) and {g.num_edges} edges, so diffusion "
                                 f"cannot coarsen it further; ask for at most {l} levels (or levels=None)")
        t = tau_list[l] if tau_list is not None else None
        how = method if method != "auto" else ("exact" if g.num_nodes <= EXACT_MAX else "sketch")
        if t is None and reduction is not None:
            t, labels = tau_for_reduction(g, reduction, method=how, features=features, seed=seed + l)
        else:
            if t is None:
                # the peak's position needs far less precision than the curve: 8 probes, 1 %
                t = peak_tau(diffusion_profile(g, taus, seed=seed, tol=1e-2, probes=8), rule)
            labels = kadanoff_labels(g, t, method=how, features=features, seed=seed + l)
        n_super = int(labels.max()) + 1
        if levels is None and l > 0 and n_super == g.num_nodes:
            break  # the flow has stopped: no links at this τ*
        assign.append(one_hot(labels, n_super))
        graphs.append(contract(g, labels, n_super, beta, {"generator": "lrg", "level": l + 1, "tau": t}))
        used_tau.append(float(t))
        methods.append(how)
        report(progress, l + 1, max_levels)
        if levels is None and n_super < min_nodes:
            break
    if not assign:
        raise HierarchyError("the Laplacian RG found no supernodes to merge at the first level; give a larger tau")
    spec = HierarchySpec(method="laplacian", levels=len(assign), min_nodes=min_nodes, seed=seed,
                         tau=float(tau_list[0]) if tau_list is not None and tau_list[0] is not None else None,
                         reduction=None if reduction is None else float(reduction), rule=rule, criterion=method,
                         features=features)
    return Hierarchy(graphs, assign, spec=spec.to_dict(), name="laplacian",
                     meta={"tau": used_tau, "criterion": methods})


def tau_for_reduction(graph: Graph, reduction: float, method: str = "exact", features: int = 64,
                      seed: int = 0, iterations: int = 6) -> tuple[float, np.ndarray]:
    """τ* (and its labels) whose Kadanoff supernodes number about N / ``reduction``:
    τ doubles from 1e-3 until the count falls to the target (small τ are cheap: the
    Chebyshev cost grows as √τ), then ``iterations`` bisection steps on ln τ; one
    eigendecomposition (exact) or one random block (sketch) serves every τ."""
    n = graph.num_nodes
    target = n / reduction
    cache: dict = {}
    best = None

    def evaluate(log_tau):
        nonlocal best
        labels = kadanoff_labels(graph, float(np.exp(log_tau)), method, features, seed, _cache=cache)
        count = int(labels.max()) + 1
        if best is None or abs(np.log(count / target)) < abs(np.log(best[2] / target)):
            best = (float(np.exp(log_tau)), labels, count)
        return count

    lo = hi = np.log(1e-3)
    while evaluate(hi) > target and hi < np.log(1e4):
        lo, hi = hi, hi + np.log(2.0)
    for _ in range(iterations if hi > lo else 0):
        mid = 0.5 * (lo + hi)
        if evaluate(mid) > target:
            lo = mid
        else:
            hi = mid
    return best[0], best[1]


def kadanoff_labels(graph: Graph, tau: float, method: str = "exact", features: int = 64,
                    seed: int = 0, progress: ProgressCallback | None = None, _cache: dict | None = None) -> np.ndarray:
    """Kadanoff supernode of every node at diffusion time ``tau`` (labels 0..n-1, numbered
    in order of each supernode's smallest node)."""
    if not tau > 0:
        raise HierarchyError(f"tau must be > 0, got {tau}")
    cache = {} if _cache is None else _cache
    if "lap" not in cache:
        cache["lap"] = graph.laplacian("combinatorial")
    lap = cache["lap"]
    n = graph.num_nodes
    if method == "exact":
        if n > 20_000:
            raise HierarchyError(f"the exact Kadanoff criterion needs dense {n}×{n} matrices; use method='sketch'")
        if "eig" not in cache:
            cache["eig"] = np.linalg.eigh(lap.toarray())
        lam, vec = cache["eig"]
        k = (vec * np.exp(-tau * np.clip(lam, 0, None))) @ vec.T
        d = np.diag(k).copy()
        linked = k >= np.minimum.outer(d, d) * (1 - 1e-12)
        np.fill_diagonal(linked, False)
        links = sp.csr_array(linked)
    elif method == "sketch":
        if "omega" not in cache:
            cache["omega"] = np.random.default_rng(seed).standard_normal((n, features), dtype=np.float32)
            cache["bound"] = spectral_bound(lap, seed)
            cache["lap32"] = lap.astype(np.float32)
        y = heat_apply(cache["lap32"], cache["omega"], tau / 2.0, bound=cache["bound"], progress=progress)
        diag = np.einsum("ij,ij->i", y, y, dtype=np.float64)
        src, dst, _ = graph.edges()
        kij = np.zeros(len(src))
        for a in range(0, len(src), 1 << 20):  # chunks: no E × m temporaries
            b = a + (1 << 20)
            kij[a:b] = np.einsum("ij,ij->i", y[src[a:b]], y[dst[a:b]], dtype=np.float64)
        keep = kij >= np.minimum(diag[src], diag[dst])
        links = sp.csr_array((np.ones(int(keep.sum())), (src[keep], dst[keep])), shape=(n, n))
    else:
        raise HierarchyError(f"method must be 'exact' or 'sketch', got {method!r}")
    _, labels = sp.csgraph.connected_components(links, directed=False)
    return _first_seen_order(labels)


def _first_seen_order(labels: np.ndarray) -> np.ndarray:
    """Relabel so supernodes are numbered by their smallest member (keeps angular order
    roughly for S1 graphs, whose node ids follow the angle)."""
    _, first = np.unique(labels, return_index=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first)] = np.arange(len(first))
    return rank[labels]


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
