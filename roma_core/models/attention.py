"""Attention across the graph and across scales: each node over its graph neighbours
(:class:`NeighbourAttention`), and over its own token and its supernodes' tokens
(:class:`MultiscaleAttention`)."""
from __future__ import annotations

import math

import torch
from torch import nn


class MultiscaleAttention(nn.Module):
    """Query = the node's own token; keys/values = [own, level 1, ..., level L] tokens plus
    level embeddings. Returns the mixed token (B, n, d) and the weights (B, n, heads, L+1),
    which sum to 1 over scales. The output projection starts at zero, so at initialisation
    the result is the node's own (normalised) token passed through the feed-forward block.

    Parameters
    ----------
    dim : int
        Token width; a multiple of ``heads``.
    heads : int
        Attention heads.
    scales : int
        Most tokens per node: its own plus one per level (L + 1); each gets a learned
        level embedding.
    """

    def __init__(self, dim, heads, scales):
        super().__init__()
        if dim % heads:
            raise ValueError(f"MultiscaleAttention: dim ({dim}) must be a multiple of heads ({heads})")
        self.heads = heads
        self.dh = dim // heads
        self.level = nn.Parameter(torch.randn(scales, dim) * 0.02)
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)
        nn.init.zeros_(self.out.weight)        # the cross-scale update starts at zero: ROMA starts
        nn.init.zeros_(self.out.bias)          # as its local (graph-encoder) model and learns the rest
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, 2 * dim), nn.SiLU(), nn.Linear(2 * dim, dim))

    def forward(self, tokens):
        """Mix each node's tokens across scales.

        Parameters
        ----------
        tokens : list of torch.Tensor
            ``(B, n, d)`` each, the node's own token first, then one per level (at most
            ``scales`` in all).

        Returns
        -------
        h : torch.Tensor
            ``(B, n, d)`` mixed tokens.
        weights : torch.Tensor
            ``(B, n, heads, S)`` attention weights over the ``S = len(tokens)`` scales,
            summing to 1 over the last axis.
        """
        s, d = len(tokens), tokens[0].shape[-1]
        b, n = tokens[0].shape[:2]
        # scales lead (S, B, n, d): every product below broadcasts over a leading axis
        t = self.norm1(torch.stack(tokens) + self.level[:s, None, None])
        q = self.q(t[0])
        k = nn.functional.linear(t, self.kv.weight[:d], self.kv.bias[:d])
        v = nn.functional.linear(t, self.kv.weight[d:], self.kv.bias[d:])
        scores = (k * q).view(s, b, n, self.heads, self.dh).sum(-1) / math.sqrt(self.dh)
        weights = torch.softmax(scores, 0)                                   # (S, B, n, heads)
        mixed = (weights[..., None] * v.view(s, b, n, self.heads, self.dh)).sum(0).reshape(b, n, d)
        h = t[0] + self.out(mixed)
        h = h + self.ff(self.norm2(h))
        return h, weights.permute(1, 2, 3, 0)


class NeighbourAttention(nn.Module):
    """One transformer layer over each node's graph neighbours (torch_geometric
    TransformerConv, with the node's own token as root), a residual, a layer norm and a
    feed-forward block: the neighbour transformer's layer.

    Parameters
    ----------
    dim : int
        Width of the node tokens, a multiple of ``heads``.
    heads : int
        Heads of the attention over neighbours.
    """

    def __init__(self, dim, heads):
        from torch_geometric.nn import TransformerConv

        super().__init__()
        if dim % heads:
            raise ValueError(f"NeighbourAttention: dim ({dim}) must be a multiple of heads ({heads})")
        self.attn = TransformerConv(dim, dim // heads, heads=heads, root_weight=True)
        self.norm = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, 2 * dim), nn.SiLU(), nn.Linear(2 * dim, dim))

    def forward(self, z, edge_index):
        """Mix each node's token with its graph neighbours'.

        Parameters
        ----------
        z : torch.Tensor
            ``(B, n, d)`` node tokens; the windows share the graph.
        edge_index : torch.Tensor
            ``(2, E)`` edges of the batch's graph, or its sparse adjacency.

        Returns
        -------
        torch.Tensor
            ``(B, n, d)``.
        """
        mixed = torch.stack([self.attn(zi, edge_index) for zi in z])    # its softmax over edges is per window
        h = self.norm(z + mixed)
        return h + self.ff(h)
