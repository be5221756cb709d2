"""ROMA and its baselines, chosen by name: ``build(name, spec)``.

Names: ``roma``, ``roma_fixed`` (ROMA on the fixed geometric hierarchy), ``deeponet``, ``gnn``, ``transformer``,
``gino`` (the geometry-informed neural operator of the ``neuraloperator`` library), ``persistence``. Every model takes
a :class:`Batch` and returns a :class:`Prediction`.
"""
from __future__ import annotations

from ..errors import SpecError
from ..specs import ModelSpec
from .base import parameter_count
from .baselines import GNN, DeepONet, NeighbourTransformer, Persistence
from .batch import Batch, Prediction
from .gino import GINO
from .roma import Roma, RomaFixed

#: Every model class by the name :func:`build` takes.
MODELS = {"roma": Roma, "roma_fixed": RomaFixed, "deeponet": DeepONet, "gnn": GNN, "transformer": NeighbourTransformer,
          "gino": GINO, "persistence": Persistence}


def build(name: str, spec: ModelSpec | None = None):
    """A freshly initialised model.

    Parameters
    ----------
    name : str
        A key of :data:`MODELS`.
    spec : roma_core.specs.ModelSpec, optional
        Its sizes; defaults when None.

    Returns
    -------
    torch.nn.Module

    Raises
    ------
    roma_core.errors.SpecError
        For an unknown name or an invalid spec.
    """
    if name not in MODELS:
        raise SpecError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")
    spec = (spec or ModelSpec()).validate()
    return MODELS[name](spec)


def match_width(name: str, spec: ModelSpec, target: int) -> ModelSpec:
    """The spec whose width gives a model the parameter count closest to a target (for
    comparisons at equal size).

    Parameters
    ----------
    name : str
        A key of :data:`MODELS`.
    spec : roma_core.specs.ModelSpec
        Everything but ``hidden`` is kept.
    target : int
        The parameter count to match.

    Returns
    -------
    roma_core.specs.ModelSpec
        A copy with ``hidden`` chosen among multiples of ``heads``.
    """
    best = None
    for hidden in range(spec.heads, 1025, spec.heads):
        trial = ModelSpec.from_dict({**spec.to_dict(), "hidden": hidden})
        count = parameter_count(build(name, trial))
        if best is None or abs(count - target) < best[0]:
            best = (abs(count - target), trial)
        if count > target:
            break
    return best[1]


__all__ = ["MODELS", "Batch", "Prediction", "build", "match_width", "parameter_count", "Roma", "RomaFixed", "GINO"]
