"""The view's coarse graph plot (:class:`CoarsePlot`, a mixin of the Hierarchy view: it uses
the view's hierarchy, level, selection and rendering data): supernodes where
:func:`.geometry.supernode_positions` puts them (glyphs for a few, a raster for many), the
coarse edges shaded by the fine edges they stand for, and tapping a supernode to select it.
Supernodes take the colours the graph plot gives their members."""
from __future__ import annotations

import math

import datashader as ds
import holoviews as hv
import numpy as np
import pandas as pd
import param
from holoviews.operation.datashader import rasterize, spread

from ... import render
from .colours import HIGHLIGHT, NCOLOURS, PALETTE, ancestors, colour_index
from .geometry import coarse_segments, supernode_positions

GLYPH_MAX = 3_000  # coarse levels with more supernodes are rasterized, not drawn as glyphs


class CoarsePlot:
    """The coarse graph of the level shown, and picking on it."""

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

    def _coarse_frame(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Supernodes (x, y, id, members, degree, colour, size) and weighted coarse edges."""
        h, l = self.hierarchy, self.level
        g = h.graphs[l]
        x, y = self.positions(l)
        sizes = np.asarray(h.supernode_sizes(l), dtype=np.float64)
        ids = np.arange(g.num_nodes)
        cidx = colour_index(ancestors(h, l, self.colour_level(l)))  # the colours of the graph plot
        colours = np.asarray(PALETTE)[cidx.astype(np.int64)]
        biggest = float(np.clip(180 / math.sqrt(max(g.num_nodes, 1)), 5, 24))  # crowded levels: smaller dots
        marker = 3 + (biggest - 3) * np.sqrt(sizes / max(float(sizes.max()), 1e-12))
        nodes = pd.DataFrame({"x": x, "y": y, "supernode": ids, "members": sizes, "degree": g.degree,
                              "colour": colours, "size": marker, "cidx": cidx})
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


__all__ = ["CoarsePlot", "GLYPH_MAX"]
