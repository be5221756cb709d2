"""ROMA: graph encoder (Poincaré or Euclidean), optionally neighbour attention -> neural RG
(with the far field of every supernode) -> multiscale attention -> DeepONet; and its
fixed-hierarchy ablation."""
from __future__ import annotations

import torch
from torch import nn

from .angular import AngularKernel, FarResponse, neighbour_field
from .attention import MultiscaleAttention, NeighbourAttention
from .base import InputEmbedding, OperatorModel
from .hyperbolic import GraphEncoder
from .phases import in_node_frame, phase_model
from .pooling import NeuralRG, level_sizes


class Roma(OperatorModel):
    """ROMA: input embedding, graph encoder (Poincaré or Euclidean), neural RG with the far
    field of every supernode, multiscale attention over the node's supernodes, DeepONet
    decoder (docs/science.md §4).

    Parameters
    ----------
    spec : roma_core.specs.ModelSpec
        Sizes of every part.
    """

    name = "roma"
    learned_hierarchy = True
    reads_far_field = True

    def __init__(self, spec):
        super().__init__(spec, spec.hidden)
        d = spec.hidden
        c = spec.curvature if spec.manifold == "poincare" else 0.0
        self.embed = InputEmbedding(spec, d)
        self.encoder = GraphEncoder(d, spec.layers, c)
        self.local = NeighbourAttention(d, spec.heads) if spec.node_attention else None
        self.sizes = level_sizes(spec.supernodes, spec.reduction, spec.levels)
        self.rg = NeuralRG(d, self.sizes, spec.prior, spec.prior_strength, field_dim=spec.lookback * spec.channels,
                           heads=spec.heads, learned=self.learned_hierarchy, identity=spec.supernode_identity)
        self.attn = MultiscaleAttention(d, spec.heads, spec.levels + 1)
        self.near = nn.Linear(spec.near_field * spec.lookback * spec.channels, d) if spec.near_field else None
        self.node_frame = spec.near_frame == "node" and phase_model(spec)
        self.far_dropout = spec.far_dropout
        self.neighbours = nn.Linear(spec.lookback * spec.channels, d) if spec.neighbour_field else None
        self.angular = AngularKernel(spec.lookback * spec.channels, d, spec.heads, phase_model(spec)) \
            if spec.angular_neighbours else None
        self.response = FarResponse(spec.near_field * spec.lookback * spec.channels, spec.lookback * spec.channels,
                                    self.sizes[0], spec.heads, spec.basis, 1 if self.phase else spec.channels,
                                    self.phase) if spec.far_response else None
        self.loss_weights = {"entropy": spec.entropy_weight, "link": spec.link_weight,
                             "balance": spec.balance_weight, "prior": spec.prior_weight}

    def pool(self, batch):
        """The batch's first-level supernode pools; summed over the chunks of a graph they
        make chunked inference equal to one full-graph pass.

        Parameters
        ----------
        batch : Batch
            One chunk of nodes (``weight`` marks the chunk's own nodes).

        Returns
        -------
        tuple of torch.Tensor
            ``(Σ_i S_0[i, s] z_i, Σ_i S_0[i, s])`` of shapes ``(B, N_1, d)`` and ``(B, N_1)``.
        """
        batch, _ = self.gauged(batch)
        z = self.node_tokens(batch)
        s0 = self.rg.assignments(z, batch.prior)[0][0]
        return self.rg.pool(z, s0, batch.weight)

    def inputs(self, batch, keep=None):
        """Node tokens: the input embedding plus, where the spec asks for them, the embedded
        near field (the whole graph's mean states around each node in angle, in the window's
        frame or, for a phase model with ``near_frame = "node"``, in each node's own), the
        graph neighbours' mean relative to the node, and the nearest nodes in angle through
        the learned angular kernel.

        Parameters
        ----------
        batch : Batch
        keep : torch.Tensor, optional
            ``(B, n, 1)`` 0/1: which node-windows read the whole graph (near field, angular
            neighbours); default: all.

        Returns
        -------
        torch.Tensor
            ``(B, n, d)``.
        """
        h = self.embed(batch)
        far = 0
        if self.near is not None and batch.near is not None:
            near = in_node_frame(batch.near, batch.x) if self.node_frame else batch.near
            b, n = near.shape[:2]
            far = far + self.near(near.reshape(b, n, -1))
        if self.angular is not None and batch.angular is not None and batch.angular.shape[2]:
            far = far + self.angular(batch.angular, batch.x, batch.angular_distance)
        if self.neighbours is not None:
            h = h + self.neighbours(neighbour_field(batch.x, batch.edge_index, self.phase).reshape(*h.shape[:2], -1))
        return h + (far if keep is None else far * keep)

    def node_tokens(self, batch, keep=None):
        """The node level: :meth:`inputs` through the graph encoder and, with
        ``node_attention``, the neighbour-attention layer.

        Parameters
        ----------
        batch : Batch
        keep : torch.Tensor, optional
            As for :meth:`inputs`.

        Returns
        -------
        torch.Tensor
            ``(B, n, d)``.
        """
        z = self.encoder(self.inputs(batch, keep), batch.edge_index)
        return z if self.local is None else self.local(z, batch.edge_index)

    def receptive_hops(self) -> int:
        """See :meth:`OperatorModel.receptive_hops`; one more for each of the neighbour-attention
        layer and the neighbour field, which read graph neighbours before or after the encoder."""
        return super().receptive_hops() + (self.local is not None) + (self.neighbours is not None)

    def far_mask(self, batch):
        """See :meth:`OperatorModel.far_mask`: in training with ``far_dropout`` p > 0, each
        node-window is kept with probability 1 − p."""
        if not (self.training and self.far_dropout > 0):
            return None
        b, n = batch.x.shape[:2]
        return (torch.rand(b, n, 1, device=batch.x.device) >= self.far_dropout).to(batch.x.dtype)

    def far_response(self, batch, keep=None):
        """See :meth:`OperatorModel.far_response`: with ``far_response``, the
        ``FarResponse`` (``roma_core.models.angular``) of the batch's near and far fields."""
        if self.response is None or batch.field is None:
            return None
        return self.response(batch.x, batch.theta, batch.field, batch.near, keep)

    def summarize(self, batch, keep=None):
        """See :meth:`OperatorModel.summarize`; returns attention and learned assignments."""
        z = self.node_tokens(batch, keep)                                    # (B, n, d)
        tokens, assign, prior_logits = self.rg(z, batch.prior, batch.weight, batch.pooled, batch.field)
        h, attention = self.attn([z] + tokens, None if keep is None else keep[..., 0] > 0)
        # a fixed hierarchy has nothing to learn: no assignment losses
        aux = NeuralRG.losses(assign, prior_logits, batch.edge_index, self.loss_weights) if self.rg.learned else {}
        return h, attention, assign, aux


class RomaFixed(Roma):
    """The ablation: ROMA on the fixed geometric hierarchy (prior blocks, hard assignments),
    with the same far field, supernode attention and multiscale attention."""

    name = "roma_fixed"
    learned_hierarchy = False
