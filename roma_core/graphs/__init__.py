"""Graphs: the CSR ``Graph`` type, the S1/H2 hyperbolic generator, embedding, readers and layouts."""
from .graph import Graph
from .hyperbolic import hyperbolic_graph, model_constants
from .layout import poincare_layout
from .stats import clustering, degree_exponent
from .io import read_edgelist
from .embed import circular_correlation, clustering_spectrum, embed, greedy_routing

__all__ = ["Graph", "hyperbolic_graph", "model_constants", "poincare_layout", "clustering", "degree_exponent", "read_edgelist",
           "embed", "circular_correlation", "greedy_routing", "clustering_spectrum"]
