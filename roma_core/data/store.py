"""Atomic writes of directory stores and files: build under a temporary name beside the
target, rename into place on success, remove the temporary on failure."""
from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from ..errors import StoreError


def check_target(path, overwrite: bool) -> Path:
    """Fail early when ``path`` exists (unless ``overwrite``) or its folder is missing."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise StoreError(f"{path} exists already; choose another path or pass overwrite=True (--overwrite)")
    if not path.parent.exists():
        raise StoreError(f"{path.parent} does not exist; create the folder first")
    return path


def temp_path(path) -> Path:
    """A fresh temporary sibling of ``path`` (same filesystem, so the rename is atomic)."""
    path = Path(path)
    return path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def commit(tmp: Path, path, overwrite: bool) -> Path:
    """Move ``tmp`` to ``path``; an existing ``path`` is replaced only when ``overwrite``."""
    path = Path(path)
    old = None
    if path.exists():
        if not overwrite:
            discard(tmp)
            raise StoreError(f"{path} appeared while writing; pass overwrite=True to replace it")
        old = temp_path(path)
        os.replace(path, old)
    os.replace(tmp, path)
    if old is not None:
        discard(old)
    return path


def discard(tmp: Path) -> None:
    tmp = Path(tmp)
    if tmp.is_dir():
        shutil.rmtree(tmp, ignore_errors=True)
    elif tmp.exists():
        tmp.unlink()
