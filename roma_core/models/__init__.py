"""ROMA and its baselines, chosen by name: ``build(name, spec)``.

Names: ``roma``, ``roma_fixed`` (ROMA on the fixed geometric hierarchy), ``deeponet``, ``gnn``, ``transformer``, ``persistence``. Every model takes
a :class:`Batch` and returns a :class:`Prediction`.
"""
from __future__ import annotations

from ..errors import SpecError
from ..specs import ModelSpec
from .base import parameter_count
from .baselines import GNN, DeepONet, NeighbourTransformer, Persistence
from .batch import Batch, Prediction
from .roma import Roma, RomaFixed

#: Every model class by the name :func:`build` takes.
MODELS = {"roma": Roma, "roma_fixed": RomaFixed, "deeponet": DeepONet, "gnn": GNN, "transformer": NeighbourTransformer,
          "persistence": Persistence}


def build(name: str, spec: ModelSpec | None = None):
    """A freshly initialised model ``name`` for ``spec`` (defaults when None)."""
    if name not in MODELS:
        raise SpecError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")
    spec = (spec or ModelSpec()).validate()
    return MODELS[name](spec)


def match_width(name: str, spec: ModelSpec, target: int) -> ModelSpec:
    """A copy of ``spec`` whose ``hidden`` width gives ``name`` the parameter count closest to
    ``target`` (widths kept divisible by ``heads``)."""
    best = None
    for hidden in range(spec.heads, 1025, spec.heads):
        trial = ModelSpec.from_dict({**spec.to_dict(), "hidden": hidden})
        count = parameter_count(build(name, trial))
        if best is None or abs(count - target) < best[0]:
            best = (abs(count - target), trial)
        if count > target:
            break
    return best[1]


__all__ = ["MODELS", "Batch", "Prediction", "build", "match_width", "parameter_count", "Roma", "RomaFixed"]
