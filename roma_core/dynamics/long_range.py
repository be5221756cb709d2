"""The Kac-normalised power-law average over all other nodes, in O(N) per evaluation.

    F_i = Σ_{j≠i} d_ij^(−s) f_j / Σ_{j≠i} d_ij^(−s)

With d_ij the angular distance on the circle (``distance="angular"``) the sum is a fast
multipole method on the circle: equal-angle bins, 2^l at level l, each holding the
interpolating polynomial of its sources at ``order`` Chebyshev points (the multipole);
bins that are well separated exchange these through the kernel evaluated between their
Chebyshev points (one small matrix per level and offset, since all bins of a level have
the same width), the results are passed down the tree and interpolated back to every
node. The kernel |Δθ|^(−s) is smooth except where Δθ = 0 (the singularity) and where the
angular distance turns over at Δθ = π (a kink): two bins interact through the tree only
when both the node and its antipode are at least two bins away, so each node sums its own
and adjacent finest bins directly, with weights computed once. Across the kink the
interpolation error does not fall exponentially but like the bin width w (slope jump s
π^(−s−1) times w / order), and the bins it concerns hold a share ~ 6 w / 2π of the sum:
down to ``KINK_BINS`` = 4,096 bins (relative error ≲ 12 s / (order · 4,096²) ≈ 1e-7 s) the three
bins around the antipode are summed like near ones (directly at the finest level),
finer levels interpolate across it. The error falls like 5.8^(−order): at the default order 8 the largest error, over the
largest |f|, was 2e-8, 8e-7 and 7e-6 for s = 0.5, 1.5 and 2.5 against a direct sum over
3,000 random angles. Nodes are sorted by angle once. The numba backend (CPU) keeps
everything per node in that order: one kernel forms the finest bins' expansions bin by bin
(and a copy of f in angular order), one gives each node its near field (about 12 weights
per node at 4 nodes per finest bin, over runs of consecutive nodes) plus its bin's local
expansion, reading and writing the caller's nodes through the permutation. The torch
backend (any device) uses sparse matrices in the caller's order instead. The tree is a few
dense products per level on (k · bins / 2, 2 · order) views of one buffer per level (the
pairs of sibling bins as rows): two pairs of children → their parents, parents → children,
and all well-separated pairs of a level as one product of the sources gathered at the
level's parent offsets with the stacked kernel blocks. Cost per evaluation: O(N · (order
+ near weights) · k) for k columns, plus O(N · order · k) in the tree's dense products.

Distances are measured in units of the mean spacing 2π/N (which cancels in the ratio) and
floored at ``floor`` (default 1e-3) of it: nodes at the same angle count as that close.
The denominators Σ_{j≠i} d_ij^(−s) are computed once, with the same approximation.

``distance="hyperbolic"`` uses the H2 distance between the nodes' (radius, angle) points.
It is summed directly in row chunks: exact, O(N²) time and O(N) memory, so it is limited
to ``HYPERBOLIC_MAX_NODES`` nodes. (The angular tree would carry over, since the H2
kernel's singularities in Δθ all lie at Re Δθ = 0, but near the disk's centre the kernel
varies fast in the radius for nearby angles, so a sub-quadratic scheme needs a tree
adapted to the radius as well; it is not implemented.)
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from numba import njit, prange

from ..errors import SimulationError
from .kernels import row_blocks

TWO_PI = 2.0 * math.pi
DEFAULT_ORDER = 8
LEAF_SIZE = 4            # mean nodes per finest bin
HYPERBOLIC_MAX_NODES = 50_000
CHUNK = 1 << 22          # pair evaluations per chunk of the direct hyperbolic sum
KINK_BINS = 1 << 12      # finer levels interpolate across the kink at π (see the module docstring)


def chebyshev_points(order: int) -> np.ndarray:
    """The Chebyshev points of the first kind in [−1, 1], cos(π (2q + 1) / (2 order)).

    Parameters
    ----------
    order : int
        Number of points.

    Returns
    -------
    np.ndarray
        (order,) points, decreasing from near 1 to near −1.
    """
    return np.cos(math.pi * (2 * np.arange(order) + 1) / (2 * order))


def lagrange_basis(t: np.ndarray, order: int) -> np.ndarray:
    """Values of the Lagrange polynomials through the Chebyshev points at ``t`` in [−1, 1]
    (barycentric form; exact 1 where t hits a point).

    Parameters
    ----------
    t : np.ndarray
        (M,) evaluation points in [−1, 1].
    order : int
        Number of Chebyshev points (polynomials of degree order − 1).

    Returns
    -------
    np.ndarray
        (M, order) float64: column q is the polynomial that is 1 at point q of
        :func:`chebyshev_points` and 0 at the others.
    """
    z = chebyshev_points(order)
    w = (-1.0) ** np.arange(order) * np.sin(math.pi * (2 * np.arange(order) + 1) / (2 * order))
    diff = np.asarray(t, dtype=np.float64)[:, None] - z[None, :]
    hit = diff == 0
    diff[hit] = 1.0
    terms = w / diff
    out = terms / terms.sum(1, keepdims=True)
    rows = hit.any(1)
    out[rows] = hit[rows].astype(np.float64)
    return out


def near_offsets(n: int) -> set[int]:
    """Bin offsets (mod n) handled below the tree at a level of n bins: the bin itself, its
    neighbours and, up to ``KINK_BINS`` bins, the three bins around the antipode.

    Parameters
    ----------
    n : int
        Number of bins at the level.

    Returns
    -------
    set of int
        Offsets in [0, n) (all of them for n ≤ 4).
    """
    if n <= 4:
        return set(range(n))
    a = n // 2
    return {o % n for o in (-1, 0, 1) + ((a - 1, a, a + 1) if n <= KINK_BINS else ())}


def h2_distance(r1, t1, r2, t2):
    """Hyperbolic distance between (r1, t1) and (r2, t2) (broadcasting; cancellation-free form
    cosh d = cosh(r1 − r2) + 2 sinh r1 sinh r2 sin²(Δθ/2)).

    Parameters
    ----------
    r1, t1 : torch.Tensor
        Radii and angles (radians) of the first points.
    r2, t2 : torch.Tensor
        Radii and angles of the second points; all four broadcast together.

    Returns
    -------
    torch.Tensor
        The distances, in units of the curvature radius, of the broadcast shape.
    """
    arg = torch.cosh(r1 - r2) + 2 * torch.sinh(r1) * torch.sinh(r2) * torch.sin((t1 - t2) / 2) ** 2
    return torch.acosh(torch.clamp(arg, min=1.0))


class SparseRows:
    """A fixed sparse matrix as torch's CSR tensor (any device), applied to (cols, k) tensors
    with ``@``.

    Parameters
    ----------
    ptr : np.ndarray
        (rows + 1,) int64 row pointers: row r holds entries ptr[r] … ptr[r + 1] − 1.
    cols : np.ndarray
        Column of each entry, in row order.
    vals : np.ndarray
        Value of each entry, in row order.
    shape : tuple of int
        (rows, columns).
    device : torch.device or str
        Where the matrix lives.
    dtype : torch.dtype
        Precision of the values.
    """

    def __init__(self, ptr, cols, vals, shape, device, dtype):
        self.shape = shape
        with warnings.catch_warnings():      # torch flags CSR tensors as beta
            warnings.simplefilter("ignore", UserWarning)
            self.csr = torch.sparse_csr_tensor(torch.as_tensor(ptr, device=device),
                                               torch.as_tensor(cols.astype(np.int64), device=device),
                                               torch.as_tensor(vals, dtype=dtype, device=device), size=shape)

    @classmethod
    def from_entries(cls, rows, cols, vals, shape, device, dtype) -> "SparseRows":
        """From entries in any order (sorted by row here, stably).

        Parameters
        ----------
        rows, cols, vals : np.ndarray
            Row, column and value of each entry (same length); rows are int in [0, shape[0]).
        shape, device, dtype
            As for :class:`SparseRows`.

        Returns
        -------
        SparseRows
        """
        by_row = np.argsort(rows, kind="stable")
        ptr = np.zeros(shape[0] + 1, np.int64)
        np.cumsum(np.bincount(rows, minlength=shape[0]), out=ptr[1:])
        return cls(ptr, np.asarray(cols)[by_row], np.asarray(vals)[by_row], shape, device, dtype)

    def __matmul__(self, x: torch.Tensor) -> torch.Tensor:
        return self.csr @ x


@njit(parallel=True, cache=True, nogil=True)
def _to_bins(starts, perm, basis, f, out, fs, bounds):
    """``out[c, b·P + q] = Σ_s basis[s, q] f[perm[s], c]`` over the nodes s = starts[b] …
    starts[b + 1] − 1 of bin b in angular order (``f`` (N, k) in the caller's order), and
    ``fs[s] = f[perm[s]]``; bins split into ``bounds``."""
    p, k = basis.shape[1], f.shape[1]
    for t in prange(len(bounds) - 1):
        acc = np.empty((k, p), out.dtype)
        for b in range(bounds[t], bounds[t + 1]):
            acc[:] = 0
            for s in range(starts[b], starts[b + 1]):
                j = perm[s]
                for c in range(k):
                    v = f[j, c]
                    fs[s, c] = v
                    for q in range(p):
                        acc[c, q] += basis[s, q] * v
            for c in range(k):
                for q in range(p):
                    out[c, b * p + q] = acc[c, q]


@njit(parallel=True, cache=True, nogil=True)
def _to_nodes(starts, perm, run_ptr, runs, ptr, weights, fs, basis, local, scale, out, bounds):
    """``out[perm[s], c] = scale[perm[s]] · (Σ_e weights[e] fs[r_e, c] + Σ_q basis[s, q] local[c, b·P + q])``
    for the node s of bin b (angular order): the near field, entries ptr[s] … ptr[s + 1] − 1 over
    the positions r_e of the bin's runs ``runs[run_ptr[b]:run_ptr[b + 1]]`` (lo, hi) in turn,
    plus the bin's local expansion. Two columns per pass (an odd k repeats its last)."""
    p, k = basis.shape[1], fs.shape[1]
    zero = out.dtype.type(0)
    for t in prange(len(bounds) - 1):
        for b in range(bounds[t], bounds[t + 1]):
            for s in range(starts[b], starts[b + 1]):
                j = perm[s]
                for c in range(0, k, 2):
                    d = min(c + 1, k - 1)
                    a0 = zero
                    a1 = zero
                    e = ptr[s]
                    for r in range(run_ptr[b], run_ptr[b + 1]):
                        for i in range(runs[r, 0], runs[r, 1]):
                            w = weights[e]
                            a0 += w * fs[i, c]
                            a1 += w * fs[i, d]
                            e += 1
                    for q in range(p):
                        a0 += basis[s, q] * local[c, b * p + q]
                        a1 += basis[s, q] * local[d, b * p + q]
                    out[j, c] = a0 * scale[j]
                    out[j, d] = a1 * scale[j]


def concat_ranges(lo: np.ndarray, size: np.ndarray) -> np.ndarray:
    """lo[0] … lo[0] + size[0] − 1, lo[1] … , concatenated.

    Parameters
    ----------
    lo : np.ndarray
        (M,) int first value of each range.
    size : np.ndarray
        (M,) int ≥ 0 length of each range.

    Returns
    -------
    np.ndarray
        (size.sum(),) int: the ranges one after the other.
    """
    return np.repeat(lo, size) + np.arange(size.sum()) - np.repeat(np.cumsum(size) - size, size)


def reorder(ptr, cols, vals, row_of: np.ndarray):
    """The CSR whose row r is row ``row_of[r]`` of (ptr, cols, vals).

    Parameters
    ----------
    ptr : np.ndarray
        (rows + 1,) int row pointers of the input CSR.
    cols, vals : np.ndarray
        Columns and values of its entries, in row order.
    row_of : np.ndarray
        (R,) int: the input row that becomes each output row.

    Returns
    -------
    tuple of np.ndarray
        (ptr, cols, vals) of the reordered CSR: (R + 1,) int64 row pointers and the entries.
    """
    lens = np.diff(ptr)[row_of]
    new_ptr = np.zeros(len(row_of) + 1, np.int64)
    np.cumsum(lens, out=new_ptr[1:])
    take = np.repeat(ptr[:-1][row_of] - new_ptr[:-1], lens) + np.arange(new_ptr[-1])
    return new_ptr, cols[take], vals[take]


class LongRange:
    """``F = LongRange(theta, exponent)(f)``: the Kac-normalised power-law average of ``f``
    over all other nodes (module docstring), built once per set of node positions.

    Parameters
    ----------
    theta : array (N,)
        Node angles (any order, any real values; taken mod 2π). Inputs and outputs of
        :meth:`__call__` are in this order.
    exponent : float
        s ≥ 0 (0: the plain mean over the other N − 1 nodes).
    order : int
        Chebyshev points per bin (accuracy: error ≈ 5.8^(−order)); angular distance only.
    distance : "angular" | "hyperbolic"
    radius : array (N,), needed for ``distance="hyperbolic"``
    floor : float
        Smallest distance used, in units of the mean spacing 2π/N (angular) or of the
        curvature radius (hyperbolic).
    device, dtype : where and in which precision :meth:`__call__` works.
    backend : "auto" | "numba" | "torch"
        Node ↔ bin and near-field products by numba kernels (CPU only) or by torch's sparse
        matrices; auto: numba on CPU.

    An operator keeps work buffers between calls: do not call one from two threads at once.

    Raises
    ------
    SimulationError
        For fewer than 2 nodes, non-finite angles, s < 0, floor ≤ 0, order < 1, an unknown
        distance or backend (or numba off the CPU), or for the hyperbolic distance missing or
        invalid radii or more than ``HYPERBOLIC_MAX_NODES`` nodes.
    """

    def __init__(self, theta, exponent: float = 1.0, order: int = DEFAULT_ORDER, distance: str = "angular",
                 radius=None, floor: float = 1e-3, device="cpu", dtype=torch.float64, backend: str = "auto"):
        theta = np.asarray(theta, dtype=np.float64)
        if theta.ndim != 1 or len(theta) < 2:
            raise SimulationError(f"the long-range term needs one angle per node and at least 2 nodes, "
                                  f"got shape {theta.shape}")
        if not np.all(np.isfinite(theta)):
            raise SimulationError("the node angles contain NaN or infinite values")
        if not (math.isfinite(exponent) and exponent >= 0):
            raise SimulationError(f"the long-range exponent s must be >= 0, got {exponent}")
        if not floor > 0:
            raise SimulationError(f"the distance floor must be > 0, got {floor}")
        if int(order) < 1:
            raise SimulationError(f"order must be >= 1 Chebyshev point per bin, got {order}")
        self.n, self.s, self.order, self.floor = len(theta), float(exponent), int(order), float(floor)
        self.distance = distance
        self.device, self.dtype = torch.device(device), dtype
        if backend == "auto":
            backend = "numba" if self.device.type == "cpu" else "torch"
        if backend not in ("numba", "torch") or (backend == "numba" and self.device.type != "cpu"):
            raise SimulationError(f"backend {backend!r} is not available on {self.device}; use 'auto'")
        self.backend = backend
        if distance == "angular":
            self._build_tree(np.mod(theta, TWO_PI))
        elif distance == "hyperbolic":
            if radius is None:
                raise SimulationError("the hyperbolic distance needs node radii (graph.radius); "
                                      "use a hyperbolic graph or distance='angular'")
            radius = np.asarray(radius, dtype=np.float64)
            if radius.shape != theta.shape or not np.all(np.isfinite(radius)) or np.any(radius < 0):
                raise SimulationError(f"radius must hold one finite value >= 0 per node ({self.n})")
            if self.n > HYPERBOLIC_MAX_NODES:
                raise SimulationError(f"the hyperbolic long-range distance is summed directly (O(N²)) and is "
                                      f"limited to {HYPERBOLIC_MAX_NODES:,} nodes, got {self.n:,}; "
                                      "use distance='angular'")
            self.theta64 = torch.as_tensor(np.mod(theta, TWO_PI), device=self.device)
            self.radius64 = torch.as_tensor(radius, device=self.device)
        else:
            raise SimulationError(f"distance must be 'angular' or 'hyperbolic', got {distance!r}")
        ones = torch.ones(self.n, 1, dtype=self._work_dtype, device=self.device)
        den = self._sum(ones)[:, 0].to(torch.float64)
        self.inv_den = (1.0 / den).to(dtype)

    @classmethod
    def on_graph(cls, graph, exponent: float, order: int = DEFAULT_ORDER, distance: str = "angular",
                 nodes: np.ndarray | None = None, device="cpu", dtype=torch.float64,
                 backend: str = "auto") -> "LongRange":
        """The operator over a graph's nodes (its ``theta``, and ``radius`` for the hyperbolic
        distance), in the order ``nodes`` (node r is the graph's node ``nodes[r]``; None: the
        graph's order).

        Parameters
        ----------
        graph
            A graph with ``theta`` (N,) angles and, for the hyperbolic distance, ``radius``.
        exponent, order, distance, device, dtype, backend
            As for :class:`LongRange`.
        nodes : np.ndarray, optional
            Graph node indices, one per operator node; None: all nodes in the graph's order.

        Returns
        -------
        LongRange

        Raises
        ------
        SimulationError
            If the graph has no angles, or no radii for the hyperbolic distance (and as for
            :class:`LongRange`).
        """
        if graph.theta is None:
            raise SimulationError("the long-range term needs node angles (graph.theta); use a hyperbolic graph, "
                                  "give theta when building the graph, or set long_range = 0")
        if distance == "hyperbolic" and graph.radius is None:
            raise SimulationError("the hyperbolic long-range distance needs node radii (graph.radius); use a "
                                  "hyperbolic graph or long_range_distance='angular'")
        pick = (lambda a: a) if nodes is None else (lambda a: np.asarray(a)[nodes])
        radius = pick(graph.radius) if distance == "hyperbolic" else None
        return cls(pick(graph.theta), exponent, order, distance, radius, device=device, dtype=dtype, backend=backend)

    # ------------------------------------------------------------------ public
    def __call__(self, f: torch.Tensor) -> torch.Tensor:
        """F (same shape as ``f``: (N,) or (N, k)) in the operator's device and dtype."""
        if f.shape[0] != self.n or f.ndim not in (1, 2):
            raise SimulationError(f"expected (N,) or (N, k) values with N = {self.n}, got shape {tuple(f.shape)}")
        x = f.reshape(self.n, -1).to(self._work_dtype)
        return self._sum(x, self.inv_den).to(self.dtype).reshape(f.shape)

    @property
    def _work_dtype(self):
        return torch.float64 if self.distance == "hyperbolic" else self.dtype

    def kernel(self, d: np.ndarray) -> np.ndarray:
        """d^(−s) for angular distances ``d`` in radians (floored, in units of 2π/N).

        Parameters
        ----------
        d : np.ndarray
            Angular distances in radians, any shape.

        Returns
        -------
        np.ndarray
            The kernel values, same shape, with d measured in units of the mean spacing 2π/N
            and floored at ``floor``.
        """
        return np.maximum(np.asarray(d) * (self.n / TWO_PI), self.floor) ** (-self.s)

    # ------------------------------------------------------------------ angular tree
    def _build_tree(self, pos: np.ndarray) -> None:
        n, p = self.n, self.order
        self.levels = max(2, int(round(math.log2(max(n / LEAF_SIZE, 1.0)))))
        nb = 1 << self.levels
        width = TWO_PI / nb
        self.perm = np.argsort(pos, kind="stable")
        x = pos[self.perm]
        bins = np.minimum((x / width).astype(np.int64), nb - 1)
        starts = np.searchsorted(bins, np.arange(nb + 1))
        t = np.clip((x - (bins + 0.5) * width) / (width / 2), -1.0, 1.0)
        basis = lagrange_basis(t, p)                                    # (N, P), sorted order
        # node ↔ finest bin through the P values of its bin's Lagrange polynomials at each node;
        # bin b's coefficient q sits in column b·P + q of a level's (k, B·P)
        run_ptr, runs, ptr, cols, w = self._near_field(x, starts, nb)
        self.near_weights = len(w)
        if self.backend == "numba":        # in angular order, bin by bin (perm: the caller's node)
            np_dtype = np.float32 if self.dtype == torch.float32 else np.float64
            self.starts, self.bounds = starts, row_blocks(starts)
            self.basis = basis.astype(np_dtype)
            self.near = (run_ptr, runs, ptr, w.astype(np_dtype))
        else:                              # sparse (N, B·P), (B·P, N) and (N, N) in the caller's order
            rank = np.empty(n, np.int64)
            rank[self.perm] = np.arange(n)
            where = (self.device, self.dtype)
            bin_cols = (bins[:, None] * p + np.arange(p)[None, :]).ravel()
            self.to_nodes = SparseRows(*reorder(np.arange(0, n * p + 1, p), bin_cols, basis.ravel(), rank),
                                       (n, p * nb), *where)
            self.to_bins = SparseRows.from_entries(bin_cols, np.repeat(self.perm, p), basis.ravel(), (p * nb, n),
                                                   *where)
            self.near = SparseRows(*reorder(ptr, self.perm[cols], w, rank), (n, n), *where)
        z = chebyshev_points(p)
        # children (e = 0, 1) of a parent: up[q, e·P + i] = parent's Lagrange polynomial q at child e's point i
        up = np.concatenate([lagrange_basis((z + 2 * e - 1) / 2, p).T for e in (0, 1)], axis=1)   # (P, 2P)
        self.up = self._dense(np.kron(np.eye(2), up.T))     # (4P, 2P): two pairs of children per row
        self.down = self._dense(up)
        self._work = None
        # M2L at level l, in pairs of sibling bins: target child e of pair c takes source child
        # e2 of pair c + po (po a near offset of the parents) through the kernel between their
        # Chebyshev points, unless the two children are near themselves; per level one product
        # (rows: pairs) of the sources gathered at the offsets that have such terms, (pairs,
        # len(po)·2P), with the stacked kernel (len(po)·2P, 2P), zero where excluded
        self.m2l = {}
        for level in range(3, self.levels + 1):
            nl = 1 << level
            h = TWO_PI / nl / 2
            near, blocks = near_offsets(nl), {}
            for po in sorted(near_offsets(nl // 2)):
                for e in (0, 1):
                    for e2 in (0, 1):
                        o = (2 * po + e2 - e) % nl
                        if o not in near:
                            delta = h * (z[:, None] - z[None, :]) - o * 2 * h
                            kern = self.kernel(np.abs(np.angle(np.exp(1j * delta))))      # (target q, source i)
                            stack = blocks.setdefault(po, np.zeros((2 * p, 2 * p)))
                            stack[e2 * p:(e2 + 1) * p, e * p:(e + 1) * p] = kern.T
            offsets = sorted(blocks)
            index = (np.arange(nl // 2)[:, None] + np.array(offsets)[None, :]) % (nl // 2)
            self.m2l[level] = (torch.as_tensor(index.ravel(), device=self.device),
                               self._dense(np.concatenate([blocks[po] for po in offsets])))

    def _dense(self, a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(a, dtype=self.dtype, device=self.device)

    def _near_field(self, x: np.ndarray, starts: np.ndarray, nb: int):
        """Direct weights in angular order: row s holds the nodes of the bins at ``near_offsets``
        from its bin b, as runs of consecutive positions: ``runs[run_ptr[b]:run_ptr[b + 1]]``
        (lo, hi), and the CSR (ptr, cols, w) of the rows (the diagonal stored with weight 0)."""
        n = self.n
        near = np.sort((np.arange(nb)[:, None] + np.array(sorted(near_offsets(nb)))[None, :]) % nb, axis=1)
        first = np.ones(near.shape, bool)                      # a run starts where bins stop following on
        first[:, 1:] = np.diff(near, axis=1) != 1
        last = np.ones(near.shape, bool)
        last[:, :-1] = first[:, 1:]
        runs = np.stack([starts[near[first]], starts[near[last] + 1]], 1)
        run_ptr = np.zeros(nb + 1, np.int64)
        np.cumsum(first.sum(1), out=run_ptr[1:])
        bins = np.repeat(np.arange(nb), np.diff(starts))
        count = np.diff(run_ptr)[bins]                         # runs of each row
        row_run = concat_ranges(run_ptr[bins], count)
        size = runs[row_run, 1] - runs[row_run, 0]
        cols = concat_ranges(runs[row_run, 0], size)
        rows = np.repeat(np.repeat(np.arange(n), count), size)
        ptr = np.searchsorted(rows, np.arange(n + 1))
        d = np.abs(x[cols] - x[rows])
        w = self.kernel(np.minimum(d, TWO_PI - d))
        w[rows == cols] = 0.0
        return run_ptr, runs, ptr, cols, w

    def _sum(self, f: torch.Tensor, scale: torch.Tensor | None = None) -> torch.Tensor:
        """Σ_{j≠i} d_ij^(−s) f_j for the columns of ``f`` (N, k), times ``scale`` (N,) if given."""
        if self.distance == "hyperbolic":
            out = self._direct_h2(f)
            return out if scale is None else out * scale[:, None].to(out.dtype)
        k, p = f.shape[1], self.order
        work = self._workspace(k)
        moments, local = work["moments"], work["local"]
        top = self.levels
        if self.backend == "numba":
            _to_bins(self.starts, self.perm, self.basis, f.numpy(), moments[top].view(k, -1).numpy(),
                     work["sorted"].numpy(), self.bounds)
        else:
            moments[top].view(k, -1).copy_((self.to_bins @ f).T)
        # level l: (k, B_l, P), viewed as (k·B_l/2, 2P): one row per column of f and pair of
        # sibling bins, the two children's coefficients side by side
        for level in range(top, 3, -1):                        # upward: children → parents
            torch.mm(moments[level].view(-1, 4 * p), self.up, out=moments[level - 1].view(-1, 2 * p))
        for level in range(3, top + 1):                        # downward, adding the well-separated pairs
            index, kern = self.m2l[level]
            source = work["gather"][:k * len(index) * 2 * p].view(k, len(index), 2 * p)
            torch.index_select(moments[level].view(k, -1, 2 * p), 1, index, out=source)
            here = local[level].view(-1, 2 * p)
            if level == 3:
                torch.mm(source.view(len(here), -1), kern, out=here)
            else:                                              # parents' locals → children
                torch.mm(local[level - 1].view(-1, p), self.down, out=here)
                here.addmm_(source.view(len(here), -1), kern)
        if self.backend == "numba":
            out = torch.empty(self.n, k, dtype=f.dtype)
            scale = work["ones"] if scale is None else scale
            _to_nodes(self.starts, self.perm, *self.near, work["sorted"].numpy(), self.basis,
                      local[top].view(k, -1).numpy(), scale.numpy(), out.numpy(), self.bounds)
            return out
        out = self.near @ f
        out += self.to_nodes @ local[top].view(k, -1).T
        return out if scale is None else out.mul_(scale[:, None])

    def _workspace(self, k: int) -> dict:
        """Buffers for k columns, kept between calls (fresh large tensors cost page faults on
        every call); an operator is therefore not safe to call from two threads at once."""
        if self._work is None or self._work["k"] != k:
            p, levels = self.order, range(min(3, self.levels), self.levels + 1)
            new = lambda *shape: torch.empty(shape, dtype=self.dtype, device=self.device)  # noqa: E731
            self._work = {"k": k, "moments": {lv: new(k, 1 << lv, p) for lv in levels},
                          "local": {lv: new(k, 1 << lv, p).zero_() for lv in levels},
                          "gather": new(k * 2 * p * max([len(index) for index, _ in self.m2l.values()] or [0]))}
            if self.backend == "numba":    # f in angular order; the scale when none is given
                self._work.update(sorted=new(self.n, k), ones=new(self.n).fill_(1))
        return self._work

    # ------------------------------------------------------------------ hyperbolic, direct
    def _direct_h2(self, f: torch.Tensor) -> torch.Tensor:
        n = self.n
        out = torch.empty_like(f)
        rows = max(1, CHUNK // n)
        for lo in range(0, n, rows):
            hi = min(n, lo + rows)
            d = h2_distance(self.radius64[lo:hi, None], self.theta64[lo:hi, None],
                            self.radius64[None, :], self.theta64[None, :])
            w = torch.clamp(d, min=self.floor) ** (-self.s)
            idx = torch.arange(lo, hi, device=f.device)
            w[idx - lo, idx] = 0.0
            out[lo:hi] = w.to(f.dtype) @ f
        return out
