"""Datashader/HoloViews pipelines shared by every view of the dashboard.

Rendering costs pixels, not nodes. Nodes are ``hv.Points`` rasterized by Datashader on
every zoom (a million points aggregate in milliseconds). Edges are too many to
re-aggregate on every zoom, so they have a level of detail (:meth:`GraphData.edge_image`):

* ``raster``: zoomed out, a high-resolution raster of all edges, aggregated once per
  graph and resampled to the viewport;
* ``fine``: zoomed in past that raster's resolution, the edges crossing the viewport,
  aggregated exactly, once there are at most :data:`FINE_EDGE_MAX` of them;
* ``sampled``: zoomed in, but more edges cross the viewport than that: a uniform sample
  of them, weighted to stand for all.

A coarse graph of a renormalization hierarchy can later replace ``raster`` when zoomed
out. :func:`prepare` caches a :class:`GraphData` per graph (structure fingerprint plus
layout) at module level, so every browser session showing the same graph shares it.
"""
from __future__ import annotations

import hashlib
import math
import threading
from dataclasses import dataclass, field

import datashader as ds
import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401  (registers the backend, so options apply outside notebooks too)
import numba
import numpy as np
import pandas as pd
import xarray as xr

from roma_core.errors import Cancelled, GraphError
from roma_core.graphs import Graph, poincare_layout
from roma_core.progress import ProgressCallback, report
from .cache import SharedCache

if hv.Store.current_backend not in hv.Store.renderers:  # plain Python, no hv.extension() call yet
    hv.Store.set_current_backend("bokeh")

EXTENT = (-1.02, 1.02)  # the Poincaré disk with a margin, in data units
# Bokeh tells the server about a wheel zoom only when its "interactive" level-of-detail
# phase ends (lod_timeout after the last wheel event, 500 ms by default); images have no
# decimated mode, so the disk plots end it quickly and re-render sooner
ZOOM_LOD = {"interval": 30, "timeout": 60}
FINE_EDGE_MAX = 500_000  # most edges aggregated exactly per frame (~60 ns each on this machine)
FORCE_LAYOUT_MAX = 5_000  # largest graph without coordinates that gets a force layout
EDGE_CHUNK = 1_000_000  # edges per chunk of the one-off raster (progress + bounded memory)
CACHE_SIZE = 3  # graphs kept prepared at once (a 1M-node graph takes ~300 MB)

# how each built-in per-node quantity is coloured: (label, colormap, normalisation)
STYLES = {
    "degree": ("degree k", "plasma", "log"),
    "kappa": ("hidden degree κ", "plasma", "log"),
    "theta": ("angle θ", "colorwheel", "linear"),
    "radius": ("H2 radius r", "viridis", "linear"),
}
DEFAULT_STYLE = ("value", "viridis", "linear")


EDGE_CMAP = ["#d4d4d4", "#333333"]  # light to dark grey: edge density on a white background


def colormap(name: str) -> list[str]:
    """A named colormap as colours; sequential maps lose their palest end, which would
    vanish on the white background."""
    from holoviews.plotting.util import process_cmap

    colours = process_cmap(name, ncolors=256)
    return colours if name == "colorwheel" else colours[: int(256 * 0.88)]


def style(name: str) -> tuple[str, str, str]:
    """(label, cmap, cnorm) for a per-node quantity; unknown names get a linear viridis."""
    return STYLES.get(name, (name, *DEFAULT_STYLE[1:]))


PROJECTIONS = ("native", "poincare")


def layout(graph: Graph, projection: str = "native") -> tuple[np.ndarray, np.ndarray, str]:
    """Node positions in the unit disk. Graphs with S1/H2 coordinates are drawn in the
    hyperbolic disk, either ``native`` (polar, radius r / max r: the usual picture of
    S1/H2 graphs, where hubs sit near the centre) or ``poincare`` (conformal, radius
    tanh(r/2): for a large graph nearly every node lies within a pixel of the rim).
    Graphs without coordinates get a force layout when small. Returns ``(x, y, kind)``."""
    if projection not in PROJECTIONS:
        raise GraphError(f"unknown projection {projection!r}; use one of {PROJECTIONS}")
    if graph.theta is not None and graph.radius is not None:
        if projection == "poincare":
            x, y = poincare_layout(graph)
        else:
            rho = graph.radius / max(float(graph.radius.max()), 1e-12)
            x, y = rho * np.cos(graph.theta), rho * np.sin(graph.theta)
        return x, y, projection
    if graph.num_nodes > FORCE_LAYOUT_MAX:
        raise GraphError(f"this graph has no S1/H2 coordinates and {graph.num_nodes} nodes, too many for a "
                         f"force layout (at most {FORCE_LAYOUT_MAX}); generate it with hyperbolic_graph or "
                         "attach theta/kappa/radius to show it in the Poincaré disk")
    import networkx as nx

    pos = nx.spring_layout(graph.to_networkx(), seed=0)
    xy = np.array([pos[i] for i in range(graph.num_nodes)], dtype=np.float64).reshape(-1, 2)
    if len(xy):
        xy -= xy.mean(axis=0)
        xy /= max(np.abs(xy).max(), 1e-12)
    return xy[:, 0].copy(), xy[:, 1].copy(), "force"


@numba.njit(cache=True, parallel=True)
def _crossing(x0, y0, x1, y1, xmin, xmax, ymin, ymax):
    """Mask of segments whose bounding box meets the viewport (a superset of those that cross it)."""
    out = np.empty(len(x0), dtype=np.bool_)
    for i in numba.prange(len(x0)):
        out[i] = (max(x0[i], x1[i]) >= xmin and min(x0[i], x1[i]) <= xmax
                  and max(y0[i], y1[i]) >= ymin and min(y0[i], y1[i]) <= ymax)
    return out


def _canvas(x_range, y_range, width, height) -> ds.Canvas:
    return ds.Canvas(plot_width=int(width), plot_height=int(height), x_range=tuple(x_range), y_range=tuple(y_range))


def resample(raster: xr.DataArray, x_range, y_range, width, height) -> xr.DataArray:
    """The part of a raster inside a viewport at the viewport's size (block mean when
    shrinking, linear interpolation when enlarging)."""
    x_range = (float(x_range[0]), float(x_range[1]))
    y_range = (float(y_range[0]), float(y_range[1]))
    return _canvas(x_range, y_range, width, height).raster(raster, downsample_method="mean",
                                                           upsample_method="linear")


def aggregate_edges(segments: pd.DataFrame, x_range, y_range, width, height) -> xr.DataArray:
    """Datashader line count of the segments ``x0, y0, x1, y1`` (one row per edge)."""
    return _canvas(x_range, y_range, width, height).line(
        segments, x=["x0", "x1"], y=["y0", "y1"], axis=1, agg=ds.count())


@dataclass
class GraphData:
    """What the views draw for one graph, computed once: positions, per-node quantities,
    edge segments and the all-edge raster. Shared by sessions; treat as read-only."""

    key: str
    graph: Graph
    layout_kind: str
    nodes: pd.DataFrame  # x, y and one float32 column per built-in quantity
    segments: pd.DataFrame  # x0, y0, x1, y1 (float32), one row per edge
    raster: xr.DataArray  # count of edges per pixel over EXTENT
    _tree: object = field(default=None, repr=False)
    _tree_lock: object = field(default_factory=threading.Lock, repr=False)

    @property
    def quantities(self) -> list[str]:
        return [c for c in self.nodes.columns if c not in ("x", "y")]

    def nearest(self, x: float, y: float, max_distance: float) -> int | None:
        """The node nearest to (x, y) if it lies within ``max_distance``, else None."""
        if self._tree is None:
            from scipy.spatial import cKDTree

            with self._tree_lock:  # built once (~0.5 s at 10^6 nodes), even when asked from two threads
                if self._tree is None:
                    self._tree = cKDTree(np.column_stack([self.nodes["x"].to_numpy(), self.nodes["y"].to_numpy()]))
        dist, idx = self._tree.query([x, y], distance_upper_bound=max_distance)
        return None if not np.isfinite(dist) else int(idx)

    def edge_image(self, x_range, y_range, width: int, height: int) -> tuple[xr.DataArray, str, int]:
        """The edges seen in a viewport, at the level of detail it needs.
        Returns ``(image, mode, edges_aggregated)``; mode is raster, fine or sampled."""
        width, height = max(int(width), 1), max(int(height), 1)
        pixel = (EXTENT[1] - EXTENT[0]) / self.raster.shape[1]
        small = len(self.segments) <= FINE_EDGE_MAX  # cheap enough to draw exactly at every zoom
        if not small and (x_range[1] - x_range[0]) / pixel >= 0.75 * width:
            return resample(self.raster, x_range, y_range, width, height), "raster", len(self.segments)
        s = self.segments
        mask = _crossing(s["x0"].to_numpy(), s["y0"].to_numpy(), s["x1"].to_numpy(), s["y1"].to_numpy(),
                         np.float32(x_range[0]), np.float32(x_range[1]), np.float32(y_range[0]),
                         np.float32(y_range[1]))
        idx = np.flatnonzero(mask)
        mode, weight = "fine", 1.0
        if len(idx) > FINE_EDGE_MAX:  # a deterministic uniform sample stands for all of them
            weight = len(idx) / FINE_EDGE_MAX
            idx = idx[np.linspace(0, len(idx) - 1, FINE_EDGE_MAX).astype(np.int64)]
            mode = "sampled"
        img = aggregate_edges(s.iloc[idx], x_range, y_range, width, height).astype(np.float32)
        if weight != 1.0:
            img = img * np.float32(weight)
        return img, mode, len(idx)


def _fingerprint(graph: Graph, x: np.ndarray, y: np.ndarray) -> str:
    h = hashlib.sha256(graph.fingerprint().encode())
    h.update(np.ascontiguousarray(x).tobytes())
    h.update(np.ascontiguousarray(y).tobytes())
    return h.hexdigest()[:16]


_CACHE = SharedCache(CACHE_SIZE)


def prepare(graph: Graph, progress: ProgressCallback | None = None, resolution: int | None = None,
            projection: str = "native") -> GraphData:
    """The :class:`GraphData` of a graph, built once and cached per fingerprint + layout.

    The one-off edge raster is aggregated in chunks, reporting ``progress(done, total)``
    in edges (a callback may raise :class:`Cancelled`). ``resolution`` is its width in
    pixels (default 4096 for over a million edges, else 2048).
    """
    x, y, kind = layout(graph, projection)
    key = _fingerprint(graph, x, y)
    return _CACHE.get_or_compute(key, lambda: _build(graph, x, y, kind, key, progress, resolution))


def _build(graph, x, y, kind, key, progress, resolution) -> GraphData:
    cols = {"x": x, "y": y, "degree": graph.degree.astype(np.float32)}
    for name in ("kappa", "theta", "radius"):
        if getattr(graph, name) is not None:
            cols[name] = getattr(graph, name).astype(np.float32)
    nodes = pd.DataFrame(cols)
    src, dst, _ = graph.edges()
    x32, y32 = x.astype(np.float32), y.astype(np.float32)
    segments = pd.DataFrame({"x0": x32[src], "y0": y32[src], "x1": x32[dst], "y1": y32[dst]})
    del src, dst
    res = resolution or (4096 if len(segments) > 1_000_000 else 2048)
    raster = None
    total = len(segments)
    report(progress, 0, max(total, 1))
    for start in range(0, max(total, 1), EDGE_CHUNK):
        part = aggregate_edges(segments.iloc[start:start + EDGE_CHUNK], EXTENT, EXTENT, res, res)
        raster = part.astype(np.float32) if raster is None else raster + part.astype(np.float32)
        report(progress, min(start + EDGE_CHUNK, total), max(total, 1))
    return GraphData(key=key, graph=graph, layout_kind=kind, nodes=nodes, segments=segments, raster=raster)


def clear_cache() -> None:
    """Forget every prepared graph (tests, memory pressure)."""
    _CACHE.clear()


# ----------------------------------------------------------------- HoloViews layers
def frame_sized(plot, element) -> None:
    """HoloViews hook for plots sized by ``frame_width``/``frame_height``: leave the Bokeh
    figure's ``sizing_mode`` unset, as Bokeh itself does for frame-sized figures (the outer
    size then fits the frame plus axes, toolbar and colour bar). HoloViews marks them
    "fixed" without a width and height, which Bokeh's validation reports as W-1005
    (FIXED_SIZING_MODE) for every session."""
    if plot.state.frame_width is not None and plot.state.frame_height is not None:
        plot.state.sizing_mode = None


def disk_outline() -> hv.Ellipse:
    """The boundary of the Poincaré disk."""
    return hv.Ellipse(0, 0, 2).opts(color="#9a9a9a", line_dash="dashed", line_width=1)


def node_points(data: GraphData, quantity: str, values: np.ndarray | None = None) -> hv.Points:
    """Nodes as ``hv.Points`` with one value dimension ``value`` holding ``quantity``
    (a column of ``data.nodes`` or the given per-node ``values``)."""
    label = style(quantity)[0]
    v = data.nodes[quantity].to_numpy() if values is None else np.asarray(values, dtype=np.float32)
    if len(v) != len(data.nodes):
        raise GraphError(f"{quantity} has {len(v)} values but the graph has {len(data.nodes)} nodes")
    frame = pd.DataFrame({"x": data.nodes["x"].to_numpy(), "y": data.nodes["y"].to_numpy(), "value": v})
    return hv.Points(frame, kdims=["x", "y"], vdims=[hv.Dimension("value", label=label)])


def rasterized_nodes(points: hv.DynamicMap, px: int = 1, size: tuple[int, int] | None = None) -> hv.DynamicMap:
    """Rasterize nodes (the largest value per pixel, so hubs stay visible) and spread each
    by ``px`` pixels, keeping the largest value, so single nodes and hubs are readable.
    (``dynspread`` would not spread here: the dense rim of the disk already meets its
    density threshold.) ``size``: the image's pixels for a plot of that fixed frame size
    (default: follow the plot's size as the browser reports it)."""
    from holoviews.operation.datashader import rasterize, spread

    fixed = {} if size is None else dict(width=size[0], height=size[1], streams=[hv.streams.RangeXY])
    return spread(rasterize(points, aggregator=ds.max("value"), **fixed), px=px, how="max")


def _edge_lut() -> np.ndarray:
    """256 RGBA colours (uint32, little-endian ABGR as Bokeh reads it) from faint light grey to
    opaque dark grey."""
    from holoviews.plotting.util import process_cmap

    rgb = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in process_cmap(EDGE_CMAP, ncolors=256)],
                   dtype=np.uint32)
    alpha = np.linspace(EDGE_ALPHA[0], EDGE_ALPHA[1], 256).astype(np.uint32)  # lone edges faint
    return rgb[:, 0] | (rgb[:, 1] << 8) | (rgb[:, 2] << 16) | (alpha << 24)


EDGE_ALPHA = (45, 210)
_LUT = None


def _edge_rgba(img: xr.DataArray) -> np.ndarray:
    """Edge density as uint32 RGBA: grey on a log scale, transparent where no edge passes."""
    global _LUT
    if _LUT is None:
        _LUT = _edge_lut()
    v = np.nan_to_num(img.values.astype(np.float32, copy=False), nan=0.0)
    top = float(v.max())
    level = np.log1p(v) * (255.0 / np.log1p(top)) if top > 0 else np.zeros_like(v)
    return np.where(v > 0, _LUT[np.clip(level, 0, 255).astype(np.uint8)], np.uint32(0))


def shade_edges(img: xr.DataArray) -> hv.RGB:
    """Edge density as grey lines on a log scale (darker where more edges pass,
    transparent where none does); a lookup table, so it costs a few milliseconds."""
    return _rgb(_edge_rgba(img), img.coords["x"].to_numpy(), img.coords["y"].to_numpy())


def _rgba_lut(colours: list[str], alpha: int = 255) -> np.ndarray:
    """Hex colours as uint32 RGBA (little-endian ABGR, as Bokeh reads an RGBA image)."""
    rgb = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in colours], dtype=np.uint32)
    return rgb[:, 0] | (rgb[:, 1] << 8) | (rgb[:, 2] << 16) | (np.uint32(alpha) << 24)


@numba.njit(cache=True, parallel=True)
def _spread_max(a, px):
    """Each pixel takes the largest value within ``px`` pixels (NaN: empty)."""
    h, w = a.shape
    out = np.full((h, w), np.nan, dtype=np.float32)
    for i in numba.prange(h):
        for j in range(w):
            best = np.nan
            for di in range(max(i - px, 0), min(i + px + 1, h)):
                for dj in range(max(j - px, 0), min(j + px + 1, w)):
                    v = a[di, dj]
                    if v == v and not (best >= v):
                        best = v
            out[i, j] = best
    return out


def shade_values(agg: np.ndarray, cmap: list[str], clim: tuple, cnorm: str = "linear") -> np.ndarray:
    """Per-pixel values (NaN: nothing there) as uint32 RGBA with the colormap ``cmap`` over
    ``clim`` (log or linear, as Bokeh's colour mappers do); empty pixels transparent."""
    lut = _rgba_lut(cmap)
    lo, hi = float(clim[0]), float(clim[1])
    v = np.asarray(agg, dtype=np.float32)
    filled = ~np.isnan(v)
    if cnorm == "log":
        lo, hi = math.log(max(lo, 1e-30)), math.log(max(hi, lo * (1 + 1e-6), 1e-30))
        with np.errstate(divide="ignore", invalid="ignore"):
            v = np.log(np.where(v > 0, v, np.float32(np.exp(lo))))
    span = hi - lo if hi > lo else 1.0
    idx = np.clip(((np.nan_to_num(v, nan=lo) - lo) / span * len(lut)).astype(np.int64), 0, len(lut) - 1)
    return np.where(filled, lut[idx], np.uint32(0))


def _rgb(rgba: np.ndarray, xs, ys) -> hv.RGB:
    b = rgba.view(np.uint8).reshape(rgba.shape + (4,))
    return hv.RGB((xs, ys, b[..., 0], b[..., 1], b[..., 2], b[..., 3]), kdims=["x", "y"], vdims=list("RGBA"))


def graph_layer(get_data, get_nodes, colour: dict, streams: list, edges=lambda: True, on_draw=None,
                px: int = 1, size: tuple[int, int] = (800, 800)) -> hv.DynamicMap:
    """Nodes and edges of the current viewport as ONE server-shaded RGBA image per zoom:
    edges at their level of detail (:meth:`GraphData.edge_image`, grey on a log scale),
    nodes on top (the largest value per pixel, spread by ``px`` pixels, coloured with
    ``colour`` = dict(cmap=list of colours, clim=(lo, hi), cnorm='linear'|'log')).

    One image instead of a float node image plus an edge image: half the bytes or less
    per zoom, no client-side colour mapping, one HoloViews plot to update. ``get_data()``
    returns the :class:`GraphData` (None: draw nothing), ``get_nodes()`` a DataFrame with
    ``x, y, value`` per node, ``edges()`` whether to draw edges; ``streams`` must include
    RangeXY, and PlotSize unless the plot has a fixed frame of ``size`` pixels (its image
    size; without PlotSize the browser's first report of the size re-renders nothing).
    ``on_draw(mode, edges)`` is told each frame's edge level of detail."""

    def draw(x_range=None, y_range=None, width=None, height=None, **_):
        data = get_data()
        x_range = tuple(x_range or EXTENT)
        y_range = tuple(y_range or EXTENT)
        width, height = max(int(width or size[0]), 1), max(int(height or size[1]), 1)
        if data is None:
            z = np.zeros((2, 2), np.uint32)
            return _rgb(z, list(x_range), list(y_range))
        canvas = _canvas(x_range, y_range, width, height)
        nodes = get_nodes()
        agg = canvas.points(nodes, "x", "y", agg=ds.max("value"))
        xs, ys = agg.coords["x"].to_numpy(), agg.coords["y"].to_numpy()
        top = shade_values(_spread_max(agg.values.astype(np.float32), int(px)) if px else agg.values, **colour)
        if edges() and len(data.segments):
            img, mode, count = data.edge_image(x_range, y_range, width, height)
            below = _edge_rgba(img)
        else:
            mode, count, below = "none", 0, None
        if on_draw is not None:
            on_draw(mode, count)
        rgba = top if below is None else np.where(top != 0, top, below)
        return _rgb(rgba, xs, ys)

    return hv.DynamicMap(draw, streams=streams)


def colourbar(colour: dict, label: str) -> hv.Image:
    """An invisible one-pixel image that carries the colour bar of a :func:`graph_layer`
    (whose RGBA image has none)."""
    lo, hi = colour["clim"]
    return hv.Image(np.array([[lo, hi]], dtype=np.float64), bounds=(0.0, 0.0, 1e-9, 1e-9)).opts(
        cmap=colour["cmap"], clim=(lo, hi), cnorm=colour.get("cnorm", "linear"), colorbar=True,
        colorbar_opts={"width": 12}, clabel=label, alpha=0, tools=[])


def warm_up() -> None:
    """Compile the Numba kernels the pipeline uses (Datashader's among them) on a toy graph,
    so the first real frame does not pay for it. Idempotent; ``roma serve`` runs it at start."""
    global _WARM
    if _WARM:
        return
    from holoviews.operation.datashader import rasterize, spread

    g = Graph.from_edges([0, 1, 2], [1, 2, 3], theta=np.array([0.0, 1.0, 2.0, 3.0]),
                         kappa=np.ones(4) * 3, radius=np.array([1.0, 2.0, 3.0, 4.0]))
    data = _build(g, *layout(g)[:2], "native", "warm-up", None, 64)
    pts = node_points(data, "degree")
    spread(rasterize(pts, aggregator=ds.max("value"), width=64, height=64, dynamic=False), px=1, how="max",
           dynamic=False)
    shade_edges(data.edge_image(EXTENT, EXTENT, 64, 64)[0])
    shade_values(_spread_max(np.full((8, 8), np.nan, np.float32), 1), ["#000000", "#ffffff"], (1.0, 2.0), "log")
    shade_edges(data.edge_image((-0.1, 0.1), (-0.1, 0.1), 64, 64)[0])
    for width in (16, 48, 64, 200):  # shrinking, enlarging and mixed resampling of the edge raster
        resample(data.raster, (-0.5, 0.5), (-0.3, 0.3), width, 40)
    _WARM = True


_WARM = False


def edge_layer(get_data, streams: list, on_draw=None, size: tuple[int, int] = (800, 800)) -> hv.DynamicMap:
    """A DynamicMap of the edges shaded for the current viewport; ``get_data()`` returns the
    :class:`GraphData` (or None to draw nothing); ``streams`` must include RangeXY, and
    PlotSize unless the plot has a fixed frame of ``size`` pixels, plus whatever should
    trigger a redraw (e.g. an edges toggle). ``on_draw(mode, edges)`` is told the level of
    detail of each frame drawn."""

    def draw(x_range=None, y_range=None, width=None, height=None, **_):
        data = get_data()
        x_range = x_range or EXTENT
        y_range = y_range or EXTENT
        width, height = width or size[0], height or size[1]
        if data is None or len(data.segments) == 0:
            if on_draw is not None:
                on_draw("none", 0)
            z = np.zeros((2, 2), np.uint8)
            return hv.RGB((list(x_range), list(y_range), z, z, z, z), kdims=["x", "y"], vdims=list("RGBA"))
        img, mode, count = data.edge_image(x_range, y_range, width, height)
        if on_draw is not None:
            on_draw(mode, count)
        return shade_edges(img)

    return hv.DynamicMap(draw, streams=streams)


__all__ = ["GraphData", "prepare", "layout", "style", "STYLES", "EXTENT", "FINE_EDGE_MAX", "aggregate_edges",
           "node_points", "rasterized_nodes", "edge_layer", "graph_layer", "colourbar", "ZOOM_LOD", "shade_values", "frame_sized", "shade_edges", "warm_up", "disk_outline", "clear_cache", "Cancelled"]
