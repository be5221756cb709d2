"""Renormalization hierarchies (docs/science.md §3): one ``Hierarchy`` type, built by the
geometric RG (:func:`geometric`), the Laplacian RG (:func:`laplacian`) or the neural RG
(``roma_core.renorm.neural``), plus the diffusion diagnostics S(τ), C(τ)."""
from .diffusion import diffusion_profile, peak_tau, tau_for_modes
from .geometric import geometric, spectral_angles
from .hierarchy import Hierarchy, Level, describe
from .laplacian import choose_tau, heat_similarity, laplacian
from .merge import merge_along_edges

__all__ = ["Hierarchy", "Level", "choose_tau", "describe", "diffusion_profile", "geometric", "heat_similarity",
           "laplacian", "merge_along_edges", "peak_tau", "spectral_angles", "tau_for_modes"]
