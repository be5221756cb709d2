"""``simulate``: integrate a dynamics spec on a graph into a trajectory ``xarray.Dataset``,
in memory or streamed frame by frame to a zarr store (memory O(N + E) plus one chunk)."""
from __future__ import annotations

import contextlib
import math
import warnings

import numpy as np
import torch
import xarray as xr

from ..errors import DeviceError, SimulationError, SpecError
from ..progress import ProgressCallback, report
from ..specs import BurgersSpec, KuramotoSpec, SimulationSpec
from .integrate import RK4, EulerMaruyama, GraphedRK4
from .systems import make_system

STABILITY = {"rk4": 2.78, "euler_maruyama": 2.0}   # extent of the stability region on the negative axis
PARALLEL_SIZE = 500_000  # nodes + stored entries from which kernels run on all cores
DTYPES = {"float32": torch.float32, "float64": torch.float64}
CUDA_GRAPHS = True       # CUDA runs of the triton backend replay the RK4 steps between frames as a CUDA graph
GRAPH_STEPS = 256        # most RK4 steps in one graph (the largest divisor of save_every up to this)
FRAME_BYTES = 256 << 20  # pinned host memory for frames in flight on CUDA (2 to 16 frames)


def resolve_device(device) -> torch.device:
    """The torch device to simulate on.

    Parameters
    ----------
    device : str or torch.device
        ``"auto"`` (CUDA when present, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    Returns
    -------
    torch.device

    Raises
    ------
    roma_core.errors.DeviceError
        For an unknown device or a CUDA device this machine does not have.
    """
    name = str(device)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError) as exc:
        raise DeviceError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device {name!r} requested but this machine has no CUDA device; "
                              "use device='cpu' or 'auto'")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(f"device {name!r}: only {torch.cuda.device_count()} CUDA device(s) present")
    elif dev.type != "cpu":
        raise DeviceError(f"device {name!r} is not supported; use auto, cpu, cuda or cuda:N")
    return dev


def device_label(device) -> str:
    """Where a job on ``device`` runs, said for people.

    Parameters
    ----------
    device : str or torch.device
        As for :func:`resolve_device`.

    Returns
    -------
    str
        ``"CPU"`` or ``"CUDA: "`` and the GPU's name.
    """
    dev = resolve_device(device)
    return "CPU" if dev.type == "cpu" else f"CUDA: {torch.cuda.get_device_name(dev)}"


def triton_ready() -> bool:
    """Whether the fused Triton kernels can run.

    Returns
    -------
    bool
        True when triton imports (it ships with CUDA builds of torch); CUDA runs then use
        the ``triton`` backend.
    """
    from .triton_kernels import available

    return available()


def resolve_dtype(dtype) -> torch.dtype:
    """The torch float type to simulate in.

    Parameters
    ----------
    dtype : torch.dtype or str or numpy.dtype
        ``torch.float32``/``torch.float64``, their names, or anything ``numpy.dtype``
        reads as one of them.

    Returns
    -------
    torch.dtype

    Raises
    ------
    roma_core.errors.SpecError
        For any other type.
    """
    if dtype in (torch.float32, torch.float64):
        return dtype
    try:
        name = dtype if isinstance(dtype, str) else str(np.dtype(dtype))
    except TypeError:
        name = str(dtype)
    if name not in DTYPES:
        raise SpecError(f"dtype must be float32 or float64, got {dtype!r}")
    return DTYPES[name]


def as_spec(dynamics):
    """A validated KuramotoSpec or BurgersSpec (a name gives the defaults).

    Parameters
    ----------
    dynamics : KuramotoSpec or BurgersSpec or str
        A spec, or ``"kuramoto"``/``"burgers"``.

    Returns
    -------
    KuramotoSpec or BurgersSpec
        The spec given (or the defaults), validated.

    Raises
    ------
    roma_core.errors.SpecError
        For an unknown name, another type or invalid parameters.
    """
    if isinstance(dynamics, str):
        table = {"kuramoto": KuramotoSpec, "burgers": BurgersSpec}
        if dynamics not in table:
            raise SpecError(f"unknown dynamics {dynamics!r}; use 'kuramoto' or 'burgers'")
        dynamics = table[dynamics]()
    if not isinstance(dynamics, (KuramotoSpec, BurgersSpec)):
        raise SpecError(f"dynamics must be a KuramotoSpec or BurgersSpec, got {type(dynamics).__name__}")
    try:
        return dynamics.validate()
    except ValueError as exc:
        raise SpecError(str(exc)) from exc


class Run:
    """A prepared simulation: validated inputs, the system on its device, the frame times.

    Parameters
    ----------
    dynamics : KuramotoSpec or BurgersSpec or str
        As for :func:`as_spec`.
    graph : roma_core.graphs.Graph
        The graph, with at least one node (and edges where the coupling acts through them).
    sim : SimulationSpec
        Steps, frames, seed, device and method (validated here).
    dtype : torch.dtype or str
        As for :func:`resolve_dtype`.
    inputs : dict, optional
        Per-node inputs to use instead of drawing them, as for :func:`simulate`.
    backend : {"auto", "numba", "torch", "triton"}
        As for :func:`simulate`.

    Raises
    ------
    roma_core.errors.SpecError
        For an invalid spec or dtype.
    roma_core.errors.SimulationError
        For a graph, inputs, method, backend or time step the system cannot run with.
    roma_core.errors.DeviceError
        For a device this machine does not have.
    """

    def __init__(self, dynamics, graph, sim: SimulationSpec, dtype, inputs=None, backend: str = "auto"):
        from ..graphs import Graph

        self.spec = as_spec(dynamics)
        sim.validate()
        if not isinstance(graph, Graph):
            raise SimulationError(f"graph must be a roma_core Graph, got {type(graph).__name__}")
        if graph.num_nodes < 1:
            raise SimulationError("the graph has no nodes")
        self.graph, self.sim = graph, sim
        self.device = resolve_device(sim.device)
        self.dtype = resolve_dtype(dtype)
        self.n_steps = max(1, int(round(sim.t_end / sim.dt)))
        self.frame_steps = np.arange(0, self.n_steps + 1, sim.save_every)
        self.times = self.frame_steps * sim.dt
        noise = self.spec.noise
        method = sim.method if sim.method != "auto" else ("euler_maruyama" if noise > 0 else "rk4")
        if method == "rk4" and noise > 0:
            raise SimulationError(f"noise σ = {noise} needs method='euler_maruyama' (RK4 is for σ = 0)")
        self.method = method
        self._check_edges()
        if backend == "auto":
            backend = "numba" if self.device.type == "cpu" else ("triton" if triton_ready() else "torch")
        if (backend not in ("numba", "torch", "triton") or (backend == "numba" and self.device.type != "cpu")
                or (backend == "triton" and not triton_ready())):
            raise SimulationError(f"backend {backend!r} is not available on {self.device}; use 'auto'")
        self.system = make_system(self.spec, graph, self.device, self.dtype, backend, self.n_steps * sim.dt)
        self.system.draw(np.random.default_rng(sim.seed), self._given(inputs))
        self._check_stability()

    def _check_edges(self) -> None:
        s, g = self.spec, self.graph
        needs = s.coupling != 0 if isinstance(s, KuramotoSpec) else (s.advection != 0 or s.viscosity != 0)
        if needs and g.nnz == 0:
            what = "coupling K" if isinstance(s, KuramotoSpec) else "advection F and viscosity ν"
            raise SimulationError(f"the graph has no edges, but {what} act through edges; "
                                  "use a graph with edges or set them to 0")

    def _given(self, inputs) -> dict:
        given = {}
        for name, value in (inputs or {}).items():
            arr = np.asarray(value, dtype=np.float64)
            if arr.shape != (self.graph.num_nodes,):
                raise SimulationError(f"input {name!r} must have one value per node "
                                      f"({self.graph.num_nodes}), got shape {arr.shape}")
            if not np.all(np.isfinite(arr)):
                raise SimulationError(f"input {name!r} contains NaN or infinite values")
            given[name] = arr
        return given

    def _check_stability(self) -> None:
        if not hasattr(self.system, "stability_rate"):
            return
        rate = self.system.stability_rate(self.system.inputs["initial"])
        limit = STABILITY[self.method]
        if rate * self.sim.dt > limit:
            raise SimulationError(
                f"dt = {self.sim.dt} is above the explicit stability limit ≈ {limit / rate:.3g} for these "
                f"parameters on this graph (fastest rate {rate:.3g}); reduce dt, the viscosity or the "
                "advection, or raise gap_floor")

    @property
    def work(self) -> int:
        """Items touched per right-hand-side evaluation."""
        g = self.graph
        return g.num_nodes if self.system.backend == "mean_field" else g.num_nodes + g.nnz

    # ---------------------------------------------------------------- dataset
    def attrs(self) -> dict:
        """The trajectory's attrs: the specs as JSON, integrator, dtype, device, backend,
        graph fingerprint and sizes, seed and steps, among others.

        Returns
        -------
        dict
        """
        s, sim, g = self.spec, self.sim, self.graph
        sim_json = SimulationSpec.from_dict({**sim.to_dict(), "method": self.method})
        out = {"roma_kind": "trajectory", "dynamics": self.system.name, "spec": s.to_json(),
               "simulation": sim_json.to_json(), "integrator": self.method,
               "dtype": str(self.dtype).replace("torch.", ""), "device": str(self.device),
               "backend": self.system.backend, "graph_fingerprint": g.fingerprint(),
               "num_nodes": g.num_nodes, "num_edges": g.num_edges, "seed": sim.seed, "dt": sim.dt,
               "t_end": float(self.n_steps * sim.dt), "n_steps": self.n_steps, "save_every": sim.save_every,
               "state_name": self.system.state_name}
        if isinstance(s, KuramotoSpec):
            out["coupling_period"] = self.system.period
        return out

    def static_vars(self) -> dict:
        """Per-node inputs and time-only known values, as (dims, array, attrs).

        Returns
        -------
        dict
            Name to ``(dims, array, attrs)``: the inputs over ``node`` in the state's
            precision, and for Kuramoto the coupling K(t) at the frame times over ``time``.
        """
        docs = {"omega": ("natural frequency ω_i", "rad/time"), "initial": ("initial state", self.system.state_units),
                "source_amplitude": ("peak rate of the node's burst (0: no source)", "1/time"),
                "source_time": ("time of the node's burst peak", "time")}
        out = {k: (("node",), v.astype(self.system.np_dtype), {"long_name": docs[k][0], "units": docs[k][1]})
               for k, v in self.system.inputs.items()}
        if isinstance(self.spec, KuramotoSpec):
            out["coupling"] = (("time",), np.array([self.system.coupling_at(t) for t in self.times]),
                               {"long_name": "coupling K(t) at the frame times"})
        return out

    def dataset(self, state, observable) -> xr.Dataset:
        """The trajectory Dataset around ``state`` (time, node) and ``observable`` (time).

        Parameters
        ----------
        state : array_like
            The frames, ``(time, node)`` in the graph's order (a numpy or dask array).
        observable : array_like
            The observable of each frame.

        Returns
        -------
        xarray.Dataset
            With the :meth:`static_vars`, the time and node coordinates and :meth:`attrs`.
        """
        sysm = self.system
        obs_doc = {"order_parameter": "global order parameter R = |<exp(iθ)>|",
                   "mass": "total mass Σ_i u_i"}[sysm.observable]
        data = {"state": (("time", "node"), state,
                          {"long_name": f"state {sysm.state_name}", "units": sysm.state_units}),
                sysm.observable: (("time",), observable, {"long_name": obs_doc})}
        data.update(self.static_vars())
        coords = {"time": ("time", self.times.astype(np.float64), {"units": "time"}),
                  "node": ("node", np.arange(self.graph.num_nodes, dtype=np.int64))}
        return xr.Dataset(data, coords=coords, attrs=self.attrs())

    # ---------------------------------------------------------------- loop
    def execute(self, sink, progress: ProgressCallback | None = None) -> None:
        """Integrate, handing every saved frame to ``sink.frame(index, state_numpy, observable)``
        from a background thread (:class:`~roma_core.data.stream.FrameWriter`): the loop
        itself never waits for the device. On CUDA, noise-free triton runs replay the RK4
        steps between two frames as one CUDA graph (:meth:`graphed`; float32 results bit
        for bit the same).

        Parameters
        ----------
        sink : MemorySink or roma_core.data.stream.ZarrSink
            Receives the frames in order.
        progress : callable, optional
            ``progress(done, total)`` over the steps; may raise
            :class:`~roma_core.errors.Cancelled`.

        Raises
        ------
        roma_core.errors.SimulationError
            When the state is no longer finite (the step is unstable).
        """
        from ..data.stream import FrameWriter

        sysm, sim = self.system, self.sim
        y = sysm.tensor(sysm.internal(sysm.inputs["initial"])).clone()
        if self.method == "rk4":
            stepper = RK4(sysm.rhs, y, fused=sysm.backend == "triton")
        else:
            gen = torch.Generator(device=self.device)
            gen.manual_seed(int(sim.seed) & (2**63 - 1))
            stepper = EulerMaruyama(sysm.rhs, y, self.spec.noise, gen)
        graphed = self.graphed(y)
        every = max(1, self.n_steps // 200)
        depth = 2 if y.device.type == "cpu" else max(2, min(16, FRAME_BYTES // max(1, y.numel() * y.element_size())))
        with FrameWriter(sink, sysm, sim.dt, depth) as frames:
            frames.put(0, 0.0, y)
            report(progress, 0, self.n_steps)
            n = 0
            while n < self.n_steps:
                if graphed is not None and n + graphed.steps <= self.n_steps:
                    graphed.run(n)
                    done = n + graphed.steps
                else:
                    stepper.step(n * sim.dt, y, sim.dt)
                    done = n + 1
                if done % sim.save_every == 0:       # a replay's steps divide save_every
                    frames.put(done // sim.save_every, done * sim.dt, y)
                if done // every > n // every or done == self.n_steps:
                    report(progress, done, self.n_steps)
                n = done

    def graphed(self, y: torch.Tensor):
        """The RK4 steps between two frames as a replayed CUDA graph
        (:class:`~roma_core.dynamics.integrate.GraphedRK4`), or None: off CUDA, with noise
        (Euler–Maruyama steps stay uncaptured), for systems that cannot be captured (the
        torch backend, the long-range term, Burgers' sources), with ``CUDA_GRAPHS`` false,
        or when the capture fails (with a warning; the plain loop then runs).

        Parameters
        ----------
        y : torch.Tensor
            The run's state on the device, which the graph updates in place.

        Returns
        -------
        GraphedRK4 or None
        """
        sim = self.sim
        if not (CUDA_GRAPHS and self.method == "rk4" and self.system.capturable()):
            return None
        steps = max(d for d in range(1, min(sim.save_every, GRAPH_STEPS) + 1) if sim.save_every % d == 0)
        if steps > self.n_steps:
            return None
        try:
            return GraphedRK4(self.system, y, sim.dt, self.n_steps, steps)
        except Exception as exc:            # noqa: BLE001  any failure of the capture: run uncaptured
            warnings.warn(f"capturing the RK4 steps as a CUDA graph failed ({type(exc).__name__}: {exc}); "
                          "stepping without CUDA graphs", RuntimeWarning, stacklevel=2)
            if y.is_cuda:
                with contextlib.suppress(Exception):
                    torch.cuda.synchronize(y.device)
            return None


class MemorySink:
    """Collects frames in memory.

    Parameters
    ----------
    run : Run
        The run whose frames it takes (their number, the nodes and the precision).
    """

    def __init__(self, run: Run):
        self.run = run
        self.state = np.empty((len(run.times), run.graph.num_nodes), dtype=run.system.np_dtype)
        self.obs = np.empty(len(run.times))

    def frame(self, index, state, obs) -> None:
        """Store frame ``index``.

        Parameters
        ----------
        index : int
            The frame.
        state : numpy.ndarray
            The state of every node, in the graph's order.
        obs : float
            The frame's observable.
        """
        self.state[index] = state
        self.obs[index] = obs

    def dataset(self) -> xr.Dataset:
        """The frames collected, as the run's trajectory.

        Returns
        -------
        xarray.Dataset
            See :meth:`Run.dataset`.
        """
        return self.run.dataset(self.state, self.obs)


def simulation_spec(t_end, dt, save_every, seed, device, dtype, method) -> SimulationSpec:
    """The checked :class:`SimulationSpec` of :func:`simulate`'s arguments.

    Parameters
    ----------
    t_end, dt, save_every, seed, device, dtype, method
        As for :func:`simulate`.

    Returns
    -------
    SimulationSpec
        Validated, with the dtype's name.

    Raises
    ------
    roma_core.errors.SpecError
        For a value of the wrong type or out of range.
    """
    for name, value in (("t_end", t_end), ("dt", dt)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value):
            raise SpecError(f"{name} must be a number, got {value!r}")
    if not isinstance(save_every, (int, np.integer)) or isinstance(save_every, bool):
        raise SpecError(f"save_every must be a whole number of steps, got {save_every!r}")
    dtype_name = str(resolve_dtype(dtype)).replace("torch.", "")
    try:
        spec = SimulationSpec(t_end=float(t_end), dt=float(dt), save_every=int(save_every), seed=int(seed),
                              device=str(device), dtype=dtype_name, method=method)
    except ValueError as exc:
        raise SpecError(f"invalid simulation settings: {exc}") from exc
    return spec.validate()


def simulate(dynamics, graph, t_end: float, dt: float, save_every: int = 1, seed: int = 0,
             device="auto", dtype=torch.float32, method: str = "auto",
             progress: ProgressCallback | None = None, out=None, overwrite: bool = False,
             inputs: dict | None = None, chunks: tuple[int, int] | None = None,
             backend: str = "auto") -> xr.Dataset:
    """Integrate a dynamical system on a graph (docs/science.md §2).

    Parameters
    ----------
    dynamics : KuramotoSpec or BurgersSpec or str
        The system and its parameters (``"kuramoto"``/``"burgers"`` for the defaults).
    graph : roma_core.graphs.Graph
        The graph it lives on.
    t_end : float
        Integrate from t = 0 to ``t_end`` (``round(t_end / dt)`` steps).
    dt : float
        Time step.
    save_every : int
        Steps between stored frames (the initial state is frame 0).
    seed : int
        Seed of the random inputs (frequencies, initial state, sources) and the noise.
    device : str or torch.device
        ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` (see :func:`resolve_device`).
    dtype : torch.dtype
        ``torch.float32`` or ``torch.float64``.
    method : {"auto", "rk4", "euler_maruyama"}
        ``"auto"``: RK4 unless the spec has noise (σ > 0 needs Euler–Maruyama).
    progress : callable, optional
        ``progress(done, total)`` over the steps; may raise
        :class:`~roma_core.errors.Cancelled`.
    out : str or os.PathLike, optional
        A ``.zarr`` path: frames stream there chunk by chunk, the store is written under a
        temporary name and renamed at the end, and the lazily opened store is returned.
    overwrite : bool
        Replace an existing store that ROMA wrote.
    inputs : dict, optional
        Per-node inputs to use instead of drawing them (``omega``, ``initial``,
        ``source_amplitude``, ``source_time``).
    chunks : tuple of int, optional
        ``(time, node)`` chunk sizes of the store.
    backend : {"auto", "numba", "torch", "triton"}
        For tests: numba kernels (CPU), torch, or the fused Triton kernels (CUDA, or
        Triton's interpreter on CPU).

    Returns
    -------
    xarray.Dataset
        ``state(time, node)``, the per-node inputs, the observable (``order_parameter`` or
        ``mass``) and attrs describing the run (spec, integrator, graph fingerprint).

    Raises
    ------
    roma_core.errors.SpecError
        For an unknown system, dtype or invalid parameters.
    roma_core.errors.SimulationError
        For a graph or inputs the system cannot run on, or noise with RK4.
    roma_core.errors.DeviceError
        For a device this machine does not have.
    roma_core.errors.StoreError
        When ``out`` exists and ``overwrite`` is false.
    """
    sim = simulation_spec(t_end, dt, save_every, seed, device, dtype, method)
    if chunks is not None and (len(chunks) != 2 or any(int(c) < 1 for c in chunks)):
        raise SpecError(f"chunks must be (time, node) sizes >= 1, got {chunks!r}")
    if out is not None:
        from ..data.store import check_target
        check_target(out, overwrite)
    run = Run(dynamics, graph, sim, dtype, inputs, backend)
    with threads_for(run.work, run.system.backend):
        if out is None:
            sink = MemorySink(run)
            run.execute(sink, progress)
            return sink.dataset()
        from ..data.stream import stream_to_zarr
        return stream_to_zarr(run, out, overwrite, chunks, progress)


@contextlib.contextmanager
def threads_for(size: int, backend: str):
    """Threads for one run, set in the calling thread (numba's setting is per thread;
    torch's holds for this thread and for threads started meanwhile) and restored after. Below PARALLEL_SIZE (nodes + stored entries)
    torch and numba use one thread, where a parallel region costs more than it saves;
    never dependent on what else runs on the machine. Above it numba's kernels use every
    core while, with the numba backend, torch's vector updates stay on one thread: two
    OpenMP pools side by side keep spinning against each other (one RK4 step on 10^5
    nodes took 37.7 ms that way, 4.3 ms with torch on one thread).

    Parameters
    ----------
    size : int
        Nodes + stored entries (:attr:`Run.work`).
    backend : str
        The system's backend.
    """
    import numba

    before_torch, before_numba = torch.get_num_threads(), numba.get_num_threads()
    small = size < PARALLEL_SIZE
    torch.set_num_threads(1 if small or backend == "numba" else before_torch)
    numba.set_num_threads(1 if small else before_numba)
    try:
        yield
    finally:
        torch.set_num_threads(before_torch)
        numba.set_num_threads(before_numba)
