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
    """The ``roma_kind`` a file or store records about itself."""
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


def describe(path) -> str:
    path = Path(path)
    kind = store_kind(path)
    if kind not in DESCRIBERS:
        raise FileFormatError(f"{path}: unknown roma_kind {kind!r}")
    module, func = DESCRIBERS[kind].split(":")
    return getattr(importlib.import_module(module), func)(path)


def register(sub) -> None:
    p = sub.add_parser("info", help="summarise a graph, trajectory, hierarchy or checkpoint",
                       description="Print what a file or store written by roma holds.")
    p.add_argument("path", help="a .npz file, a .zarr store or a checkpoint directory")
    p.set_defaults(func=lambda args: print(describe(args.path)))
