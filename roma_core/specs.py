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
        """The spec as plain data.

        Returns
        -------
        dict
            ``kind`` (the class name) and every parameter's value.
        """
        out = {"kind": type(self).__name__}
        for name in self._fields():
            value = getattr(self, name)
            out[name] = value if not isinstance(value, tuple) else list(value)
        return out

    def to_json(self) -> str:
        """The spec as JSON (keys sorted), as stored with datasets and checkpoints.

        Returns
        -------
        str
        """
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> "Spec":
        """A validated spec from plain data (the inverse of :meth:`to_dict`).

        Parameters
        ----------
        data : dict
            Parameter values, with an optional ``kind`` that must name this class.

        Returns
        -------
        Spec

        Raises
        ------
        roma_core.errors.SpecError
            For another kind, unknown parameters or invalid values.
        """
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
        """A validated spec from JSON (the inverse of :meth:`to_json`).

        Parameters
        ----------
        text : str

        Returns
        -------
        Spec

        Raises
        ------
        roma_core.errors.SpecError
            As :meth:`from_dict`.
        """
        return cls.from_dict(json.loads(text))

    @classmethod
    def _fields(cls) -> list[str]:
        return [n for n in cls.param if n != "name"]

    def validate(self) -> "Spec":
        """Check the values together; subclasses add their own checks.

        Returns
        -------
        Spec
            ``self``, for chaining.

        Raises
        ------
        roma_core.errors.SpecError
            For NaN in a numeric parameter or values outside their ranges.
        """
        for name in self._fields():
            value = getattr(self, name)
            if isinstance(value, float) and math.isnan(value):
                raise SpecError(f"{type(self).__name__}.{name} is NaN; give a number")
        return self

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> None:
        """Add one ``--flag`` per parameter to a command-line parser, documented from its
        ``doc`` string (defaults are left to the spec).

        Parameters
        ----------
        parser : argparse.ArgumentParser
            The parser or argument group to extend.
        skip : tuple of str
            Parameters to leave out.
        """
        for name in cls._fields():
            if name in skip:
                continue
            p = cls.param[name]
            flag = "--" + name.replace("_", "-")
            help_ = f"{p.doc or name} (default: {p.default})".replace("%", "%%")   # argparse formats help with %
            if isinstance(p, param.Boolean):
                parser.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction,
                                    default=None, help=help_)
            elif isinstance(p, param.Selector) and not isinstance(p, param.Boolean):
                parser.add_argument(flag, dest=name, choices=list(p.objects), default=None, help=help_)
            else:
                parser.add_argument(flag, dest=name, type=cls.text_type(name), default=None, help=help_)

    @classmethod
    def text_type(cls, name: str) -> type:
        """What a parameter's value is read as from text (a flag, ``key=value``).

        Parameters
        ----------
        name : str
            A parameter of the spec.

        Returns
        -------
        type
            ``bool``, ``int``, ``float`` or ``str``.
        """
        p = cls.param[name]
        if isinstance(p, param.Boolean):
            return bool
        return int if isinstance(p, param.Integer) else float if isinstance(p, param.Number) else str

    @classmethod
    def from_args(cls, ns: argparse.Namespace) -> "Spec":
        """A validated spec from parsed flags (those given; the rest keep their defaults).

        Parameters
        ----------
        ns : argparse.Namespace
            Parsed by a parser extended with :meth:`add_arguments`.

        Returns
        -------
        Spec

        Raises
        ------
        roma_core.errors.SpecError
            For invalid values.
        """
        given = {n: getattr(ns, n) for n in cls._fields() if getattr(ns, n, None) is not None}
        return cls.from_dict(given)


class GraphSpec(Spec):
    """The S1/H2 hyperbolic graph model (docs/science.md §1)."""

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


#: ModelSpec options that were taken out: name -> (the value that meant "off", the last
#: version that had the option). A spec or checkpoint written before stores every field, so
#: one that left an option off still loads; one that used it does not (see ModelSpec.from_dict).
REMOVED_OPTIONS = {
    "far_dropout": (0.0, "0.1.0"),
    "neighbour_field": (False, "0.1.0"),
    "angular_neighbours": (0, "0.1.0"),
    "node_attention": (False, "0.1.0"),
    "far_response": (False, "0.1.0"),
}


class ModelSpec(Spec):
    """ROMA and its baselines (docs/science.md §4): sizes of every part."""

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
    near_field = param.Integer(default=5, bounds=(0, 6),
                               doc="scales of each node's angular neighbourhood (4·(2r + 1) nodes in angular "
                                   "order, r = 0, 2, 8, 32, ...) whose whole-graph mean state ROMA reads beside "
                                   "the supernodes' far field (0: none)")
    near_frame = param.Selector(default="node", objects=["global", "node"],
                                doc="frame of the near field's phases: each node's own phase at each frame, "
                                    "which turns a neighbourhood's mean state into the terms R sin(ψ − θ_i), "
                                    "R cos(ψ − θ_i) the Kuramoto coupling reads, or the window's (global); "
                                    "ignored unless the model is a phase model")
    supernode_identity = param.Boolean(default=True,
                                       doc="give each supernode token a learned embedding of its index and "
                                           "of its block's angle (off: tokens come from their members and far "
                                           "field only, so nothing ties a block's index to the training graphs)")
    phase_gauge = param.Boolean(default=True, doc="phase features (C = 2): turn each window so that its mean "
                                "phase at the last input frame is 0, read the phase increments, forecast each "
                                "node's last phase turned by a learned angle, and turn the forecast back, so a "
                                "global phase shift of the input shifts the forecast exactly (Kuramoto's "
                                "symmetry); ignored for C = 1")
    predictive = param.Selector(default="point", objects=["point", "vbll"],
                                doc="what the decoder forecasts: a point, or also a learned Gaussian predictive "
                                    "distribution (a variational Bayesian last layer on the decoder's branch "
                                    "weights with a learned, input-dependent noise, trained by its ELBO beside "
                                    "the point loss; for phase models on the turning angle). Its intervals and "
                                    "CRPS are scored beside the conformal ones (roma evaluate --intervals)")
    prior = param.Selector(default="geometric", objects=["geometric", "none"],
                           doc="hierarchy the learned assignments start from and are pulled toward")
    prior_strength = param.Number(default=4.0, bounds=(0, None), doc="logit bonus of the prior supernode at init")
    prior_weight = param.Number(default=0.1, bounds=(0, None), doc="weight of KL(prior || learned assignment)")
    entropy_weight = param.Number(default=0.01, bounds=(0, None), doc="weight of the assignment row-entropy loss")
    link_weight = param.Number(default=0.01, bounds=(0, None), doc="weight of the link-prediction loss")
    balance_weight = param.Number(default=0.01, bounds=(0, None), doc="weight of the supernode balance loss")

    @classmethod
    def from_dict(cls, data: dict) -> "ModelSpec":
        """A validated spec from plain data, as :meth:`Spec.from_dict`; an option of
        ``REMOVED_OPTIONS`` is dropped where it holds its "off" value and refused where
        it does not (the model it describes no longer exists).

        Parameters
        ----------
        data : dict
            Parameter values, with an optional ``kind`` that must name this class.

        Returns
        -------
        ModelSpec

        Raises
        ------
        roma_core.errors.SpecError
            For a removed option that is on, another kind, unknown parameters or invalid values.
        """
        data = dict(data)
        removed = []
        for name, (off, version) in REMOVED_OPTIONS.items():
            value = data.pop(name, off)
            if value != off:
                removed.append(f"option {name} = {value!r} was removed after roma-explorer {version}, "
                               f"the last version that has it")
        if removed:
            raise SpecError(f"{cls.__name__} {'; '.join(removed)}; load this spec or checkpoint with that version")
        return super().from_dict(data)

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
    lr_schedule = param.Selector(default="cosine", objects=["cosine", "constant"],
                                 doc="learning rate over the steps: a linear warm-up over min(100, steps/20) "
                                     "steps, then a cosine decay from lr to 0 at `steps`; or constant")
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
    extra_spans = param.Selector(default="train", objects=["train", "all"],
                                 doc="windows drawn from the second and later graphs of a several-graph run: their "
                                     "train span only, or every window (graphs only trained on; validation and "
                                     "test stay on the first graph)")
    noise = param.Number(default=0.0, bounds=(0, None), doc="multiplicative input noise: x * (1 + noise * N(0,1))")
    effective_weight = param.Number(default=0.1, bounds=(0, None), doc="weight of the PDE-residual loss")
    collocation = param.Integer(default=2048, bounds=(1, None), doc="PDE-residual points per step")
    residual = param.Selector(default="autograd", objects=["autograd", "stencil"],
                              doc="PDE residual: derivatives by autograd in each node's own angle, or by finite "
                                  "differences over its graph neighbours in the batch, in the simulator's graph form "
                                  "(autograd in time only)")
    features = param.Selector(default="auto", objects=["auto", "phase", "identity"],
                              doc="state transform: phase -> (sin, cos); auto picks phase for Kuramoto")
    checkpoint_every = param.Integer(default=200, bounds=(1, None), doc="steps between checkpoints")
    eval_every = param.Integer(default=200, bounds=(0, None), doc="steps between validation passes (0: off)")
    patience = param.Integer(default=0, bounds=(0, None),
                             doc="stop early once this many validation passes in a row have not lowered the "
                                 "best validation error by 1 % (0: train every step)")
    seed = param.Integer(default=0, doc="random seed (weights, sampling, noise)")
    device = param.Selector(default="auto", objects=["auto", "cpu", "cuda"], doc="compute device")
    pipeline = param.Selector(default="auto", objects=["auto", "host", "device"],
                              doc="where batches are built: on the host (numpy, then copied to the device) or on "
                                  "the compute device (states, encodings and the walk sampler kept there, numbers "
                                  "from a torch generator: other subgraphs for a seed, the same distribution); "
                                  "auto: device on CUDA, host on the CPU")
    precision = param.Selector(default="float32", objects=["float32", "bf16"],
                               doc="the forward pass in float32, or under bfloat16 autocast (weights, optimiser "
                                   "and losses stay float32)")
    threads = param.Integer(default=1, bounds=(0, None),
                            doc="CPU threads for torch (0: torch's default); 1 is fastest on a shared CPU")


class HierarchySpec(Spec):
    """How a renormalization hierarchy is built (docs/science.md §3): geometric, Laplacian or neural."""

    method = param.Selector(default="geometric", objects=["geometric", "laplacian", "neural"],
                            doc="renormalization method")
    levels = param.Integer(default=None, allow_None=True, bounds=(1, None),
                           doc="coarsening steps (None: until the top level has about min_nodes nodes)")
    block = param.Integer(default=2, bounds=(2, None), doc="GRG: consecutive nodes (by angle) per supernode")
    tau = param.Number(default=None, allow_None=True, doc="LRG: diffusion time tau* (> 0; None: chosen by rule)")
    reduction = param.Number(default=None, allow_None=True,
                             doc="LRG: N_l / N_(l+1) per level (> 1; None: 2)")
    rule = param.Selector(default="modes", objects=["modes", "max", "half"],
                          doc="LRG: tau* where N_l / reduction diffusion modes are left (modes), at the "
                              "specific-heat peak (max) or where C(tau) has fallen to half of it (half)")
    criterion = param.Selector(default="auto", objects=["auto", "exact", "sketch"],
                               doc="LRG: Kadanoff criterion, dense exact or random-feature sketch")
    features = param.Integer(default=64, bounds=(2, None), doc="LRG: random features of the sketch criterion")
    min_nodes = param.Integer(default=16, bounds=(1, None), doc="stop coarsening below this many nodes")
    seed = param.Integer(default=0, doc="random seed of stochastic estimators (LRG at large N)")

    def validate(self) -> "HierarchySpec":
        super().validate()
        if self.tau is not None and not self.tau > 0:
            raise SpecError(f"tau must be > 0 (got {self.tau}); leave it unset to pick the specific-heat peak")
        if self.reduction is not None and not self.reduction > 1:
            raise SpecError(f"reduction must be > 1 (got {self.reduction}): it is N_l / N_(l+1)")
        return self


def _finite(spec: Spec, *names: str, low: float | None = None, strict: bool = False) -> None:
    """Reject infinite values (NaN is caught by Spec.validate) and values below ``low``."""
    for name in names:
        value = getattr(spec, name)
        if not math.isfinite(value):
            raise SpecError(f"{type(spec).__name__}.{name} must be finite, got {value}")
        if low is not None and (value <= low if strict else value < low):
            rel = ">" if strict else ">="
            raise SpecError(f"{type(spec).__name__}.{name} must be {rel} {low}, got {value}")


def _long_range_ok(spec: Spec) -> None:
    _finite(spec, "long_range")
    _finite(spec, "long_range_exponent", low=0.0)
    if spec.long_range_exponent > 8:
        raise SpecError(f"long_range_exponent must be <= 8 (got {spec.long_range_exponent}); a steeper kernel "
                        "couples nearest neighbours only, which the graph coupling already does")


class KuramotoSpec(Spec):
    """Kuramoto oscillators on a graph (docs/science.md §2.1):
    dθ_i/dt = ω_i + K(t) Σ_j W_ij sin(θ_j − θ_i) + σ ξ_i,  W_ij = A_ij k_j^α / Σ_k A_ik k_k^α."""

    coupling = param.Number(default=5.0, doc="coupling strength K")
    schedule = param.Selector(default="modulated", objects=["modulated", "constant"],
                              doc="K(t): constant K, or K[a + (1-a) sin²φ ((1-d)|cos gφ|^b + d)], φ = π p t/T")
    mod_a = param.Number(default=0.5, doc="modulated K(t): floor a")
    mod_b = param.Number(default=10.0, doc="modulated K(t): pulse sharpness exponent b")
    mod_g = param.Number(default=10.0, doc="modulated K(t): pulse frequency g")
    mod_d = param.Number(default=0.5, doc="modulated K(t): mix d between pulses and plateau")
    mod_p = param.Number(default=1.0, doc="modulated K(t): number of half-sweeps p over the period T")
    mod_period = param.Number(default=0.0, doc="modulated K(t): period T (0 = the run's t_end)")
    alpha = param.Number(default=0.5, doc="sender-weight exponent α (w_j = k_j^α; 0 = neighbour mean)")
    omega_dist = param.Selector(default="normal", objects=["normal", "lorentzian"],
                                doc="distribution of natural frequencies ω")
    omega_scale = param.Number(default=1.0, doc="ω scale: standard deviation (normal) or half-width Δ (lorentzian)")
    omega_clip = param.Number(default=5.0, doc="clip ω to ±omega_clip before centring")
    omega_center = param.Boolean(default=True, doc="subtract the mean of ω (co-rotating frame)")
    initial = param.Selector(default="normal", objects=["normal", "uniform"],
                             doc="initial phases: N(0, s²) or uniform on [0, 2π)")
    initial_spread = param.Number(default=5.0, doc="s, the standard deviation of normal initial phases")
    noise = param.Number(default=0.0, doc="noise strength σ (> 0 integrates with Euler–Maruyama)")
    long_range = param.Number(default=0.0, doc="long-range coupling K_lr: + K_lr Σ_j d_ij^-s sin(θ_j − θ_i) / "
                                               "Σ_j d_ij^-s over all pairs (0 = off)")
    long_range_exponent = param.Number(default=1.0, doc="exponent s of the long-range kernel d^-s (0 = mean field, "
                                                        "at most 8)")
    long_range_distance = param.Selector(default="angular", objects=["angular", "hyperbolic"],
                                         doc="d_ij of the long-range term: angular distance on S1, or H2 distance "
                                             "(needs radii; summed directly, at most 50,000 nodes)")
    long_range_order = param.Integer(default=8, bounds=(1, 32),
                                     doc="Chebyshev points per bin of the fast long-range sum (error ~ 5.8^-order)")

    def validate(self) -> "KuramotoSpec":
        super().validate()
        _finite(self, "coupling", "mod_a", "mod_g", "mod_d", "mod_p", "alpha")
        _finite(self, "mod_b", "mod_period", "omega_scale", "initial_spread", "noise", low=0.0)
        _long_range_ok(self)
        _finite(self, "omega_clip", low=0.0, strict=True)
        return self


class BurgersSpec(Spec):
    """Burgers-like social dynamics on the S1 graph (docs/science.md §2.2):
    du_i/dt = −F u_i Σ_{j∈up(i)} W_ij (u_i − u_j)/(θ_i − θ_j) + ν Σ_j W_ij (u_j − u_i)/h_ij² + s_i(t) + σ ξ_i."""

    advection = param.Number(default=1.0, doc="advection strength F")
    viscosity = param.Number(default=1e-4, doc="viscosity ν")
    alpha = param.Number(default=0.0, doc="sender-weight exponent α (w_j = k_j^α; 0 = neighbour mean)")
    gap_floor = param.Number(default=1.0, doc="smallest angular gap h used, in units of the mean spacing 2π/N "
                                              "(tames nodes at almost equal angles; 0 = exact gaps)")
    initial = param.Selector(default="bump", objects=["bump", "sine", "random"],
                             doc="initial u: a Gaussian bump at a random angle, offset + A sin(mθ), or offset + A·U(0,1)")
    initial_amplitude = param.Number(default=1.0, doc="amplitude A of the initial state")
    initial_offset = param.Number(default=0.0, doc="constant added to the initial state")
    initial_width = param.Number(default=0.3, doc="angular width (radians) of the initial bump")
    initial_mode = param.Integer(default=1, bounds=(0, None), doc="wavenumber m of the sine initial state")
    sources = param.Integer(default=0, bounds=(0, None), doc="number of source nodes (bursts of activity)")
    source_amplitude = param.Number(default=1.0, doc="peak rate of a burst")
    source_width = param.Number(default=0.1, doc="duration (Gaussian width in time) of a burst")
    noise = param.Number(default=0.0, doc="noise strength σ (> 0 integrates with Euler–Maruyama)")
    long_range = param.Number(default=0.0, doc="long-range diffusion ν_lr: + ν_lr Σ_j d_ij^-s (u_j − u_i) / "
                                               "Σ_j d_ij^-s over all pairs, d the angular distance (0 = off)")
    long_range_exponent = param.Number(default=1.0, doc="exponent s of the long-range kernel d^-s (0 = mean field, "
                                                        "at most 8)")
    long_range_order = param.Integer(default=8, bounds=(1, 32),
                                     doc="Chebyshev points per bin of the fast long-range sum (error ~ 5.8^-order)")

    def validate(self) -> "BurgersSpec":
        super().validate()
        _finite(self, "advection", "initial_amplitude", "initial_offset", "source_amplitude", "alpha")
        _finite(self, "viscosity", "gap_floor", "noise", low=0.0)
        _long_range_ok(self)
        _finite(self, "initial_width", "source_width", low=0.0, strict=True)
        return self


class SimulationSpec(Spec):
    """How to integrate a dynamics spec: time span, step, saving, seed, device and precision."""

    t_end = param.Number(default=10.0, doc="simulated time T (the run takes round(T/dt) steps)")
    dt = param.Number(default=1e-3, doc="time step")
    save_every = param.Integer(default=10, doc="save one frame every this many steps")
    seed = param.Integer(default=0, doc="random seed (frequencies, initial state, sources, noise)")
    device = param.String(default="auto", doc="auto, cpu, cuda or cuda:N")
    dtype = param.Selector(default="float32", objects=["float32", "float64"], doc="floating-point precision")
    method = param.Selector(default="auto", objects=["auto", "rk4", "euler_maruyama"],
                            doc="integrator (auto: rk4 without noise, euler_maruyama with noise)")
    members = param.Integer(default=1, doc="ensemble members (seeds seed, seed+1, ...)")

    def validate(self) -> "SimulationSpec":
        super().validate()
        if not (math.isfinite(self.dt) and self.dt > 0):
            raise SpecError(f"dt must be a positive number, got {self.dt}")
        if not (math.isfinite(self.t_end) and self.t_end >= self.dt):
            raise SpecError(f"t_end must be >= dt = {self.dt} (at least one step), got {self.t_end}")
        if self.save_every < 1:
            raise SpecError(f"save_every must be >= 1 step, got {self.save_every}")
        if self.members < 1:
            raise SpecError(f"members must be >= 1, got {self.members}")
        return self
