"""Simulate view: run Kuramoto or social-Burgers dynamics on the session's graph in the
background, and watch a trajectory on the graph frame by frame beside its order parameter
R(t), globally and per supernode of a renormalization level.

Usable alone in a notebook::

    import panel as pn; pn.extension()
    from app.views.simulate import SimulateView
    SimulateView(graph=my_graph)                     # simulate on a graph
    SimulateView(trajectory="assets/kuramoto_2k.zarr")  # watch a stored trajectory

Runs land in a zarr store: a new folder of the session's workspace per run (kept, and
listed after a restart), or a path inside the workspace the user gives (an existing store
is replaced only when asked and only when ROMA wrote it); without a workspace (a notebook),
a temporary folder per run. A run sets ``session.trajectory`` so the other views open it too.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path

import holoviews as hv
import numpy as np
import panel as pn
import param

from roma_core.data import open_trajectory, trajectory_graph
from roma_core.data.store import refuse_unowned
from roma_core.dynamics.simulate import device_label
from roma_core.errors import RomaError, StoreError
from roma_core.graphs import Graph
from roma_core.specs import BurgersSpec, KuramotoSpec, SimulationSpec

from .. import render
from ..cards import lazy_card
from ..jobs import Job
from ..limits import simulation_needs
from ..state import Session
from ..turns import in_turn, plot_coming, show_plot

DYNAMICS = {"Kuramoto": "kuramoto", "social Burgers": "burgers"}
# parameters shown first; the others sit in a collapsed card
MAIN_FIELDS = {"kuramoto": ("coupling", "schedule", "alpha", "omega_dist", "omega_scale", "initial", "noise"),
               "burgers": ("advection", "viscosity", "alpha", "initial", "initial_amplitude", "sources", "noise")}
SIM_FIELDS = ("t_end", "dt", "save_every", "seed")
SIM_MORE = ("device", "dtype", "method")
VIEW_SIM_DEFAULTS = dict(t_end=20.0, dt=0.01, save_every=10, seed=0)
FRAME_SPACING = 0.1  # simulated time between saved frames with the view's default step
STEP_MARGIN = 0.8  # the default step stays this far inside the explicit stability limit
MAX_CURVES = 32  # above this many supernodes, R per supernode is drawn as a quantile band
IN_MEMORY_BYTES = 256 << 20  # trajectories up to this size are held in memory for scrubbing
CHUNK_BYTES = 64 << 20  # frames read at once when computing per-supernode series
TWO_PI = 2 * math.pi
GRAPH_FRAME = 480  # pixels of the graph plot's frame (and of its images)


# ---------------------------------------------------------------- data (no panel)
@dataclass
class Shown:
    """A trajectory opened for the view: lazily opened dataset, its graph and hierarchy,
    and the global and per-supernode observables (computed per level on demand).

    Attributes
    ----------
    path : str
        The trajectory store.
    ds : xarray.Dataset
        The opened store (member 0 of an ensemble).
    graph : Graph
        The trajectory's graph.
    data : render.GraphData
        Its rendering data.
    kind : str
        ``"kuramoto"`` or ``"burgers"``.
    times : numpy.ndarray
        The time of each frame.
    global_series : numpy.ndarray
        R(t) (Kuramoto) or the mean u(t) (Burgers), one value per frame.
    hierarchy : Hierarchy, optional
        The hierarchy whose supernodes the per-level series average over.
    state : numpy.ndarray, optional
        The whole (time, node) state, when small enough to hold in memory.
    clim : tuple of float
        The colour range of the state.
    series : dict
        Level -> (supernodes, time) array, filled by :meth:`level_series`.
    """

    path: str
    ds: object  # xarray.Dataset (member 0 of an ensemble)
    graph: Graph
    data: render.GraphData
    kind: str  # kuramoto | burgers
    times: np.ndarray
    global_series: np.ndarray
    hierarchy: object = None
    state: np.ndarray | None = None  # (time, node) in memory when small
    clim: tuple = (0.0, TWO_PI)
    series: dict = field(default_factory=dict)  # level -> (supernodes, time) array

    @property
    def frames(self) -> int:
        return len(self.times)

    @property
    def nbytes(self) -> int:
        return int(self.ds["state"].nbytes)

    def frame(self, k: int) -> np.ndarray:
        """The state at frame ``k`` (one row read from the store unless held in memory).

        Parameters
        ----------
        k : int
            The frame.

        Returns
        -------
        numpy.ndarray
            The state of every node at that frame.
        """
        if self.state is not None:
            return self.state[k]
        return np.asarray(self.ds["state"][k].values)

    def levels(self) -> list[int]:
        """The hierarchy's levels above the graph (none without a hierarchy).

        Returns
        -------
        list of int
        """
        return [] if self.hierarchy is None else list(range(1, self.hierarchy.num_levels))

    def default_level(self) -> int | None:
        """The finest level with at most MAX_CURVES supernodes (else the coarsest).

        Returns
        -------
        int or None
            The level, or ``None`` without a hierarchy.
        """
        levels = self.levels()
        for l in levels:
            if self.hierarchy.sizes[l] <= MAX_CURVES:
                return l
        return levels[-1] if levels else None

    def level_series(self, level: int, progress=None) -> np.ndarray:
        """Per-supernode observable at ``level`` for every frame: R_s(t) (Kuramoto) or the
        mean u over the supernode's members (Burgers), both weighted by the assignments;
        computed once per level.

        Parameters
        ----------
        level : int
            A level of the hierarchy (1 or above).
        progress : callable, optional
            ``progress(done, total)`` over the frames.

        Returns
        -------
        numpy.ndarray
            Shape (supernodes, time).
        """
        if level not in self.series:
            h = self.hierarchy
            self.series[level] = _reduce(self, lambda x: h.coarsen(x, 0, target=level), h.sizes[level], progress)
        return self.series[level]


def _chunks(shown: Shown):
    n = max(shown.graph.num_nodes, 1)
    step = max(1, CHUNK_BYTES // (n * shown.ds["state"].dtype.itemsize))
    for t0 in range(0, shown.frames, step):
        t1 = min(shown.frames, t0 + step)
        x = shown.state[t0:t1] if shown.state is not None else np.asarray(shown.ds["state"][t0:t1].values)
        yield t0, t1, x


def _reduce(shown: Shown, mean, rows: int, progress=None) -> np.ndarray:
    """Apply a supernode-mean operator (nodes → ``rows``) to every frame, chunk by chunk
    (memory bounded): of the phasors for Kuramoto (giving R), of u for Burgers."""
    out = np.empty((rows, shown.frames))
    for t0, t1, x in _chunks(shown):
        if shown.kind == "kuramoto":
            out[:, t0:t1] = np.abs(mean(np.exp(1j * x.astype(np.float64)).T))  # (node, time) in
        else:
            out[:, t0:t1] = mean(x.astype(np.float64).T)
        if progress is not None:
            progress(t1, shown.frames)
    return out


def open_run(path, graph: Graph | None = None, hierarchy=None, progress=None) -> Shown:
    """Open a trajectory store for viewing (safe off the event loop): its graph (``graph``
    is reused when it is the same graph), rendering data, a hierarchy (``hierarchy`` when
    it belongs to that graph, else a geometric RG built here) and the series of the
    default level.

    Parameters
    ----------
    path : str or Path
        The trajectory store.
    graph : Graph, optional
        A graph already loaded; used when it is the store's graph.
    hierarchy : Hierarchy, optional
        A hierarchy already built; used when it belongs to that graph.
    progress : callable, optional
        ``progress(done, total)`` over all of it.

    Returns
    -------
    Shown
        The opened trajectory.

    Raises
    ------
    StoreError
        If the store has no state(time, node) variable or its graph does not match it.
    """
    from roma_core.renorm import geometric

    def part(lo, hi):
        return None if progress is None else (lambda d, t: progress(lo + (hi - lo) * d / max(t, 1), 1.0))

    path = str(path)
    ds = open_trajectory(path)
    if "member" in ds.dims:
        ds = ds.isel(member=0)
    if "state" not in ds or ds["state"].dims != ("time", "node"):
        raise StoreError(f"{path}: expected a state(time, node) variable in this trajectory")
    stored = trajectory_graph(path)
    g = graph if graph is not None and graph.fingerprint() == stored.fingerprint() else stored
    if g.num_nodes != ds.sizes["node"]:
        raise StoreError(f"{path}: its graph has {g.num_nodes} nodes but the state has {ds.sizes['node']}")
    data = render.prepare(g, progress=part(0.0, 0.3))
    kind = "kuramoto" if ds.attrs.get("state_name", "theta") == "theta" and "order_parameter" in ds else "burgers"
    if kind == "kuramoto":
        glob = np.asarray(ds["order_parameter"].values, dtype=np.float64)
    else:
        glob = np.asarray(ds["mass"].values, dtype=np.float64) / g.num_nodes if "mass" in ds else None
    shown = Shown(path=path, ds=ds, graph=g, data=data, kind=kind, times=np.asarray(ds["time"].values),
                  global_series=glob)
    if shown.nbytes <= IN_MEMORY_BYTES:
        shown.state = np.asarray(ds["state"].values)
    if hierarchy is not None and hierarchy.graph.fingerprint() == g.fingerprint():
        shown.hierarchy = hierarchy
    elif g.num_nodes >= 4:
        try:
            shown.hierarchy = geometric(g, block=2, min_nodes=4, embed=g.theta is None and g.num_nodes <= 50_000)
        except RomaError:
            shown.hierarchy = None  # no angles on a large graph: global R only
    if kind == "burgers" or glob is None:
        lo, hi = math.inf, -math.inf
        sums = np.zeros(shown.frames)
        for t0, t1, x in _chunks(shown):
            lo, hi = min(lo, float(np.nanmin(x))), max(hi, float(np.nanmax(x)))
            sums[t0:t1] = x.astype(np.float64).mean(axis=1)
        shown.clim = (lo, hi if hi > lo else lo + 1.0)
        shown.global_series = sums if glob is None else glob
    level = shown.default_level()
    if level is not None:
        shown.level_series(level, progress=part(0.3, 1.0))
    return shown


def _separate_lines(plot, element) -> None:
    """HoloViews hook: hand Bokeh a path of curves, each ended by NaN, as separate lines
    (each is stroked on its own, so the colour darkens where translucent curves overlap)."""
    cds = plot.handles["cds"]
    if len(cds.data["xs"]) == 1:  # not split yet (HoloViews sets the data again at each update)
        x, y = cds.data["xs"][0], cds.data["ys"][0]
        n = int(np.isnan(x).sum())
        cds.data = {"xs": list(x.reshape(n, -1)[:, :-1]), "ys": list(y.reshape(n, -1)[:, :-1])}


def simulate_to_store(dynamics, graph: Graph, sim: SimulationSpec, out: str, overwrite: bool = False,
                      hierarchy=None, progress=None) -> Shown:
    """Simulate into the zarr store ``out`` and open it for viewing (for a background job).

    Parameters
    ----------
    dynamics : KuramotoSpec or BurgersSpec
        The dynamics.
    graph : Graph
        The graph to simulate on.
    sim : SimulationSpec
        Time span, step, frames, seed, device and integrator.
    out : str
        The zarr store to write.
    overwrite : bool
        Replace a store already at ``out``.
    hierarchy : Hierarchy, optional
        Passed to :func:`open_run`.
    progress : callable, optional
        ``progress(done, total)`` over the simulation and the opening.

    Returns
    -------
    Shown
        The new trajectory, opened.
    """
    from roma_core.dynamics import simulate

    def part(lo, hi):
        return None if progress is None else (lambda d, t: progress(lo + (hi - lo) * d / max(t, 1), 1.0))

    simulate(dynamics, graph, t_end=sim.t_end, dt=sim.dt, save_every=sim.save_every, seed=sim.seed,
             device=sim.device, dtype=sim.dtype, method=sim.method, out=out, overwrite=overwrite,
             progress=part(0.0, 0.9))
    return open_run(out, graph=graph, hierarchy=hierarchy, progress=part(0.9, 1.0))


def stability_limit(dynamics, graph: Graph, sim: SimulationSpec) -> tuple[float, float] | None:
    """``(largest stable dt, fastest rate)`` of the simulator's explicit stability check for
    ``dynamics`` on ``graph`` with ``sim``'s seed and integrator, or None when it imposes no
    limit (Kuramoto, or no edges). Prepares the system as a run would (its initial state
    included), without stepping it.

    Parameters
    ----------
    dynamics : KuramotoSpec or BurgersSpec
        The dynamics.
    graph : Graph
        The graph.
    sim : SimulationSpec
        Its seed and integrator are used.

    Returns
    -------
    tuple of float or None
    """
    import torch

    from roma_core.dynamics.simulate import STABILITY, Run

    probe = SimulationSpec(t_end=1e-9, dt=1e-9, save_every=1, seed=sim.seed, device="cpu", method=sim.method)
    run = Run(dynamics, graph, probe, torch.float64)
    if not hasattr(run.system, "stability_rate"):
        return None
    rate = float(run.system.stability_rate(run.system.inputs["initial"]))
    return (STABILITY[run.method] / rate, rate) if rate > 0 else None


def nice_below(x: float) -> float:
    """The largest 1, 2 or 5 times a power of ten that is at most ``x`` (> 0)."""
    power = 10.0 ** math.floor(math.log10(x))
    return next(m * power for m in (5, 2, 1) if m * power <= x * (1 + 1e-12))


def default_step(dynamics, graph: Graph | None, sim: SimulationSpec) -> tuple[float, int, str, float | None]:
    """A time step and frame interval that the simulator accepts as they are: the view's
    default (dt 0.01, a frame every 0.1) unless the stability limit on ``graph`` is lower,
    then a round dt inside it, with a frame still about every 0.1. Returns
    ``(dt, save_every, note, limit)``.

    Parameters
    ----------
    dynamics : KuramotoSpec or BurgersSpec
        The dynamics.
    graph : Graph or None
        The graph (``None``: the view's default).
    sim : SimulationSpec
        Its seed and integrator are used.

    Returns
    -------
    tuple
        ``(dt, save_every, note, limit)``: the note says what limited the step, ``limit`` is
        the largest stable dt (None: no limit).
    """
    dt = VIEW_SIM_DEFAULTS["dt"]
    found = None if graph is None else stability_limit(dynamics, graph, sim)
    limit = None if found is None else found[0]
    note = ""
    if limit is not None and dt > STEP_MARGIN * limit:
        dt = nice_below(STEP_MARGIN * limit)
        note = (f"dt set to {dt:g}: the explicit step is stable up to dt ≈ {limit:.3g} for these parameters "
                f"on this graph (fastest rate {found[1]:.3g})")
    return dt, max(1, round(FRAME_SPACING / dt)), note, limit


# ---------------------------------------------------------------- the view
class SimulateView(pn.viewable.Viewer):
    """Run dynamics on the session's graph and watch trajectories with R(t) across scales."""

    session = param.ClassSelector(class_=Session, doc="the browser session's shared state")
    dynamics = param.Selector(default="kuramoto", objects=DYNAMICS, label="Dynamics")
    kuramoto = param.ClassSelector(class_=KuramotoSpec, doc="Kuramoto parameters of the next run")
    burgers = param.ClassSelector(class_=BurgersSpec, doc="social Burgers parameters of the next run")
    simulation = param.ClassSelector(class_=SimulationSpec, doc="time span, step, seed of the next run")
    out_path = param.String(default="", label="Store path in the workspace (.zarr; empty: a new folder per run)")
    overwrite = param.Boolean(default=False, label="Replace a store already at that path")
    frame = param.Integer(default=0, bounds=(0, None), doc="index of the frame shown")
    colour = param.Selector(default="phase θ", objects=["phase θ", "sin θ"], label="Colour (Kuramoto)")
    level = param.Selector(default=None, objects=[], allow_None=True, label="Supernodes of level")
    status = param.String(default="", doc="what the view is doing or what went wrong")
    step_note = param.String(default="", doc="why the time step is what it is (the stability limit)")
    summary = param.String(default="", doc="the trajectory shown: dynamics, size, R at the end, store path")
    revision = param.Integer(default=0, precedence=-1, doc="bumped when another trajectory is shown")
    graph_pushes = param.Integer(default=0, precedence=-1, doc="bumped to redraw the graph plot's data in place")
    series_pushes = param.Integer(default=0, precedence=-1, doc="bumped to redraw the R(t) plot's data in place")

    def __init__(self, session: Session | None = None, graph: Graph | None = None, trajectory=None, **params):
        if session is None:
            session = Session(graph=graph, trajectory=str(trajectory or ""))
        params.setdefault("kuramoto", KuramotoSpec())
        params.setdefault("burgers", BurgersSpec())
        params.setdefault("simulation", SimulationSpec(**VIEW_SIM_DEFAULTS))
        super().__init__(session=session, **params)
        self.job = Job(session)
        self._shown: Shown | None = None
        self._quiet = False
        self._tmpdirs: list[Path] = []  # the runs' folders without a workspace (removed by cleanup)
        self._counter = itertools.count(1)
        opened, error = None, ""
        if self.session.trajectory:
            try:
                opened = open_run(self.session.trajectory, self.session.graph, self.session.hierarchy)
            except RomaError as exc:
                error = f"⚠ {exc}"
        self._shown = opened
        self._graph_pane = pn.pane.HoloViews(None, linked_axes=False, css_classes=["roma-sim-plot"])
        self._series_pane = pn.pane.HoloViews(None, linked_axes=False, css_classes=["roma-sim-series"])
        self._looks: dict = {}  # "graph" / "series": the look of the plot shown
        self._build_widgets()
        self.session.param.watch(self._on_session_trajectory, "trajectory")
        self.session.param.watch(self._on_session_hierarchy, "hierarchy")
        self.session.param.watch(lambda e: self._check_step(), "graph")
        self.burgers.param.watch(lambda e: self._check_step(), list(type(self.burgers)._fields()))
        self.simulation.param.watch(lambda e: self._check_step(), ["seed", "method"])
        doc = pn.state.curdoc
        if doc is not None and doc.session_context is not None:  # served: tidy up when the page closes
            doc.on_session_destroyed(lambda _ctx: self.cleanup())
        if opened is not None:
            self._show(opened)
        else:
            self._redraw()
            self.status = error or ("No trajectory yet: set the parameters and press Run."
                                    if self.session.graph is not None else "")

    # ------------------------------------------------------------ time step
    def _graph(self) -> Graph | None:
        """The graph the next run uses."""
        if self.session.graph is not None:
            return self.session.graph
        return self._shown.graph if self._shown is not None else None

    @param.depends("dynamics", watch=True)
    def _on_dynamics(self) -> None:
        """A new dynamics gets a time step it can run with as it is."""
        self._fit_step(force=True)

    def _check_step(self) -> None:
        """After a change of graph or parameters: lower dt if it is now unstable."""
        if self.dynamics == "burgers":
            self._fit_step(force=False)

    def _fit_step(self, force: bool) -> None:
        """Set dt and save_every to :func:`default_step` (``force``), or only when the
        current dt exceeds the stability limit; ``step_note`` says why."""
        try:
            dt, every, note, limit = default_step(self.spec(), self._graph(), self.simulation)
        except RomaError as exc:  # invalid parameters: the run reports them
            self.step_note = f"⚠ {exc}"
            return
        if force or (limit is not None and self.simulation.dt > limit):
            self.simulation.param.update(dt=dt, save_every=every)
            self.step_note = note

    def _show(self, shown: Shown) -> None:
        """Show an opened trajectory (on the event loop)."""
        self._shown = shown
        levels = shown.levels()
        names = {f"{l} ({shown.hierarchy.sizes[l]:,} supernodes)": l for l in levels}
        self.param.level.objects = names
        self._quiet = True  # one redraw below, not one per changed setting
        try:
            self.level = shown.default_level()
        finally:
            self._quiet = False
        self._level_series(redraw=False)
        self.param.frame.bounds = (0, shown.frames - 1)
        self._player.param.update(end=max(shown.frames - 1, 1), value=0)
        self.frame = 0
        self._level_select.visible = bool(levels)
        self._colour_select.visible = shown.kind == "kuramoto"
        self._redraw()
        self.revision += 1
        self.summary = self._describe(shown)
        self.status = ""

    def _describe(self, s: Shown) -> str:
        name = "Kuramoto" if s.kind == "kuramoto" else "social Burgers"
        what = "R" if s.kind == "kuramoto" else "mean u"
        end = s.global_series[-1] if s.global_series is not None and len(s.global_series) else math.nan
        return (f"**{name}** on {s.graph.num_nodes:,} nodes · {s.frames:,} frames, t = {s.times[0]:g} … "
                f"{s.times[-1]:g} · {what}(t_end) = {end:.4f}  \nstore: `{s.path}`")

    def _redraw(self) -> None:
        self._draw("graph")
        self._draw("series")

    def _draw(self, name: str) -> None:
        """Show the current trajectory in the ``name`` plot ("graph" or "series"). A plot
        that looks the same (colours, legend, title) only gets the new data, in a turn of
        its own (:func:`app.turns.in_turn`): HoloViews updates its Bokeh models in place
        (~0.1 s). Otherwise a new plot is made in its own turn, rendered off the event loop
        (:func:`app.turns.show_plot`: ~0.3-0.5 s of CPU), showing what is current when the
        turn comes."""
        look, pane = getattr(self, f"_{name}_look"), getattr(self, f"_{name}_pane")
        if plot_coming(pane):  # a new plot is on its way: it shows what is current then
            return
        if name in self._looks and self._looks[name] == look():
            in_turn(lambda: setattr(self, f"{name}_pushes", getattr(self, f"{name}_pushes") + 1),
                    f"Simulate view: {name} plot updated")
            return
        made = []

        def make():
            made.append(look())
            return getattr(self, f"_{name}_plot")()
        show_plot(pane, make, f"Simulate view: new {name} plot", then=lambda: self._looks.__setitem__(name, made[-1]))

    def _graph_look(self) -> tuple:
        data = self._graph_data()
        colour = sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in self._colour_opts().items())
        return (None if data is None else data.key, *colour)

    def _series_look(self) -> tuple | None:
        s = self._shown
        return None if s is None or s.global_series is None else (s.kind, self._level_shown())

    def _level_shown(self) -> tuple | None:
        """(level, supernodes) of the per-supernode series drawn, or None."""
        s = self._shown
        if self.level is None or self.level not in s.series:
            return None
        return self.level, len(s.series[self.level])

    @param.depends("colour", watch=True)
    def _on_colour(self) -> None:
        self._draw("graph")

    @param.depends("level", watch=True)
    def _on_level(self) -> None:
        if not self._quiet:
            self._level_series(redraw=True)

    def _level_series(self, redraw: bool) -> None:
        """Make sure the series of the chosen level exist: computed now when the trajectory
        is small (or cached), else in a background job that redraws R(t) when done."""
        s = self._shown
        if s is None or self.level is None:
            return
        if self.level in s.series or s.nbytes <= IN_MEMORY_BYTES:
            s.level_series(self.level)
            if redraw:
                self._draw("series")
            return
        self.job.start(s.level_series, self.level, label="Computing R per supernode",
                       on_done=lambda _: self._draw("series"))

    def _on_session_trajectory(self, event) -> None:
        path = event.new
        if not path or (self._shown is not None and self._shown.path == path):
            return
        self.job.start(open_run, path, self.session.graph, self.session.hierarchy, on_done=self._show,
                       label=f"Opening {Path(path).name}")

    def _on_session_hierarchy(self, event) -> None:
        s, h = self._shown, event.new
        if s is None or h is None or h.graph.fingerprint() != s.graph.fingerprint():
            return
        s.hierarchy, s.series = h, {}
        self._show(s)

    # ------------------------------------------------------------ drawing
    def _values(self, k: int) -> np.ndarray:
        x = self._shown.frame(int(min(max(k, 0), self._shown.frames - 1))).astype(np.float32)
        if self._shown.kind == "kuramoto":
            return np.sin(x) if self.colour == "sin θ" else np.mod(x, TWO_PI)
        return x

    def _colour_opts(self) -> dict:
        s = self._shown
        if s is None:
            label, cmap, cnorm = render.style("degree")
            deg = self.session.graph.degree if self.session.graph is not None else [1]
            return dict(cmap=render.colormap(cmap), cnorm=cnorm, clabel=label,
                        clim=(max(float(np.min(deg)), 1.0), max(float(np.max(deg)), 2.0)))
        if s.kind == "kuramoto" and self.colour == "phase θ":
            return dict(cmap=render.colormap("colorwheel"), clim=(0.0, TWO_PI), clabel="phase θ mod 2π")
        if s.kind == "kuramoto":
            return dict(cmap="RdBu_r", clim=(-1.0, 1.0), clabel="sin θ")
        return dict(cmap=render.colormap("viridis"), clim=s.clim, clabel="u")

    def _points(self, frame: int, pushes: int = 0):
        s = self._shown
        if s is None:
            g = self.session.graph
            if g is None:
                return hv.Points([], kdims=["x", "y"], vdims=["value"])
            return render.node_points(render.prepare(g), "degree")
        return render.node_points(s.data, "state", self._values(frame))

    def _graph_data(self):
        s = self._shown
        return s.data if s is not None else (render.prepare(self.session.graph) if self.session.graph else None)

    def _graph_plot(self):
        points = hv.DynamicMap(pn.bind(self._points, frame=self.param.frame, pushes=self.param.graph_pushes))
        nodes = render.rasterized_nodes(points, px=2, size=(GRAPH_FRAME, GRAPH_FRAME)).opts(
            colorbar=True, colorbar_opts={"width": 12}, tools=["hover"], **self._colour_opts(),
            hover_tooltips=[("x", "$x{0.000}"), ("y", "$y{0.000}"), ("value", "@image{0.[000]}")])
        data = self._graph_data()  # the same in every plot of this look: only the nodes' values change
        edges = render.edge_layer(lambda: data, streams=[hv.streams.RangeXY()], size=(GRAPH_FRAME, GRAPH_FRAME))
        return (edges.opts(tools=[]) * nodes * render.disk_outline()).opts(
            frame_width=GRAPH_FRAME, frame_height=GRAPH_FRAME,
            hooks=[render.frame_sized], lod=render.ZOOM_LOD, xlim=render.EXTENT, ylim=render.EXTENT, xaxis=None, yaxis=None,
            bgcolor="white", toolbar="above", active_tools=["wheel_zoom"], show_legend=False)

    def _series_plot(self):
        s = self._shown
        what = "R" if s is None or s.kind == "kuramoto" else "mean u"
        opts = dict(width=460, height=300, xlabel="t", ylabel=what, show_grid=True, toolbar="above", padding=(0.02, 0.05))
        if s is None or s.global_series is None:
            return hv.Curve([], "t", what).opts(**opts, title="no trajectory yet")
        layers = hv.DynamicMap(pn.bind(self._series_layers, pushes=self.param.series_pushes))
        marker = hv.DynamicMap(pn.bind(self._marker, frame=self.param.frame, pushes=self.param.series_pushes))
        title = "order parameter R(t)" if s.kind == "kuramoto" else "mean state u(t)"
        if self._level_shown() is not None:
            title = (f"{'R' if s.kind == 'kuramoto' else 'mean u'}(t): global and "
                     f"{len(s.series[self.level]):,} supernodes (level {self.level})")
        ylim = (0.0, 1.02) if s.kind == "kuramoto" else (None, None)
        return (layers * marker).opts(**opts, title=title, legend_position="bottom_right", ylim=ylim,
                                      hooks=[self._fit_axes])

    def _series_layers(self, pushes: int = 0) -> hv.Overlay:
        """R(t) (or the mean u) of the shown trajectory: per supernode of the level chosen
        (curves, or a quantile band above MAX_CURVES supernodes) and global."""
        s = self._shown
        what = "R" if s.kind == "kuramoto" else "mean u"
        t = s.times
        layers = []
        if self._level_shown() is not None:
            ys = s.series[self.level]
            if len(ys) <= MAX_CURVES:
                # one path, the curves separated by NaN: HoloViews makes one dataset of it,
                # not one per curve; the hook hands Bokeh the curves as separate lines
                gap = np.full((len(ys), 1), np.nan)
                path = (np.hstack([np.broadcast_to(t, ys.shape), gap]).ravel(), np.hstack([ys, gap]).ravel())
                layers.append(hv.Path(path, ["t", what], label=f"per supernode (level {self.level})").opts(
                    color="#4c78a8", alpha=0.35, line_width=1, hooks=[_separate_lines]))
            else:
                lo, med, hi = np.percentile(ys, [10, 50, 90], axis=0)
                layers.append(hv.Area((t, lo, hi), "t", [what, "hi"], label="supernodes 10–90 %").opts(
                    color="#4c78a8", alpha=0.25, line_width=0))
                layers.append(hv.Curve((t, med), "t", what, label="supernode median").opts(
                    color="#4c78a8", line_width=1.5))
        layers.append(hv.Curve((t, s.global_series), "t", what, label="global").opts(color="black", line_width=2))
        return hv.Overlay(layers)

    def _fit_axes(self, plot, element) -> None:
        """HoloViews hook, run at each update of the R(t) plot: once a new trajectory's
        data was pushed in, the axes span it as a new plot's would (HoloViews sets a plot's
        ranges only when it makes it, so moving the time marker keeps the user's zoom)."""
        x0, y0, x1, y1 = plot.get_extents(element, plot.current_ranges)
        for axis, lo, hi in ((plot.handles["x_range"], x0, x1), (plot.handles["y_range"], y0, y1)):
            try:
                lo, hi = float(lo), float(hi)
            except (TypeError, ValueError):
                continue
            if not (math.isfinite(lo) and math.isfinite(hi)):
                continue
            if None in (axis.reset_start, axis.reset_end) or not np.allclose(
                    [axis.reset_start, axis.reset_end], [lo, hi], rtol=1e-9, atol=0):
                axis.update(start=lo, end=hi, reset_start=lo, reset_end=hi)

    def _marker(self, frame: int, pushes: int = 0):
        s = self._shown
        k = int(min(max(frame, 0), s.frames - 1))
        t, y = float(s.times[k]), float(s.global_series[k])
        return (hv.VLine(t).opts(color="#d62728", line_width=1.5, line_dash="dashed")
                * hv.Points([(t, y)], ["t", "y"]).opts(color="#d62728", size=9))

    @param.depends("frame", "revision")
    def _time_text(self):
        s = self._shown
        if s is None:
            return pn.pane.Markdown("", css_classes=["roma-sim-time"])
        k = min(self.frame, s.frames - 1)
        y = s.global_series[k] if s.global_series is not None else math.nan
        what = "R" if s.kind == "kuramoto" else "mean u"
        return pn.pane.Markdown(f"t = **{s.times[k]:.3g}** (frame {k} of {s.frames - 1}) · {what} = {y:.3f}",
                                css_classes=["roma-sim-time"], margin=(0, 10))

    # ------------------------------------------------------------ running
    def spec(self):
        """The dynamics spec of the next run (the one picked)."""
        return self.kuramoto if self.dynamics == "kuramoto" else self.burgers

    def _target(self) -> tuple[str, bool]:
        """Where the next run is stored: the path given (inside the workspace), or a new folder."""
        given = self.out_path.strip()
        if given:
            path = Path(self.session.resolve(given, write=True))
            if path.suffix != ".zarr":
                raise StoreError(f"{given}: a trajectory store is a .zarr folder; end the path with .zarr")
            if path.exists() and not self.overwrite:
                raise StoreError(f"{given} exists already; choose another path, or tick "
                                 "'Replace a store already at that path' to overwrite it")
            if path.exists():
                refuse_unowned(path)
            return str(path), self.overwrite
        folder = self.session.job_folder("simulate")
        if self.session.workspace is None:
            self._tmpdirs.append(folder)
        return str(folder / f"{self.dynamics}_{next(self._counter):03d}.zarr"), False

    def run(self, wait: bool = False) -> bool:
        """Start a simulation with the current parameters (in the background).

        Parameters
        ----------
        wait : bool
            Block until it finished (notebooks).

        Returns
        -------
        bool
            False when it could not start (the reason is in :attr:`status`).
        """
        graph = self.session.graph if self.session.graph is not None else (
            self._shown.graph if self._shown is not None else None)
        if graph is None:
            self.status = "⚠ no graph to simulate on: open or generate one in the Graph view"
            return False
        try:
            dyn = type(self.spec()).from_dict(self.spec().to_dict())  # a frozen copy of the widgets' values
            sim = SimulationSpec.from_dict(self.simulation.to_dict())
            out, overwrite = self._target()
            where = device_label(sim.device)
        except RomaError as exc:
            self.status = f"⚠ {exc}"
            return False
        self.status = ""
        name = "Kuramoto" if self.dynamics == "kuramoto" else "social Burgers"
        needs = simulation_needs(graph.num_nodes, graph.nnz, sim.t_end, sim.dt, sim.save_every,
                                 4 if sim.dtype == "float32" else 8)   # checked against the server's limits
        started = self.job.start(simulate_to_store, dyn, graph, sim, out, overwrite, self.session.hierarchy,
                                 on_done=self._on_simulated,
                                 label=f"Simulating {name} on {graph.num_nodes:,} nodes ({where})",
                                 needs=needs)
        if started and wait:
            self.job.wait()
        return started

    def cleanup(self) -> None:
        """Cancel a running job and delete the temporary folders of runs made without a
        workspace (a workspace's runs and the stores the user named are kept)."""
        self.job.cancel()
        import shutil

        for folder in self._tmpdirs:
            shutil.rmtree(folder, ignore_errors=True)
        self._tmpdirs = []

    def _on_simulated(self, shown: Shown) -> None:
        self._show(shown)
        self.session.trajectory = shown.path

    def _on_run(self, event=None) -> None:
        self.run()

    def _on_cancel(self, event=None) -> None:
        self.job.cancel()

    # ------------------------------------------------------------ widgets
    def _build_widgets(self) -> None:
        self._player = pn.widgets.Player(start=0, end=max(self._shown.frames - 1 if self._shown else 1, 1), value=0,
                                         interval=150, loop_policy="loop", show_value=False, width=480,
                                         scale_buttons=0.8, visible_loop_options=[], css_classes=["roma-sim-player"])
        self._player.param.watch(lambda e: setattr(self, "frame", int(e.new)), "value")
        self.param.watch(lambda e: setattr(self._player, "value", int(e.new)), "frame")
        self._level_select = pn.widgets.Select.from_param(self.param.level, width=240)
        self._colour_select = pn.widgets.RadioButtonGroup.from_param(self.param.colour, width=240)
        run = pn.widgets.Button(label="Run", color="primary", sizing_mode="stretch_width",
                                disabled=self.job.param.running)
        run.on_click(self._on_run)
        cancel = pn.widgets.Button(label="Cancel", color="light", sizing_mode="stretch_width",
                                   visible=self.job.param.running)
        cancel.on_click(self._on_cancel)
        progress = pn.indicators.Progress(value=self.job.param.progress, max=100, visible=self.job.param.running,
                                          sizing_mode="stretch_width", bar_color="primary",
                                          css_classes=["roma-sim-progress"])

        def spec_widgets(kind):
            spec = self.kuramoto if kind == "kuramoto" else self.burgers
            main = MAIN_FIELDS[kind]
            more = [f for f in type(spec)._fields() if f not in main]
            return pn.Column(pn.Param(spec, parameters=list(main), show_name=False, width=280),
                             lazy_card(lambda: pn.Param(spec, parameters=more, show_name=False, width=270),
                                       "More parameters", width=290))

        dyn_params = pn.Column(spec_widgets(self.dynamics))
        self.param.watch(lambda e: setattr(dyn_params, "objects", [spec_widgets(e.new)]), "dynamics")
        sim_widgets = pn.Column(
            pn.Param(self.simulation, parameters=list(SIM_FIELDS), show_name=False, width=280),
            lazy_card(lambda: pn.Param(self.simulation, parameters=list(SIM_MORE), show_name=False, width=270),
                      "Device and integrator", width=290))
        self._controls = pn.Column(
            pn.widgets.RadioButtonGroup.from_param(self.param.dynamics, sizing_mode="stretch_width"),
            run, progress,
            pn.pane.Markdown(self.job.param.status, css_classes=["roma-sim-job"], margin=(0, 10)),
            cancel,
            pn.pane.Markdown("**Time**", margin=(0, 10)), sim_widgets,
            pn.pane.Markdown(pn.bind(lambda s: f"*{s}*" if s else "", self.param.step_note),
                             css_classes=["roma-sim-step"], margin=(0, 10), width=290),
            pn.pane.Markdown(pn.bind(frames_note, self.simulation.param.t_end, self.simulation.param.dt,
                                     self.simulation.param.save_every),
                             css_classes=["roma-sim-frames"], margin=(0, 10), width=290),
            pn.pane.Markdown("**Dynamics**", margin=(0, 10)), dyn_params,
            pn.pane.Markdown("**Output**", margin=(0, 10)),
            pn.widgets.TextInput.from_param(self.param.out_path, sizing_mode="stretch_width",
                                            placeholder="my_runs/run.zarr"),
            pn.widgets.Checkbox.from_param(self.param.overwrite, css_classes=["roma-sim-overwrite"]),
            width=320, height=820, scroll=True)

    def __panel__(self):
        status = pn.pane.Markdown(self.param.status, css_classes=["roma-sim-status"], margin=(0, 10))
        summary = pn.pane.Markdown(self.param.summary, css_classes=["roma-sim-summary"], margin=(0, 10),
                                   width=460)
        watch = pn.Column(status, self._graph_pane, self._time_text, self._player)
        side = pn.Column(self._series_pane, self._level_select, self._colour_select, summary)
        return pn.Row(self._controls, watch, side)


def frames_note(t_end: float, dt: float, save_every: int, lookback: int = 16, horizon: int = 8) -> str:
    """How many frames a run will store, and whether a model of the default lookback and
    horizon can train on them with a validation and a test window.

    Parameters
    ----------
    t_end, dt : float
        Simulated time and step.
    save_every : int
        Steps between stored frames.
    lookback, horizon : int
        The model's windows (ModelSpec's defaults).

    Returns
    -------
    str
        Markdown.
    """
    from roma_core.data.windows import min_frames

    frames = int(round(t_end / (dt * max(save_every, 1)))) + 1 if dt > 0 else 0
    need = min_frames(lookback, horizon)
    verdict = "enough" if frames >= need else f"too few: set t_end to at least {(need - 1) * dt * save_every:g}"
    return (f"*{frames:,} frames; training with lookback {lookback} and horizon {horizon} needs at least "
            f"{need} (validation and test 15 % each): {verdict}.*")


__all__ = ["SimulateView", "open_run", "simulate_to_store", "Shown", "default_step", "stability_limit", "frames_note"]
