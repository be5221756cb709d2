"""Diffusion diagnostics of the Laplacian RG: entropy S(τ) and specific heat C(τ).

With L the combinatorial Laplacian, eigenvalues λ_k and ρ(τ) = e^{−τL}/Z, Z = Tr e^{−τL}:

    S(τ) = [ln Z + τ⟨λ⟩] / ln N,    C(τ) = −dS/d ln τ = τ² (⟨λ²⟩ − ⟨λ⟩²) / ln N,

where ⟨g(λ)⟩ = Tr[g(L) e^{−τL}] / Z. Z(τ) itself is reported too: it counts the modes that
diffusion has not yet washed out by time τ (N at τ = 0, the number of components as τ → ∞;
roughly the number of eigenvalues below 1/τ). ``kind`` picks L: the combinatorial D − A or
the normalized I − D^−1/2 A D^−1/2 (whose heat kernel is that of the random walk; the
Laplacian RG uses it). Two ways to get the traces:

* ``exact`` (N ≤ 5,000 by default): dense eigenvalues of L.
* ``slq`` (stochastic Lanczos quadrature): Hutchinson's estimator Tr f(L) ≈ mean_k zₖᵀ f(L) zₖ
  over Rademacher probes, each quadratic form from an m-step Lanczos run started at zₖ
  (zᵀ f(L) z ≈ ‖z‖² Σ_j u_{0j}² f(θ_j), θ, u the eigenpairs of the Lanczos tridiagonal),
  so one run per probe serves every τ and all three moments. The null space (one
  constant vector per connected component) is projected out of the probes and counted
  exactly, so disconnected graphs are handled (their spectrum is the union of the
  components'). The ``lowest`` smallest non-zero eigenpairs can also be computed and
  deflated exactly (they dominate at large τ, where Hutchinson's relative error grows);
  by default 32 up to 5,000 nodes, none above (shift-invert costs too much there).
  Memory: 3 vectors per probe (plus the Lanczos basis when ``reorthogonalize``, by default
  when it fits in 256 MiB; without it Lanczos loses orthogonality, converged outlier
  eigenvalues (hubs) come back as copies and more steps are needed, hence the
  convergence-based stop); time:
  m sparse products with a block of probes. Standard errors come from a jackknife over
  probes.
"""
from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
import xarray as xr

from ..errors import HierarchyError
from ..graphs import Graph
from ..progress import ProgressCallback, report

EXACT_MAX = 5_000


def diffusion_profile(graph: Graph, taus=None, *, kind: str = "combinatorial", method: str = "auto",
                      probes: int | None = None,
                      steps: int = 400, tol: float = 1e-3, lowest: int | None = None,
                      reorthogonalize: bool | None = None, seed: int = 0,
                      progress: ProgressCallback | None = None) -> xr.Dataset:
    """S(τ), C(τ) and Z(τ) on the grid ``taus`` (default 10^-2..10^3, 61 points) as an
    ``xarray.Dataset`` with variables ``S``, ``C``, ``Z`` (and ``S_err``, ``C_err`` for ``slq``)
    over dim ``tau``; attrs hold the method, N, components and ``tau_peak`` (argmax of C).
    ``method``: "exact", "slq" or "auto" (exact up to 5,000 nodes). For ``slq``: ``probes``
    (default 32, 16 above 10^5 nodes), at most ``steps`` Lanczos steps, stopping once S
    and C/max C change by less than ``tol`` over 20 more steps (attrs ``steps_used``,
    ``converged`` and ``last_change``, the change over the last 20 steps).

    Parameters
    ----------
    graph : roma_core.graphs.Graph
        An undirected graph.
    taus : array_like, optional
        Diffusion times (> 0); default 10^-2..10^3, 61 points.
    kind : {"combinatorial", "normalized"}
        The Laplacian.
    method : {"auto", "exact", "slq"}
        Dense eigenvalues, or stochastic Lanczos quadrature.
    probes, steps, tol
        The quadrature's random probes, most Lanczos steps and stopping tolerance.
    lowest : int, optional
        Smallest non-zero eigenpairs computed exactly and deflated (``slq``).
    reorthogonalize : bool, optional
        Keep the Lanczos basis orthogonal (default: when it fits in 256 MiB).
    seed : int
        Seed of the probes.
    progress : callable, optional
        ``progress(done, total)``.

    Returns
    -------
    xarray.Dataset
        ``S``, ``C``, ``Z`` over ``tau`` (and errors for ``slq``).

    Raises
    ------
    roma_core.errors.HierarchyError
        For an unknown method or kind, invalid sizes or diffusion times.
    """
    taus = _check_taus(taus)
    lap = _laplacian(graph, kind)
    n = graph.num_nodes
    if method == "auto":
        method = "exact" if n <= EXACT_MAX else "slq"
    ncomp, labels = sp.csgraph.connected_components(lap, directed=False)
    if method == "exact":
        if n > 20_000:
            raise HierarchyError(f"exact diffusion profile needs a dense {n}×{n} eigenproblem; use method='slq'")
        lam = np.clip(np.linalg.eigvalsh(lap.toarray()), 0.0, None)
        m0, m1, m2 = _moments_from_spectrum(lam, taus)
        s, c = _entropy_heat(m0, m1, m2, taus, n)
        ds = xr.Dataset({"S": ("tau", s), "C": ("tau", c), "Z": ("tau", m0)}, coords={"tau": taus})
        attrs = {"method": "exact"}
    elif method == "slq":
        if probes is None:
            probes = 32 if n <= 100_000 else 16
        if probes < 2 or steps < 2:
            raise HierarchyError(f"slq needs probes >= 2 and steps >= 2, got probes={probes}, steps={steps}")
        if lowest is None:
            lowest = 0 if n > EXACT_MAX else min(32, max(0, n - ncomp - 2))
        if reorthogonalize is None:
            reorthogonalize = n * probes * steps * 8 <= 1 << 28
        per_probe, exact, used, change = _slq_moments(lap, _null_weights(graph, kind), labels, ncomp, taus, probes,
                                                      steps, lowest, reorthogonalize, seed, tol, progress)
        s, c, s_err, c_err = _jackknife(per_probe, exact, ncomp, taus, n)
        z = ncomp + exact[0] + per_probe[0].mean(axis=0)
        ds = xr.Dataset({"S": ("tau", s), "C": ("tau", c), "Z": ("tau", z), "S_err": ("tau", s_err),
                         "C_err": ("tau", c_err)}, coords={"tau": taus})
        attrs = {"method": "slq", "probes": probes, "steps": steps, "steps_used": used, "lowest": lowest,
                 "last_change": float(change), "converged": int(bool(change <= tol)), "tol": tol,
                 "reorthogonalize": int(bool(reorthogonalize)), "seed": seed}
    else:
        raise HierarchyError(f"method must be 'auto', 'exact' or 'slq', got {method!r}")
    ds["S"].attrs.update(long_name="spectral entropy S(τ) / ln N")
    ds["C"].attrs.update(long_name="specific heat C(τ) = −dS/d ln τ")
    ds["Z"].attrs.update(long_name="modes left Z(τ) = Tr e^{−τL}")
    ds["tau"].attrs.update(long_name="diffusion time τ")
    ds.attrs.update(attrs, laplacian=kind, num_nodes=n, components=int(ncomp),
                    tau_peak=float(taus[int(np.argmax(ds["C"].values))]))
    return ds


def peak_tau(profile: xr.Dataset, rule: str = "max") -> float:
    """τ of the specific-heat peak. ``rule="max"``: the maximum of C, refined by a parabola
    through its neighbours in ln τ; ``rule="half"``: where C, after its maximum, has
    fallen to half of it (linear in ln τ), i.e. once diffusion has crossed that scale.

    Parameters
    ----------
    profile : xarray.Dataset
        From :func:`diffusion_profile`.
    rule : {"max", "half"}
        Which point of the peak.

    Returns
    -------
    float

    Raises
    ------
    roma_core.errors.HierarchyError
        For another rule, or C zero on the whole grid.
    """
    c = profile["C"].values
    t = np.log(profile["tau"].values)
    i = int(np.argmax(c))
    if not c[i] > 0:
        raise HierarchyError("the specific heat C(tau) is zero on the whole grid (a graph without edges, or "
                             "taus far outside its diffusion scales): there is no peak to pick tau* from")
    if rule == "half":
        after = np.flatnonzero(c[i:] <= 0.5 * c[i])
        if not len(after):
            return float(np.exp(t[-1]))
        j = i + int(after[0])
        f = (c[j - 1] - 0.5 * c[i]) / (c[j - 1] - c[j])
        return float(np.exp(t[j - 1] + f * (t[j] - t[j - 1])))
    if rule != "max":
        raise HierarchyError(f"rule must be 'max' or 'half', got {rule!r}")
    if 0 < i < len(c) - 1:
        y0, y1, y2 = c[i - 1], c[i], c[i + 1]
        den = y0 - 2 * y1 + y2
        if den < 0:
            shift = 0.5 * (y0 - y2) / den
            return float(np.exp(t[i] + shift * (t[i + 1] - t[i - 1]) / 2))
    return float(np.exp(t[i]))


def tau_for_modes(profile: xr.Dataset, modes: float) -> float:
    """The diffusion time at which Z(τ) = Tr e^{−τL}, the number of modes diffusion has not
    yet washed out, equals ``modes`` (linear in ln Z over ln τ between grid points; the
    grid's ends when ``modes`` lies outside the range of Z).

    Parameters
    ----------
    profile : xarray.Dataset
        From :func:`diffusion_profile` (with ``Z``).
    modes : float
        The number of modes to leave (> 0).

    Returns
    -------
    float

    Raises
    ------
    roma_core.errors.HierarchyError
        For ``modes <= 0``.
    """
    z = profile["Z"].values
    t = np.log(profile["tau"].values)
    if not modes > 0:
        raise HierarchyError(f"modes must be > 0, got {modes}")
    below = np.flatnonzero(z <= modes)
    if not len(below):
        return float(np.exp(t[-1]))
    j = int(below[0])
    if j == 0:
        return float(np.exp(t[0]))
    f = (np.log(z[j - 1]) - np.log(modes)) / (np.log(z[j - 1]) - np.log(z[j]))
    return float(np.exp(t[j - 1] + f * (t[j] - t[j - 1])))


# ---------------------------------------------------------------- helpers
def _check_taus(taus) -> np.ndarray:
    if taus is None:
        return np.logspace(-2, 3, 61)
    taus = np.atleast_1d(np.asarray(taus, dtype=np.float64))
    if taus.ndim != 1 or len(taus) == 0:
        raise HierarchyError("taus must be a non-empty 1-D sequence of diffusion times")
    if not np.all(np.isfinite(taus)) or np.any(taus <= 0):
        raise HierarchyError(f"diffusion times must be finite and > 0, got min {taus.min()}")
    return np.sort(taus)


def _laplacian(graph: Graph, kind: str = "combinatorial") -> sp.csr_array:
    if not isinstance(graph, Graph):
        raise HierarchyError(f"expected a roma Graph, got {type(graph).__name__}")
    if graph.directed:
        raise HierarchyError("diffusion profiles need an undirected graph; symmetrise it first")
    if graph.num_nodes < 2:
        raise HierarchyError(f"a diffusion profile needs at least 2 nodes, got {graph.num_nodes}")
    if kind not in ("combinatorial", "normalized"):
        raise HierarchyError(f"kind must be 'combinatorial' or 'normalized', got {kind!r}")
    return graph.laplacian(kind)


def _moments_from_spectrum(lam: np.ndarray, taus: np.ndarray, weights=None):
    """Σ w g(λ) e^{−τλ} for g = 1, λ, λ² (rows: τ)."""
    e = np.exp(-np.outer(taus, lam))
    if weights is not None:
        e = e * weights
    return e.sum(axis=1), e @ lam, e @ (lam * lam)


def _entropy_heat(m0, m1, m2, taus, n):
    mean = m1 / m0
    var = np.maximum(m2 / m0 - mean * mean, 0.0)
    s = (np.log(m0) + taus * mean) / math.log(n)
    return s, taus * taus * var / math.log(n)


def _project_out(v: np.ndarray, labels, ncomp, null, basis) -> np.ndarray:
    """Remove L's null space (per component, the vector ``null`` restricted to it) and the
    deflated eigenvectors ``basis``."""
    sums = np.stack([np.bincount(labels, weights=null * v[:, k], minlength=ncomp) for k in range(v.shape[1])],
                    axis=1)
    norms = np.bincount(labels, weights=null * null, minlength=ncomp)[:, None]
    v = v - null[:, None] * (sums / norms)[labels]
    if basis is not None:
        v = v - basis @ (basis.T @ v)
    return v


def _null_weights(graph: Graph, kind: str) -> np.ndarray:
    """Per node, L's null vector up to a factor per component: 1 for D − A, √d for the
    normalized Laplacian (isolated nodes: 1)."""
    if kind == "combinatorial":
        return np.ones(graph.num_nodes)
    d = np.asarray(graph.adjacency().sum(axis=1)).ravel()
    return np.where(d > 0, np.sqrt(d), 1.0)


def _lowest_modes(lap, labels, ncomp, k, seed):
    """The k smallest non-zero eigenpairs of L (shift-invert Lanczos, small shift)."""
    import scipy.sparse.linalg as sla

    n = lap.shape[0]
    if k <= 0:
        return np.zeros(0), None
    if n <= 300:
        lam, vec = np.linalg.eigh(lap.toarray())
        return np.clip(lam[ncomp:ncomp + k], 0, None), vec[:, ncomp:ncomp + k]
    rng = np.random.default_rng(seed)
    shift = -1e-3 * max(1.0, float(lap.diagonal().mean()))
    lam, vec = sla.eigsh(lap, k=k + ncomp, sigma=shift, which="LM", v0=rng.standard_normal(n))
    order = np.argsort(lam)
    lam, vec = lam[order], vec[:, order]
    return np.clip(lam[ncomp:], 0, None), vec[:, ncomp:]


def _slq_moments(lap, null, labels, ncomp, taus, probes, steps, lowest, reorth, seed, tol, progress):
    n = lap.shape[0]
    rng = np.random.default_rng(seed)
    lam_low, basis = _lowest_modes(lap, labels, ncomp, lowest, seed)
    exact = _moments_from_spectrum(lam_low, taus) if len(lam_low) else (0.0, 0.0, 0.0)
    z = rng.choice(np.array([-1.0, 1.0]), size=(n, probes))
    z = _project_out(z, labels, ncomp, null, basis)
    norms2 = np.einsum("ij,ij->j", z, z)
    steps = min(steps, n - ncomp - len(lam_low))
    alpha = np.zeros((steps, probes))
    beta = np.zeros((steps, probes))
    v = z / np.sqrt(norms2)
    v_prev = np.zeros_like(v)
    kept = np.empty((steps, n, probes)) if reorth else None
    if reorth:
        kept[0] = v
    b = np.zeros(probes)
    last, change = None, float("nan")
    done = np.zeros(probes, dtype=bool)
    m_used = np.full(probes, steps)
    for j in range(steps):
        w = lap @ v
        if basis is not None:
            w -= basis @ (basis.T @ w)
        a = np.einsum("ij,ij->j", w, v)
        w -= a * v + b * v_prev
        if reorth:  # full re-orthogonalisation against the basis so far, twice is enough
            basis_j = kept[: j + 1]
            for _ in range(2):
                w -= np.einsum("kij,kj->ij", basis_j, np.einsum("kij,ij->kj", basis_j, w))
        alpha[j] = a
        b = np.sqrt(np.einsum("ij,ij->j", w, w))
        beta[j] = b
        newly = (~done) & (b < 1e-10 * np.maximum(np.abs(alpha[: j + 1]).max(axis=0), 1.0))
        m_used[newly] = j + 1
        done |= newly
        if done.all() or j == steps - 1:
            break
        if j >= 39 and (j + 1) % 20 == 0:  # converged quadrature: stop early
            current = _quadrature(alpha, beta, np.minimum(m_used, j + 1), norms2, taus)
            s_now, c_now = _estimate(current.sum(axis=1), probes, exact, ncomp, taus, n)
            if last is not None:
                change = max(np.max(np.abs(s_now - last[0])),
                             np.max(np.abs(c_now - last[1])) / max(np.max(np.abs(c_now)), 1e-300))
                if change <= tol:
                    m_used = np.minimum(m_used, j + 1)
                    break
            last = (s_now, c_now)
        b_safe = np.where(b > 0, b, 1.0)
        v_prev, v = v, w / b_safe
        if reorth:
            kept[j + 1] = v
        report(progress, j + 1, steps)
    report(progress, steps, steps)
    return _quadrature(alpha, beta, m_used, norms2, taus), exact, int(m_used.max()), change


def _quadrature(alpha, beta, m_used, norms2, taus):
    """Per-probe Gauss quadrature of the three moments from the Lanczos coefficients."""
    from scipy.linalg import eigh_tridiagonal

    probes = alpha.shape[1]
    per_probe = np.zeros((3, probes, len(taus)))
    for k in range(probes):
        m = int(m_used[k])
        theta, u = eigh_tridiagonal(alpha[:m, k], beta[: m - 1, k])
        theta = np.clip(theta, 0.0, None)
        per_probe[:, k] = _moments_from_spectrum(theta, taus, norms2[k] * u[0] ** 2)
    return per_probe


def _estimate(sums, count, exact, ncomp, taus, n):
    m0 = ncomp + exact[0] + sums[0] / count
    m1 = exact[1] + sums[1] / count
    m2 = exact[2] + sums[2] / count
    return _entropy_heat(m0, m1, m2, taus, n)


def _jackknife(per_probe, exact, ncomp, taus, n):
    """Estimates from all probes and jackknife standard errors of S and C."""
    p = per_probe.shape[1]
    total = per_probe.sum(axis=1)

    def estimate(sums, count):
        return _estimate(sums, count, exact, ncomp, taus, n)

    s, c = estimate(total, p)
    loo = [estimate(total - per_probe[:, k], p - 1) for k in range(p)]
    s_loo = np.array([x[0] for x in loo])
    c_loo = np.array([x[1] for x in loo])
    scale = (p - 1) / p
    s_err = np.sqrt(scale * ((s_loo - s_loo.mean(axis=0)) ** 2).sum(axis=0))
    c_err = np.sqrt(scale * ((c_loo - c_loo.mean(axis=0)) ** 2).sum(axis=0))
    return s, c, s_err, c_err
