"""Renormalization hierarchies (SCIENCE.md §3): one ``Hierarchy`` type, built by the
geometric RG (:func:`geometric`), the Laplacian RG (:func:`laplacian`) or the neural RG
(``roma_core.renorm.neural``), plus the diffusion diagnostics S(τ), C(τ)."""
from .hierarchy import Hierarchy, Level, describe

__all__ = ["Hierarchy", "Level", "describe"]
