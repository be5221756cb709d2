"""Scaling: test loss against parameter count, L = A · P^(-α), fitted by least squares in
log-log space; the confidence interval of α comes from a bootstrap over the points."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..errors import SpecError


def fit_power_law(params, losses, *, bootstrap: int = 2000, level: float = 0.95, seed: int = 0) -> dict:
    """Fit the power law L = A P^-α of loss against parameter count (least squares of
    log L on log P), with a bootstrap percentile interval of α (points resampled with
    replacement; resamples with fewer than 2 distinct P skipped).

    Parameters
    ----------
    params : array_like
        Parameter counts P (positive).
    losses : array_like
        Losses L (positive), one per count; at least 3 points.
    bootstrap : int
        Number of bootstrap resamples.
    level : float
        Confidence level of the interval.
    seed : int
        Seed of the resampling.

    Returns
    -------
    dict
        ``alpha``, ``prefactor`` (A), ``r2``, ``alpha_ci`` (low, high) at ``ci_level``,
        ``alpha_se`` (the classical standard error of the slope) and ``bootstrap`` (the
        resamples used).

    Raises
    ------
    roma_core.errors.SpecError
        For fewer than 3 points, unequal lengths or non-positive values.
    """
    p = np.asarray(params, dtype=float)
    l = np.asarray(losses, dtype=float)
    if p.shape != l.shape or len(p) < 3:
        raise SpecError(f"a power-law fit needs >= 3 (params, loss) points of equal count, got {p.shape}, {l.shape}")
    if np.any(p <= 0) or np.any(l <= 0):
        raise SpecError("parameter counts and losses must be positive for a log-log fit")
    x, y = np.log(p), np.log(l)
    slope, icpt = np.polyfit(x, y, 1)
    resid = y - (slope * x + icpt)
    r2 = 1 - (resid ** 2).sum() / max(((y - y.mean()) ** 2).sum(), 1e-300)
    rng = np.random.default_rng(seed)
    alphas = []
    for _ in range(bootstrap):
        idx = rng.integers(0, len(x), len(x))
        if len(np.unique(x[idx])) < 2:
            continue
        alphas.append(-np.polyfit(x[idx], y[idx], 1)[0])
    lo, hi = np.quantile(alphas, [(1 - level) / 2, 1 - (1 - level) / 2])
    # the classical standard error of the slope, for comparison with the paper's "± s.e."
    se = np.sqrt((resid ** 2).sum() / max(len(x) - 2, 1) / ((x - x.mean()) ** 2).sum())
    return {"alpha": float(-slope), "prefactor": float(np.exp(icpt)), "r2": float(r2), "ci_level": level,
            "alpha_ci": [float(lo), float(hi)], "alpha_se": float(se), "bootstrap": len(alphas)}


def run_ladder(windows, model_name, model_spec, train_spec, widths, out, *, heldout=None, progress=None,
               max_windows: int = 16) -> dict:
    """Train ``model_name`` at each hidden width of ``widths`` (same training budget), test
    each on the test span (and ``heldout`` windows), fit the power law; writes
    ``out/scaling.json`` and ``out/scaling.nc`` and returns the JSON dict.

    Parameters
    ----------
    windows : roma_core.data.windows.Windows
        The training trajectory's windows.
    model_name : str
        A model of the registry.
    model_spec : ModelSpec
        The model's specification; ``hidden`` is replaced by each width.
    train_spec : TrainSpec
        The training's specification (the same for every width).
    widths : sequence of int
        Hidden widths.
    out : str or Path
        The ladder's folder: one run folder per width (resumed when present) and the results.
    heldout : roma_core.data.windows.Windows, optional
        Windows of a held-out graph.
    progress : callable, optional
        ``progress(done, total)`` over the widths.
    max_windows : int
        Windows evaluated per point.

    Returns
    -------
    dict
        ``roma_kind``, ``model``, ``model_spec``, ``train_spec``, ``points`` (one dict per
        width) and ``fit`` (:func:`fit_power_law`).

    Raises
    ------
    SpecError
        If fewer than 3 widths are given (the fit needs 3 points) or a spec is invalid.
    """
    from ..specs import ModelSpec
    from ..train import train
    from .evaluate import evaluate

    out = Path(out)
    points = []
    for i, width in enumerate(widths):
        spec = ModelSpec.from_dict({**model_spec.to_dict(), "hidden": int(width)})
        run = out / f"{model_name}_h{int(width)}"
        res = train(windows, model_name, spec, train_spec, run, resume=True)
        ev = evaluate(run, None, windows=windows, max_windows=max_windows, scales=False)
        pt = {"hidden": int(width), "params": res["params"], "test_rel_l2": ev["rel_l2"],
              "train_seconds": ev["train_seconds"], "steps": res["steps"], "run": str(run)}
        if heldout is not None:
            pt["heldout_rel_l2"] = evaluate(run, None, windows=heldout, max_windows=max_windows, scales=False)["rel_l2"]
        points.append(pt)
        if progress:
            progress(i + 1, len(widths))
    fit = fit_power_law([p["params"] for p in points], [p["test_rel_l2"] for p in points])
    result = {"roma_kind": "scaling", "model": model_name, "model_spec": model_spec.to_dict(),
              "train_spec": train_spec.to_dict(), "points": points, "fit": fit}
    save_scaling(result, out)
    return result


def save_scaling(result: dict, out) -> None:
    """Write a ladder's result as ``out/scaling.json`` and ``out/scaling.nc`` (each atomically).

    Parameters
    ----------
    result : dict
        What :func:`run_ladder` returns.
    out : str or Path
        The folder (created).
    """
    import xarray as xr

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".scaling.json.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(result, indent=1))
    os.replace(tmp, out / "scaling.json")
    pts = result["points"]
    ds = xr.Dataset({k: ("point", np.array([p.get(k, np.nan) for p in pts], dtype=float))
                     for k in ("params", "test_rel_l2", "heldout_rel_l2", "train_seconds")},
                    coords={"hidden": ("point", [p["hidden"] for p in pts])},
                    attrs={"roma_kind": "scaling", "model": result["model"],
                           **{f"fit_{k}": (json.dumps(v) if isinstance(v, list) else v) for k, v in result["fit"].items()}})
    tmp = out / f".scaling.nc.{os.getpid()}.tmp"
    ds.to_netcdf(tmp)
    os.replace(tmp, out / "scaling.nc")
