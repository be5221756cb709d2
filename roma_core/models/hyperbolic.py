"""Poincaré-ball geometry (curvature c > 0) and a hyperbolic graph convolution.

Points live in the ball of radius 1/sqrt(c); maps go through the tangent space at the
origin (HGCN-style, Chami et al. 2019), written here from the textbook formulas.
"""
from __future__ import annotations

import torch
from torch import nn

_EPS = 1e-6


def _norm(x):
    return x.norm(dim=-1, keepdim=True).clamp_min(_EPS)


def expmap0(v, c):
    sc = c ** 0.5
    n = _norm(v)
    return torch.tanh(sc * n) * v / (sc * n)


def logmap0(y, c):
    sc = c ** 0.5
    n = _norm(y)
    return torch.atanh((sc * n).clamp(max=1 - 1e-5)) * y / (sc * n)


def project(y, c):
    """Pull points back strictly inside the ball."""
    limit = (1 - 1e-4) / c ** 0.5
    n = _norm(y)
    return torch.where(n > limit, y / n * limit, y)


def mobius_add(x, y, c):
    xy = (x * y).sum(-1, keepdim=True)
    x2 = (x * x).sum(-1, keepdim=True)
    y2 = (y * y).sum(-1, keepdim=True)
    num = (1 + 2 * c * xy + c * y2) * x + (1 - c * x2) * y
    den = 1 + 2 * c * xy + c * c * x2 * y2
    return num / den.clamp_min(_EPS)


def distance(x, y, c):
    """Geodesic distance between points of the ball."""
    sc = c ** 0.5
    return 2 / sc * torch.atanh((sc * _norm(mobius_add(-x, y, c))).clamp(max=1 - 1e-5)).squeeze(-1)


def normalized_adjacency(edge_index, n, device=None):
    """Sparse D^-1/2 (A + I) D^-1/2 of the batch graph (torch COO)."""
    loops = torch.arange(n, device=edge_index.device)
    ei = torch.cat([edge_index, torch.stack([loops, loops])], dim=1)
    deg = torch.zeros(n, device=ei.device).index_add_(0, ei[0], torch.ones(ei.shape[1], device=ei.device))
    w = deg[ei[0]].rsqrt() * deg[ei[1]].rsqrt()
    return torch.sparse_coo_tensor(ei, w, (n, n), check_invariants=False).coalesce()


def propagate(adj, h):
    """adj @ h for h of shape (B, n, d)."""
    b, n, d = h.shape
    out = torch.sparse.mm(adj, h.permute(1, 0, 2).reshape(n, b * d))
    return out.reshape(n, b, d).permute(1, 0, 2)


class GraphConv(nn.Module):
    """One graph convolution, Euclidean (c = 0) or on the Poincaré ball.

    Input and output are tangent vectors at the origin. On the ball: the linear map is a
    Möbius matrix-vector product, the bias a Möbius addition, the neighbourhood mean is
    taken in the tangent space, then a nonlinearity, as in HGCN.
    """

    def __init__(self, dim_in, dim_out, curvature: float = 0.0, act: bool = True):
        super().__init__()
        self.lin = nn.Linear(dim_in, dim_out, bias=False)
        self.bias = nn.Parameter(torch.zeros(dim_out))
        self.c = float(curvature)
        self.act = act

    def forward(self, t, adj):
        if self.c > 0:
            h = project(expmap0(self.lin(t), self.c), self.c)          # Möbius matvec
            h = project(mobius_add(h, expmap0(self.bias, self.c), self.c), self.c)
            t = logmap0(h, self.c)
        else:
            t = self.lin(t) + self.bias
        t = propagate(adj, t)
        return nn.functional.silu(t) if self.act else t


class GraphEncoder(nn.Module):
    """Stack of :class:`GraphConv` with residual connections; returns tangent vectors
    (use :func:`expmap0` to get points on the ball)."""

    def __init__(self, dim, layers, curvature=0.0):
        super().__init__()
        self.convs = nn.ModuleList(GraphConv(dim, dim, curvature) for _ in range(layers))
        self.norms = nn.ModuleList(nn.LayerNorm(dim) for _ in range(layers))
        self.c = float(curvature)

    def forward(self, t, edge_index):
        adj = normalized_adjacency(edge_index, t.shape[1])
        for conv, norm in zip(self.convs, self.norms):
            t = norm(t + conv(t, adj))
        return t
