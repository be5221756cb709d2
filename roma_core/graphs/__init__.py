"""Graphs: the CSR ``Graph`` type, the S1/H2 hyperbolic generator, readers and layouts."""
from .graph import Graph
from .hyperbolic import hyperbolic_graph, model_constants
from .layout import poincare_layout
from .stats import clustering, degree_exponent
from .io import read_edgelist

__all__ = ["Graph", "hyperbolic_graph", "model_constants", "poincare_layout", "clustering", "degree_exponent", "read_edgelist"]
