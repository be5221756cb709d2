"""Hierarchy view (:class:`HierarchyView`), in parts: building and caching the hierarchies
(:mod:`.build`), their colours (:mod:`.colours`), where supernodes and coarse edges are
drawn (:mod:`.geometry`), the supernodes on the graph (:mod:`.graph_plot`), the coarse
graph (:mod:`.coarse_plot`), the side plots (:mod:`.side_plots`), warming up their
kernels (:mod:`.warm`), and the view that ties them to widgets (:mod:`.view`)."""
from .build import build_geometric, build_laplacian, build_learned
from .colours import PALETTE, colour_index
from .geometry import coarse_segments, degree_ccdf, supernode_positions
from .view import HierarchyView

__all__ = ["HierarchyView", "build_geometric", "build_laplacian", "build_learned", "coarse_segments", "colour_index",
           "degree_ccdf", "supernode_positions", "PALETTE"]
