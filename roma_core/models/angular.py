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
