"""Compute-device choice and the DDP process group."""
from __future__ import annotations

import os

import torch

from ..errors import DeviceError


def resolve_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    """The torch device meant by ``name``.

    Parameters
    ----------
    name : str
        ``auto`` (CUDA when visible, else the CPU), ``cpu`` or ``cuda``.
    local_rank : int
        The process's local rank under torchrun: picks its GPU.

    Returns
    -------
    torch.device

    Raises
    ------
    DeviceError
        If CUDA is asked for and none is visible, or the name is unknown.
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError("--device cuda was asked for but no CUDA device is visible; use --device cpu or auto")
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    if name != "cpu":
        raise DeviceError(f"unknown device {name!r}; use auto, cpu or cuda")
    return torch.device("cpu")


def distributed() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; (0, 1, 0) otherwise.

    Returns
    -------
    tuple of int
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0"))


def init_distributed(device: torch.device) -> bool:
    """Join torchrun's process group (nccl on GPU, gloo on CPU); True when this call created
    it (the caller then destroys it when done), False when it already existed.

    Parameters
    ----------
    device : torch.device
        This process's device.

    Returns
    -------
    bool
    """
    import torch.distributed as dist

    if dist.is_initialized():
        return False
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return True
