"""DeepONet-style operator decoder: u(t + Δt, x_i) = u_last + Σ_k b_k(branch) φ_k(Δt, x_i)."""
from __future__ import annotations

import torch
from torch import nn

from ..dynamics.systems import burgers_edge_terms
from .batch import csr_rows
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

    def coefficients(self, h):
        """The branch's coefficients.

        Parameters
        ----------
        h : torch.Tensor
            ``(B, n, dim)`` node summaries.

        Returns
        -------
        torch.Tensor
            ``(B, n, p, C')`` coefficients, C' = 1 for phases, else C.
        """
        b, n, _ = h.shape
        return self.branch(h).view(b, n, self.basis, self.channels)

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

    def forward(self, h, last, theta, kappa):
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

        Returns
        -------
        torch.Tensor
            ``(B, n, horizon, C)`` forecast states.
        """
        coef = self.coefficients(h)
        n, t = theta.shape[0], self.horizon
        s = (torch.arange(1, t + 1, device=h.device, dtype=h.dtype) / t)[None, :].expand(n, t)
        phi = self.trunk(trunk_inputs(s, theta[:, None].expand(n, t), kappa[:, None].expand(n, t)))  # (n, t, p)
        change = torch.einsum("bnpc,ntp->bntc", coef, phi) / self.basis ** 0.5 + self.bias
        return self._step(last[:, :, None, :], change)


def edges_of(points, edge_index, num_nodes):
    """Every in-batch edge out of some nodes, as (point, edge) pairs.

    Parameters
    ----------
    points : torch.Tensor
        ``(m,)`` int64 local node ids (repeats allowed).
    edge_index : torch.Tensor
        ``(2, E)`` int64 local ids, both directions of every edge.
    num_nodes : int
        Nodes in the batch.

    Returns
    -------
    point : torch.Tensor
        ``(P,)`` index into ``points`` of each pair.
    edge : torch.Tensor
        ``(P,)`` column of ``edge_index`` (its second row is the neighbour).
    """
    order = torch.argsort(edge_index[0])
    degree = torch.bincount(edge_index[0], minlength=num_nodes)
    point, position = csr_rows((torch.cumsum(degree, 0) - degree)[points], degree[points])
    return point, order[position]


def fit_equation(u_s, terms, nonnegative):
    """The coefficients c that minimise Σ (u_s − Σ_k c_k X_k)² with c_k ≥ 0 where asked
    (least squares; an active set drops the most negative constrained coefficient until
    none is left), detached: at the minimum the loss's gradient in them vanishes, so the
    gradient in the forecasts is the same as if they were differentiated.

    Parameters
    ----------
    u_s : torch.Tensor
        The time derivative at some points.
    terms : torch.Tensor
        ``u_s.shape + (K,)`` the equation's K terms at the same points.
    nonnegative : sequence of bool
        Which coefficients must be ≥ 0.

    Returns
    -------
    torch.Tensor
        ``(K,)`` coefficients in the inputs' dtype.
    """
    y = u_s.detach().flatten().double()
    X = terms.detach().flatten(0, -2).double()
    coef = torch.zeros(X.shape[1], dtype=torch.float64, device=X.device)
    free = torch.ones(X.shape[1], dtype=torch.bool, device=X.device)
    bound = torch.as_tensor(nonnegative, device=X.device)
    while len(y) and free.any():
        coef = torch.zeros_like(coef)
        coef[free] = torch.linalg.lstsq(X[:, free], y[:, None]).solution[:, 0]
        low = torch.where(bound & free & (coef < 0), coef, torch.zeros_like(coef))
        if not (low < 0).any():
            break
        free[torch.argmin(low)] = False
    return coef.to(u_s.dtype)


class BurgersResidual(nn.Module):
    """Effective dynamics of Burgers form in node coordinates, u_s = -F u u_θ + ν u_θθ,
    with learned F and ν ≥ 0 (s: lead time in units of the horizon).

    ``forward`` takes the residual through autograd of the decoder in the node's own angle
    (it constrains each node's forecast as a function of where the node sits);
    :meth:`across_edges` takes u_θ and u_θθ over the node's graph neighbours in the batch,
    from their forecasts, in the graph form the simulator integrates (upwind advection and
    diffusion over the angular gaps h_ij; autograd in time only), so the residual ties
    coupled nodes' forecasts together as the equation does.

    ``forward`` learns F (from 0) and ν (from e^-3) as parameters; :meth:`across_edges`
    takes its coefficients as each batch's least-squares fit (:func:`fit_equation`), since
    in its units (gaps of about one edge) the true ones are of order 10–1,000.
    """

    def __init__(self):
        super().__init__()
        self.F = nn.Parameter(torch.zeros(()))
        self.log_nu = nn.Parameter(torch.tensor(-3.0))

    def across_edges(self, decoder, coef, last, theta, kappa, edge_index, window, node, s, near=None,
                     min_gap: float = 0.2):
        """The residual over each collocation node's graph neighbours in the batch:
        u_s + F u Σ_{j upwind} w (u_j − u_i)/(sign(d_ij) h_ij) − ν Σ_j w (u_j − u_i)/h_ij²
        − Σ_k λ_k (ū_k − u), with w the mean over the node's neighbours in the batch, d_ij
        the signed angular gap, h_ij = |d_ij| in units of the batch's median edge gap
        (floored at ``min_gap``), ū_k the whole graph's mean state over the node's angular
        neighbourhood at scale k at the last observed frame (a long-range relaxation, where
        ``near`` is given), and F (either sign), ν ≥ 0 and λ_k ≥ 0 the least-squares fit over
        the collocation points: what is left is what no equation of this form explains.

        Parameters
        ----------
        decoder : OperatorDecoder
            Evaluates the forecasts (:meth:`OperatorDecoder.evaluate`).
        coef : torch.Tensor
            ``(B, n, p, C')`` coefficients of every batch node.
        last : torch.Tensor
            ``(B, n, C)`` last observed states.
        theta, kappa : torch.Tensor
            ``(n,)`` node angles and standardised log hidden degrees.
        edge_index : torch.Tensor
            ``(2, E)`` the batch's edges, both directions.
        window, node : torch.Tensor
            ``(m,)`` int64 collocation windows and nodes.
        s : torch.Tensor
            ``(m,)`` lead times as a fraction of the horizon.
        near : torch.Tensor, optional
            ``(B, n, S, C)`` the near field's S scales at the last observed frame.
        min_gap : float
            Floor of the gaps, in units of the median edge gap.

        Returns
        -------
        torch.Tensor
            Scalar mean squared residual over the collocation nodes that have a neighbour
            in the batch (0 if none has).
        """
        point, edge = edges_of(node, edge_index, theta.shape[0])
        count = torch.bincount(point, minlength=len(node))
        if not len(point):
            return coef.new_zeros(())
        s = s.detach().requires_grad_(True)
        u = decoder.evaluate(coef[window, node], last[window, node], s, theta[node], kappa[node])    # (m, C)
        du_s = torch.autograd.grad(u.sum(), s, create_graph=True)[0][:, None]
        b, nb = window[point], edge_index[1, edge]
        uj = decoder.evaluate(coef[b, nb], last[b, nb], s[point], theta[nb], kappa[nb])          # (P, C)
        gap = torch.remainder(theta[edge_index[1]] - theta[edge_index[0]] + torch.pi, 2 * torch.pi) - torch.pi
        scale = gap.abs().median().clamp(min=torch.finfo(gap.dtype).tiny)
        d = gap[edge][:, None]
        h = (d.abs() / scale).clamp(min=min_gap)
        w = (1.0 / count[point].to(u.dtype))[:, None]
        dif, adv = burgers_edge_terms(u[point], uj, d, h, w)
        diffusion = torch.zeros_like(u).index_add_(0, point, dif)
        advection = torch.zeros_like(u).index_add_(0, point, adv)
        terms = [-u * advection, diffusion]
        if near is not None:
            terms += list((near[window, node] - u[:, None, :]).unbind(1))
        terms = torch.stack(terms, -1)[count > 0]
        y = du_s[count > 0]
        fit = fit_equation(y, terms, [False] + [True] * (terms.shape[-1] - 1))
        return ((y - terms @ fit) ** 2).mean()

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
