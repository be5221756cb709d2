"""Dynamics on graphs (docs/science.md §2): Kuramoto oscillators and Burgers-like social
dynamics, integrated with torch tensors (numba kernels on CPU, torch on CUDA)."""
from ..specs import BurgersSpec, KuramotoSpec, SimulationSpec
from .ensemble import simulate_ensemble
from .simulate import resolve_device, simulate
from .systems import sender_weights

Kuramoto = KuramotoSpec
SocialBurgers = BurgersSpec

__all__ = ["Kuramoto", "SocialBurgers", "KuramotoSpec", "BurgersSpec", "SimulationSpec", "simulate",
           "simulate_ensemble", "resolve_device", "sender_weights"]
