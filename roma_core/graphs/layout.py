"""Layouts of graphs in the plane."""
from __future__ import annotations

import numpy as np

from ..errors import GraphError
from .graph import Graph


def poincare_layout(graph: Graph) -> tuple[np.ndarray, np.ndarray]:
    """Node positions in the Poincaré disk: angle θ, radius tanh(r/2) < 1."""
    if graph.theta is None or graph.radius is None:
        raise GraphError("poincare_layout needs S1/H2 coordinates (theta, radius); this graph has none. "
                         "Generate it with hyperbolic_graph or use a force layout.")
    rho = np.tanh(graph.radius / 2.0)
    return rho * np.cos(graph.theta), rho * np.sin(graph.theta)
