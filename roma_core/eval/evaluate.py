"""Evaluate a checkpoint on a trajectory (its own test span, or all of a held-out graph)."""
from __future__ import annotations

import os
import time

import numpy as np
import torch

from ..errors import SpecError
from ..specs import TrainSpec
from ..train import checkpoint as ckpt
from ..train.data import load_windows
from ..train.loop import Context, reads_far_field, reads_whole_graph
from .metrics import (attention_summary, block_order_parameters, order_parameter, relative_l2,
                      relative_l2_per_step,
                      relative_l2_per_window)
from .predict import forecast


def evaluate(checkpoint, data, *, split: str = "auto", max_windows: int = 16, device: str = "cpu",
             model_name: str | None = None, windows=None, scales: bool = True,
             intervals: float | None = None, calibration=None, groups: int = 1, forecast_out=None,
             overwrite: bool = False) -> dict:
    """Metrics of a trained model on a trajectory, forecast on every node.

    Parameters
    ----------
    checkpoint : str or os.PathLike
        A run folder (its latest checkpoint) or one ``ckpt_*`` folder.
    data : str or os.PathLike
        A trajectory store (ignored when ``windows`` is given).
    split : {"auto", "test", "val", "all"}
        Which windows: ``"auto"`` takes the test span when ``data`` is one of the training
        graphs and every window when it is another (held-out) graph.
    max_windows : int
        Evaluate at most this many windows, spread evenly over the split.
    device : str
        ``"cpu"`` or ``"cuda"``.
    model_name : str, optional
        Evaluate this model instead of the checkpoint's weights with the same windows,
        e.g. ``"persistence"`` for the floor.
    windows : roma_core.data.windows.Windows, optional
        Ready windows (with the checkpoint's features) instead of loading ``data``.
    scales : bool
        Also compute the synchrony errors across scales (a geometric RG of the graph;
        about 15 s at 10^6 nodes).
    intervals : float, optional
        Also score split-conformal intervals (:mod:`roma_core.eval.intervals`) calibrated
        on a validation span: coverage and width at this level and at
        ``roma_core.eval.intervals.LEVELS``, and the CRPS of the conformal predictive
        distribution; for a model with a learned predictive distribution
        (``ModelSpec.predictive``) the same scores of that distribution too.
    calibration : Windows or str or os.PathLike, optional
        The trajectory whose validation span calibrates them; default: ``data`` itself when
        it is a training graph (a held-out graph has no validation span of its own).
    groups : int
        Calibrate the radii per degree group of about equal size (1: one radius per step).
    forecast_out : str or os.PathLike, optional
        Also write the forecast and the truth of every window, node and step to this zarr
        store (:mod:`roma_core.eval.forecasts`), with ``intervals`` their ``lower`` and
        ``upper`` ends at that level.
    overwrite : bool
        Replace an existing ``forecast_out`` that ROMA wrote.

    Returns
    -------
    dict
        ``rel_l2`` and ``rel_l2_per_step``, the attention summary, sizes and timings; for
        phase data also ``order_parameter_mae`` (global R(t)) and
        ``local_order_parameter_mae`` (per level of the geometric RG); with ``intervals``,
        ``intervals`` (level, calibration windows, coverage and width per level and step,
        CRPS, seconds; for a model with a learned predictive distribution also ``learned``,
        the same scores of that distribution, :func:`intervals.learned`).

    Raises
    ------
    roma_core.errors.SpecError
        When the split has no window of lookback + horizon, or the interval options are bad.
    roma_core.errors.CheckpointError
        When the checkpoint cannot be loaded.
    roma_core.errors.StoreError
        When ``forecast_out`` exists (and ``overwrite`` is false or ROMA did not write it).
    """
    from ..models import build

    if intervals is not None and not 0 < intervals < 1:
        raise SpecError(f"--intervals takes a level in (0, 1), e.g. 0.9; got {intervals}")
    if int(groups) != groups or groups < 1:
        raise SpecError(f"--interval-groups takes a whole number of degree groups >= 1, got {groups}")
    if forecast_out is not None:      # fail before the forecast, not after it
        from ..data.store import check_target

        check_target(forecast_out, overwrite)
    model, state = ckpt.load_model(checkpoint, device=device)
    tspec = TrainSpec.from_dict(state["train_spec"])
    if model_name:
        model = build(model_name, model.spec).to(device)
    if windows is None:
        windows = load_windows(data, model.spec, tspec, features=state["features"],
                               norm=None if state["norm"] is None else tuple(state["norm"]))
    same_graph = windows.graph.fingerprint() in state.get("train_graphs", [state["graph_fingerprint"]])
    if split == "auto":
        split = "test" if same_graph else "all"
    starts = windows.starts(split)
    if len(starts) == 0:
        raise SpecError(f"no {split} windows of lookback {windows.lookback} + horizon {windows.horizon} in {data}")
    starts = starts[np.unique(np.linspace(0, len(starts) - 1, min(max_windows, len(starts))).astype(int))]
    ctx = Context(windows, model.spec, torch.device(device), far_field=reads_far_field(model),
                  whole_graph=reads_whole_graph(model))
    model.eval()
    t0 = time.perf_counter()
    f = forecast(model, ctx, starts)
    seconds = time.perf_counter() - t0
    out = {"model": model_name or state["model"], "params": sum(p.numel() for p in model.parameters()),
           "checkpoint": state["path"], "step": state["step"], "train_seconds": state["elapsed"],
           "task": tspec.task, "split": split, "held_out_graph": not same_graph, "windows": len(starts),
           "nodes": windows.graph.num_nodes, "rel_l2": relative_l2(f.values, f.target),
           "rel_l2_per_window": relative_l2_per_window(f.values, f.target).tolist(),
           "rel_l2_per_step": relative_l2_per_step(f.values, f.target).tolist(),
           "inference_seconds": seconds, "attention": attention_summary(f.attention)}
    if windows.features == "phase":
        r_pred, r_true = order_parameter(f.values), order_parameter(f.target)
        out["order_parameter_mae"] = float(np.abs(r_pred - r_true).mean())
        out["order_parameter_mae_per_step"] = np.abs(r_pred - r_true).mean(0).tolist()
        if scales:
            out["local_order_parameter_mae"] = local_synchrony_errors(windows.graph, f.values, f.target)
    if intervals is not None:
        if calibration is None and not same_graph:
            raise SpecError(f"{data or 'these windows'} is a held-out graph, which has no validation span of its "
                            "own: give the training graph's trajectory to calibrate the intervals on")
        where = "validation span of " + ("the data" if calibration is None else str(calibration)
                                         if isinstance(calibration, (str, os.PathLike)) else "the calibration windows")
        if isinstance(calibration, (str, os.PathLike)):
            calibration = load_windows(calibration, model.spec, tspec, features=state["features"],
                                       norm=None if state["norm"] is None else tuple(state["norm"]))
        t0 = time.perf_counter()
        cal = {}
        out["intervals"] = interval_scores(model, ctx, f, windows if calibration is None else calibration, intervals,
                                           groups=groups, max_windows=max_windows,
                                           device=device, keep=cal)
        out["intervals"]["seconds"] = time.perf_counter() - t0
    if forecast_out is not None:
        from .forecasts import forecast_dataset, save_forecast

        interval = None
        if intervals is not None:
            interval = {"level": intervals, "radius": out["intervals"]["radius"], "groups": cal["groups"],
                        "calibration": where}
        attrs = {"model": out["model"], "checkpoint": str(state["path"]), "checkpoint_step": int(state["step"]),
                 "data": "" if data is None else str(data), "split": split, "held_out_graph": not same_graph}
        out["forecast_store"] = str(save_forecast(forecast_dataset(f, windows, starts, attrs, interval),
                                                  forecast_out, overwrite))
    return out


def interval_scores(model, ctx, f, calibration, level: float, *, groups: int = 1, max_windows: int = 16,
                    device: str = "cpu", keep: dict | None = None) -> dict:
    """Split-conformal intervals of a forecast, calibrated on the validation span of
    ``calibration``: coverage and width at ``level`` and at the standard levels, and CRPS.

    Parameters
    ----------
    model : torch.nn.Module
    ctx : Context
        The forecast's windows and batches.
    f : Forecast
        The forecast scored.
    calibration : Windows
        The trajectory whose validation span calibrates (a training graph).
    level : float
        The requested level, in (0, 1).
    groups : int
        Degree groups with their own radii.
    max_windows : int
        Validation windows forecast for the calibration.
    device : str
    keep : dict, optional
        Receives ``groups``, the (N,) degree group of every node of the forecast's graph
        (the rows of ``radius``), for :func:`intervals.bounds`.

    Returns
    -------
    dict
        ``level``, ``calibration_windows``, ``degree_bins``, ``radius`` (at ``level``, per group
        and step), ``levels`` (coverage and width per level, :func:`intervals.coverage`),
        ``crps`` and ``crps_per_step``; ``learned`` (:func:`intervals.learned`) where the
        forecast has a learned predictive scale.

    Raises
    ------
    SpecError
        For a level outside (0, 1) or a calibration trajectory without validation windows.
    """
    from . import intervals as iv

    if not 0 < level < 1:
        raise SpecError(f"--intervals takes a level in (0, 1), e.g. 0.9; got {level}")
    starts = calibration.starts("val")
    if len(starts) == 0:
        raise SpecError("the calibration trajectory has no validation window; simulate longer or give another")
    starts = starts[np.unique(np.linspace(0, len(starts) - 1, min(max_windows, len(starts))).astype(int))]
    cal_ctx = ctx if calibration is ctx.windows else Context(
        calibration, model.spec, torch.device(device), far_field=reads_far_field(model),
        whole_graph=reads_whole_graph(model))
    fc = forecast(model, cal_ctx, starts, keep_attention=False)
    features = ctx.windows.features
    levels = sorted(set(iv.LEVELS) | {float(level)})
    bins = iv.degree_bins(calibration.graph.degree, groups) if groups > 1 else np.zeros(0)
    g_cal = iv.degree_groups(calibration.graph.degree, bins)
    g_new = iv.degree_groups(ctx.windows.graph.degree, bins)
    cal = iv.calibrate(fc.values, fc.target, features, levels, g_cal)
    if keep is not None:
        keep["groups"] = g_new
    out = {"level": float(level), "calibration_windows": len(starts), "degree_bins": bins.tolist(),
           "radius": cal["radius"][levels.index(float(level))].tolist(),
           "levels": iv.coverage(f.values, f.target, features, cal, g_new),
           **iv.crps(f.values, f.target, features, cal, g_new)}
    if f.scale is not None:         # the model's own distribution, beside the conformal one
        out["learned"] = iv.learned(f.values, f.scale, f.target, features, levels)
    return out


def local_synchrony_errors(graph, values, target, block: int = 4) -> list[dict]:
    """Mean absolute error of the order parameter of every supernode, at every level of
    the graph's geometric RG (blocks of ``block``^l angularly adjacent nodes, down to 16
    supernodes): how well a forecast keeps synchrony at each scale. Empty for graphs
    without angles.

    Parameters
    ----------
    graph : Graph
        The graph forecast on.
    values, target : numpy.ndarray
        Forecast and truth as (sin θ, cos θ) features, (B, N, horizon, 2).
    block : int
        Nodes per supernode of the geometric RG.

    Returns
    -------
    list of dict
        Per level: ``level``, ``supernodes``, ``nodes_per_supernode`` and ``mae``.
    """
    from ..renorm import geometric

    if graph.theta is None:
        return []
    h = geometric(graph, block=block, min_nodes=16)
    levels = range(1, h.num_levels)
    pred, true = block_order_parameters(values, h, levels), block_order_parameters(target, h, levels)
    return [{"level": level, "supernodes": int(h.sizes[level]), "nodes_per_supernode": graph.num_nodes / h.sizes[level],
             "mae": float(np.abs(p - t).mean())} for level, p, t in zip(levels, pred, true)]


def load_run(checkpoint, data, *, device: str = "cpu"):
    """A trained model ready to run on a trajectory, with the feature transform it was
    trained with — the entry point for views and notebooks.

    Parameters
    ----------
    checkpoint : str or os.PathLike
        A run folder (its latest checkpoint) or one ``ckpt_*`` folder.
    data : str or os.PathLike
        A trajectory store.
    device : str
        ``"cpu"`` or ``"cuda"``.

    Returns
    -------
    model : torch.nn.Module
        In evaluation mode.
    ctx : roma_core.train.Context
        Batches of the trajectory's windows on ``device``.
    state : dict
        The checkpoint's record: specs, step, features, normalisation, training graphs.
    """
    model, state = ckpt.load_model(checkpoint, device=device)
    tspec = TrainSpec.from_dict(state["train_spec"])
    windows = load_windows(data, model.spec, tspec, features=state["features"],
                           norm=None if state["norm"] is None else tuple(state["norm"]))
    model.eval()
    return model, Context(windows, model.spec, torch.device(device), far_field=reads_far_field(model),
                          whole_graph=reads_whole_graph(model)), state


def forecast_run(checkpoint, data, starts=None, *, split: str = "test", device: str = "cpu"):
    """Forecast of a trained model on some windows of a trajectory, and its learned hierarchy.

    Parameters
    ----------
    checkpoint : str or os.PathLike
        A run folder (its latest checkpoint) or one ``ckpt_*`` folder.
    data : str or os.PathLike
        A trajectory store.
    starts : array_like of int, optional
        Window starts (time indices); default: the first window of ``split``.
    split : {"test", "val", "train", "all"}
        Where the default window comes from.
    device : str
        ``"cpu"`` or ``"cuda"``.

    Returns
    -------
    forecast : Forecast
        Prediction, target and attention on every node.
    hierarchy : roma_core.renorm.Hierarchy or None
        The learned hierarchy of the whole graph (None for models without one).
    ctx : roma_core.train.Context
        The windows and batches used.
    """
    from ..renorm.neural import to_hierarchy

    model, ctx, _ = load_run(checkpoint, data, device=device)
    if starts is None:
        starts = ctx.windows.starts(split)[:1]
    f = forecast(model, ctx, np.atleast_1d(starts))
    hier = None if f.assign0 is None else to_hierarchy([f.assign0, *f.tables], ctx.windows.graph)
    return f, hier, ctx
