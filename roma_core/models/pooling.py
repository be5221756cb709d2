"""Neural renormalization: learned soft assignments to supernodes, level by level.

S_0 (n x N_1) comes from node embeddings (an MLP and a softmax), biased toward the prior
(geometric) supernode of each node; S_l (N_l x N_{l+1}) for l >= 1 are learned logit
tables initialised from the prior's block merge. Every S is row-stochastic. With
``learned=False`` (the fixed-hierarchy ablation) S_0 is the prior's one-hot membership and
the tables are its block merges.

A first-level supernode token is the assignment-weighted mean of its members' tokens in
the batch, plus a learned per-supernode embedding (so an empty supernode still has one),
plus an embedding of its block's *far field*: the lookback window averaged over every
member of the block in the whole graph (:attr:`Batch.field`), so a sampled subgraph still
sees the state of the graph far away. The first-level tokens then attend to each other
(one transformer layer over N_1 tokens, with Fourier features of each block's angle as
position): every supernode gathers what the rest of the graph does, weighted by learned
functions of angular distance, the way a tree code sums the far field from block moments.
Coarser tokens are assignment-weighted means of these.
"""
from __future__ import annotations

import math

import torch
from torch import nn


def level_sizes(supernodes: int, reduction: int, levels: int) -> list[int]:
    """Supernodes per coarse level.

    Parameters
    ----------
    supernodes : int
        Supernodes at the first coarse level, N_1.
    reduction : int
        Size reduction per further level.
    levels : int
        Coarse levels L.

    Returns
    -------
    list of int
        ``[N_1, ..., N_L]`` with ``N_l = max(1, supernodes // reduction ** (l - 1))``.
    """
    return [max(1, supernodes // reduction ** l) for l in range(levels)]


def prior_blocks(sizes: list[int]) -> list[torch.Tensor]:
    """Prior parent of each supernode at levels >= 1: consecutive blocks merged.

    Parameters
    ----------
    sizes : list of int
        Supernodes per level, ``[N_1, ..., N_L]``.

    Returns
    -------
    list of torch.Tensor
        ``L - 1`` int64 tensors; the l-th, ``(N_l,)``, gives each level-l supernode's parent
        ``floor(i N_{l+1} / N_l)`` at level l + 1.
    """
    out = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        out.append(torch.div(torch.arange(a) * b, a, rounding_mode="floor"))
    return out


def block_positions(blocks: int, harmonics: int = 4) -> torch.Tensor:
    """(blocks, 2 * harmonics) Fourier features of the blocks' centre angles 2π(s + ½)/blocks
    (prior blocks split the angular order evenly).

    Parameters
    ----------
    blocks : int
        Blocks, s = 0, ..., blocks - 1.
    harmonics : int
        Frequencies 1, ..., harmonics.

    Returns
    -------
    torch.Tensor
        ``(blocks, 2 * harmonics)``: the sines, then the cosines.
    """
    phi = 2 * math.pi * (torch.arange(blocks) + 0.5) / blocks
    k = torch.arange(1, harmonics + 1)
    return torch.cat([torch.sin(phi[:, None] * k), torch.cos(phi[:, None] * k)], 1)


class NeuralRG(nn.Module):
    """Learned (or, with ``learned=False``, fixed prior) hierarchy of supernodes and the
    tokens of each node's supernodes at every level (see the module's notes).

    Parameters
    ----------
    dim : int
        Token width.
    sizes : list of int
        Supernodes per level, ``[N_1, ..., N_L]`` (see :func:`level_sizes`).
    prior : {"geometric", "none"}
        Bias the learned assignments toward the prior blocks, or start them uniform.
    strength : float
        Logit bonus of each node's prior supernode in S_0, and of each supernode's prior
        parent in the initial tables.
    field_dim : int
        Features of a block's far field (lookback x C), embedded into the first-level
        tokens; 0: none.
    heads : int
        Attention heads of the layer over the first-level tokens.
    learned : bool
        Learn the assignments; False: the prior's one-hot membership and block merges.
    identity : bool
        Give each supernode token a learned embedding of its index and of its block's angle;
        False: tokens come from their members and far field only.
    """

    max_pairs = 4096

    def __init__(self, dim, sizes, prior="geometric", strength=4.0, *, field_dim=0, heads=4, learned=True,
                 identity=True):
        super().__init__()
        self.sizes = list(sizes)
        self.learned = bool(learned)
        self.use_prior = prior != "none"
        self.strength = float(strength)
        if self.learned:
            self.score = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, sizes[0]))
            nn.init.zeros_(self.score[-1].weight)
            nn.init.zeros_(self.score[-1].bias)
            self.tables = nn.ParameterList()
            for l, parent in enumerate(prior_blocks(self.sizes)):
                a = sizes[l]
                logits = torch.zeros(a, sizes[l + 1])
                if self.use_prior:
                    logits[torch.arange(a), parent] = self.strength
                self.tables.append(nn.Parameter(logits))
        else:
            for l, parent in enumerate(prior_blocks(self.sizes)):
                self.register_buffer(f"merge{l}", nn.functional.one_hot(parent, sizes[l + 1]).float())
        self.field = nn.Linear(field_dim, dim) if field_dim else None
        self.identity = bool(identity)
        if self.identity:
            self.embed = nn.ParameterList(nn.Parameter(torch.randn(s, dim) * 0.02) for s in sizes)
            self.register_buffer("positions", block_positions(sizes[0]))
            self.position = nn.Linear(self.positions.shape[1], dim)
        self.mixer = nn.TransformerEncoderLayer(dim, heads, 2 * dim, dropout=0.0, activation="gelu",
                                                batch_first=True, norm_first=True)

    def assignments(self, z, prior):
        """Soft assignments of every level.

        Parameters
        ----------
        z : torch.Tensor
            ``(B, n, dim)`` node tokens.
        prior : torch.Tensor
            ``(n,)`` int64 prior first-level supernode of each node.

        Returns
        -------
        assign : list of torch.Tensor
            ``[S_0 (B, n, N_1), S_1 (N_1, N_2), ...]``, row-stochastic.
        prior_logits : torch.Tensor or None
            ``(n, N_1)`` prior logits of S_0; None when the hierarchy is fixed or has no
            prior.
        """
        if not self.learned:
            s0 = nn.functional.one_hot(prior, self.sizes[0]).to(z.dtype).expand(z.shape[0], -1, -1)
            return [s0] + [getattr(self, f"merge{l}").to(z.dtype) for l in range(len(self.sizes) - 1)], None
        logits = self.score(z)
        prior_logits = None
        if self.use_prior:
            prior_logits = nn.functional.one_hot(prior, self.sizes[0]).to(z.dtype) * self.strength
            logits = logits + prior_logits
        return [torch.softmax(logits, -1)] + [torch.softmax(t, -1) for t in self.tables], prior_logits

    @staticmethod
    def pool(z, s0, weight=None):
        """First-level pools over the batch's nodes (those with ``weight`` > 0 when given):
        Σ_i S_0[i, s] z_i (B, N_1, dim) and Σ_i S_0[i, s] (B, N_1).

        Parameters
        ----------
        z : torch.Tensor
            ``(B, n, dim)`` node tokens.
        s0 : torch.Tensor
            ``(B, n, N_1)`` first-level assignments.
        weight : torch.Tensor, optional
            ``(n,)`` node weights; the pools are weighted by them.

        Returns
        -------
        sums : torch.Tensor
            ``(B, N_1, dim)``.
        mass : torch.Tensor
            ``(B, N_1)``.
        """
        w = s0 if weight is None else s0 * weight[None, :, None]
        return torch.bmm(w.transpose(1, 2), z), w.sum(1)

    def forward(self, z, prior, weight=None, pooled=None, field=None):
        """Tokens of each node's supernodes: list over levels of (B, n, dim), the assignments
        and the prior logits. ``weight`` (n,) restricts which nodes feed supernode means;
        ``pooled`` (from :meth:`pool`, summed over chunks of a graph) replaces the batch's;
        ``field`` (B, N_1, lookback, C) is the prior blocks' far field (:attr:`Batch.field`).

        Parameters
        ----------
        z : torch.Tensor
            ``(B, n, dim)`` node tokens.
        prior : torch.Tensor
            ``(n,)`` int64 prior first-level supernode of each node.
        weight : torch.Tensor, optional
            ``(n,)`` node weights of the supernode means.
        pooled : tuple of torch.Tensor, optional
            ``(sums, mass)`` as :meth:`pool` returns, used instead of this batch's pools.
        field : torch.Tensor, optional
            ``(B, N_1, lookback, C)`` far field; used only when ``field_dim`` is set.

        Returns
        -------
        tokens : list of torch.Tensor
            ``L`` tensors ``(B, n, dim)``: each node's supernode token at levels 1..L.
        assign : list of torch.Tensor
            The assignments (see :meth:`assignments`).
        prior_logits : torch.Tensor or None
            ``(n, N_1)`` prior logits of S_0.
        """
        assign, prior_logits = self.assignments(z, prior)
        s0 = assign[0]
        sums, mass = self.pool(z, s0, weight) if pooled is None else pooled
        tok = sums / (mass[..., None] + 1.0)
        if self.identity:
            tok = tok + self.embed[0] + self.position(self.positions)
        if self.field is not None and field is not None:
            tok = tok + self.field(field.flatten(2).to(tok.dtype))
        tok = self.mixer(tok)                                   # supernodes see each other
        # a node's level-l token is S_0 S_1 ... S_{l-1} tok_l: lift every level's tokens onto
        # the first level (up = S_1 ... S_{l-1}), then one product with S_0 for all levels
        lifted, up = [tok], None
        for l, s in enumerate(assign[1:], start=1):
            tok = torch.einsum("st,bsd->btd", s, tok) / s.sum(0)[None, :, None]
            if self.identity:
                tok = tok + self.embed[l]
            up = s if up is None else up @ s
            lifted.append(torch.matmul(up, tok))
        tokens = torch.bmm(s0, torch.cat(lifted, -1)).split(z.shape[-1], -1)
        return list(tokens), assign, prior_logits

    @staticmethod
    def losses(assign, prior_logits, edge_index, weights):
        """Entropy (sharp rows), link prediction (linked nodes share supernodes), balance
        (supernodes used evenly) and prior (KL toward the prior assignment).

        Parameters
        ----------
        assign : list of torch.Tensor
            ``[S_0 (B, n, N_1), S_1, ...]`` (see :meth:`assignments`).
        prior_logits : torch.Tensor or None
            ``(n, N_1)`` prior logits of S_0; None: no prior loss.
        edge_index : torch.Tensor
            ``(2, E)`` int64 local node ids; no link loss when E = 0.
        weights : dict
            Weights of ``"entropy"``, ``"link"``, ``"balance"`` and ``"prior"``.

        Returns
        -------
        dict
            Weighted scalar losses by name (``"link"`` and ``"prior"`` only where they apply).
        """
        s0 = assign[0]
        out = {}
        log0 = (s0 + 1e-9).log()                                           # shared by entropy and prior
        ent = -(s0 * log0).sum(-1).mean()
        for s in assign[1:]:
            ent = ent + (-(s * (s + 1e-9).log()).sum(-1).mean())
        out["entropy"] = weights["entropy"] * ent
        if edge_index.shape[1]:
            # a sampled form of ||A - S Sᵀ||: linked pairs should share supernodes, random
            # pairs should not (a deterministic stride keeps at most max_pairs edges)
            stride = max(1, edge_index.shape[1] // NeuralRG.max_pairs)
            src, dst = edge_index[:, ::stride]
            sm = s0.mean(0)
            same = (sm[src] * sm[dst]).sum(-1)
            other = (sm[src] * sm[torch.roll(dst, shifts=max(1, len(dst) // 2))]).sum(-1)
            out["link"] = weights["link"] * (-(same + 1e-6).log().mean() + other.mean())
        usage = s0.mean(1)                                                 # (B, N_1)
        k = usage.shape[-1]
        out["balance"] = weights["balance"] * (usage * (usage * k + 1e-9).log()).sum(-1).mean()
        if prior_logits is not None:
            target = torch.softmax(prior_logits, -1)
            out["prior"] = weights["prior"] * ((target * (target + 1e-9).log()).sum(-1).mean()
                                               - (target * log0).sum(-1).mean())
        return out
