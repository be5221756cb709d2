"""CPU kernels (numba) for the coupling terms, one pass over the CSR per evaluation.

Rows are split into blocks of about equal stored entries; ``prange`` runs blocks on all
cores and a serial inner function does the work (so LLVM can vectorise it). Nodes in
angular order (as the generator returns them) keep most gathers in cache.

Kuramoto uses sin(θ_j − θ_i) = sin θ_j cos θ_i − cos θ_j sin θ_i: sin and cos are computed
once per node (a branch-free polynomial that vectorises), then every row sums the
weighted (sin θ_j, cos θ_j) of its neighbours.
"""
from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, prange

TWO_OVER_PI = 2.0 / math.pi
PIO2_HI = 1.5707963267341256     # π/2 split in two (Cody–Waite): k·PIO2_HI is exact for |k| < 2^20
PIO2_LO = 6.077100506506192e-11
TWO_PI = 2.0 * math.pi
BLOCKS_PER_THREAD = 8


def row_blocks(indptr: np.ndarray, threads: int | None = None) -> np.ndarray:
    """Row boundaries splitting the stored entries (plus one per row) into equal blocks."""
    n = len(indptr) - 1
    nb = max(1, min(n, (threads or numba.get_num_threads()) * BLOCKS_PER_THREAD))
    work = indptr + np.arange(n + 1)
    bounds = np.searchsorted(work, np.linspace(0, work[-1], nb + 1)).astype(np.int64)
    bounds[0], bounds[-1] = 0, n
    return np.unique(bounds)


@njit(inline="always")
def _quadrant(k, s, c):
    q = k - 4.0 * np.floor(k * 0.25)
    odd = (q == 1.0) | (q == 3.0)
    sn = c if odd else s
    cs = s if odd else c
    sn = -sn if q >= 2.0 else sn
    cs = -cs if (q == 1.0) | (q == 2.0) else cs
    return sn, cs


@njit(inline="always")
def sincos64(x):
    """sin and cos to double precision for |x| < 1e6 (Taylor polynomials on [−π/4, π/4])."""
    k = np.floor(x * TWO_OVER_PI + 0.5)
    r = (x - k * PIO2_HI) - k * PIO2_LO
    r2 = r * r
    s = r * (1.0 + r2 * (-1 / 6 + r2 * (1 / 120 + r2 * (-1 / 5040 + r2 * (1 / 362880 + r2 * (
        -1 / 39916800 + r2 * (1 / 6227020800 + r2 * (-1 / 1307674368000 + r2 / 355687428096000))))))))
    c = 1.0 + r2 * (-0.5 + r2 * (1 / 24 + r2 * (-1 / 720 + r2 * (1 / 40320 + r2 * (-1 / 3628800 + r2 * (
        1 / 479001600 + r2 * (-1 / 87178291200 + r2 * (1 / 20922789888000 - r2 / 6402373705728000))))))))
    return _quadrant(k, s, c)


@njit(inline="always")
def sincos32(x):
    """sin and cos to single precision (reduction in double, polynomial in single)."""
    xd = np.float64(x)
    k = np.floor(xd * TWO_OVER_PI + 0.5)
    r = np.float32((xd - k * PIO2_HI) - k * PIO2_LO)
    r2 = r * r
    s = r * (np.float32(1.0) + r2 * (np.float32(-1 / 6) + r2 * (np.float32(1 / 120) + r2 * (
        np.float32(-1 / 5040) + r2 * np.float32(1 / 362880)))))
    c = np.float32(1.0) + r2 * (np.float32(-0.5) + r2 * (np.float32(1 / 24) + r2 * (np.float32(-1 / 720) + r2 * (
        np.float32(1 / 40320) + r2 * np.float32(-1 / 3628800)))))
    return _quadrant(k, s, c)


@njit(cache=True)
def _sincos_block32(theta, w, sc, ws, lo, hi, weighted):
    for i in range(lo, hi):
        s, c = sincos32(theta[i])
        sc[i, 0] = s
        sc[i, 1] = c
        if weighted:
            ws[i, 0] = w[i] * s
            ws[i, 1] = w[i] * c


@njit(cache=True)
def _sincos_block64(theta, w, sc, ws, lo, hi, weighted):
    for i in range(lo, hi):
        s, c = sincos64(theta[i])
        sc[i, 0] = s
        sc[i, 1] = c
        if weighted:
            ws[i, 0] = w[i] * s
            ws[i, 1] = w[i] * c


@njit(parallel=True, cache=True)
def sincos_f32(theta, w, sc, ws, bounds, weighted):
    """``sc[i] = (sin θ_i, cos θ_i)`` and, when ``weighted``, ``ws[i] = w_i sc[i]`` (float32)."""
    for b in prange(len(bounds) - 1):
        _sincos_block32(theta, w, sc, ws, bounds[b], bounds[b + 1], weighted)


@njit(parallel=True, cache=True)
def sincos_f64(theta, w, sc, ws, bounds, weighted):
    """As :func:`sincos_f32`, in double precision."""
    for b in prange(len(bounds) - 1):
        _sincos_block64(theta, w, sc, ws, bounds[b], bounds[b + 1], weighted)


@njit(cache=True)
def _kuramoto_block(omega, k, indptr, indices, ew, has_ew, inv_norm, sc, ws, out, lo, hi):
    for i in range(lo, hi):
        s0 = 0.0
        c0 = 0.0
        s1 = 0.0
        c1 = 0.0
        p = indptr[i]
        end = indptr[i + 1]
        if has_ew:
            while p < end:
                j = indices[p]
                s0 += ew[p] * ws[j, 0]
                c0 += ew[p] * ws[j, 1]
                p += 1
        else:
            while p + 1 < end:      # two independent sums hide the add latency
                j0 = indices[p]
                j1 = indices[p + 1]
                s0 += ws[j0, 0]
                c0 += ws[j0, 1]
                s1 += ws[j1, 0]
                c1 += ws[j1, 1]
                p += 2
            if p < end:
                j0 = indices[p]
                s0 += ws[j0, 0]
                c0 += ws[j0, 1]
        out[i] = omega[i] + k * inv_norm[i] * (sc[i, 1] * (s0 + s1) - sc[i, 0] * (c0 + c1))


@njit(parallel=True, cache=True)
def kuramoto_rhs(omega, k, indptr, indices, ew, has_ew, inv_norm, sc, ws, out, bounds):
    """``out_i = ω_i + K Σ_j W_ij sin(θ_j − θ_i)`` with ``W_ij = A_ij w_j inv_norm_i``, from
    ``sc = (sin θ, cos θ)`` and ``ws = w·sc`` (see :func:`sincos_f32`)."""
    for b in prange(len(bounds) - 1):
        _kuramoto_block(omega, k, indptr, indices, ew, has_ew, inv_norm, sc, ws, out, bounds[b], bounds[b + 1])


@njit(cache=True)
def _burgers_block(u, pos, w, inv_norm, indptr, indices, ew, has_ew, f, nu, hmin, out, lo, hi):
    for i in range(lo, hi):
        ui = u[i]
        ti = pos[i]
        adv = 0.0
        dif = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            d = pos[j] - ti                         # signed angular offset of j, wrapped to (−π, π]
            d -= TWO_PI * np.floor(d / TWO_PI + 0.5)
            h = max(abs(d), hmin)
            wij = w[j] * ew[p] if has_ew else w[j]
            du = u[j] - ui
            dif += wij * du / (h * h)
            if (ui > 0 and d < 0) or (ui < 0 and d > 0):   # upwind: behind i when u_i > 0, ahead when < 0
                adv += wij * du / (h if d > 0 else -h)    # (u_i − u_j)/(θ_i − θ_j)
        out[i] = inv_norm[i] * (nu * dif - f * ui * adv)


@njit(parallel=True, cache=True)
def burgers_rhs(u, pos, w, inv_norm, indptr, indices, ew, has_ew, f, nu, hmin, out, bounds):
    """``out_i = −F u_i Σ_up W_ij (u_i − u_j)/(θ_i − θ_j) + ν Σ_j W_ij (u_j − u_i)/h_ij²``."""
    for b in prange(len(bounds) - 1):
        _burgers_block(u, pos, w, inv_norm, indptr, indices, ew, has_ew, f, nu, hmin, out,
                       bounds[b], bounds[b + 1])
