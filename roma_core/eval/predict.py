"""Full-graph inference in chunks of nodes, each with its ``layers``-hop halo so that graph
convolutions see complete neighbourhoods. For ROMA a first pass over the chunks sums the
supernode pools of the whole graph, so the result does not depend on the chunking."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..models.phases import mean_phase
from ..train.loop import reads_far_field


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
    """

    values: np.ndarray
    target: np.ndarray
    attention: np.ndarray | None = None
    assign0: np.ndarray | None = None
    tables: list | None = None


@torch.no_grad()
def forecast(model, ctx, starts, *, chunk_nodes: int = 50_000, keep_attention: bool = True) -> Forecast:
    """Predict some windows on every node of a graph, in chunks of nodes with their halo
    (the result does not depend on the chunking).

    Parameters
    ----------
    model : torch.nn.Module
        A model of :mod:`roma_core.models`.
    ctx : roma_core.train.Context
        The trajectory's windows and batches.
    starts : array_like of int
        Window starts (time indices).
    chunk_nodes : int
        Nodes per chunk.
    keep_attention : bool
        Keep the attention weights (memory: ``B x N x heads x levels``).

    Returns
    -------
    Forecast
    """
    n = ctx.windows.graph.num_nodes
    starts = np.asarray(starts)
    hops = model.receptive_hops() if hasattr(model, "receptive_hops") else 0   # persistence reads no neighbour
    chunks = []
    for lo in range(0, n, chunk_nodes):
        core = np.arange(lo, min(n, lo + chunk_nodes))
        nodes = core if len(core) == n else ctx.sampler.halo(core, hops)
        chunks.append((core, nodes, np.isin(nodes, core)))
    pooled = None
    if len(chunks) > 1 and hasattr(model, "pool"):
        parts = [model.pool(ctx.batch(starts, nodes, weight=inside.astype(np.float32)))
                 for core, nodes, inside in chunks]
        pooled = tuple(sum(p[i] for p in parts) for i in range(2))
    reference = None
    if len(chunks) > 1 and not reads_far_field(model):
        reference = whole_graph_phase(ctx, starts)          # as one batch of every node would take it
    values = target = attn = assign0 = None
    tables = None
    for core, nodes, inside in chunks:
        weight = None if len(core) == n else inside.astype(np.float32)
        batch = ctx.batch(starts, nodes, weight=weight)
        batch.pooled, batch.reference = pooled, reference
        pred = model(batch)
        v = pred.values.float().cpu().numpy()[:, inside]
        if values is None:
            values = np.empty((len(starts), n) + v.shape[2:], np.float32)
            target = np.empty_like(values)
        values[:, core] = v
        target[:, core] = batch.y.cpu().numpy()[:, inside]
        if keep_attention and pred.attention is not None:
            a = pred.attention.cpu().numpy()[:, inside]
            if attn is None:
                attn = np.empty((len(starts), n) + a.shape[2:], np.float32)
            attn[:, core] = a
        if pred.assign is not None:
            s0 = pred.assign[0].mean(0).cpu().numpy()[inside]
            if assign0 is None:
                assign0 = np.empty((n, s0.shape[1]), np.float32)
            assign0[core] = s0
            tables = [t.cpu().numpy() for t in pred.assign[1:]]
    return Forecast(values, target, attn, assign0, tables)


def whole_graph_phase(ctx, starts):
    """Each window's mean phase over every node at its last input frame (phase features),
    on the context's device; None for other features.

    Parameters
    ----------
    ctx : roma_core.train.Context
    starts : numpy.ndarray
        Window starts.

    Returns
    -------
    torch.Tensor or None
        ``(B,)`` angles.
    """
    w = ctx.windows
    if w.features != "phase":
        return None
    last = torch.from_numpy(w.transform(w.raw[np.asarray(starts) + w.lookback - 1])).to(ctx.device)   # (B, N, C)
    return mean_phase(last)                              # as the model reduces one batch of every node


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
