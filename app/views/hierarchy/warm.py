"""Warming up the Datashader kernels only the Hierarchy view uses, once per process."""
from __future__ import annotations

import threading

import datashader as ds
import holoviews as hv
import numpy as np
import pandas as pd
from holoviews.operation.datashader import rasterize, spread

from ... import render

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


__all__ = ["warm_up"]
