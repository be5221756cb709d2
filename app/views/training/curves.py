"""The loss-curve plot of a followed run: one streamed curve per series of its metrics
log (raw and smoothed train terms, validation rel. L2), extended in place as lines arrive."""
from __future__ import annotations

import functools
import math
import operator

import holoviews as hv
import pandas as pd

from .metrics import MetricsLog, series_frame

SMOOTH = "_smooth"  # suffix of a smoothed train series' column
STYLE = {  # column -> (legend label, colour, line width, alpha)
    "loss": ("train loss (raw)", "#9ecae1", 1.0, 0.8),
    "loss_smooth": ("train loss", "#1f4e79", 2.5, 1.0),
    "forecast_smooth": ("forecast term", "#2ca02c", 1.5, 0.9),
    "effective_smooth": ("effective-dynamics term", "#9467bd", 1.5, 0.9),
    "aux_smooth": ("auxiliary losses", "#ff7f0e", 1.5, 0.9),
    "rel_l2": ("validation rel. L2", "#d62728", 2.0, 1.0),
}
LOSS_WIDTH = 560  # plot width (px)
BUFFER_ROWS = 10_000_000  # rows a streamed curve keeps (all of any realistic log)


class LossCurves:
    """Draws a :class:`MetricsLog` into a HoloViews pane and streams what the log reads next.

    Parameters
    ----------
    pane : panel.pane.HoloViews
        The pane the plot is put in.
    width : int
        The plot's width in pixels.
    """

    def __init__(self, pane, width: int = LOSS_WIDTH):
        self.pane, self.width = pane, width
        self.buffers: dict = {}  # column -> hv.streams.Buffer
        self.shown: list[str] = []  # the log's series drawn
        self._ema: dict = {}

    def smooth(self, key: str, values, weight: float) -> list:
        """Debiased exponential moving average of a train series, continued from where
        the previous call left off (so streamed chunks join up).

        Parameters
        ----------
        key : str
            The series (its running average is kept under this name).
        values : sequence of float
            Its next values; NaNs keep the average as it was.
        weight : float
            The average's weight of the past, in [0, 1).

        Returns
        -------
        list of float
            The smoothed values (NaN before the first finite value).
        """
        last, n = self._ema.get(key, (0.0, 0))
        out = []
        for v in values:
            if math.isfinite(v):
                last, n = weight * last + (1 - weight) * v, n + 1
            out.append(last / (1 - weight ** n) if n else math.nan)
        self._ema[key] = (last, n)
        return out

    def redraw(self, log: MetricsLog | None, title: str, weight: float) -> None:
        """A new plot of everything ``log`` has read.

        Parameters
        ----------
        log : MetricsLog or None
            The run's log (None: an empty plot).
        title : str
            The plot's title.
        weight : float
            The smoothing weight (see :meth:`smooth`).
        """
        self.shown = log.present() if log is not None else []
        self.buffers, self._ema = {}, {}
        opts = dict(logy=True, responsive=False, width=self.width, height=380, xlabel="step",
                    ylabel="loss / rel. L2", show_grid=True, toolbar="above", title=title)
        if not self.shown:
            self.pane.object = hv.Curve(series_frame([], [], "loss"), "step", "loss").opts(**opts)
            return
        columns = (["loss"] if "loss" in self.shown else []) + [k + SMOOTH for k in self.shown if k != "rel_l2"]
        frames = {c: series_frame(log.train["step"], log.train[c] if c == "loss" else
                                  self.smooth(c.removesuffix(SMOOTH), log.train[c.removesuffix(SMOOTH)], weight), c)
                  for c in columns}
        if "rel_l2" in self.shown:
            frames["rel_l2"] = log.frame("rel_l2")
        layers = []
        for column, frame in frames.items():
            buf = hv.streams.Buffer(frame, length=BUFFER_ROWS, index=False)
            self.buffers[column] = buf
            layers.append(hv.DynamicMap(functools.partial(_series_element, column), streams=[buf]))
            if column == "rel_l2":
                layers.append(hv.DynamicMap(functools.partial(_series_marks, column), streams=[buf]))
        self.pane.object = functools.reduce(operator.mul, layers).opts(
            legend_position="top_right", legend_opts={"background_fill_alpha": 0.7}, **opts)

    def stream(self, new_t: dict, new_v: dict, weight: float) -> None:
        """Append newly read train and validation columns to the curves drawn.

        Parameters
        ----------
        new_t, new_v : dict
            New train and validation columns, as :meth:`MetricsLog.poll` returns them.
        weight : float
            The smoothing weight (see :meth:`smooth`).
        """
        for column, buf in self.buffers.items():
            if column == "rel_l2":
                if new_v["step"]:
                    buf.send(series_frame(new_v["step"], new_v["rel_l2"], column))
            elif new_t["step"]:
                key = column.removesuffix(SMOOTH)
                values = new_t[key] if column == key else self.smooth(key, new_t[key], weight)
                buf.send(series_frame(new_t["step"], values, column))


def _series_element(key: str, data: pd.DataFrame):
    label, colour, width, alpha = STYLE[key]
    return hv.Curve(data, "step", key, label=label).opts(color=colour, line_width=width, alpha=alpha,
                                                         framewise=True, tools=["hover"])


def _series_marks(key: str, data: pd.DataFrame):
    label, colour, _, _ = STYLE[key]
    return hv.Scatter(data, "step", key, label=label).opts(color=colour, size=6, framewise=True)


__all__ = ["LossCurves", "STYLE", "SMOOTH", "LOSS_WIDTH"]
