"""A workspace: the one folder a dashboard user reads from and writes into.

Every path a browser user gives goes through :meth:`Workspace.resolve`: relative paths are
taken inside the workspace; a path may end up inside the workspace, or (for reading only)
inside a read-only folder such as the shipped assets. Absolute paths elsewhere, ``..``
and symbolic links that lead out are refused with :class:`~roma_core.errors.AccessError`.
:meth:`Workspace.items` lists what the workspace holds (trajectory stores, graphs, training
runs, scaling results) for pickers; :meth:`Workspace.new_folder` gives each job its own
folder, so results stay after a restart.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import AccessError

APP_NAME = "roma-explorer"
KINDS = ("trajectory", "graph", "hierarchy", "run", "scaling")
MAX_DEPTH = 4          # folder levels searched for items
MAX_ITEMS = 1000       # items listed at most
# temporaries ROMA writes beside a target before renaming it into place, with the writer's pid:
# .NAME.tmp-PID-HEX (stores, netCDF), .ckpt_STEP.PID.tmp and .checkpoint.json.PID.tmp (checkpoints)
TEMPORARY = re.compile(r"^\..+(?:\.tmp-(?P<a>\d+)-[0-9a-f]{8}|\.(?P<b>\d+)\.tmp(?:\.\w+)?)$")


def default_root() -> Path:
    """The per-user data folder, the default workspace.

    Returns
    -------
    pathlib.Path
        ``$XDG_DATA_HOME/roma-explorer`` (``~/.local/share/roma-explorer``).
    """
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / APP_NAME


@dataclass(frozen=True)
class Item:
    """One thing found in a workspace.

    Attributes
    ----------
    kind : str
        One of :data:`KINDS`.
    path : pathlib.Path
        Its absolute path.
    label : str
        How it is shown to the user (the path relative to its root).
    """

    kind: str
    path: Path
    label: str


class Workspace:
    """The one folder a dashboard user reads from and writes into, plus read-only folders.

    Parameters
    ----------
    root : str or os.PathLike, optional
        The folder (created when missing); default :func:`default_root`.
    readonly : iterable of path
        Folders that may be read but not written (the shipped assets).

    Raises
    ------
    roma_core.errors.AccessError
        When the folder cannot be created.
    """

    def __init__(self, root=None, readonly=()):
        root = Path(root).expanduser() if root is not None else default_root()
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise AccessError(f"cannot create the workspace {root} ({exc.strerror}); give a writable "
                              "folder with --workspace") from exc
        self.root = root.resolve()
        self.readonly = tuple(Path(r).resolve() for r in readonly if Path(r).is_dir())
        # the folders as given too: a path may name them through a link (assets/ -> roma_core/assets)
        self._aliases = {Path(os.path.abspath(r)): Path(r).resolve() for r in (root, *readonly) if Path(r).is_dir()}

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"

    # ------------------------------------------------------------------ paths
    def resolve(self, given, *, write: bool = False) -> Path:
        """The absolute path meant by ``given`` (relative to the workspace unless absolute).
        Reading may reach the workspace and the read-only folders, writing only the workspace.

        Parameters
        ----------
        given : str or os.PathLike
            A path typed by the user.
        write : bool
            Whether it will be written.

        Returns
        -------
        pathlib.Path
            The resolved path, inside the allowed folders.

        Raises
        ------
        roma_core.errors.AccessError
            For empty paths, control characters, ``..`` or ``~``, paths outside the allowed
            folders, and symbolic links leading out, saying why.
        """
        text = str(given).strip()
        if not text:
            raise AccessError("no path given: pick an item of the workspace")
        if "\x00" in text or any(ord(c) < 32 for c in text):
            raise AccessError(f"{text!r}: control characters are not allowed in a path")
        path = Path(text)
        if ".." in path.parts:
            raise AccessError(f"{text}: '..' is not allowed; give a path inside the workspace")
        if path.parts and path.parts[0] == "~":
            raise AccessError(f"{text}: '~' is not allowed; give a path inside the workspace")
        lexical = path if path.is_absolute() else self.root / path
        bases = (self.root,) if write else (self.root, *self.readonly)
        where = "the workspace" if write else "the workspace or the shipped assets"
        lexical = self._unalias(lexical)
        if not any(_inside(lexical, b) for b in bases):
            raise AccessError(f"{text} is outside {where}; paths are relative to the workspace"
                              + (" (the shipped assets are read-only)" if write and self._readonly(lexical) else ""))
        real = lexical.resolve()
        if not any(_inside(real, b) for b in bases):
            raise AccessError(f"{text} leads outside {where} through a symbolic link; refused")
        return real

    def _unalias(self, path: Path) -> Path:
        """``path`` with a root named through a link replaced by the root itself."""
        for alias, real in self._aliases.items():
            if alias != real and _inside(path, alias):
                return real / path.relative_to(alias)
        return path

    def _readonly(self, path: Path) -> bool:
        return any(_inside(path, b) for b in self.readonly)

    def new_folder(self, kind: str) -> Path:
        """A fresh folder for one job: ``ROOT/<kind>/<date>-<time>-<random>``.

        Parameters
        ----------
        kind : str
            One of :data:`KINDS`, or another identifier.

        Returns
        -------
        pathlib.Path
            The folder, created.

        Raises
        ------
        roma_core.errors.AccessError
            For a kind that is not an identifier.
        """
        if kind not in KINDS and not kind.isidentifier():
            raise AccessError(f"{kind!r} is not a folder kind")
        folder = self.root / kind / f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
        folder.mkdir(parents=True)
        return folder

    def label(self, path) -> str:
        """How a path is shown to the user.

        Parameters
        ----------
        path : str or os.PathLike
            An absolute path.

        Returns
        -------
        str
            Relative to the workspace (or ``assets/…`` when shipped); as given elsewhere.
        """
        path = self._unalias(Path(path))
        for base, prefix in ((self.root, ""), *((b, b.name + "/") for b in self.readonly)):
            if _inside(path, base):
                return prefix + str(path.relative_to(base))
        return str(path)

    def sweep(self) -> list[Path]:
        """Remove the temporaries left in the workspace by writers that died (``kill -9``, a
        crash) before renaming them into place. A temporary of a process still alive is kept.

        Returns
        -------
        list of pathlib.Path
            What was removed.
        """
        removed = []
        for path in _temporaries(self.root, 0):
            m = TEMPORARY.match(path.name)
            if _alive(int(m.group("a") or m.group("b"))):
                continue
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
        return removed

    # ------------------------------------------------------------------ listing
    def items(self, kinds=KINDS) -> list[Item]:
        """What the workspace (then the read-only folders) holds.

        Parameters
        ----------
        kinds : iterable of str
            The kinds to list (default: all of :data:`KINDS`).

        Returns
        -------
        list of Item
            Newest first within each root, at most ``MAX_ITEMS``.
        """
        kinds = set(kinds)
        found: list[Item] = []
        for base in (self.root, *self.readonly):
            here = []
            for kind, path in _walk(base, 0):
                if kind in kinds:
                    here.append(Item(kind, path, self.label(path)))
                if len(found) + len(here) >= MAX_ITEMS:
                    break
            here.sort(key=lambda it: _mtime(it.path), reverse=True)
            found += here
        return found


def _inside(path: Path, base: Path) -> bool:
    return path == base or base in path.parents


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _kind(path: Path, is_dir: bool) -> str | None:
    """The kind of a workspace entry, or None (plain folders and other files)."""
    if is_dir:
        if (path / "checkpoint.json").is_file():
            return "run"
        meta = path / "zarr.json"
        if meta.is_file():
            try:
                kind = json.loads(meta.read_text()).get("attributes", {}).get("roma_kind")
            except (OSError, ValueError):
                return None
            return kind if kind in ("trajectory", "graph", "hierarchy") else None
        return None
    if path.name == "scaling.json":
        return "scaling"
    if path.suffix == ".npz":
        try:
            import numpy as np

            with np.load(path, allow_pickle=False) as f:
                kind = json.loads(str(f["__attrs__"])).get("roma_kind") if "__attrs__" in f.files else None
        except Exception:  # not a ROMA file
            return None
        return kind if kind in ("graph", "hierarchy") else None
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


def _temporaries(folder: Path, depth: int):
    """ROMA's temporaries under ``folder`` (not following links, not inside stores)."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        if entry.is_symlink():
            continue
        if TEMPORARY.match(entry.name):
            yield Path(entry.path)
        elif entry.is_dir(follow_symlinks=False) and depth < MAX_DEPTH \
                and not os.path.exists(os.path.join(entry.path, "zarr.json")):
            yield from _temporaries(Path(entry.path), depth + 1)


def _walk(folder: Path, depth: int):
    """(kind, path) of the items under ``folder``; hidden entries and links are skipped, items
    are not descended into."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith(".") or entry.is_symlink():
            continue
        path = Path(entry.path)
        is_dir = entry.is_dir(follow_symlinks=False)
        kind = _kind(path, is_dir)
        if kind is not None:
            yield kind, path
        elif is_dir and depth + 1 < MAX_DEPTH:
            yield from _walk(path, depth + 1)


__all__ = ["Workspace", "Item", "KINDS", "default_root"]
