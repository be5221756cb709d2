"""Multiscale attention: each node attends over its own token and its supernodes' tokens."""
from __future__ import annotations

import math

import torch
from torch import nn


class MultiscaleAttention(nn.Module):
    """Query = the node's own token; keys/values = [own, level 1, ..., level L] tokens plus
    level embeddings. Returns the mixed token (B, n, d) and the weights (B, n, heads, L+1),
    which sum to 1 over scales."""

    def __init__(self, dim, heads, scales):
        super().__init__()
        self.heads = heads
        self.dh = dim // heads
        self.level = nn.Parameter(torch.randn(scales, dim) * 0.02)
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, 2 * dim), nn.SiLU(), nn.Linear(2 * dim, dim))

    def forward(self, tokens):
        """tokens: (B, n, S, d) with the node's own token first."""
        b, n, s, d = tokens.shape
        tokens = self.norm1(tokens + self.level[:s])
        q = self.q(tokens[:, :, 0]).view(b, n, self.heads, self.dh)
        k, v = self.kv(tokens).view(b, n, s, 2, self.heads, self.dh).unbind(3)
        scores = torch.einsum("bnhe,bnshe->bnhs", q, k) / math.sqrt(self.dh)
        weights = torch.softmax(scores, -1)
        mixed = torch.einsum("bnhs,bnshe->bnhe", weights, v).reshape(b, n, d)
        h = tokens[:, :, 0] + self.out(mixed)
        h = h + self.ff(self.norm2(h))
        return h, weights
