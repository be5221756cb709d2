"""Poincaré-ball geometry (curvature c > 0) and a hyperbolic graph convolution.

Points live in the ball of radius 1/sqrt(c); maps go through the tangent space at the
origin (HGCN-style, Chami et al. 2019), written here from the textbook formulas.
"""
from __future__ import annotations

import torch
from torch import nn

from .batch import convolve

_EPS = 1e-6


def _norm(x):
    return x.norm(dim=-1, keepdim=True).clamp_min(_EPS)


def expmap0(v, c):
    """Exponential map at the origin: tangent vectors to points of the ball.

    Parameters
    ----------
    v : torch.Tensor
        ``(..., d)`` tangent vectors at the origin.
    c : float
        Curvature, > 0.

    Returns
    -------
    torch.Tensor
        ``(..., d)`` points ``tanh(√c |v|) v / (√c |v|)``.
    """
    sc = c ** 0.5
    n = _norm(v)
    return torch.tanh(sc * n) * v / (sc * n)


def logmap0(y, c):
    """Logarithmic map at the origin, the inverse of :func:`expmap0`.

    Parameters
    ----------
    y : torch.Tensor
        ``(..., d)`` points of the ball.
    c : float
        Curvature, > 0.

    Returns
    -------
    torch.Tensor
        ``(..., d)`` tangent vectors at the origin.
    """
    sc = c ** 0.5
    n = _norm(y)
    return torch.atanh((sc * n).clamp(max=1 - 1e-5)) * y / (sc * n)


def project(y, c):
    """Pull points back strictly inside the ball.

    Parameters
    ----------
    y : torch.Tensor
        ``(..., d)`` points.
    c : float
        Curvature, > 0.

    Returns
    -------
    torch.Tensor
        ``(..., d)``: points of norm above (1 - 1e-4)/√c scaled back to that norm, the
        others unchanged.
    """
    limit = (1 - 1e-4) / c ** 0.5
    n = _norm(y)
    return torch.where(n > limit, y / n * limit, y)


def mobius_add(x, y, c):
    """Möbius addition x ⊕ y on the ball.

    Parameters
    ----------
    x, y : torch.Tensor
        ``(..., d)`` points of the ball (broadcasting shapes).
    c : float
        Curvature, > 0.

    Returns
    -------
    torch.Tensor
        ``(..., d)`` points.
    """
    xy = (x * y).sum(-1, keepdim=True)
    x2 = (x * x).sum(-1, keepdim=True)
    y2 = (y * y).sum(-1, keepdim=True)
    num = (1 + 2 * c * xy + c * y2) * x + (1 - c * x2) * y
    den = 1 + 2 * c * xy + c * c * x2 * y2
    return num / den.clamp_min(_EPS)


def distance(x, y, c):
    """Geodesic distance between points of the ball.

    Parameters
    ----------
    x, y : torch.Tensor
        ``(..., d)`` points of the ball (broadcasting shapes).
    c : float
        Curvature, > 0.

    Returns
    -------
    torch.Tensor
        ``(...)`` distances ``2/√c atanh(√c |(-x) ⊕ y|)``.
    """
    sc = c ** 0.5
    return 2 / sc * torch.atanh((sc * _norm(mobius_add(-x, y, c))).clamp(max=1 - 1e-5)).squeeze(-1)


def tangent_bias(u, b, c):
    """log_0(project(project(exp_0(u)) ⊕ exp_0(b))) for tangent vectors u (..., d) and a bias
    b (d,), in closed form. Every step maps the span of u and exp_0(b) into itself, so the
    result is α·u + β·exp_0(b) with per-row scalars from |u|² and u·exp_0(b): two
    reductions instead of the dozen elementwise passes of the composed maps.

    Parameters
    ----------
    u : torch.Tensor
        ``(..., d)`` tangent vectors at the origin.
    b : torch.Tensor
        ``(d,)`` bias, a tangent vector at the origin.
    c : float
        Curvature, > 0.

    Returns
    -------
    torch.Tensor
        ``(..., d)`` tangent vectors at the origin.
    """
    sc = c ** 0.5
    lim = 1 - 1e-4
    y = expmap0(b, c)
    nu = _norm(u)
    a1 = torch.clamp(torch.tanh(sc * nu), max=lim) / (sc * nu)            # project(exp_0(u)) = a1·u
    uy = u @ y[:, None] if u.dim() == 2 else (u * y).sum(-1, keepdim=True)
    xy, x2, y2 = a1 * uy, (a1 * nu) ** 2, (y * y).sum()
    big_a = 1 + 2 * c * xy + c * y2
    big_b = 1 - c * x2
    den = (1 + 2 * c * xy + c * c * x2 * y2).clamp_min(_EPS)
    alpha, beta = big_a * a1 / den, big_b / den                           # Möbius sum = α·u + β·y
    nr = ((big_a ** 2 * x2 + 2 * big_a * big_b * xy + big_b ** 2 * y2).clamp_min(0) / den ** 2).sqrt().clamp_min(_EPS)
    nr_p = torch.clamp(nr, max=lim / sc)                                  # project
    g = (nr_p / nr) * torch.atanh(torch.clamp(sc * nr_p, max=1 - 1e-5)) / (sc * nr_p)   # log_0
    return g * (alpha * u + beta * y)


class GraphConv(nn.Module):
    """One graph convolution, Euclidean (c = 0) or on the Poincaré ball.

    Input and output are tangent vectors at the origin. Message passing is torch_geometric's
    GraphSAGE form (a root map plus a map of the neighbour mean; the windows of a batch go
    through in one sparse pass). On the ball, the two linear maps are Möbius matrix-vector
    products of the points exp_0(t) (whose images add in the tangent space at the origin),
    the bias a Möbius addition, then log_0 and a nonlinearity, as in HGCN.

    Parameters
    ----------
    dim_in : int
        Input width.
    dim_out : int
        Output width.
    curvature : float
        c of the ball; 0 for the Euclidean convolution.
    act : bool
        Apply SiLU at the end.
    """

    def __init__(self, dim_in, dim_out, curvature: float = 0.0, act: bool = True):
        from torch_geometric.nn import SAGEConv

        super().__init__()
        self.conv = SAGEConv(dim_in, dim_out, bias=False)     # lin_l: neighbour mean, lin_r: root
        self.bias = nn.Parameter(torch.zeros(dim_out))
        self.c = float(curvature)
        self.act = act

    def forward(self, t, edge_index):
        """Convolve.

        Parameters
        ----------
        t : torch.Tensor
            ``(B, n, dim_in)`` or ``(n, dim_in)`` tangent vectors; the windows of a batch
            share the graph.
        edge_index : torch.Tensor
            ``(2, E)`` int64 local node ids, or a sparse adjacency (see
            :func:`~roma_core.models.batch.convolve`).

        Returns
        -------
        torch.Tensor
            ``(B, n, dim_out)`` or ``(n, dim_out)`` tangent vectors.
        """
        u = convolve(self.conv, t, edge_index)
        if self.c > 0:
            u = tangent_bias(u, self.bias, self.c)           # Möbius bias, back to the tangent space
        else:
            u = u + self.bias
        return nn.functional.silu(u) if self.act else u


class GraphEncoder(nn.Module):
    """Stack of :class:`GraphConv` with residual connections; returns tangent vectors
    (use :func:`expmap0` to get points on the ball).

    Parameters
    ----------
    dim : int
        Width of every layer.
    layers : int
        Convolutions.
    curvature : float
        c of the ball; 0 for Euclidean convolutions.
    """

    def __init__(self, dim, layers, curvature=0.0):
        super().__init__()
        self.convs = nn.ModuleList(GraphConv(dim, dim, curvature) for _ in range(layers))
        self.norms = nn.ModuleList(nn.LayerNorm(dim) for _ in range(layers))
        self.c = float(curvature)

    def forward(self, t, edge_index):
        """Encode: ``t ← LayerNorm(t + conv(t))`` per layer.

        Parameters
        ----------
        t : torch.Tensor
            ``(B, n, dim)`` or ``(n, dim)`` tangent vectors.
        edge_index : torch.Tensor
            ``(2, E)`` int64 local node ids.

        Returns
        -------
        torch.Tensor
            Tangent vectors of the shape of ``t``.
        """
        for conv, norm in zip(self.convs, self.norms):
            t = norm(t + conv(t, edge_index))
        return t
