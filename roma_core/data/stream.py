"""Streaming frames of a running simulation into a zarr trajectory store.

The store's layout (coordinates, per-node inputs, attrs, graph) is written first with
placeholder arrays; frames are buffered one row of time chunks at a time and written in
place, so memory stays at O(N + E) plus that buffer."""
from __future__ import annotations

import dask.array as da
import numpy as np
import xarray as xr

from .store import check_target, commit, discard, temp_path
from .trajectory import default_chunks, open_trajectory, write_store


def placeholder(shape, dtype, chunks) -> da.Array:
    return da.zeros(shape, dtype=dtype, chunks=chunks)


def template(run, chunks=None) -> xr.Dataset:
    """The run's Dataset with lazy placeholders for the state and the observable."""
    n_time, n_node = len(run.times), run.graph.num_nodes
    ct, cn = chunks or default_chunks(n_time, n_node, np.dtype(run.system.np_dtype).itemsize)
    state = placeholder((n_time, n_node), run.system.np_dtype, (ct, cn))
    return run.dataset(state, placeholder((n_time,), np.float64, (n_time,)))


def ensemble_template(run, members: int, seeds, chunks=None) -> xr.Dataset:
    """As :func:`template` with a leading ``member`` dimension on everything a seed changes."""
    ds = template(run, chunks)
    ct, cn = chunks or default_chunks(len(run.times), run.graph.num_nodes,
                                      np.dtype(run.system.np_dtype).itemsize)
    out = {}
    for name, var in ds.data_vars.items():
        if name == "coupling":
            out[name] = var
            continue
        shape = (members,) + var.shape
        blocks = (1, ct, cn) if name == "state" else (1,) + var.shape     # one member per chunk: no write races
        out[name] = xr.Variable(("member",) + var.dims, placeholder(shape, var.dtype, blocks), var.attrs)
    out["member_seed"] = xr.Variable(("member",), np.asarray(seeds, dtype=np.int64),
                                     {"long_name": "seed of each member"})
    coords = dict(ds.coords) | {"member": ("member", np.arange(members, dtype=np.int64))}
    attrs = dict(ds.attrs) | {"members": members}
    return xr.Dataset(out, coords=coords, attrs=attrs)


class ZarrSink:
    """Receives frames (in order) and writes them, a row of time chunks at a time."""

    def __init__(self, path, run, member: int | None = None):
        import zarr

        root = zarr.open_group(str(path), mode="r+")
        self.run, self.member = run, member
        self.root = root
        self.state = root["state"]
        self.ct = self.state.chunks[-2]
        self.buf = np.empty((self.ct, run.graph.num_nodes), dtype=run.system.np_dtype)
        self.start = 0
        self.count = 0
        self.obs = np.empty(len(run.times))

    def frame(self, index: int, state: np.ndarray, obs: float) -> None:
        self.buf[index - self.start] = state
        self.obs[index] = obs
        self.count = index - self.start + 1
        if self.count == self.ct:
            self.flush()

    def flush(self) -> None:
        if not self.count:
            return
        rows = slice(self.start, self.start + self.count)
        if self.member is None:
            self.state[rows] = self.buf[:self.count]
        else:
            self.state[self.member, rows] = self.buf[:self.count]
        self.start += self.count
        self.count = 0

    def close(self) -> None:
        self.flush()
        name = self.run.system.observable
        if self.member is None:
            self.root[name][:] = self.obs
            return
        self.root[name][self.member] = self.obs
        for key, value in self.run.system.inputs.items():
            self.root[key][self.member] = value.astype(self.run.system.np_dtype)


def stream_to_zarr(run, out, overwrite: bool = False, chunks=None, progress=None) -> xr.Dataset:
    """Run ``run`` writing its frames into a new store at ``out`` (atomically)."""
    path = check_target(out, overwrite)
    tmp = temp_path(path)
    try:
        write_store(template(run, chunks), tmp, run.graph, chunks, compute=False)
        sink = ZarrSink(tmp, run)
        run.execute(sink, progress)
        sink.close()
        commit(tmp, path, overwrite)
    except BaseException:
        discard(tmp)
        raise
    return open_trajectory(path)
