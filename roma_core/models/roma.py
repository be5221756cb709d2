"""ROMA: graph encoder (Poincaré or Euclidean) -> neural RG (with the far field of every
supernode) -> multiscale attention -> DeepONet; and its fixed-hierarchy ablation."""
from __future__ import annotations

from torch import nn

from .attention import MultiscaleAttention
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
        self.sizes = level_sizes(spec.supernodes, spec.reduction, spec.levels)
        self.rg = NeuralRG(d, self.sizes, spec.prior, spec.prior_strength, field_dim=spec.lookback * spec.channels,
                           heads=spec.heads, learned=self.learned_hierarchy, identity=spec.supernode_identity)
        self.attn = MultiscaleAttention(d, spec.heads, spec.levels + 1)
        self.near = nn.Linear(spec.near_field * spec.lookback * spec.channels, d) if spec.near_field else None
        self.node_frame = spec.near_frame == "node" and phase_model(spec)
        self.loss_weights = {"entropy": spec.entropy_weight, "link": spec.link_weight,
                             "balance": spec.balance_weight, "prior": spec.prior_weight}

    def pool(self, z, batch):
        """First-level supernode pools of some nodes' tokens; summed over the parts of a
        graph they make inference in parts equal to one full-graph pass.

        Parameters
        ----------
        z : torch.Tensor
            ``(B, n, d)`` the nodes' :meth:`node_level` tokens.
        batch : Batch
            The same nodes (``weight`` restricts which of them count).

        Returns
        -------
        tuple of torch.Tensor
            ``(Σ_i S_0[i, s] z_i, Σ_i S_0[i, s])`` of shapes ``(B, N_1, d)`` and ``(B, N_1)``.
        """
        s0 = self.rg.assignments(z, batch.prior)[0][0]
        return self.rg.pool(z, s0, batch.weight)

    def inputs(self, batch):
        """Node tokens: the input embedding plus, where the spec asks for it, the embedded
        near field (the whole graph's mean states around each node in angle, in the window's
        frame or, for a phase model with ``near_frame = "node"``, in each node's own).

        Parameters
        ----------
        batch : Batch

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
        return h + far

    def node_level(self, batch):
        """See :meth:`OperatorModel.node_level`: :meth:`inputs` through the graph encoder.

        Parameters
        ----------
        batch : Batch

        Returns
        -------
        torch.Tensor
            ``(B, n, d)``.
        """
        return self.encoder(self.inputs(batch), batch.edge_index)

    def head(self, z, batch):
        """See :meth:`OperatorModel.head`: the neural RG (pooling this batch, or
        ``batch.pooled``), attention across scales; returns the attention and the learned
        assignments, and while training the assignments' losses."""
        tokens, assign, prior_logits = self.rg(z, batch.prior, batch.weight, batch.pooled, batch.field)
        h, attention = self.attn([z] + tokens)
        # a fixed hierarchy has nothing to learn: no assignment losses
        learning = self.training and self.rg.learned
        aux = NeuralRG.losses(assign, prior_logits, batch.edge_index, self.loss_weights) if learning else {}
        return h, attention, assign, aux


class RomaFixed(Roma):
    """The ablation: ROMA on the fixed geometric hierarchy (prior blocks, hard assignments),
    with the same far field, supernode attention and multiscale attention."""

    name = "roma_fixed"
    learned_hierarchy = False
