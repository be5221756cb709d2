"""Ensembles: members (seeds seed, seed+1, ...) run as Dask tasks, one store with a
``member`` dimension. Workers write their member straight into the store, so the store's
folder must be visible to them (always so with the default LocalCluster)."""
from __future__ import annotations

import os

import numpy as np
import torch
import xarray as xr

from ..errors import SimulationError, SpecError
from ..progress import ProgressCallback, report
from .simulate import Run, as_spec, simulate, simulation_spec


def _member(spec_json: str, kind: str, graph, sim_kw: dict, member: int, path, backend: str):
    """One member, run inside a Dask worker (one thread: the workers share the cores)."""
    import numba

    from ..data.stream import ZarrSink
    from ..specs import BurgersSpec, KuramotoSpec

    numba.set_num_threads(1)
    torch.set_num_threads(1)
    spec = (KuramotoSpec if kind == "KuramotoSpec" else BurgersSpec).from_json(spec_json)
    if path is None:
        return simulate(spec, graph, backend=backend, **sim_kw)
    sim = simulation_spec(sim_kw["t_end"], sim_kw["dt"], sim_kw["save_every"], sim_kw["seed"],
                          sim_kw["device"], sim_kw["dtype"], sim_kw["method"])
    run = Run(spec, graph, sim, sim_kw["dtype"], None, backend)
    sink = ZarrSink(path, run, member)
    run.execute(sink)
    sink.close()
    return member


def _client(client, members: int):
    """(client, owned): a LocalCluster of processes for None/'local', a scheduler address
    for a string, or the given ``distributed.Client``."""
    from dask.distributed import Client, LocalCluster

    if client is None or client == "local":
        cluster = LocalCluster(n_workers=max(1, min(members, os.cpu_count() or 1)), threads_per_worker=1,
                               processes=True, dashboard_address=None)
        return Client(cluster), True
    if isinstance(client, str):
        try:
            return Client(client, timeout="20s"), True
        except OSError as exc:
            raise SimulationError(f"cannot reach the Dask scheduler at {client!r}: {exc}") from exc
    return client, False


def simulate_ensemble(dynamics, graph, t_end: float, dt: float, save_every: int = 1, members: int = 8,
                      seed: int = 0, client=None, device="cpu", dtype=torch.float32, method: str = "auto",
                      progress: ProgressCallback | None = None, out=None, overwrite: bool = False,
                      chunks=None, backend: str = "auto") -> xr.Dataset:
    """Run ``members`` independent simulations (member m uses seed ``seed + m``) on Dask and
    return one Dataset with a ``member`` dimension (``state(member, time, node)``, per-member
    inputs, ``member_seed``).

    Parameters
    ----------
    dynamics : KuramotoSpec or BurgersSpec or str
        The system and its parameters (``"kuramoto"``/``"burgers"`` for the defaults).
    graph : roma_core.graphs.Graph
        The graph it lives on.
    t_end : float
        Integrate from t = 0 to ``t_end`` (``round(t_end / dt)`` steps).
    dt : float
        Time step.
    save_every : int
        Steps between stored frames (the initial state is frame 0).
    members : int
        Number of independent runs (at least 1).
    seed : int
        Member m uses seed ``seed + m``.
    client : distributed.Client or str, optional
        A Dask client, a scheduler address (``"tcp://host:8786"``), or None / ``"local"``
        for a LocalCluster of processes (closed afterwards).
    device, dtype, method, backend
        As in :func:`simulate`, for every member.
    progress : callable, optional
        ``progress(done, total)`` over the members.
    out : str or os.PathLike, optional
        A ``.zarr`` path the workers write into (atomically renamed at the end); on a
        remote cluster it must be on a file system the workers share.
    overwrite : bool
        Replace an existing store that ROMA wrote.
    chunks : tuple of int, optional
        ``(time, node)`` chunk sizes of the store.

    Returns
    -------
    xarray.Dataset
        With a ``member`` dimension.

    Raises
    ------
    roma_core.errors.SpecError
        For fewer than one member or invalid parameters.
    roma_core.errors.SimulationError
        When the scheduler cannot be reached; a failing member's error is raised as is.
    """
    from ..data.store import check_target, commit, discard, temp_path
    from ..data.stream import ensemble_template
    from ..data.trajectory import open_trajectory, write_store

    if not isinstance(members, (int, np.integer)) or members < 1:
        raise SpecError(f"members must be a whole number >= 1, got {members!r}")
    spec = as_spec(dynamics)
    sim = simulation_spec(t_end, dt, save_every, seed, device, dtype, method)
    path = check_target(out, overwrite).resolve() if out is not None else None   # workers may run elsewhere
    first = Run(spec, graph, sim, dtype, None, backend)          # validates everything before any worker starts
    seeds = [int(seed) + m for m in range(members)]
    tmp = temp_path(path) if path is not None else None
    dask_client, owned = _client(client, members)
    try:
        if tmp is not None:
            write_store(ensemble_template(first, members, seeds, chunks), tmp, graph, chunks, compute=False)
        del first
        remote_graph = dask_client.scatter(graph, broadcast=True)
        kw = dict(t_end=float(t_end), dt=float(dt), save_every=int(save_every), device=str(device),
                  dtype=sim.dtype, method=method)
        futures = [dask_client.submit(_member, spec.to_json(), type(spec).__name__, remote_graph,
                                      kw | {"seed": s}, m, None if tmp is None else str(tmp), backend,
                                      key=f"roma-member-{m}-{os.getpid()}-{id(kw)}", pure=False)
                   for m, s in enumerate(seeds)]
        from dask.distributed import as_completed

        results = {}
        report(progress, 0, members)
        for done, fut in enumerate(as_completed(futures), 1):
            value = fut.result()
            if tmp is None:
                results[int(value.attrs["seed"]) - int(seed)] = value
            report(progress, done, members)
        if tmp is not None:
            commit(tmp, path, overwrite)
            return open_trajectory(path)
        parts = [results[m] for m in range(members)]
        coupling = parts[0]["coupling"] if "coupling" in parts[0] else None
        ds = xr.concat([p.drop_vars("coupling", errors="ignore") for p in parts], dim="member",
                       combine_attrs="override")
        if coupling is not None:
            ds["coupling"] = coupling
        ds = ds.assign_coords(member=np.arange(members, dtype=np.int64))
        ds["member_seed"] = ("member", np.asarray(seeds, dtype=np.int64))
        ds.attrs["members"] = members
        return ds
    except BaseException:
        if tmp is not None:
            discard(tmp)
        raise
    finally:
        if owned:
            cluster = getattr(dask_client, "cluster", None)
            dask_client.close()
            if cluster is not None:
                cluster.close()
