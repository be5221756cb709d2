"""The one renormalization-hierarchy type shared by the geometric, Laplacian and neural RGs.

Conventions
-----------
* Level 0 is the input graph; levels 1..L are coarser. ``sizes[l]`` is ``N_l``.
* ``assign[l]`` (scipy CSR, ``N_l × N_{l+1}``, non-negative, rows summing to 1) maps
  level ``l`` to level ``l + 1``; hard assignments are one-hot rows.
* ``coarsen(x, l)`` takes a signal on level ``l`` to level ``l + 1`` (or to ``target``);
  ``lift(y, l)`` takes a signal on level ``l + 1`` (or on ``source``) back to level ``l``,
  so ``lift(coarsen(x, l), l)`` returns any signal that is constant on supernodes.
* ``membership(l)`` maps every finest node to its supernode at level ``l``.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ..errors import FileFormatError, HierarchyError
from ..graphs import Graph
from ..graphs.graph import COORDINATES


ROW_SUM_TOL = 1e-6


@dataclass(frozen=True)
class Level:
    """One level of a hierarchy.

    Attributes
    ----------
    index : int
        The level (0 is the input graph).
    graph : roma_core.graphs.Graph
        Its graph.
    assign : scipy.sparse.csr_array or None
        The assignment to the next level (None at the top).
    sizes : numpy.ndarray
        Finest nodes in each of its nodes (column sums of the composed assignment;
        fractional for soft assignments).
    """

    index: int
    graph: Graph
    assign: sp.csr_array | None
    sizes: np.ndarray

    @property
    def num_nodes(self) -> int:
        """Nodes at this level."""
        return self.graph.num_nodes


class Hierarchy:
    """An ordered stack of graphs linked by assignment matrices.

    ``graphs[0]`` is the input graph, ``assign[l]`` maps level ``l`` to ``l + 1``; assignments
    may be given as scipy sparse, numpy or torch (dense or sparse) matrices.
    Built by :func:`~roma_core.renorm.geometric`, :func:`~roma_core.renorm.laplacian` or
    from a model's learned assignments.

    Parameters
    ----------
    graphs : list of roma_core.graphs.Graph
        One graph per level, ``graphs[0]`` the input graph.
    assign : list of matrices
        ``assign[l]`` maps level ``l`` to ``l + 1`` (``N_l x N_{l+1}``, non-negative, rows
        summing to 1); scipy sparse, numpy or torch (dense or sparse).
    spec : dict, optional
        JSON-serialisable record of how it was built (e.g. ``HierarchySpec(...).to_dict()``).
    meta : dict, optional
        Extra diagnostics (τ* per level, ...).
    name : str, optional
        Its name inside a store (default: from the spec's method).

    Raises
    ------
    roma_core.errors.HierarchyError
        When the shapes do not chain or a row does not sum to 1.
    """

    def __init__(self, graphs, assign, spec: dict | None = None, meta: dict | None = None,
                 name: str | None = None):
        self.graphs: list[Graph] = list(graphs)
        self.assign: list[sp.csr_array] = [_as_csr(a) for a in assign]
        self.spec = dict(spec or {})
        self.meta = dict(meta or {})
        self.name = name or str(self.spec.get("method", "hierarchy"))
        self._cache: dict = {}
        self._validate()

    # ------------------------------------------------------------ structure
    def _validate(self) -> None:
        if len(self.graphs) != len(self.assign) + 1:
            raise HierarchyError(f"a hierarchy with {len(self.assign)} assignment matrices needs "
                                 f"{len(self.assign) + 1} graphs, got {len(self.graphs)}")
        if not self.assign:
            raise HierarchyError("a hierarchy needs at least one coarsening level (levels >= 1)")
        for l, a in enumerate(self.assign):
            n0, n1 = self.graphs[l].num_nodes, self.graphs[l + 1].num_nodes
            if a.shape != (n0, n1):
                raise HierarchyError(f"assign[{l}] has shape {a.shape}, expected ({n0}, {n1}) "
                                     f"from the graphs of levels {l} and {l + 1}")
            if a.nnz and a.data.min() < 0:
                raise HierarchyError(f"assign[{l}] has negative entries; assignments are probabilities")
            rows = np.asarray(a.sum(axis=1)).ravel()
            bad = np.flatnonzero(np.abs(rows - 1.0) > ROW_SUM_TOL)
            if len(bad):
                raise HierarchyError(f"assign[{l}] rows must sum to 1; row {bad[0]} sums to {rows[bad[0]]:.6g} "
                                     f"({len(bad)} bad rows). Normalise the rows (soft) or use one-hot rows (hard).")

    @property
    def depth(self) -> int:
        """Number of coarsening steps L (levels are 0..L)."""
        return len(self.assign)

    @property
    def num_levels(self) -> int:
        """Number of levels including the input graph (L + 1)."""
        return len(self.graphs)

    @property
    def sizes(self) -> list[int]:
        """Node count per level ``[N_0, N_1, ..., N_L]``."""
        return [g.num_nodes for g in self.graphs]

    @property
    def graph(self) -> Graph:
        """The input (finest) graph."""
        return self.graphs[0]

    @property
    def is_hard(self) -> bool:
        """True when every assignment row is one-hot."""
        if "hard" not in self._cache:
            self._cache["hard"] = all(bool(np.all(np.diff(a.indptr) == 1)) and bool(np.allclose(a.data, 1.0))
                                      for a in self.assign)
        return self._cache["hard"]

    @property
    def levels(self) -> list[Level]:
        """Every level, finest first."""
        return [self.level(l) for l in range(self.num_levels)]

    def level(self, index: int) -> Level:
        """One level's graph, assignment and supernode sizes.

        Parameters
        ----------
        index : int
            The level (negative counts from the top).

        Returns
        -------
        Level

        Raises
        ------
        roma_core.errors.HierarchyError
            For a level out of range.
        """
        index = self._check_level(index, "level")
        assign = self.assign[index] if index < self.depth else None
        return Level(index, self.graphs[index], assign, self.supernode_sizes(index))

    def _check_level(self, level, what: str, top: int | None = None) -> int:
        top = self.depth if top is None else top
        if isinstance(level, bool) or not isinstance(level, (int, np.integer)):
            raise HierarchyError(f"{what} must be an integer level, got {level!r}")
        level = int(level)
        if level < 0:
            level += self.num_levels
        if not 0 <= level <= top:
            raise HierarchyError(f"{what} {level} is out of range: this hierarchy has levels 0..{self.depth}")
        return level

    def composed(self, source: int, target: int) -> sp.csr_array:
        """The assignment from one level to a coarser one (product of the per-level matrices;
        identity when equal).

        Parameters
        ----------
        source, target : int
            Levels, ``source <= target``.

        Returns
        -------
        scipy.sparse.csr_array
            ``N_source x N_target``.

        Raises
        ------
        roma_core.errors.HierarchyError
            For levels out of range or in the wrong order.
        """
        source = self._check_level(source, "source")
        target = self._check_level(target, "target")
        if target < source:
            raise HierarchyError(f"target level {target} is finer than source level {source}")
        key = ("P", source, target)
        if key not in self._cache:
            if target == source:
                m = sp.eye_array(self.sizes[source], format="csr")
            else:
                m = self.assign[source]
                for a in self.assign[source + 1:target]:
                    m = (m @ a).tocsr()
            self._cache[key] = _as_csr(m)
        return self._cache[key]

    def supernode_sizes(self, level: int) -> np.ndarray:
        """Finest nodes per node of a level.

        Parameters
        ----------
        level : int
            A level (negative counts from the top).

        Returns
        -------
        numpy.ndarray
            int64 for hard hierarchies, float for soft ones.
        """
        level = self._check_level(level, "level")
        key = ("sizes", level)
        if key not in self._cache:
            s = np.asarray(self.composed(0, level).sum(axis=0)).ravel()
            self._cache[key] = np.rint(s).astype(np.int64) if self.is_hard else s
        return self._cache[key]

    def membership(self, level: int) -> np.ndarray:
        """The supernode of every finest node at a level (soft rows follow their largest
        entry at each step).

        Parameters
        ----------
        level : int
            A level (negative counts from the top).

        Returns
        -------
        numpy.ndarray
            int64, length ``N_0``.
        """
        level = self._check_level(level, "level")
        key = ("member", level)
        if key not in self._cache:
            # from the nearest level below already known (one step per level, not all of them)
            start = max((l for l in range(level) if ("member", l) in self._cache), default=0)
            m = self._cache.get(("member", start))
            m = np.arange(self.sizes[0], dtype=np.int64) if m is None else m
            for l in range(start, level):
                m = self.parents(l)[m]
            self._cache[key] = m
        return self._cache[key]

    def parents(self, level: int) -> np.ndarray:
        """The supernode of level ``level + 1`` each node of ``level`` belongs to (soft rows
        follow their largest entry, as in :meth:`membership`).

        Parameters
        ----------
        level : int
            A level below the top (negative counts from the top).

        Returns
        -------
        numpy.ndarray
            int64, length ``N_level``.

        Raises
        ------
        roma_core.errors.HierarchyError
            For the top level or a level out of range.
        """
        level = self._check_level(level, "level")
        if level >= self.depth:
            raise HierarchyError(f"level {level} is the top of this hierarchy: it has no parents")
        key = ("parents", level)
        if key not in self._cache:
            self._cache[key] = _row_argmax(self.assign[level])
        return self._cache[key]

    def members(self, level: int, supernode: int) -> np.ndarray:
        """The finest nodes inside one supernode.

        Parameters
        ----------
        level : int
            A level (negative counts from the top).
        supernode : int
            A node of that level.

        Returns
        -------
        numpy.ndarray
            int64 node ids of level 0.

        Raises
        ------
        roma_core.errors.HierarchyError
            For a supernode or level out of range.
        """
        level = self._check_level(level, "level")
        n = self.sizes[level]
        if not 0 <= int(supernode) < n:
            raise HierarchyError(f"supernode {supernode} is out of range: level {level} has {n} nodes")
        key = ("order", level)
        if key not in self._cache:
            m = self.membership(level)
            order = np.argsort(m, kind="stable")
            ptr = np.concatenate([[0], np.cumsum(np.bincount(m, minlength=n))])
            self._cache[key] = (order, ptr)
        order, ptr = self._cache[key]
        return order[ptr[supernode]:ptr[supernode + 1]]

    # ------------------------------------------------------------ signals
    def coarsen(self, x, level: int, mode: str = "mean", target: int | None = None):
        """Take a signal to a coarser level.

        Parameters
        ----------
        x : numpy.ndarray or torch.Tensor
            Shaped ``(N_level, ...)``.
        level : int
            The signal's level.
        mode : {"mean", "mass"}
            ``"mean"``: each supernode gets the assignment-weighted mean of its members;
            ``"mass"``: the weighted sum (totals are preserved, since rows sum to 1).
        target : int, optional
            The coarser level (default ``level + 1``).

        Returns
        -------
        numpy.ndarray or torch.Tensor
            Shaped ``(N_target, ...)``, of ``x``'s kind.

        Raises
        ------
        roma_core.errors.HierarchyError
            For levels out of range or a signal with the wrong number of rows.
        """
        level = self._check_level(level, "level", top=self.depth - 1)
        target = level + 1 if target is None else self._check_level(target, "target")
        if target <= level:
            raise HierarchyError(f"coarsen goes to a coarser level: target {target} <= level {level}")
        _check_mode(mode)
        self._check_rows(x, level, "coarsen")
        p = self.composed(level, target)
        if mode == "mass":
            return _apply(p, x, True, cache=(self._cache, (level, target, True)))
        return _apply(p, x, True, scale=self._inverse_colsum(level, target),
                      cache=(self._cache, (level, target, True)))

    def lift(self, y, level: int, mode: str = "mean", source: int | None = None):
        """Take ``y`` on level ``source`` (default ``level + 1``) back to level ``level``:
        ``mode="mean"`` copies each supernode's value to its members (weighted by the soft
        assignment), ``mode="mass"`` shares it out in proportion to the assignment. For hard
        assignments ``lift(coarsen(x, l), l)`` returns any x constant on supernodes, and
        ``coarsen(lift(y, l, "mass"), l, "mass")`` returns y.

        Parameters
        ----------
        y : numpy.ndarray or torch.Tensor
            Shaped ``(N_source, ...)``.
        level : int
            The finer level to reach.
        mode : {"mean", "mass"}
            Copy values to members, or share them out.
        source : int, optional
            The signal's level (default ``level + 1``).

        Returns
        -------
        numpy.ndarray or torch.Tensor
            Shaped ``(N_level, ...)``.

        Raises
        ------
        roma_core.errors.HierarchyError
            For levels out of range or a signal with the wrong number of rows.
        """
        level = self._check_level(level, "level", top=self.depth - 1)
        source = level + 1 if source is None else self._check_level(source, "source")
        if source <= level:
            raise HierarchyError(f"lift comes from a coarser level: source {source} <= level {level}")
        _check_mode(mode)
        self._check_rows(y, source, "lift")
        p = self.composed(level, source)
        if mode == "mean":
            return _apply(p, y, False, cache=(self._cache, (level, source, False)))
        return _apply(p, y, False, pre_scale=self._inverse_colsum(level, source),
                      cache=(self._cache, (level, source, False)))

    def _inverse_colsum(self, a: int, b: int) -> np.ndarray:
        key = ("invcol", a, b)
        if key not in self._cache:
            self._cache[key] = _safe_inverse(np.asarray(self.composed(a, b).sum(axis=0)).ravel())
        return self._cache[key]

    def _check_rows(self, x, level: int, what: str) -> None:
        shape = tuple(x.shape) if hasattr(x, "shape") else np.shape(x)
        n = self.sizes[level]
        if len(shape) == 0 or shape[0] != n:
            raise HierarchyError(f"{what}: the signal has shape {shape} but level {level} has {n} nodes; "
                                 f"give an array shaped ({n},) or ({n}, ...)")

    # ------------------------------------------------------------ storage
    def _attrs(self, graphs_stored: list[int]) -> dict:
        return {"roma_kind": "hierarchy", "version": 1, "name": self.name, "spec": self.spec,
                "meta": self.meta, "sizes": self.sizes, "depth": self.depth,
                "input_fingerprint": self.graphs[0].fingerprint(), "graphs_stored": graphs_stored,
                "graphs": [{"directed": g.directed, "meta": g.meta} for g in self.graphs]}

    def _assign_arrays(self) -> dict:
        out = {}
        for l, a in enumerate(self.assign):
            out[f"assign_{l}_indptr"] = a.indptr.astype(np.int64)
            out[f"assign_{l}_indices"] = a.indices.astype(np.int64)
            out[f"assign_{l}_data"] = a.data.astype(np.float64)
        return out

    def save(self, path, name: str | None = None, include_input: bool | None = None) -> Path:
        """Write to ``.npz`` (atomically) or into a zarr store (``.zarr``) under
        ``hierarchy/<name>``; see :meth:`to_zarr`. An existing path is written only when
        ROMA wrote it (it carries ROMA's marker).

        Parameters
        ----------
        path : str or os.PathLike
            A ``.npz`` file or a ``.zarr`` store (new, or e.g. a trajectory's).
        name : str, optional
            Its name in a store; default :attr:`name`.
        include_input : bool, optional
            Store the input graph too; default: unless the store already holds it.

        Returns
        -------
        pathlib.Path
            The path written.

        Raises
        ------
        roma_core.errors.FileFormatError
            For another suffix.
        roma_core.errors.StoreError
            (``NotOwnedError``) If ``path`` exists and ROMA did not write it; it is left untouched.
        """
        from ..data.store import refuse_unowned

        path = Path(path)
        if path.suffix not in (".npz", ".zarr"):
            raise FileFormatError(f"{path}: hierarchies are saved as .npz or into a .zarr store")
        if path.exists() or path.is_symlink():
            refuse_unowned(path)
        if path.suffix == ".zarr":
            import zarr
            root = zarr.open_group(str(path), mode="a")
            if "roma_kind" not in root.attrs:
                root.attrs["roma_kind"] = "hierarchy"
            self.to_zarr(root, name=name, include_input=include_input)
            return path
        arrays = self._assign_arrays()
        for l, g in enumerate(self.graphs):
            for key, arr in g.arrays().items():
                arrays[f"graph_{l}_{key}"] = arr
        attrs = self._attrs(list(range(self.num_levels)))
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
        np.savez_compressed(tmp, __attrs__=np.array(_dumps(attrs)), **arrays)
        os.replace(tmp, path)
        return path

    def to_zarr(self, group, name: str | None = None, include_input: bool | None = None) -> None:
        """Store under ``group["hierarchy"][name]`` (replacing what was there). The input
        graph is omitted when ``group`` already holds it as ``graph`` (same fingerprint),
        as in a trajectory store, unless ``include_input=True``.

        Parameters
        ----------
        group : zarr.Group
            An open, writable group.
        name : str, optional
            Default :attr:`name`.
        include_input : bool, optional
            Store the input graph even when ``group`` holds it.
        """
        name = name or self.name
        if include_input is None:
            include_input = not _root_has_graph(group, self.graphs[0].fingerprint())
        parent = group.require_group("hierarchy")
        if name in parent:
            del parent[name]
        h = parent.require_group(name)
        for key, arr in self._assign_arrays().items():
            h.create_array(key, data=arr, chunks=(max(1, min(len(arr), 1 << 22)),))
        stored = [l for l in range(self.num_levels) if l > 0 or include_input]
        for l in stored:
            self.graphs[l].to_zarr(h, name=f"graph_{l}")
        h.attrs.update(json.loads(_dumps(self._attrs(stored))))

    @classmethod
    def from_zarr(cls, group, name: str | None = None) -> "Hierarchy":
        """Read a hierarchy stored by :meth:`to_zarr`.

        Parameters
        ----------
        group : zarr.Group
            An open group.
        name : str, optional
            Which hierarchy, when the group holds several.

        Returns
        -------
        Hierarchy

        Raises
        ------
        roma_core.errors.FileFormatError
            When the group holds no (or no such) hierarchy.
        """
        if "hierarchy" not in group:
            raise FileFormatError(f"{group.store}: no 'hierarchy' group in this store")
        parent = group["hierarchy"]
        names = sorted(parent.group_keys())
        if name is None:
            if len(names) != 1:
                raise FileFormatError(f"{group.store}: holds hierarchies {names}; pass name=")
            name = names[0]
        if name not in names:
            raise FileFormatError(f"{group.store}: no hierarchy {name!r}; it holds {names}")
        h = parent[name]
        attrs = dict(h.attrs)
        arrays = {k: h[k][:] for k in h.array_keys()}
        graphs = []
        for l in range(attrs["depth"] + 1):
            if f"graph_{l}" in h:
                graphs.append(Graph.from_zarr(h, name=f"graph_{l}"))
            else:
                g = Graph.from_zarr(group)
                if g.fingerprint() != attrs["input_fingerprint"]:
                    raise FileFormatError(f"{group.store}: the store's graph is not the hierarchy's input graph")
                graphs.append(g)
        return cls._from_parts(arrays, attrs, graphs)

    @classmethod
    def load(cls, path, name: str | None = None) -> "Hierarchy":
        """Read a hierarchy saved by :meth:`save`.

        Parameters
        ----------
        path : str or os.PathLike
            A ``.npz`` file or a zarr store.
        name : str, optional
            Which hierarchy of a store holding several.

        Returns
        -------
        Hierarchy

        Raises
        ------
        roma_core.errors.FileFormatError
            When the path holds no (or no such) hierarchy.
        """
        path = Path(path)
        if not path.exists():
            raise FileFormatError(f"{path}: no such file or store")
        if path.is_dir():
            import zarr
            return cls.from_zarr(zarr.open_group(str(path), mode="r"), name=name)
        try:
            with np.load(path, allow_pickle=False) as f:
                arrays = {k: f[k] for k in f.files}
        except (OSError, ValueError) as exc:
            raise FileFormatError(f"{path}: not a readable .npz ({exc})") from exc
        attrs = json.loads(str(arrays.pop("__attrs__"))) if "__attrs__" in arrays else {}
        if attrs.get("roma_kind") != "hierarchy":
            raise FileFormatError(f"{path}: not a ROMA hierarchy (roma_kind={attrs.get('roma_kind')!r})")
        graphs = []
        for l, gattrs in enumerate(attrs["graphs"]):
            part = {k[len(f"graph_{l}_"):]: v for k, v in arrays.items() if k.startswith(f"graph_{l}_")}
            graphs.append(Graph(part["indptr"], part["indices"], part.get("weights"), directed=gattrs["directed"],
                                meta=gattrs["meta"], **{c: part.get(c) for c in COORDINATES}))
        return cls._from_parts(arrays, attrs, graphs)

    @classmethod
    def _from_parts(cls, arrays: dict, attrs: dict, graphs: list[Graph]) -> "Hierarchy":
        sizes = attrs["sizes"]
        assign = [sp.csr_array((arrays[f"assign_{l}_data"], arrays[f"assign_{l}_indices"],
                                arrays[f"assign_{l}_indptr"]), shape=(sizes[l], sizes[l + 1]))
                  for l in range(attrs["depth"])]
        return cls(graphs, assign, spec=attrs.get("spec"), meta=attrs.get("meta"), name=attrs.get("name"))

    def spec_json(self) -> str:
        """The spec as JSON.

        Returns
        -------
        str
            Keys sorted, as stored with the hierarchy.
        """
        return _dumps(self.spec)

    # ------------------------------------------------------------ summary
    def describe(self) -> str:
        """A summary, one line per level (for ``roma info``).

        Returns
        -------
        str
        """
        kind = "hard" if self.is_hard else "soft"
        lines = [f"hierarchy {self.name!r}: {self.depth} coarsening level(s), {kind} assignments",
                 f"  spec: {self.spec_json()}"]
        for l, g in enumerate(self.graphs):
            coords = ", coordinates" if g.has_coordinates else ""
            extra = ""
            if l > 0:
                s = self.supernode_sizes(l)
                extra = f", supernode size mean {np.mean(s):.3g} max {np.max(s):.6g}"
            lines.append(f"  level {l}: {g.num_nodes:,} nodes, {g.num_edges:,} edges{coords}{extra}")
        for key, value in self.meta.items():
            lines.append(f"  {key}: {value}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"Hierarchy({self.name!r}, sizes={self.sizes})"


def describe(path) -> str:
    """Summary of a hierarchy file or store (used by ``roma info``).

    Parameters
    ----------
    path : str or os.PathLike
        A ``.npz`` file or a zarr store.

    Returns
    -------
    str
    """
    path = Path(path)
    if path.is_dir():
        import zarr
        root = zarr.open_group(str(path), mode="r")
        names = sorted(root["hierarchy"].group_keys()) if "hierarchy" in root else []
        if not names:
            raise FileFormatError(f"{path}: no hierarchy stored")
        return "\n".join(Hierarchy.from_zarr(root, n).describe() for n in names)
    return Hierarchy.load(path).describe()


# ---------------------------------------------------------------- helpers
def _as_csr(a) -> sp.csr_array:
    if _is_torch(a):
        a = a.detach().cpu()
        a = a.to_dense().numpy() if a.is_sparse else a.numpy()
    a = sp.csr_array(a)
    a.sum_duplicates()
    a.sort_indices()
    return a


def _row_argmax(a: sp.csr_array) -> np.ndarray:
    """Column of the largest entry of each row (rows are never empty: they sum to 1)."""
    counts = np.diff(a.indptr)
    if np.all(counts == 1):
        return a.indices.astype(np.int64)
    return np.asarray(a.argmax(axis=1)).ravel().astype(np.int64)


def _check_mode(mode: str) -> None:
    if mode not in ("mean", "mass"):
        raise HierarchyError(f"mode must be 'mean' or 'mass', got {mode!r}")


def _safe_inverse(v: np.ndarray) -> np.ndarray:
    out = np.zeros_like(v, dtype=np.float64)
    out[v > 0] = 1.0 / v[v > 0]
    return out


def _apply(p: sp.csr_array, x, transpose: bool, scale=None, pre_scale=None, cache=None):
    """``(p.T if transpose else p) @ x`` over the first axis of numpy arrays or torch
    tensors; ``pre_scale``/``scale`` multiply rows before/after."""
    if _is_torch(x):
        return _apply_torch(p, x, transpose, scale, pre_scale, cache)
    x = np.asarray(x)
    shape = x.shape
    x2 = x.reshape(shape[0], -1)
    if not np.issubdtype(x2.dtype, np.inexact):
        x2 = x2.astype(np.float64)
    if pre_scale is not None:
        x2 = x2 * pre_scale[:, None]
    m = p.T if transpose else p
    y = np.asarray(m @ x2)
    if scale is not None:
        y = y * scale[:, None]
    return y.reshape((m.shape[0],) + shape[1:])


def _is_torch(x) -> bool:
    return type(x).__module__.startswith("torch")


def _apply_torch(p, x, transpose, scale, pre_scale, cache):
    import torch

    shape = tuple(x.shape)
    dtype = x.dtype if x.is_floating_point() or x.is_complex() else torch.get_default_dtype()
    x2 = x.reshape(shape[0], -1).to(dtype)
    if pre_scale is not None:
        x2 = x2 * torch.as_tensor(pre_scale, dtype=dtype, device=x.device)[:, None]
    store, key = cache if cache is not None else ({}, None)
    key = ("torch", key, dtype, str(x.device))
    if key not in store:
        m = (p.T if transpose else p).tocoo()
        idx = torch.from_numpy(np.stack([m.row, m.col]).astype(np.int64)).to(x.device)
        store[key] = torch.sparse_coo_tensor(idx, torch.as_tensor(m.data, dtype=dtype, device=x.device),
                                             m.shape, check_invariants=False).coalesce()
    mat = store[key]
    y = torch.sparse.mm(mat, x2)
    if scale is not None:
        y = y * torch.as_tensor(scale, dtype=dtype, device=x.device)[:, None]
    return y.reshape((mat.shape[0],) + shape[1:])


def _root_has_graph(group, fingerprint: str) -> bool:
    try:
        return "graph" in group and group["graph"].attrs.get("fingerprint") == fingerprint
    except Exception:  # noqa: BLE001 - a store without a readable graph simply lacks one
        return False


def _json_default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def _dumps(obj) -> str:
    return json.dumps(obj, default=_json_default, sort_keys=True)
