"""Renormalization hierarchies (docs/science.md §3): one ``Hierarchy`` type, built by the
geometric RG (:func:`geometric`), the Laplacian RG (:func:`laplacian`) or the neural RG
(``roma_core.renorm.neural``), plus the diffusion diagnostics S(τ), C(τ)."""
from .diffusion import diffusion_profile, peak_tau
from .geometric import geometric, spectral_angles
from .hierarchy import Hierarchy, Level, describe
from .laplacian import kadanoff_labels, laplacian, tau_for_reduction

__all__ = ["Hierarchy", "Level", "describe", "diffusion_profile", "geometric", "kadanoff_labels", "laplacian",
           "peak_tau", "spectral_angles", "tau_for_reduction"]
