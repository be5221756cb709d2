"""Streaming frames of a running simulation into a zarr trajectory store.

The store's layout (coordinates, per-node inputs, attrs, graph) is written first with
placeholder arrays; frames are buffered one row of time chunks at a time and written in
place, so memory stays at O(N + E) plus that buffer. :class:`FrameWriter` hands the
frames over from a background thread while the integration goes on."""
from __future__ import annotations

import queue
import threading

import dask.array as da
import numpy as np
import torch
import xarray as xr

from ..errors import SimulationError

from .store import check_target, write_atomically
from .trajectory import default_chunks, open_trajectory, write_store


def placeholder(shape, dtype, chunks) -> da.Array:
    """A lazy array of zeros, laid out in the store and filled later.

    Parameters
    ----------
    shape : tuple of int
    dtype : numpy.dtype
    chunks : tuple of int

    Returns
    -------
    dask.array.Array
    """
    return da.zeros(shape, dtype=dtype, chunks=chunks)


def template(run, chunks=None) -> xr.Dataset:
    """The run's Dataset with lazy placeholders for the state and the observable.

    Parameters
    ----------
    run : roma_core.dynamics.simulate.Run
        The prepared run (graph, times, system).
    chunks : tuple of int, optional
        (time, node) chunk sizes; :func:`~roma_core.data.trajectory.default_chunks` when omitted.

    Returns
    -------
    xarray.Dataset
    """
    n_time, n_node = len(run.times), run.graph.num_nodes
    ct, cn = chunks or default_chunks(n_time, n_node, np.dtype(run.system.np_dtype).itemsize)
    state = placeholder((n_time, n_node), run.system.np_dtype, (ct, cn))
    return run.dataset(state, placeholder((n_time,), np.float64, (n_time,)))


def ensemble_template(run, members: int, seeds, chunks=None) -> xr.Dataset:
    """As :func:`template` with a leading ``member`` dimension on everything a seed changes.

    Parameters
    ----------
    run : roma_core.dynamics.simulate.Run
        The prepared run (graph, times, system).
    members : int
        The number of members.
    seeds : sequence of int
        Each member's seed.
    chunks : tuple of int, optional
        (time, node) chunk sizes; :func:`~roma_core.data.trajectory.default_chunks` when omitted.

    Returns
    -------
    xarray.Dataset
    """
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


class FrameWriter:
    """Passes a run's frames to ``sink.frame`` from a background thread, so that copying a
    frame off the device, checking it, computing its observable and writing it (zarr
    compression included) overlap the next steps.

    :meth:`put` copies the state into one of ``depth`` host buffers (on CUDA a
    non-blocking copy into pinned memory: the step loop never waits for the device) and
    waits only while every buffer is still in use. An error in the thread (a state that
    is no longer finite, a failed write) is raised by the next :meth:`put` or on leaving
    the ``with`` block, which waits for the last frame.

    Parameters
    ----------
    sink : MemorySink or ZarrSink
        Receives ``frame(index, state, observable)`` in order, the state in the graph's order.
    system : roma_core.dynamics.systems.System
        Gives the observable and the graph's node order.
    dt : float
        The time step, named in the message about a state that is no longer finite.
    depth : int
        Host buffers: frames in flight at most.
    """

    def __init__(self, sink, system, dt: float, depth: int = 2):
        self.sink, self.system, self.dt, self.depth = sink, system, dt, depth
        self.free: queue.Queue = queue.Queue()
        self.todo: queue.Queue = queue.Queue()
        self.buffers = 0
        self.error: BaseException | None = None
        self.stopping = False
        self.thread = threading.Thread(target=self._work, name="roma-frames", daemon=True)
        self.thread.start()

    def put(self, index: int, t: float, y: torch.Tensor) -> None:
        """Hand over a state.

        Parameters
        ----------
        index : int
            The frame's index.
        t : float
            Its time.
        y : torch.Tensor
            The state, in the system's order, on any device; copied before this returns
            (on CUDA, enqueued: the copy completes while the next steps run).
        """
        self._raise()
        if self.buffers < self.depth:
            self.buffers += 1
            buf = torch.empty(y.shape, dtype=y.dtype, pin_memory=y.is_cuda)
        else:
            buf = self.free.get()
        buf.copy_(y, non_blocking=y.is_cuda)
        copied = None
        if y.is_cuda:
            copied = torch.cuda.Event()
            copied.record()
        self.todo.put((index, t, buf, copied))

    def _work(self) -> None:
        while (item := self.todo.get()) is not None:
            index, t, buf, copied = item
            try:
                if self.error is None and not self.stopping:
                    if copied is not None:
                        copied.synchronize()
                    self._deliver(index, t, buf.numpy())
            except BaseException as exc:      # raised again in the caller's thread
                self.error = exc
            finally:
                self.free.put(buf)

    def _deliver(self, index: int, t: float, state: np.ndarray) -> None:
        if not np.isfinite(state).all():
            raise SimulationError(f"the state became NaN/infinite by t = {t:g}: the explicit step is unstable "
                                  f"for dt = {self.dt}; reduce dt")
        obs = self.system.observe(torch.from_numpy(state))
        self.sink.frame(index, self.system.external(state), obs)

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error

    def __enter__(self) -> FrameWriter:
        return self

    def __exit__(self, kind, exc, tb) -> None:
        self.stopping = kind is not None      # the run failed or was cancelled: drop what is left
        self.todo.put(None)
        self.thread.join()
        if kind is None:
            self._raise()


class ZarrSink:
    """Receives frames (in order) and writes them, a row of time chunks at a time.

    Parameters
    ----------
    path : str or Path
        A store laid out by :func:`template` (or :func:`ensemble_template`).
    run : roma_core.dynamics.simulate.Run
        The run whose frames arrive.
    member : int, optional
        The ensemble member written (``None``: a single run).
    """

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
        """Take frame ``index`` (the frames come in order); a full row of time chunks is written.

        Parameters
        ----------
        index : int
            The frame.
        state : numpy.ndarray
            The state of every node.
        obs : float
            The frame's observable.
        """
        self.buf[index - self.start] = state
        self.obs[index] = obs
        self.count = index - self.start + 1
        if self.count == self.ct:
            self.flush()

    def flush(self) -> None:
        """Write the frames buffered so far."""
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
        """Write what is buffered, the observable and (for an ensemble member) the member's inputs."""
        self.flush()
        name = self.run.system.observable
        if self.member is None:
            self.root[name][:] = self.obs
            return
        self.root[name][self.member] = self.obs
        for key, value in self.run.system.inputs.items():
            self.root[key][self.member] = value.astype(self.run.system.np_dtype)


def stream_to_zarr(run, out, overwrite: bool = False, chunks=None, progress=None) -> xr.Dataset:
    """Run ``run`` writing its frames into a new store at ``out`` (atomically).

    Parameters
    ----------
    run : roma_core.dynamics.simulate.Run
        The prepared run (graph, times, system).
    out : str or Path
        The new store.
    overwrite : bool
        Replace a store ROMA wrote at ``out``.
    chunks : tuple of int, optional
        (time, node) chunk sizes; :func:`~roma_core.data.trajectory.default_chunks` when omitted.
    progress : callable, optional
        ``progress(done, total)`` over the frames.

    Returns
    -------
    xarray.Dataset
        The store, opened.

    Raises
    ------
    StoreError
        If ``out`` exists (see :func:`~roma_core.data.store.check_target`).
    SimulationError
        If the run fails (the temporary store is removed).
    """
    path = check_target(out, overwrite)

    def write(tmp):
        write_store(template(run, chunks), tmp, run.graph, chunks, compute=False)
        sink = ZarrSink(tmp, run)
        run.execute(sink, progress)
        sink.close()

    write_atomically(path, overwrite, write)
    return open_trajectory(path)
