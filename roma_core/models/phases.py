"""Phase features (sin θ, cos θ): Kuramoto's symmetry under a global phase shift.

A model with ``ModelSpec.phase_gauge`` on (and C = 2 channels) is a *phase model*: it turns
each window to the frame of a reference phase before it reads it (``OperatorModel.gauged``),
also reads the frame-to-frame increments (:func:`phase_steps`), forecasts each node as its
last phase turned by a predicted angle, and turns the forecast back, so that shifting every
input phase by a shifts the forecast by exactly a.
"""
from __future__ import annotations

import torch


def phase_model(spec) -> bool:
    """Whether a :class:`~roma_core.specs.ModelSpec` describes a phase model.

    Parameters
    ----------
    spec : roma_core.specs.ModelSpec

    Returns
    -------
    bool
    """
    return bool(spec.phase_gauge) and spec.channels == 2


def mean_phase(values: torch.Tensor) -> torch.Tensor:
    """The phase of the mean of (sin θ, cos θ) features over their second axis.

    Parameters
    ----------
    values : torch.Tensor
        ``(B, m, 2)``.

    Returns
    -------
    torch.Tensor
        ``(B,)`` angles.
    """
    mean = values.mean(1)
    return torch.atan2(mean[:, 0], mean[:, 1])


def phase_steps(x: torch.Tensor) -> torch.Tensor:
    """Frame-to-frame phase increments θ_t − θ_{t−1} in (−π, π] of (sin θ, cos θ) windows
    (unchanged by a global phase shift).

    Parameters
    ----------
    x : torch.Tensor
        ``(B, n, L, 2)`` windows.

    Returns
    -------
    torch.Tensor
        ``(B, n, L − 1)``.
    """
    s, c = x[..., 0], x[..., 1]
    return torch.atan2(s[..., 1:] * c[..., :-1] - c[..., 1:] * s[..., :-1],
                       c[..., 1:] * c[..., :-1] + s[..., 1:] * s[..., :-1])


def turn_phases(values: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """(sin θ, cos θ) features turned to (sin(θ + a), cos(θ + a)).

    Parameters
    ----------
    values : torch.Tensor
        ``(B, ..., 2)`` sine and cosine channels.
    angle : torch.Tensor
        Angles a, over the leading axes of ``values`` (``(B,)``: one per window).

    Returns
    -------
    torch.Tensor
        The same shape.
    """
    a = angle.reshape(angle.shape + (1,) * (values.ndim - 1 - angle.ndim))
    return _turned(values, torch.sin(a).to(values.dtype), torch.cos(a).to(values.dtype))


def _turned(values: torch.Tensor, sa: torch.Tensor, ca: torch.Tensor) -> torch.Tensor:
    """(sin θ, cos θ) features turned by the angle a whose sine and cosine are given
    (broadcast against the features' leading axes)."""
    s, c = values[..., 0], values[..., 1]
    return torch.stack([s * ca + c * sa, c * ca - s * sa], -1)


def in_node_frame(values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """(sin ψ, cos ψ)-type features of each node turned into that node's own phase frame at
    each frame: R (sin ψ, cos ψ) -> R (sin(ψ − θ_i(t)), cos(ψ − θ_i(t))).

    Parameters
    ----------
    values : torch.Tensor
        ``(B, n, S, L, 2)`` features of node i's neighbourhood at S scales and L frames.
    x : torch.Tensor
        ``(B, n, L, 2)`` the nodes' own (sin θ, cos θ) windows.

    Returns
    -------
    torch.Tensor
        The shape of ``values``.
    """
    own = x.unsqueeze(2)
    return _turned(values, -own[..., 0], own[..., 1])
