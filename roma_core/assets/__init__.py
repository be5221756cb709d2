"""The data shipped with the package, so that a fresh install opens on real data.

``kuramoto_2k.zarr`` (a Kuramoto trajectory with its 2,000-node graph inside),
``roma_kuramoto_2k`` (a ROMA checkpoint trained on it), ``scaling_kuramoto_2k`` (a scaling
ladder's points and fit) and ``manifest.json`` (the sha256 of every file, and the specs).
``regenerate.sh`` rebuilds them. In a checkout the folder is also reachable as ``assets/``.
"""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def asset_path(name: str = "") -> Path:
    """Where a shipped asset lies, found through the installed package (not the checkout).

    Parameters
    ----------
    name : str
        The asset's name inside the folder, e.g. ``"kuramoto_2k.zarr"``; empty for the folder.

    Returns
    -------
    pathlib.Path
        Its path on disk (it may not exist: callers check).
    """
    return Path(str(files(__name__))) / name
