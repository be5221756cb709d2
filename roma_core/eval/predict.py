"""Whole-graph inference, layer-wise: the layers that read other nodes run once for every
node (each graph convolution one sparse product with the adjacency), ROMA pools the whole
graph once, and the node-local rest runs over contiguous chunks of nodes. The result equals
one forward pass over the whole graph, at the cost of about one such pass."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

#: Nodes per chunk of the node-local part (small enough for its intermediates to stay in cache).
CHUNK_NODES = 16_384
#: Node-windows per whole-graph pass (windows are grouped up to this; one window at least).
PASS_NODE_WINDOWS = 1 << 20


@dataclass
class Forecast:
    """A forecast on every node of a graph.

    Attributes
    ----------
    values, target : numpy.ndarray
        ``(B, N, horizon, C)`` prediction and truth for ``B`` windows.
    attention : numpy.ndarray or None
        ``(B, N, heads, levels + 1)`` attention over the node's own token and its supernodes.
    assign0 : numpy.ndarray or None
        ``(N, N_1)`` first-level soft assignment, averaged over windows.
    tables : list of numpy.ndarray or None
        The higher-level assignments ``[(N_1, N_2), ...]``.
    scale : numpy.ndarray or None
        ``(B, N, horizon, C')`` the learned predictive standard deviation
        (``Prediction.scale``; radians of the turning angle for phase models); None for a
        point model.
    """

    values: np.ndarray
    target: np.ndarray
    attention: np.ndarray | None = None
    assign0: np.ndarray | None = None
    tables: list | None = None
    scale: np.ndarray | None = None


@torch.inference_mode()
def forecast(model, ctx, starts, *, chunk_nodes: int = CHUNK_NODES, keep_attention: bool = True,
             progress=None) -> Forecast:
    """Predict some windows on every node of a graph (the result does not depend on
    ``chunk_nodes``).

    Parameters
    ----------
    model : torch.nn.Module
        A model of :mod:`roma_core.models`.
    ctx : roma_core.train.Context
        The trajectory's windows and batches.
    starts : array_like of int
        Window starts (time indices).
    chunk_nodes : int
        Nodes per chunk of the node-local part.
    keep_attention : bool
        Keep the attention weights (memory: ``B x N x heads x levels``).
    progress : callable, optional
        ``progress(windows done, windows)`` after each whole-graph pass.

    Returns
    -------
    Forecast
    """
    n = ctx.windows.graph.num_nodes
    starts = np.asarray(starts)
    group = max(1, PASS_NODE_WINDOWS // n)
    out, assign_sum = {}, None
    tables = None
    for lo in range(0, len(starts), group):
        part = starts[lo:lo + group]
        for name, core, array in _whole_graph_pass(model, ctx, part, chunk_nodes, keep_attention):
            if name == "assign0":
                if assign_sum is None:
                    assign_sum = np.zeros((n,) + array.shape[1:], np.float64)
                assign_sum[core] += array * len(part)
                continue
            if name == "tables":
                tables = array
                continue
            if name not in out:
                out[name] = np.empty((len(starts), n) + array.shape[2:], np.float32)
            out[name][lo:lo + len(part), core] = array
        if progress is not None:
            progress(lo + len(part), len(starts))
    assign0 = None if assign_sum is None else (assign_sum / len(starts)).astype(np.float32)
    return Forecast(out["values"], out["target"], out.get("attention"), assign0, tables, scale=out.get("scale"))


def _whole_graph_pass(model, ctx, starts, chunk_nodes, keep_attention):
    """Yield ``(name, node slice, array)`` pieces of one pass over some windows."""
    n = ctx.windows.graph.num_nodes
    batch = ctx.batch(starts, edges=ctx.adjacency())
    z = None
    if hasattr(model, "node_level"):
        if model.phase:                                   # every chunk turns by the whole graph's angle
            batch = replace(batch, reference=model.reference_phase(batch))
        gauged, _ = model.gauged(batch)
        z = model.node_level(gauged)
        if hasattr(model, "pool"):
            parts = [model.pool(z[:, c], gauged.select(c)) for c in _chunks(n, chunk_nodes)]
            batch.pooled = tuple(sum(p[i] for p in parts) for i in range(2))
    for c in _chunks(n, chunk_nodes):
        sub = batch.select(c)
        pred = model(sub) if z is None else model(sub, tokens=z[:, c])
        yield "values", c, pred.values.float().cpu().numpy()
        yield "target", c, sub.y.float().cpu().numpy()
        if pred.scale is not None:                        # a learned predictive distribution
            yield "scale", c, pred.scale.float().cpu().numpy()
        if keep_attention and pred.attention is not None:
            yield "attention", c, pred.attention.float().cpu().numpy()
        if pred.assign is not None:
            yield "assign0", c, pred.assign[0].mean(0).float().cpu().numpy()
            if c.start == 0:                              # the tables are the same for every node
                yield "tables", c, [t.float().cpu().numpy() for t in pred.assign[1:]]


def _chunks(n: int, size: int):
    return [slice(lo, min(n, lo + size)) for lo in range(0, n, size)]


def predict(model, ctx, starts, **kw):
    """(values, target) arrays of :func:`forecast`.

    Parameters
    ----------
    model : torch.nn.Module
        A model of :mod:`roma_core.models`.
    ctx : roma_core.train.Context
        The trajectory's windows and batches.
    starts : array_like of int
        Window starts.
    **kw
        ``chunk_nodes``, as for :func:`forecast`.

    Returns
    -------
    tuple of numpy.ndarray
        ``(values, target)``.
    """
    f = forecast(model, ctx, starts, keep_attention=False, **kw)
    return f.values, f.target
