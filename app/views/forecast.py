"""Forecast view: a trained run's prediction vs the truth vs the error on the graph at a
horizon step and window, per-node time series, and error per horizon step for the run,
the persistence floor and baseline runs found next to it.

Usable alone in a notebook::

    import panel as pn; pn.extension()
    from app.views.forecast import ForecastView
    ForecastView(run="assets/roma_kuramoto_2k", trajectory="assets/kuramoto_2k.zarr")

The forecast of a (run, trajectory, split) is computed once per process in a background
job (:func:`run_forecast`, cached) and shared by every session and by the Attention view.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import datashader as ds
import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import param

from roma_core.errors import CheckpointError, RomaError, SpecError
from roma_core.progress import report

from .. import render
from ..jobs import Job, running_job
from ..pickers import confined, path_field
from ..state import Session
from ..cache import SharedCache

MAX_WINDOWS = 24  # most windows forecast per (run, trajectory, split)
MAX_NODE_WINDOWS = 2_000_000  # and at most this many node-windows (memory at large N)
CACHE_SIZE = 4
PICK_RADIUS = 0.03  # tap tolerance, as a fraction of the viewport width
SPLITS = ("test", "val", "train", "all")
MODEL_COLOURS = {"persistence": "#7f7f7f", "roma": "#d62728", "roma_fixed": "#ff7f0e", "deeponet": "#1f77b4", "gnn": "#2ca02c",
                 "transformer": "#9467bd", "gino": "#8c564b"}


# ------------------------------------------------------------------ computation
@dataclass
class RunForecast:
    """A run's forecast on a trajectory over a set of windows (shared, read-only).

    Attributes
    ----------
    run, trajectory : str
        The run (or checkpoint) and the trajectory store.
    model : str
        The model's name.
    step : int
        The checkpoint's training step.
    split : str
        The split the windows come from.
    windows : roma_core.data.windows.Windows
        Raw states, times and the feature transform.
    starts : numpy.ndarray
        The first frame of each forecast window.
    values, target : numpy.ndarray
        (W, N, horizon, C) model features: the forecast and the truth.
    attention : numpy.ndarray or None
        (W, N, heads, scales) attention weights, or None.
    hierarchy : Hierarchy or None
        The learned full-graph hierarchy (None for baselines).
    curves : dict
        Relative L2 error per horizon step (mean over the windows) per model name.
    error_max : float
        The 99th percentile of the per-node error (the colour range of the error plots).
    pending : int
        Windows still being computed (a first look at the first window while the rest
        come); 0 when complete.
    """

    run: str
    trajectory: str
    model: str
    step: int
    split: str
    windows: object  # roma_core.data.windows.Windows (raw states, times, feature transform)
    starts: np.ndarray
    values: np.ndarray
    target: np.ndarray
    attention: np.ndarray | None
    hierarchy: object | None
    curves: dict = field(default_factory=dict)
    error_max: float = 1.0
    pending: int = 0

    @property
    def graph(self):
        return self.windows.graph

    @property
    def lookback(self) -> int:
        return self.windows.lookback

    @property
    def horizon(self) -> int:
        return self.windows.horizon

    @property
    def phase(self) -> bool:
        return self.windows.features == "phase"

    def time_of(self, window: int, step: int) -> float:
        """Simulated time of a horizon step.

        Parameters
        ----------
        window : int
            Index into :attr:`starts`.
        step : int
            The horizon step (1-based; 0 = the last observed state).

        Returns
        -------
        float
        """
        return float(self.windows.times[int(self.starts[window]) + self.lookback - 1 + step])

    def state(self, feats: np.ndarray) -> np.ndarray:
        """Model features -> the physical state.

        Parameters
        ----------
        feats : numpy.ndarray
            Features, shape (..., C).

        Returns
        -------
        numpy.ndarray
            Shape (...): the phase θ in (-π, π] or the value.
        """
        if self.phase:
            return np.arctan2(feats[..., 0], feats[..., 1])
        mean, std = self.windows.norm
        return feats[..., 0] * std + mean

    def node_error(self, window: int, step: int) -> np.ndarray:
        """Per-node error |prediction − truth| over channels at one window and step
        (for phases the chord between the two points on the unit circle).

        Parameters
        ----------
        window : int
            Index into :attr:`starts`.
        step : int
            The horizon step (1-based).

        Returns
        -------
        numpy.ndarray
            One error per node.
        """
        d = self.values[window, :, step - 1] - self.target[window, :, step - 1]
        if not self.phase:
            d = d * self.windows.norm[1]
        return np.sqrt((d ** 2).sum(-1))

    def series(self, window: int, node: int):
        """(times, history, truth, prediction) of one node for one window, states as in
        :meth:`state`; phases unwrapped so the curves are continuous.

        Parameters
        ----------
        window : int
            Index into :attr:`starts`.
        node : int
            The node.

        Returns
        -------
        tuple of numpy.ndarray
            ``(history times, history, horizon times, truth, prediction)``.
        """
        s, k = int(self.starts[window]), self.lookback
        hist_x, _ = self.windows.get([s], [node])
        hist = self.state(hist_x[0, 0])
        truth = self.state(self.target[window, node])
        pred = self.state(self.values[window, node])
        times = self.windows.times[s:s + k + self.horizon]
        if self.phase:
            full = np.unwrap(np.concatenate([hist, truth]))
            p = np.unwrap(np.concatenate([hist[-1:], pred]))
            p += full[k - 1] - p[0]
            hist, truth, pred = full[:k], full[k:], p[1:]
        return times[:k], hist, times[k:], truth, pred


def relative_l2_per_step(values, target) -> np.ndarray:
    """:func:`roma_core.eval.metrics.relative_l2_per_step`, imported when first called.

    Parameters
    ----------
    values, target : numpy.ndarray
        Forecast and truth, (W, N, horizon, C).

    Returns
    -------
    numpy.ndarray
        The relative L2 error per horizon step.
    """
    from roma_core.eval.metrics import relative_l2_per_step as rel

    return rel(values, target)


def _key(run, trajectory, split):
    from roma_core.train.checkpoint import resolve

    traj = Path(trajectory).resolve()
    try:
        mtime = os.path.getmtime(traj / "zarr.json" if traj.is_dir() else traj)
    except OSError:
        mtime = 0.0
    return (str(resolve(run).resolve()), str(traj), mtime, split)


_CACHE = SharedCache(CACHE_SIZE)


def cached(run, trajectory, split: str = "test") -> RunForecast | None:
    """The cached forecast of ``run`` on ``trajectory`` if computed already, else None.

    Parameters
    ----------
    run : str or Path
        A training run or checkpoint.
    trajectory : str or Path
        A trajectory store.
    split : str
        The windows' split.

    Returns
    -------
    RunForecast or None
    """
    try:
        key = _key(run, trajectory, split)
    except RomaError:
        return None
    return _CACHE.get(key)


def run_forecast(run, trajectory, split: str = "test", progress=None, partial=None) -> RunForecast:
    """Forecast of the checkpoint in ``run`` on every node of ``trajectory`` for (up to
    :data:`MAX_WINDOWS`, evenly spaced) windows of ``split``, with the learned hierarchy
    and the error curves of the run and of persistence. The first window is computed first
    and handed to ``partial``; the whole is cached per process.

    Parameters
    ----------
    run : str or Path
        A training run or checkpoint.
    trajectory : str or Path
        A trajectory store on the run's graph.
    split : str
        One of ``SPLITS``.
    progress : callable, optional
        ``progress(done, total)``.
    partial : callable, optional
        ``partial(first)``: the forecast of the first window alone (its ``pending`` says how
        many windows follow), as soon as it is there; not called when it is all there is.

    Returns
    -------
    RunForecast

    Raises
    ------
    CheckpointError
        If no run is given (or it cannot be loaded).
    SpecError
        If no trajectory is given, the split is unknown or has no windows.
    """
    if not str(run).strip():
        raise CheckpointError("no run chosen: give the directory of a training run (roma train --out DIR)")
    if not str(trajectory).strip():
        raise SpecError("no trajectory chosen: give a trajectory store (roma simulate --out STORE.zarr)")
    if split not in SPLITS:
        raise SpecError(f"split must be one of {SPLITS}, got {split!r}")
    return _CACHE.get_or_compute(_key(run, trajectory, split),
                                 lambda: _compute(run, trajectory, split, progress, partial))


def _window_starts(windows, split: str) -> np.ndarray:
    starts = windows.starts(split)
    if len(starts) == 0:
        raise SpecError(f"the trajectory has no {split} windows of lookback {windows.lookback} + horizon "
                        f"{windows.horizon}; pick another split or a longer trajectory")
    most = max(1, min(MAX_WINDOWS, MAX_NODE_WINDOWS // max(windows.graph.num_nodes, 1)))
    return starts[np.unique(np.linspace(0, len(starts) - 1, min(most, len(starts))).astype(int))]


def _forecast_windows(model, ctx, starts, progress=None, lo=0.0, hi=1.0):
    """Forecast ``starts``, reporting ``progress`` between ``lo`` and ``hi`` after each
    whole-graph pass."""
    from roma_core.eval import forecast

    def moved(done, total):
        report(progress, lo + (hi - lo) * done / total, 1.0)

    return forecast(model, ctx, starts, progress=moved)


def _joined(a, b):
    """Two forecasts of consecutive window sets as one (assignments averaged by windows)."""
    from roma_core.eval.predict import Forecast

    wa, wb = len(a.values), len(b.values)
    both = lambda x, y: None if x is None else np.concatenate([x, y])   # noqa: E731
    assign0 = None if a.assign0 is None else (a.assign0 * wa + b.assign0 * wb) / (wa + wb)
    return Forecast(both(a.values, b.values), both(a.target, b.target), both(a.attention, b.attention), assign0,
                    a.tables)


def _compute(run, trajectory, split, progress, partial=None) -> RunForecast:
    from roma_core.eval import load_run

    report(progress, 0.0, 1.0)
    model, ctx, state = load_run(run, trajectory)
    report(progress, 0.15, 1.0)
    starts = _window_starts(ctx.windows, split)
    first_done = 0.15 + 0.75 / len(starts)
    f = _forecast_windows(model, ctx, starts[:1], progress, 0.15, first_done)
    if len(starts) > 1:
        if partial is not None:
            partial(_result(run, trajectory, split, state, ctx.windows, starts[:1], f, pending=len(starts) - 1))
        f = _joined(f, _forecast_windows(model, ctx, starts[1:], progress, first_done, 0.9))
    out = _result(run, trajectory, split, state, ctx.windows, starts, f)
    report(progress, 1.0, 1.0)
    return out


def _result(run, trajectory, split, state, w, starts, f, pending: int = 0) -> RunForecast:
    """The :class:`RunForecast` of a forecast ``f`` of windows ``starts``."""
    from roma_core.renorm.neural import to_hierarchy

    hierarchy = None if f.assign0 is None else to_hierarchy([f.assign0, *f.tables], w.graph)
    last = w.transform(w.raw[starts + w.lookback - 1])[:, :, None, :]  # (W, N, 1, C): persistence
    curves = {state["model"]: relative_l2_per_step(f.values, f.target),
              "persistence": relative_l2_per_step(np.broadcast_to(last, f.target.shape), f.target)}
    out = RunForecast(run=str(run), trajectory=str(trajectory), model=state["model"], step=int(state["step"]),
                      split=split, windows=w, starts=starts, values=f.values, target=f.target,
                      attention=f.attention, hierarchy=hierarchy, curves=curves, pending=pending)
    err = np.sqrt(((f.values - f.target) ** 2).sum(-1))
    if not out.phase:
        err = err * w.norm[1]
    out.error_max = float(np.quantile(err, 0.99)) or 1.0
    return out


def find_baselines(run) -> list[str]:
    """Other runs next to ``run`` (sibling directories holding a checkpoint) trained with
    the same lookback and horizon on the same graph.

    Parameters
    ----------
    run : str or Path
        A training run.

    Returns
    -------
    list of str
        Their directories (none when ``run`` cannot be read).
    """
    from roma_core.train.checkpoint import read_state

    try:
        own = read_state(run)
    except RomaError:
        return []
    here = Path(run).resolve()
    found = []
    for d in sorted(here.parent.iterdir()) if here.parent.is_dir() else []:
        if d == here or not d.is_dir() or not (d / "checkpoint.json").exists():
            continue
        try:
            st = read_state(d)
        except RomaError:
            continue
        spec, mine = st.get("model_spec", {}), own.get("model_spec", {})
        if (st.get("graph_fingerprint") == own.get("graph_fingerprint")
                and spec.get("lookback") == mine.get("lookback") and spec.get("horizon") == mine.get("horizon")):
            found.append(str(d))
    return found


_CURVES: dict = {}


def baseline_curve(path, result: RunForecast, progress=None) -> tuple[str, np.ndarray]:
    """(label, relative L2 per horizon step) of the checkpoint at ``path`` on the windows
    of ``result`` (cached).

    Parameters
    ----------
    path : str or Path
        Another run or checkpoint.
    result : RunForecast
        The forecast whose windows it is evaluated on.
    progress : callable, optional
        ``progress(done, total)``.

    Returns
    -------
    tuple
        ``(label, relative L2 per horizon step)``.

    Raises
    ------
    CheckpointError
        If its lookback or horizon differ from the run's.
    """
    from roma_core.eval import load_run
    from roma_core.train.checkpoint import resolve

    key = (str(resolve(path).resolve()), result.trajectory, result.split, tuple(result.starts))
    if key in _CURVES:
        return _CURVES[key]
    model, ctx, state = load_run(path, result.trajectory)
    if (ctx.windows.lookback, ctx.windows.horizon) != (result.lookback, result.horizon):
        raise CheckpointError(f"{path}: lookback/horizon {ctx.windows.lookback}/{ctx.windows.horizon} differ from "
                              f"the run's {result.lookback}/{result.horizon}; compare runs trained on the same windows")
    f = _forecast_windows(model, ctx, result.starts, progress)
    label = f"{state['model']} ({Path(path).name})"
    _CURVES[key] = (label, relative_l2_per_step(f.values, f.target))
    return _CURVES[key]


def load_all(run, trajectory, split, baselines, progress=None, partial=None):
    """The job behind the view: the run's forecast, then each baseline's error curve.

    Parameters
    ----------
    run, trajectory, split
        As for :func:`run_forecast`.
    baselines : list of str
        Other runs whose curves are added.
    progress : callable, optional
        ``progress(done, total)`` over all of it.
    partial : callable, optional
        Handed ``(first, curves, [])`` when the first window is there (see
        :func:`run_forecast`).

    Returns
    -------
    tuple
        ``(forecast, curves, problems)``: the :class:`RunForecast`, the error curve per
        label, and one message per baseline that failed.
    """
    n = 1 + len(baselines)

    def part(i):
        return None if progress is None else (lambda d, t: progress((i + d / max(t, 1e-12)) / n, 1.0))

    early = None if partial is None else (lambda first: partial((first, dict(first.curves), [])))
    result = run_forecast(run, trajectory, split, progress=part(0), partial=early)
    curves, problems = dict(result.curves), []
    for i, path in enumerate(baselines, start=1):
        try:
            label, curve = baseline_curve(path, result, progress=part(i))
        except RomaError as exc:
            problems.append(f"{path}: {exc}")
            continue
        curves[label] = curve
    return result, curves, problems


# ------------------------------------------------------------------ shared drawing
def start_when_free(job: Job, session, fn, *args, **kwargs) -> None:
    """``job.start(fn, ...)``, or, when another job of the session is running, start it as
    soon as that one has finished (views load their default data at session start).

    Parameters
    ----------
    job : Job
        The view's job.
    session : Session or None
        The view's session.
    fn : callable
        The work, with ``*args``.
    *args, **kwargs
        Passed to ``job.start``.
    """
    if job.start(fn, *args, **kwargs):
        return
    other = running_job(session) if session is not None else None
    if other is None or other is job:
        return

    def again(event):
        if not event.new:
            other.param.unwatch(watcher)
            start_when_free(job, session, fn, *args, **kwargs)

    watcher = other.param.watch(again, "running")


def graph_panel(data: render.GraphData, points: hv.DynamicMap, colour: dict, title: str, on_tap=None,
                marks=None, tools=("tap",), size: int = 300, extra_opts: dict | None = None, under=None,
                keep: list | None = None, range_stream=None):
    """One disk: grey edges, ``under`` (e.g. all nodes in grey), ``points`` rasterized with ``colour`` (cmap, clim, cnorm,
    clabel, colorbar), optional ``marks`` overlay (picked node), the rim; a tap calls
    ``on_tap(x, y)``.

    Parameters
    ----------
    data : render.GraphData
        The graph's rendering data.
    points : holoviews.DynamicMap
        The nodes' points, with a ``value`` column.
    colour : dict
        Colour options of the nodes' raster.
    title : str
        The plot's title.
    on_tap : callable, optional
        Called with ``(x, y)`` on a tap.
    marks : holoviews.Element, optional
        Drawn on top (the picked node).
    tools : tuple of str
        Bokeh tools besides hover.
    size : int
        The disk's size in pixels.
    extra_opts : dict, optional
        Options of the overlay that override the defaults.
    under : holoviews.Element, optional
        Drawn under the nodes.
    keep : list, optional
        Receives the tap stream, which the caller must hold.
    range_stream : holoviews.streams.RangeXY, optional
        A range shared with other panels (linked zoom).

    Returns
    -------
    tuple
        ``(overlay, rasterized nodes)``.
    """
    if range_stream is None:
        raster = render.rasterized_nodes(points, px=2)
    else:  # aggregate for a range shared with other panels (linked zoom re-aggregates every panel)
        from holoviews.operation.datashader import rasterize, spread

        raster = spread(rasterize(points, aggregator=ds.max("value"), streams=[range_stream, hv.streams.PlotSize]),
                        px=2, how="max")
    nodes = raster.opts(
        tools=["hover", *tools], colorbar_opts={"width": 10}, **colour,
        hover_tooltips=[("x", "$x{0.000}"), ("y", "$y{0.000}"), ("value", "@image{0.[000]}")])
    edges = render.edge_layer(lambda: data, streams=[range_stream or hv.streams.RangeXY(), hv.streams.PlotSize()])
    layers = edges.opts(tools=[])
    if under is not None:
        layers = layers * under
    layers = layers * nodes
    if marks is not None:
        layers = layers * marks
    if on_tap is not None:
        tap = hv.streams.Tap(source=nodes, x=None, y=None)
        tap.add_subscriber(lambda x=None, y=None, **_: on_tap(x, y))
        if keep is not None:  # the caller holds the stream (HoloViews keeps only a weak reference)
            keep.append(tap)
    # explicit outer sizes (not frame_width): frame-sized figures beside other plots lay out empty
    opts = dict(width=size + (95 if colour.get("colorbar") else 15), height=size + 35, xlim=render.EXTENT,
                ylim=render.EXTENT, xaxis=None,
                yaxis=None, bgcolor="white", toolbar="above", active_tools=["wheel_zoom"], show_legend=False,
                title=title, lod=render.ZOOM_LOD)
    opts.update(extra_opts or {})
    return (layers * render.disk_outline()).opts(**opts), nodes


def set_slider_end(slider, last: int) -> None:
    """Give an integer slider its last value; a slider with nothing to choose (nothing loaded
    yet, or one value) is hidden, and keeps start < end (Bokeh rejects equal ends: E-1021).

    Parameters
    ----------
    slider : panel.widgets.IntSlider
        The slider.
    last : int
        Its last value.
    """
    slider.end = max(int(last), slider.start + 1)
    slider.visible = int(last) > slider.start


def node_marker(data: render.GraphData, nodes) -> hv.Points:
    """Rings around the given node ids (none when empty).

    Parameters
    ----------
    data : render.GraphData
        The graph's rendering data.
    nodes : int, sequence of int or None
        The nodes.

    Returns
    -------
    holoviews.Points
    """
    idx = np.atleast_1d(np.asarray([] if nodes is None else nodes, dtype=np.int64))
    x, y = data.nodes["x"].to_numpy()[idx], data.nodes["y"].to_numpy()[idx]
    return hv.Points((x, y), kdims=["x", "y"]).opts(size=16, fill_alpha=0, line_color="black", line_width=3,
                                                     marker="circle")


def values_points(data: render.GraphData, values) -> hv.Points:
    """The nodes as points coloured by ``values``.

    Parameters
    ----------
    data : render.GraphData
        The graph's rendering data.
    values : numpy.ndarray
        One value per node.

    Returns
    -------
    holoviews.Points
    """
    return render.node_points(data, "value", values)


# ------------------------------------------------------------------ the view
class ForecastView(pn.viewable.Viewer):
    """Prediction, truth and error on the graph; per-node series; error per horizon step."""

    session = param.ClassSelector(class_=Session, allow_None=True, doc="the browser session followed")
    run = param.String(default="", label="Run (checkpoint directory)")
    trajectory = param.String(default="", label="Trajectory store")
    baselines = param.String(default="", label="Baseline runs (comma-separated; siblings of the run are added)")
    split = param.Selector(default="test", objects=list(SPLITS), label="Windows from")
    window = param.Integer(default=0, bounds=(0, 0), label="Window")
    step = param.Integer(default=1, bounds=(1, 1), label="Horizon step")
    node = param.Integer(default=None, allow_None=True, bounds=(0, None), label="Node id")
    status = param.String(default="", doc="what the view shows or what went wrong")
    info = param.String(default="", doc="the picked node's numbers")
    revision = param.Integer(default=0, precedence=-1, doc="bumped when a new forecast is shown")

    def __init__(self, session: Session | None = None, **params):
        if session is not None:
            params.setdefault("run", session.run)
            params.setdefault("trajectory", session.trajectory)
        super().__init__(session=session, **params)
        self.result: RunForecast | None = None
        self.curves: dict = {}
        self._data: render.GraphData | None = None
        self.job = Job(session)
        self._range = hv.streams.RangeXY()
        self._frames: dict = {}
        self._build_widgets()
        # never an empty row (Bokeh's validation warns of one, W-1002): a note until the maps come
        self._maps = pn.Row(pn.pane.Markdown("*The prediction, truth and error maps appear here once the "
                                             "forecast is loaded.*", margin=(10, 10)),
                            css_classes=["roma-forecast-maps"])
        self._series = pn.pane.HoloViews(None, linked_axes=False, css_classes=["roma-forecast-series"])
        self._errors = pn.pane.HoloViews(None, linked_axes=False, css_classes=["roma-forecast-errors"])
        if session is not None:
            session.param.watch(self._follow_session, ["run", "trajectory"])
        if self.run and self.trajectory:
            self.load()
        else:
            self.status = "Choose a run (checkpoint directory) and a trajectory store, then Load."

    # ---------------------------------------------------------------- loading
    def _baseline_paths(self) -> list[str]:
        given = [p.strip() for p in self.baselines.replace("\n", ",").split(",") if p.strip()]
        found = find_baselines(self.run) if self.run else []
        return list(dict.fromkeys(given + found))

    def load(self, wait: bool = False) -> None:
        """Compute (or take from the cache) the forecast of ``run`` on ``trajectory`` in the
        background and show it; a problem is shown in :attr:`status`.

        Parameters
        ----------
        wait : bool
            Block until it is shown (notebooks, tests).
        """
        try:  # confined to the session's workspace
            run, traj, *bases = confined(self.session, self.run, self.trajectory, *self._baseline_paths())
        except RomaError as exc:
            self.status = f"⚠ {exc}"
            return
        split = self.split
        hit = cached(run, traj, split)
        if hit is not None and not bases:  # already computed (another session or view): show at once
            self._show((hit, dict(hit.curves), []))
            return
        start_when_free(self.job, self.session, load_all, run, traj, split, bases, on_done=self._show,
                        on_partial=self._show,
                        label=f"Forecasting {Path(run).name} on {Path(traj).name}")
        if wait:
            self.job.wait()

    def _show(self, loaded) -> None:
        result, curves, problems = loaded
        self.result, self.curves = result, curves
        self._data = render.prepare(result.graph)
        n = result.graph.num_nodes
        self.param.window.bounds = (0, len(result.starts) - 1)
        self.param.step.bounds = (1, result.horizon)
        self.param.node.bounds = (0, n - 1)
        set_slider_end(self._window_w, len(result.starts) - 1)
        set_slider_end(self._step_w, result.horizon)
        self._node_w.end = n - 1
        self.param.update(window=min(self.window, len(result.starts) - 1), step=min(self.step, result.horizon),
                          node=self.node if self.node is not None and self.node < n else int(np.argmax(
                              result.graph.degree)))
        rl2 = curves[result.model]
        more = f" (the other {result.pending} are being computed)" if result.pending else ""
        self.status = (f"**{result.model}** (step {result.step}) on {n:,} nodes · {len(result.starts)} {result.split} "
                       f"windows{more} · rel. L2 at step 1 / {result.horizon}: {rl2[0]:.3f} / {rl2[-1]:.3f} "
                       f"(persistence {curves['persistence'][0]:.3f} / {curves['persistence'][-1]:.3f})"
                       + "".join(f"\n\n⚠ {p}" for p in problems))
        self.revision += 1
        self._draw()

    def _follow_session(self, event) -> None:
        self.param.update(**{event.name: event.new})
        if self.run and self.trajectory:
            self.load()

    def _on_load(self, event=None) -> None:
        self.load()

    # ---------------------------------------------------------------- picking
    def pick(self, x, y) -> int | None:
        """Select the node nearest to (x, y) within a few pixels of the current view.

        Parameters
        ----------
        x, y : float
            A point in the plot's data coordinates (``None`` or not finite: no node).

        Returns
        -------
        int or None
            The selected node (also set as :attr:`node`), or ``None``.
        """
        if self._data is None or x is None or y is None or not (math.isfinite(x) and math.isfinite(y)):
            return None
        xr_ = self._range.x_range or render.EXTENT
        found = self._data.nearest(x, y, PICK_RADIUS * (xr_[1] - xr_[0]))
        if found is not None:
            self.node = found
        return found

    @param.depends("node", "window", "step", "revision", watch=True)
    def _update_info(self) -> None:
        r = self.result
        if r is None or self.node is None:
            self.info = ""
            return
        i, w, k = self.node, self.window, self.step
        pred, true = r.state(r.values[w, i, k - 1]), r.state(r.target[w, i, k - 1])
        unit = "θ" if r.phase else "u"
        self.info = (f"**node {i}** · degree {int(r.graph.degree[i])} · t = {r.time_of(w, k):.4g}: "
                     f"{unit} predicted {pred:.3f}, true {true:.3f}, error {r.node_error(w, k)[i]:.3f}")

    # ---------------------------------------------------------------- drawing
    def _map_values(self, kind: str, window: int, step: int) -> np.ndarray:
        """What the ``kind`` map colours: the predicted or true state, or the error, per node."""
        r = self.result
        if kind == "error":
            return r.node_error(window, step).astype(np.float32)
        return r.state((r.values if kind == "prediction" else r.target)[window, :, step - 1]).astype(np.float32)

    def _map_nodes(self, kind: str) -> pd.DataFrame:
        """x, y and the ``kind`` map's value per node at the current window and step (cached
        per map, so zooming does not rebuild it)."""
        key = (self.revision, self.window, self.step)
        hit = self._frames.get(kind)
        if hit is None or hit[0] != key:
            d = self._data
            hit = (key, pd.DataFrame({"x": d.nodes["x"].to_numpy(), "y": d.nodes["y"].to_numpy(),
                                      "value": self._map_values(kind, self.window, self.step)}))
            self._frames[kind] = hit
        return hit[1]

    def _state_colour(self) -> dict:
        r = self.result
        if r.phase:
            return dict(cmap=render.colormap("colorwheel"), clim=(-math.pi, math.pi), cnorm="linear",
                        clabel="phase θ")
        s = r.state(r.target)
        lo, hi = float(np.nanmin(s)), float(np.nanmax(s))
        return dict(cmap=render.colormap("viridis"), clim=(lo, hi if hi > lo else lo + 1), cnorm="linear",
                    clabel="state u")

    def _marks(self, node):
        return node_marker(self._data, [] if node is None else [node])

    def _draw(self) -> None:
        r, d = self.result, self._data
        if r is None:
            return
        self._range = hv.streams.RangeXY()
        self._streams = []
        state_c = self._state_colour()
        panels = []
        self._frames = {}
        size = 290
        for kind in ("prediction", "truth", "error"):
            colour = dict(state_c) if kind != "error" else dict(
                cmap=render.colormap("inferno"), clim=(0.0, r.error_max), cnorm="linear",
                clabel="error |ŷ − y|")
            # nodes and edges as one server-shaded image per zoom (as in the Graph view); all
            # three maps aggregate for the range they share, so zooming one redraws all
            layer = render.graph_layer(
                lambda: d, lambda kind=kind: self._map_nodes(kind),
                {k: colour[k] for k in ("cmap", "clim", "cnorm")},
                streams=[self._range, hv.streams.PlotSize(), self.param.window, self.param.step], px=2,
            ).opts(tools=["tap"])
            layers = layer
            if kind != "prediction":  # prediction and truth share one colour bar (the truth's)
                layers = layers * render.colourbar(colour, colour["clabel"])
            layers = layers * hv.DynamicMap(pn.bind(self._marks, node=self.param.node)) * render.disk_outline()
            tap = hv.streams.Tap(source=layer, x=None, y=None)
            tap.add_subscriber(lambda x=None, y=None, **_: self.pick(x, y))
            self._streams.append(tap)  # HoloViews keeps only a weak reference to subscribers' streams
            if kind == "prediction":
                self._range.source = layer
            title = {"prediction": f"prediction ({r.model})", "truth": "truth", "error": "error"}[kind]
            # explicit outer sizes (not frame_width): frame-sized figures beside other plots lay out empty
            panels.append(layers.opts(
                width=size + (15 if kind == "prediction" else 95), height=size + 35, xlim=render.EXTENT,
                ylim=render.EXTENT, xaxis=None, yaxis=None, bgcolor="white", toolbar="above",
                active_tools=["wheel_zoom"], show_legend=False, title=title, lod=render.ZOOM_LOD))
        # three panes whose axes Panel links (same x/y dimensions): zoom one, all follow
        self._maps[:] = [pn.pane.HoloViews(p, linked_axes=True, css_classes=[f"roma-forecast-{kind}"])
                         for p, kind in zip(panels, ("prediction", "truth", "error"))]
        self._series.object = hv.DynamicMap(pn.bind(self._series_plot, node=self.param.node,
                                                    window=self.param.window, step=self.param.step))
        self._errors.object = hv.DynamicMap(pn.bind(self._error_plot, step=self.param.step))

    def _series_plot(self, node, window, step):
        r = self.result
        ylabel = "phase θ (unwrapped)" if r.phase else "state u"
        if node is None:
            return hv.Curve([], "time", ylabel).opts(responsive=False, width=520, height=300)
        th, hist, tf, truth, pred = r.series(window, node)
        t_now = r.time_of(window, step)
        curves = [hv.Curve((th, hist), "time", ylabel, label="history").opts(color="black", line_width=2),
                  hv.Curve((np.r_[th[-1:], tf], np.r_[hist[-1:], truth]), "time", ylabel, label="truth").opts(
                      color="black", line_dash="dashed", line_width=2),
                  hv.Curve((np.r_[th[-1:], tf], np.r_[hist[-1:], pred]), "time", ylabel,
                           label=f"prediction ({r.model})").opts(color=MODEL_COLOURS.get(r.model, "#d62728"),
                                                                  line_width=2),
                  hv.Scatter((tf, pred), "time", ylabel).opts(color=MODEL_COLOURS.get(r.model, "#d62728"), size=5),
                  hv.VLine(t_now).opts(color="#999999", line_dash="dotted")]
        curves = [c.opts(framewise=True) for c in curves]  # each node gets its own axis ranges
        return hv.Overlay(curves).opts(width=520, height=300, title=f"node {node} · window {window}",
                                       legend_position="top_left", show_grid=True, toolbar="above")

    def _error_plot(self, step):
        r = self.result
        k = np.arange(1, r.horizon + 1)
        dt = r.time_of(0, 1) - r.time_of(0, 0)
        layers = []
        for name, curve in self.curves.items():
            model = name.split(" ")[0]
            colour = MODEL_COLOURS.get(model, "#8c564b")
            dash = "dashed" if name == "persistence" else "solid"
            layers.append(hv.Curve((k, curve), "horizon step", "relative L2 error", label=name).opts(
                color=colour, line_dash=dash, line_width=2))
            layers.append(hv.Scatter((k, curve), "horizon step", "relative L2 error").opts(color=colour, size=6))
        layers.append(hv.VLine(step).opts(color="#999999", line_dash="dotted"))
        return hv.Overlay(layers).opts(width=480, height=300, legend_position="top_left", show_grid=True,
                                       title="relative L2 error per horizon step", toolbar="above", ylim=(0, None),
                                       xlabel=f"horizon step (Δt = {dt:.3g}; mean over {len(r.starts)} {r.split} windows)")

    # ---------------------------------------------------------------- widgets
    def _build_widgets(self) -> None:
        load = pn.widgets.Button(label="Load", color="primary", sizing_mode="stretch_width",
                                 disabled=self.job.param.running)
        load.on_click(self._on_load)
        cancel = pn.widgets.Button(label="Cancel", sizing_mode="stretch_width", visible=self.job.param.running)
        cancel.on_click(lambda e: self.job.cancel())
        self._window_w = pn.widgets.IntSlider.from_param(self.param.window, sizing_mode="stretch_width")
        self._step_w = pn.widgets.IntSlider.from_param(self.param.step, sizing_mode="stretch_width",
                                                       css_classes=["roma-forecast-step"])
        self._node_w = pn.widgets.IntInput.from_param(self.param.node, sizing_mode="stretch_width",
                                                      css_classes=["roma-forecast-node-input"])
        set_slider_end(self._window_w, self.param.window.bounds[1])
        set_slider_end(self._step_w, self.param.step.bounds[1])
        self._controls = pn.Column(
            self._step_w, self._window_w, self._node_w,
            pn.layout.Divider(),
            path_field(self, "run", self.session, ("run",), sizing_mode="stretch_width"),
            path_field(self, "trajectory", self.session, ("trajectory",), sizing_mode="stretch_width"),
            path_field(self, "baselines", self.session, ("run",), multiple=True, sizing_mode="stretch_width",
                       placeholder="runs/deeponet, runs/gnn"),
            pn.widgets.Select.from_param(self.param.split, sizing_mode="stretch_width"),
            load,
            pn.indicators.Progress(value=self.job.param.progress, max=100, visible=self.job.param.running,
                                   sizing_mode="stretch_width", bar_color="primary"),
            cancel,
            pn.pane.Markdown(self.job.param.status, css_classes=["roma-forecast-job"], margin=(0, 10)),
            width=250,
        )

    def __panel__(self):
        status = pn.pane.Markdown(self.param.status, css_classes=["roma-forecast-status"], margin=(0, 10))
        info = pn.pane.Markdown(self.param.info, css_classes=["roma-forecast-node"], margin=(0, 10))
        return pn.Row(self._controls, pn.Column(status, self._maps, info, pn.Row(self._series, self._errors)))
