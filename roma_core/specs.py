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
