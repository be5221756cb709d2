"""What every model consumes (:class:`Batch`) and returns (:class:`Prediction`)."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch


@dataclass
class Batch:
    """A set of ``n`` nodes (a sampled subgraph or the full graph) over ``B`` time windows.

    Attributes
    ----------
    x : torch.Tensor
        ``(B, n, lookback, C)`` past states.
    edge_index : torch.Tensor
        ``(2, E)`` int64 local ids, both directions of every edge; or, for whole-graph
        inference, the ``(n, n)`` sparse CSR adjacency (row i: the nodes i reads), which
        the convolutions multiply by instead of gathering a message per edge.
    theta : torch.Tensor
        ``(n,)`` node angle (S1 coordinate; angular order when the graph has none).
    kappa : torch.Tensor
        ``(n,)`` standardised log hidden degree (zeros when unknown).
    pe : torch.Tensor
        ``(n, pos_dim)`` Laplacian-eigenvector positional encodings.
    prior : torch.Tensor
        ``(n,)`` int64 first-level supernode of each node under the prior hierarchy.
    y : torch.Tensor or None
        ``(B, n, horizon, C)`` targets, when known.
    nodes : torch.Tensor or None
        ``(n,)`` int64 global node ids.
    weight : torch.Tensor or None
        ``(n,)`` per-node loss weight (nodes outside the chunk of interest get 0).
    pooled : tuple or None
        First-level supernode pools (``Σ_i S_0[i, s] z_i`` of shape ``(B, N_1, d)`` and
        ``Σ_i S_0[i, s]`` of shape ``(B, N_1)``) gathered over the whole graph, for ROMA's
        chunked inference; None: pool over this batch's nodes.
    field : torch.Tensor or None
        ``(B, N_1, lookback, C)`` past states averaged over every member of each prior
        first-level supernode of the whole graph (not only the batch's nodes): the far field
        a sampled subgraph cannot see; None: no far field.
    near : torch.Tensor or None
        ``(B, n, S, lookback, C)`` past states averaged over each node's angular
        neighbourhood in the whole graph at ``S`` scales (``ModelSpec.near_field``); None: none.
    reference : torch.Tensor or None
        ``(B,)`` reference phases of the phase gauge, when given (chunked inference gives
        the whole graph's, so that every chunk turns alike); None: the model takes them.
    graph_x : torch.Tensor or None
        ``(B, N, lookback, C)`` past states of every node of the graph, for a model that reads
        the whole graph (``reads_whole_graph``, GINO); None: not built.
    graph_theta : torch.Tensor or None
        ``(N,)`` the angles of every node, beside ``graph_x``.
    """

    x: torch.Tensor
    edge_index: torch.Tensor
    theta: torch.Tensor
    kappa: torch.Tensor
    pe: torch.Tensor
    prior: torch.Tensor
    y: torch.Tensor | None = None
    nodes: torch.Tensor | None = None
    weight: torch.Tensor | None = None
    pooled: tuple | None = None
    field: torch.Tensor | None = None
    near: torch.Tensor | None = None
    reference: torch.Tensor | None = None
    graph_x: torch.Tensor | None = None
    graph_theta: torch.Tensor | None = None

    @property
    def num_nodes(self) -> int:
        return self.x.shape[1]

    def to(self, device) -> "Batch":
        """The batch with every tensor moved to a device.

        Parameters
        ----------
        device : str or torch.device

        Returns
        -------
        Batch
        """
        moved = {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in self.__dict__.items()}
        if self.pooled is not None:
            moved["pooled"] = tuple(t.to(device) for t in self.pooled)
        return replace(self, **moved)

    def select(self, nodes: slice) -> "Batch":
        """The batch on a contiguous range of its nodes, without edges: what a model's
        node-local head reads (views, no copies). The graph-wide parts (``field``,
        ``pooled``, ``reference``, ``graph_x``) stay whole.

        Parameters
        ----------
        nodes : slice
            The range of node positions.

        Returns
        -------
        Batch
        """
        per_node = {"theta", "kappa", "pe", "prior", "nodes", "weight"}
        picked = {k: v[nodes] for k, v in self.__dict__.items() if k in per_node and v is not None}
        for name in ("x", "y", "near"):
            if getattr(self, name) is not None:
                picked[name] = getattr(self, name)[:, nodes]
        empty = torch.empty(2, 0, dtype=torch.int64, device=self.x.device)
        return replace(self, edge_index=empty, **picked)


def convolve(conv, x: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """A torch_geometric convolution of windows that share one graph.

    Parameters
    ----------
    conv : torch_geometric.nn.MessagePassing
        A convolution whose node axis is -2.
    x : torch.Tensor
        ``(B, n, d)`` or ``(n, d)`` node features.
    edges : torch.Tensor
        ``(2, E)`` edge index (all windows in one pass), or a sparse CSR adjacency (one
        sparse product per window: the product takes 2-D features).

    Returns
    -------
    torch.Tensor
        ``(B, n, d_out)`` or ``(n, d_out)``.
    """
    if edges.layout == torch.sparse_csr and x.dim() == 3:
        return torch.stack([conv(xi, edges) for xi in x])
    return conv(x, edges)


@dataclass
class Prediction:
    """A model's output for a :class:`Batch`.

    Attributes
    ----------
    values : torch.Tensor
        ``(B, n, horizon, C)`` predicted future states.
    attention : torch.Tensor or None
        ``(B, n, heads, levels + 1)`` weights of each node over its own token (index 0) and
        its supernodes at levels 1..L (they sum to 1 over the last axis); None for models
        without a hierarchy.
    assign : list or None
        Learned soft assignments ``[S_0 (n x N_1), S_1 (N_1 x N_2), ...]``, row-stochastic
        torch tensors; None for models without one. :meth:`hierarchy` wraps them.
    aux_losses : dict
        Named auxiliary losses (already weighted), summed into the training loss.
    weight_var, noise_var : torch.Tensor or None
        ``(B, n, horizon, C')`` the two parts of the learned predictive variance of each
        step's change (C' = 1 for phase models: of the turning angle), from the posterior of
        the decoder's weights and from the learned noise (``ModelSpec.predictive = "vbll"``,
        ``BayesianLastLayer`` of the decoder); None for a point model.
    """

    values: torch.Tensor
    attention: torch.Tensor | None = None
    assign: list | None = None
    aux_losses: dict = field(default_factory=dict)
    weight_var: torch.Tensor | None = None
    noise_var: torch.Tensor | None = None

    @property
    def scale(self) -> torch.Tensor | None:
        """The learned predictive standard deviation, ``(B, n, horizon, C')``: the forecast
        is N(values, scale²) in the change's units (radians for phases); None for a point
        model."""
        if self.noise_var is None:
            return None
        return torch.sqrt(self.weight_var + self.noise_var)

    def hierarchy(self, graph=None):
        """The learned assignments as a hierarchy.

        Parameters
        ----------
        graph : roma_core.graphs.Graph, optional
            Level 0 of the hierarchy (an empty graph on the right number of nodes when None).

        Returns
        -------
        roma_core.renorm.Hierarchy or None
            None when the model learns no assignments.
        """
        if self.assign is None:
            return None
        from ..renorm.neural import to_hierarchy
        return to_hierarchy([a.detach().cpu().numpy() for a in self.assign], graph)


def csr_rows(starts, counts):
    """Every element of some rows of a compressed sparse row array, row by row.

    Parameters
    ----------
    starts : torch.Tensor
        ``(m,)`` int64 offset of each row's first element.
    counts : torch.Tensor
        ``(m,)`` int64 length of each row.

    Returns
    -------
    row : torch.Tensor
        ``(P,)`` which of the ``m`` rows each element is in.
    position : torch.Tensor
        ``(P,)`` its offset in the array.
    """
    total = int(counts.sum())
    row = torch.repeat_interleave(torch.arange(len(counts), device=counts.device), counts, output_size=total)
    first = torch.cumsum(counts, 0) - counts
    return row, starts[row] + torch.arange(total, device=counts.device) - first[row]
