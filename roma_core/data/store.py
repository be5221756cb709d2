"""Atomic writes of directory stores and files: build under a temporary name beside the
target, rename into place on success, remove the temporary on failure.

Nothing of the user's is ever replaced: ``overwrite`` replaces an existing path only when
ROMA wrote it, and refuses anything else with :class:`NotOwnedError`, naming the path. What
ROMA wrote carries a marker: a run folder holds the file :data:`MARKER`; a zarr store holds
it in its root metadata (``zarr.json`` attribute ``roma_kind``: zarr warns about any other
file inside a store); a .npz or .nc file in its own attributes (``roma_kind``).
"""
from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

from ..errors import StoreError

MARKER = ".roma"


class NotOwnedError(StoreError):
    """``overwrite`` was asked for a path ROMA did not write; it is left untouched."""


def mark(folder, kind: str) -> None:
    """Record in ``folder`` that ROMA wrote it (``kind``: 'trajectory', 'run', ...).

    Parameters
    ----------
    folder : str or Path
        A folder ROMA wrote.
    kind : str
        What it is.
    """
    marker = Path(folder) / MARKER
    if not marker.is_file():
        marker.write_text(json.dumps({"roma_kind": kind, "written_by": "roma_core"}) + "\n")


def owned(path) -> bool:
    """Whether ROMA wrote ``path`` (see the module doc). Symbolic links are never owned.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    bool
    """
    path = Path(path)
    if path.is_symlink():
        return False
    if path.is_dir():
        marker = path / MARKER
        return (marker.is_file() and not marker.is_symlink()) or _roma_content(path / "zarr.json")
    return path.is_file() and _roma_content(path)


def _roma_content(path: Path) -> bool:
    """Whether the metadata of the file ``path`` carries ``roma_kind``."""
    if path.is_symlink() or not path.is_file():
        return False
    try:
        if path.name == "zarr.json":
            return "roma_kind" in json.loads(path.read_text()).get("attributes", {})
        if path.suffix == ".npz":
            import numpy as np

            with np.load(path, allow_pickle=False) as f:
                return "__attrs__" in f.files and "roma_kind" in json.loads(str(f["__attrs__"]))
        if path.suffix == ".nc":
            import xarray as xr

            with xr.open_dataset(path) as ds:
                return "roma_kind" in ds.attrs
    except Exception:  # unreadable or another format: not ours
        return False
    return False


def check_target(path, overwrite: bool) -> Path:
    """Fail early when ``path`` exists (unless ``overwrite`` and ROMA wrote it) or its folder
    is missing.

    Parameters
    ----------
    path : str or Path
        The target.
    overwrite : bool
        Whether an existing target may be replaced.

    Returns
    -------
    Path

    Raises
    ------
    StoreError
        If ``path`` exists and ``overwrite`` is false, or its folder is missing.
    NotOwnedError
        If ``path`` exists, ``overwrite`` is true, and ROMA did not write it.
    """
    path = Path(path)
    if path.exists() or path.is_symlink():
        if not overwrite:
            raise StoreError(f"{path} exists already; choose another path or pass overwrite=True (--overwrite)")
        refuse_unowned(path)
    if not path.parent.exists():
        raise StoreError(f"{path.parent} does not exist; create the folder first")
    return path


def refuse_unowned(path) -> None:
    """Raise :class:`NotOwnedError` unless ROMA wrote ``path`` (so overwriting may replace it).

    Parameters
    ----------
    path : str or Path

    Raises
    ------
    NotOwnedError
        If ROMA did not write ``path``.
    """
    if not owned(path):
        raise NotOwnedError(f"{path} was not written by ROMA (it carries no ROMA marker), so it is left "
                            "untouched; choose another path, or move it away yourself")


def temp_path(path) -> Path:
    """A fresh temporary sibling of ``path`` (same filesystem, so the rename is atomic).

    Parameters
    ----------
    path : str or Path
        The target.

    Returns
    -------
    Path
    """
    path = Path(path)
    return path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def commit(tmp: Path, path, overwrite: bool) -> Path:
    """Move ``tmp`` to ``path``; an existing ``path`` is replaced only when ``overwrite`` and
    ROMA wrote it.

    Parameters
    ----------
    tmp : Path
        What was written (removed when the move is refused).
    path : str or Path
        The target.
    overwrite : bool
        Whether an existing target may be replaced.

    Returns
    -------
    Path
        The target.

    Raises
    ------
    StoreError
        If ``path`` appeared while writing and ``overwrite`` is false.
    NotOwnedError
        If ``path`` exists and ROMA did not write it.
    """
    path = Path(path)
    old = None
    if path.exists() or path.is_symlink():
        if not overwrite:
            discard(tmp)
            raise StoreError(f"{path} appeared while writing; pass overwrite=True to replace it")
        try:
            refuse_unowned(path)
        except NotOwnedError:
            discard(tmp)
            raise
        old = temp_path(path)
        os.replace(path, old)
    os.replace(tmp, path)
    if old is not None:
        discard(old)
    return path


def write_atomically(path: Path, overwrite: bool, write) -> Path:
    """Write a store through a temporary sibling: ``write(tmp)``, then :func:`commit`; the
    temporary is removed whatever goes wrong, and ``path`` is untouched until the commit.

    Parameters
    ----------
    path : Path
        The target, checked already (:func:`check_target`).
    overwrite : bool
        Replace a store of ROMA's at ``path``.
    write : callable
        ``write(tmp)`` writes the whole store at ``tmp``.

    Returns
    -------
    Path
        ``path``.
    """
    tmp = temp_path(path)
    try:
        write(tmp)
        return commit(tmp, path, overwrite)
    except BaseException:
        discard(tmp)
        raise


def discard(tmp: Path) -> None:
    """Remove a temporary file or folder (nothing when it is gone already).

    Parameters
    ----------
    tmp : str or Path
    """
    tmp = Path(tmp)
    if tmp.is_dir():
        shutil.rmtree(tmp, ignore_errors=True)
    elif tmp.exists():
        tmp.unlink()
