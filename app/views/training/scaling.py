"""Scaling results of `roma scaling` (a ladder of model sizes and their losses): reading
them, the bootstrap band of the fitted power law, and the scaling plot."""
from __future__ import annotations

import copy
import functools
import json
from dataclasses import dataclass
from pathlib import Path

import holoviews as hv
import numpy as np
import pandas as pd

from roma_core.errors import FileFormatError

from ...data import ASSETS
from .metrics import _number

ROOT = Path(__file__).resolve().parents[3]  # the checkout (or site-packages when installed)
SCALING_ROOTS = (ASSETS, ROOT / "benchmarks")  # where shipped scaling results are looked for
SCALING_WIDTH = 420  # plot width (px)


@dataclass
class Scaling:
    """A scaling ladder's points and the power law fitted to one of its losses.

    Attributes
    ----------
    path : str
        The file read.
    model : str
        The model's name.
    hidden : numpy.ndarray
        The hidden width of each point (-1 where not recorded).
    params : numpy.ndarray
        The parameter count of each point.
    losses : dict
        ``"test"`` (and ``"held-out graph"`` where recorded) -> one loss per point.
    stored_fit : dict
        The fit written with the file (of the test loss).
    """

    path: str
    model: str
    hidden: np.ndarray
    params: np.ndarray
    losses: dict  # "test" / "held-out graph" -> per-point losses
    stored_fit: dict  # the fit written with the file (of the test loss)

    def fit(self, which: str = "test") -> dict:
        """The power law fitted to one loss (:func:`roma_core.eval.fit_power_law`).

        Parameters
        ----------
        which : str
            A key of :attr:`losses`.

        Returns
        -------
        dict
            As :func:`roma_core.eval.fit_power_law` returns it.

        Raises
        ------
        roma_core.errors.SpecError
            If the points cannot be fitted (fewer than 3, or not positive).
        """
        return copy.deepcopy(_fit(np.asarray(self.params, dtype=float).tobytes(),
                                  np.asarray(self.losses[which], dtype=float).tobytes()))


@functools.lru_cache(maxsize=64)
def _fit(params: bytes, losses: bytes) -> dict:
    """:func:`roma_core.eval.fit_power_law` of float64 arrays given as bytes, computed once
    per process (its bootstrap takes ~0.1-1 s, and every session opening the Training view
    fits the same shipped result)."""
    from roma_core.eval.scaling import fit_power_law

    return fit_power_law(np.frombuffer(params), np.frombuffer(losses))


def load_scaling(path) -> Scaling:
    """A ``roma scaling`` result: its ``scaling.json`` or ``scaling.nc`` (or the folder
    holding them).

    Parameters
    ----------
    path : str or Path
        The file or its folder.

    Returns
    -------
    Scaling

    Raises
    ------
    roma_core.errors.FileFormatError
        If there is no such file, or it is not a readable scaling result.
    """
    p = Path(path).expanduser()
    if p.is_dir():
        found = [p / n for n in ("scaling.json", "scaling.nc") if (p / n).exists()]
        if not found:
            raise FileFormatError(f"{p}: no scaling.json or scaling.nc here; `roma scaling --out {p}` writes them")
        p = found[0]
    if not p.exists():
        raise FileFormatError(f"{p}: no such file; give a scaling.json or scaling.nc written by `roma scaling`")
    try:
        if p.suffix == ".nc":
            import xarray as xr

            with xr.open_dataset(p) as ds:
                attrs = dict(ds.attrs)
                cols = {k: np.asarray(ds[k].values, dtype=float) for k in ds.data_vars}
                cols["hidden"] = np.asarray(ds["hidden"].values) if "hidden" in ds.coords else None
            fit = {k[4:]: (json.loads(v) if isinstance(v, str) else v) for k, v in attrs.items() if k.startswith("fit_")}
            kind, model = attrs.get("roma_kind"), str(attrs.get("model", "?"))
        else:
            data = json.loads(p.read_text())
            kind, model, fit = data.get("roma_kind"), str(data.get("model", "?")), data.get("fit", {})
            pts = data["points"]
            cols = {k: np.array([_number(q.get(k)) for q in pts]) for k in ("params", "test_rel_l2", "heldout_rel_l2")}
            cols["hidden"] = np.array([q.get("hidden", -1) for q in pts])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise FileFormatError(f"{p}: not a readable scaling result ({type(exc).__name__}: {exc})") from exc
    if kind != "scaling":
        raise FileFormatError(f"{p}: roma_kind is {kind!r}, not 'scaling'; give the output of `roma scaling`")
    if "params" not in cols or "test_rel_l2" not in cols:
        raise FileFormatError(f"{p}: the points lack 'params' or 'test_rel_l2'")
    losses = {"test": cols["test_rel_l2"]}
    held = cols.get("heldout_rel_l2")
    if held is not None and np.all(np.isfinite(held)):
        losses["held-out graph"] = held
    hidden = cols.get("hidden")
    return Scaling(path=str(p), model=model, params=cols["params"], losses=losses, stored_fit=fit,
                   hidden=np.full(len(cols["params"]), -1) if hidden is None else hidden)


def power_law_band(params, losses, grid, *, bootstrap: int = 2000, level: float = 0.95, seed: int = 0):
    """Pointwise ``level`` band of the fitted line log L = log A - α log P over ``grid``,
    from a bootstrap over the points (resamples with fewer than 2 distinct P skipped).

    Parameters
    ----------
    params, losses : array_like
        The points (positive).
    grid : array_like
        Parameter counts at which the band is evaluated.
    bootstrap : int
        Number of resamples.
    level : float
        The band's coverage.
    seed : int
        Seed of the resampling.

    Returns
    -------
    tuple of numpy.ndarray
        ``(low, high)`` losses over ``grid``.
    """
    x, y = np.log(np.asarray(params, float)), np.log(np.asarray(losses, float))
    idx = np.random.default_rng(seed).integers(0, len(x), (bootstrap, len(x)))
    xb, yb = x[idx], y[idx]
    xm, ym = xb.mean(axis=1, keepdims=True), yb.mean(axis=1, keepdims=True)
    var = ((xb - xm) ** 2).sum(axis=1)
    ok = var > 1e-12 * max(float(np.ptp(x)) ** 2, 1e-300)
    slope = ((xb - xm) * (yb - ym)).sum(axis=1)[ok] / var[ok]
    icpt = ym[ok, 0] - slope * xm[ok, 0]
    lines = icpt[:, None] + slope[:, None] * np.log(np.asarray(grid, float))[None, :]
    lo, hi = np.quantile(lines, [(1 - level) / 2, 1 - (1 - level) / 2], axis=0)
    return np.exp(lo), np.exp(hi)


def scaling_files(roots=SCALING_ROOTS) -> list[Path]:
    """Scaling results shipped under ``roots`` (scaling.json, or scaling.nc where no JSON
    sits beside it), newest first.

    Parameters
    ----------
    roots : sequence of str or Path
        Folders searched recursively (missing ones are skipped).

    Returns
    -------
    list of Path
    """
    found = []
    for root in roots:
        if not Path(root).is_dir():
            continue
        for p in Path(root).rglob("scaling.*"):
            if p.name == "scaling.json" or (p.name == "scaling.nc" and not p.with_suffix(".json").exists()):
                found.append(p)
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def short_label(path) -> str:
    """A path relative to the repository when it lies inside, else as given.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    str
    """
    p = Path(path)
    try:
        return str(p.resolve().relative_to(ROOT))
    except ValueError:
        return str(p)

def _minus(x: float, digits: int = 3) -> str:
    return f"{x:.{digits}f}".replace("-", "−")


def empty_plot(title: str, note: str = "", width: int = SCALING_WIDTH):
    """Log-log axes with a note instead of points.

    Parameters
    ----------
    title : str
        The plot's title.
    note : str
        The text shown (the title when empty).
    width : int
        The plot's width in pixels.

    Returns
    -------
    holoviews.Overlay
    """
    empty = hv.Scatter(pd.DataFrame({"parameters": [], "loss": []}), "parameters", "loss")
    text = hv.Text(3e4, 0.03, note or title, fontsize=11).opts(color="#666666")
    return (empty * text).opts(
        logx=True, logy=True, width=width, height=400, title=title, show_grid=True, toolbar="above",
        xlabel="parameters P", ylabel="test rel. L2", xlim=(1e3, 1e6), ylim=(1e-3, 1.0))


def scaling_plot(s: Scaling, which: str = "test", width: int = SCALING_WIDTH) -> tuple:
    """The ladder's points, the power law fitted to loss ``which`` and its bootstrap band.

    Parameters
    ----------
    s : Scaling
        The ladder.
    which : str
        A key of ``s.losses``.
    width : int
        The plot's width in pixels.

    Returns
    -------
    tuple
        ``(plot, summary markdown, points table markdown)``.

    Raises
    ------
    roma_core.errors.SpecError
        If the points cannot be fitted.
    """
    loss = s.losses[which]
    fit = s.fit(which)
    lo_p, hi_p = float(s.params.min()), float(s.params.max())
    grid = np.geomspace(lo_p / 1.25, hi_p * 1.25, 120)
    band_lo, band_hi = power_law_band(s.params, loss, grid, level=fit["ci_level"])
    line = fit["prefactor"] * grid ** (-fit["alpha"])
    a, (c0, c1), lvl = fit["alpha"], fit["alpha_ci"], fit["ci_level"]
    ylabel = f"{which} rel. L2"
    band = hv.Area(pd.DataFrame({"parameters": grid, "lo": band_lo, "hi": band_hi}), "parameters", ["lo", "hi"],
                   label=f"{lvl:.0%} bootstrap band").opts(color="#4c78a8", alpha=0.2, line_width=0)
    fitted = hv.Curve(pd.DataFrame({"parameters": grid, "loss": line}), "parameters", "loss",
                      label=f"fit L = {fit['prefactor']:.3g}·P^(−{a:.3f})").opts(color="#1f4e79", line_width=2)
    pts = hv.Scatter(pd.DataFrame({"parameters": s.params, "loss": loss, "hidden": s.hidden}), "parameters",
                     ["loss", "hidden"], label=f"{s.model} runs").opts(
        color="#d62728", size=9, tools=["hover"], line_color="white")
    title = f"L ∝ P^(−α): α = {_minus(a)}, {lvl:.0%} CI [{_minus(c0)}, {_minus(c1)}]"
    plot = (band * fitted * pts).opts(
        logx=True, logy=True, width=width, height=400, title=title, show_grid=True, toolbar="above",
        xlabel="parameters P", ylabel=ylabel, legend_position="bottom_left", fontsize={"title": 10})
    text = (f"α = {a:.4f} ({lvl:.0%} bootstrap CI [{c0:.4f}, {c1:.4f}]; s.e. {fit['alpha_se']:.4f}; "
            f"R² {fit['r2']:.3f}; {len(loss)} points, {fit['bootstrap']} resamples) · model {s.model}  \n"
            f"`{short_label(s.path)}`")
    stored = s.stored_fit.get("alpha")
    if which == "test" and stored is not None and abs(float(stored) - a) > 1e-6 * max(1.0, abs(a)):
        text += f"  \n⚠ the fit stored in the file says α = {float(stored):.4f}; shown: refitted to its points"
    rows = "\n".join(f"| {int(h) if h >= 0 else '–'} | {int(p):,} | {l:.4f} |"
                     for h, p, l in zip(s.hidden, s.params, loss))
    return plot, text, f"| hidden | parameters | {ylabel} |\n|---|---|---|\n{rows}"


__all__ = ["Scaling", "load_scaling", "power_law_band", "scaling_files", "short_label", "scaling_plot", "empty_plot",
           "SCALING_ROOTS", "SCALING_WIDTH"]
