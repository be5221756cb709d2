"""Fused right-hand sides in Triton: one pass over the CSR per evaluation.

Each program takes ``ROWS`` consecutive rows and walks their stored entries ``COLS`` at a
time as one 2-D tile: it loads the column indices, gathers the neighbours' states, forms
the coupling term, weights it and sums the rows, then writes ``out`` once. Nothing per
entry is stored between kernels, so the memory traffic is the column indices, the
gathers (mostly cache hits for nodes in angular order) and one read and write per node.

Kuramoto runs in the node order of the CPU kernel (:func:`kernels.padded_rows`: nodes
sorted by degree within windows), so the rows of a tile have nearly equal lengths and
few lanes idle; the padding entries (column ``N``) are masked. Each entry uses
sin(θ_j − θ_i) with the difference first reduced to [−π, π] in two parts of 2π (the
sine then stays on its fast path whatever the phases have grown to). Burgers runs in the graph's order, like its
CPU kernel. Scalars (K, F, ν, the gap floor) are passed in float64; sums run in the
state's precision.

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

ROWS, COLS = 64, 16          # a tile: rows per program x entries per row per iteration
BLOCK = 1024                 # nodes per program of the element-wise RK4 stage
# Inside kernels constants are literals (Triton refuses plain Python globals there):
# 2π = 6.28125 + 0.0019353071795864769 in two parts (n·6.28125 is exact in float32 for
# |n| < 2^15), and 6.283185307179586.


def available() -> bool:
    """Whether triton imports (its kernels then run on CUDA tensors)."""
    return triton is not None


# The kernels use only Triton's built-in operations: the library's reductions (``tl.sum``,
# ``tl.max``) cannot run in an interpreter started from here, but ``tl.reduce`` with their
# combine functions can, and the interpreter then sums with numpy.
def _add(a, b):
    return a + b


def _larger(a, b):
    return tl.maximum(a, b)


if triton is not None:
    _add = getattr(tl.standard, "_sum_combine", None) or triton.jit(_add)
    _larger = getattr(tl.standard, "_elementwise_max", None) or triton.jit(_larger)


def _kuramoto(theta, omega, w, inv, ptr, idx, ew, out, k: "fp64", n,
              SENDER: tl.constexpr, ENTRY: tl.constexpr, ROWS: tl.constexpr, COLS: tl.constexpr):
    rows = tl.program_id(0) * ROWS + tl.arange(0, ROWS)
    live = rows < n
    start = tl.load(ptr + rows, mask=live, other=0)
    length = tl.load(ptr + rows + 1, mask=live, other=0) - start
    ti = tl.load(theta + rows, mask=live, other=0.0)
    dtype = ti.dtype
    hi = tl.full([1, 1], 6.28125, dtype)
    lo = tl.full([1, 1], 0.0019353071795864769, dtype)
    acc = tl.full([ROWS], 0, dtype)
    for c0 in range(0, tl.reduce(length, 0, _larger), COLS):
        cols = c0 + tl.arange(0, COLS)
        pos = start[:, None] + cols[None, :]
        m = cols[None, :] < length[:, None]
        j = tl.load(idx + pos, mask=m, other=0)
        m = m & (j < n)                                  # padding entries point at node N
        d = tl.load(theta + j, mask=m, other=0.0) - ti[:, None]
        turns = tl.floor(d / (hi + lo) + 0.5)
        term = tl.sin((d - turns * hi) - turns * lo)
        if SENDER:
            term = term * tl.load(w + j, mask=m, other=0.0)
        if ENTRY:
            term = term * tl.load(ew + pos, mask=m, other=0.0)
        acc += tl.reduce(tl.where(m, term, 0.0), 1, _add)
    coupling = (k * tl.full([ROWS], 1, tl.float64)).to(dtype) * tl.load(inv + rows, mask=live, other=0.0)
    tl.store(out + rows, tl.load(omega + rows, mask=live, other=0.0) + coupling * acc, mask=live)


def _burgers(u, pos, w, inv, ptr, idx, ew, out, f: "fp64", nu: "fp64", hmin: "fp64", n,
             SENDER: tl.constexpr, ENTRY: tl.constexpr, ROWS: tl.constexpr, COLS: tl.constexpr):
    rows = tl.program_id(0) * ROWS + tl.arange(0, ROWS)
    live = rows < n
    start = tl.load(ptr + rows, mask=live, other=0)
    length = tl.load(ptr + rows + 1, mask=live, other=0) - start
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


class FusedRHS:
    """The CSR and per-node weights on the device, and the kernel's launch grid."""

    def __init__(self, fn, device, dtype, ptr, idx, ew, w, inv):
        def as_t(a, dt):        # never empty: a kernel's pointer must point somewhere
            return torch.as_tensor(np.ascontiguousarray(a if len(a) else np.zeros(1), dtype=dt), device=device)

        real = np.float32 if dtype == torch.float32 else np.float64
        self.n = len(ptr) - 1
        self.sender = not _uniform(w, idx[idx < self.n])
        self.entry = len(ew) > 0
        self.ptr, self.idx = as_t(ptr, np.int64), as_t(idx, np.int32)
        self.ew = as_t(ew, real)
        self.w, self.inv = as_t(w, real), as_t(inv, real)
        self.kernel = _launcher(fn, device)
        self.grid = (triton.cdiv(self.n, ROWS),)

    def launch(self, *args) -> None:
        self.kernel[self.grid](*args, SENDER=self.sender, ENTRY=self.entry, ROWS=ROWS, COLS=COLS)


class KuramotoRHS(FusedRHS):
    """``out_i = ω_i + K inv_i Σ_j A_ij w_j sin(θ_j − θ_i)`` in the :func:`kernels.padded_rows`
    numbering (``order``: the graph's node of each row; ``w``, ``inv`` in the graph's order)."""

    def __init__(self, graph, w: np.ndarray, inv: np.ndarray, device, dtype):
        self.order, ptr, idx, ew = kernels.padded_rows(graph.indptr, graph.indices, graph.weights)
        super().__init__(_kuramoto, device, dtype, ptr, idx, ew, w[self.order], inv[self.order])

    def __call__(self, k: float, theta, omega, out):
        self.launch(theta, omega, self.w, self.inv, self.ptr, self.idx, self.ew, out, float(k), self.n)
        return out


class BurgersRHS(FusedRHS):
    """``out_i = inv_i (ν Σ_j A_ij w_j (u_j − u_i)/h_ij² − F u_i Σ_up A_ij w_j (u_j − u_i)/(±h_ij))``,
    the numba kernel's equation, in the graph's order."""

    def __init__(self, graph, pos: np.ndarray, w: np.ndarray, inv: np.ndarray, spec, hmin: float, device, dtype):
        ew = graph.weights if graph.weights is not None else np.zeros(0)
        super().__init__(_burgers, device, dtype, graph.indptr, graph.indices, ew, w, inv)
        self.pos = torch.as_tensor(np.asarray(pos, np.float64), device=device)
        self.f, self.nu, self.hmin = float(spec.advection), float(spec.viscosity), float(hmin)

    def __call__(self, u, out):
        self.launch(u, self.pos, self.w, self.inv, self.ptr, self.idx, self.ew, out, self.f, self.nu, self.hmin,
                    self.n)
        return out


def compile_for(capability: int = 90, dtype: str = "fp32") -> dict:
    """Compile every kernel for an NVIDIA GPU of compute ``capability`` (90: H100/H200)
    without one present: ``{name: PTX}``. Checks that the kernels build where no GPU runs."""
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    real = f"*{dtype}"
    rows = dict(w=real, inv=real, ptr="*i64", idx="*i32", ew=real, out=real)
    tile = dict(SENDER=True, ENTRY=True, ROWS=ROWS, COLS=COLS)
    table = {"kuramoto": (_kuramoto, dict(theta=real, omega=real, **rows, k="fp64", n="i32"), tile),
                "burgers": (_burgers, dict(u=real, pos="*fp64", **rows, f="fp64", nu="fp64", hmin="fp64", n="i32"),
                            tile),
                "rk4_stage": (_rk4_stage, dict(y=real, k=real, acc=real, tmp=real, a="fp64", b="fp64", n="i32"),
                              dict(FIRST=False, LAST=False, BLOCK=BLOCK))}
    out = {}
    for name, (fn, signature, constants) in table.items():
        source = ASTSource(triton.jit(fn), {**signature, **{c: "constexpr" for c in constants}}, constexprs=constants)
        out[name] = triton.compile(source, target=GPUTarget("cuda", capability, 32)).asm["ptx"]
    return out


def rk4_stage(y, k, acc, tmp, a: float, b: float, first: bool = False, last: bool = False) -> None:
    """One fused RK4 stage update (see ``_rk4_stage``), in place."""
    n = y.numel()
    _launcher(_rk4_stage, y.device)[(triton.cdiv(n, BLOCK),)](y, k, acc, tmp, float(a), float(b), n,
                                                               FIRST=first, LAST=last, BLOCK=BLOCK)
