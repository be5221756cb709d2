"""Param specs: one class per configurable thing.

A spec drives the CLI flags (:func:`add_arguments` / :meth:`Spec.from_args`), the
dashboard widgets (``pn.Param(spec)``) and the JSON stored with every dataset and
checkpoint (:meth:`Spec.to_json` / :meth:`Spec.from_json`).
"""
from __future__ import annotations

import argparse
import json
import math

import param

from .errors import SpecError


class Spec(param.Parameterized):
    """Base of every spec: JSON round trip, validation and CLI flags."""

    def to_dict(self) -> dict:
        out = {"kind": type(self).__name__}
        for name in self._fields():
            value = getattr(self, name)
            out[name] = value if not isinstance(value, tuple) else list(value)
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> "Spec":
        data = dict(data)
        kind = data.pop("kind", cls.__name__)
        if kind != cls.__name__:
            raise SpecError(f"expected a {cls.__name__} spec, got a {kind} spec")
        unknown = sorted(set(data) - set(cls._fields()))
        if unknown:
            raise SpecError(f"{cls.__name__} has no parameter(s) {unknown}; valid: {cls._fields()}")
        try:
            spec = cls(**data)
        except ValueError as exc:  # param's own type/bounds checks
            raise SpecError(f"invalid {cls.__name__}: {exc}") from exc
        spec.validate()
        return spec

    @classmethod
    def from_json(cls, text: str) -> "Spec":
        return cls.from_dict(json.loads(text))

    @classmethod
    def _fields(cls) -> list[str]:
        return [n for n in cls.param if n != "name"]

    def validate(self) -> "Spec":
        """Reject NaN in numeric parameters; subclasses add their own checks."""
        for name in self._fields():
            value = getattr(self, name)
            if isinstance(value, float) and math.isnan(value):
                raise SpecError(f"{type(self).__name__}.{name} is NaN; give a number")
        return self

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> None:
        """Add one ``--flag`` per parameter, documented from its ``doc`` string."""
        for name in cls._fields():
            if name in skip:
                continue
            p = cls.param[name]
            flag = "--" + name.replace("_", "-")
            help_ = f"{p.doc or name} (default: {p.default})"
            if isinstance(p, param.Boolean):
                parser.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction,
                                    default=None, help=help_)
            elif isinstance(p, param.Selector) and not isinstance(p, param.Boolean):
                parser.add_argument(flag, dest=name, choices=list(p.objects), default=None, help=help_)
            else:
                kind = int if isinstance(p, param.Integer) else float if isinstance(p, param.Number) else str
                parser.add_argument(flag, dest=name, type=kind, default=None, help=help_)

    @classmethod
    def from_args(cls, ns: argparse.Namespace) -> "Spec":
        given = {n: getattr(ns, n) for n in cls._fields() if getattr(ns, n, None) is not None}
        return cls.from_dict(given)


class GraphSpec(Spec):
    """The S1/H2 hyperbolic graph model (SCIENCE.md §1)."""

    nodes = param.Integer(default=10_000, bounds=(1, None), doc="number of nodes N")
    mean_degree = param.Number(default=10.0, bounds=(0, None), doc="target mean degree <k>")
    gamma = param.Number(default=2.7, doc="exponent of the hidden-degree power law P(k) ~ k^-gamma (> 2)")
    beta = param.Number(default=2.0, doc="inverse temperature (> 1); inf gives the H2 zero-temperature limit")
    seed = param.Integer(default=0, doc="random seed")
    largest_component = param.Boolean(default=False, doc="keep only the largest connected component")

    def validate(self) -> "GraphSpec":
        super().validate()
        if not self.gamma > 2:
            raise SpecError(f"gamma must be > 2 (got {self.gamma}); the mean hidden degree diverges otherwise")
        if not self.beta > 1:
            raise SpecError(f"beta must be > 1 (got {self.beta}); use float('inf') for the zero-temperature limit")
        if self.nodes > 1 and not 0 < self.mean_degree < self.nodes - 1:
            raise SpecError(f"mean_degree must be in (0, N-1) = (0, {self.nodes - 1}), got {self.mean_degree}")
        return self


class ModelSpec(Spec):
    """ROMA and its baselines (SCIENCE.md §4): sizes of every part."""

    lookback = param.Integer(default=16, bounds=(1, None), doc="past states per node fed to the model (kappa)")
    horizon = param.Integer(default=8, bounds=(1, None), doc="future states predicted per node (tau)")
    channels = param.Integer(default=1, bounds=(1, None), doc="features per state (2 for Kuramoto: sin, cos)")
    hidden = param.Integer(default=32, bounds=(2, None), doc="width of node embeddings and tokens")
    layers = param.Integer(default=2, bounds=(1, None), doc="graph-encoder layers (depth budget of every model)")
    heads = param.Integer(default=4, bounds=(1, None), doc="attention heads (must divide hidden)")
    levels = param.Integer(default=3, bounds=(1, None), doc="coarse levels of the learned hierarchy")
    supernodes = param.Integer(default=64, bounds=(2, None), doc="supernodes at the first coarse level")
    reduction = param.Integer(default=2, bounds=(2, None), doc="size reduction per further level")
    manifold = param.Selector(default="poincare", objects=["poincare", "euclidean"],
                              doc="geometry of the graph encoder")
    curvature = param.Number(default=0.125, bounds=(0, None), doc="Poincare-ball curvature c (ball radius 1/sqrt(c))")
    pos_dim = param.Integer(default=8, bounds=(0, None), doc="Laplacian-eigenvector positional encodings per node")
    basis = param.Integer(default=32, bounds=(1, None), doc="DeepONet basis size p (branch x trunk)")
    trunk_layers = param.Integer(default=2, bounds=(1, None), doc="residual blocks of the decoder trunk")
    prior = param.Selector(default="geometric", objects=["geometric", "none"],
                           doc="hierarchy the learned assignments start from and are pulled toward")
    prior_strength = param.Number(default=4.0, bounds=(0, None), doc="logit bonus of the prior supernode at init")
    prior_weight = param.Number(default=0.1, bounds=(0, None), doc="weight of KL(prior || learned assignment)")
    entropy_weight = param.Number(default=0.01, bounds=(0, None), doc="weight of the assignment row-entropy loss")
    link_weight = param.Number(default=0.01, bounds=(0, None), doc="weight of the link-prediction loss")
    balance_weight = param.Number(default=0.01, bounds=(0, None), doc="weight of the supernode balance loss")

    def validate(self) -> "ModelSpec":
        super().validate()
        if self.hidden % self.heads:
            raise SpecError(f"hidden ({self.hidden}) must be divisible by heads ({self.heads})")
        if self.manifold == "poincare" and not self.curvature > 0:
            raise SpecError("curvature must be > 0 on the Poincare ball; use manifold='euclidean' for c = 0")
        if self.supernodes // self.reduction ** (self.levels - 1) < 1:
            raise SpecError(f"{self.levels} levels from {self.supernodes} supernodes with reduction "
                            f"{self.reduction} leave an empty level; use fewer levels")
        return self


class TrainSpec(Spec):
    """How a model is trained: task, windows, sampling, optimiser, checkpoints."""

    task = param.Selector(default="forecast", objects=["forecast", "effective", "both"],
                          doc="forecasting loss, effective-dynamics (PDE residual) loss, or both")
    steps = param.Integer(default=1000, bounds=(0, None), doc="optimiser steps")
    time_budget = param.Number(default=0.0, bounds=(0, None), doc="stop after this many seconds (0: no limit)")
    lr = param.Number(default=2e-3, bounds=(0, None), doc="AdamW learning rate")
    weight_decay = param.Number(default=1e-4, bounds=(0, None), doc="AdamW weight decay")
    grad_clip = param.Number(default=1.0, bounds=(0, None), doc="gradient-norm clip (0: off)")
    windows = param.Integer(default=4, bounds=(1, None), doc="time windows per step (batch)")
    stride = param.Integer(default=1, bounds=(1, None), doc="time steps between window starts")
    sampler = param.Selector(default="walk", objects=["walk", "full"],
                             doc="GraphSAINT-style random-walk subgraphs, or the full graph each step")
    roots = param.Integer(default=512, bounds=(1, None), doc="random-walk roots per subgraph")
    walk_length = param.Integer(default=16, bounds=(0, None), doc="random-walk length")
    val_fraction = param.Number(default=0.15, bounds=(0, 0.9), doc="share of time steps held out for validation")
    test_fraction = param.Number(default=0.15, bounds=(0, 0.9), doc="share of time steps held out for testing")
    noise = param.Number(default=0.0, bounds=(0, None), doc="multiplicative input noise: x * (1 + noise * N(0,1))")
    effective_weight = param.Number(default=0.1, bounds=(0, None), doc="weight of the PDE-residual loss")
    collocation = param.Integer(default=2048, bounds=(1, None), doc="PDE-residual points per step")
    features = param.Selector(default="auto", objects=["auto", "phase", "identity"],
                              doc="state transform: phase -> (sin, cos); auto picks phase for Kuramoto")
    checkpoint_every = param.Integer(default=200, bounds=(1, None), doc="steps between checkpoints")
    eval_every = param.Integer(default=200, bounds=(0, None), doc="steps between validation passes (0: off)")
    seed = param.Integer(default=0, doc="random seed (weights, sampling, noise)")
    device = param.Selector(default="auto", objects=["auto", "cpu", "cuda"], doc="compute device")


class HierarchySpec(Spec):
    """How a renormalization hierarchy is built (SCIENCE.md §3): geometric, Laplacian or neural."""

    method = param.Selector(default="geometric", objects=["geometric", "laplacian", "neural"],
                            doc="renormalization method")
    levels = param.Integer(default=None, allow_None=True, bounds=(1, None),
                           doc="coarsening steps (None: until the top level has about min_nodes nodes)")
    block = param.Integer(default=2, bounds=(2, None), doc="GRG: consecutive nodes (by angle) per supernode")
    tau = param.Number(default=None, allow_None=True, doc="LRG: diffusion time tau* (> 0; None: specific-heat peak)")
    min_nodes = param.Integer(default=16, bounds=(1, None), doc="stop coarsening below this many nodes")
    seed = param.Integer(default=0, doc="random seed of stochastic estimators (LRG at large N)")

    def validate(self) -> "HierarchySpec":
        super().validate()
        if self.tau is not None and not self.tau > 0:
            raise SpecError(f"tau must be > 0 (got {self.tau}); leave it unset to pick the specific-heat peak")
        return self
