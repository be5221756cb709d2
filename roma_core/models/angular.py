"""What a node reads of the states around it, relative to its own: its graph neighbours'
mean (:func:`neighbour_field`) and its nearest nodes in angle through a learned kernel of
angular distance (:class:`AngularKernel`)."""
from __future__ import annotations

import torch
from torch import nn

from .phases import relative_to


def neighbour_field(x, edge_index, phase: bool):
    """The mean over each node's graph neighbours (in the batch) of their windows relative
    to its own: for phases the local Kuramoto coupling terms sin(θ_j − θ_i), cos(θ_j − θ_i)
    at each frame, for other states the graph Laplacian's u_j − u_i.

    Parameters
    ----------
    x : torch.Tensor
        ``(B, n, L, C)`` windows.
    edge_index : torch.Tensor
        ``(2, E)`` local edges, both directions.
    phase : bool
        Phase features.

    Returns
    -------
    torch.Tensor
        ``(B, n, L, C)``; zeros for a node without neighbours.
    """
    src, dst = edge_index
    total = torch.zeros_like(x).index_add_(1, dst, relative_to(x[:, src], x[:, dst], phase))
    count = torch.zeros(x.shape[1], dtype=x.dtype, device=x.device).index_add_(0, dst, torch.ones_like(dst, dtype=x.dtype))
    return total / count.clamp_min(1)[:, None, None]


class AngularKernel(nn.Module):
    """Each node's k nearest nodes in angle, relative to the node itself (phases turned into
    its own frame, other states minus its own), embedded with their log distance and averaged
    per head with softmax weights that a small network of the log distance gives: a learned
    radial kernel, which can take the form w ∝ d^(−s) of a power-law coupling.

    Parameters
    ----------
    field_dim : int
        Features of one neighbour's window (lookback · C).
    dim : int
        Token width; a multiple of ``heads``.
    heads : int
        Kernels, each with its own weights over the neighbours.
    phase : bool
        Phase features: relative states are the neighbours' phases in the node's frame.
    """

    def __init__(self, field_dim, dim, heads, phase: bool):
        super().__init__()
        if dim % heads:
            raise ValueError(f"AngularKernel: dim ({dim}) must be a multiple of heads ({heads})")
        self.heads, self.phase = heads, phase
        self.value = nn.Linear(field_dim + 1, dim)
        self.kernel = nn.Sequential(nn.Linear(1, dim), nn.SiLU(), nn.Linear(dim, heads))
        self.out = nn.Linear(dim, dim)

    def forward(self, states, x, log_distance):
        """Read the neighbours.

        Parameters
        ----------
        states : torch.Tensor
            ``(B, n, k, L, C)`` the neighbours' windows.
        x : torch.Tensor
            ``(B, n, L, C)`` the nodes' own windows.
        log_distance : torch.Tensor
            ``(n, k)`` log angular distances.

        Returns
        -------
        torch.Tensor
            ``(B, n, dim)``.
        """
        relative = relative_to(states, x.unsqueeze(2), self.phase)
        b, n, k = relative.shape[:3]
        dist = log_distance[None, ..., None].expand(b, n, k, 1)
        v = self.value(torch.cat([relative.reshape(b, n, k, -1), dist], -1)).view(b, n, k, self.heads, -1)
        w = torch.softmax(self.kernel(log_distance[..., None]), 1)            # (n, k, heads) over the k
        return self.out((w[None, ..., None] * v).sum(2).reshape(b, n, -1))


class FarResponse(nn.Module):
    """The far field's linear part: decoder coefficients linear in the states around each
    node relative to its own, from the near field's angular neighbourhoods and from the first
    level's blocks (the whole graph) averaged with learned kernels of angular distance.

    A pairwise coupling is linear in these relative states (Kuramoto's Σ_j w_ij sin(θ_j − θ_i)
    is the sine channel of Σ_j w_ij e^{i(θ_j − θ_i)}; a non-local diffusion Σ_j w_ij (u_j − u_i)
    is a difference), so this part carries over to global states outside the training data
    (other coherences R, other mean levels), where what the nonlinear path learned of them
    need not. Each kernel is a softmax over the blocks of a small network of the log distance
    from the node to the block's centre (normalised like the Kac sum); the blocks, of equal
    size in angular order, are taken centred at 2π(b + ½)/N_1, as for angles spread evenly.
    The response is ``rank`` drifts, each a linear map of those features, times a learned
    profile over the decoder's basis; it starts at zero.

    Parameters
    ----------
    near_dim : int
        Features of the near field (scales · lookback · C); 0 where there is none.
    field_dim : int
        Features of one block's window (lookback · C).
    blocks : int
        First-level blocks N_1.
    kernels : int
        Learned kernels over the blocks.
    basis : int
        Decoder basis size p.
    channels : int
        Decoder channels C' (1 for phases).
    phase : bool
        Phase features.
    rank : int
        Drifts (profiles over the basis).
    """

    def __init__(self, near_dim, field_dim, blocks, kernels, basis, channels, phase: bool, rank: int = 4):
        super().__init__()
        self.phase, self.rank, self.channels, self.near_dim = phase, rank, channels, near_dim
        self.register_buffer("centres", 2 * torch.pi * (torch.arange(blocks) + 0.5) / blocks, persistent=False)
        self.half_block = torch.pi / blocks
        self.kernel = nn.Sequential(nn.Linear(1, 16), nn.SiLU(), nn.Linear(16, kernels))
        self.drift = nn.Linear(near_dim + kernels * field_dim, rank * channels, bias=False)
        nn.init.zeros_(self.drift.weight)        # start at the model without it
        self.profile = nn.Parameter(torch.randn(rank, basis) / basis ** 0.5)

    def weights(self, theta):
        """Each node's kernels over the blocks.

        Parameters
        ----------
        theta : torch.Tensor
            ``(n,)`` node angles.

        Returns
        -------
        torch.Tensor
            ``(n, blocks, kernels)``, each kernel summing to 1 over the blocks.
        """
        gap = torch.remainder(theta[:, None] - self.centres[None], 2 * torch.pi)
        distance = torch.minimum(gap, 2 * torch.pi - gap).clamp_min(self.half_block / 2)
        return torch.softmax(self.kernel(distance.log()[..., None]), 1)

    def forward(self, x, theta, field, near=None, keep=None):
        """The response's coefficients.

        Parameters
        ----------
        x : torch.Tensor
            ``(B, n, L, C)`` the nodes' windows.
        theta : torch.Tensor
            ``(n,)`` node angles.
        field : torch.Tensor
            ``(B, N_1, L, C)`` the first-level blocks' mean windows.
        near : torch.Tensor, optional
            ``(B, n, S, L, C)`` the near field.
        keep : torch.Tensor, optional
            ``(B, n, 1)`` 0/1: node-windows that read the whole graph.

        Returns
        -------
        torch.Tensor
            ``(B, n, p, C')``.
        """
        b, n = x.shape[:2]
        blocks = torch.einsum("nbk,Bblc->Bnklc", self.weights(theta).to(x.dtype), field)
        parts = [relative_to(blocks, x.unsqueeze(2), self.phase).reshape(b, n, -1)]
        if self.near_dim:
            parts.insert(0, x.new_zeros(b, n, self.near_dim) if near is None else
                         relative_to(near, x.unsqueeze(2), self.phase).reshape(b, n, -1))
        drift = self.drift(torch.cat(parts, -1)).view(b, n, self.rank, self.channels)
        if keep is not None:
            drift = drift * keep[..., None]
        return torch.einsum("Bnrc,rp->Bnpc", drift, self.profile)
