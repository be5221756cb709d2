"""Shared skeleton: every model is a branch (node summary) + the same operator decoder."""
from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from .batch import Batch, Prediction
from .decoder import BurgersResidual, OperatorDecoder
from .phases import mean_phase, phase_model, phase_steps, turn_phases


class InputEmbedding(nn.Module):
    """Lookback window, positional encodings and coordinates -> one token per node.

    Parameters
    ----------
    spec : roma_core.specs.ModelSpec
        Sizes of every part.
    dim : int
        Width of the tokens.
    """

    def __init__(self, spec, dim):
        super().__init__()
        self.hist = nn.Linear(spec.lookback * spec.channels, dim)
        self.pe = nn.Linear(spec.pos_dim, dim) if spec.pos_dim else None
        self.coord = nn.Linear(3, dim)
        self.steps = nn.Linear(spec.lookback - 1, dim) if phase_model(spec) and spec.lookback > 1 else None

    def forward(self, batch: Batch):
        """Embed a batch.

        Parameters
        ----------
        batch : Batch
            Its ``x``, ``theta``, ``kappa`` and ``pe`` are used.

        Returns
        -------
        torch.Tensor
            ``(B, n, dim)`` tokens.
        """
        b, n = batch.x.shape[:2]
        h = self.hist(batch.x.reshape(b, n, -1))
        if self.steps is not None:
            h = h + self.steps(phase_steps(batch.x))
        static = self.coord(torch.stack([torch.sin(batch.theta), torch.cos(batch.theta), batch.kappa], -1))
        if self.pe is not None:
            static = static + self.pe(batch.pe)
        return h + static[None]


class OperatorModel(nn.Module):
    """Base of the models: a branch that summarises each node (:meth:`summarize`: the
    graph-reading :meth:`node_level`, then the node-local :meth:`head`; subclasses
    implement either or both) and the shared DeepONet decoder.

    Parameters
    ----------
    spec : roma_core.specs.ModelSpec
        Sizes of every part.
    dim : int
        Width of the branch's output per node.
    """

    name = "operator"
    reads_far_field = False

    def __init__(self, spec, dim):
        super().__init__()
        self.spec = spec
        # plain attributes, read in forward: a param attribute read breaks a torch.compile graph
        self.phase, self.horizon = phase_model(spec), spec.horizon
        self.decoder = OperatorDecoder(dim, spec.horizon, spec.channels, spec.basis, spec.trunk_layers,
                                       phase=self.phase, predictive=spec.predictive)
        self.pde = BurgersResidual()

    def node_level(self, batch):
        """The part of the branch that reads other nodes (graph neighbours, or the whole
        graph's state): one token per node. Whole-graph inference computes it once for
        every node; everything after it (:meth:`head`) is node-local.

        Parameters
        ----------
        batch : Batch
            The input windows (in the phase gauge).

        Returns
        -------
        torch.Tensor or None
            ``(B, n, d)`` tokens; None for a model that reads no other node.
        """
        return None

    def head(self, z, batch):
        """The node-local rest of the branch, from the tokens of :meth:`node_level` (by
        default they are the summaries).

        Parameters
        ----------
        z : torch.Tensor or None
            ``(B, n, d)`` tokens of the batch's nodes.
        batch : Batch
            The same nodes (its edges are not read).

        Returns
        -------
        h : torch.Tensor
            ``(B, n, d)`` node summaries.
        attention : torch.Tensor or None
            ``(B, n, heads, levels + 1)`` weights over scales.
        assign : list of torch.Tensor or None
            Learned assignments per level.
        aux : dict
            Auxiliary losses (computed only while training).
        """
        return z, None, None, {}

    def summarize(self, batch):
        """The branch: :meth:`head` of :meth:`node_level`.

        Parameters
        ----------
        batch : Batch
            The input windows (in the phase gauge).

        Returns
        -------
        tuple
            ``(h, attention, assign, aux)`` as :meth:`head` returns them.
        """
        return self.head(self.node_level(batch), batch)

    def reference_phase(self, batch: Batch) -> torch.Tensor:
        """The angle the phase gauge turns to 0: each window's mean phase at the last input
        frame, over the batch's nodes; for a model that reads the far field, over the whole
        graph (the mean of the far field's blocks), so that every chunk of a graph turns alike;
        ``batch.reference`` where given.

        Parameters
        ----------
        batch : Batch

        Returns
        -------
        torch.Tensor
            ``(B,)`` angles.
        """
        if batch.reference is not None:
            return batch.reference
        whole = self.reads_far_field and batch.field is not None
        return mean_phase((batch.field if whole else batch.x)[:, :, -1, :])

    def gauged(self, batch: Batch) -> tuple[Batch, torch.Tensor | None]:
        """The batch in the phase gauge (see ``ModelSpec.phase_gauge``) and the angle it was
        turned back by; the batch itself and None where the gauge is off.

        Parameters
        ----------
        batch : Batch

        Returns
        -------
        batch : Batch
        angle : torch.Tensor or None
            ``(B,)`` reference phases.
        """
        if not self.phase:
            return batch, None
        angle = self.reference_phase(batch).detach()
        turned = {"x": turn_phases(batch.x, -angle)}
        for name in ("field", "near"):
            if getattr(batch, name) is not None:
                turned[name] = turn_phases(getattr(batch, name), -angle)
        return replace(batch, **turned), angle

    def forward(self, batch: Batch, collocation: torch.Tensor | None = None, residual: str = "autograd",
                tokens: torch.Tensor | None = None) -> Prediction:
        """Forecast a batch.

        Parameters
        ----------
        batch : Batch
            The input windows.
        collocation : torch.Tensor, optional
            ``(m, 3)`` int64 rows (window, node, horizon step) at which to add the
            effective-dynamics residual to ``aux_losses['effective']`` (unweighted).
        residual : {"autograd", "stencil"}
            Derivatives in each node's own angle by automatic differentiation, or by finite
            differences over each node's graph neighbours in the batch.
        tokens : torch.Tensor, optional
            ``(B, n, d)`` the batch's :meth:`node_level` tokens, computed beforehand on the
            whole graph in the same gauge (give ``batch.reference``); only the node-local
            rest then runs.

        Returns
        -------
        Prediction
        """
        batch, angle = self.gauged(batch)
        h, attention, assign, aux = self.summarize(batch) if tokens is None else self.head(tokens, batch)
        last = batch.x[:, :, -1, :]
        values, weight_var, noise_var = self.decoder.predict(h, last, batch.theta, batch.kappa)
        if angle is not None:
            values = turn_phases(values, angle)
        aux = dict(aux)
        if collocation is not None:
            bi, ni, ki = collocation.unbind(1)
            coef = self.decoder.coefficients(h)
            s = (ki + 1).to(h.dtype) / self.horizon
            if residual == "stencil":
                near = None if batch.near is None else batch.near[:, :, :, -1, :]
                aux["effective"] = self.pde.across_edges(self.decoder, coef, last, batch.theta, batch.kappa,
                                                         batch.edge_index, bi, ni, s, near)
            else:
                aux["effective"] = self.pde(self.decoder, coef[bi, ni], last[bi, ni], batch.theta[ni],
                                            batch.kappa[ni], s)
        return Prediction(values=values, attention=attention, assign=assign, aux_losses=aux,
                          weight_var=weight_var, noise_var=noise_var)


def parameter_count(model: nn.Module) -> int:
    """Trainable parameters of a model.

    Parameters
    ----------
    model : torch.nn.Module

    Returns
    -------
    int
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
