"""Fixed-step integrators on torch tensors, updating the state in place with
preallocated buffers (no allocation per step at scale)."""
from __future__ import annotations

import math

import numpy as np
import torch


class RK4:
    """Classical fourth-order Runge–Kutta for ``dy/dt = rhs(t, y)``.

    ``fused``: the stage updates run as one Triton kernel per stage
    (``triton_kernels.rk4_stage``: ``acc``, the weighted sum of the stages so far, and the
    next stage's input in one pass), four launches per step instead of eight.

    Parameters
    ----------
    rhs : callable
        ``rhs(t, y, out)`` writes ``dy/dt`` at time ``t`` into ``out``.
    y : torch.Tensor
        A state like the one to integrate: the stage buffers take its shape, dtype and
        device (it is not kept).
    fused : bool
        Run the stage updates as Triton kernels (one stage buffer instead of four).
    """

    name = "rk4"

    def __init__(self, rhs, y: torch.Tensor, fused: bool = False):
        self.rhs, self.fused = rhs, fused
        self.k = [torch.empty_like(y) for _ in range(1 if fused else 4)]
        self.tmp = torch.empty_like(y)
        self.acc = torch.empty_like(y) if fused else None

    def step(self, t: float, y: torch.Tensor, dt: float) -> None:
        """One step from ``t`` to ``t + dt``, updating ``y`` in place.

        Parameters
        ----------
        t : float
            The time of ``y``.
        y : torch.Tensor
            The state, shaped like the one given to the constructor.
        dt : float
            The time step.
        """
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
    """``y += rhs(t, y) dt + σ √dt ξ`` with independent standard normal ξ per node.

    Parameters
    ----------
    rhs : callable
        ``rhs(t, y, out)`` writes the drift at time ``t`` into ``out``.
    y : torch.Tensor
        A state like the one to integrate: the buffers take its shape, dtype and device
        (it is not kept).
    sigma : float
        The noise amplitude σ; with 0 no noise is drawn (the explicit Euler step).
    generator : torch.Generator
        Draws ξ; on ``y``'s device.
    """

    name = "euler_maruyama"

    def __init__(self, rhs, y: torch.Tensor, sigma: float, generator: torch.Generator):
        self.rhs, self.sigma, self.gen = rhs, sigma, generator
        self.k = torch.empty_like(y)
        self.xi = torch.empty_like(y)

    def step(self, t: float, y: torch.Tensor, dt: float) -> None:
        """One step from ``t`` to ``t + dt``, updating ``y`` in place.

        Parameters
        ----------
        t : float
            The time of ``y``.
        y : torch.Tensor
            The state, shaped like the one given to the constructor.
        dt : float
            The time step.
        """
        self.rhs(t, y, self.k)
        y.add_(self.k, alpha=dt)
        if self.sigma > 0:
            torch.randn(y.shape, generator=self.gen, out=self.xi, dtype=y.dtype, device=y.device)
            y.add_(self.xi, alpha=self.sigma * math.sqrt(dt))


class GraphedRK4:
    """``steps`` fused RK4 steps (:class:`RK4` with ``fused=True``) captured once as a CUDA
    graph and replayed: one launch from the host for all of them, in place of 12 a step.

    A replay does exactly what the uncaptured steps do, with one difference: the
    time-dependent number of each stage (Kuramoto's K(t)) is not a Python number baked
    into the capture but read by the kernels from ``coef``, a float64 device tensor of
    three values per step (at t, t + dt/2 and t + dt, each ``system.coefficient`` of the
    same float as the uncaptured step computes), copied there from a table of the whole
    run before each replay. In float32 results are bit for bit those of the uncaptured
    steps (checked on an H200); in float64 Kuramoto runs they differed by 5.5e-10 after 50
    steps there, seemingly because K passed by value reaches the kernel rounded to float32
    (triton 3.6), while the graph reads it in float64.

    Parameters
    ----------
    system : roma_core.dynamics.systems.System
        With ``capturable()`` true (its ``rhs_ref`` and ``coefficient``).
    y : torch.Tensor
        The state on the CUDA device, updated in place by :meth:`run`; it must stay the
        same tensor (the graph holds its address).
    dt : float
        The time step.
    n_steps : int
        Steps of the whole run (the table of coefficients covers them).
    steps : int
        Steps per replay.
    """

    name = "rk4"

    def __init__(self, system, y: torch.Tensor, dt: float, n_steps: int, steps: int):
        self.system, self.y, self.dt, self.steps = system, y, dt, steps
        self.buffers = RK4(None, y, fused=True)
        c = system.coefficient
        table = np.empty((n_steps, 3))
        for n in range(n_steps):            # the same floats as RK4._fused_step's stage times
            t = n * dt
            table[n] = c(t), c(t + dt / 2), c(t + dt)
        self.table = torch.as_tensor(table.ravel(), device=y.device)
        self.coef = torch.zeros(3 * steps, dtype=torch.float64, device=y.device)
        saved = y.clone()
        try:
            self.replay = self._capture()
        finally:
            y.copy_(saved)                          # the warm-up step undone, whatever happened
            if y.is_cuda:
                torch.cuda.current_stream(y.device).synchronize()

    def _capture(self):
        """Warm up (compile) on a side stream, capture ``steps`` steps; the graph's replay."""
        dev = self.y.device
        side = torch.cuda.Stream(dev)
        side.wait_stream(torch.cuda.current_stream(dev))
        with torch.cuda.stream(side):
            self._steps(1)
        torch.cuda.current_stream(dev).wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph, capture_error_mode="thread_local"):   # other threads may use CUDA
            self._steps(self.steps)
        return self.graph.replay

    def _steps(self, count: int) -> None:
        from .triton_kernels import rk4_stage

        rhs, y, dt = self.system.rhs_ref, self.y, self.dt
        k, tmp, acc = self.buffers.k[0], self.buffers.tmp, self.buffers.acc
        for s in range(count):
            now, half, end = (self.coef[3 * s + i:3 * s + i + 1] for i in range(3))
            rhs(now, y, k)
            rk4_stage(y, k, acc, tmp, dt / 2, 1.0, first=True)
            rhs(half, tmp, k)
            rk4_stage(y, k, acc, tmp, dt / 2, 2.0)
            rhs(half, tmp, k)
            rk4_stage(y, k, acc, tmp, dt, 2.0)
            rhs(end, tmp, k)
            rk4_stage(y, k, acc, tmp, dt / 6, 0.0, last=True)

    def run(self, n: int) -> None:
        """Steps ``n`` to ``n + steps`` (enqueued: returns before the device has run them).

        Parameters
        ----------
        n : int
            The first step's index (its time is ``n * dt``); ``n + steps`` at most the run's steps.
        """
        self.coef.copy_(self.table[3 * n:3 * (n + self.steps)])
        self.replay()
