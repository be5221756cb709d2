"""The two dynamics as right-hand sides ``rhs(t, y, out)`` on torch tensors.

Random per-node inputs are drawn in float64 with numpy from the seed (so float32 and
float64 runs, and CPU and CUDA runs, start from the same inputs). On CPU the coupling is
a numba kernel working on the tensors' memory, and a Kuramoto state is integrated in the
kernel's node order (``System.internal``/``external`` convert; saved frames are always in
the graph's order); on CUDA it is a fused Triton kernel in the same order (``triton_kernels``)
when triton imports, else torch (CSR SpMM for
Kuramoto, gather + ``index_add_`` for Burgers). A complete graph uses the mean-field form
of the same equation (O(N) per evaluation).
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import torch

from ..errors import SimulationError
from ..specs import BurgersSpec, KuramotoSpec
from . import kernels
from .long_range import LongRange


def sender_weights(graph, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """The coupling weights W_ij = A_ij w_j / Σ_k A_ik w_k in factored form (docs/science.md §2.1).

    Parameters
    ----------
    graph : roma_core.graphs.Graph
        The graph (its degrees k).
    alpha : float
        Sender-weight exponent α; 0 averages over neighbours.

    Returns
    -------
    w : numpy.ndarray
        ``w_j = k_j^α`` per node.
    inv : numpy.ndarray
        ``1 / Σ_k A_ik w_k`` per node (0 for nodes without neighbours).
    """
    deg = graph.degree.astype(np.float64)
    w = np.where(deg > 0, np.power(np.maximum(deg, 1.0), alpha), 0.0)
    norm = graph.adjacency() @ w
    inv = np.zeros_like(norm)
    inv[norm > 0] = 1.0 / norm[norm > 0]
    return w, inv


def burgers_edge_terms(ui, uj, d, h, w):
    """The graph form of Burgers on edges i → j: the diffusion w (u_j − u_i)/h² and, on
    upwind edges (by the sign of u_i and of the signed gap d), the advection
    w (u_j − u_i)/(sign(d) h); 0 on the others. The simulator and the effective-dynamics
    residual (``BurgersResidual.across_edges``) both take them from here.

    Parameters
    ----------
    ui, uj : torch.Tensor
        States at the edges' two ends.
    d : torch.Tensor
        Signed angular gaps θ_j − θ_i.
    h : torch.Tensor
        Gaps used (|d|, floored).
    w : torch.Tensor
        Edge weights.

    Returns
    -------
    diffusion, advection : torch.Tensor
        Per edge, broadcast over the inputs' shapes.
    """
    du = uj - ui
    up = ((ui > 0) & (d < 0)) | ((ui < 0) & (d > 0))
    side = torch.where(d < 0, -1.0, 1.0).to(du.dtype)     # never 0: both branches of where are differentiated
    return w * du / (h * h), torch.where(up, w * du / (side * h), torch.zeros_like(du))


def is_complete(graph) -> bool:
    """All N(N−1) off-diagonal entries present, no weights (each row has every other node).

    Parameters
    ----------
    graph : Graph

    Returns
    -------
    bool
    """
    n = graph.num_nodes
    if n < 2 or graph.weights is not None or graph.nnz != n * (n - 1):
        return False
    return not np.any(graph.indices == graph.row_ids())


class System:
    """Common state: graph arrays on the device, the backend, the per-node inputs.

    Parameters
    ----------
    spec : KuramotoSpec or BurgersSpec
        The dynamics' parameters.
    graph : Graph
        The graph.
    device : torch.device
        Where the state is integrated.
    dtype : torch.dtype
        float32 or float64.
    backend : str
        ``numba``, ``torch`` or ``triton``.
    """

    name = ""
    state_name = ""
    state_units = ""
    observable = ""

    def __init__(self, spec, graph, device: torch.device, dtype: torch.dtype, backend: str):
        self.spec, self.graph, self.device, self.dtype = spec, graph, device, dtype
        self.np_dtype = np.float32 if dtype == torch.float32 else np.float64
        self.backend = backend
        self.bounds = kernels.row_blocks(graph.indptr)
        self.ew = graph.weights if graph.weights is not None else np.zeros(0)
        self.inputs: dict[str, np.ndarray] = {}
        self.order: np.ndarray | None = None  # the state's node r is the graph's node order[r]

    def internal(self, x: np.ndarray) -> np.ndarray:
        """A per-node array in the order the state is integrated in.

        Parameters
        ----------
        x : numpy.ndarray
            One value per node, in the graph's order.

        Returns
        -------
        numpy.ndarray
        """
        return x if self.order is None else x[self.order]

    def external(self, y: np.ndarray) -> np.ndarray:
        """A state in the graph's node order.

        Parameters
        ----------
        y : numpy.ndarray
            A state in the integration's order.

        Returns
        -------
        numpy.ndarray
        """
        if self.order is None:
            return y
        out = np.empty_like(y)
        out[self.order] = y
        return out

    def tensor(self, array) -> torch.Tensor:
        """A contiguous tensor of the system's dtype on its device.

        Parameters
        ----------
        array : array_like

        Returns
        -------
        torch.Tensor
        """
        return torch.as_tensor(np.ascontiguousarray(array, dtype=self.np_dtype), device=self.device)

    def _torch_csr(self, values: np.ndarray) -> torch.Tensor:
        g = self.graph
        with warnings.catch_warnings():      # torch flags CSR tensors as beta
            warnings.simplefilter("ignore", UserWarning)
            return torch.sparse_csr_tensor(torch.as_tensor(g.indptr, device=self.device),
                                           torch.as_tensor(g.indices.astype(np.int64), device=self.device),
                                           self.tensor(values), size=(g.num_nodes, g.num_nodes))

    long_range: LongRange | None = None

    @property
    def sparse_backend(self) -> str:
        """How the long-range operator runs its sparse products: as this system's backend
        where that is numba or torch, else the operator's own choice for the device."""
        return self.backend if self.backend in ("numba", "torch") else "auto"

    def rhs(self, t: float, y: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """The graph terms, plus the long-range term where it is switched on.

        Parameters
        ----------
        t : float
            The time.
        y : torch.Tensor
            The state, in the integration's node order.
        out : torch.Tensor
            Receives the result.

        Returns
        -------
        torch.Tensor
            ``out``.
        """
        self.graph_rhs(t, y, out)
        if self.long_range is not None:
            self.add_long_range(y, out)
        return out

    def capturable(self) -> bool:
        """Whether RK4 steps can be captured as a CUDA graph (:class:`integrate.GraphedRK4`):
        the Triton kernels on CUDA with every time-dependent number read from the device
        (:meth:`rhs_ref`); the long-range term is left out.

        Returns
        -------
        bool
        """
        return self.backend == "triton" and self.device.type == "cuda" and self.long_range is None

    def coefficient(self, t: float) -> float:
        """The time-dependent number :meth:`rhs_ref` reads from the device at time ``t``.

        Parameters
        ----------
        t : float
            The time.

        Returns
        -------
        float
            0 in this base class.
        """
        return 0.0

    def rhs_ref(self, ref: torch.Tensor, y: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """:meth:`rhs` with the time entering only through ``ref`` (a float64 tensor on the
        device holding :meth:`coefficient` of the time), read when the kernels run.

        Parameters
        ----------
        ref : torch.Tensor
            One float64 value on the device.
        y : torch.Tensor
            The state, in the integration's node order.
        out : torch.Tensor
            Receives the result.

        Returns
        -------
        torch.Tensor
            ``out``.

        Raises
        ------
        NotImplementedError
            In this base class (systems without Triton kernels).
        """
        raise NotImplementedError

    def entry_weights(self, w: np.ndarray, inv: np.ndarray) -> np.ndarray:
        """W_ij per stored entry (torch backend only; the numba kernels never form it).

        Parameters
        ----------
        w : numpy.ndarray
            The sender weights w_j.
        inv : numpy.ndarray
            The row normalisations 1 / Σ_k A_ik w_k.

        Returns
        -------
        numpy.ndarray
            One weight per stored entry, in CSR order.
        """
        g = self.graph
        a = g.weights if g.weights is not None else 1.0
        return a * w[g.indices] * inv[g.row_ids()]


class KuramotoSystem(System):
    """Kuramoto oscillators dθ_i/dt = ω_i + K(t) Σ_j W_ij sin(θ_j − θ_i) (plus the long-range
    term when switched on), observed through the order parameter R(t).

    Parameters
    ----------
    spec : KuramotoSpec
        The dynamics' parameters.
    graph : Graph
        The graph.
    device : torch.device
        Where the state is integrated.
    dtype : torch.dtype
        float32 or float64.
    backend : str
        ``numba``, ``torch`` or ``triton`` (Kuramoto on a complete graph: ``mean_field``).
    t_end : float
        The run's end time (the period of the coupling's schedule unless ``mod_period`` is set).
    """
    name = "kuramoto"
    state_name = "theta"
    state_units = "rad"
    observable = "order_parameter"

    def __init__(self, spec: KuramotoSpec, graph, device, dtype, backend, t_end: float):
        super().__init__(spec, graph, device, dtype, backend)
        self.period = spec.mod_period if spec.mod_period > 0 else t_end
        w, inv = sender_weights(graph, spec.alpha)
        self.mean_field = is_complete(graph)
        self.weighted = spec.alpha != 0 or graph.weights is not None
        if self.mean_field:
            self.backend = "mean_field"
        elif self.backend == "triton":
            from .triton_kernels import KuramotoRHS
            self.fused = KuramotoRHS(graph, w, inv, device, dtype)
            self.order = self.fused.order
        elif self.backend == "torch":
            self.W = self._torch_csr(self.entry_weights(w, inv))
        else:
            self.w, self.inv = w.astype(self.np_dtype), inv.astype(self.np_dtype)
            n = graph.num_nodes
            self.sn, self.cs = np.empty(n, self.np_dtype), np.empty(n, self.np_dtype)
            self.ws = np.zeros(2 * n + 2, self.np_dtype)
            self.order, ptr, idx, ew = kernels.padded_rows(graph.indptr, graph.indices, graph.weights)
            self.layout = (ptr, idx, ew.astype(self.np_dtype))
            self.w, self.inv = self.internal(self.w), self.internal(self.inv)
            self.bounds = kernels.row_blocks(ptr)
        if spec.long_range:
            self.long_range = LongRange.on_graph(graph, spec.long_range_exponent, spec.long_range_order,
                                                 spec.long_range_distance, self.order, device, dtype,
                                                 self.sparse_backend)

    def draw(self, rng: np.random.Generator, given: dict) -> None:
        """Draw the natural frequencies ω and the initial phases (``given`` ones are used as they are);
        they are kept in :attr:`inputs`.

        Parameters
        ----------
        rng : numpy.random.Generator
            The run's generator.
        given : dict
            ``omega`` and/or ``initial`` given by the caller, in the graph's node order.
        """
        s, n = self.spec, self.graph.num_nodes
        if "omega" in given:
            omega = np.asarray(given["omega"], dtype=np.float64)
        else:
            raw = rng.standard_normal(n) if s.omega_dist == "normal" else rng.standard_cauchy(n)
            omega = np.clip(s.omega_scale * raw, -s.omega_clip, s.omega_clip)
            if s.omega_center:
                omega = omega - omega.mean()
        if "initial" in given:
            theta0 = np.asarray(given["initial"], dtype=np.float64)
        elif s.initial == "normal":
            theta0 = s.initial_spread * rng.standard_normal(n)
        else:
            theta0 = rng.uniform(0.0, 2 * math.pi, n)
        self.inputs = {"omega": omega, "initial": theta0}
        self.omega = self.tensor(self.internal(omega))

    def coupling_at(self, t: float) -> float:
        """The coupling K(t) of the spec's schedule.

        Parameters
        ----------
        t : float
            The time.

        Returns
        -------
        float
        """
        s = self.spec
        if s.schedule == "constant":
            return s.coupling
        phi = math.pi * s.mod_p * t / self.period
        shape = (1 - s.mod_d) * abs(math.cos(s.mod_g * phi)) ** s.mod_b + s.mod_d
        return s.coupling * (s.mod_a + (1 - s.mod_a) * math.sin(phi) ** 2 * shape)

    def graph_rhs(self, t: float, y: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """The graph terms ω_i + K(t) Σ_j W_ij sin(θ_j − θ_i).

        Parameters
        ----------
        t : float
            The time.
        y : torch.Tensor
            The state, in the integration's node order.
        out : torch.Tensor
            Receives the result.

        Returns
        -------
        torch.Tensor
            ``out``.
        """
        k = self.coupling_at(t)
        if self.backend == "numba":
            kernels.kuramoto_rhs(self.omega.numpy(), k, *self.layout, self.inv, y.numpy(), self.w, self.sn,
                                 self.cs, self.ws, out.numpy(), self.bounds, self.np_dtype(0))
            return out
        if self.backend == "triton":
            return self.fused(k, y, self.omega, out)
        s, c = torch.sin(y), torch.cos(y)
        if self.backend == "mean_field":      # W_ij = 1/(N−1); the j = i term cancels
            n = y.shape[0]
            coup = (c * s.sum() - s * c.sum()) / (n - 1)
        else:
            m = self.W @ torch.stack([s, c], 1)
            coup = c * m[:, 0] - s * m[:, 1]
        torch.add(self.omega, coup, alpha=k, out=out)
        return out

    def coefficient(self, t: float) -> float:
        return self.coupling_at(t)

    def rhs_ref(self, ref: torch.Tensor, y: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        return self.fused(0.0, y, self.omega, out, kref=ref)

    def add_long_range(self, y: torch.Tensor, out: torch.Tensor) -> None:
        """``+ K_lr Σ_j d_ij^-s sin(θ_j − θ_i) / Σ_j d_ij^-s = K_lr (cos θ_i S_i − sin θ_i C_i)``.

        Parameters
        ----------
        y : torch.Tensor
            The state, in the integration's node order.
        out : torch.Tensor
            The right-hand side, added to in place.
        """
        s, c = torch.sin(y), torch.cos(y)
        m = self.long_range(torch.stack([s, c], 1))
        out.add_(c * m[:, 0] - s * m[:, 1], alpha=self.spec.long_range)

    def observe(self, y: torch.Tensor) -> float:
        """The order parameter R = |mean_j exp(iθ_j)|.

        Parameters
        ----------
        y : torch.Tensor
            The state, in the integration's node order.

        Returns
        -------
        float
        """
        return float(torch.abs(torch.complex(torch.cos(y).mean(), torch.sin(y).mean())))


class BurgersSystem(System):
    """Social Burgers dynamics on the circle of node angles: upwind advection and diffusion
    over the gaps h_ij to the neighbours, optional Gaussian source bursts and the long-range
    term; observed through the total mass Σ_i u_i.

    Parameters
    ----------
    spec : BurgersSpec
        The dynamics' parameters.
    graph : Graph
        The graph.
    device : torch.device
        Where the state is integrated.
    dtype : torch.dtype
        float32 or float64.
    backend : str
        ``numba``, ``torch`` or ``triton`` (Kuramoto on a complete graph: ``mean_field``).
    t_end : float
        The run's end time (the source bursts' onsets are drawn in [0, t_end)).

    Raises
    ------
    SimulationError
        If the graph has no node angles, or two neighbours share an angle with ``gap_floor`` 0.
    """
    name = "burgers"
    state_name = "u"
    state_units = "1"
    observable = "mass"

    def __init__(self, spec: BurgersSpec, graph, device, dtype, backend, t_end: float):
        super().__init__(spec, graph, device, dtype, backend)
        if graph.theta is None:
            raise SimulationError("Burgers dynamics needs node angles (graph.theta) for the upwind direction "
                                  "and the gaps h_ij; use a hyperbolic graph or give theta when building it")
        self.t_end = t_end
        n = graph.num_nodes
        self.hmin = spec.gap_floor * 2 * math.pi / n
        w, inv = sender_weights(graph, spec.alpha)
        self.pos = np.mod(graph.theta, 2 * math.pi)
        if self.hmin == 0 and graph.nnz:
            d = np.abs(self.pos[graph.indices] - self.pos[graph.row_ids()])
            if np.min(np.minimum(d, 2 * math.pi - d)) == 0:
                raise SimulationError("two neighbours sit at the same angle (gap 0); set gap_floor > 0")
        self._w_inv = (w, inv)
        if spec.long_range:
            self.long_range = LongRange.on_graph(graph, spec.long_range_exponent, spec.long_range_order,
                                                 device=device, dtype=dtype, backend=self.sparse_backend)
        if self.backend == "triton":
            from .triton_kernels import BurgersRHS
            self.fused = BurgersRHS(graph, self.pos, w, inv, spec, self.hmin, device, dtype)
        elif self.backend == "torch":
            rows = torch.as_tensor(graph.row_ids(), device=device)
            cols = torch.as_tensor(graph.indices.astype(np.int64), device=device)
            self.rows, self.cols = rows, cols
            self.W = self.tensor(self.entry_weights(w, inv))
            self.pos_t = torch.as_tensor(self.pos, device=device)   # angles stay float64: gaps are ~2π/N
        else:
            self.w, self.inv = w.astype(self.np_dtype), inv.astype(self.np_dtype)

    def stability_rate(self, u0: np.ndarray) -> float:
        """A bound (Gershgorin) on the fastest rate of the linearised right-hand side at
        ``u0``: max_i 2 Σ_j W_ij (ν/h_ij² + F|u0_i|/h_ij), + 2|ν_lr| for the long-range term.
        Explicit steps need dt·rate ≲ 2.8.

        Parameters
        ----------
        u0 : numpy.ndarray
            The state, in the graph's node order.

        Returns
        -------
        float
        """
        g = self.graph
        if not g.nnz:
            return 2 * abs(self.spec.long_range)
        w, inv = self._w_inv
        dif, adv = kernels.burgers_gap_sums(self.pos, w, inv, g.indptr, g.indices, self.ew, g.weights is not None,
                                            self.hmin, self.bounds)
        s = self.spec
        return float(np.max(2 * (s.viscosity * dif + abs(s.advection) * np.abs(u0) * adv))) + 2 * abs(s.long_range)

    def draw(self, rng: np.random.Generator, given: dict) -> None:
        """Draw the initial state and the sources (``given`` ones are used as they are); they are
        kept in :attr:`inputs`.

        Parameters
        ----------
        rng : numpy.random.Generator
            The run's generator.
        given : dict
            ``initial``, ``source_amplitude`` and ``source_time`` given by the caller, in the
            graph's node order.
        """
        s, n = self.spec, self.graph.num_nodes
        if "initial" in given:
            u0 = np.asarray(given["initial"], dtype=np.float64)
        elif s.initial == "bump":
            centre = rng.uniform(0, 2 * math.pi)
            d = np.angle(np.exp(1j * (self.pos - centre)))
            u0 = s.initial_offset + s.initial_amplitude * np.exp(-0.5 * (d / s.initial_width) ** 2)
        elif s.initial == "sine":
            u0 = s.initial_offset + s.initial_amplitude * np.sin(s.initial_mode * self.pos)
        else:
            u0 = s.initial_offset + s.initial_amplitude * rng.random(n)
        amp = np.zeros(n)
        onset = np.zeros(n)
        if "source_amplitude" in given:
            amp = np.asarray(given["source_amplitude"], dtype=np.float64)
            onset = np.asarray(given.get("source_time", onset), dtype=np.float64)
        elif s.sources:
            nodes = rng.choice(n, size=min(s.sources, n), replace=False)
            amp[nodes] = s.source_amplitude
            onset[nodes] = rng.uniform(0, self.t_end, len(nodes))
        self.inputs = {"initial": u0, "source_amplitude": amp, "source_time": onset}
        src = np.flatnonzero(amp)
        self.src_nodes = torch.as_tensor(src, device=self.device)
        self.src_amp = self.tensor(amp[src])
        self.src_time = self.tensor(onset[src])

    def graph_rhs(self, t: float, y: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """The graph terms (advection, diffusion) and the source bursts at time ``t``.

        Parameters
        ----------
        t : float or torch.Tensor
            The time; with k states, a float or one time per state ((k,) on the device).
        y : torch.Tensor
            The state, in the integration's node order: (N,), or with the torch backend
            (N, k), k states at once (one per column).
        out : torch.Tensor
            Receives the result (the shape of ``y``).

        Returns
        -------
        torch.Tensor
            ``out``.

        Raises
        ------
        SimulationError
            For (N, k) states with the numba or triton backend.
        """
        s = self.spec
        if y.ndim != 1 and self.backend != "torch":
            raise SimulationError(f"several states at once (shape {tuple(y.shape)}) need the torch backend, "
                                  f"not {self.backend!r}")
        if self.backend == "numba":
            g = self.graph
            kernels.burgers_rhs(y.numpy(), self.pos, self.w, self.inv, g.indptr, g.indices, self.ew,
                                g.weights is not None, s.advection, s.viscosity, self.hmin, out.numpy(),
                                self.bounds)
        elif self.backend == "triton":
            self.fused(y, out)
        else:
            ui, uj = y[self.rows], y[self.cols]
            d = self.pos_t[self.cols] - self.pos_t[self.rows]
            d = d - 2 * math.pi * torch.floor(d / (2 * math.pi) + 0.5)
            h = torch.clamp(d.abs(), min=self.hmin).to(y.dtype)
            d, w = d.to(y.dtype), self.W
            if y.ndim == 2:                      # k states: the edge arrays broadcast over columns
                d, h, w = d[:, None], h[:, None], w[:, None]
            dif, adv = burgers_edge_terms(ui, uj, d, h, w)
            out.zero_()
            out.index_add_(0, self.rows, s.viscosity * dif - s.advection * ui * adv)
        if len(self.src_nodes):
            amp, onset = self.src_amp, self.src_time
            if y.ndim == 2:
                amp, onset = amp[:, None], onset[:, None]
            burst = amp * torch.exp(-0.5 * ((t - onset) / s.source_width) ** 2)
            out.index_add_(0, self.src_nodes, burst.to(out.dtype))
        return out

    def capturable(self) -> bool:
        return super().capturable() and not len(self.src_nodes)     # the bursts depend on t

    def rhs_ref(self, ref: torch.Tensor, y: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        return self.fused(y, out)

    def add_long_range(self, y: torch.Tensor, out: torch.Tensor) -> None:
        """``+ ν_lr (F[u]_i − u_i)``, F the Kac-normalised power-law average.

        Parameters
        ----------
        y : torch.Tensor
            The state, in the integration's node order.
        out : torch.Tensor
            The right-hand side, added to in place.
        """
        out.add_(self.long_range(y) - y, alpha=self.spec.long_range)

    def observe(self, y: torch.Tensor) -> float:
        """The total mass Σ_i u_i (in float64).

        Parameters
        ----------
        y : torch.Tensor
            The state, in the integration's node order.

        Returns
        -------
        float
        """
        return float(y.sum(dtype=torch.float64))


def make_system(spec, graph, device, dtype, backend: str, t_end: float) -> System:
    """The system of ``spec``'s dynamics.

    Parameters
    ----------
    spec : KuramotoSpec or BurgersSpec
        The dynamics.
    graph, device, dtype, backend, t_end
        As for :class:`KuramotoSystem` and :class:`BurgersSystem`.

    Returns
    -------
    System

    Raises
    ------
    SimulationError
        If ``spec`` is of another type (or the system refuses the graph).
    """
    if isinstance(spec, KuramotoSpec):
        return KuramotoSystem(spec, graph, device, dtype, backend, t_end)
    if isinstance(spec, BurgersSpec):
        return BurgersSystem(spec, graph, device, dtype, backend, t_end)
    raise SimulationError(f"dynamics must be a KuramotoSpec or BurgersSpec, got {type(spec).__name__}")
