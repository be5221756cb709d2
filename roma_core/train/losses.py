"""Training losses."""
from __future__ import annotations


def relative_l2(pred, target, weight=None, eps: float = 1e-8):
    """Mean over windows of ||pred - target|| / ||target|| (over nodes, horizon, channels);
    ``weight`` (n,) masks nodes (e.g. the halo of a chunk).

    Parameters
    ----------
    pred, target : torch.Tensor
        Forecast and truth, (B, n, horizon, C).
    weight : torch.Tensor, optional
        (n,) node weights.
    eps : float
        Added to the truth's norm.

    Returns
    -------
    torch.Tensor
        A scalar.
    """
    diff = (pred - target) ** 2
    ref = target ** 2
    if weight is not None:
        diff = diff * weight[None, :, None, None]
        ref = ref * weight[None, :, None, None]
    dims = tuple(range(1, pred.ndim))
    return (diff.sum(dims).sqrt() / (ref.sum(dims).sqrt() + eps)).mean()
