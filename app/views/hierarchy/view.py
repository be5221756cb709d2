"""Hierarchy view: build a renormalization hierarchy (geometric RG, Laplacian RG or the
model's learned one), pick a level and see its supernodes as colours on the graph (a
coarser level's when they are too many to tell apart, named above the plots), the
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

import holoviews as hv
import numpy as np
import panel as pn
import param

from roma_core.errors import HierarchyError, RomaError
from roma_core.graphs import Graph
from roma_core.renorm import Hierarchy

from ... import render
from ...jobs import Job
from ...pickers import path_field
from ...state import Session
from ...turns import show_plot
from .build import (CRITERIA, METHODS, TAU_MODES, build_geometric, build_laplacian, build_learned, method_of,
                    prepared)
from .coarse_plot import CoarsePlot
from .graph_plot import GraphPlot
from .side_plots import degree_plot, profile_plot, sizes_plot
from .warm import warm_up

DIRECT_MAX = 100_000  # GRG of graphs up to this size is built on the spot (2,000 nodes: ~10 ms)
AUTO_BUILD_MAX = 20_000  # switching method builds at once for graphs up to this size


class HierarchyView(GraphPlot, CoarsePlot, pn.viewable.Viewer):
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

    # ------------------------------------------------------------------ side plots
    @param.depends("level", "revision")
    def _sizes_plot(self):
        return sizes_plot(self.hierarchy, self.level)

    @param.depends("level", "revision")
    def _analysis_plot(self):
        h = self.hierarchy
        if h is not None and method_of(h) == "LRG" and self._profiles:
            return profile_plot(h, self._profiles, self.level)
        return degree_plot(h, self.level)

    # ------------------------------------------------------------------ texts
    @param.depends("level", "revision")
    def _levels_text(self):
        h = self.hierarchy
        text = "" if h is None else "Level sizes: " + " → ".join(
            f"**{n:,}**" if l == self.level else f"{n:,}" for l, n in enumerate(h.sizes))
        return pn.pane.Markdown(text, css_classes=["roma-hier-levels"], margin=(0, 10))

    @param.depends("level", "revision")
    def _colours_text(self):
        h, l = self.hierarchy, self.level
        text = ""
        if h is not None and self._data is not None:
            c = self.colour_level(l)
            text = f"Colours: the {h.sizes[l]:,} supernodes of level {l}."
            if c != l:
                text = (f"Colours: the {h.sizes[c]:,} supernodes of level {c}, each holding about "
                        f"{h.sizes[l] / h.sizes[c]:,.0f} of level {l}'s {h.sizes[l]:,} (too many to tell apart "
                        "on the whole disk).")
        return pn.pane.Markdown(text, css_classes=["roma-hier-colours"], margin=(0, 10))

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
        return pn.Row(self._controls, pn.Column(status, self._levels_text, self._colours_text, plots, below))


__all__ = ["HierarchyView"]
