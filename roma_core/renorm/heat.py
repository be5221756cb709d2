"""Heat-kernel actions e^{−sL} X without forming e^{−sL}: a Chebyshev expansion.

On [0, b] with b ≥ λ_max(L) (Gershgorin: b = 2 max weighted degree), e^{−s x} =
Σ_k c_k T_k(2x/b − 1) with c_k = (2 − δ_k0) (−1)^k e^{−a} I_k(a), a = s b / 2 (modified
Bessel functions; ``scipy.special.ive`` keeps them finite). The series is cut where
|c_k| falls below ``tol``: about sqrt(2 a ln(1/tol)) terms, so the cost grows with
√(s · λ_max): hubs (large λ_max) and long times are what make it expensive. Each term is
one sparse × dense-block product; memory is four N × m blocks.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.special import ive

from ..progress import ProgressCallback, report


def spectral_bound(lap: sp.csr_array, seed: int = 0) -> float:
    """An upper bound of L's largest eigenvalue: a Lanczos estimate plus a 2 % + 1 margin
    (Lanczos approaches λ_max from below), never above Gershgorin's 2 × max weighted degree.

    Parameters
    ----------
    lap : scipy.sparse.csr_array
        A graph Laplacian (symmetric, positive semi-definite).
    seed : int
        Seed of Lanczos' start vector.

    Returns
    -------
    float
    """
    gershgorin = max(2.0 * float(lap.diagonal().max()), 1e-12)
    n = lap.shape[0]
    if n < 50:
        return gershgorin
    import scipy.sparse.linalg as sla

    try:
        v0 = np.random.default_rng(seed).standard_normal(n)
        top = float(sla.eigsh(lap.astype(np.float64), k=1, which="LA", tol=1e-6, v0=v0,
                              return_eigenvectors=False)[0])
    except Exception:  # noqa: BLE001 - no convergence: fall back to the safe bound
        return gershgorin
    return min(gershgorin, 1.02 * top + 1.0)


def chebyshev_coefficients(s: float, bound: float, tol: float = 1e-10, max_terms: int = 20_000) -> np.ndarray:
    """Chebyshev coefficients of λ ↦ e^{−sλ} on [0, ``bound``], in the variable
    2λ/bound − 1: c_k = (2 − δ_k0)(−1)^k e^{−a} I_k(a) with a = s·bound/2, kept up to the last
    one above ``tol`` (and one more).

    Parameters
    ----------
    s : float
        The diffusion time.
    bound : float
        An upper bound of the spectrum.
    tol : float
        Smallest coefficient kept.
    max_terms : int
        The most terms computed.

    Returns
    -------
    numpy.ndarray
    """
    a = 0.5 * s * bound
    k = np.arange(max_terms)
    c = ive(k, a) * np.where(k % 2 == 0, 1.0, -1.0)
    c[1:] *= 2.0
    big = np.flatnonzero(np.abs(c) > tol)
    return c[: (big[-1] + 2 if len(big) else 1)]


def heat_apply(lap: sp.csr_array, x: np.ndarray, s: float, tol: float = 1e-10, bound: float | None = None,
               progress: ProgressCallback | None = None) -> np.ndarray:
    """e^{−sL} x for a block x (N × m) by the Chebyshev three-term recurrence, in the
    dtype of ``x`` (float32 halves memory and time; the recurrence is stable).

    Parameters
    ----------
    lap : scipy.sparse.csr_array
        The Laplacian L.
    x : numpy.ndarray
        The block, N × m (float32 or float64).
    s : float
        The diffusion time.
    tol : float
        Chebyshev coefficients below this are dropped.
    bound : float, optional
        An upper bound of L's spectrum (:func:`spectral_bound` when omitted).
    progress : callable, optional
        ``progress(done, total)`` over the recurrence's terms.

    Returns
    -------
    numpy.ndarray
        e^{−sL} x, shaped and typed as ``x``.
    """
    bound = spectral_bound(lap) if bound is None else bound
    lap = lap.astype(x.dtype, copy=False)
    c = chebyshev_coefficients(s, bound, tol)
    scale = x.dtype.type(2.0 / bound)
    c = c.astype(x.dtype)

    def shifted(v):  # (2L/b − I) v
        out = lap @ v
        out *= scale
        out -= v
        return out

    t_prev = x
    out = c[0] * x
    if len(c) == 1:
        return out
    t = shifted(x)
    out = out + c[1] * t
    for k in range(2, len(c)):
        t_next = shifted(t)
        t_next *= 2
        t_next -= t_prev
        out += c[k] * t_next
        t_prev, t = t, t_next
        if k % 16 == 0:
            report(progress, k, len(c))
    report(progress, len(c), len(c))
    return out
