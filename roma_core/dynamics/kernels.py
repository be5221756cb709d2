"""CPU kernels (numba) for the coupling terms, one pass over the CSR per evaluation.

Rows are split into blocks of about equal stored entries; ``prange`` runs blocks on all
cores and a serial inner function does the work. Nodes in angular order (as the
generator returns them) keep most gathers in cache.

Kuramoto uses sin(θ_j − θ_i) = sin θ_j cos θ_i − cos θ_j sin θ_i: sin and cos are computed
once per node, in parallel (~0.85 ms for 10^6 phases on 2 cores, where numpy's sin + cos
take 1.05 ms in float32 on one core and 33 ms in float64), then every row sums the weighted
(sin θ_j, cos θ_j) of its neighbours, stored interleaved so that each entry is one gather.
The sums run in the state's precision with scalar loads (LLVM's AVX-512 gathers were ~2x
slower here) on a layout built once per graph (:func:`padded_rows`): the row-length
branches of a plain CSR loop cost as much as the gathers themselves at ~10 entries per row.
"""
from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, prange

TWO_PI = 2.0 * math.pi
U1, U2 = np.uint64(1), np.uint64(2)  # unsigned entry positions (see _kuramoto_block)
BLOCKS_PER_THREAD = 8


def row_blocks(indptr: np.ndarray, threads: int | None = None) -> np.ndarray:
    """Row boundaries splitting the stored entries (plus one per row) into equal blocks.

    Parameters
    ----------
    indptr : numpy.ndarray
        The CSR row pointer.
    threads : int, optional
        Threads the blocks are for (default: numba's thread count).

    Returns
    -------
    numpy.ndarray
        Increasing row indices from 0 to N, one block between each two.
    """
    n = len(indptr) - 1
    nb = max(1, min(n, (threads or numba.get_num_threads()) * BLOCKS_PER_THREAD))
    work = indptr + np.arange(n + 1)
    bounds = np.searchsorted(work, np.linspace(0, work[-1], nb + 1)).astype(np.int64)
    bounds[0], bounds[-1] = 0, n
    return np.unique(bounds)


WINDOW = 2048  # rows sorted by degree within windows this long (their gathers stay local)


def padded_rows(indptr: np.ndarray, indices: np.ndarray, weights: np.ndarray | None = None):
    """The graph renumbered for the Kuramoto kernel: ``(order, ptr, idx, ew)``.

    The kernel's node ``r`` is the graph's node ``order[r]``: within each window of
    ``WINDOW`` consecutive nodes, nodes are sorted by degree, so that runs of rows of equal
    length follow each other and the row loop's exit is predictable, while every row,
    its inputs and its output are read and written in sequence. ``ptr``/``idx`` are the
    CSR in that numbering, every row padded to an even length with the dummy column ``N``
    (whose pair is kept at zero), which removes the remainder branch. ``ew`` holds the
    entry weights in the same layout (empty without weights).

    Parameters
    ----------
    indptr, indices : numpy.ndarray
        The graph's CSR.
    weights : numpy.ndarray, optional
        The entry weights.

    Returns
    -------
    tuple of numpy.ndarray
        ``(order, ptr, idx, ew)``.
    """
    n = len(indptr) - 1
    deg = np.diff(indptr)
    padded = deg + (deg & 1)
    key = (np.arange(n, dtype=np.int64) // WINDOW) * (int(padded.max(initial=0)) + 1) + padded
    order = np.argsort(key, kind="stable").astype(np.int64)
    rank = np.empty(n + 1, np.int32)
    rank[order] = np.arange(n, dtype=np.int32)
    rank[n] = n
    ptr = np.zeros(n + 1, np.int64)
    np.cumsum(padded[order], out=ptr[1:])
    ew = np.zeros(0 if weights is None else ptr[-1], np.float64)
    idx = _fill_padded(indptr, indices, order, rank, ptr, n, weights if weights is not None else np.zeros(0), ew)
    return order, ptr, idx, ew


@njit(cache=True, nogil=True)
def _fill_padded(indptr, indices, order, rank, ptr, n, weights, ew):
    idx = np.full(ptr[-1], n, np.int32)
    for r in range(len(order)):
        i = order[r]
        for c in range(indptr[i + 1] - indptr[i]):
            idx[ptr[r] + c] = rank[indices[indptr[i] + c]]
            if len(ew):
                ew[ptr[r] + c] = weights[indptr[i] + c]
    return idx


PIO2_HI = 1.57079632673412561417      # π/2 split so that n·PIO2_HI is exact for |n| < 2^20
PIO2_LO = 6.07710050650619224932e-11
SIN_TAYLOR = tuple((-1) ** k / math.factorial(2 * k + 1) for k in range(9))   # to r^17
COS_TAYLOR = tuple((-1) ** k / math.factorial(2 * k) for k in range(9))       # to r^16


@njit(cache=True, nogil=True, fastmath={"contract"})
def _sincos_block(theta, w, sn, cs, ws, lo, hi):
    """``sn, cs = sin θ, cos θ`` and the sender-weighted pairs ``ws`` for nodes [lo, hi),
    in float64 whatever the state's precision (error ≈ 1e-16 for |θ| < 10^5): θ is reduced
    to r = θ − n π/2 with |r| ≤ π/4, where both Taylor series have converged to machine
    precision at the orders kept, and the quadrant n mod 4 swaps and negates them."""
    i = np.uint64(lo)
    while i < np.uint64(hi):
        x = np.float64(theta[i])
        n = np.floor(x * (2.0 / math.pi) + 0.5)
        r = (x - n * PIO2_HI) - n * PIO2_LO
        z = r * r
        a, b = SIN_TAYLOR, COS_TAYLOR
        s = r * (a[0] + z * (a[1] + z * (a[2] + z * (a[3] + z * (a[4] + z * (a[5] + z * (a[6] + z * (a[7] + z * a[8]))))))))
        c = b[0] + z * (b[1] + z * (b[2] + z * (b[3] + z * (b[4] + z * (b[5] + z * (b[6] + z * (b[7] + z * b[8])))))))
        q = np.int64(n) & 3
        if q & 1:
            s, c = c, -s
        if q & 2:
            s, c = -s, -c
        sn[i] = s
        cs[i] = c
        ws[U2 * i] = w[i] * s
        ws[U2 * i + U1] = w[i] * c
        i += U1


@njit(cache=True, nogil=True)
def _kuramoto_block(omega, k, ptr, idx, inv_norm, sn, cs, ws, out, lo, hi, zero):
    """Rows [lo, hi): two rows of equal (padded) length at a time, four sums each, so
    eight independent additions hide their latency. Entry positions are unsigned: numba
    then skips its negative-index wraparound, which cost as much as the gathers."""
    i = lo
    while i < hi:
        a = np.uint64(ptr[i])
        b = np.uint64(ptr[i + 1])
        if i + 1 < hi and np.uint64(ptr[i + 2]) - b == b - a:
            s0 = c0 = s1 = c1 = t0 = e0 = t1 = e1 = zero
            p, q = a, b
            while p < b:
                j0 = np.uint64(idx[p]) * U2
                j1 = np.uint64(idx[p + U1]) * U2
                q0 = np.uint64(idx[q]) * U2
                q1 = np.uint64(idx[q + U1]) * U2
                s0 += ws[j0]
                c0 += ws[j0 + U1]
                s1 += ws[j1]
                c1 += ws[j1 + U1]
                t0 += ws[q0]
                e0 += ws[q0 + U1]
                t1 += ws[q1]
                e1 += ws[q1 + U1]
                p += U2
                q += U2
            out[i] = omega[i] + k * inv_norm[i] * (cs[i] * (s0 + s1) - sn[i] * (c0 + c1))
            out[i + 1] = omega[i + 1] + k * inv_norm[i + 1] * (cs[i + 1] * (t0 + t1) - sn[i + 1] * (e0 + e1))
            i += 2
        else:
            s0 = c0 = s1 = c1 = zero
            p = a
            while p < b:
                j0 = np.uint64(idx[p]) * U2
                j1 = np.uint64(idx[p + U1]) * U2
                s0 += ws[j0]
                c0 += ws[j0 + U1]
                s1 += ws[j1]
                c1 += ws[j1 + U1]
                p += U2
            out[i] = omega[i] + k * inv_norm[i] * (cs[i] * (s0 + s1) - sn[i] * (c0 + c1))
            i += 1


@njit(cache=True, nogil=True)
def _weighted_block(omega, k, ptr, idx, ew, inv_norm, sn, cs, ws, out, lo, hi, zero):
    """Rows [lo, hi) with entry weights A_ij, one row at a time."""
    for i in range(lo, hi):
        s = zero
        c = zero
        p = np.uint64(ptr[i])
        end = np.uint64(ptr[i + 1])
        while p < end:
            j = np.uint64(idx[p]) * U2
            s += ew[p] * ws[j]
            c += ew[p] * ws[j + U1]
            p += U1
        out[i] = omega[i] + k * inv_norm[i] * (cs[i] * s - sn[i] * c)


@njit(parallel=True, cache=True, nogil=True)
def kuramoto_rhs(omega, k, ptr, idx, ew, inv_norm, theta, w, sn, cs, ws, out, bounds, zero):
    """``out_i = ω_i + K Σ_j W_ij sin(θ_j − θ_i)`` with ``W_ij = A_ij w_j inv_norm_i``, all
    in the :func:`padded_rows` numbering (``bounds`` are :func:`row_blocks` of its ``ptr``).
    ``sn``, ``cs`` (N) and ``ws`` (2N + 2, flat) are scratch: sin θ, cos θ and the
    sender-weighted pairs ``w_j (sin θ_j, cos θ_j)``, filled first so that each stored
    entry is one 8-byte (float32) gather; the last pair (the padding column) stays zero.
    ``zero`` is 0 in the state's precision (the sums are accumulated in it)."""
    n = len(theta)
    nb = len(bounds) - 1
    for b in prange(nb):
        _sincos_block(theta, w, sn, cs, ws, b * n // nb, (b + 1) * n // nb)
    ws[2 * n] = zero
    ws[2 * n + 1] = zero
    if len(ew):
        for b in prange(nb):
            _weighted_block(omega, k, ptr, idx, ew, inv_norm, sn, cs, ws, out, bounds[b], bounds[b + 1], zero)
    else:
        for b in prange(nb):
            _kuramoto_block(omega, k, ptr, idx, inv_norm, sn, cs, ws, out, bounds[b], bounds[b + 1], zero)


@njit(cache=True, nogil=True)
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


@njit(parallel=True, cache=True, nogil=True)
def burgers_rhs(u, pos, w, inv_norm, indptr, indices, ew, has_ew, f, nu, hmin, out, bounds):
    """``out_i = −F u_i Σ_up W_ij (u_i − u_j)/(θ_i − θ_j) + ν Σ_j W_ij (u_j − u_i)/h_ij²``."""
    for b in prange(len(bounds) - 1):
        _burgers_block(u, pos, w, inv_norm, indptr, indices, ew, has_ew, f, nu, hmin, out,
                       bounds[b], bounds[b + 1])


@njit(parallel=True, cache=True, nogil=True)
def burgers_gap_sums(pos, w, inv_norm, indptr, indices, ew, has_ew, hmin, bounds):
    """Per node ``(Σ_j W_ij / h_ij², Σ_j W_ij / h_ij)`` with the gaps of :func:`burgers_rhs`:
    the diffusive and advective parts of the Burgers stability bound, in one pass."""
    n = len(pos)
    dif = np.zeros(n)
    adv = np.zeros(n)
    for b in prange(len(bounds) - 1):
        for i in range(bounds[b], bounds[b + 1]):
            ti = pos[i]
            sd = 0.0
            sa = 0.0
            for p in range(indptr[i], indptr[i + 1]):
                j = indices[p]
                d = pos[j] - ti
                d -= TWO_PI * np.floor(d / TWO_PI + 0.5)
                h = max(abs(d), hmin)
                wij = w[j] * ew[p] if has_ew else w[j]
                sd += wij / (h * h)
                sa += wij / h
            dif[i] = inv_norm[i] * sd
            adv[i] = inv_norm[i] * sa
    return dif, adv
