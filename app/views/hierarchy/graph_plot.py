"""The view's main plot, its supernodes on the graph (:class:`GraphPlot`, a mixin of the
Hierarchy view: it uses the view's hierarchy, level, selection and rendering data): nodes
rasterized in the colour of their supernode at :func:`.colours.colour_level` (the level
shown, or a coarser one when its supernodes are too many to tell apart) over the fine
edges, the selected supernode's members highlighted, and tapping a node to select its
supernode."""
from __future__ import annotations

import datashader as ds
import holoviews as hv
import numpy as np
import pandas as pd
import param
from holoviews.operation.datashader import rasterize, spread

from ... import render
from .colours import HIGHLIGHT, NCOLOURS, PALETTE, cells, colour_index, colour_level

PICK_RADIUS = 0.02  # tap tolerance, as a fraction of the viewport width
EDGE_ALPHA = 0.3  # fine edges stay in the background: the supernode colours are the point here


class GraphPlot:
    """The supernodes on the graph: the view's main plot and picking on it."""

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

    def colour_level(self, level: int) -> int:
        """The level whose supernodes colour the nodes while ``level`` is shown (see
        :func:`.colours.colour_level`), cached.

        Parameters
        ----------
        level : int

        Returns
        -------
        int
        """
        key = ("colour level", level)
        if key not in self._pos_cache:
            if "cells" not in self._pos_cache:
                d = self._data
                self._pos_cache["cells"] = cells(d.nodes["x"].to_numpy(), d.nodes["y"].to_numpy())
            self._pos_cache[key] = colour_level(self.hierarchy, level, self._pos_cache["cells"])
        return self._pos_cache[key]

    def node_colours(self, level: int) -> np.ndarray:
        """Each finest node's palette index (:func:`.colours.colour_index`) while ``level`` is
        shown: that of its supernode at :meth:`colour_level`.

        Parameters
        ----------
        level : int

        Returns
        -------
        numpy.ndarray
            float32, one per node.
        """
        return colour_index(self.hierarchy.membership(self.colour_level(level)))

    @param.depends("level", "revision")
    def _node_points(self):
        if self._data is None or self.hierarchy is None:
            return hv.Points(pd.DataFrame({"x": [], "y": [], "value": []}), kdims=["x", "y"], vdims=["value"])
        return render.node_points(self._data, "supernode", self.node_colours(self.level))

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


__all__ = ["GraphPlot"]
