"""Fixed-step integrators on torch tensors, updating the state in place with
preallocated buffers (no allocation per step at scale)."""
from __future__ import annotations

import math

import torch


class RK4:
    """Classical fourth-order Runge–Kutta for ``dy/dt = rhs(t, y)``."""

    name = "rk4"

    def __init__(self, rhs, y: torch.Tensor):
        self.rhs = rhs
        self.k = [torch.empty_like(y) for _ in range(4)]
        self.tmp = torch.empty_like(y)

    def step(self, t: float, y: torch.Tensor, dt: float) -> None:
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
