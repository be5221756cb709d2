"""Graph Burgers dynamics: the ring lattice against the Cole–Hopf exact solution, mass
conservation, sources against their integral, and the two backends."""
import math

import numpy as np
import pytest
import torch
from scipy.special import ive, ndtr

from roma_core.dynamics import SocialBurgers, sender_weights, simulate
from roma_core.errors import SimulationError
from roma_core.graphs import Graph


def ring(n):
    i = np.arange(n)
    return Graph.from_edges(i, (i + 1) % n, n, theta=2 * np.pi * i / n)


def cole_hopf(x, t, nu, terms=80):
    """Exact periodic solution of u_t + u u_x = ν u_xx with u(x, 0) = sin x:
    u = −2ν φ_x/φ, φ = I0(a) + 2 Σ_n I_n(a) e^{−ν n² t} cos(nx), a = 1/(2ν)."""
    a = 1 / (2 * nu)
    n = np.arange(1, terms + 1)[:, None]
    coef = ive(n, a) * np.exp(-nu * n ** 2 * t)       # scaled Bessel functions: e^{-a} cancels
    phi = ive(0, a) + 2 * np.sum(coef * np.cos(n * x[None]), 0)
    dphi = -2 * np.sum(n * coef * np.sin(n * x[None]), 0)
    return -2 * nu * dphi / phi


def test_ring_converges_to_cole_hopf():
    # on a ring W_ij = 1/2 for both neighbours: the scheme is upwind for u_t + (F/2) u u_x = (ν/2) u_xx
    spec = SocialBurgers(advection=2.0, viscosity=0.2)
    errors = []
    for n in (100, 200, 400):
        g = ring(n)
        ds = simulate(spec, g, t_end=1.0, dt=5e-4, save_every=2000, dtype=torch.float64,
                      inputs={"initial": np.sin(g.theta)})
        errors.append(np.max(np.abs(ds["state"].values[-1] - cole_hopf(g.theta, 1.0, 0.1))))
    order = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert errors[-1] < 0.02 and np.all(order >= 0.8), (errors, order)


def test_mass_conserved_on_ring():
    # diffusion alone conserves Σ u exactly; with advection the upwind form loses O(h)
    g = ring(200)
    u0 = 1 + 0.5 * np.sin(g.theta)
    ds = simulate(SocialBurgers(advection=0.0, viscosity=0.2), g, 1.0, 5e-4, 500, dtype=torch.float64,
                  inputs={"initial": u0})
    assert np.max(np.abs(ds["mass"].values - u0.sum())) < 1e-10 * u0.sum()
    drift = []
    for n in (100, 200, 400):
        g = ring(n)
        u0 = 1 + 0.5 * np.sin(g.theta)
        ds = simulate(SocialBurgers(advection=2.0, viscosity=0.2), g, 1.0, 5e-4, 2000, dtype=torch.float64,
                      inputs={"initial": u0})
        drift.append(abs(ds["mass"].values[-1] / ds["mass"].values[0] - 1))
    assert drift[-1] < 2e-3 and np.all(np.log2(np.array(drift[:-1]) / drift[1:]) >= 0.8), drift


def test_weighted_mass_conserved_by_graph_diffusion(small_graph):
    # Σ_i S_i w_i u_i (S_i = Σ_k A_ik w_k) is invariant under ν Σ_j W_ij (u_j − u_i)/h_ij²
    spec = SocialBurgers(advection=0.0, viscosity=1e-6, alpha=0.5, initial="random")
    ds = simulate(spec, small_graph, 0.5, 1e-3, 250, dtype=torch.float64)
    w, inv = sender_weights(small_graph, 0.5)
    weight = np.where(inv > 0, w / np.where(inv > 0, inv, 1), 0)
    m = ds["state"].values @ weight
    assert abs(m[-1] - m[0]) < 1e-10 * abs(m[0])
    assert np.max(np.abs(ds["state"].values[-1] - ds["state"].values[0])) > 1e-3  # it did diffuse


def test_sources_add_their_integral(small_graph):
    spec = SocialBurgers(advection=0.0, viscosity=0.0, sources=5, source_amplitude=2.0, source_width=0.05,
                         initial="sine")
    ds = simulate(spec, small_graph, 1.0, 1e-3, 1000, dtype=torch.float64, seed=3)
    amp, onset = ds["source_amplitude"].values, ds["source_time"].values
    assert np.count_nonzero(amp) == 5
    tau = 0.05
    gain = amp * math.sqrt(2 * math.pi) * tau * (ndtr((1.0 - onset) / tau) - ndtr(-onset / tau))
    np.testing.assert_allclose(ds["state"].values[-1], ds["initial"].values + gain, atol=1e-9)


def test_numba_and_torch_backends_agree(small_graph):
    spec = SocialBurgers(advection=1.0, viscosity=1e-5, alpha=0.5, sources=3, initial="sine", initial_mode=3)
    a = simulate(spec, small_graph, 0.05, 1e-4, 100, dtype=torch.float64)
    b = simulate(spec, small_graph, 0.05, 1e-4, 100, dtype=torch.float64, backend="torch")
    assert np.max(np.abs(a["state"].values - b["state"].values)) < 1e-10
    assert np.max(np.abs(a["state"].values[-1] - a["state"].values[0])) > 1e-3


def test_upwind_follows_the_sign_of_u():
    # a bump carried by u > 0 moves to larger angles, by u < 0 to smaller ones
    g = ring(200)
    bump = np.exp(-0.5 * ((g.theta - math.pi) / 0.3) ** 2)
    for sign in (1, -1):
        ds = simulate(SocialBurgers(advection=1.0, viscosity=0.0), g, 0.5, 1e-3, 500, dtype=torch.float64,
                      inputs={"initial": sign * bump})
        u = np.abs(ds["state"].values[-1])
        centre = np.sum(u * g.theta) / u.sum()
        assert sign * (centre - math.pi) > 0.05


def test_unstable_step_is_refused(small_graph):
    with pytest.raises(SimulationError, match="stability"):
        simulate(SocialBurgers(viscosity=1.0), small_graph, 1.0, 0.1, 1)


def test_needs_angles():
    g = ring(20)
    bare = Graph(g.indptr, g.indices)
    with pytest.raises(SimulationError, match="angles"):
        simulate(SocialBurgers(), bare, 0.1, 0.01, 1)


def test_precisions_agree(small_graph):
    spec = SocialBurgers(advection=1.0, viscosity=1e-5, initial="sine", initial_mode=2)
    a = simulate(spec, small_graph, 0.05, 1e-4, 100, dtype=torch.float32)
    b = simulate(spec, small_graph, 0.05, 1e-4, 100, dtype=torch.float64)
    c = simulate(spec, small_graph, 0.05, 1e-4, 100, dtype=torch.float32, backend="torch")
    assert np.max(np.abs(a["state"].values - b["state"].values)) < 1e-3
    assert np.max(np.abs(c["state"].values - b["state"].values)) < 1e-3
