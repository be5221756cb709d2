"""Graph view: a graph in the Poincaré disk, nodes coloured by any per-node quantity,
edges at a level of detail, a node picked by tapping it; generate or open graphs.

Usable alone in a notebook::

    import panel as pn; pn.extension()
    from app.views.graph import GraphView
    GraphView(graph=my_graph)
"""
from __future__ import annotations

import asyncio
import math
import threading
from pathlib import Path

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import param

from roma_core.errors import Cancelled, RomaError
from roma_core.graphs import Graph
from roma_core.specs import GraphSpec

from .. import data as appdata
from .. import render
from ..jobs import Job
from ..limits import Limits, graph_needs
from ..pickers import path_field
from ..turns import show_plot

SPEC_FIELDS = ("nodes", "mean_degree", "gamma", "beta", "seed", "largest_component")
PICK_RADIUS = 0.02  # tap tolerance, as a fraction of the viewport width
NEIGHBOURS_SHOWN = 2_000  # most edges drawn as glyphs around a picked node
HOVER_PX = 6  # a node under the cursor is the nearest one within this many screen pixels
FRAME = 680  # pixels of the plot's frame (and of its images)


class GraphView(pn.viewable.Viewer):
    """The graph in the Poincaré disk (or a force layout for small graphs without
    coordinates), rendered with Datashader so a million nodes stay interactive."""

    graph = param.ClassSelector(class_=Graph, allow_None=True, doc="the graph shown")
    color_by = param.Selector(default="degree", objects=["degree"], label="Colour nodes by")
    show_edges = param.Boolean(default=True, label="Show edges")
    projection = param.Selector(default="native", objects=list(render.PROJECTIONS), label="Disk",
                                doc="native: radius r/max r (hubs at the centre); poincare: radius tanh(r/2)")
    quantities = param.Dict(default={}, doc="extra per-node quantities to colour by: name -> array (one per node)")
    selected = param.Integer(default=None, allow_None=True, doc="the picked node id")
    hovered = param.Integer(default=None, allow_None=True, precedence=-1, doc="the node under the cursor")
    spec = param.ClassSelector(class_=GraphSpec, doc="parameters of the next generated graph")
    path = param.String(default="", label="Graph file in the workspace (.npz or .zarr)")
    session = param.Parameter(default=None, precedence=-1,
                              doc="the browser session: its workspace holds the graphs that can be opened")
    status = param.String(default="", doc="what the view is doing or what went wrong")
    edge_lod = param.String(default="", doc="level of detail of the edges last drawn")
    busy = param.Boolean(default=False, doc="a graph is being generated or opened")
    revision = param.Integer(default=0, precedence=-1, doc="bumped when the prepared data changes")

    def __init__(self, graph: Graph | None = None, **params):
        params.setdefault("spec", GraphSpec(**appdata.DEFAULT_SPEC))
        super().__init__(**params)
        self._data: render.GraphData | None = None
        self._cancel = False
        self._range = hv.streams.RangeXY()
        self._tap = self._pointer = None
        self._plot = None
        self._nodes, self._nodes_key = None, None
        self._embedding = Job(session=self.session)
        self._embedding.param.watch(lambda event: setattr(self, "status", event.new), "status")
        if graph is not None:
            self.show(graph)
        self._build_widgets()
        self._plot = pn.pane.HoloViews(None, linked_axes=False, css_classes=["roma-graph-plot"])
        self._drawn_revision = self.revision
        self._redraw()  # served: in a turn of its own, after the widgets

    # ------------------------------------------------------------------ data
    @property
    def data(self) -> render.GraphData | None:
        """The prepared (shared, cached) rendering data of the current graph."""
        return self._data

    def show(self, graph: Graph, data: render.GraphData | None = None) -> None:
        """Show ``graph`` (prepared now unless ``data`` is given). A graph without S1/H2
        coordinates is embedded in the hyperbolic plane first, as a background job whose
        progress the view shows; it is shown (and becomes the session's graph) when done.

        Parameters
        ----------
        graph : Graph
            The graph to show.
        data : render.GraphData, optional
            Its rendering data, already prepared with this view's projection.

        Raises
        ------
        RomaError
            If a quantity of :attr:`quantities` does not have one value per node.
        """
        if data is None and not graph.has_coordinates:
            self._data = None
            self.revision += 1
            self._embedding.start(self._build, lambda progress: graph, on_done=lambda built: self.show(*built),
                                  label=f"This graph has no S1/H2 coordinates: embedding its {graph.num_nodes:,} "
                                        "nodes in the hyperbolic plane")
            return
        data = data if data is not None else render.prepare(graph, projection=self.projection)
        self._data = data
        self.selected = self.hovered = None
        # the spatial index behind hover and tap, built once per graph (~0.5 s at 10^6 nodes) off the event loop
        threading.Thread(target=data.nearest, args=(0.0, 0.0, 0.0), daemon=True).start()
        self.param.update(graph=graph)
        self._refresh_quantities()
        self.status = self._summary()
        n = len(data.segments)
        self.edge_lod = (f"edges: fine ({n:,} in view)" if n <= render.FINE_EDGE_MAX
                         else f"edges: raster ({n:,} pre-aggregated)")
        self.revision += 1

    @param.depends("quantities", watch=True)
    def _refresh_quantities(self) -> None:
        names = [] if self._data is None else list(self._data.quantities)
        n = 0 if self._data is None else len(self._data.nodes)
        for name, values in self.quantities.items():
            if len(values) != n:
                raise RomaError(f"quantity {name!r} has {len(values)} values; the graph has {n} nodes")
            names.append(name)
        self.param.color_by.objects = names or ["degree"]
        if self.color_by not in self.param.color_by.objects:
            self.color_by = self.param.color_by.objects[0]
        self.revision += 1

    def _colour_opts(self) -> dict:
        """Colormap, normalisation, colorbar title and a fixed colour range (over all nodes,
        so colours mean the same at every zoom) for the quantity shown."""
        label, cmap, cnorm = render.style(self.color_by)
        lo = hi = math.nan
        if self._data is not None:
            v = self._values(self.color_by)
            v = self._data.nodes[self.color_by].to_numpy() if v is None else np.asarray(v)
            if cnorm == "log":
                v = v[v > 0]
            if len(v):
                lo, hi = float(np.nanmin(v)), float(np.nanmax(v))
                if hi <= lo:
                    hi = lo + 1.0
        return dict(cmap=render.colormap(cmap), cnorm=cnorm, clabel=label, clim=(lo, hi))

    @param.depends("color_by", "revision", watch=True)
    def _redraw(self) -> None:
        """A new plot when the colouring or the graph changes (Bokeh cannot switch a colour
        mapper in place); a new colouring keeps the current view, a new graph shows it whole.
        Served, the plot is rendered off the event loop (:func:`app.turns.show_plot`) and
        shows what is current when its turn comes."""
        if self._plot is None:
            return

        def make():
            keep = self.revision == self._drawn_revision
            self._drawn_revision = self.revision
            return self._overlay(keep_view=keep)
        show_plot(self._plot, make, "Graph view: new plot")

    def _values(self, name: str):
        return self.quantities.get(name) if name in self.quantities else None

    def _summary(self) -> str:
        d = self._data
        if d is None:
            return "No graph yet: generate one or open a file."
        g = d.graph
        k = 2 * g.num_edges / max(g.num_nodes, 1) if not g.directed else g.num_edges / max(g.num_nodes, 1)
        where = {"poincare": "Poincaré disk", "native": "hyperbolic disk (native)"}.get(d.layout_kind, "force layout")
        return f"{g.num_nodes:,} nodes · {g.num_edges:,} edges · ⟨k⟩ = {k:.2f} · {where}"

    # ---------------------------------------------------------------- jobs
    def generate(self, spec: GraphSpec | None = None, progress=None) -> Graph:
        """Generate a hyperbolic graph from ``spec`` (default: ``self.spec``) and show it;
        blocking (the widgets call it off the event loop).

        Parameters
        ----------
        spec : GraphSpec, optional
            The graph's parameters; ``self.spec`` when omitted.
        progress : callable, optional
            ``progress(done, total)``, called over generation and preparation together.

        Returns
        -------
        Graph
            The generated graph, now shown.

        Raises
        ------
        Cancelled
            If the user cancelled the job.
        """
        spec = spec or self.spec
        graph, data = self._build(lambda p: appdata.generate(spec, progress=p), progress)
        self.show(graph, data)
        return graph

    def _build(self, make, progress):
        """Make a graph then prepare it, reporting one progress from 0 to 1 over both."""
        def phase(lo, hi):
            def cb(done, total):
                if self._cancel:
                    raise Cancelled("cancelled by the user")
                if progress is not None:
                    progress(lo + (hi - lo) * done / max(total, 1), 1.0)
            return cb

        graph = make(phase(0.0, 0.3))
        if not graph.has_coordinates:
            graph = appdata.embedded(graph, progress=phase(0.3, 0.8))
        data = render.prepare(graph, progress=phase(0.8, 1.0), projection=self.projection)
        return graph, data

    async def _run_job(self, make, what: str) -> None:
        if self.busy:
            return
        self._cancel = False
        self.busy = True
        self.status = f"{what}…"
        self._progress.value = 0
        self._progress.visible = True
        done = [0.0]
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(None, self._build, make, lambda d, t: done.__setitem__(0, d / t))
        try:
            while not future.done():
                self._progress.value = int(100 * done[0])
                await asyncio.sleep(0.2)
            graph, data = future.result()
        except Cancelled:
            self.status = f"{what}: cancelled."
        except RomaError as exc:
            self.status = f"⚠ {exc}"
        else:
            self.show(graph, data)
        finally:
            self.busy = False
            self._progress.visible = False

    async def _on_generate(self, event=None) -> None:
        spec = GraphSpec(**{f: getattr(self.spec, f) for f in SPEC_FIELDS})
        try:
            spec.validate()
            Limits.from_env().check(**graph_needs(spec.nodes, spec.mean_degree), what="this graph")
        except RomaError as exc:
            self.status = f"⚠ {exc}"
            return
        await self._run_job(lambda p: appdata.generate(spec, progress=p),
                            f"Generating a hyperbolic graph of {spec.nodes:,} nodes")

    async def _on_open(self, event=None) -> None:
        if not self.path.strip():
            self.status = "⚠ pick a graph file (.npz or .zarr) of the workspace"
            return
        try:
            path = self.session.resolve(self.path, write=False) if self.session is not None else self.path.strip()
        except RomaError as exc:
            self.status = f"⚠ {exc}"
            return
        await self._run_job(lambda p: Graph.load(path), f"Opening {Path(path).name}")

    @param.depends("projection", watch=True)
    def _reproject(self) -> None:
        if self._data is not None and self._data.layout_kind in render.PROJECTIONS:
            self.show(self._data.graph)

    def _on_cancel(self, event=None) -> None:
        self._cancel = True

    # ---------------------------------------------------------------- picking
    def pick(self, x: float, y: float) -> int | None:
        """Select the node nearest to (x, y) within a few pixels of the current view.

        Parameters
        ----------
        x, y : float
            A point in the plot's data coordinates (``None`` or not finite: no node).

        Returns
        -------
        int or None
            The selected node (also set as :attr:`selected`), or ``None`` if none is near.
        """
        if self._data is None or x is None or y is None or not (math.isfinite(x) and math.isfinite(y)):
            return None
        xr_ = self._range.x_range or render.EXTENT
        self.selected = self._data.nearest(x, y, PICK_RADIUS * (xr_[1] - xr_[0]))
        return self.selected

    def _on_tap(self, x=None, y=None, **_):
        self.pick(x, y)

    def node_at(self, x, y) -> int | None:
        """The node within :data:`HOVER_PX` screen pixels of (x, y) in the current view, if any
        (a k-d tree query: tens of microseconds at 10^6 nodes).

        Parameters
        ----------
        x, y : float
            A point in the plot's data coordinates (``None`` or not finite: no node).

        Returns
        -------
        int or None
            The node under the point, or ``None``.
        """
        if self._data is None or x is None or y is None or not (math.isfinite(x) and math.isfinite(y)):
            return None
        xr_ = self._range.x_range or render.EXTENT
        return self._data.nearest(x, y, HOVER_PX * (xr_[1] - xr_[0]) / FRAME)

    def _on_pointer(self, x=None, y=None, **_):
        # HoloViews sends pointer moves at most every ~100 ms (adaptive throttling in the
        # browser); the panel is redrawn only when the node under the cursor changes
        node = self.node_at(x, y)
        if node != self.hovered:
            self.hovered = node

    @param.depends("hovered", "color_by", "revision")
    def _hover_info(self):
        d, i = self._data, self.hovered
        if d is None or i is None:
            return pn.pane.Markdown("*Point at a node to see its id, degree and values.*", css_classes=["roma-hover"])
        g = d.graph
        parts = [f"**node {i}**", f"degree {int(g.degree[i])}"]
        if g.kappa is not None:
            parts.append(f"κ {g.kappa[i]:.4g}")
        if self.color_by not in ("degree", "kappa"):
            values = self._values(self.color_by)
            v = d.nodes[self.color_by].to_numpy()[i] if values is None else values[i]
            parts.append(f"{render.style(self.color_by)[0]} {float(v):.4g}")
        return pn.pane.Markdown(" · ".join(parts), css_classes=["roma-hover"])

    @param.depends("selected", "revision", "color_by")
    def _node_info(self):
        d = self._data
        if d is None or self.selected is None:
            return pn.pane.Markdown("Tap a node to see its id, degree and coordinates.", css_classes=["roma-node"])
        i, g = self.selected, d.graph
        rows = [("node", f"{i}"), ("degree", f"{int(g.degree[i])}")]
        for name, label in (("kappa", "κ"), ("theta", "θ"), ("radius", "r")):
            arr = getattr(g, name)
            if arr is not None:
                rows.append((label, f"{arr[i]:.4g}"))
        for name, values in self.quantities.items():
            rows.append((name, f"{values[i]:.4g}"))
        table = "\n".join(f"| {a} | {b} |" for a, b in rows)
        return pn.pane.Markdown(f"| | |\n|---|---|\n{table}", css_classes=["roma-node"])

    # ---------------------------------------------------------------- drawing
    def _highlight(self, selected):
        d = self._data
        if d is None or selected is None:
            return hv.Segments([], kdims=["x0", "y0", "x1", "y1"]) * hv.Points([], kdims=["x", "y"])
        g = d.graph
        nbrs = g.indices[g.indptr[selected]:g.indptr[selected + 1]][:NEIGHBOURS_SHOWN]
        x, y = d.nodes["x"].to_numpy(), d.nodes["y"].to_numpy()
        segs = hv.Segments((np.full(len(nbrs), x[selected]), np.full(len(nbrs), y[selected]), x[nbrs], y[nbrs]),
                           kdims=["x0", "y0", "x1", "y1"]).opts(color="#1f77b4", alpha=0.5, line_width=1)
        pt = hv.Points(([x[selected]], [y[selected]]), kdims=["x", "y"]).opts(
            size=14, fill_alpha=0, line_color="#1f77b4", line_width=3, marker="circle")
        return segs * pt

    def _node_frame(self) -> pd.DataFrame:
        """x, y and the coloured quantity per node (cached per graph and quantity)."""
        values = self._values(self.color_by)
        key = (self._data.key, self.color_by, id(values))
        if self._nodes_key != key:
            d = self._data
            v = d.nodes[self.color_by].to_numpy() if values is None else np.asarray(values, dtype=np.float32)
            self._nodes = pd.DataFrame({"x": d.nodes["x"].to_numpy(), "y": d.nodes["y"].to_numpy(), "value": v})
            self._nodes_key = key
        return self._nodes

    def _overlay(self, keep_view: bool = False):
        """Nodes and edges as one server-shaded image, its colour bar, the picked node and the
        disk's rim, as one overlay."""
        x_range = (self._range.x_range if keep_view else None) or render.EXTENT
        y_range = (self._range.y_range if keep_view else None) or render.EXTENT
        self._range = hv.streams.RangeXY()
        colour = self._colour_opts()
        if not all(math.isfinite(c) for c in colour["clim"]):
            colour["clim"] = (0.0, 1.0)
        layer = render.graph_layer(
            lambda: self._data, self._node_frame, {k: colour[k] for k in ("cmap", "clim", "cnorm")},
            streams=[self._range, self.param.show_edges], edges=lambda: self.show_edges,
            on_draw=self._on_edges_drawn, size=(FRAME, FRAME)).opts(tools=["tap"])
        highlight = hv.DynamicMap(pn.bind(self._highlight, selected=self.param.selected))
        for stream in (self._tap, self._pointer):
            if stream is not None:
                stream.clear()
        self._tap = hv.streams.Tap(source=layer, x=None, y=None)
        self._tap.add_subscriber(self._on_tap)
        self._pointer = hv.streams.PointerXY(source=layer, x=None, y=None)
        self._pointer.add_subscriber(self._on_pointer)
        return (layer * render.colourbar(colour, colour["clabel"]) * highlight * render.disk_outline()).opts(
            frame_width=FRAME, frame_height=FRAME, hooks=[render.frame_sized], xlim=tuple(x_range),
            ylim=tuple(y_range), xaxis=None, yaxis=None, bgcolor="white", toolbar="above",
            active_tools=["wheel_zoom"], show_legend=False, lod=render.ZOOM_LOD)

    def _on_edges_drawn(self, mode: str, count: int) -> None:
        self.edge_lod = "" if mode == "none" else f"edges: {mode} ({count:,} {'in view' if mode != 'raster' else 'pre-aggregated'})"

    # ---------------------------------------------------------------- widgets
    def _build_widgets(self) -> None:
        self._progress = pn.indicators.Progress(value=0, max=100, visible=False, sizing_mode="stretch_width",
                                                bar_color="primary")
        gen = pn.widgets.Button(label="Generate", color="primary", sizing_mode="stretch_width",
                                disabled=self.param.busy)
        gen.on_click(self._on_generate)
        opener = pn.widgets.Button(label="Open", sizing_mode="stretch_width", disabled=self.param.busy)
        opener.on_click(self._on_open)
        cancel = pn.widgets.Button(label="Cancel", color="light", sizing_mode="stretch_width",
                                   visible=self.param.busy)
        cancel.on_click(self._on_cancel)
        spec_widgets = pn.Param(self.spec, parameters=list(SPEC_FIELDS), show_name=False,
                                widgets={"nodes": {"type": pn.widgets.IntInput, "step": 1000}},
                                width=290)
        self._controls = pn.Column(
            pn.widgets.Select.from_param(self.param.color_by, sizing_mode="stretch_width"),
            pn.widgets.RadioButtonGroup.from_param(self.param.projection, sizing_mode="stretch_width"),
            pn.widgets.Checkbox.from_param(self.param.show_edges),
            pn.pane.Markdown(pn.bind(lambda s: f"*{s}*" if s else "", self.param.edge_lod),
                             css_classes=["roma-lod"], margin=(0, 10)),
            pn.layout.Divider(),
            pn.pane.Markdown("**Generate a hyperbolic graph** (S1/H2 model)", margin=(0, 10)),
            spec_widgets, gen,
            pn.pane.Markdown("**…or open a graph file**", margin=(0, 10)),
            path_field(self, "path", self.session, ("graph", "trajectory"), sizing_mode="stretch_width",
                       placeholder="/path/to/graph.npz"),
            opener, self._progress, cancel,
            pn.indicators.Progress(value=self._embedding.param.progress, max=100, sizing_mode="stretch_width",
                                   visible=self._embedding.param.running, bar_color="primary"),
            width=300,
        )

    def __panel__(self):
        status = pn.pane.Markdown(self.param.status, css_classes=["roma-status"], margin=(0, 10))
        info = pn.Column(pn.pane.Markdown("**Under the cursor**", margin=(0, 10)), self._hover_info,
                         pn.pane.Markdown("**Picked node**", margin=(0, 10)), self._node_info, width=260)
        return pn.Row(self._controls, pn.Column(status, self._plot), info)
