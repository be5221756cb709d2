"""Baselines behind the same interface: same input embedding, same decoder, other branch."""
from __future__ import annotations

import torch
from torch import nn

from .attention import NeighbourAttention
from .base import InputEmbedding, OperatorModel
from .batch import Prediction, convolve
from .decoder import ResidualMLP
from .hyperbolic import GraphEncoder


class DeepONet(OperatorModel):
    """Residual-MLP branch over each node's lookback and coordinates; no graph.

    Parameters
    ----------
    spec : roma_core.specs.ModelSpec
        Sizes of every part.
    """

    name = "deeponet"

    def __init__(self, spec):
        super().__init__(spec, spec.hidden)
        self.embed = InputEmbedding(spec, spec.hidden)
        self.branch = ResidualMLP(spec.hidden, spec.hidden, spec.layers, spec.hidden)

    def head(self, z, batch):
        """See :meth:`OperatorModel.head`: the whole branch (no other node is read)."""
        return self.branch(torch.nn.functional.silu(self.embed(batch))), None, None, {}


class GNN(OperatorModel):
    """Message passing with torch_geometric GraphSAGE layers (same depth budget).

    Parameters
    ----------
    spec : roma_core.specs.ModelSpec
        Sizes of every part.
    """

    name = "gnn"

    def __init__(self, spec):
        from torch_geometric.nn import SAGEConv

        super().__init__(spec, spec.hidden)
        self.embed = InputEmbedding(spec, spec.hidden)
        self.convs = nn.ModuleList(SAGEConv(spec.hidden, spec.hidden) for _ in range(spec.layers))
        self.norms = nn.ModuleList(nn.LayerNorm(spec.hidden) for _ in range(spec.layers))

    def node_level(self, batch):
        """See :meth:`OperatorModel.node_level`: the embedding through the convolutions."""
        h = self.embed(batch)
        for conv, norm in zip(self.convs, self.norms):
            h = norm(h + torch.nn.functional.silu(convolve(conv, h, batch.edge_index)))
        return h


class NeighbourTransformer(OperatorModel):
    """ROMA without the hierarchy (the ablation): the same graph encoder, then attention of
    each node over its neighbours only (torch_geometric TransformerConv).

    Parameters
    ----------
    spec : roma_core.specs.ModelSpec
        Sizes of every part.
    """

    name = "transformer"

    def __init__(self, spec):
        super().__init__(spec, spec.hidden)
        d = spec.hidden
        c = spec.curvature if spec.manifold == "poincare" else 0.0
        self.embed = InputEmbedding(spec, d)
        self.encoder = GraphEncoder(d, spec.layers, c)
        self.attn = NeighbourAttention(d, spec.heads)
        self._register_load_state_dict_pre_hook(_layer_keys_before_sharing)

    def node_level(self, batch):
        """See :meth:`OperatorModel.node_level`: the graph encoder, then attention over
        neighbours."""
        return self.attn(self.encoder(self.embed(batch), batch.edge_index), batch.edge_index)


def _layer_keys_before_sharing(state, prefix, *args):
    """Checkpoints written before the layer became :class:`NeighbourAttention` (they have a
    top-level ``norm``) name its parts ``attn.*``, ``norm.*`` and ``ff.*``; move them under
    ``attn.``."""
    if f"{prefix}norm.weight" not in state:
        return
    old = tuple(f"{prefix}{part}." for part in ("attn", "norm", "ff"))
    for key in [k for k in state if k.startswith(old)]:
        state[f"{prefix}attn.{key[len(prefix):]}"] = state.pop(key)


class Persistence(nn.Module):
    """The last observed state, held over the horizon: the floor every model must beat.

    Parameters
    ----------
    spec : roma_core.specs.ModelSpec
        Gives the horizon.
    """

    name = "persistence"

    def __init__(self, spec):
        super().__init__()
        self.spec = spec

    def forward(self, batch, collocation=None, residual="autograd") -> Prediction:
        """Hold the last state.

        Parameters
        ----------
        batch : Batch
            The input windows; only ``x`` is used.
        collocation : torch.Tensor, optional
            Ignored (no effective dynamics); kept for the models' interface.
        residual : str
            Ignored, as ``collocation``.

        Returns
        -------
        Prediction
            ``values`` ``(B, n, horizon, C)``: the last input frame repeated; no attention,
            assignments or auxiliary losses.
        """
        last = batch.x[:, :, -1:, :]
        return Prediction(values=last.expand(-1, -1, self.spec.horizon, -1).clone())
