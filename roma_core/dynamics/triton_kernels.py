"""Fused right-hand sides in Triton: one pass over the CSR per evaluation.

Each program of the row kernel takes ``ROWS`` consecutive rows and walks their stored
entries ``COLS`` at a time as one 2-D tile: it loads the column indices, gathers the
neighbours' states, forms the coupling term, weights it and sums the rows, then writes
``out`` once. Nothing per entry is stored between kernels, so the memory traffic is the
column indices, the gathers (mostly cache hits for nodes in angular order) and one read
and write per node.

Rows longer than ``LONG`` entries (the hubs of scale-free graphs: 47,517 entries for the
largest of a 10^6-node hyperbolic graph) would hold one program, and the whole launch,
for thousands of serial iterations; they are split off. A first kernel sums every block
of ``CHUNK`` entries of such a row in its own program (``part``), then the row kernel
skips those rows, and extra programs at the end of its grid add up each long row's
partial sums (in a fixed order: runs are reproducible bit for bit).

Kuramoto runs in the node order of the CPU kernel (:func:`kernels.padded_rows`: nodes
sorted by degree within windows), so the rows of a tile have nearly equal lengths and
few lanes idle; the padding entries (column ``N``) are masked. Each entry uses
sin(θ_j − θ_i) with the difference first reduced to [−π, π] in two parts of 2π (the
sine then stays on its fast path whatever the phases have grown to). Burgers runs in the
graph's order, like its CPU kernel. Scalars (K, F, ν, the gap floor) are passed in
float64; sums run in the state's precision. Offsets into the CSR are 32-bit below 2^31
stored entries, else 64-bit.

On CUDA tensors the kernels are compiled; on CPU tensors they run in Triton's
interpreter (what ``TRITON_INTERPRET=1`` selects), which the tests use to check them
against the numba kernels without a GPU. Triton ships with CUDA builds of torch; without
it :func:`available` is False and CUDA runs use the torch backend.
"""
from __future__ import annotations

import numpy as np
import torch

from . import kernels

try:
    import triton
    import triton.language as tl
except ImportError:          # the CPU build of torch comes without triton
    triton = tl = None

# Measured on an H200 (benchmarks/triton_variants.py, RESULTS.md): 128 x 8 tiles of 4 warps and
# rows over 64 entries in blocks of 256 were the fastest of eight tiles and splits.
ROWS, COLS, WARPS = 128, 8, 4   # a tile: rows per program x entries per row per iteration; warps
LONG, CHUNK = 64, 256           # rows longer than LONG entries: CHUNK entries per program
HUB = 64                        # partial sums added per iteration when a long row is finished
POLY = True                     # float32 Kuramoto: sine as a polynomial (else libdevice's sinf)
BLOCK = 1024                    # nodes per program of the element-wise RK4 stage
# Inside kernels constants are literals (Triton refuses plain Python globals there):
# 2π = 6.28125 + 0.0019353071795864769 in two parts (n·6.28125 is exact in float32 for
# |n| < 2^15), 1/(2π) = 0.15915494309189535 (it only picks the number of turns), and
# 6.283185307179586. With ``POLY`` (float32 only) the reduced difference is folded into
# [−π/2, π/2] (π = 3.140625 + 0.0009676535897932384, the first subtraction exact) and its
# sine is the Taylor series to r^13 (truncation < 1e-9): no branches, no slow path.


def available() -> bool:
    """Whether triton imports (its kernels then run on CUDA tensors).

    Returns
    -------
    bool
    """
    return triton is not None


# The kernels use only Triton's built-in operations: the library's reductions (``tl.sum``,
# ``tl.max``) cannot run in an interpreter started from here, but ``tl.reduce`` with their
# combine functions can (compiled, it is the same reduction), and the interpreter then
# sums with numpy.
def _add(a, b):
    return a + b


def _larger(a, b):
    return tl.maximum(a, b)


if triton is not None:
    _add = getattr(tl.standard, "_sum_combine", None) or triton.jit(_add)
    _larger = getattr(tl.standard, "_elementwise_max", None) or triton.jit(_larger)


def _kuramoto(theta, omega, w, inv, ptr, idx, ew, out, k: "fp64", kref, n, tiles, hrow, hptr, part,
              SENDER: tl.constexpr, ENTRY: tl.constexpr, ROWS: tl.constexpr, COLS: tl.constexpr,
              LONG: tl.constexpr, HUB: tl.constexpr, POLY: tl.constexpr, KREF: tl.constexpr):
    pid = tl.program_id(0)
    if KREF:                                             # K read from the device (CUDA graphs)
        kk = tl.load(kref)
    else:
        kk = k
    if pid < tiles:                                      # ROWS rows, long ones left out
        rows = pid * ROWS + tl.arange(0, ROWS)
        live = rows < n
        start = tl.load(ptr + rows, mask=live, other=0)
        length = tl.load(ptr + rows + 1, mask=live, other=0) - start
        live = live & (length <= LONG)
        length = tl.where(live, length, 0)
        ti = tl.load(theta + rows, mask=live, other=0.0)
        dtype = ti.dtype
        hi = tl.full([1, 1], 6.28125, dtype)
        lo = tl.full([1, 1], 0.0019353071795864769, dtype)
        inv_2pi = tl.full([1, 1], 0.15915494309189535, dtype)
        acc = tl.full([ROWS], 0, dtype)
        for c0 in range(0, tl.reduce(length, 0, _larger), COLS):
            cols = c0 + tl.arange(0, COLS)
            pos = start[:, None] + cols[None, :]
            m = cols[None, :] < length[:, None]
            j = tl.load(idx + pos, mask=m, other=0)
            m = m & (j < n)                              # padding entries point at node N
            d = tl.load(theta + j, mask=m, other=0.0) - ti[:, None]
            turns = tl.floor(d * inv_2pi + 0.5)
            d = (d - turns * hi) - turns * lo
            if POLY:                                     # float32: d folded into [−π/2, π/2]
                d = tl.where(d > 1.5707963267948966, (3.140625 - d) + 0.0009676535897932384,
                             tl.where(d < -1.5707963267948966, (-3.140625 - d) - 0.0009676535897932384, d))
                z = d * d
                term = d * (1 + z * (-0.16666666666666666 + z * (0.008333333333333333 + z * (
                    -1.984126984126984e-4 + z * (2.7557319223985893e-6 + z * (-2.505210838544172e-8
                                                                           + z * 1.6059043836821613e-10))))))
            else:
                term = tl.sin(d)
            if SENDER:
                term = term * tl.load(w + j, mask=m, other=0.0)
            if ENTRY:
                term = term * tl.load(ew + pos, mask=m, other=0.0)
            acc += tl.reduce(tl.where(m, term, 0.0), 1, _add)
        coupling = (kk * tl.full([ROWS], 1, tl.float64)).to(dtype) * tl.load(inv + rows, mask=live, other=0.0)
        tl.store(out + rows, tl.load(omega + rows, mask=live, other=0.0) + coupling * acc, mask=live)
    else:                                                # one long row: its partial sums
        hub = pid - tiles
        row = tl.load(hrow + hub)
        first, last = tl.load(hptr + hub), tl.load(hptr + hub + 1)
        real = tl.load(theta + row).dtype
        sums = tl.full([HUB], 0, real)
        for b0 in range(first, last, HUB):
            block = b0 + tl.arange(0, HUB)
            sums += tl.load(part + block, mask=block < last, other=0.0)
        scale = (kk * tl.full([], 1, tl.float64)).to(real) * tl.load(inv + row)
        tl.store(out + row, tl.load(omega + row) + scale * tl.reduce(sums, 0, _add))


def _kuramoto_chunks(theta, w, idx, ew, crow, cstart, cend, part, n,
                     SENDER: tl.constexpr, ENTRY: tl.constexpr, CHUNK: tl.constexpr, POLY: tl.constexpr):
    c = tl.program_id(0)
    at = tl.load(cstart + c) + tl.arange(0, CHUNK)
    m = at < tl.load(cend + c)
    j = tl.load(idx + at, mask=m, other=0)
    m = m & (j < n)
    ti = tl.load(theta + tl.load(crow + c))
    dtype = ti.dtype
    hi = tl.full([1], 6.28125, dtype)
    lo = tl.full([1], 0.0019353071795864769, dtype)
    inv_2pi = tl.full([1], 0.15915494309189535, dtype)
    d = tl.load(theta + j, mask=m, other=0.0) - ti
    turns = tl.floor(d * inv_2pi + 0.5)
    d = (d - turns * hi) - turns * lo
    if POLY:
        d = tl.where(d > 1.5707963267948966, (3.140625 - d) + 0.0009676535897932384,
                     tl.where(d < -1.5707963267948966, (-3.140625 - d) - 0.0009676535897932384, d))
        z = d * d
        term = d * (1 + z * (-0.16666666666666666 + z * (0.008333333333333333 + z * (
            -1.984126984126984e-4 + z * (2.7557319223985893e-6 + z * (-2.505210838544172e-8
                                                                   + z * 1.6059043836821613e-10))))))
    else:
        term = tl.sin(d)
    if SENDER:
        term = term * tl.load(w + j, mask=m, other=0.0)
    if ENTRY:
        term = term * tl.load(ew + at, mask=m, other=0.0)
    tl.store(part + c, tl.reduce(tl.where(m, term, 0.0), 0, _add))


def _burgers(u, pos, w, inv, ptr, idx, ew, out, f: "fp64", nu: "fp64", hmin: "fp64", n, tiles, hrow, hptr,
             part, chunks, SENDER: tl.constexpr, ENTRY: tl.constexpr, ROWS: tl.constexpr, COLS: tl.constexpr,
             LONG: tl.constexpr, HUB: tl.constexpr):
    pid = tl.program_id(0)
    if pid < tiles:
        rows = pid * ROWS + tl.arange(0, ROWS)
        live = rows < n
        start = tl.load(ptr + rows, mask=live, other=0)
        length = tl.load(ptr + rows + 1, mask=live, other=0) - start
        live = live & (length <= LONG)
        length = tl.where(live, length, 0)
        ui = tl.load(u + rows, mask=live, other=0.0)
        ti = tl.load(pos + rows, mask=live, other=0.0)      # angles in float64: gaps are ~2π/N
        dtype = ui.dtype
        two_pi = tl.full([1, 1], 6.283185307179586, tl.float64)
        dif = tl.full([ROWS], 0, dtype)
        adv = tl.full([ROWS], 0, dtype)
        for c0 in range(0, tl.reduce(length, 0, _larger), COLS):
            cols = c0 + tl.arange(0, COLS)
            at = start[:, None] + cols[None, :]
            m = cols[None, :] < length[:, None]
            j = tl.load(idx + at, mask=m, other=0)
            d = tl.load(pos + j, mask=m, other=0.0) - ti[:, None]
            d = d - two_pi * tl.floor(d / two_pi + 0.5)     # signed offset of j, wrapped to (−π, π]
            h = tl.maximum(tl.abs(d), hmin)
            wdu = tl.load(u + j, mask=m, other=0.0) - ui[:, None]
            if SENDER:
                wdu = wdu * tl.load(w + j, mask=m, other=0.0)
            if ENTRY:
                wdu = wdu * tl.load(ew + at, mask=m, other=0.0)
            dif += tl.reduce(tl.where(m, wdu / (h * h).to(dtype), 0.0), 1, _add)
            up = ((ui[:, None] > 0) & (d < 0)) | ((ui[:, None] < 0) & (d > 0))    # upwind neighbours
            adv += tl.reduce(tl.where(m & up, wdu / tl.where(d > 0, h, -h).to(dtype), 0.0), 1, _add)
        one = tl.full([ROWS], 1, tl.float64)
        rate = (nu * one).to(dtype) * dif - (f * one).to(dtype) * ui * adv
        tl.store(out + rows, tl.load(inv + rows, mask=live, other=0.0) * rate, mask=live)
    else:                                               # one long row: its partial sums (dif, then adv)
        hub = pid - tiles
        row = tl.load(hrow + hub)
        first, last = tl.load(hptr + hub), tl.load(hptr + hub + 1)
        u_row = tl.load(u + row)
        real = u_row.dtype
        dif_sums = tl.full([HUB], 0, real)
        adv_sums = tl.full([HUB], 0, real)
        for b0 in range(first, last, HUB):
            block = b0 + tl.arange(0, HUB)
            dif_sums += tl.load(part + block, mask=block < last, other=0.0)
            adv_sums += tl.load(part + chunks + block, mask=block < last, other=0.0)
        unit = tl.full([], 1, tl.float64)
        total = ((nu * unit).to(real) * tl.reduce(dif_sums, 0, _add)
                 - (f * unit).to(real) * u_row * tl.reduce(adv_sums, 0, _add))
        tl.store(out + row, tl.load(inv + row) * total)


def _burgers_chunks(u, pos, w, idx, ew, crow, cstart, cend, part, hmin: "fp64", chunks,
                    SENDER: tl.constexpr, ENTRY: tl.constexpr, CHUNK: tl.constexpr):
    c = tl.program_id(0)
    at = tl.load(cstart + c) + tl.arange(0, CHUNK)
    m = at < tl.load(cend + c)
    r = tl.load(crow + c)
    j = tl.load(idx + at, mask=m, other=0)
    ui = tl.load(u + r)
    dtype = ui.dtype
    two_pi = tl.full([1], 6.283185307179586, tl.float64)
    d = tl.load(pos + j, mask=m, other=0.0) - tl.load(pos + r)
    d = d - two_pi * tl.floor(d / two_pi + 0.5)
    h = tl.maximum(tl.abs(d), hmin)
    wdu = tl.load(u + j, mask=m, other=0.0) - ui
    if SENDER:
        wdu = wdu * tl.load(w + j, mask=m, other=0.0)
    if ENTRY:
        wdu = wdu * tl.load(ew + at, mask=m, other=0.0)
    up = d * ui < 0                                     # upwind neighbours (d is float64)
    tl.store(part + c, tl.reduce(tl.where(m, wdu / (h * h).to(dtype), 0.0), 0, _add))
    tl.store(part + chunks + c, tl.reduce(tl.where(m & up, wdu / tl.where(d > 0, h, -h).to(dtype), 0.0), 0, _add))


# stage s < 4: acc (+)= b k_s and tmp = y + a k_s; the last stage: y += a (acc + k_4)
def _rk4_stage(y, k, acc, tmp, a: "fp64", b: "fp64", n, FIRST: tl.constexpr, LAST: tl.constexpr,
               BLOCK: tl.constexpr):
    at = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = at < n
    ks = tl.load(k + at, mask=m)
    yv = tl.load(y + at, mask=m)
    one = tl.full([BLOCK], 1, tl.float64)
    a_, b_ = (a * one).to(yv.dtype), (b * one).to(yv.dtype)
    if LAST:
        tl.store(y + at, yv + a_ * (tl.load(acc + at, mask=m) + ks), mask=m)
    else:
        total = b_ * ks
        if not FIRST:
            total += tl.load(acc + at, mask=m)
        tl.store(acc + at, total, mask=m)
        tl.store(tmp + at, yv + a_ * ks, mask=m)


_compiled: dict = {}


def _launcher(fn, device: torch.device):
    """``fn`` compiled for CUDA, or run by Triton's interpreter for CPU tensors."""
    key = (fn.__name__, device.type == "cuda")
    if key not in _compiled:
        if device.type == "cuda":
            _compiled[key] = triton.jit(fn)
        else:
            from triton.runtime.interpreter import InterpretedFunction
            _compiled[key] = InterpretedFunction(fn)
    return _compiled[key]


def _uniform(w: np.ndarray, indices: np.ndarray) -> bool:
    """Every neighbour's sender weight is 1 (α = 0): the kernel then skips that gather."""
    return bool(np.all(w[indices] == 1.0)) if len(indices) else True


def split_long_rows(ptr: np.ndarray, long: int, chunk: int):
    """The rows longer than ``long`` entries cut into blocks of ``chunk`` entries.

    Parameters
    ----------
    ptr : numpy.ndarray
        The CSR's row pointers.
    long : int
        Rows with more stored entries than this are split.
    chunk : int
        Entries per block (the last block of a row may hold fewer).

    Returns
    -------
    hrow, hptr, crow, cstart, cend : numpy.ndarray
        The long rows, the range of their blocks (``hptr[h]:hptr[h + 1]``), and per block
        its row and its range of stored entries ``cstart:cend``.
    """
    length = np.diff(ptr)
    hrow = np.flatnonzero(length > long)
    per = -(-length[hrow] // chunk)
    hptr = np.zeros(len(hrow) + 1, np.int64)
    np.cumsum(per, out=hptr[1:])
    crow = np.repeat(hrow, per)
    cstart = ptr[crow] + (np.arange(hptr[-1]) - np.repeat(hptr[:-1], per)) * chunk
    cend = np.minimum(cstart + chunk, ptr[crow + 1])
    return hrow, hptr, crow, cstart, cend


class FusedRHS:
    """The CSR and per-node weights on the device, its long rows split off, and the launch
    grids. ``rows``, ``cols``, ``warps``, ``long``, ``chunk``, ``poly``: the tile, the split
    and the sine (default: the module's ``ROWS``, ``COLS``, ``WARPS``, ``LONG``, ``CHUNK``,
    ``POLY``).

    Parameters
    ----------
    fn, chunk_fn : function
        The row kernel and the long rows' block kernel, undecorated (compiled for CUDA,
        interpreted for CPU).
    device : torch.device
        Where the kernels run.
    dtype : torch.dtype
        The state's precision, ``torch.float32`` or ``torch.float64``.
    ptr, idx : numpy.ndarray
        The CSR in the kernel's numbering (Kuramoto's padding column ``N`` is skipped).
    ew : numpy.ndarray
        The entry weights in the CSR's layout; empty for none.
    w, inv : numpy.ndarray
        Per row: the sender weight and the normalisation, in the kernel's numbering.
    parts : int
        Partial sums per block (1 for Kuramoto, 2 for Burgers).
    rows, cols, warps, long, chunk : int, optional
        Rows per program, entries per row per iteration, warps per program, the longest
        row kept whole, and entries per block of a longer one.
    poly : bool, optional
        The polynomial sine (float32 only).
    """

    def __init__(self, fn, chunk_fn, device, dtype, ptr, idx, ew, w, inv, parts: int,
                 rows=None, cols=None, warps=None, long=None, chunk=None, poly=None):
        def as_t(a, dt):        # never empty: a kernel's pointer must point somewhere
            return torch.as_tensor(np.ascontiguousarray(a if len(a) else np.zeros(1), dtype=dt), device=device)

        real = np.float32 if dtype == torch.float32 else np.float64
        self.rows, self.cols, self.warps = rows or ROWS, cols or COLS, warps or WARPS
        self.long, self.chunk = long or LONG, chunk or CHUNK
        self.poly = (POLY if poly is None else poly) and dtype == torch.float32
        self.n = len(ptr) - 1
        self.sender = not _uniform(w, idx[idx < self.n])
        self.entry = len(ew) > 0
        offset = np.int32 if ptr[-1] < 2**31 - self.chunk else np.int64
        self.ptr, self.idx = as_t(ptr, offset), as_t(idx, np.int32)
        self.ew = as_t(ew, real)
        self.w, self.inv = as_t(w, real), as_t(inv, real)
        hrow, hptr, crow, cstart, cend = split_long_rows(np.asarray(ptr, np.int64), self.long, self.chunk)
        self.tiles, self.hubs, self.chunks = triton.cdiv(self.n, self.rows), len(hrow), len(crow)
        self.hrow, self.hptr, self.crow = as_t(hrow, np.int32), as_t(hptr, np.int32), as_t(crow, np.int32)
        self.cstart, self.cend = as_t(cstart, offset), as_t(cend, offset)
        self.part = torch.zeros(max(1, parts * self.chunks), dtype=dtype, device=device)
        self.kernel, self.chunk_kernel = _launcher(fn, device), _launcher(chunk_fn, device)
        self.flags = dict(SENDER=self.sender, ENTRY=self.entry)

    def launch(self, chunk_args, row_args, **row_flags) -> None:
        """The long rows' blocks (``part``), then the tiles of rows and the long rows' sums.

        Parameters
        ----------
        chunk_args : tuple
            The block kernel's arguments (launched only when there are long rows).
        row_args : tuple
            The row kernel's arguments.
        **row_flags
            Further compile-time flags of the row kernel (Kuramoto's ``KREF``).
        """
        if self.chunks:
            self.chunk_kernel[(self.chunks,)](*chunk_args, **self.flags, CHUNK=self.chunk, num_warps=4)
        self.kernel[(self.tiles + self.hubs,)](*row_args, **self.flags, **row_flags, ROWS=self.rows, COLS=self.cols,
                                               LONG=self.long, HUB=HUB, num_warps=self.warps)


class KuramotoRHS(FusedRHS):
    """``out_i = ω_i + K inv_i Σ_j A_ij w_j sin(θ_j − θ_i)`` in the :func:`kernels.padded_rows`
    numbering (``order``: the graph's node of each row; ``w``, ``inv`` in the graph's order).

    Parameters
    ----------
    graph : roma_core.graphs.Graph
        Its CSR and entry weights.
    w, inv : numpy.ndarray
        Per node, in the graph's order: the sender weight ``w_j`` and ``inv_i``
        (:func:`systems.sender_weights`).
    device : torch.device
        Where the kernels run.
    dtype : torch.dtype
        The state's precision.
    **tile
        :class:`FusedRHS`'s ``rows``, ``cols``, ``warps``, ``long``, ``chunk``, ``poly``.
    """

    def __init__(self, graph, w: np.ndarray, inv: np.ndarray, device, dtype, **tile):
        self.order, ptr, idx, ew = kernels.padded_rows(graph.indptr, graph.indices, graph.weights)
        super().__init__(_kuramoto, _kuramoto_chunks, device, dtype, ptr, idx, ew, w[self.order], inv[self.order],
                         1, **tile)
        self.flags["POLY"] = self.poly
        self.kref = torch.zeros(1, dtype=torch.float64, device=device)     # a pointer when K is passed by value

    def __call__(self, k: float, theta, omega, out, kref: torch.Tensor | None = None):
        """``out`` for coupling ``k``, or, given ``kref`` (a float64 tensor on the device),
        for the coupling the kernel reads from ``kref[0]`` when it runs (``k`` unused)."""
        self.launch((theta, self.w, self.idx, self.ew, self.crow, self.cstart, self.cend, self.part, self.n),
                    (theta, omega, self.w, self.inv, self.ptr, self.idx, self.ew, out, float(k),
                     self.kref if kref is None else kref, self.n, self.tiles, self.hrow, self.hptr, self.part),
                    KREF=kref is not None)
        return out


class BurgersRHS(FusedRHS):
    """``out_i = inv_i (ν Σ_j A_ij w_j (u_j − u_i)/h_ij² − F u_i Σ_up A_ij w_j (u_j − u_i)/(±h_ij))``,
    the numba kernel's equation, in the graph's order.

    Parameters
    ----------
    graph : roma_core.graphs.Graph
        Its CSR and entry weights.
    pos : numpy.ndarray
        The node angles, kept in float64.
    w, inv : numpy.ndarray
        Per node: the sender weight ``w_j`` and ``inv_i`` (:func:`systems.sender_weights`).
    spec : BurgersSpec
        Gives the advection F and the viscosity ν.
    hmin : float
        The floor of the gaps ``h_ij``.
    device : torch.device
        Where the kernels run.
    dtype : torch.dtype
        The state's precision.
    **tile
        :class:`FusedRHS`'s ``rows``, ``cols``, ``warps``, ``long``, ``chunk``.
    """

    def __init__(self, graph, pos: np.ndarray, w: np.ndarray, inv: np.ndarray, spec, hmin: float, device, dtype,
                 **tile):
        ew = graph.weights if graph.weights is not None else np.zeros(0)
        super().__init__(_burgers, _burgers_chunks, device, dtype, graph.indptr, graph.indices, ew, w, inv, 2,
                         **tile)
        self.pos = torch.as_tensor(np.asarray(pos, np.float64), device=device)
        self.f, self.nu, self.hmin = float(spec.advection), float(spec.viscosity), float(hmin)

    def __call__(self, u, out):
        self.launch((u, self.pos, self.w, self.idx, self.ew, self.crow, self.cstart, self.cend, self.part, self.hmin,
                     self.chunks),
                    (u, self.pos, self.w, self.inv, self.ptr, self.idx, self.ew, out, self.f, self.nu, self.hmin,
                     self.n, self.tiles, self.hrow, self.hptr, self.part, self.chunks))
        return out


def compile_for(capability: int = 90, dtype: str = "fp32") -> dict:
    """Compile every kernel for an NVIDIA GPU of compute ``capability`` (90: H100/H200)
    without one present: ``{name: PTX}``. Checks that the kernels build where no GPU runs.

    Parameters
    ----------
    capability : int
        The compute capability, major * 10 + minor.
    dtype : {"fp32", "fp64"}
        The state's precision, as Triton names it.

    Returns
    -------
    dict
        Kernel name to its PTX (str).
    """
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    real = f"*{dtype}"
    rows = dict(w=real, inv=real, ptr="*i32", idx="*i32", ew=real, out=real)
    hubs = dict(tiles="i32", hrow="*i32", hptr="*i32", part=real)
    blocks = dict(idx="*i32", ew=real, crow="*i32", cstart="*i32", cend="*i32", part=real)
    flags = dict(SENDER=True, ENTRY=True)
    tile = dict(flags, ROWS=ROWS, COLS=COLS, LONG=LONG, HUB=HUB)
    poly = dict(POLY=POLY and dtype == "fp32")
    table = {"kuramoto": (_kuramoto, dict(theta=real, omega=real, **rows, k="fp64", kref="*fp64", n="i32", **hubs),
                          dict(tile, **poly, KREF=True)),
             "kuramoto_chunks": (_kuramoto_chunks, dict(theta=real, w=real, **blocks, n="i32"),
                                 dict(flags, CHUNK=CHUNK, **poly)),
             "burgers": (_burgers, dict(u=real, pos="*fp64", **rows, f="fp64", nu="fp64", hmin="fp64", n="i32",
                                        **hubs, chunks="i32"), tile),
             "burgers_chunks": (_burgers_chunks, dict(u=real, pos="*fp64", w=real, **blocks, hmin="fp64",
                                                      chunks="i32"), dict(flags, CHUNK=CHUNK)),
             "rk4_stage": (_rk4_stage, dict(y=real, k=real, acc=real, tmp=real, a="fp64", b="fp64", n="i32"),
                           dict(FIRST=False, LAST=False, BLOCK=BLOCK))}
    out = {}
    for name, (fn, signature, constants) in table.items():
        source = ASTSource(triton.jit(fn), {**signature, **{c: "constexpr" for c in constants}}, constexprs=constants)
        out[name] = triton.compile(source, target=GPUTarget("cuda", capability, 32)).asm["ptx"]
    return out


def rk4_stage(y, k, acc, tmp, a: float, b: float, first: bool = False, last: bool = False) -> None:
    """One fused RK4 stage update (see ``_rk4_stage``), in place: before the last stage
    ``acc = b k`` (first) or ``acc += b k``, and ``tmp = y + a k``; the last does
    ``y += a (acc + k)``.

    Parameters
    ----------
    y, k, acc, tmp : torch.Tensor
        The state, the stage's derivative, the weighted sum of the stages and the next
        stage's input; contiguous, of one shape, dtype and device.
    a, b : float
        The step to the next stage's input (the last stage: dt/6) and the stage's weight in
        ``acc`` (unused by the last stage).
    first, last : bool
        The first stage (``acc`` set, not added to), or the last (``y`` updated).
    """
    n = y.numel()
    _launcher(_rk4_stage, y.device)[(triton.cdiv(n, BLOCK),)](y, k, acc, tmp, float(a), float(b), n,
                                                               FIRST=first, LAST=last, BLOCK=BLOCK)
