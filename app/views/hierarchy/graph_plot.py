"""The view's main plot, its supernodes on the graph (:class:`GraphPlot`, a mixin of the
Hierarchy view: it uses the view's hierarchy, level, selection and rendering data): nodes
rasterized in their supernode's colour over the fine edges, the selected supernode's
members highlighted, and tapping a node to select its supernode."""
from __future__ import annotations

import datashader as ds
import holoviews as hv
import pandas as pd
import param
from holoviews.operation.datashader import rasterize, spread

from ... import render
from .colours import HIGHLIGHT, NCOLOURS, PALETTE, colour_index

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


__all__ = ["GraphPlot"]
