"""``roma info PATH``: summarise any file or store ROMA Explorer writes."""
from __future__ import annotations

import importlib
import json
from pathlib import Path

from ..errors import FileFormatError

# roma_kind -> "module:function" taking a path and returning a summary
DESCRIBERS = {
    "graph": "roma_core.graphs.graph:describe",
    "trajectory": "roma_core.data:describe",
    "hierarchy": "roma_core.renorm:describe",
    "checkpoint": "roma_core.train:describe",
}


def store_kind(path: Path) -> str:
    """The ``roma_kind`` a file or store records about itself.

    Parameters
    ----------
    path : Path
        A file or store written by roma.

    Returns
    -------
    str
        ``graph``, ``trajectory``, ``hierarchy``, ``checkpoint``, ...

    Raises
    ------
    FileFormatError
        If there is no such file, or it records no kind.
    """
    if not path.exists():
        raise FileFormatError(f"{path}: no such file or store")
    if path.is_dir():
        for meta in ("zarr.json", ".zattrs", "checkpoint.json"):
            if (path / meta).exists():
                attrs = json.loads((path / meta).read_text())
                attrs = attrs.get("attributes", attrs)
                if "roma_kind" in attrs:
                    return attrs["roma_kind"]
        raise FileFormatError(f"{path}: a directory, but not a ROMA store (no roma_kind attribute)")
    if path.suffix == ".npz":
        import numpy as np
        try:
            with np.load(path, allow_pickle=False) as f:
                if "__attrs__" in f.files:
                    return json.loads(str(f["__attrs__"]))["roma_kind"]
        except (OSError, ValueError, KeyError) as exc:
            raise FileFormatError(f"{path}: not a readable ROMA .npz ({exc})") from exc
    raise FileFormatError(f"{path}: not a ROMA file (expected a .npz or a store written by roma)")


def devices() -> str:
    """What torch sees: its build, CPU threads, CUDA devices, and whether triton imports.

    Returns
    -------
    str
        One line per fact.
    """
    import os

    import numba
    import torch

    from ..dynamics.simulate import resolve_device, triton_ready

    lines = [f"torch {torch.__version__} (CUDA build: {torch.version.cuda or 'no'})",
             f"CPU: {os.cpu_count()} cores; torch threads {torch.get_num_threads()}, "
             f"numba threads {numba.get_num_threads()}"]
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    for i in range(count):
        p = torch.cuda.get_device_properties(i)
        lines.append(f"cuda:{i}: {p.name}, {p.total_memory / 2**30:.1f} GiB, compute capability {p.major}.{p.minor}")
    if not count:
        lines.append("CUDA: no device visible")
    if triton_ready():
        import triton
        lines.append(f"triton {triton.__version__}: fused simulation kernels on CUDA")
    else:
        lines.append("triton: not installed (CUDA runs use the torch backend)")
    lines.append(f"device='auto' runs on: {resolve_device('auto')}")
    return "\n".join(lines)


def describe(path) -> str:
    """A summary of what the file or store at ``path`` holds, by its kind.

    Parameters
    ----------
    path : str or Path
        A file or store written by roma.

    Returns
    -------
    str

    Raises
    ------
    FileFormatError
        If it is missing or of a kind that cannot be summarised.
    """
    path = Path(path)
    kind = store_kind(path)
    if kind not in DESCRIBERS:
        raise FileFormatError(f"{path}: unknown roma_kind {kind!r}")
    module, func = DESCRIBERS[kind].split(":")
    return getattr(importlib.import_module(module), func)(path)


def register(sub) -> None:
    """Add the ``roma info`` sub-command to the parser's sub-commands.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        The ``roma`` parser's sub-commands.
    """
    p = sub.add_parser("info", help="summarise a graph, trajectory, hierarchy or checkpoint, or the devices",
                       description="Print what a file or store written by roma holds, or (--devices) "
                                   "which compute devices torch sees.")
    p.add_argument("path", nargs="?", help="a .npz file, a .zarr store or a checkpoint directory")
    p.add_argument("--devices", action="store_true",
                   help="show torch's build, CPU threads, CUDA devices and whether triton is available")
    p.set_defaults(func=run)


def run(args) -> None:
    """Run ``roma info`` with the parsed command line: print the summary of PATH, or the devices.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line.

    Raises
    ------
    FileFormatError
        If neither PATH nor ``--devices`` is given, or PATH cannot be summarised.
    """
    if args.devices:
        print(devices())
        if args.path is None:
            return
    if args.path is None:
        raise FileFormatError("give a PATH to summarise, or --devices")
    print(describe(args.path))
