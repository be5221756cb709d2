"""Scaling results of `roma scaling` (a ladder of model sizes for one or several models and
their errors): reading them (old single-model files converted on read), the bootstrap band of
each fitted law, and the scaling plot."""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path

import holoviews as hv
import numpy as np
import pandas as pd

from roma_core.errors import FileFormatError, SpecError

from ...data import ASSETS
from ..forecast import MODEL_COLOURS
from .metrics import _number

ROOT = Path(__file__).resolve().parents[3]  # the checkout (or site-packages when installed)
SCALING_ROOTS = (ASSETS, ROOT / "benchmarks")  # where shipped scaling results are looked for
SCALING_WIDTH = 420  # plot width (px)
#: The spans of a ladder's result, as the view names them.
SPAN_LABELS = {"test": "test", "heldout": "held-out graph"}
OTHER_COLOURS = ("#17becf", "#bcbd22", "#e377c2", "#aec7e8")  # models without a colour of their own


@dataclass
class Scaling:
    """A scaling ladder: its runs and, per span, the law fitted to each model's errors.

    Attributes
    ----------
    path : str
        The file read.
    models : list of str
        The ladder's models.
    runs : list of dict
        One per (model, rung, seed), as ``scaling.json`` holds them (``model``, ``rung``,
        ``params``, ``seed``, ``test_per_window``, ...).
    fits : dict
        Span (``"test"``, ``"heldout"``) -> :func:`roma_core.eval.scaling.fit_ladder`'s fit of it.
    legacy : bool
        Converted from an old single-model file (one seed, no per-window errors: the band
        is a bootstrap over the points).
    """

    path: str
    models: list
    runs: list
    fits: dict
    legacy: bool = False
    spans: dict = field(init=False)

    def __post_init__(self):
        #: the spans with a fit, label -> key
        self.spans = {SPAN_LABELS[k]: k for k in SPAN_LABELS if self.fits.get(k, {}).get("models")}

    def fit(self, which: str = "test") -> dict:
        """The fit of one span.

        Parameters
        ----------
        which : str
            A span's key (``"test"``, ``"heldout"``) or label (a key of :attr:`spans`).

        Returns
        -------
        dict
            As :func:`roma_core.eval.scaling.fit_ladder` gives each span.

        Raises
        ------
        roma_core.errors.SpecError
            If no model of the ladder has 3 sizes on that span yet.
        """
        key = self.spans.get(which, which)
        if key not in self.fits or not self.fits[key].get("models"):
            raise SpecError(f"no model of this ladder has 3 sizes on the {SPAN_LABELS.get(key, key)} span yet")
        return self.fits[key]


def load_scaling(path) -> Scaling:
    """A ``roma scaling`` result: its ``scaling.json`` (or an old ``scaling.nc``), or the folder
    holding it. Old single-model files (``model``, ``points``, ``fit``) are converted into
    the ladder's structure: one seed, each point one window.

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
            raise FileFormatError(f"{p}: no scaling.json here; `roma scaling --out {p}` writes it")
        p = found[0]
    if not p.exists():
        raise FileFormatError(f"{p}: no such file; give a scaling.json written by `roma scaling`")
    try:
        if p.suffix == ".nc":
            import xarray as xr

            with xr.open_dataset(p) as ds:
                kind, model = ds.attrs.get("roma_kind"), str(ds.attrs.get("model", "?"))
                cols = {k: np.asarray(ds[k].values, dtype=float) for k in ds.data_vars}
                hidden = np.asarray(ds["hidden"].values) if "hidden" in ds.coords else None
            data = {"roma_kind": kind, "model": model, "points": [
                {"hidden": -1 if hidden is None else int(hidden[i]),
                 **{k: float(v[i]) for k, v in cols.items()}} for i in range(len(cols.get("params", [])))]}
        else:
            data = json.loads(p.read_text())
        kind = data.get("roma_kind")
        if kind != "scaling":
            raise FileFormatError(f"{p}: roma_kind is {kind!r}, not 'scaling'; give the output of `roma scaling`")
        if "runs" in data:
            return _ladder(str(p), data)
        return _legacy(str(p), data)
    except FileFormatError:
        raise
    except (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        raise FileFormatError(f"{p}: not a readable scaling result ({type(exc).__name__}: {exc})") from exc


def _ladder(path: str, data: dict) -> Scaling:
    """A result of the ladder's format; spans whose fit (or its band) is missing are fitted here."""
    from roma_core.eval.scaling import fit_ladder

    runs, fits = list(data["runs"]), dict(data.get("fits") or {})
    for r in runs:
        if not {"model", "rung", "params", "seed"} <= set(r):
            raise FileFormatError(f"{path}: a run lacks model, rung, params or seed: {sorted(r)}")
    fitted = {k: fits.get(k, {}).get("models") or {} for k in SPAN_LABELS}
    missing = [k for k in SPAN_LABELS if any(r.get(f"{k}_per_window") for r in runs)
               and not (fitted[k] and all("band" in f for f in fitted[k].values()))]
    if missing:
        fits.update({k: v for k, v in fit_ladder(runs, data.get("floors"), bootstrap=500).items() if k in missing})
    models = list(data.get("models") or sorted({r["model"] for r in runs}))
    return Scaling(path=path, models=models, runs=runs, fits=fits)


def _legacy(path: str, data: dict) -> Scaling:
    """An old single-model result as a one-seed ladder: each point a run whose one "window"
    is its error; the laws fitted with :func:`roma_core.eval.fit_power_law` (floor 0,
    interval from a bootstrap over the points)."""
    model, pts = str(data.get("model", "?")), data["points"]
    if not pts or any("params" not in q or "test_rel_l2" not in q for q in pts):
        raise FileFormatError(f"{path}: the points lack 'params' or 'test_rel_l2'")
    runs = []
    for i, q in enumerate(pts):
        hidden = int(q.get("hidden", -1))
        run = {"model": model, "rung": hidden if hidden >= 0 else i, "hidden": hidden, "params": _number(q["params"]),
               "seed": 0, "steps": q.get("steps"), "train_seconds": q.get("train_seconds")}
        for span in SPAN_LABELS:
            value = _number(q.get(f"{span}_rel_l2"))
            if np.isfinite(value):
                run[f"{span}_rel_l2"], run[f"{span}_per_window"] = value, [value]
        runs.append(run)
    fits = {}
    for span in SPAN_LABELS:
        have = [r for r in runs if f"{span}_per_window" in r]
        if len(have) < len(runs) or len(runs) < 3:
            continue
        params = np.array([r["params"] for r in runs], float)
        losses = np.array([r[f"{span}_rel_l2"] for r in runs], float)
        try:
            f = _fit(params.tobytes(), losses.tobytes())
        except SpecError:
            continue
        order = np.argsort(params)
        points = [{"params": float(params[k]), "mean": float(losses[k]), "seed_sd": 0.0, "seeds": [float(losses[k])]}
                  for k in order]
        grid = np.geomspace(params.min() / 1.5, params.max() * 1.5, 40)
        low, high = power_law_band(params, losses, grid, level=f["ci_level"])
        fits[span] = {"floor": 0.0, "windows": 1, "ci_level": f["ci_level"],
                      "models": {model: {**{k: f[k] for k in ("alpha", "prefactor", "r2", "alpha_ci")},
                                         "points": points, "band": {"params": grid.tolist(), "low": low.tolist(),
                                                                    "high": high.tolist()}}}}
    return Scaling(path=path, models=[model], runs=runs, fits=fits, legacy=True)


@functools.lru_cache(maxsize=64)
def _fit(params: bytes, losses: bytes) -> dict:
    """:func:`roma_core.eval.fit_power_law` of float64 arrays given as bytes, computed once
    per process (every session opening the Training view converts the same shipped result)."""
    from roma_core.eval.scaling import fit_power_law

    return fit_power_law(np.frombuffer(params), np.frombuffer(losses))


def power_law_band(params, losses, grid, *, floor: float = 0.0, bootstrap: int = 2000, level: float = 0.95,
                   seed: int = 0):
    """Pointwise ``level`` band of the law L = floor + A P^-α over ``grid``, from a bootstrap
    over the points (log(L − floor) on log P refitted per resample; resamples with fewer
    than 2 distinct P skipped): the band of a ladder with one error per size.

    Parameters
    ----------
    params, losses : array_like
        The points (positive; losses above ``floor``).
    grid : array_like
        Parameter counts at which the band is evaluated.
    floor : float
        The fixed floor of the law.
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
    from roma_core.eval.scaling import fit_laws, law_band

    x, losses = np.log(np.asarray(params, float)), np.asarray(losses, float)
    idx = np.random.default_rng(seed).integers(0, len(x), (bootstrap, len(x)))
    return law_band(*fit_laws(x[idx], losses[idx], floor), grid, floor, level)


def scaling_files(roots=SCALING_ROOTS) -> list[Path]:
    """Scaling results shipped under ``roots`` (scaling.json, or an old scaling.nc where no
    JSON sits beside it), newest first.

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


def _count(value: float) -> str:
    """A parameter count in few characters: 500, 2k, 30k, 1.5M."""
    if value >= 1e6:
        return f"{value / 1e6:g}M"
    return f"{value / 1e3:g}k" if value >= 1e3 else f"{value:g}"


def log_ticks(lo: float, hi: float, most: int = 6) -> list[tuple[float, str]]:
    """Ticks of a logarithmic axis over [lo, hi] that do not crowd: the 1-2-5 sequence, else
    1-3, else the powers of ten, whichever first gives at most ``most`` ticks (at least 2).

    Parameters
    ----------
    lo, hi : float
        The axis range (positive).
    most : int
        The most ticks wanted.

    Returns
    -------
    list of tuple
        ``(value, label)``, labels like ``3k``, ``10k``, ``1M``.
    """
    decades = range(int(np.floor(np.log10(lo))) - 1, int(np.ceil(np.log10(hi))) + 1)
    for mantissas in ((1, 2, 5), (1, 3), (1,)):
        ticks = [m * 10.0 ** d for d in decades for m in mantissas if lo <= m * 10.0 ** d <= hi]
        if len(ticks) <= most:
            break
    if len(ticks) < 2:
        ticks = [lo, hi]
    return [(float(t), _count(t)) for t in ticks]


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
        xlabel="parameters P", ylabel="test rel. L2", xlim=(1e3, 1e6), ylim=(1e-3, 1.0),
        xticks=log_ticks(1e3, 1e6))


def model_colour(model: str, models=()) -> str:
    """The model's colour of the Forecast view, or one of a spare palette.

    Parameters
    ----------
    model : str
    models : sequence of str
        The models drawn together (picks the spare colour).

    Returns
    -------
    str
    """
    if model in MODEL_COLOURS:
        return MODEL_COLOURS[model]
    others = [m for m in models if m not in MODEL_COLOURS]
    return OTHER_COLOURS[(others.index(model) if model in others else 0) % len(OTHER_COLOURS)]


def scaling_plot(s: Scaling, which: str = "test", width: int = SCALING_WIDTH) -> tuple:
    """Every model's points (mean over seeds, bar: their spread), its fitted law
    floor + a·P^-α and that law's bootstrap band, and the floor (dashed) where not 0, on
    one log-log plot.

    Parameters
    ----------
    s : Scaling
        The ladder.
    which : str
        A span: a key or label of ``s.spans``.
    width : int
        The plot's width in pixels.

    Returns
    -------
    tuple
        ``(plot, summary markdown, points table markdown)``.

    Raises
    ------
    roma_core.errors.SpecError
        If no model has 3 sizes on that span.
    """
    fit = s.fit(which)
    key = s.spans.get(which, which)
    label = SPAN_LABELS.get(key, key)
    floor, lvl = float(fit.get("floor", 0.0)), float(fit.get("ci_level", 0.95))
    models = [m for m in s.models if m in fit["models"]] + [m for m in fit["models"] if m not in s.models]
    all_p = [p["params"] for m in models for p in fit["models"][m]["points"]]
    lo_p, hi_p = float(min(all_p)), float(max(all_p))
    grid = np.geomspace(lo_p / 1.25, hi_p * 1.25, 120)
    layers, lines, rows = [], [], []
    for m in models:
        f, colour = fit["models"][m], model_colour(m, models)
        pts = pd.DataFrame(f["points"])
        pts["seeds_n"] = [len(x) for x in pts["seeds"]]
        if np.isfinite(f["alpha"]):
            band = pd.DataFrame({"parameters": f["band"]["params"], "lo": f["band"]["low"], "hi": f["band"]["high"]})
            layers.append(hv.Area(band, "parameters", ["lo", "hi"]).opts(color=colour, alpha=0.15, line_width=0))
            law = floor + f["prefactor"] * grid ** (-f["alpha"])
            layers.append(hv.Curve(pd.DataFrame({"parameters": grid, "loss": law}), "parameters", "loss",
                                   label=m).opts(color=colour, line_width=2))
        if (pts["seed_sd"] > 0).any():
            neg = np.minimum(pts["seed_sd"], 0.9 * pts["mean"])        # the bar stays on the log axis
            layers.append(hv.ErrorBars(pd.DataFrame({"parameters": pts["params"], "loss": pts["mean"], "neg": neg,
                                                     "pos": pts["seed_sd"]}), "parameters",
                                       ["loss", "neg", "pos"]).opts(color=colour, line_width=1.5))
        layers.append(hv.Scatter(pd.DataFrame({"parameters": pts["params"], "loss": pts["mean"],
                                               "seed sd": pts["seed_sd"], "seeds": pts["seeds_n"]}),
                                 "parameters", ["loss", "seed sd", "seeds"], label=m).opts(
            color=colour, size=8, tools=["hover"], line_color="white"))
        a, (c0, c1) = f["alpha"], f["alpha_ci"]
        seeds = int(pts["seeds_n"].max())
        lines.append(f"**{m}**: α = {a:.4f} ({lvl:.0%} CI [{c0:.4f}, {c1:.4f}]), a = {f['prefactor']:.3g}, "
                     f"R² {f['r2']:.3f}; {len(pts)} sizes × {seeds} seed{'s' if seeds > 1 else ''}")
        rows += [f"| {m} | {int(p['params']):,} | {p['mean']:.4f} | {p['seed_sd']:.4f} | {len(p['seeds'])} |"
                 for p in f["points"]]
    if floor > 0:
        layers.append(hv.Curve(pd.DataFrame({"parameters": grid, "loss": np.full_like(grid, floor)}), "parameters",
                               "loss", label=f"floor {floor:.3g}").opts(color="#555555", line_dash="dashed",
                                                                       line_width=1.5))
    ref = "roma" if "roma" in fit["models"] else models[0]
    r = fit["models"][ref]
    title = f"{label}: L = floor + a·P^(−α); {ref} α = {_minus(r['alpha'])}"
    plot = hv.Overlay(layers).opts(
        logx=True, logy=True, width=width, height=400, title=title, show_grid=True, toolbar="above",
        xlabel="parameters P", ylabel=f"{label} rel. L2", legend_position="bottom_left", fontsize={"title": 10},
        xticks=log_ticks(grid[0], grid[-1]))
    how = ("a bootstrap over the points (one seed, one error per size)" if s.legacy
           else f"a bootstrap over seeds and {fit.get('windows', '?')} windows")
    text = "  \n".join(lines)
    if "best_peer" in fit:
        d0, d1 = fit["alpha_diff_ci"]
        cross, ci = fit.get("crossover_params"), fit.get("crossover_ci")
        where = ("never" if cross is None else f"P* ≈ {cross:.3g}") + \
            (f" ({lvl:.0%} CI [{ci[0]:.3g}, {ci[1]:.3g}])" if ci else "")
        text += (f"  \nbest peer **{fit['best_peer']}**: α difference {fit['alpha_diff']:+.4f} "
                 f"[{d0:+.4f}, {d1:+.4f}]; roma's law below it from {where}, in "
                 f"{fit['crossover_share']:.0%} of resamples")
    text += f"  \nfloor {floor:g}; intervals from {how}  \n`{short_label(s.path)}`"
    table = f"| model | parameters | {label} rel. L2 | seed sd | seeds |\n|---|---|---|---|---|\n" + "\n".join(rows)
    return plot, text, table


__all__ = ["Scaling", "load_scaling", "power_law_band", "log_ticks", "model_colour", "scaling_files",
           "short_label", "scaling_plot", "empty_plot", "SCALING_ROOTS", "SCALING_WIDTH", "SPAN_LABELS"]
