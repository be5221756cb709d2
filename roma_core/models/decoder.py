"""DeepONet-style operator decoder: u(t + Δt, x_i) = u_last + Σ_k b_k(branch) φ_k(Δt, x_i)."""
from __future__ import annotations

import math

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
    predictive : {"point", "vbll"}
        ``"vbll"``: also a Gaussian predictive distribution of each step's change, from a
        variational Bayesian last layer on the branch (:class:`BayesianLastLayer`).
    """

    def __init__(self, dim, horizon, channels, basis, trunk_layers, width=None, phase: bool = False,
                 predictive: str = "point"):
        super().__init__()
        self.horizon, self.basis, self.phase = horizon, basis, phase
        self.channels = 1 if phase else channels
        self.branch = nn.Linear(dim, basis * self.channels)
        nn.init.zeros_(self.branch.weight)       # start exactly at persistence; learn the correction
        nn.init.zeros_(self.branch.bias)
        self.trunk = ResidualMLP(4, width or dim, trunk_layers, basis)
        self.bias = nn.Parameter(torch.zeros(self.channels))
        self.vbll = BayesianLastLayer(dim, horizon, self.channels, basis) if predictive == "vbll" else None

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
        return self.predict(h, last, theta, kappa)[0]

    def predict(self, h, last, theta, kappa):
        """The forecast (as :meth:`forward`) and, with a Bayesian last layer, the two parts
        of its predictive variance.

        Parameters
        ----------
        h, last, theta, kappa : torch.Tensor
            As for :meth:`forward`.

        Returns
        -------
        values : torch.Tensor
            ``(B, n, horizon, C)`` forecast states.
        weight_var, noise_var : torch.Tensor or None
            ``(B, n, horizon, C')`` the variance of each step's change from the posterior
            of the branch weights and the learned noise variance (see
            :class:`BayesianLastLayer`); None for a point decoder.
        """
        coef = self.coefficients(h)
        n, t = theta.shape[0], self.horizon
        s = (torch.arange(1, t + 1, device=h.device, dtype=h.dtype) / t)[None, :].expand(n, t)
        phi = self.trunk(trunk_inputs(s, theta[:, None].expand(n, t), kappa[:, None].expand(n, t)))  # (n, t, p)
        change = torch.einsum("bnpc,ntp->bntc", coef, phi) / self.basis ** 0.5 + self.bias
        values = self._step(last[:, :, None, :], change)
        if self.vbll is None:
            return values, None, None
        return (values, *self.vbll(h, phi))

    def residual(self, values, target):
        """Truth minus forecast in the units of the predictive distribution: the wrapped
        angle in (−π, π] for phases (the turn the forecast missed), else per channel.

        Parameters
        ----------
        values, target : torch.Tensor
            ``(B, n, horizon, C)``.

        Returns
        -------
        torch.Tensor
            ``(B, n, horizon, C')``.
        """
        if not self.phase:
            return target - values
        diff = torch.atan2(target[..., 0], target[..., 1]) - torch.atan2(values[..., 0], values[..., 1])
        return torch.remainder(diff + torch.pi, 2 * torch.pi)[..., None] - torch.pi


class BayesianLastLayer(nn.Module):
    r"""A variational Bayesian last layer (Harrison, Willes & Snoek, "Variational Bayesian
    Last Layers", ICLR 2024; the ``vbll`` package's ``Regression`` with a diagonal
    covariance) on the decoder's branch, with a learned input-dependent noise.

    The decoder's change at horizon step k, channel c, is linear in the branch weights:
    with x = (h, 1) the node summary and its bias input, and φ_k the trunk's basis,

    .. math::

        \Delta_{kc} = \sum_p (W x)_{pc} \varphi_{kp} / \sqrt{p} + b_c
                    = w_c^\top (\varphi_k \otimes x) / \sqrt{p} + b_c .

    The posterior over the weights is q(w) = N(m, diag s²), m the branch's own weights (so
    the predictive mean is the point forecast), and the observation noise is Gaussian with
    variance σ²_kc(h), log σ²_kc = Σ_p (V z)_pc φ_kp / √p + β_kc with z = (tanh(A x), 1) (β: one
    level per step and channel; V = 0 is the package's homoscedastic layer, with a noise per
    step; the one hidden layer lets σ follow what the mean's features hold only nonlinearly,
    e.g. ``abs(u)``). The predictive of each change is Gaussian,

    .. math::

        \Delta_{kc} \sim N\big(\hat\Delta_{kc},\; q_{kc} + \sigma^2_{kc}\big), \qquad
        q_{kc} = \sum_{p,j} s^2_{pcj} \varphi_{kp}^2 x_j^2 / p,

    and the layer is fitted by the ELBO per observation (:meth:`loss`),

    .. math::

        \mathrm{E}_{q}[\log N(y \mid \Delta, \sigma^2)]
        - \tfrac{1}{N}\big(\mathrm{KL}(q \,\|\, N(0, \tfrac{1}{d+1} I)) - \log p(\sigma^{-2})\big),
        \qquad \mathrm{E}_q[\log N(y \mid \Delta, \sigma^2)]
        = \log N(y \mid \hat\Delta, \sigma^2) - \frac{q}{2\sigma^2},

    N the number of training observations, log p(σ⁻²) the package's Wishart term
    (dof·log σ⁻² − ½·scale·σ⁻², dof = (1 + C' + 1)/2, scale 10⁻²). For phases the
    distribution is on the turning angle, y the wrapped turn: a wrapped normal, scored as a
    normal of the wrapped residual (they differ by terms of order e^{−π²/2σ²}: nothing at the
    σ of a few tenths of a radian or less seen here).

    The layer reads the backbone's summaries and the trunk's basis detached, and the
    forecast it scores detached: the backbone and the posterior mean m learn from the point
    loss alone, and the ELBO fits the posterior's variances s² and the noise on top of them —
    a last layer in the literal sense. With its gradients clipped apart (the training loop
    does), a model trains its point forecast bit for bit as the point model of the same seed
    does. Letting the likelihood train the backbone too wrecks the mean (tried: on the test's
    synthetic data the mean's squared error grew 18-fold; a Gaussian likelihood reweights
    errors by 1/σ², Seitzer et al., ICLR 2022).

    Parameters
    ----------
    dim : int
        Width of the node summaries.
    horizon : int
        Forecast steps.
    channels : int
        Channels C' of the change (1 for phases).
    basis : int
        Basis functions p.
    prior_scale : float
        Prior variance times (dim + 1) (the package's ``prior_scale``).
    wishart_scale : float
        Scale of the noise prior (the package's ``wishart_scale``).
    noise_init : float
        The noise's standard deviation at the start.
    """

    def __init__(self, dim, horizon, channels, basis, prior_scale: float = 1.0, wishart_scale: float = 1e-2,
                 noise_init: float = 0.1):
        super().__init__()
        self.basis, self.channels = basis, channels
        self.prior_var = prior_scale / (dim + 1)
        self.wishart_scale, self.dof = wishart_scale, (1.0 + channels + 1.0) / 2
        # log s of every weight of (branch.weight | branch.bias); it starts well inside the prior (e^-5 of
        # its scale), near where the ELBO ends up for 10^5+ observations (s² ~ σ² / (N E[x²])), so the
        # weights' term starts small instead of taking thousands of steps to shrink
        self.log_std = nn.Parameter(torch.full((basis * channels, dim + 1), 0.5 * math.log(self.prior_var) - 5.0))
        # the noise's features z = tanh(A x): drawn from a generator of its own, so that the rest of the model
        # starts from the same random weights as a point model of the same seed
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(0)
            self.noise_features = nn.Linear(dim + 1, dim)
        self.noise_weight = nn.Parameter(torch.zeros(basis * channels, dim + 1))   # V: starts homoscedastic
        self.noise_level = nn.Parameter(torch.full((horizon, channels), 2 * math.log(noise_init)))   # β

    def forward(self, h, phi):
        """The two parts of each step's predictive variance.

        Parameters
        ----------
        h : torch.Tensor
            ``(B, n, dim)`` node summaries (read detached).
        phi : torch.Tensor
            ``(n, horizon, p)`` the trunk's basis (read detached).

        Returns
        -------
        weight_var, noise_var : torch.Tensor
            ``(B, n, horizon, C')`` q and σ².
        """
        x = torch.cat([h.detach(), torch.ones_like(h[..., :1])], -1)                  # (B, n, d + 1)
        phi = phi.detach()
        shape = (self.basis, self.channels, x.shape[-1])
        s2 = torch.exp(2 * self.log_std).view(shape)
        weight_var = torch.einsum("bnpc,ntp->bntc", torch.einsum("bnj,pcj->bnpc", x * x, s2), phi * phi) / self.basis
        z = torch.cat([torch.tanh(self.noise_features(x)), x[..., -1:]], -1)
        log_noise = torch.einsum("bnpc,ntp->bntc", torch.einsum("bnj,pcj->bnpc", z, self.noise_weight.view(shape)),
                                 phi) / self.basis ** 0.5 + self.noise_level
        return weight_var, torch.exp(log_noise)

    def kl(self, branch: nn.Linear) -> torch.Tensor:
        """KL(q(w) ‖ N(0, prior_var·I)) over every branch weight.

        Parameters
        ----------
        branch : torch.nn.Linear
            The decoder's branch: its weights are the posterior mean (read detached: the
            point loss trains it, with AdamW's weight decay as its prior).

        Returns
        -------
        torch.Tensor
            A scalar.
        """
        m = torch.cat([branch.weight, branch.bias[:, None]], 1).detach()
        s2 = torch.exp(2 * self.log_std)
        return 0.5 * ((m * m + s2) / self.prior_var - 1 - torch.log(s2 / self.prior_var)).sum()

    def loss(self, residual, weight_var, noise_var, branch: nn.Linear, count: float) -> torch.Tensor:
        """The negative ELBO per observation (see the class).

        Parameters
        ----------
        residual : torch.Tensor
            ``(B, n, horizon, C')`` truth minus the forecast (``OperatorDecoder.residual``;
            detach the forecast to keep the point loss in charge of the mean).
        weight_var, noise_var : torch.Tensor
            ``(B, n, horizon, C')`` q and σ² of the same points.
        branch : torch.nn.Linear
            The decoder's branch (the posterior mean).
        count : float
            N, the training observations (windows × nodes × steps × C').

        Returns
        -------
        torch.Tensor
            A scalar.
        """
        log_noise = torch.log(noise_var)
        expected = -0.5 * (math.log(2 * math.pi) + log_noise + (residual ** 2 + weight_var) / noise_var)
        wishart = (-self.dof * log_noise - 0.5 * self.wishart_scale / noise_var).sum(-1).mean()
        return -expected.mean() - (wishart - self.kl(branch)) / count


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
