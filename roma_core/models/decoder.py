"""DeepONet-style operator decoder: u(t + Δt, x_i) = u_last + Σ_k b_k(branch) φ_k(Δt, x_i)."""
from __future__ import annotations

import torch
from torch import nn

from .phases import turn_phases


class ResidualMLP(nn.Module):
    """Tanh MLP with residual blocks: input map, ``blocks`` residual two-layer blocks, output
    map.

    Parameters
    ----------
    dim_in : int
        Input features.
    width : int
        Hidden width.
    blocks : int
        Residual blocks.
    dim_out : int
        Output features.
    """

    def __init__(self, dim_in, width, blocks, dim_out):
        super().__init__()
        self.inp = nn.Linear(dim_in, width)
        self.blocks = nn.ModuleList(nn.Sequential(nn.Linear(width, width), nn.Tanh(), nn.Linear(width, width))
                                    for _ in range(blocks))
        self.outp = nn.Linear(width, dim_out)

    def forward(self, x):
        """Apply the MLP.

        Parameters
        ----------
        x : torch.Tensor
            ``(..., dim_in)``.

        Returns
        -------
        torch.Tensor
            ``(..., dim_out)``.
        """
        h = torch.tanh(self.inp(x))
        for blk in self.blocks:
            h = h + blk(h)
        return self.outp(h)


def trunk_inputs(s, theta, kappa):
    """Trunk features of a point: normalised lead time s in (0, 1], the angle (through sin
    and cos, smooth and periodic) and the standardised log hidden degree.

    Parameters
    ----------
    s : torch.Tensor
        Lead times as a fraction of the horizon.
    theta : torch.Tensor
        Node angles, the same shape as ``s``.
    kappa : torch.Tensor
        Standardised log hidden degrees, the same shape as ``s``.

    Returns
    -------
    torch.Tensor
        ``(..., 4)`` features ``(s, sin θ, cos θ, κ)``.
    """
    return torch.stack([s, torch.sin(theta), torch.cos(theta), kappa], -1)


class OperatorDecoder(nn.Module):
    """Branch: linear map of a node's summary (B, n, d) to p·C coefficients. Trunk: a
    residual MLP (smooth, tanh) of (s, θ, κ) to p basis functions. The forecast is the last
    state plus Σ_k b_k φ_k; with ``phase`` (C = 2 phase features) the branch gives one
    channel, the angle Σ_k b_k φ_k by which the last phase turns (unit norm by construction).

    The branch starts at zero, so an untrained decoder forecasts persistence.

    Parameters
    ----------
    dim : int
        Width of the node summaries.
    horizon : int
        Forecast steps.
    channels : int
        State channels C.
    basis : int
        Basis functions p.
    trunk_layers : int
        Residual blocks of the trunk.
    width : int, optional
        Trunk width; default ``dim``.
    phase : bool
        Phase states (C = 2: sin and cos of a phase): the expansion turns the last phase
        by an angle instead of adding to it.
    """

    def __init__(self, dim, horizon, channels, basis, trunk_layers, width=None, phase: bool = False):
        super().__init__()
        self.horizon, self.basis, self.phase = horizon, basis, phase
        self.channels = 1 if phase else channels
        self.branch = nn.Linear(dim, basis * self.channels)
        nn.init.zeros_(self.branch.weight)       # start exactly at persistence; learn the correction
        nn.init.zeros_(self.branch.bias)
        self.trunk = ResidualMLP(4, width or dim, trunk_layers, basis)
        self.bias = nn.Parameter(torch.zeros(self.channels))

    def coefficients(self, h, extra=None):
        """The branch's coefficients.

        Parameters
        ----------
        h : torch.Tensor
            ``(B, n, dim)`` node summaries.
        extra : torch.Tensor, optional
            ``(B, n, p, C')`` coefficients added to the branch's (a model's far-field response).

        Returns
        -------
        torch.Tensor
            ``(B, n, p, C')`` coefficients, C' = 1 for phases, else C.
        """
        b, n, _ = h.shape
        coef = self.branch(h).view(b, n, self.basis, self.channels)
        return coef if extra is None else coef + extra

    def _step(self, last, change):
        """The last state moved by the expansion's value ``change`` (..., C'): added, or
        for phases turned by that angle."""
        if self.phase:
            return turn_phases(last, change[..., 0])
        return last + change

    def evaluate(self, coef, last, s, theta, kappa):
        """The forecast at single points (for the effective-dynamics residual).

        Parameters
        ----------
        coef : torch.Tensor
            ``(..., p, C')`` coefficients (see :meth:`coefficients`).
        last : torch.Tensor
            ``(..., C)`` last observed states.
        s : torch.Tensor
            ``(...)`` lead times as a fraction of the horizon.
        theta : torch.Tensor
            ``(...)`` node angles.
        kappa : torch.Tensor
            ``(...)`` standardised log hidden degrees.

        Returns
        -------
        torch.Tensor
            ``(..., C)`` forecast states.
        """
        phi = self.trunk(trunk_inputs(s, theta, kappa))                  # (..., p)
        return self._step(last, torch.einsum("...pc,...p->...c", coef, phi) / self.basis ** 0.5 + self.bias)

    def forward(self, h, last, theta, kappa, extra=None):
        """Forecast every node over the horizon (lead times s = 1/horizon, ..., 1).

        Parameters
        ----------
        h : torch.Tensor
            ``(B, n, dim)`` node summaries.
        last : torch.Tensor
            ``(B, n, C)`` last observed states.
        theta : torch.Tensor
            ``(n,)`` node angles.
        kappa : torch.Tensor
            ``(n,)`` standardised log hidden degrees.
        extra : torch.Tensor, optional
            As for :meth:`coefficients`.

        Returns
        -------
        torch.Tensor
            ``(B, n, horizon, C)`` forecast states.
        """
        coef = self.coefficients(h, extra)
        n, t = theta.shape[0], self.horizon
        s = (torch.arange(1, t + 1, device=h.device, dtype=h.dtype) / t)[None, :].expand(n, t)
        phi = self.trunk(trunk_inputs(s, theta[:, None].expand(n, t), kappa[:, None].expand(n, t)))  # (n, t, p)
        change = torch.einsum("bnpc,ntp->bntc", coef, phi) / self.basis ** 0.5 + self.bias
        return self._step(last[:, :, None, :], change)


def stencil_derivatives(u, ul, ur, h1, h2):
    """First and second derivatives at the middle of three points at gaps ``h1`` (left)
    and ``h2`` (right): the exact derivatives of the parabola through them.

    Parameters
    ----------
    u, ul, ur : torch.Tensor
        Values at the middle, left and right points (broadcasting shapes).
    h1, h2 : torch.Tensor
        Positive gaps from the middle point to the left and the right one.

    Returns
    -------
    d1 : torch.Tensor
        First derivative at the middle point.
    d2 : torch.Tensor
        Second derivative at the middle point.
    """
    span = h1 * h2 * (h1 + h2)
    d1 = (h1 ** 2 * ur - h2 ** 2 * ul + (h2 ** 2 - h1 ** 2) * u) / span
    d2 = 2 * (h1 * ur - (h1 + h2) * u + h2 * ul) / span
    return d1, d2


class BurgersResidual(nn.Module):
    """Effective dynamics of Burgers form in node coordinates, u_s = -F u u_θ + ν u_θθ,
    with learned F and ν ≥ 0 (s: lead time in units of the horizon).

    ``forward`` takes the residual through autograd of the decoder in the node's own angle
    (it constrains each node's forecast as a function of where the node sits);
    :meth:`across_nodes` takes u_θ and u_θθ from the forecasts of the node and its two
    angular neighbours (a finite-difference stencil over the graph's nodes, autograd in
    time only), so the residual ties neighbouring forecasts together as the PDE does.

    F starts at 0 and ν at e^-3.
    """

    def __init__(self):
        super().__init__()
        self.F = nn.Parameter(torch.zeros(()))
        self.log_nu = nn.Parameter(torch.tensor(-3.0))

    def across_nodes(self, decoder, points, s, min_gap: float = 1e-4):
        """The residual with angular derivatives from a three-node stencil.

        Parameters
        ----------
        decoder : OperatorDecoder
            Evaluates the forecasts (:meth:`OperatorDecoder.evaluate`).
        points : sequence of tuple
            Three ``(coef (m, p, C'), last (m, C), theta (m,), kappa (m,))`` tuples: the
            collocation nodes, then their left and their right angular neighbours.
        s : torch.Tensor
            ``(m,)`` lead times as a fraction of the horizon.
        min_gap : float
            Floor of the angular gaps, in radians.

        Returns
        -------
        torch.Tensor
            Scalar mean squared residual over points and channels.
        """
        s = s.detach().requires_grad_(True)
        u, ul, ur = (decoder.evaluate(c, last, s, th, k) for c, last, th, k in points)
        wrap = lambda d: torch.remainder(d, 2 * torch.pi)
        h1 = wrap(points[0][2] - points[1][2]).clamp(min=min_gap)[:, None]
        h2 = wrap(points[2][2] - points[0][2]).clamp(min=min_gap)[:, None]
        d1, d2 = stencil_derivatives(u, ul, ur, h1, h2)
        du_s = torch.autograd.grad(u.sum(), s, create_graph=True)[0][:, None]
        r = du_s + self.F * u * d1 - self.log_nu.exp() * d2
        return (r ** 2).mean()

    def forward(self, decoder, coef, last, theta, kappa, s):
        """The residual with derivatives by autograd in each node's own angle and lead time.

        Parameters
        ----------
        decoder : OperatorDecoder
            Evaluates the forecasts (:meth:`OperatorDecoder.evaluate`).
        coef : torch.Tensor
            ``(m, p, C')`` coefficients at the collocation points.
        last : torch.Tensor
            ``(m, C)`` last observed states.
        theta : torch.Tensor
            ``(m,)`` node angles.
        kappa : torch.Tensor
            ``(m,)`` standardised log hidden degrees.
        s : torch.Tensor
            ``(m,)`` lead times as a fraction of the horizon.

        Returns
        -------
        torch.Tensor
            Scalar mean squared residual, averaged over points and channels.
        """
        s = s.detach().requires_grad_(True)
        theta = theta.detach().requires_grad_(True)
        u = decoder.evaluate(coef, last, s, theta, kappa)                  # (m, C)
        total = 0.0
        for c in range(u.shape[-1]):
            uc = u[:, c]
            du_s, du_th = torch.autograd.grad(uc.sum(), (s, theta), create_graph=True)
            du_thth = torch.autograd.grad(du_th.sum(), theta, create_graph=True)[0]
            r = du_s + self.F * uc * du_th - self.log_nu.exp() * du_thth
            total = total + (r ** 2).mean()
        return total / u.shape[-1]
