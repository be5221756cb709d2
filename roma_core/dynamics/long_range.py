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
3,000 random angles. Nodes are sorted by angle once; the three sparse matrices (node →
bin, bin → node, near field: about 24 weights per node at 4 nodes per finest bin) are
stored in the caller's node order, so an evaluation needs no permutation. Cost per
evaluation: O(N · (order + near weights) · k) for k columns, plus O(N · order · k) in the
tree's dense products.

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
    return np.cos(math.pi * (2 * np.arange(order) + 1) / (2 * order))


def lagrange_basis(t: np.ndarray, order: int) -> np.ndarray:
    """Values (len(t), order) of the Lagrange polynomials through the Chebyshev points at
    ``t`` in [−1, 1] (barycentric form; exact 1 where t hits a point)."""
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
    neighbours and, up to ``KINK_BINS`` bins, the three bins around the antipode."""
    if n <= 4:
        return set(range(n))
    a = n // 2
    return {o % n for o in (-1, 0, 1) + ((a - 1, a, a + 1) if n <= KINK_BINS else ())}


def h2_distance(r1, t1, r2, t2):
    """Hyperbolic distance between (r1, t1) and (r2, t2) (broadcasting; cancellation-free form
    cosh d = cosh(r1 − r2) + 2 sinh r1 sinh r2 sin²(Δθ/2))."""
    arg = torch.cosh(r1 - r2) + 2 * torch.sinh(r1) * torch.sinh(r2) * torch.sin((t1 - t2) / 2) ** 2
    return torch.acosh(torch.clamp(arg, min=1.0))


class SparseRows:
    """A fixed sparse matrix in CSR form applied to (cols, k) tensors: a numba kernel
    (parallel over row blocks) or torch's CSR product (any device)."""

    def __init__(self, ptr, cols, vals, shape, device, dtype, backend: str = "numba"):
        self.shape = shape
        if backend == "numba":
            self.ptr, self.cols = ptr.astype(np.int64), cols.astype(np.int32)
            self.vals = vals.astype(np.float32 if dtype == torch.float32 else np.float64)
            self.bounds = row_blocks(self.ptr)
            self.csr = None
        else:
            with warnings.catch_warnings():      # torch flags CSR tensors as beta
                warnings.simplefilter("ignore", UserWarning)
                self.csr = torch.sparse_csr_tensor(torch.as_tensor(ptr, device=device),
                                                   torch.as_tensor(cols.astype(np.int64), device=device),
                                                   torch.as_tensor(vals, dtype=dtype, device=device), size=shape)

    @classmethod
    def from_entries(cls, rows, cols, vals, shape, device, dtype, backend: str = "numba") -> "SparseRows":
        """From entries in any order (sorted by row here, stably)."""
        by_row = np.argsort(rows, kind="stable")
        ptr = np.zeros(shape[0] + 1, np.int64)
        np.cumsum(np.bincount(rows, minlength=shape[0]), out=ptr[1:])
        return cls(ptr, np.asarray(cols)[by_row], np.asarray(vals)[by_row], shape, device, dtype, backend)

    def __matmul__(self, x: torch.Tensor) -> torch.Tensor:
        if self.csr is not None:
            return self.csr @ x
        out = torch.empty(self.shape[0], x.shape[1], dtype=x.dtype)
        _csr_matmul(self.ptr, self.cols, self.vals, x.contiguous().numpy(), out.numpy(), self.bounds)
        return out


@njit(parallel=True, cache=True)
def _csr_matmul(ptr, cols, vals, x, out, bounds):
    """``out = A @ x`` for A in CSR (ptr, cols, vals), rows split into ``bounds`` blocks."""
    zero = x.dtype.type(0)
    for b in prange(len(bounds) - 1):
        for i in range(bounds[b], bounds[b + 1]):
            for c in range(x.shape[1]):         # one column at a time: the row's entries stay in L1
                acc = zero
                for e in range(ptr[i], ptr[i + 1]):
                    acc += vals[e] * x[cols[e], c]
                out[i, c] = acc


def reorder(ptr, cols, vals, row_of: np.ndarray):
    """The CSR whose row r is row ``row_of[r]`` of (ptr, cols, vals)."""
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
        Sparse products by numba kernels (CPU only) or by torch; auto: numba on CPU.
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
        ones = torch.ones(self.n, 1, dtype=torch.float64, device=self.device)
        den = self._sum(ones.to(self._work_dtype))[:, 0].to(torch.float64)
        self.inv_den = (1.0 / den).to(dtype)

    @classmethod
    def on_graph(cls, graph, exponent: float, order: int = DEFAULT_ORDER, distance: str = "angular",
                 nodes: np.ndarray | None = None, device="cpu", dtype=torch.float64,
                 backend: str = "auto") -> "LongRange":
        """The operator over a graph's nodes (its ``theta``, and ``radius`` for the hyperbolic
        distance), in the order ``nodes`` (node r is the graph's node ``nodes[r]``; None: the
        graph's order)."""
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
        out = (self._sum(x) * self.inv_den[:, None].to(x.dtype)).to(self.dtype)
        return out.reshape(f.shape)

    @property
    def _work_dtype(self):
        return torch.float64 if self.distance == "hyperbolic" else self.dtype

    def kernel(self, d: np.ndarray) -> np.ndarray:
        """d^(−s) for angular distances ``d`` in radians (floored, in units of 2π/N)."""
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
        # node → finest-bin expansions, as sparse (N, 2·P·B/2): bin b = 2c + e, coefficient q
        # in row e·P·B/2 + q·B/2 + c (the "pair layout" the tree works in, see _sum)
        rank = np.empty(n, np.int64)
        rank[self.perm] = np.arange(n)
        rows = np.repeat(rank, p)          # rows and columns are in the caller's order from here on
        cols = ((bins % 2)[:, None] * p * (nb // 2) + np.arange(p)[None, :] * (nb // 2) + (bins // 2)[:, None]).ravel()
        ptr = np.arange(0, n * p + 1, p)
        where = (self.device, self.dtype, self.backend)
        self.to_nodes = SparseRows(*reorder(ptr, cols, basis.ravel(), rank), (n, p * nb), *where)
        self.to_bins = SparseRows.from_entries(cols, np.repeat(self.perm, p), basis.ravel(), (p * nb, n), *where)
        self.near = self._near_field(x, starts, nb)
        z = chebyshev_points(p)
        up = np.concatenate([lagrange_basis((z + 2 * e - 1) / 2, p).T for e in (0, 1)], axis=1)   # (P, 2P)
        self.up = self._dense(up)
        self.down = self._dense(up.T)
        # M2L at level l: target child e of pair c takes source child e2 of pair c + o' (o' a
        # near offset of the parents) through the kernel between their Chebyshev points,
        # unless the two children are near themselves
        self.m2l = {}
        for level in range(3, self.levels + 1):
            nl = 1 << level
            h = TWO_PI / nl / 2
            self.m2l[level] = []
            for po in sorted(near_offsets(nl // 2)):
                for e in (0, 1):
                    for e2 in (0, 1):
                        o = (2 * po + e2 - e) % nl
                        if o not in near_offsets(nl):
                            delta = h * (z[:, None] - z[None, :]) - o * 2 * h
                            kern = self._dense(self.kernel(np.abs(np.angle(np.exp(1j * delta)))))
                            self.m2l[level].append((po, e, e2, kern))

    def _dense(self, a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(a, dtype=self.dtype, device=self.device)

    def _near_field(self, x: np.ndarray, starts: np.ndarray, nb: int) -> SparseRows:
        """Sparse (N, N) direct weights in sorted order: own, adjacent and antipodal finest
        bins (the diagonal is stored with weight 0)."""
        n = self.n
        bins = np.repeat(np.arange(nb), np.diff(starts))
        offs = sorted(near_offsets(nb))
        lo = [starts[(bins + o) % nb] for o in offs]
        length = [starts[(bins + o) % nb + 1] - s for o, s in zip(offs, lo)]
        row_len = np.sum(length, axis=0)
        ptr = np.zeros(n + 1, np.int64)
        np.cumsum(row_len, out=ptr[1:])
        cols = np.empty(ptr[-1], np.int64)
        before = ptr[:-1].copy()
        for first, size in zip(lo, length):
            rows = np.repeat(np.arange(n), size)
            within = np.arange(len(rows)) - np.repeat(np.cumsum(size) - size, size)
            cols[before[rows] + within] = first[rows] + within
            before += size
        rows = np.repeat(np.arange(n), row_len)
        d = np.abs(x[cols] - x[rows])
        w = self.kernel(np.minimum(d, TWO_PI - d))
        w[rows == cols] = 0.0
        rank = np.empty(n, np.int64)
        rank[self.perm] = np.arange(n)
        ptr, cols, w = reorder(ptr, self.perm[cols], w, rank)
        return SparseRows(ptr, cols, w, (n, n), self.device, self.dtype, self.backend)

    def _sum(self, f: torch.Tensor) -> torch.Tensor:
        """Σ_{j≠i} d_ij^(−s) f_j, columns of ``f`` (N, k)."""
        if self.distance == "hyperbolic":
            return self._direct_h2(f)
        k = f.shape[1]
        out = self.near @ f
        if self.levels >= 3:
            p = self.order
            # level l in pair layout: (2P, B_l/2 · k), row e·P + q, column c·k + column of f
            moments = {self.levels: (self.to_bins @ f).reshape(2 * p, -1)}
            for level in range(self.levels, 3, -1):            # upward: children → parents
                parent = (self.up @ moments[level]).reshape(p, -1, 2, k)
                moments[level - 1] = parent.permute(2, 0, 1, 3).reshape(2 * p, -1)
            local = None
            for level in range(3, self.levels + 1):            # downward, adding the well-separated pairs
                if local is None:
                    here = torch.zeros_like(moments[level])
                else:                                          # parents' locals → children
                    here = self.down @ local.reshape(2, p, -1, k).permute(1, 2, 0, 3).reshape(p, -1)
                m = moments[level]
                width = m.shape[1]
                for o, e, e2, kern in self.m2l[level]:           # pairs c ← c + o, wrapping around
                    target, source = here[e * p:(e + 1) * p], m[e2 * p:(e2 + 1) * p]
                    cut = width - o * k
                    target[:, :cut].addmm_(kern, source[:, o * k:])
                    if o:
                        target[:, cut:].addmm_(kern, source[:, :o * k])
                local = here
            out = out + self.to_nodes @ local.reshape(-1, k)
        return out

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
