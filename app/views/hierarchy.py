"""Hierarchy view: build a renormalization hierarchy (geometric RG, Laplacian RG or the
model's learned one), pick a level and see its supernodes as colours on the graph, the
coarse graph itself, the level sizes, C(τ)/S(τ) for the Laplacian RG and the degree
distributions per level; tap (or type) a supernode to highlight its members.

The hierarchy shown is also set as the session's ``hierarchy`` so other views follow.
Usable alone in a notebook::

    import panel as pn; pn.extension()
    from app.views.hierarchy import HierarchyView
    HierarchyView(graph=my_graph)            # opens on a geometric hierarchy
    HierarchyView(hierarchy=my_hierarchy)    # or shows a given one
"""
from __future__ import annotations

import math
import threading
from pathlib import Path

import colorcet as cc
import datashader as ds
import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import param
from holoviews.operation.datashader import rasterize, spread

from roma_core.errors import HierarchyError, RomaError
from roma_core.graphs import Graph
from roma_core.progress import report
from roma_core.renorm import Hierarchy, diffusion_profile, geometric, laplacian

from .. import render
from ..jobs import Job
from ..pickers import path_field
from ..state import Session
from ..turns import show_plot
from ..cache import SharedCache

METHODS = ("GRG", "LRG", "learned")
TAU_MODES = ("N/r modes", "C(τ) peak", "fixed τ")
CRITERIA = ("auto", "exact", "sketch")
DIRECT_MAX = 100_000  # GRG of graphs up to this size is built on the spot (2,000 nodes: ~10 ms)
AUTO_BUILD_MAX = 20_000  # switching method builds at once for graphs up to this size
GLYPH_MAX = 3_000  # coarse levels with more supernodes are rasterized, not drawn as glyphs
COARSE_EDGE_MAX = 200_000  # coarse edges aggregated per frame (~0.2 s); beyond, a weighted sample
PICK_RADIUS = 0.02  # tap tolerance, as a fraction of the viewport width
HIGHLIGHT = "#111111"
EDGE_ALPHA = 0.3  # fine edges stay in the background: the supernode colours are the point here
CACHE_SIZE = 6

# categorical colours for supernodes: glasbey (no greys, none too dark, so the grey edges
# and the black highlight stay apart), shuffled once so neighbouring ids differ strongly
_GLASBEY = list(cc.palette["glasbey_bw_minc_20_minl_30"])
PALETTE: list[str] = [_GLASBEY[i] for i in np.random.default_rng(7).permutation(len(_GLASBEY))]
NCOLOURS = len(PALETTE)


def colour_index(supernode: np.ndarray) -> np.ndarray:
    """Palette index of each supernode id (cycling once the palette is used up).

    Parameters
    ----------
    supernode : numpy.ndarray
        Supernode ids.

    Returns
    -------
    numpy.ndarray
        float32 indices into :data:`PALETTE`.
    """
    return (np.asarray(supernode, dtype=np.int64) % NCOLOURS).astype(np.float32)


# ------------------------------------------------------------------ builders (cached)
_CACHE = SharedCache(CACHE_SIZE)


def build_geometric(graph: Graph, block: int = 2, levels: int = 0, progress=None) -> Hierarchy:
    """GRG hierarchy, cached and shared by sessions.

    Parameters
    ----------
    graph : Graph
        The graph to coarsen (embedded first when it has no angles).
    block : int
        Nodes merged per supernode along the circle.
    levels : int
        Coarsening levels; 0: down to about 16 supernodes.
    progress : callable, optional
        ``progress(done, total)``.

    Returns
    -------
    Hierarchy
    """
    return _CACHE.get_or_compute(("grg", graph.fingerprint(), int(block), int(levels)),
                   lambda: geometric(graph, block=int(block), levels=int(levels) or None,
                                     embed=graph.theta is None, progress=progress))


def build_laplacian(graph: Graph, tau_mode: str = "N/r modes", tau: float = 0.2, reduction: float = 2.0,
                    levels: int = 0, criterion: str = "auto", progress=None) -> tuple[Hierarchy, list]:
    """LRG hierarchy (about N_l / ``reduction`` supernodes per level) plus the diffusion
    profile (S, C, Z over τ, normalized Laplacian: the LRG's kernel) of every level it
    coarsened; ``tau_mode``: ``N/r modes`` (τ* where N_l / reduction modes are left),
    ``C(τ) peak`` (τ* at the specific-heat peak) or ``fixed τ``. Cached and shared by sessions.

    Parameters
    ----------
    graph : Graph
        The graph to coarsen.
    tau_mode : str
        How τ* is chosen, one of :data:`TAU_MODES`.
    tau : float
        τ for ``fixed τ``.
    reduction : float
        Nodes per supernode, about.
    levels : int
        Coarsening levels; 0: until the graph is small.
    criterion : str
        The LRG's merge criterion (``method`` of :func:`roma_core.renorm.laplacian`).
    progress : callable, optional
        ``progress(done, total)``.

    Returns
    -------
    tuple
        ``(hierarchy, profiles)``: profiles has one diffusion profile (or None for a level
        without edges) per coarsened level.

    Raises
    ------
    HierarchyError
        If ``tau_mode`` is not one of :data:`TAU_MODES`.
    """
    if tau_mode not in TAU_MODES:
        raise HierarchyError(f"tau mode must be one of {TAU_MODES}, got {tau_mode!r}")
    kw = dict(levels=int(levels) or None, method=criterion, reduction=float(reduction))
    if tau_mode == "C(τ) peak":
        kw["rule"] = "max"
    elif tau_mode == "fixed τ":
        kw["tau"] = float(tau)

    def make():
        def first(done, total):  # the hierarchy: 0..70 %
            report(progress, 0.7 * done / max(total, 1), 1.0)

        h = laplacian(graph, progress=first, **kw)
        profiles = []
        for l in range(h.depth):
            g = h.graphs[l]
            profiles.append(diffusion_profile(g, kind="normalized") if g.num_nodes >= 2 and g.num_edges > 0
                            else None)
            report(progress, 0.7 + 0.3 * (l + 1) / h.depth, 1.0)
        return h, profiles

    key = ("lrg", graph.fingerprint(), tau_mode, float(tau), float(reduction), int(levels), criterion)
    return _CACHE.get_or_compute(key, make)


def build_learned(run: str, trajectory: str, progress=None) -> Hierarchy:
    """The hierarchy a trained ROMA run learned on the full graph of ``trajectory``.

    Parameters
    ----------
    run : str
        A run directory or checkpoint of ``roma train``.
    trajectory : str
        The trajectory store the run was trained on.
    progress : callable, optional
        ``progress(done, total)``.

    Returns
    -------
    Hierarchy

    Raises
    ------
    HierarchyError
        If either path does not exist or the model learns no hierarchy (a baseline).
    """
    from roma_core.eval import forecast_run

    run, trajectory = str(run).strip(), str(trajectory).strip()
    if not run or not Path(run).exists():
        raise HierarchyError(f"no training run at {run!r}; give the directory of a run (or checkpoint) "
                             "trained with `roma train`")
    if not trajectory or not Path(trajectory).exists():
        raise HierarchyError(f"no trajectory store at {trajectory!r}; give the .zarr the run was trained on")

    def make():
        report(progress, 0, 1)
        _, h, _ = forecast_run(run, trajectory)
        report(progress, 1, 1)
        if h is None:
            raise HierarchyError(f"{run}: this model has no learned hierarchy (a baseline?); "
                                 "choose a ROMA run")
        return h

    return _CACHE.get_or_compute(("neural", str(Path(run).resolve()), str(Path(trajectory).resolve())), make)


def prepared(build, *args, progress=None):
    """``(build(*args), GraphData of its hierarchy's graph)``: the job a view runs, so the
    (cached, shared) rendering data is made off the event loop too."""
    result = build(*args, progress=lambda d, t: report(progress, 0.8 * d / max(t, 1), 1.0))
    h = result[0] if isinstance(result, tuple) else result
    data = render.prepare(h.graph, progress=lambda d, t: report(progress, 0.8 + 0.2 * d / max(t, 1), 1.0))
    return result, data


def supernode_positions(h: Hierarchy, level: int, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where the supernodes of ``level`` are drawn, given the finest nodes' layout ``x, y``:
    a geometric hierarchy's own θ and κ-derived radius (radius / its largest, like the
    native disk), otherwise the (assignment-weighted) mean position of their members.

    Parameters
    ----------
    h : Hierarchy
        The hierarchy.
    level : int
        The level drawn (0: the nodes themselves).
    x, y : numpy.ndarray
        The finest nodes' positions.

    Returns
    -------
    tuple of numpy.ndarray
        x and y of each supernode.
    """
    g = h.graphs[level]
    if level == 0:
        return np.asarray(x), np.asarray(y)
    if method_of(h) == "GRG" and g.theta is not None and g.radius is not None:
        rho = g.radius / max(float(g.radius.max()), 1e-12)
        return rho * np.cos(g.theta), rho * np.sin(g.theta)
    c = np.asarray(h.coarsen(np.column_stack([x, y]).astype(np.float64), 0, target=level))
    return c[:, 0], c[:, 1]


def coarse_segments(graph: Graph, x: np.ndarray, y: np.ndarray, max_edges: int = COARSE_EDGE_MAX) -> pd.DataFrame:
    """One row ``x0, y0, x1, y1, w`` per undirected edge of a coarse graph drawn at ``x, y``;
    ``w`` is the edge weight (the fine edges it stands for). Beyond ``max_edges``, a
    deterministic uniform sample whose weights are scaled up to stand for all.

    Parameters
    ----------
    graph : Graph
        The coarse graph.
    x, y : numpy.ndarray
        Its nodes' positions.
    max_edges : int
        The most edges drawn.

    Returns
    -------
    pandas.DataFrame
    """
    src, dst, w = graph.edges()
    keep = src < dst if not graph.directed else np.ones(len(src), bool)
    src, dst = src[keep], dst[keep]
    w = np.ones(len(src)) if w is None else np.asarray(w, dtype=np.float64)[keep]
    if len(src) > max_edges:
        pick = np.linspace(0, len(src) - 1, max_edges).astype(np.int64)
        src, dst, w = src[pick], dst[pick], w[pick] * (len(src) / max_edges)
    return pd.DataFrame({"x0": x[src].astype(np.float32), "y0": y[src].astype(np.float32),
                         "x1": x[dst].astype(np.float32), "y1": y[dst].astype(np.float32), "w": w.astype(np.float32)})


def degree_ccdf(graph: Graph) -> tuple[np.ndarray, np.ndarray]:
    """Complementary cumulative degree distribution P(K ≥ k) over k / ⟨k⟩ (nodes of degree 0 left out).

    Parameters
    ----------
    graph : Graph

    Returns
    -------
    tuple of numpy.ndarray
        ``(k / ⟨k⟩, P(K ≥ k))`` over the distinct degrees.
    """
    k = np.sort(graph.degree[graph.degree > 0].astype(np.float64))
    if not len(k):
        return np.zeros(0), np.zeros(0)
    values, first = np.unique(k, return_index=True)
    return values / k.mean(), 1.0 - first / len(k)


def method_of(h: Hierarchy) -> str:
    """Which widget choice a hierarchy belongs to (from its spec)."""
    return {"geometric": "GRG", "laplacian": "LRG", "neural": "learned"}.get(str(h.spec.get("method")), "GRG")


_WARM = threading.Lock()
_warmed = False


def warm_up() -> None:
    """Compile the Datashader kernels only this view uses (weighted lines, wider spreads) on
    toy data, so the first real frame does not wait for Numba (seconds, once per process; the
    first view built runs it: with ``roma serve`` that is at server start)."""
    global _warmed
    with _WARM:
        if not _warmed:
            _warm_up()
            _warmed = True


def _warm_up() -> None:
    pts = hv.Points(pd.DataFrame({"x": [0.0, 0.5], "y": [0.0, 0.5], "v": [1.0, 2.0]}), kdims=["x", "y"], vdims=["v"])
    for px, agg in ((2, ds.max("v")), (3, ds.count())):
        spread(rasterize(pts, aggregator=agg, width=32, height=32, dynamic=False), px=px, how="max", dynamic=False)
    seg = pd.DataFrame({"x0": [0.0], "y0": [0.0], "x1": [0.5], "y1": [0.5], "w": [2.0]}, dtype=np.float32)
    img = ds.Canvas(32, 32, x_range=(-1, 1), y_range=(-1, 1)).line(seg, x=["x0", "x1"], y=["y0", "y1"], axis=1,
                                                                   agg=ds.sum("w"))
    render.shade_edges(img.astype(np.float32))


# ------------------------------------------------------------------ the view
class HierarchyView(pn.viewable.Viewer):
    """Renormalization hierarchies of a graph, level by level."""

    graph = param.ClassSelector(class_=Graph, allow_None=True, doc="the graph GRG and LRG coarsen")
    session = param.ClassSelector(class_=Session, allow_None=True, doc="the browser session (shares the hierarchy)")
    hierarchy = param.ClassSelector(class_=Hierarchy, allow_None=True, doc="the hierarchy shown")
    method = param.Selector(default="GRG", objects=list(METHODS), label="Hierarchy")
    block = param.Integer(default=2, bounds=(2, 1024), label="Block size (nodes per supernode)")
    levels = param.Integer(default=0, bounds=(0, 64), label="Levels (0 = down to ~16 supernodes)")
    tau_mode = param.Selector(default="N/r modes", objects=list(TAU_MODES), label="τ*",
                              doc="N/r modes: τ* where N_l / reduction diffusion modes are left (the default); "
                                  "C(τ) peak: at the specific-heat peak; fixed τ: the value below")
    tau = param.Number(default=0.2, bounds=(1e-6, None), inclusive_bounds=(False, True), label="τ* (fixed)")
    reduction = param.Number(default=2.0, bounds=(1.0, None), inclusive_bounds=(False, True),
                             label="Reduction N_l / N_(l+1)")
    criterion = param.Selector(default="auto", objects=list(CRITERIA), label="Heat similarity",
                               doc="sketch (random features, seconds; close calls between neighbours may differ) "
                                   "or exact (columns of the heat kernel, seconds at a few thousand nodes); "
                                   "auto: exact up to 4,000 nodes")
    run = param.String(default="", label="Training run")
    trajectory = param.String(default="", label="Trajectory store")
    level = param.Selector(default=0, objects=[0], label="Level")
    supernode = param.Integer(default=None, allow_None=True, bounds=(0, None), label="Supernode")
    show_edges = param.Boolean(default=True, label="Show fine edges")
    status = param.String(default="")
    revision = param.Integer(default=0, precedence=-1, doc="bumped when the hierarchy shown changes")

    def __init__(self, graph: Graph | None = None, session: Session | None = None,
                 hierarchy: Hierarchy | None = None, **params):
        if session is not None:
            graph = graph if graph is not None else session.graph
            params.setdefault("run", session.run)
            params.setdefault("trajectory", session.trajectory)
        super().__init__(graph=graph, session=session, **params)
        warm_up()
        self._job = Job(session)
        self._data: render.GraphData | None = None
        self._profiles: list | None = None
        self._built: dict[str, tuple] = {}
        self._pos_cache: dict = {}
        self._shown_graph = None
        self._main = self._coarse = None
        self._range = hv.streams.RangeXY()
        self._main_tap = self._coarse_tap = None
        self._showing = False
        if hierarchy is None and session is not None and isinstance(session.hierarchy, Hierarchy):
            hierarchy = session.hierarchy
        if hierarchy is not None:
            self.show(hierarchy)
        elif graph is not None and graph.num_nodes <= DIRECT_MAX:
            self._build_direct()
        self._build_widgets()
        self._main = pn.pane.HoloViews(None, linked_axes=False, css_classes=["roma-hier-plot"])
        self._coarse = pn.pane.HoloViews(None, linked_axes=False, css_classes=["roma-hier-coarse"])
        # served: each rendered off the event loop, in a turn of its own after the widgets
        show_plot(self._main, self._main_overlay, "Hierarchy view: new plot")
        show_plot(self._coarse, self._coarse_overlay, "Hierarchy view: new coarse plot")
        if session is not None:
            session.param.watch(self._on_session_hierarchy, "hierarchy")
            session.param.watch(self._on_session_graph, "graph")
        if self.hierarchy is None and graph is not None:
            self.build()

    # ------------------------------------------------------------------ showing
    def show(self, h: Hierarchy, profiles: list | None = None, level: int | None = None,
             data: render.GraphData | None = None) -> None:
        """Show hierarchy ``h`` and share it with the session.

        Parameters
        ----------
        h : Hierarchy
            The hierarchy.
        profiles : list, optional
            LRG's diffusion profile per coarsened level.
        level : int, optional
            The level shown (default 1).
        data : render.GraphData, optional
            Its graph's prepared rendering data (made now when not given).
        """
        data = data if data is not None else render.prepare(h.graph)
        self._data, self._profiles, self._pos_cache = data, profiles, {}
        method = method_of(h)
        self._built[method] = (h, profiles)
        self.param.level.objects = list(range(h.num_levels))
        self._showing = True
        try:
            self.param.update(method=method, hierarchy=h, supernode=None,
                              level=min(h.depth, 1) if level is None else int(level))
        finally:
            self._showing = False
        self.revision += 1
        self.status = self._summary()
        if self.session is not None and self.session.hierarchy is not h:
            self.session.hierarchy = h
        if self._main is not None and h.graph is not self._shown_graph:
            show_plot(self._main, self._main_overlay, "Hierarchy view: new plot")  # a new graph: show it whole
        self._shown_graph = h.graph

    def _summary(self) -> str:
        h = self.hierarchy
        if h is None:
            return "No hierarchy yet: choose a method and press Build."
        kind = "hard" if h.is_hard else "soft"
        extra = ""
        if "tau" in h.meta:
            extra = " · τ* = " + ", ".join(f"{t:.3g}" for t in h.meta["tau"])
            if h.depth and h.is_hard:
                big = int(np.bincount(h.membership(1)).max())
                extra += f" · largest level-1 supernode {big:,} nodes ({100 * big / h.sizes[0]:.2g} %)"
        elif method_of(h) == "GRG":
            extra = f" · block {h.spec.get('block')}"
        return f"**{method_of(h)}** hierarchy ({kind}) of {h.sizes[0]:,} nodes: {h.depth} coarsening levels{extra}"

    @property
    def data(self) -> render.GraphData | None:
        """The rendering data of the hierarchy's graph (None before one is shown)."""
        return self._data

    # ------------------------------------------------------------------ building
    def build(self, event=None) -> bool:
        """Build the hierarchy chosen by the widgets: GRG of a small graph at once, the rest
        as a background job (progress and cancel).

        Parameters
        ----------
        event : param.parameterized.Event, optional
            The button's click (unused).

        Returns
        -------
        bool
            False when a job is already running or the inputs are wrong (the reason is in
            :attr:`status`).
        """
        try:
            if self.method == "GRG" and self.graph is not None and self.graph.num_nodes <= DIRECT_MAX:
                self._build_direct()
                return True
            fn, args, label = self._job_for(self.method)
        except RomaError as exc:
            self.status = f"⚠ {exc}"
            return False
        return self._job.start(prepared, fn, *args, on_done=self._on_built, label=label)

    def _build_direct(self) -> None:
        try:
            self.show(build_geometric(self.graph, self.block, self.levels))
        except RomaError as exc:
            self.status = f"⚠ {exc}"

    def _job_for(self, method: str):
        if method == "learned":
            paths = tuple(self.session.resolve(p) if self.session is not None and p.strip() else p
                          for p in (self.run, self.trajectory))   # confined to the workspace
            return build_learned, paths, "Computing the learned hierarchy"
        if self.graph is None:
            raise HierarchyError("no graph to coarsen: open or generate one first")
        if method == "GRG":
            return build_geometric, (self.graph, self.block, self.levels), "Building the geometric RG"
        return (build_laplacian, (self.graph, self.tau_mode, self.tau, self.reduction, self.levels, self.criterion),
                "Building the Laplacian RG")

    def _on_built(self, result) -> None:
        built, data = result
        h, profiles = built if isinstance(built, tuple) else (built, None)
        self.show(h, profiles, data=data)

    def _on_cancel(self, event=None) -> None:
        self._job.cancel()

    @param.depends("method", watch=True)
    def _on_method(self) -> None:
        """Switching method shows what was built with it, or builds it when the graph is small."""
        if self._showing:
            return
        if self.method in self._built:
            h, profiles = self._built[self.method]
            self.show(h, profiles)
        elif self.graph is not None and (self.graph.num_nodes <= AUTO_BUILD_MAX or self.method == "learned") \
                and (self.method != "learned" or self.run):
            self.build()
        else:
            self.status = f"Press **Build** for the {self.method} hierarchy."

    def _on_session_hierarchy(self, event) -> None:
        if isinstance(event.new, Hierarchy) and event.new is not self.hierarchy:
            self.show(event.new)

    def _on_session_graph(self, event) -> None:
        if isinstance(event.new, Graph) and event.new is not self.graph:
            self.graph = event.new
            self._built.clear()
            if self.graph.num_nodes <= DIRECT_MAX:
                self.method = "GRG"
                self._build_direct()

    # ------------------------------------------------------------------ selection
    def select(self, supernode: int | None) -> np.ndarray:
        """Select a supernode of the current level.

        Parameters
        ----------
        supernode : int or None
            The supernode (``None``: no selection).

        Returns
        -------
        numpy.ndarray
            Its members, nodes of the finest graph.
        """
        self.supernode = None if supernode is None else int(supernode)
        return self.members()

    def members(self) -> np.ndarray:
        """The finest nodes of the selected supernode (none when nothing is selected).

        Returns
        -------
        numpy.ndarray
        """
        h, s = self.hierarchy, self.supernode
        if h is None or s is None or s >= h.sizes[self.level]:
            return np.zeros(0, dtype=np.int64)
        return h.members(self.level, s)

    @param.depends("level", watch=True)
    def _on_level(self) -> None:
        self.supernode = None

    @param.depends("supernode", watch=True)
    def _check_supernode(self) -> None:
        h = self.hierarchy
        if h is not None and self.supernode is not None and self.supernode >= h.sizes[self.level]:
            n = h.sizes[self.level]
            self.status = f"⚠ supernode {self.supernode} does not exist: level {self.level} has {n:,} (0..{n - 1:,})"
            self.supernode = None

    def pick(self, x: float, y: float) -> int | None:
        """Select the supernode of the node nearest to (x, y) on the graph.

        Parameters
        ----------
        x, y : float
            A point in the plot's data coordinates (``None``: no supernode).

        Returns
        -------
        int or None
            The selected supernode.
        """
        if self._data is None or self.hierarchy is None or x is None or y is None:
            return None
        xr_ = self._range.x_range or render.EXTENT
        node = self._data.nearest(x, y, PICK_RADIUS * (xr_[1] - xr_[0]))
        if node is not None:
            self.supernode = int(self.hierarchy.membership(self.level)[node])
        return self.supernode

    def pick_coarse(self, x: float, y: float) -> int | None:
        """Select the supernode drawn nearest to (x, y) on the coarse graph.

        Parameters
        ----------
        x, y : float
            A point in the plot's data coordinates (``None``: no supernode).

        Returns
        -------
        int or None
            The selected supernode.
        """
        if self.hierarchy is None or x is None or y is None:
            return None
        px, py = self.positions(self.level)
        if not len(px):
            return None
        d2 = (px - x) ** 2 + (py - y) ** 2
        i = int(np.argmin(d2))
        if d2[i] <= (0.06 * (render.EXTENT[1] - render.EXTENT[0])) ** 2:
            self.supernode = i
        return self.supernode

    # ------------------------------------------------------------------ geometry
    def positions(self, level: int) -> tuple[np.ndarray, np.ndarray]:
        """Where the supernodes of ``level`` are drawn (see :func:`supernode_positions`), cached.

        Parameters
        ----------
        level : int

        Returns
        -------
        tuple of numpy.ndarray
            x and y of each supernode.
        """
        if level not in self._pos_cache:
            d = self._data
            self._pos_cache[level] = supernode_positions(self.hierarchy, level, d.nodes["x"].to_numpy(),
                                                         d.nodes["y"].to_numpy())
        return self._pos_cache[level]

    # ------------------------------------------------------------------ main plot
    @param.depends("level", "revision")
    def _node_points(self):
        if self._data is None or self.hierarchy is None:
            return hv.Points(pd.DataFrame({"x": [], "y": [], "value": []}), kdims=["x", "y"], vdims=["value"])
        values = colour_index(self.hierarchy.membership(self.level))
        return render.node_points(self._data, "supernode", values)

    @param.depends("supernode", "level", "revision")
    def _member_points(self):
        idx = self.members()
        if self._data is None or not len(idx):
            return hv.Points(pd.DataFrame({"x": [], "y": []}), kdims=["x", "y"])
        n = self._data.nodes
        return hv.Points(pd.DataFrame({"x": n["x"].to_numpy()[idx], "y": n["y"].to_numpy()[idx]}), kdims=["x", "y"])

    def _edge_data(self):
        return self._data if self.show_edges else None

    def _main_overlay(self):
        self._range = hv.streams.RangeXY()
        nodes = render.rasterized_nodes(hv.DynamicMap(self._node_points), px=2).opts(
            cmap=PALETTE, clim=(-0.5, NCOLOURS - 0.5), colorbar=False, tools=["tap"])
        members = spread(rasterize(hv.DynamicMap(self._member_points), aggregator=ds.count()), px=3, how="max").opts(
            cmap=[HIGHLIGHT, HIGHLIGHT], colorbar=False)
        edges = render.edge_layer(self._edge_data, streams=[self._range, hv.streams.PlotSize(),
                                                            self.param.show_edges, self.param.revision])
        if self._main_tap is not None:
            self._main_tap.clear()
        self._main_tap = hv.streams.Tap(source=nodes, x=None, y=None)
        self._main_tap.add_subscriber(lambda x=None, y=None, **_: self.pick(x, y))
        return (edges.opts(tools=[], alpha=EDGE_ALPHA) * nodes * members * render.disk_outline()).opts(
            frame_width=540, frame_height=540,
            hooks=[render.frame_sized], lod=render.ZOOM_LOD, xlim=render.EXTENT, ylim=render.EXTENT, xaxis=None, yaxis=None,
            bgcolor="white", toolbar="above", active_tools=["wheel_zoom"], show_legend=False,
            title="Supernodes on the graph")

    # ------------------------------------------------------------------ coarse graph plot
    def _coarse_frame(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Supernodes (x, y, id, members, degree, colour, size) and weighted coarse edges."""
        h, l = self.hierarchy, self.level
        g = h.graphs[l]
        x, y = self.positions(l)
        sizes = np.asarray(h.supernode_sizes(l), dtype=np.float64)
        ids = np.arange(g.num_nodes)
        colours = np.asarray(PALETTE)[colour_index(ids).astype(np.int64)]
        biggest = float(np.clip(180 / math.sqrt(max(g.num_nodes, 1)), 5, 24))  # crowded levels: smaller dots
        marker = 3 + (biggest - 3) * np.sqrt(sizes / max(float(sizes.max()), 1e-12))
        nodes = pd.DataFrame({"x": x, "y": y, "supernode": ids, "members": sizes, "degree": g.degree,
                              "colour": colours, "size": marker, "cidx": colour_index(ids)})
        # level 0 is drawn from the graph's own edge level of detail instead (see _coarse_edges)
        edges = coarse_segments(g, x, y) if l > 0 else pd.DataFrame(
            {c: np.zeros(0, np.float32) for c in ("x0", "y0", "x1", "y1", "w")})
        return nodes, edges

    def _coarse_edges(self, x_range=None, y_range=None, width=None, height=None, **_):
        x_range, y_range = x_range or render.EXTENT, y_range or render.EXTENT
        width, height = max(int(width or 400), 1), max(int(height or 400), 1)
        if self.hierarchy is None:
            z = np.zeros((2, 2), np.uint8)
            return hv.RGB((list(x_range), list(y_range), z, z, z, z), kdims=["x", "y"], vdims=list("RGBA"))
        if self.level == 0 and self._data is not None:  # the graph itself: its edge level of detail
            return render.shade_edges(self._data.edge_image(x_range, y_range, width, height)[0])
        _, edges = self._coarse_frame_cached()
        cvs = ds.Canvas(plot_width=width, plot_height=height, x_range=tuple(x_range), y_range=tuple(y_range))
        img = cvs.line(edges, x=["x0", "x1"], y=["y0", "y1"], axis=1, agg=ds.sum("w")).astype(np.float32)
        return render.shade_edges(img)

    def _coarse_frame_cached(self):
        key = ("frame", self.revision, self.level)
        if key not in self._pos_cache:
            self._pos_cache[key] = self._coarse_frame()
        return self._pos_cache[key]

    @param.depends("level", "revision")
    def _coarse_glyphs(self):
        vdims = ["supernode", "members", "degree", "colour", "size"]
        if self.hierarchy is None or self.hierarchy.sizes[self.level] > GLYPH_MAX:
            return hv.Points(pd.DataFrame({c: [] for c in ["x", "y"] + vdims}), kdims=["x", "y"], vdims=vdims)
        nodes, _ = self._coarse_frame_cached()
        return hv.Points(nodes, kdims=["x", "y"], vdims=vdims)

    @param.depends("level", "revision")
    def _coarse_raster_points(self):
        if self.hierarchy is None or self.hierarchy.sizes[self.level] <= GLYPH_MAX:
            return hv.Points(pd.DataFrame({"x": [], "y": [], "cidx": []}), kdims=["x", "y"], vdims=["cidx"])
        nodes, _ = self._coarse_frame_cached()
        return hv.Points(nodes[["x", "y", "cidx"]], kdims=["x", "y"], vdims=["cidx"])

    @param.depends("supernode", "level", "revision")
    def _coarse_ring(self):
        if self.hierarchy is None or self.supernode is None or self.supernode >= self.hierarchy.sizes[self.level]:
            return hv.Points(([], []), kdims=["x", "y"])
        x, y = self.positions(self.level)
        return hv.Points(([x[self.supernode]], [y[self.supernode]]), kdims=["x", "y"])

    def _coarse_overlay(self):
        edges = hv.DynamicMap(self._coarse_edges, streams=[hv.streams.RangeXY(), hv.streams.PlotSize(),
                                                           self.param.level, self.param.revision])
        glyphs = hv.DynamicMap(self._coarse_glyphs).opts(
            color="colour", size="size", line_color="#333333", line_width=0.5, alpha=0.9,
            tools=["hover", "tap"], hover_tooltips=[("supernode", "@supernode"), ("members", "@members{0.[0]}"),
                                                    ("coarse degree", "@degree")])
        raster = spread(rasterize(hv.DynamicMap(self._coarse_raster_points), aggregator=ds.max("cidx")),
                        px=1, how="max").opts(cmap=PALETTE, clim=(-0.5, NCOLOURS - 0.5), colorbar=False)
        ring = hv.DynamicMap(self._coarse_ring).opts(size=26, fill_alpha=0, line_color=HIGHLIGHT, line_width=3)
        tap = hv.streams.Tap(source=glyphs, x=None, y=None)
        tap.add_subscriber(lambda x=None, y=None, **_: self.pick_coarse(x, y))
        self._coarse_tap = tap
        return (edges.opts(tools=[], alpha=0.8) * raster * glyphs * ring * render.disk_outline()).opts(
            frame_width=400, frame_height=400,
            hooks=[render.frame_sized], lod=render.ZOOM_LOD, xlim=(-1.08, 1.08), ylim=(-1.08, 1.08), xaxis=None, yaxis=None,
            bgcolor="white", toolbar="above", active_tools=["wheel_zoom"], show_legend=False,
            title="Coarse graph (edge shade ∝ fine edges)")

    # ------------------------------------------------------------------ side plots
    @param.depends("level", "revision")
    def _sizes_plot(self):
        h = self.hierarchy
        if h is None:
            return hv.Bars([], "level", "nodes")
        frame = pd.DataFrame({"level": [str(l) for l in range(h.num_levels)], "nodes": h.sizes,
                              "colour": ["#1f4e79" if l == self.level else "#9bb7d4" for l in range(h.num_levels)]})
        return hv.Bars(frame, "level", ["nodes", "colour"]).opts(
            color="colour", logy=True, ylim=(0.5, 2.0 * max(h.sizes)), frame_width=300, frame_height=220,
            hooks=[render.frame_sized],
            title="Nodes per level",
            tools=["hover"], ylabel="nodes (log)", xlabel="level", toolbar=None)

    @param.depends("level", "revision")
    def _analysis_plot(self):
        h = self.hierarchy
        if h is not None and method_of(h) == "LRG" and self._profiles:
            return self._profile_plot()
        return self._degree_plot()

    def _profile_plot(self):
        h = self.hierarchy
        src = min(max(self.level - 1, 0), h.depth - 1)
        prof = self._profiles[src]
        if prof is None:
            return hv.Curve([], "τ", "C").opts(title=f"C(τ): level {src} has no edges")
        tau = prof["tau"].values
        taus = h.meta.get("tau", [])
        c = hv.Curve((tau, prof["C"].values), hv.Dimension("tau", label="diffusion time τ"), "value",
                     label="C(τ) specific heat").opts(color="#c0392b", line_width=2.5)
        s = hv.Curve((tau, prof["S"].values), hv.Dimension("tau", label="diffusion time τ"), "value",
                     label="S(τ) entropy / ln N").opts(color="#2c7fb8", line_width=1.5, line_dash="dashed")
        z = hv.Curve((tau, prof["Z"].values / h.sizes[src]), hv.Dimension("tau", label="diffusion time τ"), "value",
                     label="Z(τ)/N modes left").opts(color="#27ae60", line_width=1.5, line_dash="dotdash")
        title = f"Level {src} ({h.sizes[src]:,} nodes)"
        layers = c * s * z
        if src < len(taus):
            layers = layers * hv.VLine(taus[src]).opts(color="#333333", line_dash="dotted", line_width=2)
            big = int(np.bincount(h.membership(src + 1)).max()) if h.is_hard else None
            share = f", largest {big:,} ({100 * big / h.sizes[0]:.2g} %)" if big is not None else ""
            title += f": τ* = {taus[src]:.3g} → {h.sizes[src + 1]:,} supernodes{share}"
        return layers.opts(logx=True, frame_width=380, frame_height=220,
            hooks=[render.frame_sized], title=title, legend_position="top_right",
                           ylabel="", toolbar=None, show_legend=True)

    def _degree_plot(self):
        h = self.hierarchy
        if h is None:
            return hv.Curve([], "k/⟨k⟩", "P(K ≥ k)")
        from holoviews.plotting.util import process_cmap

        cols = process_cmap("viridis", ncolors=max(h.num_levels, 2))
        curves = []
        for l, g in enumerate(h.graphs):
            if g.num_nodes < 8:
                continue
            x, y = degree_ccdf(g)
            if len(x) < 2:
                continue
            curves.append(hv.Curve((x, y), hv.Dimension("k", label="k / <k>"), hv.Dimension("P", label="P(K ≥ k)"),
                                   label=f"level {l}").opts(color=cols[l], line_width=3.5 if l == self.level else 1.3))
        if not curves:
            return hv.Curve([], "k", "P")
        return hv.Overlay(curves).opts(logx=True, logy=True, frame_width=380, frame_height=220,
            hooks=[render.frame_sized],
                                       title="Degree distribution per level (rescaled)", legend_position="right",
                                       toolbar=None)

    # ------------------------------------------------------------------ texts
    @param.depends("level", "revision")
    def _levels_text(self):
        h = self.hierarchy
        text = "" if h is None else "Level sizes: " + " → ".join(
            f"**{n:,}**" if l == self.level else f"{n:,}" for l, n in enumerate(h.sizes))
        return pn.pane.Markdown(text, css_classes=["roma-hier-levels"], margin=(0, 10))

    @param.depends("supernode", "level", "revision")
    def _supernode_text(self):
        h, s = self.hierarchy, self.supernode
        if h is None or s is None:
            n = 0 if h is None else h.sizes[self.level]
            msg = (f"Tap the graph or the coarse graph, or type a supernode id (0..{n - 1:,}), "
                   "to highlight its members." if n else "")
            return pn.pane.Markdown(msg, css_classes=["roma-hier-supernode"], margin=(0, 10))
        members = self.members()
        g = h.graphs[self.level]
        rows = [("supernode", f"{s}"), ("level", f"{self.level}"), ("highlighted members", f"{len(members):,}"),
                ("coarse degree", f"{int(g.degree[s])}")]
        if g.theta is not None:
            rows.append(("θ", f"{g.theta[s]:.4g}"))
        if g.kappa is not None:
            rows.append(("κ", f"{g.kappa[s]:.4g}"))
        if not h.is_hard:
            rows.append(("soft weight", f"{float(h.supernode_sizes(self.level)[s]):.4g}"))
        table = "\n".join(f"| {a} | {b} |" for a, b in rows)
        return pn.pane.Markdown(f"| | |\n|---|---|\n{table}", css_classes=["roma-hier-supernode"], margin=(0, 10))

    # ------------------------------------------------------------------ widgets
    def _build_widgets(self) -> None:
        build = pn.widgets.Button(label="Build", color="primary", sizing_mode="stretch_width",
                                  disabled=self._job.param.running)
        build.on_click(self.build)
        cancel = pn.widgets.Button(label="Cancel", sizing_mode="stretch_width", visible=self._job.param.running)
        cancel.on_click(self._on_cancel)
        clear = pn.widgets.Button(label="Clear selection", sizing_mode="stretch_width")
        clear.on_click(lambda e: self.select(None))
        progress = pn.indicators.Progress(value=self._job.param.progress, max=100, visible=self._job.param.running,
                                          sizing_mode="stretch_width", bar_color="primary")
        grg = pn.Column(pn.widgets.IntInput.from_param(self.param.block, sizing_mode="stretch_width"),
                        visible=self.param.method.rx() == "GRG", margin=0)
        lrg = pn.Column(
            pn.widgets.RadioButtonGroup.from_param(self.param.tau_mode, sizing_mode="stretch_width"),
            pn.widgets.FloatInput.from_param(self.param.reduction, step=0.5, sizing_mode="stretch_width"),
            pn.widgets.FloatInput.from_param(self.param.tau, step=0.05, sizing_mode="stretch_width",
                                             visible=self.param.tau_mode.rx() == "fixed τ"),
            pn.widgets.Select.from_param(self.param.criterion, sizing_mode="stretch_width"),
            visible=self.param.method.rx() == "LRG", margin=0)
        learned = pn.Column(
            path_field(self, "run", self.session, ("run",), sizing_mode="stretch_width", placeholder="runs/my_run"),
            path_field(self, "trajectory", self.session, ("trajectory",), sizing_mode="stretch_width",
                       placeholder="data/trajectory.zarr"),
            visible=self.param.method.rx() == "learned", margin=0)
        levels_input = pn.widgets.IntInput.from_param(self.param.levels, sizing_mode="stretch_width",
                                                      visible=self.param.method.rx() != "learned")
        self._controls = pn.Column(
            pn.widgets.RadioButtonGroup.from_param(self.param.method, sizing_mode="stretch_width",
                                                   color="primary", variant="outline"),
            grg, lrg, learned, levels_input, build, progress, cancel,
            pn.pane.Markdown(self._job.param.status, css_classes=["roma-hier-job"], margin=(0, 10)),
            pn.layout.Divider(),
            pn.pane.Markdown("**Level shown**", margin=(0, 10)),
            pn.widgets.RadioButtonGroup.from_param(self.param.level, sizing_mode="stretch_width",
                                                   css_classes=["roma-hier-level"]),
            pn.widgets.IntInput.from_param(self.param.supernode, sizing_mode="stretch_width",
                                           css_classes=["roma-hier-supernode-input"]),
            clear,
            pn.widgets.Checkbox.from_param(self.param.show_edges),
            width=300,
        )

    def __panel__(self):
        status = pn.pane.Markdown(self.param.status, css_classes=["roma-hier-status"], margin=(0, 10))
        plots = pn.Row(self._main, pn.Column(self._coarse, pn.panel(self._supernode_text, width=420)))
        below = pn.Row(pn.pane.HoloViews(self._sizes_plot, css_classes=["roma-hier-sizes"]),
                       pn.pane.HoloViews(self._analysis_plot, css_classes=["roma-hier-analysis"]))
        return pn.Row(self._controls, pn.Column(status, self._levels_text, plots, below))


__all__ = ["HierarchyView", "build_geometric", "build_laplacian", "build_learned", "coarse_segments", "colour_index",
           "degree_ccdf", "supernode_positions", "PALETTE"]
