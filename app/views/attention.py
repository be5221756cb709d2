"""Attention view: how much each node (or a boxed region of nodes) attends to its own token
and to its supernodes at every level of ROMA's learned hierarchy, per head; on the graph,
the supernodes it attends to; and which scales dominate across the graph.

Usable alone in a notebook::

    import panel as pn; pn.extension()
    from app.views.attention import AttentionView
    AttentionView(run="assets/roma_kuramoto_2k", trajectory="assets/kuramoto_2k.zarr")

The attention weights come from the same cached forecast as the Forecast view
(:func:`app.views.forecast.run_forecast`): ``(windows, nodes, heads, scales)``, scale 0
being the node's own token and scale l its level-l supernode.
"""
from __future__ import annotations

import math
from pathlib import Path

import holoviews as hv
import numpy as np
import panel as pn
import param

from roma_core.errors import RomaError

from .. import render
from ..jobs import Job
from ..pickers import confined, path_field
from ..state import Session
from .forecast import (PICK_RADIUS, RunForecast, cached, graph_panel, node_marker, run_forecast, set_slider_end,
                       start_when_free)

ALL_LEVELS = "all levels"
SCALE_COLOURS = ["#4c4c4c", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]


def scale_names(count: int) -> list[str]:
    """Names of the attention scales: the node's own token, then level 1, 2, ...

    Parameters
    ----------
    count : int
        The number of scales.

    Returns
    -------
    list of str
    """
    return ["own token"] + [f"level {l}" for l in range(1, count)]


def parse_region(text: str):
    """``"x0, y0, x1, y1"`` -> a 4-tuple of floats (None for empty text).

    Parameters
    ----------
    text : str
        Four numbers separated by commas (or semicolons), corners in either order.

    Returns
    -------
    tuple of float or None
        ``(xmin, ymin, xmax, ymax)``.

    Raises
    ------
    RomaError
        If the text is not four finite numbers.
    """
    text = (text or "").strip()
    if not text:
        return None
    try:
        vals = [float(v) for v in text.replace(";", ",").split(",")]
    except ValueError:
        vals = []
    if len(vals) != 4 or not all(math.isfinite(v) for v in vals):
        raise RomaError(f"a region is four numbers x0, y0, x1, y1 (e.g. -0.5, -0.5, 0, 0), got {text!r}")
    x0, y0, x1, y1 = vals
    return (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


class AttentionView(pn.viewable.Viewer):
    """Multiscale attention of a ROMA run: per node or region, on the graph, and summarised."""

    session = param.ClassSelector(class_=Session, allow_None=True, doc="the browser session followed")
    run = param.String(default="", label="Run (checkpoint directory)")
    trajectory = param.String(default="", label="Trajectory store")
    average = param.Boolean(default=True, label="Mean over all test windows")
    window = param.Integer(default=0, bounds=(0, 0), label="Window")
    level = param.Selector(default=ALL_LEVELS, objects=[ALL_LEVELS], label="Supernodes shown")
    node = param.Integer(default=None, allow_None=True, bounds=(0, None), label="Node id")
    region = param.String(default="", label="Region x0, y0, x1, y1 (or drag a box)")
    status = param.String(default="")
    selection = param.String(default="", doc="what is selected, for the page")
    revision = param.Integer(default=0, precedence=-1)

    def __init__(self, session: Session | None = None, **params):
        if session is not None:
            params.setdefault("run", session.run)
            params.setdefault("trajectory", session.trajectory)
        super().__init__(session=session, **params)
        self.result: RunForecast | None = None
        self._data: render.GraphData | None = None
        self._mean: np.ndarray | None = None  # (N, heads, scales) over all windows
        self._range = hv.streams.RangeXY()
        self._bounds = None
        self.job = Job(session)
        self._graph = pn.pane.HoloViews(None, linked_axes=False, css_classes=["roma-attention-graph"])
        self._heatmap = pn.pane.HoloViews(None, linked_axes=False, css_classes=["roma-attention-heatmap"])
        # never an empty row (Bokeh's validation warns of one, W-1002): a note until the summary comes
        self._summary = pn.Row(pn.pane.Markdown("*Which scales dominate across the graph appears here once the "
                                                "forecast is loaded.*", margin=(10, 10)),
                               css_classes=["roma-attention-summary"])
        self._build_widgets()
        if session is not None:
            session.param.watch(self._follow_session, ["run", "trajectory"])
        if self.run and self.trajectory:
            self.load()
        else:
            self.status = "Choose a ROMA run and a trajectory store, then Load."

    # ---------------------------------------------------------------- loading
    def load(self, wait: bool = False) -> None:
        """Compute (or take from the cache) the run's forecast with its attention weights, in
        the background, and show it; a problem is shown in :attr:`status`.

        Parameters
        ----------
        wait : bool
            Block until it is shown (notebooks, tests).
        """
        try:  # confined to the session's workspace
            run, traj = confined(self.session, self.run, self.trajectory)
        except RomaError as exc:
            self.status = f"⚠ {exc}"
            return
        hit = cached(run, traj, "test")
        if hit is not None:
            self._show(hit)
            return
        start_when_free(self.job, self.session, run_forecast, run, traj, "test", on_done=self._show,
                        on_partial=self._show, label=f"Forecasting {Path(run).name} on {Path(traj).name}")
        if wait:
            self.job.wait()

    def _show(self, result: RunForecast) -> None:
        if result.attention is None or result.hierarchy is None:
            self.status = (f"⚠ {result.model} has no multiscale attention (a baseline); "
                           "choose a ROMA run to see attention across scales")
            return
        self.result = result
        self._data = render.prepare(result.graph)
        self._mean = result.attention.mean(0)
        scales = result.attention.shape[-1]
        self.param.level.objects = [ALL_LEVELS] + scale_names(scales)[1:]
        self.param.window.bounds = (0, len(result.starts) - 1)
        set_slider_end(self._window_w, len(result.starts) - 1)
        n = result.graph.num_nodes
        self.param.node.bounds = (0, n - 1)
        self._node_w.end = n - 1
        if self.node is None or self.node >= n:
            self.node = int(np.argmax(result.graph.degree))
        dominant = np.bincount(self._mean.mean(1).argmax(1), minlength=scales) / n
        sizes = " · ".join(f"{s:,}" for s in result.hierarchy.sizes)
        coarse = float(self._mean[..., 1:].sum(-1).mean())       # over nodes and heads
        more = f" · window 1 of {1 + result.pending} (the others are being computed)" if result.pending else ""
        self.status = (f"**{result.model}** (step {result.step}){more}: {result.attention.shape[2]} heads × {scales} "
                       f"scales · hierarchy {sizes} nodes · attention on levels ≥ 1: **{100 * coarse:.0f}%** · "
                       "dominant scale per node: "
                       + ", ".join(f"{name} {100 * f:.0f}%" for name, f in zip(scale_names(scales), dominant)))
        self.revision += 1
        self._draw()

    def _follow_session(self, event) -> None:
        self.param.update(**{event.name: event.new})
        if self.run and self.trajectory:
            self.load()

    # ---------------------------------------------------------------- selection
    def selected_nodes(self) -> np.ndarray:
        """Node ids of the selection: the region's nodes when a region is set, else the node.

        Returns
        -------
        numpy.ndarray
        """
        if self._data is None:
            return np.zeros(0, np.int64)
        try:
            box = parse_region(self.region)
        except RomaError:
            box = None
        if box is not None:
            x, y = self._data.nodes["x"].to_numpy(), self._data.nodes["y"].to_numpy()
            return np.flatnonzero((x >= box[0]) & (x <= box[2]) & (y >= box[1]) & (y <= box[3]))
        return np.zeros(0, np.int64) if self.node is None else np.array([self.node])

    def weights(self) -> np.ndarray | None:
        """Attention of the selection, mean over its nodes and, when ``average``, over windows.

        Returns
        -------
        numpy.ndarray or None
            Shape (heads, scales); None when nothing is loaded or selected.
        """
        nodes = self.selected_nodes()
        if self.result is None or len(nodes) == 0:
            return None
        a = self._mean if self.average else self.result.attention[self.window]
        return a[nodes].mean(0)

    def pick(self, x, y) -> int | None:
        """Select the node nearest to (x, y) within a few pixels of the current view (the
        region is cleared).

        Parameters
        ----------
        x, y : float
            A point in the plot's data coordinates (``None`` or not finite: no node).

        Returns
        -------
        int or None
            The selected node, or ``None``.
        """
        if self._data is None or x is None or y is None or not (math.isfinite(x) and math.isfinite(y)):
            return None
        xr_ = self._range.x_range or render.EXTENT
        found = self._data.nearest(x, y, PICK_RADIUS * (xr_[1] - xr_[0]))
        if found is not None:
            self.param.update(region="", node=found)
        return found

    def _on_bounds(self, bounds=None, **_) -> None:
        if bounds is None:
            return
        x0, y0, x1, y1 = bounds
        if abs(x1 - x0) < 1e-9 or abs(y1 - y0) < 1e-9:
            return
        self.region = f"{x0:.3f}, {y0:.3f}, {x1:.3f}, {y1:.3f}"

    @param.depends("node", "region", "average", "window", "revision", watch=True)
    def _describe(self) -> None:
        if self.result is None:
            return
        try:
            box = parse_region(self.region)
        except RomaError as exc:
            self.selection = f"⚠ {exc}"
            return
        nodes = self.selected_nodes()
        when = "mean over windows" if self.average else f"window {self.window} (t = {self.result.time_of(self.window, 0):.4g})"
        if box is not None:
            self.selection = f"**region of {len(nodes)} nodes** · {when}"
        elif len(nodes):
            self.selection = f"**node {nodes[0]}** · degree {int(self.result.graph.degree[nodes[0]])} · {when}"
        else:
            self.selection = "Tap a node or drag a box on the left graph."

    # ---------------------------------------------------------------- drawing
    def _heatmap_plot(self, node, region, average, window):
        a = self.weights()
        scales = self.result.attention.shape[-1]
        names = scale_names(scales)
        heads = self.result.attention.shape[2]
        if a is None:
            a = np.full((heads, scales), np.nan)
        rows = [(names[s], f"head {h + 1}", float(a[h, s])) for h in range(heads) for s in range(scales)]
        hm = hv.HeatMap(rows, kdims=["scale", "head"], vdims=[hv.Dimension("weight", label="attention weight")])
        labels = hv.Labels([(x, y, f"{v:.2f}") for x, y, v in rows], kdims=["scale", "head"], vdims="text")
        top = float(np.nanmax(a)) if np.isfinite(a).any() else 1.0
        return (hm.opts(cmap="Blues", clim=(0, max(top, 1e-6)), colorbar=True, tools=["hover"], xrotation=0,
                        invert_yaxis=True, colorbar_opts={"width": 10})
                * labels.opts(text_font_size="10pt", text_color="black")).opts(
            width=430, height=60 + 36 * heads, title=f"attention over scales ({self.selection_label()})",
            toolbar=None)

    def selection_label(self) -> str:
        """A short label of the selection: ``"node 7"``, ``"12 nodes"`` or ``"nothing selected"``.

        Returns
        -------
        str
        """
        nodes = self.selected_nodes()
        if parse_region_safe(self.region) is not None:
            return f"{len(nodes)} nodes"
        return f"node {nodes[0]}" if len(nodes) else "nothing selected"

    def _attended(self, node, region, level, average, window) -> hv.Points:
        """Per node: the attention weight (mean over heads) of the scale at which it shares
        a supernode with the selection: at one level, or the finest such level."""
        r, d = self.result, self._data
        n = r.graph.num_nodes
        value = np.full(n, np.nan, np.float32)
        nodes = self.selected_nodes()
        a = self.weights()
        if a is not None:
            per_scale = a.mean(0)
            levels = list(range(1, r.attention.shape[-1])) if level == ALL_LEVELS else [int(level.split()[-1])]
            for l in sorted(levels, reverse=True):  # finer levels overwrite coarser ones
                m = r.hierarchy.membership(l)
                value[np.isin(m, np.unique(m[nodes]))] = per_scale[l]
            if level == ALL_LEVELS:
                value[nodes] = per_scale[0]
        return render.node_points(d, "value", value)

    def _base(self) -> hv.Points:
        return render.node_points(self._data, "value", np.zeros(len(self._data.nodes), np.float32))

    def _marks(self, node, region):
        """The selected region's box and the picked node's ring (same glyph styles every frame)."""
        box = parse_region_safe(region)
        rects = hv.Rectangles([box] if box is not None else [], kdims=["x", "y", "x2", "y2"]).opts(
            fill_alpha=0, line_color="black", line_width=2)
        ring = [] if box is not None or node is None else [node]
        return rects * node_marker(self._data, ring)

    def _dominant(self) -> hv.Points:
        dom = self._mean.mean(1).argmax(1).astype(np.float32)
        return render.node_points(self._data, "value", dom)

    def _bars(self):
        scales = self.result.attention.shape[-1]
        names = scale_names(scales)
        mean = self._mean.mean((0, 1))
        share = np.bincount(self._mean.mean(1).argmax(1), minlength=scales) / len(self._mean)
        rows = [(n, "mean weight", float(m)) for n, m in zip(names, mean)] + \
               [(n, "share of nodes dominated", float(s)) for n, s in zip(names, share)]
        return hv.Bars(rows, kdims=["scale", "measure"], vdims=[hv.Dimension("fraction", range=(0, 1))]).opts(
            width=430, height=300, multi_level=False, cmap=["#1f77b4", "#ff7f0e"], color="measure",
            legend_position="top_right", title="which scales dominate across the graph", show_grid=True,
            toolbar=None, xlabel="")

    def _draw(self) -> None:
        r, d = self.result, self._data
        scales = r.attention.shape[-1]
        self._range = hv.streams.RangeXY()
        self._streams = []
        bind = dict(node=self.param.node, region=self.param.region, average=self.param.average,
                    window=self.param.window)
        base = render.rasterized_nodes(hv.DynamicMap(self._base), px=2).opts(cmap=["#d9d9d9"], colorbar=False)
        pts = hv.DynamicMap(pn.bind(self._attended, level=self.param.level, **bind))
        colour = dict(cmap=render.colormap("plasma"), clim=(0.0, 0.5), cnorm="linear",
                      clabel="attention weight (mean over heads)", colorbar=True)
        marks = hv.DynamicMap(pn.bind(self._marks, node=self.param.node, region=self.param.region))
        overlay, nodes = graph_panel(d, pts, colour, "supernodes attended to", on_tap=self.pick, marks=marks,
                                     tools=("tap", "box_select"), size=400, under=base, keep=self._streams,
                                     extra_opts=dict(active_tools=["wheel_zoom", "box_select"]))
        self._range.source = nodes
        self._bounds = hv.streams.BoundsXY(source=nodes, bounds=None)
        self._bounds.add_subscriber(self._on_bounds)
        self._graph.object = overlay
        self._heatmap.object = hv.DynamicMap(pn.bind(self._heatmap_plot, **bind))
        dom_colour = dict(cmap=SCALE_COLOURS[:scales], clim=(-0.5, scales - 0.5), cnorm="linear",
                          clabel="dominant scale (0 = own token, l = level l)", colorbar=True)
        summary, _ = graph_panel(d, hv.DynamicMap(self._dominant), dom_colour, "dominant scale per node",
                                 on_tap=self.pick, size=300, keep=self._streams)
        self._summary[:] = [pn.pane.HoloViews(summary, linked_axes=False),
                            pn.pane.HoloViews(self._bars(), linked_axes=False)]

    # ---------------------------------------------------------------- widgets
    def _build_widgets(self) -> None:
        load = pn.widgets.Button(label="Load", color="primary", sizing_mode="stretch_width",
                                 disabled=self.job.param.running)
        load.on_click(lambda e: self.load())
        self._window_w = pn.widgets.IntSlider.from_param(self.param.window, sizing_mode="stretch_width",
                                                         disabled=self.param.average)
        set_slider_end(self._window_w, self.param.window.bounds[1])
        self._node_w = pn.widgets.IntInput.from_param(self.param.node, sizing_mode="stretch_width",
                                                      css_classes=["roma-attention-node-input"])
        clear = pn.widgets.Button(label="Clear region", sizing_mode="stretch_width")
        clear.on_click(lambda e: setattr(self, "region", ""))
        self._controls = pn.Column(
            self._node_w,
            pn.widgets.TextInput.from_param(self.param.region, sizing_mode="stretch_width",
                                            css_classes=["roma-attention-region-input"], placeholder="-0.5, -0.5, 0, 0"),
            clear,
            pn.widgets.Select.from_param(self.param.level, sizing_mode="stretch_width"),
            pn.widgets.Checkbox.from_param(self.param.average),
            self._window_w,
            pn.layout.Divider(),
            path_field(self, "run", self.session, ("run",), sizing_mode="stretch_width"),
            path_field(self, "trajectory", self.session, ("trajectory",), sizing_mode="stretch_width"),
            load,
            pn.indicators.Progress(value=self.job.param.progress, max=100, visible=self.job.param.running,
                                   sizing_mode="stretch_width", bar_color="primary"),
            pn.pane.Markdown(self.job.param.status, css_classes=["roma-attention-job"], margin=(0, 10)),
            width=250,
        )

    def __panel__(self):
        status = pn.pane.Markdown(self.param.status, css_classes=["roma-attention-status"], margin=(0, 10))
        sel = pn.pane.Markdown(self.param.selection, css_classes=["roma-attention-selection"], margin=(0, 10))
        return pn.Row(self._controls, pn.Column(status, sel, pn.Row(self._graph, self._heatmap), self._summary))


def parse_region_safe(text):
    """:func:`parse_region`, with None for text that is not a region.

    Parameters
    ----------
    text : str

    Returns
    -------
    tuple of float or None
    """
    try:
        return parse_region(text)
    except RomaError:
        return None
