"""Hyperbolic embedding: S1/H2 coordinates for a graph that has none.

The graph is taken as a sample of the S1 model, p_ij = 1 / (1 + (R Δθ_ij / (μ κ_i κ_j))^β),
R = N/2π, and its parameters are inferred from the structure alone, in the spirit of
Mercator (García-Pérez, Allard, Serrano & Boguñá, New J. Phys. 21, 123033, 2019):

1. **Hidden degrees.** With uniform angles, two nodes connect with probability
   P̄(a) = F(a)/a, a = N / (2μκκ'), F(a) = ∫_0^a ds / (1 + s^β). The κ of every degree
   class is rescaled until the expected degrees Σ_j P̄ match the observed ones;
   μ = β sin(π/β) / (2π⟨k⟩) fixes the mean degree.
2. **Temperature.** The model's mean local clustering for a given β is estimated by
   drawing pairs of neighbours of each degree class (a neighbour's class in proportion to
   its expected links, its angle from the connection probability) and averaging their own
   connection probability; β is bisected until it matches the graph's mean clustering.
3. **Initial angles.** Laplacian eigenmaps on the core (the largest component among the
   ``eigen_nodes`` highest degrees; in the S1 model such a core is itself an S1 graph):
   the two leading non-trivial eigenvectors of its normalised adjacency, each edge
   weighted by how close the model expects its ends to be; their polar angle orders the
   core, which is spaced evenly around the circle. The other nodes are then placed, hubs
   first, by the likelihood step below using their already placed neighbours.
4. **Refined angles.** Nodes, in decreasing degree, try candidate angles around their
   neighbours and keep the one of highest local log-likelihood: log p_ij of the
   neighbours plus log(1 - p_ij) of the non-neighbours in an angular window around the
   candidate. The far field, nearly the same for every candidate, is left out, so the
   work is O(N · candidates · window), never all pairs.

The H2 radius is r = R̂ − 2 ln(κ/κ0), R̂ = 2 ln(N / (π μ κ0²)) with κ0 the smallest κ.

Quality checks against a known geometry: :func:`circular_correlation`,
:func:`greedy_routing` and :func:`clustering_spectrum`.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from ..errors import GraphError, SpecError
from ..progress import ProgressCallback, report
from .graph import Graph
from .stats import clustering

BETA_RANGE = (1.05, 20.0)  # the bisection's bounds on β (β → 1 is the S1 model's clustering-free edge)
_LOG_LO, _LOG_HI, _GRID = -14.0, 14.0, 2801  # log-spaced table of F on [e^-14, e^14]
_BLOCK = 1 << 14  # nodes per refinement call (one progress report each)


def embed(graph: Graph, *, beta: float | None = None, rounds: int = 2, candidates: int = 12, window: int = 32,
          eigen_nodes: int = 20_000, clustering_samples: int = 300, seed: int = 0,
          progress: ProgressCallback | None = None) -> Graph:
    """Infer S1/H2 coordinates (``theta``, ``kappa``, ``radius``) for an undirected graph.

    Parameters
    ----------
    graph : Graph
        Undirected; weights are ignored. Isolated nodes get a random angle and the smallest κ.
    beta : float, optional
        Fix the inverse temperature instead of fitting it to the mean clustering.
    rounds : int
        Likelihood-refinement passes over all nodes (0 keeps the eigenmap angles).
    candidates, window : int
        Candidate angles tried per node and pass; non-neighbours on each side of a
        candidate (in angular order) whose log(1 - p) enters its likelihood.
    eigen_nodes : int
        Laplacian eigenmaps run on (the largest component of) the subgraph of this many
        highest-degree nodes; the other nodes are then placed by likelihood, hubs first,
        next to their placed neighbours (nodes of components that never touch it keep
        random angles).
    clustering_samples : int
        Neighbour pairs drawn per degree class to estimate the model's clustering.
    seed : int
        Seed of every random draw (the result is deterministic).
    progress : callable, optional
        ``progress(done, total)``; may raise :class:`~roma_core.errors.Cancelled`.

    Returns
    -------
    Graph
        The same structure (same fingerprint) with coordinates; ``meta`` gains ``beta``,
        ``mu``, ``R``, ``R_hat``, ``kappa0`` and ``embedding`` (method, mean clustering of
        the graph and of the fitted model, settings).
    """
    _check(graph, beta, rounds, candidates, window, eigen_nodes, clustering_samples)
    fitted = beta is None
    n = graph.num_nodes
    degree = graph.degree
    rng = np.random.default_rng(seed)
    total = 2 + n * (rounds + 1)
    report(progress, 0, total)

    # 1-2: hidden degrees per degree class and β
    classes, class_of, count = np.unique(degree, return_inverse=True, return_counts=True)
    mean_k = degree.mean()
    observed_c = _mean_clustering(graph, rng)
    uniforms = rng.random((len(classes), clustering_samples, 5))
    if beta is None:
        beta, class_kappa, model_c = _fit_beta(classes, count, n, mean_k, observed_c, uniforms)
    else:
        beta = float(beta)
        class_kappa = _fit_kappa(classes, count, n, beta, _mu(beta, mean_k))
        model_c = _model_mean_clustering(classes, count, class_kappa, n, beta, _mu(beta, mean_k), uniforms)
    mu = _mu(beta, mean_k)
    kappa = class_kappa[class_of]
    if np.any(degree == 0):
        kappa[degree == 0] = kappa[degree > 0].min() if np.any(degree > 0) else 1.0
    report(progress, 1, total)

    # 3: eigenmap angles of the core (the highest degrees), 4: everyone else placed, hubs first,
    # then every node refined, hubs first
    order = np.argsort(-degree, kind="stable").astype(np.int64)
    core = _core(graph, order[:eigen_nodes])
    theta = rng.uniform(0.0, 2 * math.pi, n)
    placed = np.zeros(n, dtype=np.bool_)
    if len(core) >= 4:
        theta[core] = _eigenmap_angles(graph.subgraph(core), kappa[core], rng)
        placed[core] = True
    report(progress, 2, total)
    stamp = np.full(n, -1, dtype=np.int64)
    _seed_numba(int(rng.integers(2**31)))
    sweep = lambda nodes, offset, span: _sweep(nodes, graph, theta, kappa, placed, mu, beta, window, candidates,
                                               stamp, progress, offset, span, total)
    rest = order[~placed[order]]
    offset, span = 2 + n - len(rest), len(rest)
    while len(rest) and np.any(placed):  # nodes without a placed neighbour wait for the next pass
        sweep(rest, offset, span)
        if np.all(placed[rest]) or not np.any(placed[rest]):
            break
        rest, offset, span = rest[~placed[rest]], 2 + n, 0
    placed[:] = True
    for r in range(rounds):
        sweep(order, 2 + (r + 1) * n, n)
    report(progress, total, total)

    kappa0 = float(kappa.min())
    r_hat = 2 * math.log(n / (math.pi * mu * kappa0 ** 2))
    radius = np.maximum(r_hat - 2 * np.log(kappa / kappa0), 0.0)
    meta = {**graph.meta, "beta": beta, "mu": mu, "R": n / (2 * math.pi), "R_hat": r_hat, "kappa0": kappa0,
            "embedding": {"method": "S1 maximum likelihood (Mercator-style)", "mean_clustering": observed_c,
                          "model_clustering": model_c, "beta_fitted": fitted, "rounds": rounds,
                          "candidates": candidates, "window": window, "eigen_nodes": eigen_nodes, "seed": seed}}
    return Graph(graph.indptr, graph.indices, graph.weights, theta=theta, kappa=kappa, radius=radius,
                 meta=meta, directed=False)


# ---------------------------------------------------------------- quality checks
def circular_correlation(a, b) -> float:
    """Fisher–Lee circular correlation ``|ρ|`` of two sets of angles, blind to a global rotation
    or reflection of either: Σ_{i,j} sin(a_i − a_j) sin(b_i − b_j), normalised, computed in
    O(N) from the identity Σ_{i,j} sin(a_i − a_j) sin(b_i − b_j) = 2[(s_a·s_b)(c_a·c_b) −
    (s_a·c_b)(c_a·s_b)] (s, c: sines and cosines).

    Parameters
    ----------
    a, b : array_like
        Angles (radians) of the same nodes, e.g. inferred and true.

    Returns
    -------
    float
        In [0, 1]; 1 when the two agree up to a rotation or reflection.

    Raises
    ------
    roma_core.errors.GraphError
        Unless both are 1-D of equal length, at least 2.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or len(a) < 2:
        raise GraphError(f"circular_correlation needs two 1-D arrays of equal length >= 2, got {a.shape} and {b.shape}")
    sa, ca, sb, cb = np.sin(a), np.cos(a), np.sin(b), np.cos(b)
    num = (sa @ sb) * (ca @ cb) - (sa @ cb) * (ca @ sb)
    den = math.sqrt(max((sa @ sa) * (ca @ ca) - (sa @ ca) ** 2, 0.0) * max((sb @ sb) * (cb @ cb) - (sb @ cb) ** 2, 0.0))
    return float(abs(num) / den) if den > 0 else 0.0


def greedy_routing(graph: Graph, pairs: int = 2000, seed: int = 0) -> float:
    """Success rate of greedy routing in H2: from a random source, always hop to the
    neighbour closest (hyperbolic distance) to a random target in the same component;
    a route fails when no neighbour is closer than the current node.

    Parameters
    ----------
    graph : Graph
        With H2 coordinates (``theta``, ``radius``).
    pairs : int
        Source–target pairs tried.
    seed : int
        Seed of the pairs.

    Returns
    -------
    float
        The fraction of routes that reach their target.

    Raises
    ------
    roma_core.errors.GraphError
        For a graph without coordinates or without a component of 2 nodes.
    """
    if graph.theta is None or graph.radius is None:
        raise GraphError("greedy_routing needs S1/H2 coordinates (theta, radius); embed the graph first")
    _, labels = graph.components()
    main = np.flatnonzero(labels == np.argmax(np.bincount(labels)))
    if len(main) < 2:
        raise GraphError("greedy_routing needs a component of at least 2 nodes")
    rng = np.random.default_rng(seed)
    src, dst = rng.choice(main, pairs), rng.choice(main, pairs)
    keep = src != dst
    return float(_route(graph.indptr, graph.indices, graph.theta, graph.radius, src[keep], dst[keep]).mean())


def clustering_spectrum(graph: Graph, samples: int = 300, seed: int = 0) -> dict:
    """The clustering spectrum c(k): the graph's mean local clustering per degree k ≥ 2
    (``observed``) and, when the graph carries κ and the S1 parameters (``beta``, ``mu``
    in meta, as :func:`embed` and the generator write them), the model's expected
    clustering for the mean κ of each degree (``model``, estimated by sampling).

    Parameters
    ----------
    graph : Graph
        Undirected.
    samples : int
        Neighbour pairs drawn per degree to estimate the model's clustering.
    seed : int
        Seed of the draws.

    Returns
    -------
    dict
        ``degree``, ``count`` (nodes per degree), ``observed`` and, when the model is
        known, ``model``.
    """
    degree = graph.degree
    c = clustering(graph)
    k, inverse, count = np.unique(degree, return_inverse=True, return_counts=True)
    observed = np.bincount(inverse, weights=c) / count
    out = {"degree": k[k > 1], "count": count[k > 1], "observed": observed[k > 1], "model": None}
    beta, mu = _meta_number(graph, "beta"), _meta_number(graph, "mu")
    if graph.kappa is not None and beta is not None and mu is not None and math.isfinite(beta):
        kappa = np.bincount(inverse, weights=graph.kappa) / count
        pos = k > 0
        uniforms = np.random.default_rng(seed).random((int(pos.sum()), samples, 5))
        model = _class_clustering(kappa[pos], count[pos].astype(np.float64), graph.num_nodes, mu, beta,
                                  _table(beta), uniforms)
        out["model"] = model[k[pos] > 1]
    return out


# ---------------------------------------------------------------- steps 1-2: κ and β
def _check(graph, beta, rounds, candidates, window, eigen_nodes, samples) -> None:
    if not isinstance(graph, Graph):
        raise GraphError(f"embed needs a roma Graph, got {type(graph).__name__}")
    if graph.directed:
        raise GraphError("embed needs an undirected graph; load it without --directed or symmetrise it")
    if graph.num_nodes < 3 or graph.num_edges == 0:
        raise GraphError(f"embed needs at least 3 nodes and one edge, got {graph.num_nodes} nodes and "
                         f"{graph.num_edges} edges")
    if beta is not None and not (isinstance(beta, (int, float)) and 1 < beta < math.inf):
        raise SpecError(f"beta must be a finite number > 1 (or None to fit it), got {beta!r}")
    for name, value, low in (("rounds", rounds, 0), ("candidates", candidates, 1), ("window", window, 1),
                             ("eigen_nodes", eigen_nodes, 4), ("clustering_samples", samples, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise SpecError(f"{name} must be an integer >= {low}, got {value!r}")


def _mu(beta: float, mean_degree: float) -> float:
    return beta * math.sin(math.pi / beta) / (2 * math.pi * mean_degree)


def _meta_number(graph: Graph, key: str) -> float | None:
    value = graph.meta.get(key, (graph.meta.get("spec") or {}).get(key))
    return None if value is None else float(value)


def _mean_clustering(graph: Graph, rng, nodes: int = 20_000, pairs: int = 2_000) -> float:
    """Mean local clustering of the nodes of degree > 1: exact over at most ``nodes`` of
    them (drawn at random when there are more) and, for a node with more than ``pairs``
    pairs of neighbours, estimated from that many random pairs (a hub's exact count costs
    the square of its degree)."""
    several = np.flatnonzero(graph.degree > 1)
    if len(several) == 0:
        return 0.0
    if len(several) > nodes:
        several = rng.choice(several, nodes, replace=False)
    return float(_sampled_clustering(graph.indptr, graph.indices, several.astype(np.int64), pairs,
                                     int(rng.integers(2**31))).mean())


def _table(beta: float) -> np.ndarray:
    """F(t) = ∫_0^t ds / (1 + s^β) at t = e^u, u on a uniform grid over [_LOG_LO, _LOG_HI]."""
    u = np.linspace(_LOG_LO, _LOG_HI, _GRID)
    f = np.exp(u) / (1.0 + np.exp(beta * u))  # integrand in u: ds = s du
    steps = 0.5 * (f[1:] + f[:-1]) * (u[1] - u[0])
    return math.exp(_LOG_LO) + np.concatenate([[0.0], np.cumsum(steps)])


def _fit_kappa(classes, count, n, beta, mu, tol=1e-2, max_iter=200) -> np.ndarray:
    """κ per degree class solving Σ_j P̄(κ, κ_j) = k to 1 % (κ = NaN for degree 0).

    Starts from κ = k; secant steps in log-log, one per class: log κ += (log k − log k̄) / s,
    with s the local slope d log k̄ / d log κ (1 at first; hubs, whose links saturate, have s < 1)."""
    pos = classes > 0
    log_target = np.log(classes[pos].astype(np.float64))
    log_k = log_target.copy()
    table = _table(beta)
    weights = count[pos].astype(np.float64)
    slope = np.ones_like(log_k)
    previous = None
    for _ in range(max_iter):
        log_mean = np.log(_expected_degrees(np.exp(log_k), weights, n, mu, beta, table))
        miss = log_target - log_mean
        if np.max(np.abs(miss)) < tol:
            break
        if previous is not None:
            moved = log_k - previous[0]
            ok = np.abs(moved) > 1e-12
            slope[ok] = np.clip((log_mean - previous[1])[ok] / moved[ok], 0.05, 1.0)
        previous = (log_k.copy(), log_mean)
        log_k = log_k + miss / slope
    out = np.full(len(classes), np.nan)
    out[pos] = np.exp(log_k)
    return out


def _model_mean_clustering(classes, count, class_kappa, n, beta, mu, uniforms) -> float:
    pos = classes > 0
    c = _class_clustering(class_kappa[pos], count[pos].astype(np.float64), n, mu, beta, _table(beta), uniforms[pos])
    several = classes[pos] > 1
    return float(np.average(c[several], weights=count[pos][several])) if np.any(several) else 0.0


def _fit_beta(classes, count, n, mean_k, observed, uniforms):
    """Bisect log β until the model's mean clustering matches ``observed``."""
    def at(beta):
        kappa = _fit_kappa(classes, count, n, beta, _mu(beta, mean_k))
        return kappa, _model_mean_clustering(classes, count, kappa, n, beta, _mu(beta, mean_k), uniforms)

    lo, hi = BETA_RANGE
    for edge in (hi, lo):
        k_edge, c_edge = at(edge)
        if (edge == hi and observed >= c_edge) or (edge == lo and observed <= c_edge):
            return edge, k_edge, c_edge
    while hi / lo > 1.005:
        mid = math.sqrt(lo * hi)
        k_mid, c_mid = at(mid)
        lo, hi = (mid, hi) if c_mid < observed else (lo, mid)
    return mid, k_mid, c_mid


# ---------------------------------------------------------------- step 3: eigenmaps
def _core(graph: Graph, top: np.ndarray) -> np.ndarray:
    """The largest connected component of the subgraph induced by ``top`` (node ids)."""
    _, labels = graph.subgraph(top).components()
    return top[labels == np.argmax(np.bincount(labels))]


def _eigenmap_angles(graph: Graph, kappa, rng) -> np.ndarray:
    """Angles of a connected graph from Laplacian eigenmaps, evenly spaced in their order.

    The two leading non-trivial eigenvectors of the normalised adjacency, with each edge
    weighted by the inverse of its expected angular reach μ κ_i κ_j / R relative to the
    typical edge (links between hubs span long angles); LOBPCG, a block method, so a
    degenerate pair (the cos/sin modes of a ring) comes out whole."""
    import warnings

    import scipy.sparse as sp
    import scipy.sparse.linalg as sla

    m = graph.num_nodes
    src, dst = graph.row_ids(), graph.indices
    reach = kappa[src] * kappa[dst]
    w = np.median(reach) / reach
    d = np.bincount(src, weights=w, minlength=m)
    inv = 1.0 / np.sqrt(d)
    norm = sp.csr_array((w * inv[src] * inv[dst], dst, graph.indptr), shape=(m, m))
    if m <= 200:
        vals, vecs = np.linalg.eigh(norm.toarray())
    else:
        start = rng.standard_normal((m, 4))
        start[:, 0] = np.sqrt(d)  # the trivial eigenvector, known
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # not reaching tol still gives a usable order
            vals, vecs = sla.lobpcg(norm, start, largest=True, tol=1e-6, maxiter=300)
    top = np.argsort(vals)[::-1][1:3]
    x, y = vecs[:, top[0]] * inv, vecs[:, top[1]] * inv
    order = np.argsort(np.arctan2(y, x), kind="stable")
    theta = np.empty(m)
    theta[order] = 2 * math.pi * (np.arange(m) + 0.5) / m
    return theta


def _sweep(nodes, graph, theta, kappa, placed, mu, beta, window, candidates, stamp, progress, offset, span, total):
    """Refine (or place) ``nodes`` in blocks, reporting progress from ``offset`` to
    ``offset + span``; the angular window holds the placed nodes as they were when the
    block started."""
    n = graph.num_nodes
    for start in range(0, len(nodes), _BLOCK):
        fixed = np.flatnonzero(placed)
        snapshot = fixed[np.argsort(theta[fixed], kind="stable")].astype(np.int64)
        _refine(nodes[start:start + _BLOCK], graph.indptr, graph.indices, theta, kappa, placed, snapshot,
                theta[snapshot], n / (2 * math.pi), mu, beta, window, candidates, stamp)
        report(progress, offset + span * min(len(nodes), start + _BLOCK) // len(nodes), total)


# ---------------------------------------------------------------- numba kernels
@numba.njit(inline="always", cache=True, nogil=True)
def _f(a, beta, table):
    """F(a) = ∫_0^a ds / (1 + s^β) from the log-spaced table (power-law tail beyond it)."""
    if a <= 0.0:
        return 0.0
    u = math.log(a)
    if u <= _LOG_LO:
        return a
    if u >= _LOG_HI:
        return table[-1] + (math.exp(_LOG_HI * (1.0 - beta)) - a ** (1.0 - beta)) / (beta - 1.0)
    x = (u - _LOG_LO) / ((_LOG_HI - _LOG_LO) / (_GRID - 1))
    i = min(int(x), _GRID - 2)
    f = x - i
    return table[i] * (1.0 - f) + table[i + 1] * f


@numba.njit(inline="always", cache=True, nogil=True)
def _f_inverse(y, beta, table):
    """The a with F(a) = y."""
    if y <= table[0]:
        return y
    if y >= table[-1]:
        rest = math.exp(_LOG_HI * (1.0 - beta)) - (y - table[-1]) * (beta - 1.0)
        return math.exp(_LOG_HI) if rest <= 0 else rest ** (1.0 / (1.0 - beta))
    i = np.searchsorted(table, y, side="right") - 1
    f = (y - table[i]) / (table[i + 1] - table[i])
    return math.exp(_LOG_LO + (i + f) * (_LOG_HI - _LOG_LO) / (_GRID - 1))


@numba.njit(cache=True, nogil=True)
def _expected_degrees(kappa, count, n, mu, beta, table):
    """Expected degree of each class: Σ_c count_c P̄(κ_i, κ_c) minus the node itself."""
    d = len(kappa)
    out = np.zeros(d)
    for i in range(d):
        s = 0.0
        for c in range(d):
            a = n / (2.0 * mu * kappa[i] * kappa[c])
            s += count[c] * _f(a, beta, table) / a
        a = n / (2.0 * mu * kappa[i] * kappa[i])
        out[i] = s - _f(a, beta, table) / a
    return out


@numba.njit(inline="always", cache=True, nogil=True)
def _neighbour_gap(ki, kj, u, n, mu, beta, table):
    """Angular distance of a neighbour of class κ_j, drawn from p(Δθ) on [0, π]."""
    scale = 2.0 * math.pi * mu * ki * kj / n  # μ κ_i κ_j / R: Δθ = s · scale, s in [0, a]
    a = math.pi / scale
    return _f_inverse(u * _f(a, beta, table), beta, table) * scale


@numba.njit(cache=True, nogil=True)
def _class_clustering(kappa, count, n, mu, beta, table, uniforms):
    """The model's expected local clustering of a node of each class: the mean connection
    probability of two of its neighbours, drawn with their class and angle."""
    d, samples = uniforms.shape[0], uniforms.shape[1]
    big_r = n / (2.0 * math.pi)
    out = np.zeros(d)
    cum = np.empty(d)
    for i in range(d):
        s = 0.0
        for c in range(d):
            a = n / (2.0 * mu * kappa[i] * kappa[c])
            links = (count[c] - (1.0 if c == i else 0.0)) * _f(a, beta, table) / a
            s += max(links, 0.0)
            cum[c] = s
        acc = 0.0
        for m in range(samples):
            j = min(np.searchsorted(cum, uniforms[i, m, 0] * s, side="right"), d - 1)
            l = min(np.searchsorted(cum, uniforms[i, m, 1] * s, side="right"), d - 1)
            gj = _neighbour_gap(kappa[i], kappa[j], uniforms[i, m, 2], n, mu, beta, table)
            gl = _neighbour_gap(kappa[i], kappa[l], uniforms[i, m, 3], n, mu, beta, table)
            gap = abs(gj - gl) if uniforms[i, m, 4] < 0.5 else gj + gl
            if gap > math.pi:
                gap = 2.0 * math.pi - gap
            acc += 1.0 / (1.0 + (big_r * gap / (mu * kappa[j] * kappa[l])) ** beta)
        out[i] = acc / samples
    return out


@numba.njit(cache=True, nogil=True)
def _sampled_clustering(indptr, indices, nodes, pairs, seed):
    np.random.seed(seed)
    out = np.zeros(len(nodes))
    for m in range(len(nodes)):
        i = nodes[m]
        lo, k = indptr[i], indptr[i + 1] - indptr[i]
        linked = tried = 0
        if k * (k - 1) // 2 <= pairs:
            for a in range(k - 1):
                j = indices[lo + a]
                row = indices[indptr[j]:indptr[j + 1]]
                for b in range(a + 1, k):
                    l = indices[lo + b]
                    p = np.searchsorted(row, l)
                    linked += p < len(row) and row[p] == l
                    tried += 1
        else:
            for _ in range(pairs):
                a, b = np.random.randint(k), np.random.randint(k - 1)
                b += b >= a
                j, l = indices[lo + a], indices[lo + b]
                row = indices[indptr[j]:indptr[j + 1]]
                p = np.searchsorted(row, l)
                linked += p < len(row) and row[p] == l
                tried += 1
        out[m] = linked / tried
    return out


@numba.njit(cache=True, nogil=True)
def _seed_numba(seed):
    np.random.seed(seed)


@numba.njit(inline="always", cache=True, nogil=True)
def _gap(a, b):
    d = abs(a - b) % (2.0 * math.pi)
    return 2.0 * math.pi - d if d > math.pi else d


@numba.njit(cache=True, nogil=True)
def _local_loglik(i, t, lo, hi, indices, theta, kappa, placed, snapshot, angles, big_r, mu, beta, window, stamp):
    """Log-likelihood of node i at angle t: its links to placed nodes, and its non-links
    within ``window`` placed nodes on either side of t in angular order."""
    c = big_r / (mu * kappa[i])
    total = 0.0
    for e in range(lo, hi):
        j = indices[e]
        if placed[j]:
            x = c * _gap(t, theta[j]) / kappa[j]
            if x > 0.0:
                total -= math.log1p(x ** beta)
    n = len(angles)
    before = min(window, n // 2)
    first = np.searchsorted(angles, t)
    for k in range(-before, min(window, n - before)):
        j = snapshot[(first + k) % n]
        if j == i or stamp[j] == i:
            continue
        x = c * _gap(t, theta[j]) / kappa[j]
        if x <= 0.0:
            return -np.inf
        total -= math.log1p(x ** -beta)
    return total


@numba.njit(cache=True, nogil=True)
def _refine(nodes, indptr, indices, theta, kappa, placed, snapshot, angles, big_r, mu, beta, window, candidates,
            stamp):
    """Move each node (in the order given) to its best candidate angle: the κ-weighted
    circular mean of its placed neighbours, draws around it within their spread, and
    draws next to single neighbours. A node with no placed neighbour is skipped; the
    others end placed."""
    mean_kappa = kappa.mean()
    for i in nodes:
        lo, hi = indptr[i], indptr[i + 1]
        cs = sn = ws = 0.0
        linked = 0
        for e in range(lo, hi):
            j = indices[e]
            stamp[j] = i
            if placed[j]:
                w = 1.0 / kappa[j]
                cs += w * math.cos(theta[j])
                sn += w * math.sin(theta[j])
                ws += w
                linked += 1
        if linked == 0:
            continue
        centre = math.atan2(sn, cs)
        rbar = min(math.sqrt(cs * cs + sn * sn) / ws, 1.0)
        near = min(mu * kappa[i] * mean_kappa / big_r, math.pi)  # typical angular reach of a link
        spread = math.sqrt(-2.0 * math.log(rbar)) if rbar > 1e-12 else math.pi
        spread = min(max(spread, near), math.pi)
        best_t, best = theta[i], -np.inf
        if placed[i]:
            best = _local_loglik(i, best_t, lo, hi, indices, theta, kappa, placed, snapshot, angles, big_r, mu, beta,
                                 window, stamp)
        for c in range(candidates):
            if c == 0:
                t = centre
            elif c % 3 == 0:
                j = indices[lo + np.random.randint(hi - lo)]
                while not placed[j]:
                    j = indices[lo + np.random.randint(hi - lo)]
                t = theta[j] + near * np.random.standard_normal()
            else:
                t = centre + spread * np.random.standard_normal()
            t = t % (2.0 * math.pi)
            score = _local_loglik(i, t, lo, hi, indices, theta, kappa, placed, snapshot, angles, big_r, mu, beta,
                                  window, stamp)
            if score > best or best == -np.inf:
                best, best_t = score, t
        theta[i] = best_t
        placed[i] = True


@numba.njit(inline="always", cache=True, nogil=True)
def _h2_cosh(ti, ri, tj, rj):
    """cosh of the H2 distance, in the form without cancellation for nearby nodes."""
    return math.cosh(ri - rj) + 2.0 * math.sinh(ri) * math.sinh(rj) * math.sin(_gap(ti, tj) / 2.0) ** 2


@numba.njit(cache=True, nogil=True)
def _route(indptr, indices, theta, radius, src, dst):
    done = np.zeros(len(src), dtype=np.bool_)
    for p in range(len(src)):
        cur, target = src[p], dst[p]
        here = _h2_cosh(theta[cur], radius[cur], theta[target], radius[target])
        while cur != target:
            step, closest = -1, here
            for e in range(indptr[cur], indptr[cur + 1]):
                j = indices[e]
                if j == target:
                    step = j
                    break
                dj = _h2_cosh(theta[j], radius[j], theta[target], radius[target])
                if dj < closest:
                    step, closest = j, dj
            if step < 0:
                break
            cur, here = step, closest
        done[p] = cur == target
    return done
