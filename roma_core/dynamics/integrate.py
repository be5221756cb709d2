"""Fixed-step integrators on torch tensors, updating the state in place with
preallocated buffers (no allocation per step at scale)."""
from __future__ import annotations

import math

import torch


class RK4:
    """Classical fourth-order Runge–Kutta for ``dy/dt = rhs(t, y)``.

    ``fused``: the stage updates run as one Triton kernel per stage
    (``triton_kernels.rk4_stage``: ``acc``, the weighted sum of the stages so far, and the
    next stage's input in one pass), four launches per step instead of eight."""

    name = "rk4"

    def __init__(self, rhs, y: torch.Tensor, fused: bool = False):
        self.rhs, self.fused = rhs, fused
        self.k = [torch.empty_like(y) for _ in range(1 if fused else 4)]
        self.tmp = torch.empty_like(y)
        self.acc = torch.empty_like(y) if fused else None

    def step(self, t: float, y: torch.Tensor, dt: float) -> None:
        if self.fused:
            return self._fused_step(t, y, dt)
        k1, k2, k3, k4 = self.k
        self.rhs(t, y, k1)
        torch.add(y, k1, alpha=dt / 2, out=self.tmp)
        self.rhs(t + dt / 2, self.tmp, k2)
        torch.add(y, k2, alpha=dt / 2, out=self.tmp)
        self.rhs(t + dt / 2, self.tmp, k3)
        torch.add(y, k3, alpha=dt, out=self.tmp)
        self.rhs(t + dt, self.tmp, k4)
        k2.add_(k3).mul_(2).add_(k1).add_(k4)
        y.add_(k2, alpha=dt / 6)

    def _fused_step(self, t: float, y: torch.Tensor, dt: float) -> None:
        from .triton_kernels import rk4_stage

        k, tmp, acc = self.k[0], self.tmp, self.acc
        self.rhs(t, y, k)
        rk4_stage(y, k, acc, tmp, dt / 2, 1.0, first=True)
        self.rhs(t + dt / 2, tmp, k)
        rk4_stage(y, k, acc, tmp, dt / 2, 2.0)
        self.rhs(t + dt / 2, tmp, k)
        rk4_stage(y, k, acc, tmp, dt, 2.0)
        self.rhs(t + dt, tmp, k)
        rk4_stage(y, k, acc, tmp, dt / 6, 0.0, last=True)


class EulerMaruyama:
    """``y += rhs(t, y) dt + σ √dt ξ`` with independent standard normal ξ per node."""

    name = "euler_maruyama"

    def __init__(self, rhs, y: torch.Tensor, sigma: float, generator: torch.Generator):
        self.rhs, self.sigma, self.gen = rhs, sigma, generator
        self.k = torch.empty_like(y)
        self.xi = torch.empty_like(y)

    def step(self, t: float, y: torch.Tensor, dt: float) -> None:
        self.rhs(t, y, self.k)
        y.add_(self.k, alpha=dt)
        if self.sigma > 0:
            torch.randn(y.shape, generator=self.gen, out=self.xi, dtype=y.dtype, device=y.device)
            y.add_(self.xi, alpha=self.sigma * math.sqrt(dt))
