"""Shared fixtures: small hyperbolic graphs, built once per session."""
import pytest

from roma_core.graphs import hyperbolic_graph


@pytest.fixture(scope="session")
def small_graph():
    """A 2,000-node S1 graph (⟨k⟩ = 10, γ = 2.7, β = 2), nodes in angular order."""
    return hyperbolic_graph(2_000, mean_degree=10, gamma=2.7, beta=2.0, seed=7)
