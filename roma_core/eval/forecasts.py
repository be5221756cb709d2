"""Forecast stores: what ``roma evaluate --forecast-out`` writes, a zarr directory with the
forecast beside the truth and, with intervals, their ``lower`` and ``upper`` ends, in the
trajectory's own state units (written atomically; ROMA-owned stores only).

Layout of ``forecast.zarr``::

    zarr.json              root attrs: roma_kind="forecast", model, checkpoint, data, split, ...
    window, node, step     coordinates (step 1 … horizon); start(window), time(window, step)
    forecast, truth        (window, node, step): θ in (−π, π] for phases, else the state
    lower, upper           (window, node, step), with --intervals: for phases the ends of the
                           arc θ̂ ∓ r (radians, unwrapped around θ̂: lower may lie below −π and
                           upper above π, the arc wraps); else the box x̂ ∓ r
    radius                 (group, step), with --intervals: r per degree group and step
    node_group             (node), with --intervals: each node's degree group (its row of radius)
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from ..data.store import check_target, write_atomically
from ..errors import FileFormatError, StoreError

KIND = "forecast"


def forecast_dataset(f, windows, starts, attrs: dict, interval: dict | None = None) -> xr.Dataset:
    """A forecast (and its intervals) as a Dataset in the trajectory's state units.

    Parameters
    ----------
    f : Forecast
        Prediction and truth, (B, N, horizon, C) model features.
    windows : roma_core.data.windows.Windows
        The windows forecast (their transform is undone).
    starts : array_like of int
        The B window starts.
    attrs : dict
        Run attributes stored at the root (model, checkpoint, data, ...).
    interval : dict, optional
        ``level``, ``radius`` ((G, horizon) in feature units), ``groups`` ((N,) int) and
        ``calibration`` (a description): adds ``lower``, ``upper``, ``radius`` and ``group``.

    Returns
    -------
    xarray.Dataset
    """
    from . import intervals as iv

    starts = np.asarray(starts, np.int64)
    horizon = f.values.shape[2]
    phase = windows.features == "phase"
    if phase:
        centre, truth = iv._angle(f.values), iv._angle(f.target)
        unit, scale, shift = "rad", 1.0, 0.0
    else:
        scale, shift = windows.norm[1], windows.norm[0]
        centre, truth = f.values[..., 0] * scale + shift, f.target[..., 0] * scale + shift
        unit = ""
    dims = ("window", "node", "step")
    idx = starts[:, None] + windows.lookback + np.arange(horizon)[None]
    data = {"forecast": (dims, centre.astype(np.float32), {"long_name": "point forecast", "units": unit}),
            "truth": (dims, truth.astype(np.float32), {"long_name": "true state", "units": unit})}
    coords = {"window": np.arange(len(starts)), "node": np.arange(f.values.shape[1]),
              "step": np.arange(1, horizon + 1),
              "start": ("window", starts, {"long_name": "index of the window's first input frame"}),
              "time": (("window", "step"), windows.times[idx], {"long_name": "time of the forecast frame"})}
    root = {"roma_kind": KIND, "features": windows.features, **attrs}
    if interval is not None:
        g = np.asarray(interval["groups"], int)
        radius = np.asarray(interval["radius"], float)
        lo, hi = iv.bounds(f.values, radius, windows.features, g)
        if not phase:
            lo, hi = lo[..., 0] * scale + shift, hi[..., 0] * scale + shift
        ends = "the arc's ends θ̂ ∓ r (radians around the forecast; the arc may wrap past ±π)" if phase \
            else "the box's ends x̂ ∓ r"
        level = float(interval["level"])
        data["lower"] = (dims, lo.astype(np.float32), {"long_name": f"lower end at level {level:g}: {ends}",
                                                         "units": unit})
        data["upper"] = (dims, hi.astype(np.float32), {"long_name": f"upper end at level {level:g}: {ends}",
                                                         "units": unit})
        data["radius"] = (("group", "step"), (np.minimum(radius, np.pi) if phase else radius * scale),
                          {"long_name": "half-width r of the interval per degree group and step", "units": unit})
        data["node_group"] = ("node", g, {"long_name": "degree group of the node (its row of radius)"})
        root.update(interval_level=level, interval_kind="arc" if phase else "box",
                    interval_calibration=str(interval.get("calibration", "")))
    return xr.Dataset(data, coords=coords, attrs=root)


def save_forecast(ds: xr.Dataset, path, overwrite: bool = False) -> Path:
    """Write a forecast store atomically (temporary name, then rename).

    Parameters
    ----------
    ds : xarray.Dataset
        What :func:`forecast_dataset` returns.
    path : str or os.PathLike
        The ``.zarr`` directory to write.
    overwrite : bool
        Replace an existing store that ROMA wrote.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    roma_core.errors.StoreError
        When ``path`` exists and ``overwrite`` is false, or ROMA did not write it, or its
        folder is missing.
    """
    path = check_target(path, overwrite)
    return write_atomically(path, overwrite,
                            lambda tmp: ds.to_zarr(str(tmp), mode="w-", consolidated=False, zarr_format=3))


def open_forecast(path) -> xr.Dataset:
    """Open a forecast store.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    xarray.Dataset

    Raises
    ------
    roma_core.errors.StoreError
        When the path does not exist.
    roma_core.errors.FileFormatError
        When it is not a ROMA forecast store.
    """
    path = Path(path)
    if not path.exists():
        raise StoreError(f"{path}: no such forecast store")
    try:
        ds = xr.open_zarr(str(path), consolidated=False)
    except (OSError, ValueError, KeyError) as exc:
        raise FileFormatError(f"{path}: not a readable forecast store ({exc})") from exc
    if ds.attrs.get("roma_kind") != KIND:
        raise FileFormatError(f"{path}: not a ROMA forecast store (roma_kind={ds.attrs.get('roma_kind')!r})")
    return ds
