"""Forecast metrics: relative L2 per horizon step, order-parameter error, attention summary."""
from __future__ import annotations

import numpy as np


def relative_l2_per_step(values, target, eps: float = 1e-12) -> np.ndarray:
    """(horizon,) mean over windows of ||pred_k - y_k|| / ||y_k|| (over nodes and channels).

    Parameters
    ----------
    values, target : numpy.ndarray
        Forecast and truth, (B, N, horizon, C).
    eps : float
        Added to the truth's norm.

    Returns
    -------
    numpy.ndarray
    """
    diff = ((values - target) ** 2).sum(axis=(1, 3))
    ref = (target ** 2).sum(axis=(1, 3))
    return (np.sqrt(diff) / (np.sqrt(ref) + eps)).mean(0)


def relative_l2_per_window(values, target, eps: float = 1e-12) -> np.ndarray:
    """(B,) relative L2 error of each window over the whole horizon.

    Parameters
    ----------
    values, target : numpy.ndarray
        Forecast and truth, (B, N, horizon, C).
    eps : float
        Added to the truth's norm.

    Returns
    -------
    numpy.ndarray
    """
    diff = ((values - target) ** 2).sum(axis=(1, 2, 3))
    ref = (target ** 2).sum(axis=(1, 2, 3))
    return np.sqrt(diff) / (np.sqrt(ref) + eps)


def relative_l2(values, target, eps: float = 1e-12) -> float:
    """Mean over windows of the relative L2 error over the whole horizon.

    Parameters
    ----------
    values, target : numpy.ndarray
        Forecast and truth, (B, N, horizon, C).
    eps : float
        Added to the truth's norm.

    Returns
    -------
    float
    """
    return float(relative_l2_per_window(values, target, eps).mean())


def _unit_phasors(features) -> np.ndarray:
    """exp(iθ) from (sin θ, cos θ) features (..., 2), each vector normalised to length 1."""
    s, c = features[..., 0], features[..., 1]
    r = np.sqrt(s ** 2 + c ** 2) + 1e-12
    return c / r + 1j * s / r


def order_parameter(features) -> np.ndarray:
    """R = |<exp(iθ)>| over nodes from (sin θ, cos θ) features (..., N, horizon, 2); each
    node's predicted vector is normalised to the unit circle first.

    Parameters
    ----------
    features : numpy.ndarray
        (sin θ, cos θ) features, (..., N, horizon, 2).

    Returns
    -------
    numpy.ndarray
        Shape (..., horizon).
    """
    return np.abs(_unit_phasors(features).mean(axis=-2))


def block_order_parameters(features, hierarchy, levels) -> list[np.ndarray]:
    """Local synchrony: for each of ``levels`` of ``hierarchy``, R of every supernode (the
    modulus of its members' mean phasor, weighted by the assignments), (B, supernodes,
    horizon), from features (B, N, horizon, 2).

    Parameters
    ----------
    features : numpy.ndarray
        (sin θ, cos θ) features, (B, N, horizon, 2).
    hierarchy : Hierarchy
        The hierarchy over the graph's nodes.
    levels : sequence of int
        Levels of ``hierarchy``.

    Returns
    -------
    list of numpy.ndarray
        One (B, supernodes, horizon) array per level.
    """
    out = [[] for _ in levels]
    for window in features:                          # one window at a time bounds memory at 10^6 nodes
        z = _unit_phasors(window)                    # (N, horizon), shared by every level
        for rows, level in zip(out, levels):
            rows.append(np.abs(hierarchy.coarsen(z, 0, target=level)))
    return [np.stack(rows) for rows in out]


def attention_summary(attention) -> dict:
    """Mean weight per scale (0 = the node itself, l = its level-l supernode), overall and
    per head, from (B, N, heads, scales) weights.

    Parameters
    ----------
    attention : numpy.ndarray or None
        (B, N, heads, scales) weights.

    Returns
    -------
    dict
        ``scales`` (names), ``mean`` (per scale), ``per_head`` (heads x scales) and
        ``entropy`` (mean over nodes); empty for ``None``.
    """
    if attention is None:
        return {}
    per_head = attention.mean(axis=(0, 1))                          # (heads, scales)
    return {"scales": ["node"] + [f"level {l}" for l in range(1, attention.shape[-1])],
            "mean": per_head.mean(0).tolist(), "per_head": per_head.tolist(),
            "entropy": float(-(attention * np.log(attention + 1e-12)).sum(-1).mean())}
