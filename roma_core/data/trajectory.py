"""Trajectory stores: an ``xarray.Dataset`` with ``state(time, node)`` in a zarr directory
(chunked over time and node, written atomically) with the graph in the same store under
``graph/`` (``Graph.load(store)`` reads it); netCDF export for small runs.

Layout of ``run.zarr``::

    zarr.json              root attrs: roma_kind="trajectory", dynamics, spec, simulation, ...
    time, node             coordinates (member too, for ensembles)
    state                  (time, node) or (member, time, node)
    omega, initial, ...    per-node inputs ((member, node) for ensembles)
    order_parameter|mass   observable per frame; coupling (Kuramoto: K(t) at frame times)
    graph/                 the Graph (indptr, indices, theta, kappa, ...), roma_kind="graph"
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import FileFormatError, StoreError
from .store import check_target, write_atomically

KIND = "trajectory"
CHUNK_BYTES = 4 << 20          # target size of one stored chunk
BUFFER_BYTES = 256 << 20       # most memory one row of time chunks may take while streaming
NODE_CHUNK = 1 << 16


def default_chunks(n_time: int, n_node: int, itemsize: int) -> tuple[int, int]:
    """(time, node) chunk sizes: about CHUNK_BYTES each, a row of them under BUFFER_BYTES.

    Parameters
    ----------
    n_time, n_node : int
        The state's shape.
    itemsize : int
        Bytes per value.

    Returns
    -------
    tuple of int
    """
    cn = max(1, min(n_node, NODE_CHUNK))
    ct = max(1, CHUNK_BYTES // (cn * itemsize))
    ct = max(1, min(ct, n_time, BUFFER_BYTES // max(1, n_node * itemsize)))
    return ct, cn


def encoding(ds: xr.Dataset, chunks: tuple[int, int] | None = None) -> dict:
    """Zarr chunks for every variable with a time or node dimension.

    Parameters
    ----------
    ds : xarray.Dataset
        A trajectory.
    chunks : tuple of int, optional
        (time, node) chunk sizes; :func:`default_chunks` when omitted.

    Returns
    -------
    dict
        xarray's ``encoding`` argument of ``to_zarr``.
    """
    n_time, n_node = ds.sizes.get("time", 1), ds.sizes.get("node", 1)
    itemsize = ds["state"].dtype.itemsize if "state" in ds else 4
    ct, cn = chunks or default_chunks(n_time, n_node, itemsize)
    size = {"member": 1, "time": ct, "node": cn}
    return {name: {"chunks": tuple(min(size.get(d, n), n) for d, n in zip(var.dims, var.shape))}
            for name, var in ds.variables.items() if var.dims and name not in ("time", "node", "member")}


def write_store(ds: xr.Dataset, tmp: Path, graph=None, chunks=None, compute: bool = True):
    """Write ``ds`` (and ``graph``) as a new zarr store at ``tmp``; with ``compute=False``
    dask variables are only laid out (filled later by region writes).

    Parameters
    ----------
    ds : xarray.Dataset
        A trajectory.
    tmp : Path
        The new store (it must not exist).
    graph : Graph, optional
        Stored in the same store.
    chunks : tuple of int, optional
        (time, node) chunk sizes.
    compute : bool
        Write the data now.

    Returns
    -------
    dask.delayed.Delayed or zarr store
        What ``Dataset.to_zarr`` returns.
    """
    import zarr

    delayed = ds.to_zarr(str(tmp), mode="w-", encoding=encoding(ds, chunks), consolidated=False,
                         zarr_format=3, compute=compute)
    if graph is not None:
        graph.to_zarr(zarr.open_group(str(tmp), mode="a"))
    return delayed


def save_trajectory(ds: xr.Dataset, path, graph=None, overwrite: bool = False, chunks=None) -> Path:
    """Write a trajectory to a zarr directory atomically (temporary name, then rename).

    Parameters
    ----------
    ds : xarray.Dataset
        A ROMA trajectory (``state(time, node)``, ``roma_kind="trajectory"`` in attrs), as
        :func:`~roma_core.dynamics.simulate` returns.
    path : str or os.PathLike
        The ``.zarr`` directory to write.
    graph : roma_core.graphs.Graph, optional
        Stored in the same store (under ``graph``).
    overwrite : bool
        Replace an existing store that ROMA wrote.
    chunks : tuple of int, optional
        ``(time, node)`` chunk sizes; default: about a few MiB per chunk.

    Returns
    -------
    pathlib.Path
        The store written.

    Raises
    ------
    roma_core.errors.StoreError
        When ``path`` exists and ``overwrite`` is false, or ROMA did not write it, or its
        folder is missing.
        Also when ``ds`` is not a ROMA trajectory.
    """
    path = check_target(path, overwrite)
    _check_kind(ds, path)
    return write_atomically(path, overwrite, lambda tmp: write_store(ds, tmp, graph, chunks))


def open_trajectory(path) -> xr.Dataset:
    """Open a trajectory store (zarr, lazily with dask) or a netCDF export.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.zarr`` store or a ``.nc`` file written by ROMA.

    Returns
    -------
    xarray.Dataset
        ``state(time, node)``, the random inputs, observables and the run's attrs.

    Raises
    ------
    roma_core.errors.StoreError
        When the path does not exist.
    roma_core.errors.FileFormatError
        When it is not a readable ROMA trajectory.
    """
    path = Path(path)
    if not path.exists():
        raise StoreError(f"{path}: no such trajectory store")
    try:
        if path.is_dir():
            ds = xr.open_zarr(str(path), consolidated=False)
        else:
            ds = xr.open_dataset(path)
    except (OSError, ValueError, KeyError) as exc:
        raise FileFormatError(f"{path}: not a readable trajectory store ({exc})") from exc
    if ds.attrs.get("roma_kind") != KIND:
        raise FileFormatError(f"{path}: not a ROMA trajectory (roma_kind={ds.attrs.get('roma_kind')!r})")
    return ds


def trajectory_graph(path):
    """The graph stored with a trajectory.

    Parameters
    ----------
    path : str or os.PathLike
        A zarr store or a netCDF export.

    Returns
    -------
    roma_core.graphs.Graph

    Raises
    ------
    roma_core.errors.FileFormatError
        When no graph is stored with it.
    """
    from ..graphs import Graph

    path = Path(path)
    if path.is_dir():
        return Graph.load(path)
    ds = open_trajectory(path)
    if "graph_indptr" not in ds:
        raise FileFormatError(f"{path}: no graph stored in this netCDF file")
    coords = {c: ds[f"graph_{c}"].values for c in ("theta", "kappa", "radius") if f"graph_{c}" in ds}
    weights = ds["graph_weights"].values if "graph_weights" in ds else None
    return Graph(ds["graph_indptr"].values, ds["graph_indices"].values, weights,
                 directed=bool(ds.attrs.get("graph_directed", 0)), **coords)


def export_netcdf(source, path, graph=None, overwrite: bool = False, max_bytes: int = 2 << 30) -> Path:
    """Export a trajectory to netCDF, graph arrays included as ``graph_*`` variables.

    Parameters
    ----------
    source : xarray.Dataset or str or os.PathLike
        A trajectory, or the path of its store.
    path : str or os.PathLike
        The ``.nc`` file to write.
    graph : roma_core.graphs.Graph, optional
        The graph to include; default: the one stored with ``source`` (for a path).
    overwrite : bool
        Replace an existing file that ROMA wrote.
    max_bytes : int
        Refuse larger trajectories (netCDF export is for small runs).

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    roma_core.errors.StoreError
        When ``path`` exists and ``overwrite`` is false, or ROMA did not write it, or its
        folder is missing.
        Also when the data exceeds ``max_bytes``.
    """
    if not isinstance(source, xr.Dataset):
        graph = graph if graph is not None else trajectory_graph(source)
        source = open_trajectory(source)
    if source.nbytes > max_bytes:
        raise StoreError(f"the trajectory holds {source.nbytes / 2**30:.1f} GiB; netCDF export is for small "
                         f"runs (max_bytes={max_bytes}); keep the zarr store or select a subset first")
    path = check_target(path, overwrite)
    ds = source.load().copy()
    if graph is not None:
        if graph.nnz >= 2**31:
            raise StoreError("graph too large for netCDF export")
        ds["graph_indptr"] = ("graph_row", graph.indptr.astype(np.int32))
        ds["graph_indices"] = ("graph_entry", graph.indices.astype(np.int32))
        if graph.weights is not None:
            ds["graph_weights"] = ("graph_entry", graph.weights)
        for c in ("theta", "kappa", "radius"):
            if getattr(graph, c) is not None:
                ds[f"graph_{c}"] = ("node", getattr(graph, c))
        ds.attrs["graph_directed"] = int(graph.directed)
    for name in list(ds.variables):          # netCDF3 (scipy) has no int64
        if ds[name].dtype == np.int64:
            ds[name] = ds[name].astype(np.int32)
    ds.attrs = {k: (json.dumps(v) if isinstance(v, (dict, list, bool)) else v) for k, v in ds.attrs.items()}
    engine = _netcdf_engine()
    return write_atomically(path, overwrite, lambda tmp: ds.to_netcdf(
        tmp, engine=engine, format=None if engine != "scipy" else "NETCDF3_64BIT"))


def _netcdf_engine() -> str:
    for engine, module in (("netcdf4", "netCDF4"), ("h5netcdf", "h5netcdf")):
        try:
            __import__(module)
            return engine
        except ImportError:
            pass
    return "scipy"


def _check_kind(ds: xr.Dataset, path) -> None:
    if ds.attrs.get("roma_kind") != KIND or "state" not in ds:
        raise StoreError(f"{path}: refusing to save a dataset that is not a ROMA trajectory "
                         "(needs a 'state' variable and attrs roma_kind='trajectory')")


def describe(path) -> str:
    """A few lines summarising a trajectory store (for ``roma info``).

    Parameters
    ----------
    path : str or os.PathLike
        A trajectory store or netCDF export.

    Returns
    -------
    str
    """
    ds = open_trajectory(path)
    a = ds.attrs
    t = ds["time"].values
    lines = [f"{path}: ROMA trajectory ({a.get('dynamics', '?')})",
             f"  nodes {ds.sizes.get('node', 0):,}, frames {ds.sizes.get('time', 0):,}"
             + (f", members {ds.sizes['member']}" if "member" in ds.sizes else ""),
             f"  time {t[0]:g} .. {t[-1]:g} (dt {a.get('dt')}, a frame every {a.get('save_every')} steps)",
             f"  integrator {a.get('integrator')}, {a.get('dtype')} on {a.get('device')}, seed {a.get('seed')}",
             f"  graph fingerprint {a.get('graph_fingerprint')}",
             "  variables: " + ", ".join(f"{k}{tuple(v.dims)}" for k, v in sorted(ds.data_vars.items()))]
    for name in ("order_parameter", "mass"):
        if name in ds and ds[name].size:
            v = ds[name].values
            lines.append(f"  {name}: first {np.ravel(v[..., 0])[0]:.4g}, last {np.ravel(v[..., -1])[0]:.4g}")
    if "spec" in a:
        lines.append(f"  spec {a['spec']}")
    return "\n".join(lines)
