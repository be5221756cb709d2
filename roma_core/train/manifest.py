"""Write a manifest (sha256 of every file, specs, the regenerating command) for shipped assets.

    python -m roma_core.train.manifest PATH... --command "bash assets/regenerate.sh" --out manifest.json
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
from pathlib import Path


def _files(path: Path):
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]


def manifest(paths, command: str, root: Path) -> dict:
    """The manifest of shipped assets: each one's files with their sha256, its size, and
    what it is (a checkpoint's model and specs, a store's kind and specs).

    Parameters
    ----------
    paths : sequence of str or Path
        The assets (folders or files) under ``root``.
    command : str
        The command that regenerates them.
    root : Path
        Paths are recorded relative to this folder.

    Returns
    -------
    dict

    Raises
    ------
    CheckpointError
        If a checkpoint among them is damaged.
    """
    out = {"roma_kind": "manifest", "regenerate": command, "assets": []}
    for path in map(Path, paths):
        files = {str(f.relative_to(root)): hashlib.sha256(f.read_bytes()).hexdigest() for f in _files(path)}
        entry = {"path": str(path.relative_to(root)), "bytes": sum(f.stat().st_size for f in _files(path)),
                 "sha256": files}
        ck = path / "checkpoint.json"
        if ck.exists():
            from .checkpoint import read_state
            st = read_state(path)
            entry.update(kind="checkpoint", model=st["model"], model_spec=st["model_spec"],
                         train_spec=st["train_spec"], step=st["step"], params=st["params"])
        elif (path / "zarr.json").exists():
            attrs = json.loads((path / "zarr.json").read_text()).get("attributes", {})
            entry.update(kind=attrs.get("roma_kind"), spec=attrs.get("spec"), simulation=attrs.get("simulation"))
        out["assets"].append(entry)
    out["total_bytes"] = sum(a["bytes"] for a in out["assets"])
    return out


def main(argv=None) -> int:
    """The command line (see the module doc): write the manifest to ``--out`` atomically.

    Parameters
    ----------
    argv : list of str, optional
        The arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status (0).
    """
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("paths", nargs="+")
    ap.add_argument("--command", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    out = Path(args.out)
    # paths relative to the folder holding the assets folder: "assets/NAME", both in a
    # checkout (through the assets/ link) and in an installed package (roma_core/assets)
    data = manifest([Path(p).resolve() for p in args.paths], args.command, out.resolve().parent.parent)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, out)
    print(f"{out}: {len(data['assets'])} assets, {data['total_bytes'] / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
