"""Forecast metrics: relative L2 per horizon step, order-parameter error, attention summary."""
from __future__ import annotations

import numpy as np


def relative_l2_per_step(values, target, eps: float = 1e-12) -> np.ndarray:
    """(horizon,) mean over windows of ||pred_k - y_k|| / ||y_k|| (over nodes and channels)."""
    diff = ((values - target) ** 2).sum(axis=(1, 3))
    ref = (target ** 2).sum(axis=(1, 3))
    return (np.sqrt(diff) / (np.sqrt(ref) + eps)).mean(0)


def relative_l2(values, target, eps: float = 1e-12) -> float:
    """Mean over windows of the relative L2 error over the whole horizon."""
    diff = ((values - target) ** 2).sum(axis=(1, 2, 3))
    ref = (target ** 2).sum(axis=(1, 2, 3))
    return float((np.sqrt(diff) / (np.sqrt(ref) + eps)).mean())


def order_parameter(features) -> np.ndarray:
    """R = |<exp(iθ)>| over nodes from (sin θ, cos θ) features (..., N, horizon, 2); each
    node's predicted vector is normalised to the unit circle first."""
    s, c = features[..., 0], features[..., 1]
    r = np.sqrt(s ** 2 + c ** 2) + 1e-12
    return np.abs((c / r + 1j * s / r).mean(axis=-2))


def attention_summary(attention) -> dict:
    """Mean weight per scale (0 = the node itself, l = its level-l supernode), overall and
    per head, from (B, N, heads, scales) weights."""
    if attention is None:
        return {}
    per_head = attention.mean(axis=(0, 1))                          # (heads, scales)
    return {"scales": ["node"] + [f"level {l}" for l in range(1, attention.shape[-1])],
            "mean": per_head.mean(0).tolist(), "per_head": per_head.tolist(),
            "entropy": float(-(attention * np.log(attention + 1e-12)).sum(-1).mean())}
