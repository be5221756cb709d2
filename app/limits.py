"""What one dashboard job may ask for: graph nodes, integration or training steps, memory.

The server's limits come from ``roma serve --max-nodes/--max-steps/--max-memory`` (through
``ROMA_APP_MAX_NODES``, ``ROMA_APP_MAX_STEPS``, ``ROMA_APP_MAX_MEMORY``); the defaults are
sized to the machine: each of the job workers (half the cores) may use half the memory
divided among them, a graph about 1 KiB of it per node, and a job a million steps. A job
is checked before it starts (:meth:`Limits.check`), with a message giving the limit.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass

from roma_core.errors import LimitError

MAX_STEPS = 1_000_000
BYTES_PER_NODE = 1024  # a generous budget per node of a graph kept by the dashboard
UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def default_workers() -> int:
    """Half the cores (at least one)."""
    return max(1, (os.cpu_count() or 2) // 2)


def physical_memory() -> int:
    """Bytes of memory of this machine."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not Linux
        return 8 * 2**30


def parse_bytes(text) -> int:
    """``'8G'``, ``'512M'``, ``'1.5g'``, ``'1000000'`` -> bytes (LimitError when malformed)."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmgtKMGT]?)i?[bB]?\s*", str(text))
    if m is None or float(m.group(1)) <= 0:
        raise LimitError(f"{text!r} is not a memory size; give e.g. 8G, 512M or a number of bytes")
    return int(float(m.group(1)) * UNITS[m.group(2).upper()])


def size(nbytes: float) -> str:
    """Bytes as a short human size."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if nbytes < 1024 or unit == "TiB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    return ""  # pragma: no cover


@dataclass(frozen=True)
class Limits:
    """The most one job may ask for."""

    max_nodes: int
    max_steps: int
    max_memory: int

    @classmethod
    def default(cls, workers: int | None = None) -> "Limits":
        """Limits sized to this machine."""
        memory = physical_memory() // (2 * (workers or default_workers()))
        return cls(max_nodes=memory // BYTES_PER_NODE, max_steps=MAX_STEPS, max_memory=memory)

    @classmethod
    def from_env(cls) -> "Limits":
        """The server's limits (environment set by ``roma serve``, else :meth:`default`)."""
        base = cls.default(int(os.environ.get("ROMA_APP_JOB_WORKERS") or 0) or None)
        env = os.environ.get
        try:
            return cls(max_nodes=int(env("ROMA_APP_MAX_NODES") or base.max_nodes),
                       max_steps=int(env("ROMA_APP_MAX_STEPS") or base.max_steps),
                       max_memory=parse_bytes(env("ROMA_APP_MAX_MEMORY")) if env("ROMA_APP_MAX_MEMORY")
                       else base.max_memory)
        except ValueError as exc:
            raise LimitError(f"ROMA_APP_MAX_NODES/ROMA_APP_MAX_STEPS must be integers ({exc})") from exc

    def check(self, *, nodes: int | None = None, steps: int | None = None, memory: float | None = None,
              what: str = "this job") -> None:
        """Raise :class:`LimitError` when a need exceeds its limit (the message gives both)."""
        if nodes is not None and nodes > self.max_nodes:
            raise LimitError(f"{what} asks for {nodes:,} nodes; this server allows at most {self.max_nodes:,} "
                             "per job (roma serve --max-nodes)")
        if steps is not None and steps > self.max_steps:
            raise LimitError(f"{what} takes {steps:,} steps; this server allows at most {self.max_steps:,} "
                             "per job (roma serve --max-steps): raise dt, shorten t_end or train fewer steps")
        if memory is not None and memory > self.max_memory:
            raise LimitError(f"{what} needs about {size(memory)} of memory; this server allows at most "
                             f"{size(self.max_memory)} per job (roma serve --max-memory)")


def graph_needs(nodes: int, mean_degree: float) -> dict:
    """Nodes and memory of generating and showing a graph: CSR both ways (int64 offsets,
    int32 neighbours) plus per-node coordinates, layout and colours."""
    return dict(nodes=int(nodes), memory=nodes * (8 * mean_degree + 160))


def simulation_needs(nodes: int, edges: int, t_end: float, dt: float, save_every: int, itemsize: int = 4) -> dict:
    """Steps and memory of a simulation: the graph, the integrator's node arrays, and one
    chunk (up to 64 frames) of the stored state at a time."""
    steps = math.ceil(t_end / dt) if dt > 0 else 0
    frames = steps // max(save_every, 1) + 1
    memory = 12 * edges + 16 * 8 * nodes + min(frames, 64) * nodes * itemsize
    return dict(nodes=int(nodes), steps=int(steps), memory=memory)


__all__ = ["Limits", "default_workers", "graph_needs", "parse_bytes", "simulation_needs", "size"]
