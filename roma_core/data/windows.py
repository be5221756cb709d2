"""Training windows from a trajectory: lookback κ past states -> horizon τ future states.

Time is split in order into train / validation / test spans (no window crosses a span
border); held-out graphs are separate trajectories. States go through a feature transform
(``phase``: θ -> (sin θ, cos θ); ``identity``: standardised with the train span's mean and
standard deviation, recorded in :attr:`Windows.norm` so checkpoints can replay it).
"""
from __future__ import annotations

import json
import math

import numpy as np
import torch

from ..errors import SpecError

SPLITS = ("train", "val", "test", "all")


def min_frames(lookback: int, horizon: int, val_fraction: float = 0.15, test_fraction: float = 0.15) -> int:
    """The fewest frames a trajectory needs for a training window and, where their fractions
    are not 0, a validation and a test window (whose targets, ``horizon`` frames, lie wholly
    in their span; their history may reach back into the span before).

    Parameters
    ----------
    lookback, horizon : int
        The windows' past and future frames.
    val_fraction, test_fraction : float
        The shares of time held out, as :class:`Windows` takes them.

    Returns
    -------
    int
    """
    frames = lookback + horizon
    while True:
        n_val, n_test = int(round(frames * val_fraction)), int(round(frames * test_fraction))
        if frames - n_val - n_test >= lookback + horizon and (not val_fraction or n_val >= horizon) \
                and (not test_fraction or n_test >= horizon):
            return frames
        frames += 1


def detect_features(attrs: dict) -> str:
    """The feature transform a trajectory needs, judged from its attrs.

    Parameters
    ----------
    attrs : dict
        A trajectory's attributes (its spec JSON among them).

    Returns
    -------
    str
        ``"phase"`` for Kuramoto trajectories, else ``"identity"``.
    """
    text = json.dumps({k: str(v) for k, v in attrs.items()}).lower()
    return "phase" if "kuramoto" in text else "identity"


class Windows:
    """Windows over the states of a trajectory; :meth:`get` slices a batch.

    Parameters
    ----------
    graph : roma_core.graphs.Graph
        The trajectory's graph.
    states : array_like
        ``(T, N)`` raw states.
    lookback : int
        Past states per window (κ).
    horizon : int
        Future states per window (τ).
    stride : int
        Time steps between window starts.
    val_fraction, test_fraction : float
        Fractions of time held out at the end for validation and test.
    features : {"identity", "phase"}
        ``"phase"``: θ -> (sin θ, cos θ); ``"identity"``: standardised by ``norm``.
    norm : tuple of float, optional
        ``(mean, std)`` of the identity transform; default: of the train span.
    times : array_like, optional
        The time of every state; default ``0..T-1``.

    Raises
    ------
    roma_core.errors.SpecError
        For states of the wrong shape, an unknown transform, or a train span shorter than
        one window.
    """

    def __init__(self, graph, states, *, lookback: int, horizon: int, stride: int = 1,
                 val_fraction: float = 0.15, test_fraction: float = 0.15, features: str = "identity",
                 norm: tuple[float, float] | None = None, times=None):
        states = np.asarray(states)
        if states.ndim != 2 or states.shape[1] != graph.num_nodes:
            raise SpecError(f"states must be (time, node) with {graph.num_nodes} nodes, got {states.shape}")
        if features not in ("phase", "identity"):
            raise SpecError(f"features must be 'phase' or 'identity', got {features!r}")
        self.graph, self.raw = graph, states
        self.lookback, self.horizon, self.stride = int(lookback), int(horizon), int(stride)
        self.features = features
        self.times = np.arange(len(states), dtype=float) if times is None else np.asarray(times, float)
        t = len(states)
        n_test = int(round(t * test_fraction))
        n_val = int(round(t * val_fraction))
        self.bounds = {"train": (0, t - n_val - n_test), "val": (t - n_val - n_test, t - n_test),
                       "test": (t - n_test, t)}
        span = self.lookback + self.horizon
        if self.bounds["train"][1] - self.bounds["train"][0] < span and (val_fraction or test_fraction) < 1:
            raise SpecError(f"the train span has {self.bounds['train'][1]} time steps, fewer than lookback + "
                            f"horizon = {span}; simulate longer or shorten the windows")
        if features == "identity" and norm is None:
            lo, hi = self.bounds["train"]
            sample = states[lo:hi]
            norm = (float(np.mean(sample)), float(np.std(sample)) or 1.0)
        self.norm = norm if features == "identity" else None

    @classmethod
    def from_dataset(cls, ds, graph, *, features: str = "auto", **kw) -> "Windows":
        """Windows over a trajectory Dataset.

        Parameters
        ----------
        ds : xarray.Dataset
            With the variable ``state(time, node)``.
        graph : roma_core.graphs.Graph
            The trajectory's graph.
        features : {"auto", "phase", "identity"}
            ``"auto"``: ``"phase"`` for Kuramoto trajectories, else ``"identity"``.
        **kw
            Passed to :class:`Windows` (``lookback``, ``horizon``, ...).

        Returns
        -------
        Windows
        """
        if "state" not in ds:
            raise SpecError(f"the trajectory has no 'state' variable (variables: {list(ds.data_vars)})")
        if features == "auto":
            features = "phase" if str(ds.attrs.get("dynamics", "")).lower() == "kuramoto" else \
                detect_features(dict(ds.attrs) | dict(ds["state"].attrs))
        state = ds["state"].transpose("time", "node").values
        times = ds["time"].values if "time" in ds.coords else None
        return cls(graph, state, features=features, times=times, **kw)

    @property
    def channels(self) -> int:
        """Feature channels C per state: 2 for phases, 1 otherwise."""
        return 2 if self.features == "phase" else 1

    def transform(self, raw):
        """Model features of raw states.

        Parameters
        ----------
        raw : numpy.ndarray or torch.Tensor
            Raw states of any shape; a tensor is transformed on its device.

        Returns
        -------
        numpy.ndarray or torch.Tensor
            float32, of ``raw``'s kind, the same shape plus a trailing channel axis of size
            :attr:`channels`.
        """
        lib = torch if isinstance(raw, torch.Tensor) else np
        if self.features == "phase":
            feats = lib.stack([lib.sin(raw), lib.cos(raw)], -1)
        else:
            mean, std = self.norm
            feats = ((raw - mean) / std)[..., None]
        return feats.float() if lib is torch else feats.astype(np.float32)

    def starts(self, split: str) -> np.ndarray:
        """Window starts whose targets lie wholly in a split.

        Parameters
        ----------
        split : {"train", "val", "test", "all"}
            ``"all"``: the whole trajectory (for held-out graphs).

        Returns
        -------
        numpy.ndarray
            Start indices, ``stride`` apart.

        Raises
        ------
        roma_core.errors.SpecError
            For an unknown split.
        """
        if split not in SPLITS:
            raise SpecError(f"split must be one of {SPLITS}, got {split!r}")
        lo, hi = (0, len(self.raw)) if split == "all" else self.bounds[split]
        if split in ("val", "test"):    # history may reach back into the previous span
            lo = max(0, lo - self.lookback)
        last = hi - self.lookback - self.horizon
        return np.arange(lo, last + 1, self.stride) if last >= lo else np.zeros(0, np.int64)

    def get(self, starts, nodes=None):
        """A batch of windows.

        Parameters
        ----------
        starts : array_like of int
            Window starts.
        nodes : array_like of int, optional
            Node ids; default: every node.

        Returns
        -------
        x : numpy.ndarray
            ``(B, n, lookback, C)`` float32 past features.
        y : numpy.ndarray
            ``(B, n, horizon, C)`` float32 future features.
        """
        starts = np.asarray(starts, dtype=np.int64)
        span = self.lookback + self.horizon
        idx = starts[:, None] + np.arange(span)[None]
        if nodes is None:
            block = self.raw[idx]
        elif self.raw.flags.c_contiguous:    # one flat index: about 2x faster than indexing two axes
            block = self.raw.reshape(-1)[idx[:, :, None] * self.raw.shape[1] + np.asarray(nodes)[None, None, :]]
        else:
            block = self.raw[idx[:, :, None], np.asarray(nodes)[None, None, :]]
        feats = self.transform(block).transpose(0, 2, 1, 3)                   # (B, n, span, C)
        return np.ascontiguousarray(feats[:, :, :self.lookback]), np.ascontiguousarray(feats[:, :, self.lookback:])

    def to(self, device) -> "Windows":
        """Keep a copy of the raw states on ``device`` for :meth:`get_tensor`.

        Parameters
        ----------
        device : torch.device or str

        Returns
        -------
        Windows
            ``self``.
        """
        self.device_raw = torch.as_tensor(self.raw).to(device)
        return self

    def get_tensor(self, starts: torch.Tensor, nodes: torch.Tensor | None = None):
        """:meth:`get` on the device of :meth:`to`: no numpy work, no copy from the host.

        Parameters
        ----------
        starts : torch.Tensor
            int64 window starts on that device.
        nodes : torch.Tensor, optional
            int64 node ids on that device; default: every node.

        Returns
        -------
        x, y : torch.Tensor
            ``(B, n, lookback, C)`` and ``(B, n, horizon, C)`` float32, equal to :meth:`get`'s
            up to the last bit of the sine and cosine.
        """
        raw = getattr(self, "device_raw", None)
        if raw is None:
            raise RuntimeError("Windows.get_tensor needs the states on a device: call Windows.to(device) first")
        idx = starts[:, None] + torch.arange(self.lookback + self.horizon, device=raw.device)
        block = raw[idx] if nodes is None else raw[idx[:, :, None], nodes[None, None, :]]
        feats = self.transform(block).transpose(1, 2)                   # (B, n, span, C)
        return feats[:, :, :self.lookback].contiguous(), feats[:, :, self.lookback:].contiguous()

    def block_means(self, membership: np.ndarray, blocks: int, chunk: int = 64) -> np.ndarray:
        """Every frame's features averaged over each block's members: the whole graph's
        block moments (for the phase features, the blocks' complex order parameters),
        computed once per trajectory in O(T N), so a batch of any node subset can carry the
        far field.

        Parameters
        ----------
        membership : array_like of int
            ``(N,)`` the block of every node.
        blocks : int
            Number of blocks.
        chunk : int
            Frames transformed at a time (bounds memory).

        Returns
        -------
        numpy.ndarray
            ``(T, blocks, C)`` float32.
        """
        import scipy.sparse as sp

        membership = np.asarray(membership, dtype=np.int64)
        n, c = len(membership), self.channels
        share = 1.0 / np.maximum(np.bincount(membership, minlength=blocks), 1)[membership]
        mean = sp.csr_array((share, (membership, np.arange(n))), shape=(blocks, n))   # block means
        out = np.empty((len(self.raw), blocks, c), np.float32)
        for lo in range(0, len(self.raw), chunk):
            feats = self.transform(self.raw[lo:lo + chunk])                          # (t, N, C)
            t = len(feats)
            out[lo:lo + t] = (mean @ feats.transpose(1, 0, 2).reshape(n, t * c)).reshape(blocks, t, c).transpose(1, 0, 2)
        return out

    def node_features(self, pos_dim: int, supernodes: int):
        """Per-node inputs of the models; see :func:`node_features`.

        Parameters
        ----------
        pos_dim : int
            Laplacian-eigenvector positional encodings per node.
        supernodes : int
            Blocks of the prior (geometric) first level.

        Returns
        -------
        tuple of numpy.ndarray
            ``theta``, ``kappa``, ``pe``, ``prior``.
        """
        return node_features(self.graph, pos_dim, supernodes)


NEAR_BLOCK = 4     # nodes per fine angular block of the near field


def near_radii(scales: int) -> list[int]:
    """Half-widths r, in fine blocks of ``NEAR_BLOCK`` nodes, of the near field's angular
    windows: 0, 2, 8, 32 and on (windows of 4, 20, 68, 260 and on nodes).

    Parameters
    ----------
    scales : int

    Returns
    -------
    list of int
    """
    return [0] + [2 * 4 ** (j - 1) for j in range(1, scales)]


def angular_blocks(theta: np.ndarray) -> tuple[np.ndarray, int]:
    """Each node's fine block (``NEAR_BLOCK`` consecutive nodes in angular order) and the
    number of blocks.

    Parameters
    ----------
    theta : numpy.ndarray
        ``(N,)`` node angles.

    Returns
    -------
    block : numpy.ndarray
        ``(N,)`` int64.
    count : int
    """
    n = len(theta)
    block = np.empty(n, np.int64)
    block[np.argsort(theta, kind="stable")] = np.arange(n) // NEAR_BLOCK
    return block, -(-n // NEAR_BLOCK)


def near_table(fine: np.ndarray, radii: list[int], chunk: int = 16) -> torch.Tensor:
    """For every frame and fine block ``b``, the mean over the blocks ``b − r`` to ``b + r``
    (around the circle) at every radius: computed once per trajectory, so that a batch
    gathers its nodes' near field.

    Parameters
    ----------
    fine : numpy.ndarray
        ``(T, K, C)`` block means per frame (K blocks in angular order).
    radii : list of int
        Half-widths in blocks (capped at (K − 1) / 2).
    chunk : int
        Frames summed at a time (bounds memory).

    Returns
    -------
    torch.Tensor
        ``(T, K, S, C)`` float32, S = len(radii).
    """
    t, k, c = fine.shape
    radii = [min(r, (k - 1) // 2) for r in radii]
    pad = max(radii)
    ring = torch.arange(-pad, k + pad) % k
    at = torch.arange(k) + pad
    out = torch.empty(t, k, len(radii), c)
    for lo in range(0, t, chunk):
        part = torch.from_numpy(fine[lo:lo + chunk])[:, ring].double()
        cs = torch.nn.functional.pad(part.cumsum(1), (0, 0, 1, 0))        # cs[j] = sum of the first j
        for i, r in enumerate(radii):
            out[lo:lo + chunk, :, i] = ((cs[:, at + r + 1] - cs[:, at - r]) / (2 * r + 1)).float()
    return out


def node_angles(graph) -> np.ndarray:
    """The graph's node angles (float64), or angular order by node id where it has none.

    Parameters
    ----------
    graph : roma_core.graphs.Graph

    Returns
    -------
    numpy.ndarray
        ``(N,)``.
    """
    n = graph.num_nodes
    return graph.theta if graph.theta is not None else 2 * math.pi * np.arange(n) / max(n, 1)


def node_features(graph, pos_dim: int, supernodes: int):
    """Per-node inputs of the models.

    Parameters
    ----------
    graph : roma_core.graphs.Graph
        The graph (angles and hidden degrees are used when present, else angular order by
        node id and degrees).
    pos_dim : int
        Laplacian-eigenvector positional encodings per node (0: none).
    supernodes : int
        Blocks of consecutive angles in the prior first level.

    Returns
    -------
    theta : numpy.ndarray
        ``(N,)`` float32 angle in [0, 2π).
    kappa : numpy.ndarray
        ``(N,)`` float32 standardised log hidden degree.
    pe : numpy.ndarray
        ``(N, pos_dim)`` float32 positional encodings.
    prior : numpy.ndarray
        ``(N,)`` int64 prior first-level supernode (geometric-RG blocks in angular order).
    """
    from ..models.encodings import laplacian_pe

    n = graph.num_nodes
    theta = node_angles(graph)
    base = graph.kappa if graph.kappa is not None else np.maximum(graph.degree, 1).astype(float)
    logk = np.log(np.maximum(base, 1e-12))
    kappa = (logk - logk.mean()) / (logk.std() or 1.0)
    order = np.argsort(theta, kind="stable")
    prior = np.empty(n, np.int64)
    prior[order] = np.arange(n) * supernodes // max(n, 1)       # geometric-RG blocks in angular order
    pe = laplacian_pe(graph, pos_dim) if pos_dim else np.zeros((n, 0), np.float32)
    return (np.mod(theta, 2 * math.pi).astype(np.float32), kappa.astype(np.float32), pe, prior)
